//! The closure check: every ELF file's `DT_NEEDED` libraries and interpreter are present.
//!
//! Libraries are looked up the way `ld.so` does: `DT_RPATH` (only without RUNPATH), then
//! `DT_RUNPATH` with `$ORIGIN`, then `ld.so.cache`, then the default directories. This catches
//! a library that a Debian upgrade moved into a package the image does not have, before users
//! run into it.

use super::elf::{ElfInfo, missing_versions, version_problem};
use super::ldcache::CacheEntry;
use super::view::{ImageView, Resolved};
use crate::model::Arch;

/// One unmet need: a library (or interpreter) that is not there, or a symbol version the
/// library that is there does not define.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub file: String,
    pub library: String,
    /// The version the library lacks, and the line that explains it.
    pub version: Option<(String, String)>,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.version {
            Some((_, line)) => f.write_str(line),
            None => write!(
                f,
                "/{} needs {}, which is not in the image",
                self.file, self.library
            ),
        }
    }
}

/// A library with that SONAME below the needing file's own directory. Programs with private
/// libraries (the JVM's `lib/server/libjvm.so`) load them by path first; `ld.so` then
/// satisfies `DT_NEEDED` by SONAME from what is already loaded.
fn loaded_privately(view: &ImageView, origin: &str, lib: &str) -> Option<String> {
    let prefix = format!("{origin}/");
    view.index
        .elfs
        .range(prefix.clone()..)
        .take_while(|(p, _)| p.starts_with(&prefix))
        .find(|(p, e)| e.soname.as_deref() == Some(lib) || p.rsplit('/').next() == Some(lib))
        .map(|(p, _)| p.clone())
}

/// The ELF file a path leads to (a text file or a stub named like a library is not one).
fn elf_file(view: &ImageView, path: &str) -> Option<String> {
    match view.resolve(path) {
        Resolved::File(real) if view.index.elfs.contains_key(&real) => Some(real),
        _ => None,
    }
}

/// Where `ld.so` finds a needed library for the file at `origin` (its real path).
fn locate(
    view: &ImageView,
    cache: &[CacheEntry],
    defaults: &[String],
    elf: &ElfInfo,
    origin: &str,
    lib: &str,
) -> Option<String> {
    if lib.contains('/') {
        return elf_file(view, lib);
    }
    let in_dir = |d: &str| elf_file(view, &format!("{d}/{lib}"));
    let expand = |r: &String| {
        r.replace("${ORIGIN}", &format!("/{origin}"))
            .replace("$ORIGIN", &format!("/{origin}"))
    };
    elf.runpath
        .iter()
        .find_map(|r| in_dir(&expand(r)))
        .or_else(|| loaded_privately(view, origin, lib))
        .or_else(|| {
            cache
                .iter()
                .filter(|e| e.key == lib)
                .find_map(|e| elf_file(view, &e.value))
        })
        .or_else(|| defaults.iter().find_map(|d| in_dir(d)))
}

/// Every unmet need of every ELF file in the image.
pub fn check(view: &ImageView, cache: &[CacheEntry], arch: Arch) -> Vec<Missing> {
    let defaults = arch.default_lib_dirs();
    let mut missing = Vec::new();
    for (path, elf) in &view.index.elfs {
        if let Some(interp) = elf
            .interpreter
            .as_ref()
            .filter(|i| elf_file(view, i).is_none())
        {
            missing.push(Missing {
                file: path.clone(),
                library: interp.clone(),
                version: None,
            });
        }
        let origin = path.rsplit_once('/').map_or("", |(d, _)| d);
        for lib in &elf.needed {
            let Some(real) = locate(view, cache, &defaults, elf, origin, lib) else {
                missing.push(Missing {
                    file: path.clone(),
                    library: lib.clone(),
                    version: None,
                });
                continue;
            };
            let library = &view.index.elfs[&real];
            for v in missing_versions(elf, lib, library) {
                missing.push(Missing {
                    file: path.clone(),
                    library: lib.clone(),
                    version: Some((
                        v.to_string(),
                        version_problem(&format!("/{path}"), v, lib, library),
                    )),
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
