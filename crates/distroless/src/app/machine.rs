//! Copied ELF files against the image's architecture. A program built for another machine
//! cannot start (the engine says only "exec format error"), so it is refused, and so is an
//! entrypoint of another machine whatever it is; a library of another machine (a wheel's
//! extension module built for the wrong platform) is a warning, since a language tree may
//! carry files it never loads.

use super::AppPrepared;
use crate::layers::GenEntry;
use crate::model::Arch;
use crate::rootfs::elf::ElfInfo;
use crate::rootfs::view::{ImageView, Resolved};

/// Fails on a copied program (or the entrypoint) of another machine; returns one warning per
/// copied library of another machine. Reads the facts the layers recorded.
pub fn check(app: &AppPrepared, view: &ImageView, arch: Arch) -> anyhow::Result<Vec<String>> {
    let entrypoint = entrypoint_of(app).and_then(|p| match view.resolve(&p) {
        Resolved::File(real) => Some(real),
        _ => None,
    });
    // A copy to `/bin/x` on a merged-/usr image is at `/usr/bin/x`: read it where it landed.
    judge(app, arch, entrypoint.as_deref(), |dest, _| {
        view.index
            .elfs
            .get(&crate::layers::landed(view, dest))
            .cloned()
    })
}

/// [`check`] before anything is built (a dry run): the copied files are read from the host.
pub fn check_copies(app: &AppPrepared, arch: Arch) -> anyhow::Result<Vec<String>> {
    let entrypoint = entrypoint_of(app);
    judge(app, arch, entrypoint.as_deref(), |_, host| {
        super::auto::program_info(host).ok().flatten()
    })
}

/// The recipe's entrypoint program, without its leading `/`.
fn entrypoint_of(app: &AppPrepared) -> Option<String> {
    app.spec
        .recipe
        .entrypoint
        .as_ref()
        .and_then(|e| e.first())
        .map(|p| p.trim_start_matches('/').to_string())
}

fn judge(
    app: &AppPrepared,
    arch: Arch,
    entrypoint: Option<&str>,
    elf_of: impl Fn(&str, &std::path::Path) -> Option<ElfInfo>,
) -> anyhow::Result<Vec<String>> {
    let mut warnings = Vec::new();
    for (label, entries) in &app.copies {
        for entry in entries {
            let GenEntry::Host(dest, host, _) = entry else {
                continue;
            };
            let Some(elf) = elf_of(dest, host) else {
                // An ELF header on a file the ELF reader cannot read: truncated or damaged.
                let mut head = [0u8; 4];
                let n = fs_err::File::open(host)
                    .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
                    .unwrap_or(0);
                if crate::rootfs::elf::is_elf(&head[..n]) {
                    anyhow::bail!(
                        "/{dest}: an ELF file that cannot be read (truncated or damaged) ({})",
                        label.trim_start_matches("distroless ")
                    );
                }
                continue;
            };
            if arch.runs(elf.machine, elf.is_64) {
                continue;
            }
            let machine = Arch::machine_name(elf.machine, elf.is_64);
            let an = if matches!(arch, Arch::Ppc64el | Arch::Riscv64) {
                "a"
            } else {
                "an"
            };
            let copy = label.trim_start_matches("distroless ");
            if elf.program || entrypoint == Some(dest.as_str()) {
                anyhow::bail!(
                    "/{dest}: {machine} program in {an} {arch} image ({copy}); build it for {arch}, or \
                     take each architecture's build with {{arch}} in the copy's src"
                );
            }
            warnings.push(format!(
                "/{dest}: {machine} library in {an} {arch} image; it will not load there ({copy})"
            ));
        }
    }
    Ok(warnings)
}
