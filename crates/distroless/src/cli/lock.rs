//! `distroless lock`: resolve images (catalog images, or an application recipe) and pin their
//! packages in the lock file.

use std::io::Write;

use distroless::app;
use distroless::build;
use distroless::model::lock::{Lock, LockedImage};
use distroless::model::{Arch, Catalog, ImageRef};
use distroless::plan::Source;
use distroless::request::{Arches, Target};

use super::args::LockArgs;
use super::source;

/// Runs `distroless lock`.
pub(crate) fn run(args: &LockArgs) -> anyhow::Result<()> {
    let catalog = Catalog::embedded()?;
    let mut lock = Lock::read(&args.lockfile)?;
    let (mut targets, skipped) = targets(args, &lock, &catalog)?;
    Target::share_upstreams(&mut targets, &catalog)?;
    let reporter = source::reporter(&args.source, false);
    let source = Source::open(&source::settings(&args.source)?, &reporter)?;
    let mut out = std::io::stdout().lock();
    for name in skipped {
        writeln!(
            out,
            "{name}: skipped (an application: re-lock it with -f RECIPE)"
        )?;
    }
    for target in targets {
        let prepared = build::Prepared::new(&catalog, &target, Some(&source))?;
        let (image, upstream) = {
            let a = prepared.from_archive()?;
            (&a.image, &a.upstream)
        };
        let name = target.lock_name(image);
        for (p, _) in prepared.plans(&source)? {
            let n = image.release.number;
            let label = match target.app {
                Some(_) => format!("{name} (Debian {n}) {}", p.arch),
                None => format!("{name}-debian{n} {}", p.arch),
            };
            let mut entry = LockedImage::from_plan(&name, &p, target.requested());
            entry.archives = upstream.pins(&source, p.arch, &target.upstreams)?;
            let changes = lock.put(entry);
            if args.update {
                if changes.is_empty() {
                    writeln!(out, "{label}: unchanged")?;
                }
                for c in changes {
                    writeln!(out, "{label}: {c}")?;
                }
            } else if !args.source.quiet {
                let n: usize = p
                    .tiers
                    .iter()
                    .map(|t| t.packages.len() + t.partial.len())
                    .sum();
                writeln!(
                    out,
                    "{label}: {n} packages (Debian {}, {})",
                    p.debian_version, p.release_date
                )?;
            }
        }
    }
    lock.write(&args.lockfile)?;
    Ok(())
}

/// What to resolve: the recipe, the images named, or (with `--update`) every catalog entry of
/// the lock; also the application entries `--update` cannot re-resolve without their recipe.
fn targets(
    args: &LockArgs,
    lock: &Lock,
    catalog: &Catalog,
) -> anyhow::Result<(Vec<Target>, Vec<String>)> {
    let upstreams = super::source::upstreams(&args.source)?;
    let catalog_target =
        |image: ImageRef, arches: Arches| Target::to_lock(image, arches, upstreams.clone());
    if let Some(file) =
        app::recipe_file(args.file.as_deref(), args.images.is_empty() && !args.update)
    {
        let spec = app::load(&file, args.context.as_deref())?;
        let target = Target::to_lock_recipe(spec, catalog, &args.arches, upstreams)?;
        return Ok((vec![target], Vec::new()));
    }
    if !args.images.is_empty() {
        let arches = Arches::Listed(Arch::parse_list(&args.arches)?);
        let targets = args
            .images
            .iter()
            .map(|text| {
                Ok(catalog_target(
                    ImageRef::parse(text, catalog)?,
                    arches.clone(),
                ))
            })
            .collect::<anyhow::Result<_>>()?;
        return Ok((targets, Vec::new()));
    }
    anyhow::ensure!(
        args.update,
        "name the images to lock, a recipe with -f FILE, or use --update to re-resolve the lock file"
    );
    Target::relock(lock, catalog, &upstreams)
}
