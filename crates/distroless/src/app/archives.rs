//! Upstream archives a recipe unpacks into the image (`[[archives]]`, e.g. an official Node.js
//! release): the URL made for the architecture, the SHA-256 taken from the recipe or from a
//! checksum file whose OpenPGP signature must verify with the key the recipe names, the
//! download hash-checked into the cache, and the tarball unpacked under the same rules as
//! packages (no absolute paths, no `..`, no link leaving the tree, no devices) into a cached
//! directory the layer streams from.
//!
//! Written here rather than with an unpacking crate: the path policy is the point, and `tar`
//! gives the entries to judge one by one.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, bail};
use oci::layer::Meta;

use super::AppSpec;
use crate::layers::{GenEntry, LazyEntries};
use crate::model::recipe::ArchiveSpec;
use crate::model::{Arch, Upstreams};
use crate::plan::Source;

/// Largest archive downloaded, and largest tree unpacked from one.
const MAX_ARCHIVE: u64 = 2 << 30;
const MAX_UNPACKED: u64 = 8 << 30;
/// Checksum files are small.
const MAX_CHECKSUMS: u64 = 1 << 20;

pub use crate::model::lock::LockedArchive;
pub use crate::model::recipe::ArchiveRecord;

mod unpack;

#[cfg(test)]
use unpack::stays_inside;
use unpack::{entries, unpacked};

/// The archives of a recipe for one architecture as a lock pins them: URL and the SHA-256 the
/// recipe pins or the signed checksum file lists (nothing but the checksum file is fetched).
pub fn pins(
    source: &Source<'_>,
    spec: &AppSpec,
    arch: Arch,
    upstreams: &Upstreams,
) -> anyhow::Result<Vec<LockedArchive>> {
    let mut out = Vec::new();
    for (i, a) in spec.recipe.archives.iter().enumerate() {
        let url = expand(&a.url, a, arch, &upstreams.archive_mirrors)
            .map_err(|e| spec.error(Some(("archives", i)), "url", e))?;
        let file = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .unwrap_or("")
            .to_string();
        let sha256 = expected_sha256(source, spec, a, arch, upstreams, &file, i)?;
        out.push(LockedArchive {
            name: a.name.clone(),
            version: a.version.clone(),
            url: debian::sources::redact_userinfo(url.as_str()),
            sha256,
        });
    }
    Ok(out)
}

/// Checks, without fetching anything, that every archive of a recipe can be fetched and
/// checked for an architecture: its URL expands (a mirror is named) and a SHA-256 or a key for
/// its checksum file is there (for `--dry-run`, which must fail where the build would).
pub fn check(spec: &AppSpec, arch: Arch, upstreams: &Upstreams) -> anyhow::Result<()> {
    for (i, a) in spec.recipe.archives.iter().enumerate() {
        let at = Some(("archives", i));
        expand(&a.url, a, arch, &upstreams.archive_mirrors)
            .map_err(|e| spec.error(at, "url", e))?;
        if a.sha256.contains_key(arch.debian()) {
            continue;
        }
        let key = match (upstreams.archive_keys.get(&a.name), &a.checksums_key) {
            (Some(path), _) => path.clone(),
            (None, Some(rel)) => spec.source(at, "checksums_key", rel)?,
            (None, None) => return Err(spec.error(at, "sha256", no_sha256(a, arch))),
        };
        if a.checksums_url.is_none() {
            return Err(spec.error(at, "sha256", no_sha256(a, arch)));
        }
        // Read as the build reads it, so a key that is no key fails here too.
        debian::release::Keyring::default()
            .add_file(&key)
            .map_err(|e| spec.error(at, "checksums_key", e))?;
    }
    Ok(())
}

