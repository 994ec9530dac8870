//! `/etc/ld.so.cache` generated natively, in glibc's `glibc-ld.so.cache1.1` format.
//!
//! `ldconfig` normally writes it in a maintainer trigger, which we never run (and cannot for
//! another architecture). We reproduce its rules: directories from `/etc/ld.so.conf` (with
//! `include`) then the multiarch system directories, a directory seen twice through a symlink
//! counted once under its first name, `lib*`/`ld-*` files containing `.so` that are ELF shared
//! objects, keyed by SONAME, the highest file name winning inside one directory, entries sorted
//! the way `ld.so` binary-searches them. Written by hand because no crate writes this format.
//!
//! Known differences from `ldconfig -C` bytes: we write the string table in entry order without
//! suffix sharing, and no "generator" extension; `ld.so` reads neither layout detail.

use super::view::{ImageView, Resolved};
use crate::model::Arch;

/// One cache entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub flags: i32,
    pub key: String,
    pub value: String,
}

/// glibc's `_dl_cache_libcmp`: digit runs compare as numbers. Short names mirror the C.
#[allow(clippy::many_single_char_names)]
pub fn libcmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() {
        if a[i].is_ascii_digit() {
            if j < b.len() && b[j].is_ascii_digit() {
                let (mut x, mut y) = (0u64, 0u64);
                while i < a.len() && a[i].is_ascii_digit() {
                    x = x.saturating_mul(10).saturating_add(u64::from(a[i] - b'0'));
                    i += 1;
                }
                while j < b.len() && b[j].is_ascii_digit() {
                    y = y.saturating_mul(10).saturating_add(u64::from(b[j] - b'0'));
                    j += 1;
                }
                if x != y {
                    return x.cmp(&y);
                }
            } else {
                return std::cmp::Ordering::Greater;
            }
        } else if j < b.len() && b[j].is_ascii_digit() {
            return std::cmp::Ordering::Less;
        } else if j >= b.len() || a[i] != b[j] {
            return a[i].cmp(b.get(j).unwrap_or(&0));
        } else {
            i += 1;
            j += 1;
        }
    }
    if j < b.len() {
        std::cmp::Ordering::Less
    } else {
        std::cmp::Ordering::Equal
    }
}

/// The directories `ldconfig` would scan, in order, de-duplicated by where they lead.
pub fn search_dirs(view: &ImageView, arch: Arch) -> Vec<String> {
    let mut dirs = Vec::new();
    read_conf(view, "etc/ld.so.conf", &mut dirs, 0);
    let t = arch.triplet();
    dirs.push(format!("lib/{t}"));
    dirs.push(format!("usr/lib/{t}"));
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for d in dirs {
        if let Resolved::Dir(real) = view.resolve(&d)
            && seen.insert(real)
        {
            out.push(d);
        }
    }
    out
}

fn read_conf(view: &ImageView, path: &str, dirs: &mut Vec<String>, depth: u32) {
    let Some(text) = view.index.configs.get(path) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pattern) = line.strip_prefix("include") {
            let pattern = pattern.trim().trim_start_matches('/');
            // Only the `DIR/*.conf` form Debian uses.
            if let Some((dir, suffix)) = pattern.split_once("/*") {
                let mut confs: Vec<&String> = view
                    .index
                    .configs
                    .keys()
                    .filter(|k| k.starts_with(&format!("{dir}/")) && k.ends_with(suffix))
                    .collect();
                confs.sort();
                for c in confs {
                    if depth < 4 {
                        read_conf(view, c, dirs, depth + 1);
                    }
                }
            }
        } else if line.starts_with('/') {
            dirs.push(
                line.trim_start_matches('/')
                    .trim_end_matches('/')
                    .to_string(),
            );
        }
    }
}

/// The entries `ldconfig` would write, in cache order.
pub fn entries(view: &ImageView, arch: Arch) -> Vec<CacheEntry> {
    let mut all: Vec<CacheEntry> = Vec::new();
    for dir in search_dirs(view, arch) {
        // soname → (file name, flags); the highest file name wins inside a directory.
        let mut libs: std::collections::BTreeMap<String, (String, i32)> =
            std::collections::BTreeMap::new();
        let Resolved::Dir(real_dir) = view.resolve(&dir) else {
            continue;
        };
        for name in view.list(&real_dir) {
            if !(name.starts_with("lib") || name.starts_with("ld-")) || !name.contains(".so") {
                continue;
            }
            let Resolved::File(real) = view.resolve(&format!("{real_dir}/{name}")) else {
                continue;
            };
            let Some(elf) = view.index.elfs.get(&real) else {
                continue;
            };
            if elf.interpreter.is_some() && elf.soname.is_none() {
                continue;
            }
            let soname = elf.soname.clone().unwrap_or_else(|| name.clone());
            let flags = Arch::ldcache_flags(elf.machine, elf.is_64);
            match libs.get(&soname) {
                Some((old, _)) if libcmp(old, &name) != std::cmp::Ordering::Less => {}
                _ => {
                    libs.insert(soname, (name, flags));
                }
            }
        }
        for (soname, (_, flags)) in libs {
            all.push(CacheEntry {
                flags,
                value: format!("/{dir}/{soname}"),
                key: soname,
            });
        }
    }
    // Descending by key (as ld.so's binary search expects), then higher flags first; a stable
    // sort keeps earlier directories first among equals, as ldconfig's insertion does.
    all.sort_by(|a, b| libcmp(&b.key, &a.key).then(b.flags.cmp(&a.flags)));
    all
}

