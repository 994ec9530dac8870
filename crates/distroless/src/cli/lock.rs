//! `distroless lock`: resolve images and pin their packages in the lock file.

use std::io::Write;

use distroless::model::lock::{Lock, LockedImage};
use distroless::model::{Arch, Catalog, ImageRef};
use distroless::plan::{Source, plan};

use super::args::LockArgs;
use super::build::parse_arches;
use super::source;

/// Runs `distroless lock`.
pub(crate) fn run(args: &LockArgs) -> anyhow::Result<()> {
    let catalog = Catalog::embedded()?;
    let reporter = source::reporter(&args.source, false);
    let source = Source::open(&source::settings(&args.source)?, &reporter)?;
    let mut lock = Lock::read(&args.lockfile)?;
    let targets = targets(args, &lock, &catalog)?;
    let mut out = std::io::stdout().lock();
    for (image, arch) in targets {
        let chain = catalog.chain(&image.name)?;
        let p = plan(&source, &chain, &image, arch)?;
        let label = format!("{}-debian{} {arch}", image.name, image.release.number);
        let changes = lock.put(LockedImage::from_plan(&image.name, &p));
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
    lock.write(&args.lockfile)?;
    Ok(())
}

/// The (image, architecture) pairs to resolve: those named, or every entry of the lock.
fn targets(
    args: &LockArgs,
    lock: &Lock,
    catalog: &Catalog,
) -> anyhow::Result<Vec<(ImageRef, Arch)>> {
    let mut targets = Vec::new();
    if args.images.is_empty() {
        anyhow::ensure!(
            args.update,
            "name the images to lock, or use --update to re-resolve the lock file"
        );
        for i in &lock.images {
            let r = ImageRef::parse(&format!("{}-debian{}", i.name, i.debian), catalog)?;
            targets.push((r, i.arch));
        }
    } else {
        for text in &args.images {
            let r = ImageRef::parse(text, catalog)?;
            for arch in parse_arches(&args.arches)? {
                targets.push((r.clone(), arch));
            }
        }
    }
    Ok(targets)
}