/// Every archive of a recipe for one architecture: downloaded, checked, unpacked; the layer
/// (label and entries) of each, and its record. With `locked`, each archive must be the one
/// locked and its SHA-256 is the lock's (the checksum file is not read).
pub fn materialize(
    source: &Source<'_>,
    spec: &AppSpec,
    arch: Arch,
    upstreams: &Upstreams,
    locked: Option<&[LockedArchive]>,
) -> anyhow::Result<Vec<Unpacked>> {
    if spec.recipe.archives.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for (i, a) in spec.recipe.archives.iter().enumerate() {
        let at = Some(("archives", i));
        let place = |key: &str, e: String| spec.error(at, key, e);
        anyhow::ensure!(
            a.dest.starts_with('/') && !a.dest.split('/').any(|c| c == ".."),
            place(
                "dest",
                format!("{:?} must be an absolute path without ..", a.dest)
            )
        );
        for (key, list) in [("include", &a.include), ("exclude", &a.exclude)] {
            super::copy::globs(list).map_err(|e| place(key, e))?;
        }
        let pin = match locked {
            Some(pins) => Some(
                pins.iter()
                    .find(|p| p.name == a.name)
                    .filter(|p| p.version == a.version)
                    .ok_or_else(|| {
                        place(
                            "version",
                            format!(
                                "{} {} is not in the lock; run `{}`",
                                a.name,
                                a.version,
                                relock(spec)
                            ),
                        )
                    })?,
            ),
            None => None,
        };
        let url = match (expand(&a.url, a, arch, &upstreams.archive_mirrors), pin) {
            (Ok(url), _) => url,
            // Locked and no mirror named now: where the lock says it came from.
            (Err(_), Some(pin)) if !upstreams.archive_mirrors.contains_key(&a.name) => {
                if pin.url.contains("<redacted>") {
                    return Err(place(
                        "url",
                        format!(
                            "the lock keeps {}'s URL without its credentials: give --archive-mirror {}=URL",
                            a.name, a.name
                        ),
                    ));
                }
                url::Url::parse(&pin.url).map_err(|e| place("url", format!("locked URL: {e}")))?
            }
            (Err(e), _) => return Err(place("url", e)),
        };
        let file = url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .filter(|f| !f.is_empty())
            .ok_or_else(|| place("url", "names no file".into()))?
            .to_string();
        let sha256 = match pin {
            Some(pin) => pin.sha256.clone(),
            None => expected_sha256(source, spec, a, arch, upstreams, &file, i)?,
        };
        let want = debian::fetch::Expected {
            url: url.clone(),
            name: &file,
            size: MAX_ARCHIVE,
            sha256: &sha256,
            exact: false,
        };
        let archive = source
            .archive
            .cache
            .ensure(&source.archive.fetcher, &want, source.reporter)
            .map_err(|e| place("url", e.to_string()))?;
        let record = ArchiveRecord {
            name: a.name.clone(),
            version: a.version.clone(),
            url: debian::sources::redact_userinfo(url.as_str()),
            sha256: sha256.clone(),
            dest: a.dest.clone(),
        };
        out.push(Unpacked {
            label: format!("distroless archive: {} {} → {}", a.name, a.version, a.dest),
            entries: lazy_entries(source, spec, i, archive, file, &sha256),
            record,
        });
    }
    Ok(out)
}

/// The entries of an archive's layer, made only when the layer cache misses: the archive
/// (hash-checked already) unpacked into a directory of this build, which lives until the
/// layer is written. The key names everything that shapes the entries.
fn lazy_entries(
    source: &Source<'_>,
    spec: &AppSpec,
    i: usize,
    archive: std::path::PathBuf,
    file: String,
    sha256: &str,
) -> LazyEntries {
    let a = spec.recipe.archives[i].clone();
    let key = format!(
        "archive {sha256} strip {} include {:?} exclude {:?} dest {}",
        a.strip_components, a.include, a.exclude, a.dest
    );
    let root = source.archive.cache.root().to_path_buf();
    let spec = spec.clone();
    let make = move || -> anyhow::Result<(Vec<GenEntry>, Box<dyn std::any::Any + Send>)> {
        let tree = unpacked(&root, &a, &archive, &file).map_err(|e| {
            let why = format!("{file}: {}", inside_only(&format!("{e:#}")));
            spec.error(Some(("archives", i)), "url", why)
        })?;
        let entries = entries(tree.path(), &a.dest)?;
        Ok((entries, Box::new(tree)))
    };
    LazyEntries {
        key,
        make: std::sync::Arc::new(make),
    }
}

/// One archive of a build: its layer's label, its entries (made when the layer is built), and
/// its record.
pub struct Unpacked {
    pub label: String,
    pub entries: LazyEntries,
    pub record: ArchiveRecord,
}

/// An error's text without the paths of our own unpacking directory (`…/.unpack-PID-X/`),
/// which mean nothing to the reader: what remains is the path inside the archive.
fn inside_only(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("/.unpack-") {
        let start = rest[..at]
            .rfind(|c: char| c.is_whitespace() || c == '`' || c == '"')
            .map_or(0, |i| i + 1);
        out.push_str(&rest[..start]);
        let after = &rest[at + 1..];
        rest = after.find('/').map_or("", |slash| &after[slash + 1..]);
    }
    out.push_str(rest);
    out
}

/// Why an archive cannot be checked, and what to give.
fn no_sha256(a: &ArchiveSpec, arch: Arch) -> String {
    format!(
        "no SHA-256 for {arch}: give --archive-key {}=FILE (the key its checksum file is signed with), or name checksums_url and checksums_key, or pin one in the recipe",
        a.name
    )
}

/// The command that locks the recipe again.
fn relock(spec: &AppSpec) -> String {
    match spec.file.strip_prefix(super::CATALOG_PREFIX) {
        Some(name) => format!("distroless lock {name} (with the flags that name its sources)"),
        None => format!("distroless lock -f {}", spec.file),
    }
}

