//! `distroless build`: flags and recipe merged once into a `BuildRequest`, then the library
//! builds (or, with `--dry-run`, plans) and this module prints.

use std::io::Write;
use std::path::PathBuf;

use distroless::app::{self, AppSpec, DEFAULT_RECIPE, overrides::Overrides};
use distroless::build;
use distroless::layers::Layering;
use distroless::model::lock::Lock;
use distroless::model::{Base, Catalog, Destination, ImageRef};
use distroless::output::BuildSummary;
use distroless::plan::{Plan, Source};
use distroless::publish::pull;
use distroless::request::{Arches, BuildOptions, BuildRequest, Target};
use distroless::sbom::SbomFormats;
use oci::layer::Compression;
use registry::Reference;

use super::args::{BuildArgs, CompressionArg, FormatArg, LayeringArg, SbomArg};
use super::source;

/// Builds the request (or with `--dry-run` plans it and prints: `None`), opening the archive
/// only for an image built from packages.
fn build_or_plan(
    args: &BuildArgs,
    catalog: &Catalog,
    req: &BuildRequest,
    reporter: &dyn distroless::report::Reporter,
) -> anyhow::Result<Option<BuildSummary>> {
    let settings = source::build_settings(args)?;
    let source = match &req.target.base {
        Base::Disk(_) => None,
        _ => Some(Source::open(&settings, reporter)?),
    };
    let outcome = build::run(catalog, req, source.as_ref(), reporter)?;
    if source.is_some() {
        source::report_cache_repo(&settings, args.source.quiet);
    }
    match outcome {
        build::Outcome::Planned(plans) => {
            print_plans(&plans, args.json.on, args.explain)?;
            Ok(None)
        }
        build::Outcome::Built(summary) if summary.dry_run => {
            print_summary(args, &summary)?;
            Ok(None)
        }
        build::Outcome::Built(summary) => Ok(Some(*summary)),
    }
}

/// Runs `distroless build`.
pub(crate) fn run(args: &BuildArgs) -> anyhow::Result<()> {
    let catalog = Catalog::embedded()?;
    // With --push and no -o, the local output is a temporary directory removed afterwards.
    let scratch = (!args.push.is_empty() && args.output.is_none())
        .then(oci::staging::scratch)
        .transpose()?;
    let req = request(
        args,
        &catalog,
        scratch.as_ref().map(|(d, _)| d.path().join("image")),
    )?;
    let targets = push_targets(&args.push)?;
    anyhow::ensure!(
        targets.is_empty() || args.format != FormatArg::Docker,
        "--push sends the OCI image the build makes; a docker-archive holds no manifest of it \
         (drop --format docker, or push the archive with `distroless push`, which makes one)"
    );
    let key = super::signing::build_key(
        args.key.as_deref().filter(|_| !args.dry_run),
        !targets.is_empty(),
        matches!(req.destination, Destination::Layout(_)),
    )?;
    super::signing::warn_without_sboms(key.is_some(), args.sbom);
    let reporter = source::reporter(&args.source, args.json.on);
    let Some(summary) = build_or_plan(args, &catalog, &req, &reporter)? else {
        return Ok(());
    };
    // A layout kept on disk is signed too (its referrers travel with `distroless push`).
    let in_layout = match (&key, &req.destination, &scratch) {
        (Some(key), Destination::Layout(dir), None) => {
            Some(distroless::publish::sign_in_layout(&summary, dir, key)?)
        }
        _ => None,
    };
    let say_signed = || {
        if let Some(n) = in_layout.filter(|_| !args.source.quiet && !args.json.on) {
            println!("  signed and attested in the layout ({n} referrers)");
        }
    };
    if targets.is_empty() {
        print_summary(args, &summary)?;
        say_signed();
        return Ok(());
    }
    let mut summary = summary;
    if scratch.is_some() {
        // The local copy was temporary: say so rather than print paths that are gone.
        summary.output = PathBuf::new();
        summary.sboms.clear();
        summary.provenance = None;
    }
    if !args.json.on {
        print_summary(args, &summary)?;
        say_signed();
        if scratch.is_some() && !args.source.quiet {
            println!("  (no local copy kept: -o keeps the image, its SBOMs and its provenance)");
        }
    }
    let output = scratch.as_ref().map_or_else(
        || req.destination.path().to_path_buf(),
        |(d, _)| d.path().join("image"),
    );
    let client = std::rc::Rc::new(super::registry::client(&args.registry)?);
    let cache = source::settings(&args.source)?.cache_dir;
    let (pushed, signed) = distroless::publish::push_built(
        &client,
        (&summary, &output),
        &targets,
        (args.arch_tags, &cache),
        key.as_ref(),
    )?;
    if args.source.quiet && !args.json.on {
        return Ok(());
    }
    super::registry::print_pushed(
        &client,
        &pushed,
        args.json.on,
        args.json.on.then_some(&summary),
    )?;
    if !args.json.on {
        for line in &signed {
            println!("  {line}");
        }
    }
    Ok(())
}

/// The `--push` references, parsed before anything is built.
fn push_targets(texts: &[String]) -> anyhow::Result<Vec<Reference>> {
    anyhow::ensure!(
        texts.iter().all(|t| !t.is_empty()),
        "--push needs a reference: HOST[:PORT]/REPOSITORY[:TAG] (a bare --push is for a matrix with `registry`)"
    );
    Ok(texts
        .iter()
        .map(|t| Reference::parse(t))
        .collect::<Result<_, _>>()?)
}

