//! `distroless debug`: any image's debug variant.

use distroless::model::{DebianRelease, Destination};
use distroless::plan::Source;

use super::args::DebugArgs;
use super::source;

/// Runs `distroless debug`.
pub(crate) fn run(args: &DebugArgs) -> anyhow::Result<()> {
    let reporter = source::reporter(&args.source, false);
    let source = Source::open(&source::settings(&args.source)?, &reporter)?;
    let release = DebianRelease::from_number(args.debian)?;
    let input = distroless::publish::pull::on_disk(
        &args.image,
        || super::registry::client(&args.registry),
        &args.source.cache.path(),
    )?;
    let destination = Destination::from_path(args.output.clone(), args.format.into());
    let name = distroless::foreign::debug::build(
        &source,
        &input,
        &destination,
        release,
        (args.source.source_date_epoch, args.replace),
    )?;
    if !args.source.quiet {
        println!(
            "built {} → {} ({name}, {})",
            args.image,
            args.output.display(),
            destination.format()
        );
    }
    Ok(())
}
