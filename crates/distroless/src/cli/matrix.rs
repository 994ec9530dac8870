//! `distroless build --matrix FILE` / `--all`: a family of catalog images in one process. One
//! archive client and cache serve every image, so each index is read, each package fetched
//! and each layer built once, whatever number of images share it; every image lands in one OCI
//! layout under `REPOSITORY:TAG` (its SBOMs and provenance in `OUT.evidence/`), then, with
//! `--push`, in a registry (shared blobs sent once: the push skips what the registry has).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use distroless::app::upstream::Upstream;
use distroless::build;
use distroless::model::matrix::{Job, Matrix};
use distroless::model::{Arch, Base, Catalog, Destination, Upstreams};
use distroless::plan::Source;
use distroless::request::{Arches, MatrixPlace, Target};
use oci::read::ForeignImage;
use registry::Reference;
use registry::push::Outgoing;

use super::args::BuildArgs;
use super::build::{parse_arches, request_for};
use super::signing::{Image, sign_and_attest};
use super::source;

/// An image left out of `--all`, and why (the flags it needs).
#[derive(serde::Serialize)]
struct Skipped {
    image: String,
    why: String,
}

/// One image of the matrix as built.
#[derive(serde::Serialize)]
struct Row {
    reference: String,
    digest: String,
    arches: Vec<String>,
    layers: usize,
    seconds: f64,
    /// Where it was pushed, if it was.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pushed: Vec<String>,
    /// Pushed, and its tags named it already: nothing was sent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    current: bool,
}

