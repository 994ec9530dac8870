//! `distroless build --matrix FILE` / `--all`: the flags and the matrix file turned into a
//! family ([`distroless::publish::family`] builds, pushes and signs it), and its report printed.

use std::path::Path;

use std::rc::Rc;

use distroless::model::matrix::{Job, Matrix};
use distroless::model::{Arch, Catalog};
use distroless::plan::Source;
use distroless::publish::family::{
    self, Change, Family, Row, Signing, Skipped, runnable, target_of,
};
use distroless::publish::push;

use super::args::BuildArgs;
use super::source;

/// Runs a matrix build.
pub(crate) fn run(args: &BuildArgs) -> anyhow::Result<()> {
    let catalog = Catalog::embedded()?;
    let (file, matrix) = match &args.matrix {
        Some(path) => (path.display().to_string(), Matrix::read(path)?),
        None => ("--all".to_string(), Matrix::all()),
    };
    anyhow::ensure!(
        args.format != super::args::FormatArg::Docker,
        "a matrix is written as one OCI layout; --format docker holds one image"
    );
    refuse_single_image_flags(args)?;
    let signing = if args.dry_run {
        None
    } else {
        signing_of(args, &file, &matrix)?
    };
    // Empty: every architecture each release offers (`--all-arches`, `arches = ["all"]`).
    let arches = matrix.arches_for(&args.arches, args.all_arches)?;
    let (jobs, skipped, upstreams) = jobs_of(args, &catalog, (&file, &matrix), &arches)?;
    let registry = push_prefix(args, &matrix, &jobs)?;
    if args.dry_run && registry.is_none() {
        let arch_tags = matrix.arch_tags || args.arch_tags;
        return print_jobs(&jobs, &skipped, (&arches, arch_tags), args.json.on);
    }
    let scratch = (args.output.is_none() && registry.is_some() || args.dry_run)
        .then(oci::staging::scratch)
        .transpose()?;
    let out = match (&args.output, &scratch) {
        (_, Some((t, _))) if args.dry_run => t.path().join("matrix"),
        (Some(o), _) => o.clone(),
        (None, Some((t, _))) => t.path().join("matrix"),
        (None, None) => anyhow::bail!("a matrix needs -o DIR (one OCI layout), --push, or both"),
    };
    let settings = source::build_settings(args)?;
    let options = super::build::options(args)?;
    let family = Family {
        catalog: &catalog,
        arches: &arches,
        upstreams: &upstreams,
        options: &options,
        replace: args.replace,
    };
    let reporter = source::reporter(&args.source, args.json.on);
    let mut rows = {
        let source = Source::open(&settings, &reporter)?;
        let rows = family.build(&source, &jobs, &out)?;
        source::report_cache_repo(&settings, args.source.quiet);
        rows
    };
    // A registry client only when something goes to (or is compared with) a registry.
    let client = (registry.is_some() || signing.is_some())
        .then(|| super::registry::client(&args.registry).map(Rc::new))
        .transpose()?;
    if let (true, Some(prefix), Some(client)) = (args.dry_run, &registry, &client) {
        // What a publish would change: each image against what the registry holds now.
        let changes = family::changes(client, prefix, &jobs, &rows)?;
        return print_changes(args.json.on, &changes, &skipped);
    }
    let mut sent = None;
    if let (Some(prefix), Some(client)) = (&registry, &client) {
        let arch_tags = matrix.arch_tags || args.arch_tags;
        let seen = push::seen(&source::settings(&args.source)?.cache_dir);
        let stats = family::push(client, &seen, (&out, prefix), &jobs, &mut rows, arch_tags)?;
        sent = Some(serde_json::to_value(stats)?);
    }
    let mut report = serde_json::json!({
        "output": scratch.is_none().then(|| out.display().to_string()),
        "images": rows,
        "skipped": skipped,
    });
    if let Some(r) = &settings.cache_repo {
        report["cache_repo"] = serde_json::json!({
            "repository": r.name(),
            "failure": r.failure(),
            "stats": r.stats(),
        });
    }
    if let Some(sent) = sent {
        report["push"] = sent;
    }
    if let (Some(signing), Some(client)) = (&signing, &client) {
        let kept = scratch.is_none().then_some(out.as_path());
        let stored = signing.apply(client, (kept, registry.as_deref()), &jobs, &rows)?;
        report["signed"] = serde_json::json!({
            "images": jobs.len(),
            "signatures": signing.sign,
            "attestations": signing.attest,
            "stored": stored,
        });
    }
    print_rows(&rows, &skipped, &report, args)
}

/// The images to build (with `--all`, those whose sources are not given are skipped), and
/// the sources beyond Debian the flags give them.
fn jobs_of(
    args: &BuildArgs,
    catalog: &Catalog,
    (file, matrix): (&str, &Matrix),
    arches: &[Arch],
) -> anyhow::Result<(Vec<Job>, Vec<Skipped>, distroless::model::Upstreams)> {
    let jobs = matrix.jobs(file, catalog)?;
    // The flags must name a source of one of the images; each image takes its own.
    let upstreams = distroless::app::upstream::for_many(
        &source::upstreams(&args.source)?,
        catalog,
        jobs.iter().map(|j| j.image.name.as_str()),
    )?;
    let all = args.all || matrix.is_all();
    let (jobs, skipped) = runnable(catalog, jobs, &upstreams, arches, all)?;
    if jobs.is_empty() {
        anyhow::bail!(
            "{file}: no image to build (none of its images exists for the releases named{})",
            if skipped.is_empty() {
                ""
            } else {
                ", or their sources are not given"
            }
        );
    }
    Ok((jobs, skipped, upstreams))
}