/// The typed request: the recipe file (if any) with the flags over it, validated.
fn request(
    args: &BuildArgs,
    catalog: &Catalog,
    scratch: Option<PathBuf>,
) -> anyhow::Result<BuildRequest> {
    let app = app_spec(args)?;
    let base = match (&app, &args.image) {
        (Some(_), Some(i)) => {
            anyhow::bail!("give either an IMAGE or a recipe (-f / --from …), not both (got {i:?})")
        }
        (Some(spec), None) => match pull::registry_base(
            spec,
            catalog,
            || super::registry::client(&args.registry),
            &args.source.cache.path(),
        )? {
            Some(disk) => disk,
            None => spec.base(catalog)?,
        },
        (None, Some(i)) => Base::Catalog(ImageRef::parse(i, catalog)?),
        (None, None) => {
            anyhow::bail!(
                "name an IMAGE (see `distroless list`) or a recipe with -f FILE (none in ./{DEFAULT_RECIPE})"
            )
        }
    };
    let recipe_arches = app.as_ref().map(|a| a.recipe.arches.as_slice());
    let arches = Arches::choose(args.all_arches, &args.arches, recipe_arches)?;
    let lock = args
        .locked
        .then(|| {
            let relock = if app.is_some() {
                "-f RECIPE"
            } else {
                "IMAGE…"
            };
            Lock::read_existing(&args.lockfile, &format!("distroless lock {relock}"))
        })
        .transpose()?;
    let default_name = match (&app, &base) {
        (Some(a), _) => a
            .default_output(args.app.name.is_some())
            .display()
            .to_string(),
        (None, Base::Catalog(r)) => r.name.clone(),
        (None, _) => "image".to_string(),
    };
    let output = args
        .output
        .clone()
        .or(scratch)
        .unwrap_or_else(|| PathBuf::from(default_name));
    let target = Target {
        base,
        app,
        arches,
        lock,
        upstreams: source::upstreams(&args.source)?,
    };
    let destination = Destination::from_path(output, args.format.into());
    request_for(args, target, destination)
}

/// The request the flags make for a target and a destination.
fn request_for(
    args: &BuildArgs,
    target: Target,
    destination: Destination,
) -> anyhow::Result<BuildRequest> {
    Ok(BuildRequest {
        matrix: None,
        dry_run: args.dry_run,
        target,
        destination,
        options: options(args)?,
        replace: args.replace,
    })
}

/// How the flags say images are made (a matrix's images share them).
pub(crate) fn options(args: &BuildArgs) -> anyhow::Result<BuildOptions> {
    Ok(BuildOptions {
        invocation: distroless::attest::provenance::invocation(std::env::args()),
        compression: compression(args.compression),
        layering: match args.layering {
            LayeringArg::Tier => Layering::Tier,
            LayeringArg::Package => Layering::Package,
        },
        epoch: args.source.source_date_epoch,
        allow_missing: args.allow_missing,
        sbom: match args.sbom {
            SbomArg::Spdx => SbomFormats::Spdx,
            SbomArg::Cyclonedx => SbomFormats::CycloneDx,
            SbomArg::Both => SbomFormats::Both,
            SbomArg::None => SbomFormats::None,
        },
        audit: if args.audit {
            Some(super::inspect::policy(&args.audit_policy)?)
        } else {
            None
        },
    })
}

/// The layer compression a flag names.
pub(crate) fn compression(arg: CompressionArg) -> Compression {
    match arg {
        CompressionArg::Gzip => Compression::Gzip,
        CompressionArg::Zstd => Compression::Zstd,
    }
}

/// The recipe file with the application flags merged over it (or the flags alone).
fn app_spec(args: &BuildArgs) -> anyhow::Result<Option<AppSpec>> {
    let overrides = Overrides::from(&args.app);
    let context = args.context.as_deref();
    // Flags are merged over ./distroless.toml when it is there, as over a `-f` file.
    let mut spec = match app::recipe_file(args.file.as_deref(), args.image.is_none()) {
        Some(f) => app::load(&f, context)?,
        None if overrides.any() => app::inline(context)?,
        None => return Ok(None),
    };
    overrides.apply(&mut spec.recipe)?;
    spec.check_name()?;
    spec.check_tags()?;
    Ok(Some(spec))
}

fn print_summary(args: &BuildArgs, summary: &BuildSummary) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if args.json.on {
        super::print_json(&mut out, summary)?;
        return Ok(());
    }
    if args.source.quiet {
        return Ok(());
    }
    distroless::render::build::summary(&mut out, summary, args.explain)?;
    if args.explain && summary.explain.is_empty() {
        writeln!(
            out,
            "  (--explain: nothing to explain; only from = \"auto\" chooses files)"
        )?;
    }
    Ok(())
}

fn print_plans(plans: &[(Plan, Vec<String>)], json: bool, explain: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        let doc = distroless::render::build::plans_json(plans, explain)?;
        return super::print_json(&mut out, &doc);
    }
    distroless::render::build::plans(&mut out, plans, explain)
}
