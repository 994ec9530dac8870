//! The Debian packages an image holds, from `/var/lib/dpkg/status.d/` (one control stanza per
//! package, what distroless images and syft use) or a classic `/var/lib/dpkg/status`, with the
//! files each owns (from its `.md5sums`, or the `.list` next to the status file) and their size.

use std::collections::BTreeMap;

use serde::Serialize;

use super::fs::{Filesystem, Kind};

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// Files the package owns that are in the image.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// `Field: value` of one stanza.
fn field<'a>(stanza: &'a str, name: &str) -> Option<&'a str> {
    stanza.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

/// Every package with its version.
pub fn versions(fs: &Filesystem) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stanzas: Vec<String> = fs
        .small
        .iter()
        .filter(|(p, _)| {
            p.strip_prefix("var/lib/dpkg/status.d/")
                .is_some_and(|n| !n.contains('.') && !n.contains('/'))
        })
        .map(|(_, b)| String::from_utf8_lossy(b).to_string())
        .collect();
    if let Some(status) = fs.small.get("var/lib/dpkg/status") {
        stanzas.extend(
            String::from_utf8_lossy(status)
                .split("\n\n")
                .filter(|s| field(s, "Status").is_none_or(|st| st.ends_with("installed")))
                .map(str::to_string),
        );
    }
    for s in stanzas {
        if let (Some(n), Some(v)) = (field(&s, "Package"), field(&s, "Version")) {
            out.insert(n.to_string(), v.to_string());
        }
    }
    out
}

/// Which package owns each path (from the packages' md5sums lists).
pub fn owners(fs: &Filesystem) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (path, bytes) in &fs.small {
        let Some(pkg) = path
            .strip_prefix("var/lib/dpkg/status.d/")
            .and_then(|n| n.strip_suffix(".md5sums"))
        else {
            continue;
        };
        for line in String::from_utf8_lossy(bytes).lines() {
            if let Some((_, file)) = line.split_once("  ") {
                out.insert(file.trim_start_matches('/').to_string(), pkg.to_string());
            }
        }
    }
    out
}

/// The packages with their files' count and bytes, largest first.
pub fn of(fs: &Filesystem) -> Vec<Package> {
    let owners = owners(fs);
    let mut sizes: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for (path, owner) in &owners {
        if let Some(n) = fs.nodes.get(path).filter(|n| n.kind == Kind::File) {
            let e = sizes.entry(owner.as_str()).or_default();
            e.0 += 1;
            e.1 += n.size;
        }
    }
    let mut out: Vec<Package> = versions(fs)
        .into_iter()
        .map(|(name, version)| {
            let (files, bytes) = sizes.get(name.as_str()).copied().unwrap_or_default();
            Package {
                name,
                version,
                files,
                bytes,
            }
        })
        .collect();
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    out
}