/// Where the family is pushed (`--push`, else the file's `registry`), every target checked to
/// be a reference before anything is built.
fn push_prefix(args: &BuildArgs, matrix: &Matrix, jobs: &[Job]) -> anyhow::Result<Option<String>> {
    anyhow::ensure!(
        args.push.len() <= 1,
        "a matrix pushes to one registry prefix: --push HOST[:PORT][/PREFIX]"
    );
    // The file's `registry` is where a bare --push goes, and what --dry-run compares with;
    // without --push nothing is sent.
    let registry = match args.push.first().map(String::as_str) {
        Some("") => Some(anyhow::Context::context(
            matrix.registry.clone(),
            "a bare --push sends the family to the matrix file's `registry`, and the file names none",
        )?),
        Some(prefix) => Some(prefix.to_string()),
        None if args.dry_run => matrix.registry.clone(),
        None => None,
    };
    if let Some(prefix) = &registry {
        anyhow::ensure!(
            !prefix.is_empty() && !prefix.ends_with('/'),
            "--push {prefix:?}: expected HOST[:PORT][/PREFIX]"
        );
        for j in jobs {
            target_of(prefix, j)?;
        }
    }
    Ok(registry)
}

/// How a matrix's images are signed and attested: `--sign --key` (both), or the file's
/// `sign`, `attest` and `key` (relative to the file). The key is opened before anything is
/// built (a wrong password fails at once).
fn signing_of(args: &BuildArgs, file: &str, matrix: &Matrix) -> anyhow::Result<Option<Signing>> {
    let (sign, attest) = if args.sign {
        (true, true)
    } else {
        (matrix.sign, matrix.attests())
    };
    if !sign && !attest {
        return Ok(None);
    }
    let key = match (&args.key, &matrix.key) {
        (Some(k), _) => k.clone(),
        (None, Some(k)) => Path::new(file).parent().unwrap_or(Path::new("")).join(k),
        (None, None) => anyhow::bail!(
            "{file}: signing and attesting need a key: key = \"FILE\" in the file, or --sign --key FILE"
        ),
    };
    super::signing::warn_without_sboms(attest, args.sbom);
    Ok(Some(Signing {
        key: super::signing::private_key(&key)?,
        sign,
        attest,
    }))
}

/// Flags that shape one image (an application recipe, a lock, every suite architecture) mean
/// nothing for a matrix: refused rather than ignored.
fn refuse_single_image_flags(args: &BuildArgs) -> anyhow::Result<()> {
    let given = [
        ("--locked", args.locked),
        ("--explain", args.explain),
        (
            "application flags (--copy, --from, --tag, --name, …)",
            distroless::app::overrides::Overrides::from(&args.app).any(),
        ),
        (
            "-o FILE.tar (a matrix is written as an OCI layout directory)",
            (args.output.as_ref()).is_some_and(|o| o.extension().is_some_and(|e| e == "tar")),
        ),
    ];
    match given.iter().find(|(_, on)| *on) {
        Some((flag, _)) => anyhow::bail!("{flag} does not apply to a matrix"),
        None => Ok(()),
    }
}

/// The "config diff" of a publish, printed: for every image, `new`, `changed` (old → new)
/// or `unchanged`.
fn print_changes(json: bool, changes: &[Change], skipped: &[Skipped]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let doc = serde_json::json!({"changes": changes, "skipped": skipped});
        super::print_json(&mut out, &doc)?;
        return Ok(());
    }
    distroless::render::family::changes(&mut out, changes, skipped)
}

fn print_jobs(
    jobs: &[Job],
    skipped: &[Skipped],
    (arches, arch_tags): (&[Arch], bool),
    json: bool,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let arch_refs = |j: &Job| family::arch_references(j, arches, arch_tags);
    if json {
        let items: Vec<serde_json::Value> = jobs
            .iter()
            .map(|j| {
                serde_json::json!({
                    "reference": j.reference(),
                    "image": j.image.canonical(),
                    "arches": arches.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    "arch_references": arch_refs(j),
                })
            })
            .collect();
        super::print_json(
            &mut out,
            &serde_json::json!({"images": items, "skipped": skipped}),
        )?;
        return Ok(());
    }
    distroless::render::family::jobs(&mut out, jobs, skipped, (arches, arch_tags))
}

/// The summary table, or with `--json` the report (images, skipped, and what the cache
/// repository and the push did).
fn print_rows(
    rows: &[Row],
    skipped: &[Skipped],
    report: &serde_json::Value,
    args: &BuildArgs,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if args.json.on {
        super::print_json(&mut out, report)?;
        return Ok(());
    }
    if args.source.quiet {
        return Ok(());
    }
    distroless::render::family::rows(&mut out, rows, skipped, report)
}
