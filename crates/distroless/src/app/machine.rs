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
    python_abi(app, view)?;
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

/// A CPython extension module built for another Python than the image's
/// (`_speedups.cpython-311-x86_64-linux-gnu.so` in a Python 3.13 image) cannot be imported:
/// the interpreter looks only for its own tag, and a package falls back to pure Python or
/// fails at import. Refused, naming the file and both versions.
fn python_abi(app: &AppPrepared, view: &ImageView) -> anyhow::Result<()> {
    let Some(image) = image_python(view) else {
        return Ok(());
    };
    for (label, entries) in &app.copies {
        for entry in entries {
            let GenEntry::Host(dest, _, _) = entry else {
                continue;
            };
            if let Some(built) = extension_python(dest).filter(|v| *v != image) {
                anyhow::bail!(
                    "/{dest}: a CPython extension for Python {}.{}, in an image of Python {}.{} ({}); \
                     install the package for the image's Python (pip --python-version {}.{})",
                    built.0,
                    built.1,
                    image.0,
                    image.1,
                    label.trim_start_matches("distroless "),
                    image.0,
                    image.1
                );
            }
        }
    }
    Ok(())
}

/// The image's Python (`usr/bin/python3.13` → (3, 13)), if it has one.
fn image_python(view: &ImageView) -> Option<(u32, u32)> {
    (view.index.files.range("usr/bin/python".to_string()..))
        .take_while(|f| f.starts_with("usr/bin/python"))
        .filter_map(|f| f.strip_prefix("usr/bin/python"))
        .filter_map(parse_version)
        .max()
}

/// `3.13` → (3, 13).
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The Python an extension module's file name says it was built for:
/// `x.cpython-311-x86_64-linux-gnu.so` → (3, 11). `abi3` modules and other files say none.
fn extension_python(path: &str) -> Option<(u32, u32)> {
    let name = path.rsplit('/').next()?;
    let tag = name.strip_suffix(".so")?.rsplit_once(".cpython-")?.1;
    let digits: String = tag.chars().take_while(char::is_ascii_digit).collect();
    let (major, minor) = digits.split_at(1.min(digits.len()));
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_extension_module_names_the_python_it_was_built_for() {
        assert_eq!(
            extension_python("usr/lib/app/markupsafe/_speedups.cpython-311-x86_64-linux-gnu.so"),
            Some((3, 11))
        );
        assert_eq!(
            extension_python("x/_c.cpython-313-aarch64-linux-gnu.so"),
            Some((3, 13))
        );
        assert_eq!(extension_python("x/_c.abi3.so"), None);
        assert_eq!(extension_python("x/libfoo.so"), None);
        assert_eq!(extension_python("x/readme.txt"), None);
    }

    #[test]
    fn the_image_python_is_its_newest_interpreter() {
        let mut l = crate::rootfs::view::LayerIndex::default();
        for f in [
            "usr/bin/python3.13",
            "usr/bin/python3",
            "usr/bin/python3.13-config",
        ] {
            l.files.insert(f.into());
        }
        let mut v = ImageView::default();
        v.push(&l);
        assert_eq!(image_python(&v), Some((3, 13)));
        assert_eq!(image_python(&ImageView::default()), None);
    }
}