/// Runs a matrix build.
pub(crate) fn run(args: &BuildArgs) -> anyhow::Result<()> {
    let catalog = Catalog::embedded()?;
    let (file, matrix) = read_matrix(args)?;
    anyhow::ensure!(
        args.format != super::args::FormatArg::Docker,
        "a matrix is written as one OCI layout; --format docker holds one image"
    );
    refuse_single_image_flags(args)?;
    let signing = if args.dry_run {
        None
    } else {
        Signing::of(args, &file, &matrix)?
    };
    // Empty: every architecture each release offers (`--all-arches`, `arches = ["all"]`).
    let arches = arches_of(args, &matrix)?;
    let jobs = matrix.jobs(&file, &catalog)?;
    // The flags must name a source of one of the images; each image takes its own.
    let upstreams = distroless::app::upstream::for_many(
        &source::upstreams(&args.source)?,
        &catalog,
        jobs.iter().map(|j| j.image.name.as_str()),
    )?;
    let all = args.all || matrix.is_all();
    let (jobs, skipped) = runnable(&catalog, jobs, &upstreams, &arches, all)?;
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
    let registry = push_prefix(args, &matrix, &jobs)?;
    if args.dry_run && registry.is_none() {
        let arch_tags = matrix.arch_tags || args.arch_tags;
        return print_jobs(&jobs, &skipped, (&arches, arch_tags), args.json);
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
    let family = Family {
        catalog: &catalog,
        args,
        arches: &arches,
        upstreams: &upstreams,
        settings: &settings,
    };
    let mut rows = family.build(&jobs, &out)?;
    if let (true, Some(prefix)) = (args.dry_run, &registry) {
        // What a publish would change: each image against what the registry holds now.
        return print_changes(args, prefix, &jobs, &rows, &skipped);
    }
    let mut sent = None;
    if let Some(prefix) = &registry {
        let arch_tags = matrix.arch_tags || args.arch_tags;
        sent = Some(push(args, &out, prefix, &jobs, &mut rows, arch_tags)?);
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
    if let Some(signing) = &signing {
        let kept = scratch.is_none().then_some(out.as_path());
        let stored = signing.apply(args, kept, registry.as_deref(), &out, (&jobs, &rows))?;
        report["signed"] = serde_json::json!({
            "images": jobs.len(),
            "signatures": signing.sign,
            "attestations": signing.attest,
            "stored": stored,
        });
    }
    print_rows(&rows, &skipped, &report, args)
}

/// The architectures: `--arch`, else the file's, else the host's; none for every one each
/// release offers.
fn arches_of(args: &BuildArgs, matrix: &Matrix) -> anyhow::Result<Vec<Arch>> {
    let names = if args.arches.is_empty() {
        &matrix.arches
    } else {
        &args.arches
    };
    if args.all_arches {
        anyhow::ensure!(args.arches.is_empty(), "--all-arches and --arch: give one");
        return Ok(Vec::new());
    }
    if names.iter().any(|n| n == "all") {
        anyhow::ensure!(names.len() == 1, "arches: \"all\" stands alone");
        return Ok(Vec::new());
    }
    if names.is_empty() {
        Ok(vec![Arch::host()])
    } else {
        parse_arches(names)
    }
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
/// `sign`, `attest` and `key` (relative to the file).
struct Signing {
    key: sign::KeyPair,
    sign: bool,
    attest: bool,
}

impl Signing {
    /// The key is opened before anything is built (a wrong password fails at once).
    fn of(args: &BuildArgs, file: &str, matrix: &Matrix) -> anyhow::Result<Option<Self>> {
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

    /// Signs and attests every image where it went: in the registry (after every tag is
    /// there) and in the layout kept on disk. Returns how many artifacts were stored.
    fn apply(
        &self,
        args: &BuildArgs,
        layout: Option<&Path>,
        prefix: Option<&str>,
        out: &Path,
        (jobs, rows): (&[Job], &[Row]),
    ) -> anyhow::Result<usize> {
        let client = std::rc::Rc::new(super::registry::client(&args.registry)?);
        let evidence_dir = evidence_dir(out);
        let mut stored = 0;
        for (job, row) in jobs.iter().zip(rows) {
            let evidence = (self.attest)
                .then(|| distroless::attest::load(&evidence_dir.join(evidence_name(job))))
                .transpose()
                .map_err(|e| e.context(job.reference()))?;
            let mut places = Vec::new();
            if let Some(prefix) = prefix {
                let reference = target_of(prefix, job)?;
                // An image the registry had already, signed already, is not signed again
                // (each run would add another signature and attestation to it).
                if !(row.current && self.already_there(&client, &reference, &row.digest)) {
                    places.push(Image::Registry {
                        client: std::rc::Rc::clone(&client),
                        reference,
                    });
                }
            }
            if let Some(dir) = layout {
                places.push(Image::Layout {
                    dir: dir.to_path_buf(),
                    tag: Some(job.reference()),
                });
            }
            for image in &places {
                stored += sign_and_attest(image, &self.key, self.sign, evidence.as_ref())
                    .map_err(|e| e.context(job.reference()))?
                    .len();
            }
        }
        Ok(stored)
    }

    /// Whether the registry holds, for this image, a signature this key made (and, when
    /// attesting, a provenance attestation): a new key or a damaged signature is signed again.
    fn already_there(&self, client: &registry::Client, r: &Reference, digest: &str) -> bool {
        use distroless::attest::verify::{Ask, RegistryStore, verify};
        if !self.sign {
            // Attestations alone are made again (nothing to check them against cheaply).
            return false;
        }
        let public = self.key.public();
        let wanted = if self.attest {
            vec![sign::statement::Predicate::Slsa]
        } else {
            Vec::new()
        };
        let ask = Ask {
            key: &public,
            repository: None,
            top: digest,
            manifests: &[],
            wanted: &wanted,
        };
        verify(
            &RegistryStore {
                client,
                reference: r,
            },
            &ask,
        )
        .is_ok()
    }
}

/// Flags that shape one image (an application recipe, a lock, every suite architecture) mean
/// nothing for a matrix: refused rather than ignored.
fn refuse_single_image_flags(args: &BuildArgs) -> anyhow::Result<()> {
    let given = [
        ("--locked", args.locked),
        ("--explain", args.explain),
        (
            "application flags (--copy, --from, --tag, --name, …)",
            args.app.any(),
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

/// The matrix file (`--matrix FILE`), or the whole catalog (`--all`), with its name for errors.
fn read_matrix(args: &BuildArgs) -> anyhow::Result<(String, Matrix)> {
    let Some(path) = &args.matrix else {
        return Ok(("--all".to_string(), Matrix::all()));
    };
    let text = String::from_utf8(distroless::files::read_regular(path, 1 << 20)?)
        .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", path.display()))?;
    let shown = path.display().to_string();
    let m = Matrix::parse(&shown, &text)?;
    Ok((shown, m))
}

/// What every image of a matrix is built with.
struct Family<'a> {
    catalog: &'a Catalog,
    args: &'a BuildArgs,
    arches: &'a [Arch],
    upstreams: &'a Upstreams,
    settings: &'a distroless::plan::SourceSettings,
}

impl Family<'_> {
    /// Builds every job with one `Source`, each into a private layout beside `out`, then
    /// joins them into `out` once (a growing shared layout would be re-linked by every image).
    fn build(&self, jobs: &[Job], out: &Path) -> anyhow::Result<Vec<Row>> {
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs_err::create_dir_all(parent)?;
        Destination::Layout(out.to_path_buf()).check()?;
        let parts_dir = distroless::files::work_dir(parent, ".distroless-matrix")?;
        // Evidence is written beside each part, and moved beside the output with it.
        let staged = parts_dir.path().join("evidence");
        fs_err::create_dir_all(&staged)?;
        let reporter = source::reporter(&self.args.source, self.args.json);
        let source = Source::open(self.settings, &reporter)?;
        let mut rows = Vec::new();
        let mut parts = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            let started = Instant::now();
            let target = Target {
                base: Base::Catalog(job.image.clone()),
                app: None,
                arches: if self.arches.is_empty() {
                    Arches::AllOffered
                } else {
                    Arches::Listed(self.arches.to_vec())
                },
                lock: None,
                upstreams: self.upstreams.clone(),
            };
            let part = parts_dir.path().join(i.to_string());
            let mut req = request_for(self.args, target, Destination::Layout(part.clone()))?;
            req.replace = true;
            req.matrix = Some(MatrixPlace {
                repository: job.repository.clone(),
                evidence: staged.join(evidence_name(job)),
            });
            let summary = build::build(&source, self.catalog, &req)
                .map_err(|e| e.context(job.reference()))?;
            rows.push(Row {
                reference: job.reference(),
                digest: summary.digest,
                arches: summary.manifests.iter().map(|m| m.arch.clone()).collect(),
                layers: summary
                    .manifests
                    .iter()
                    .map(|m| m.layers)
                    .max()
                    .unwrap_or(0),
                seconds: started.elapsed().as_secs_f64(),
                pushed: Vec::new(),
                current: false,
            });
            parts.push(part);
        }
        source::report_cache_repo(self.settings, self.args.source.quiet);
        distroless::output::join_layouts(&parts, out, self.args.replace)?;
        let evidence = evidence_dir(out);
        if self.args.replace && evidence.is_dir() {
            fs_err::remove_dir_all(&evidence)?;
        }
        fs_err::create_dir_all(&evidence)?;
        for e in fs_err::read_dir(&staged)? {
            let e = e?;
            fs_err::rename(e.path(), evidence.join(e.file_name()))?;
        }
        Ok(rows)
    }
}

/// The jobs whose sources beyond Debian are all given (with `--all`, the others are skipped
/// and returned with the flags they need; a matrix that names such an image fails).
fn runnable(
    catalog: &Catalog,
    jobs: Vec<Job>,
    upstreams: &Upstreams,
    arches: &[Arch],
    all: bool,
) -> anyhow::Result<(Vec<Job>, Vec<Skipped>)> {
    // Sources depend on the image alone, not its release or tag: checked once per image.
    let mut ready: std::collections::BTreeMap<String, bool> = std::collections::BTreeMap::new();
    let mut keep = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    for job in jobs {
        let name = &job.image.name;
        if !ready.contains_key(name) {
            let chain = catalog.chain(name)?;
            let checked = Upstream::prepare(&chain, None, upstreams)
                .and_then(|u| arches.iter().try_for_each(|&a| u.check(a, upstreams)));
            let ok = match checked {
                Ok(()) => true,
                Err(e) if all => {
                    skipped.push(Skipped {
                        image: name.clone(),
                        why: format!("{e:#}"),
                    });
                    false
                }
                Err(e) => return Err(e.context(job.reference())),
            };
            ready.insert(name.clone(), ok);
        }
        if ready[name] {
            keep.push(job);
        }
    }
    Ok((keep, skipped))
}

/// `OUT.evidence`: where a matrix's SBOMs and provenance go.
fn evidence_dir(out: &Path) -> PathBuf {
    PathBuf::from(format!("{}.evidence", out.display()))
}

/// `distroless_static-debian12_latest`: the stem of an image's evidence files.
fn evidence_name(job: &Job) -> String {
    format!("{}_{}", job.repository.replace('/', "_"), job.tag)
}

/// Pushes every image to `PREFIX/REPOSITORY:TAG` (a blob shared by many images is sent once:
/// later images find it in the registry).
fn push(
    args: &BuildArgs,
    out: &Path,
    prefix: &str,
    jobs: &[Job],
    rows: &mut [Row],
    arch_tags: bool,
) -> anyhow::Result<serde_json::Value> {
    let client = super::registry::client(&args.registry)?;
    let seen = super::registry::seen(&source::settings(&args.source)?.cache_dir);
    let images: Vec<ForeignImage> = jobs
        .iter()
        .map(|j| ForeignImage::open(out, Some(&j.reference())))
        .collect::<Result<_, _>>()?;
    let targets: Vec<Reference> = (jobs.iter())
        .map(|j| target_of(prefix, j))
        .collect::<anyhow::Result<_>>()?;
    let mut outgoing = Vec::new();
    // Every image's blobs and manifests under their digests first (unless its tag names it
    // already: one HEAD), then every tag: no tag of the family names an image before the
    // whole family is in the registry.
    for ((job, image), target) in jobs.iter().zip(&images).zip(&targets) {
        let o = Outgoing::new(&client, image).map_err(about(job))?;
        let current = !arch_tags && o.all_current(&client, &[target]).map_err(about(job))?;
        if !current {
            o.send_content(&client, &seen, target).map_err(about(job))?;
        }
        outgoing.push((o, current));
    }
    for (((job, row), (o, current)), target) in jobs
        .iter()
        .zip(rows.iter_mut())
        .zip(&outgoing)
        .zip(&targets)
    {
        let pushed = if *current {
            o.as_they_are(&[target])
        } else {
            o.put_tags(&client, &[target], arch_tags)
                .map_err(about(job))?
        };
        row.pushed = pushed.into_iter().map(|p| p.reference).collect();
        row.current = *current;
    }
    let c = &client.counters;
    let n = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    Ok(serde_json::json!({
        "requests": n(&c.requests),
        "bytes_sent": n(&c.bytes_sent),
        "blobs_sent": n(&c.blobs_sent),
        "blobs_mounted": n(&c.blobs_mounted),
        "blobs_skipped": n(&c.blobs_skipped),
    }))
}

/// A registry error, named after the image it concerns.
fn about(job: &Job) -> impl Fn(registry::Error) -> anyhow::Error + '_ {
    move |e| anyhow::Error::new(e).context(job.reference())
}

/// `PREFIX/REPOSITORY:TAG` of a job.
fn target_of(prefix: &str, job: &Job) -> anyhow::Result<Reference> {
    Ok(Reference::parse(&format!(
        "{}/{}",
        prefix.trim_end_matches('/'),
        job.reference()
    ))?)
}

/// The "config diff" of a publish: for every image, `new` (the registry has no such tag),
/// `changed` (it points elsewhere: old → new) or `unchanged`. Nothing is sent.
fn print_changes(
    args: &BuildArgs,
    prefix: &str,
    jobs: &[Job],
    rows: &[Row],
    skipped: &[Skipped],
) -> anyhow::Result<()> {
    let client = super::registry::client(&args.registry)?;
    let mut changes = Vec::new();
    for (job, row) in jobs.iter().zip(rows) {
        let target = target_of(prefix, job)?;
        let (status, was) = match registry::pull::resolve(&client, &target) {
            Ok(d) if d.to_string() == row.digest => ("unchanged", Some(d.to_string())),
            Ok(d) => ("changed", Some(d.to_string())),
            Err(registry::Error::NotFound { .. }) => ("new", None),
            Err(e) => return Err(anyhow::Error::new(e).context(job.reference())),
        };
        changes.push(serde_json::json!({
            "reference": target.to_string(),
            "status": status,
            "was": was,
            "digest": row.digest,
        }));
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = serde_json::json!({"changes": changes, "skipped": skipped});
        super::print_json(&mut out, &doc)?;
        return Ok(());
    }
    for c in &changes {
        let status = c["status"].as_str().unwrap_or_default();
        let line = match (status, c["was"].as_str()) {
            ("changed", Some(was)) => format!("{was} → {}", c["digest"].as_str().unwrap_or("")),
            _ => c["digest"].as_str().unwrap_or("").to_string(),
        };
        writeln!(
            out,
            "{status:9} {} {line}",
            c["reference"].as_str().unwrap_or("")
        )?;
    }
    let count = |s: &str| changes.iter().filter(|c| c["status"] == s).count();
    writeln!(
        out,
        "{} new, {} changed, {} unchanged (nothing sent)",
        count("new"),
        count("changed"),
        count("unchanged")
    )?;
    say_skipped(&mut out, skipped)?;
    Ok(())
}

fn print_jobs(
    jobs: &[Job],
    skipped: &[Skipped],
    (arches, arch_tags): (&[Arch], bool),
    json: bool,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    // With arch_tags, each platform's manifest is also tagged TAG-ARCH (as OCI names it).
    let arch_refs = |j: &Job| -> Vec<String> {
        (arches.iter())
            .filter(|_| arch_tags)
            .map(|a| format!("{}-{}", j.reference(), a.platform().architecture))
            .collect()
    };
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
    let shown: Vec<String> = arches.iter().map(ToString::to_string).collect();
    let shown = if shown.is_empty() {
        "every architecture each release offers".to_string()
    } else {
        shown.join(", ")
    };
    writeln!(out, "{} images, {shown}:", jobs.len())?;
    for j in jobs {
        let tags: Vec<String> = (arch_refs(j).iter())
            .filter_map(|r| r.rsplit_once(':').map(|(_, t)| t.to_string()))
            .collect();
        let also = if tags.is_empty() {
            String::new()
        } else {
            format!("  (and {})", tags.join(", "))
        };
        writeln!(out, "  {:48} {}{also}", j.reference(), j.image.canonical())?;
    }
    say_skipped(&mut out, skipped)?;
    Ok(())
}

fn say_skipped(out: &mut impl Write, skipped: &[Skipped]) -> anyhow::Result<()> {
    for s in skipped {
        writeln!(out, "skipped {}: {}", s.image, s.why)?;
    }
    Ok(())
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
    if args.json {
        super::print_json(&mut out, report)?;
        return Ok(());
    }
    if args.source.quiet {
        return Ok(());
    }
    writeln!(
        out,
        "{:48} {:14} {:>6} {:>7}  DIGEST",
        "IMAGE", "ARCHES", "LAYERS", "SECONDS"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:48} {:14} {:>6} {:>7.2}  {}",
            r.reference,
            r.arches.join(","),
            r.layers,
            r.seconds,
            r.digest
        )?;
    }
    let total: f64 = rows.iter().map(|r| r.seconds).sum();
    let where_ = report["output"]
        .as_str()
        .map(|o| format!(" into {o}"))
        .unwrap_or_default();
    let plural = if rows.len() == 1 { "" } else { "s" };
    writeln!(
        out,
        "{} image{plural} in {:.2} s{where_}",
        rows.len(),
        total.max(0.0)
    )?;
    if rows.iter().any(|r| !r.pushed.is_empty()) {
        let n: usize = rows.iter().map(|r| r.pushed.len()).sum();
        let p = &report["push"];
        if rows.iter().all(|r| r.current) {
            writeln!(out, "nothing pushed: every tag already named its image")?;
        } else {
            writeln!(
                out,
                "pushed {n} references: {} blobs sent ({:.1} MB), {} mounted, {} already there",
                p["blobs_sent"],
                p["bytes_sent"].as_f64().unwrap_or(0.0) / 1e6,
                p["blobs_mounted"],
                p["blobs_skipped"]
            )?;
        }
    }
    if let Some(signed) = report.get("signed") {
        writeln!(
            out,
            "{} images {} ({} artifacts stored)",
            signed["images"],
            match (
                signed["signatures"].as_bool(),
                signed["attestations"].as_bool()
            ) {
                (Some(true), Some(true)) => "signed and attested",
                (Some(true), _) => "signed",
                _ => "attested",
            },
            signed["stored"]
        )?;
    }
    say_skipped(&mut out, skipped)?;
    Ok(())
}
