//! What the image's ELF files need: interpreter, `DT_NEEDED`, `SONAME`, `RUNPATH`, and the
//! symbol versions they need from each library (`DT_VERNEED`) or define (`DT_VERDEF`).
//!
//! Read with `goblin`; only the dynamic section matters. The facts are kept per layer (and
//! cached with it), so `ld.so.cache` and the closure check work without re-reading packages.

use serde::{Deserialize, Serialize};

/// The dynamic-linking facts of one ELF file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElfInfo {
    pub is_64: bool,
    pub machine: u16,
    pub soname: Option<String>,
    pub needed: Vec<String>,
    /// `DT_RUNPATH` entries (or `DT_RPATH` when there is no RUNPATH), split on `:`.
    pub runpath: Vec<String>,
    /// `DT_RPATH` was used (searched before the cache, unlike RUNPATH).
    pub is_rpath: bool,
    pub interpreter: Option<String>,
    /// A program rather than a library: `ET_EXEC`, or an interpreter, or (a static PIE) an
    /// entry point without a `SONAME`.
    #[serde(default)]
    pub program: bool,
    /// Symbol versions needed from each library (`libc.so.6` → `GLIBC_2.34`); weak
    /// references, which the loader forgives, are left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub version_needs: Vec<(String, Vec<String>)>,
    /// The symbol versions a library defines (`GLIBC_2.2.5` …), its base entry left out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Imports `iconv_open`: glibc then loads gconv modules with `dlopen`, which no
    /// `DT_NEEDED` shows.
    #[serde(default)]
    pub uses_iconv: bool,
}

/// Whether the file imports a symbol of that name.
fn imports(elf: &goblin::elf::Elf<'_>, symbol: &str) -> bool {
    elf.dynsyms
        .iter()
        .any(|s| s.st_shndx == 0 && elf.dynstrtab.get_at(s.st_name) == Some(symbol))
}

/// `VER_FLG_BASE`: a version definition naming the file itself.
const VER_FLG_BASE: u16 = 1;
/// `VER_FLG_WEAK`: a version reference the loader does not insist on.
const VER_FLG_WEAK: u16 = 2;

/// The versions an ELF file needs, per library.
fn version_needs(elf: &goblin::elf::Elf<'_>) -> Vec<(String, Vec<String>)> {
    let Some(section) = &elf.verneed else {
        return Vec::new();
    };
    let name = |at: usize| elf.dynstrtab.get_at(at).map(str::to_string);
    section
        .iter()
        .filter_map(|need| {
            let versions: Vec<String> = need
                .iter()
                .filter(|aux| aux.vna_flags & VER_FLG_WEAK == 0)
                .filter_map(|aux| name(aux.vna_name))
                .collect();
            Some((name(need.vn_file)?, versions))
        })
        .collect()
}

/// The versions an ELF file defines.
fn versions(elf: &goblin::elf::Elf<'_>) -> Vec<String> {
    let Some(section) = &elf.verdef else {
        return Vec::new();
    };
    section
        .iter()
        .filter(|def| def.vd_flags & VER_FLG_BASE == 0)
        .filter_map(|def| def.iter().next())
        .filter_map(|aux| elf.dynstrtab.get_at(aux.vda_name).map(str::to_string))
        .collect()
}

/// The symbol versions `needer` needs from the library it names `name` that `library` does
/// not define. A library that defines no versions at all satisfies any (the loader only warns).
pub fn missing_versions<'a>(needer: &'a ElfInfo, name: &str, library: &ElfInfo) -> Vec<&'a str> {
    if library.versions.is_empty() {
        return Vec::new();
    }
    needer
        .version_needs
        .iter()
        .filter(|(file, _)| file == name)
        .flat_map(|(_, versions)| versions)
        .filter(|v| !library.versions.contains(v))
        .map(String::as_str)
        .collect()
}

/// The newest version a library defines of the family of `like` (`GLIBC_2.36` for
/// `GLIBC_2.38`), compared number by number.
pub fn newest_like(library: &ElfInfo, like: &str) -> Option<String> {
    let family = |v: &str| v.rsplit_once('_').map(|(f, _)| f.to_string());
    let numbers = |v: &str| -> Vec<u64> {
        v.rsplit_once('_')
            .map(|(_, n)| n.split('.').filter_map(|x| x.parse().ok()).collect())
            .unwrap_or_default()
    };
    let want = family(like)?;
    library
        .versions
        .iter()
        .filter(|v| family(v).as_deref() == Some(want.as_str()))
        .max_by_key(|v| numbers(v))
        .cloned()
}

