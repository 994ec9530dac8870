//! What the image's ELF files need: interpreter, `DT_NEEDED`, `SONAME`, `RUNPATH`.
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_host_binary() {
        let bytes = fs_err::read("/bin/ls").unwrap();
        let info = parse(&bytes).unwrap();
        assert!(info.needed.iter().any(|n| n.starts_with("libc.so")));
        assert!(info.interpreter.is_some());
        assert!(parse(b"#!/bin/sh\n").is_none());
    }
}