/// Serialises entries into the `glibc-ld.so.cache1.1` format (little-endian archs).
pub fn serialise(entries: &[CacheEntry], big_endian: bool) -> Vec<u8> {
    let header_len = 48usize;
    let entries_len = entries.len() * 24;
    let mut strings: Vec<u8> = Vec::new();
    let mut offsets: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let mut intern = |s: &str, strings: &mut Vec<u8>| -> u32 {
        *offsets.entry(s.to_string()).or_insert_with(|| {
            let off = u32::try_from(header_len + entries_len + strings.len()).unwrap_or(u32::MAX);
            strings.extend_from_slice(s.as_bytes());
            strings.push(0);
            off
        })
    };
    let mut table = Vec::with_capacity(entries_len);
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    for e in entries {
        let key = intern(&e.key, &mut strings);
        let value = intern(&e.value, &mut strings);
        table.extend_from_slice(&if big_endian {
            e.flags.to_be_bytes()
        } else {
            e.flags.to_le_bytes()
        });
        table.extend_from_slice(&u32b(key));
        table.extend_from_slice(&u32b(value));
        table.extend_from_slice(&u32b(0)); // osversion (unused)
        table.extend_from_slice(&[0u8; 8]); // hwcap
    }
    let mut out = Vec::with_capacity(header_len + entries_len + strings.len());
    out.extend_from_slice(b"glibc-ld.so.cache1.1");
    out.extend_from_slice(&u32b(u32::try_from(entries.len()).unwrap_or(u32::MAX)));
    out.extend_from_slice(&u32b(u32::try_from(strings.len()).unwrap_or(u32::MAX)));
    out.push(if big_endian { 3 } else { 2 }); // flags: endianness
    out.extend_from_slice(&[0u8; 3]);
    out.extend_from_slice(&u32b(0)); // extension_offset: none
    out.extend_from_slice(&[0u8; 12]);
    debug_assert_eq!(out.len(), header_len);
    out.extend_from_slice(&table);
    out.extend_from_slice(&strings);
    out
}

/// Parses a cache file back into entries (for tests and comparison with `ldconfig`).
pub fn parse(bytes: &[u8]) -> Option<Vec<CacheEntry>> {
    let start = bytes
        .windows(20)
        .position(|w| w == b"glibc-ld.so.cache1.1")?;
    let b = &bytes[start..];
    let rd =
        |o: usize| -> Option<u32> { Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?)) };
    let n = usize::try_from(rd(20)?).ok()?;
    let cstr = |o: u32| -> Option<String> {
        let o = usize::try_from(o).ok()?;
        let end = b.get(o..)?.iter().position(|c| *c == 0)? + o;
        Some(String::from_utf8_lossy(&b[o..end]).to_string())
    };
    (0..n)
        .map(|i| {
            let e = 48 + i * 24;
            Some(CacheEntry {
                flags: i32::from_le_bytes(b.get(e..e + 4)?.try_into().ok()?),
                key: cstr(rd(e + 4)?)?,
                value: cstr(rd(e + 8)?)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn libcmp_compares_numbers() {
        assert_eq!(libcmp("libc.so.10", "libc.so.9"), Ordering::Greater);
        assert_eq!(libcmp("libc.so.6", "libc.so.6"), Ordering::Equal);
        assert_eq!(libcmp("liba.so", "libb.so"), Ordering::Less);
        assert_eq!(libcmp("libz.so.1", "libz.so"), Ordering::Greater);
    }

    #[test]
    fn round_trip() {
        let e = vec![
            CacheEntry {
                flags: 0x303,
                key: "libz.so.1".into(),
                value: "/lib/x86_64-linux-gnu/libz.so.1".into(),
            },
            CacheEntry {
                flags: 0x303,
                key: "libc.so.6".into(),
                value: "/lib/x86_64-linux-gnu/libc.so.6".into(),
            },
        ];
        assert_eq!(parse(&serialise(&e, false)).unwrap(), e);
    }
}