/// One line for a version a library lacks.
pub fn version_problem(needer: &str, version: &str, name: &str, library: &ElfInfo) -> String {
    let newest = newest_like(library, version)
        .map(|n| format!(", whose newest is {n}"))
        .unwrap_or_default();
    format!(
        "{needer} needs {version} from {name}, which the image's {name} does not define{newest} \
         (build the program against the image's release or older, or use a newer Debian release)"
    )
}

/// The largest ELF file read to learn what it needs. The ELF reader takes the whole file in
/// memory; a bigger one (or a sparse file posing as one) is refused rather than allowed to
/// exhaust memory.
pub const MAX_ELF: u64 = 1 << 30;

/// The refusal of an ELF file over [`MAX_ELF`].
pub fn too_large(path: &str, len: u64) -> anyhow::Error {
    anyhow::anyhow!(
        "/{}: an ELF file of {len} bytes, larger than the {MAX_ELF} bytes read to check programs",
        path.trim_start_matches('/')
    )
}

/// Whether bytes start like an ELF file.
pub fn is_elf(head: &[u8]) -> bool {
    head.starts_with(b"\x7fELF")
}

/// Parses an ELF file's dynamic facts; `None` for files goblin cannot read as ELF.
pub fn parse(bytes: &[u8]) -> Option<ElfInfo> {
    let elf = goblin::elf::Elf::parse(bytes).ok()?;
    let split = |v: &[&str]| -> Vec<String> {
        v.iter()
            .flat_map(|s| s.split(':'))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (runpath, is_rpath) = if elf.runpaths.is_empty() {
        (split(&elf.rpaths), !elf.rpaths.is_empty())
    } else {
        (split(&elf.runpaths), false)
    };
    Some(ElfInfo {
        is_64: elf.is_64,
        machine: elf.header.e_machine,
        soname: elf.soname.map(str::to_string),
        needed: elf.libraries.iter().map(|s| (*s).to_string()).collect(),
        runpath,
        is_rpath,
        interpreter: elf.interpreter.map(str::to_string),
        program: elf.header.e_type == goblin::elf::header::ET_EXEC
            || elf.interpreter.is_some()
            || (elf.entry != 0 && elf.soname.is_none()),
        version_needs: version_needs(&elf),
        versions: versions(&elf),
        uses_iconv: imports(&elf, "iconv_open"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_triplet() -> &'static str {
        crate::model::Arch::host().triplet()
    }

    #[test]
    fn reads_a_host_binary() {
        let bytes = fs_err::read("/bin/ls").unwrap();
        let info = parse(&bytes).unwrap();
        assert!(info.needed.iter().any(|n| n.starts_with("libc.so")));
        assert!(info.interpreter.is_some());
        assert!(info.program);
        let (_, glibc) = info
            .version_needs
            .iter()
            .find(|(lib, _)| lib == "libc.so.6")
            .unwrap();
        assert!(glibc.iter().all(|v| v.starts_with("GLIBC_")), "{glibc:?}");
        assert!(parse(b"#!/bin/sh\n").is_none());
        let libc =
            parse(&fs_err::read(format!("/lib/{}/libc.so.6", host_triplet())).unwrap()).unwrap();
        assert!(!libc.program || libc.soname.is_some());
        assert!(
            libc.versions.iter().any(|v| v == "GLIBC_2.34"),
            "{:?}",
            libc.versions
        );
        assert!(!libc.versions.iter().any(|v| v == "libc.so.6"));
        let mut needer = info.clone();
        needer.version_needs = vec![(
            "libc.so.6".into(),
            vec!["GLIBC_2.34".into(), "GLIBC_9.1".into()],
        )];
        assert_eq!(missing_versions(&needer, "libc.so.6", &libc), ["GLIBC_9.1"]);
        assert!(missing_versions(&needer, "libm.so.6", &libc).is_empty());
        let newest = newest_like(&libc, "GLIBC_9.1").unwrap();
        assert!(newest.starts_with("GLIBC_2."), "{newest}");
        assert!(newest_like(&libc, "GLIBC_2.3").unwrap() != "GLIBC_2.3");
    }
}
