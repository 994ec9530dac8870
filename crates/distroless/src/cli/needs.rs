//! `distroless needs`: what programs need, and from which Debian packages.

use anyhow::Context;

use distroless::app::auto::{self, Program};
use distroless::model::{Arch, DebianRelease};
use distroless::plan::{Source, load_universe};

use super::args::NeedsArgs;
use super::source;

/// Runs `distroless needs`.
pub(crate) fn run(args: &NeedsArgs) -> anyhow::Result<()> {
    let reporter = source::reporter(&args.source, false);
    let source = Source::open(&source::settings(&args.source)?, &reporter)?;
    let release = DebianRelease::from_number(args.debian)?;
    let arch = match &args.arch {
        Some(a) => a.parse::<Arch>()?,
        None => Arch::host(),
    };
    let programs = programs(args, arch)?;
    let universe = load_universe(&source, release, arch)?;
    let needs = auto::analyse(
        &source,
        &universe,
        &programs,
        arch,
        release.merged_usr(),
        &args.packages,
    )?;
    let mut out = std::io::stdout().lock();
    if args.json.on {
        let packages: Vec<serde_json::Value> = needs
            .files
            .iter()
            .map(|(name, (pkg, files))| {
                serde_json::json!({
                    "name": name,
                    "version": pkg.version,
                    "files": files.iter().map(|f| format!("/{f}")).collect::<Vec<_>>(),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "debian": release.number,
            "arch": arch.debian(),
            "static_programs": needs.static_programs,
            "packages": packages,
            "explain": needs.explain,
        });
        super::print_json(&mut out, &doc)?;
        return Ok(());
    }
    distroless::render::build::needs(&mut out, &needs, release.number, arch)
}

/// The programs named, each placed at `/NAME`; every one must be an ELF file.
fn programs(args: &NeedsArgs, arch: Arch) -> anyhow::Result<Vec<Program>> {
    args.binaries
        .iter()
        .map(|b| {
            let info = auto::program_info(b)?
                .with_context(|| format!("{}: not an ELF program", b.display()))?;
            anyhow::ensure!(
                arch.runs(info.machine, info.is_64),
                "{}: {} program, not {arch} (choose the architecture with --arch)",
                b.display(),
                Arch::machine_name(info.machine, info.is_64)
            );
            let name = b
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            Ok(Program {
                image_path: format!("/{name}"),
                host_path: b.clone(),
            })
        })
        .collect()
}