/// The URL (or checksum URL) for an architecture: `{mirror}`, `{version}`, `{arch}` filled.
fn expand(
    template: &str,
    a: &ArchiveSpec,
    arch: Arch,
    mirrors: &BTreeMap<String, String>,
) -> Result<url::Url, String> {
    let arch_name = match a.arch_names.get(arch.debian()) {
        Some(n) => n.clone(),
        None if a.arch_names.is_empty() => arch.debian().to_string(),
        None => return Err(format!("{} has no archive for {arch}", a.name)),
    };
    let mut text = template
        .replace("{version}", &a.version)
        .replace("{arch}", &arch_name);
    if text.contains("{mirror}") {
        let mirror = mirrors.get(&a.name).or(a.mirror.as_ref()).ok_or_else(|| {
            format!(
                "{} needs a mirror: give --archive-mirror {}=URL (or $DISTROLESS_ARCHIVE_MIRROR){}",
                a.name,
                a.name,
                if a.checksums_url.is_some() && a.checksums_key.is_none() {
                    format!(" and --archive-key {}=FILE", a.name)
                } else {
                    String::new()
                }
            )
        })?;
        if mirror.contains(['?', '#']) {
            return Err(format!(
                "the mirror of {} may not have a query or fragment (`?`, `#`)",
                a.name
            ));
        }
        text = text.replace("{mirror}", mirror.trim_end_matches('/'));
    }
    if let Some(at) = text.find('{') {
        return Err(format!("unknown placeholder in {:?}", &text[at..]));
    }
    let url = url::Url::parse(&text).map_err(|e| format!("{text:?}: {e}"))?;
    if !matches!(url.scheme(), "https" | "http" | "file") {
        return Err(format!("{text:?}: only https, http and file URLs"));
    }
    Ok(url)
}

/// The SHA-256 the archive must have: pinned per architecture, or read from a checksum file
/// whose signature verifies with the recipe's key (and no other).
fn expected_sha256(
    source: &Source<'_>,
    spec: &AppSpec,
    a: &ArchiveSpec,
    arch: Arch,
    upstreams: &Upstreams,
    file: &str,
    i: usize,
) -> anyhow::Result<String> {
    let at = Some(("archives", i));
    let hex_ok = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(sha) = a.sha256.get(arch.debian()) {
        if !hex_ok(sha) {
            return Err(spec.error(at, "sha256", format!("{sha:?} is not 64 hex digits")));
        }
        return Ok(sha.to_ascii_lowercase());
    }
    let unchecked = || spec.error(at, "sha256", no_sha256(a, arch));
    let sums = a.checksums_url.as_ref().ok_or_else(unchecked)?;
    let key_path = match (upstreams.archive_keys.get(&a.name), &a.checksums_key) {
        (Some(path), _) => path.clone(),
        (None, Some(rel)) => spec.source(at, "checksums_key", rel)?,
        (None, None) => return Err(unchecked()),
    };
    let sums_url = expand(sums, a, arch, &upstreams.archive_mirrors)
        .map_err(|e| spec.error(at, "checksums_url", e))?;
    let mut keyring = debian::release::Keyring::default();
    keyring
        .add_file(&key_path)
        .map_err(|e| spec.error(at, "checksums_key", e))?;
    let bytes = source
        .archive
        .fetcher
        .get(&sums_url, MAX_CHECKSUMS)
        .map_err(|e| spec.error(at, "checksums_url", e))?;
    let text =
        debian::release::verify_clearsigned(sums_url.as_str(), &bytes, &keyring).map_err(|e| {
            let shown = debian::sources::redact_userinfo(&e.to_string());
            spec.error(
                at,
                "checksums_url",
                format!(
                    "{shown} (the key it must be signed with: {})",
                    key_path.display()
                ),
            )
        })?;
    let listed: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_once(char::is_whitespace))
        .filter(|(_, name)| name.trim().trim_start_matches('*') == file)
        .map(|(sha, _)| sha.to_ascii_lowercase())
        .collect();
    if listed.len() > 1 && listed.iter().any(|s| *s != listed[0]) {
        return Err(spec.error(
            at,
            "checksums_url",
            format!(
                "the signed checksum file lists {file} more than once, with different SHA-256s"
            ),
        ));
    }
    listed
        .into_iter()
        .next()
        .filter(|sha| hex_ok(sha))
        .ok_or_else(|| {
            spec.error(
                at,
                "checksums_url",
                format!("the signed checksum file lists no SHA-256 for {file}"),
            )
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn our_directories_are_not_shown() {
        assert_eq!(
            super::inside_only("/c/archives-v2/.unpack-12-ab/bin/x: entry /lib/x is bad"),
            "bin/x: entry /lib/x is bad"
        );
        assert_eq!(super::inside_only("plain"), "plain");
    }

    #[test]
    fn links_must_stay_inside() {
        assert!(super::stays_inside("bin/node", "../lib/x"));
        assert!(!super::stays_inside("bin/node", "../../etc/passwd"));
        assert!(!super::stays_inside("a", "/etc/passwd"));
        assert!(super::stays_inside("a/b/c", "../../d"));
    }
}
