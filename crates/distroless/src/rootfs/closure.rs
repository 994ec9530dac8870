//! The closure check: every ELF file's `DT_NEEDED` libraries and interpreter are present.
//!
//! Libraries are looked up the way `ld.so` does: `DT_RPATH` (only without RUNPATH), then
//! `DT_RUNPATH` with `$ORIGIN`, then `ld.so.cache`, then the default directories. This catches
//! a library that a Debian upgrade moved into a package the image does not have, before users
//! run into it.

use super::ldcache::CacheEntry;
use super::view::{ImageView, Resolved};
use crate::model::Arch;

/// One unmet need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub file: String,
    pub library: String,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "/{} needs {}, which is not in the image",
            self.file, self.library
        )
    }
}

/// Whether a library with that SONAME sits below the needing file's own directory. Programs
/// with private libraries (the JVM's `lib/server/libjvm.so`) load them by path first; `ld.so`
/// then satisfies `DT_NEEDED` by SONAME from what is already loaded.
fn loaded_privately(view: &ImageView, origin: &str, lib: &str) -> bool {
    let prefix = format!("{origin}/");
    view.index
        .elfs
        .range(prefix.clone()..)
        .take_while(|(p, _)| p.starts_with(&prefix))
        .any(|(p, e)| e.soname.as_deref() == Some(lib) || p.rsplit('/').next() == Some(lib))
}

/// Whether a path leads to an ELF file (a text file or a stub named like a library is not one).
fn is_elf_file(view: &ImageView, path: &str) -> bool {
    matches!(view.resolve(path), Resolved::File(real) if view.index.elfs.contains_key(&real))
}

/// Every unmet need of every ELF file in the image.
pub fn check(view: &ImageView, cache: &[CacheEntry], arch: Arch) -> Vec<Missing> {
    let defaults = arch.default_lib_dirs();
    let mut missing = Vec::new();
    for (path, elf) in &view.index.elfs {
        if let Some(interp) = elf.interpreter.as_ref().filter(|i| !is_elf_file(view, i)) {
            {
                missing.push(Missing {
                    file: path.clone(),
                    library: interp.clone(),
                });
            }
        }
        let origin = path.rsplit_once('/').map_or("", |(d, _)| d);
        for lib in &elf.needed {
            let found = if lib.contains('/') {
                is_elf_file(view, lib)
            } else {
                let in_dir = |d: &str| is_elf_file(view, &format!("{d}/{lib}"));
                let expand = |r: &String| {
                    r.replace("${ORIGIN}", &format!("/{origin}"))
                        .replace("$ORIGIN", &format!("/{origin}"))
                };
                elf.runpath.iter().any(|r| in_dir(&expand(r)))
                    || loaded_privately(view, origin, lib)
                    || cache
                        .iter()
                        .any(|e| &e.key == lib && is_elf_file(view, &e.value))
                    || defaults.iter().any(|d| in_dir(d))
            };
            if !found {
                missing.push(Missing {
                    file: path.clone(),
                    library: lib.clone(),
                });
            }
        }
    }
    missing
}

/// Every unmet need of an image: the check against the `ld.so.cache` the image would have.
pub fn check_image(view: &ImageView, arch: Arch) -> Vec<Missing> {
    let entries = if view.has_glibc() {
        super::ldcache::entries(view, arch)
    } else {
        Vec::new()
    };
    check(view, &entries, arch)
}
