//! `distroless.lock`: the exact packages of each image, so a build can be repeated later.
//!
//! For every (image, Debian release, architecture) the lock records each package's version,
//! pool file name, size and SHA256, the tier it belongs to, and the date of the `InRelease`
//! that was used. `build --locked` reads nothing but the lock and the pool: no index is fetched
//! or resolved. Mirror URLs are not recorded; the current `--mirror` is used.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::bail;
use serde::{Deserialize, Serialize};

use super::Arch;

/// The largest lock file read (the whole catalog, both releases, every architecture is
/// well under a megabyte).
const MAX_LOCK: u64 = 16 << 20;

/// Lock file format version.
pub const LOCK_VERSION: u32 = 1;

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub suite: String,
    pub filename: String,
    pub size: u64,
    pub sha256: String,
    /// For packages of which only some paths are installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub only: Option<Vec<String>>,
    /// The third-party repository (URL) it comes from; Debian's packages name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
}

/// One tier's packages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedTier {
    pub name: String,
    pub packages: Vec<LockedPackage>,
}

/// One image for one release and architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedImage {
    pub name: String,
    pub debian: u32,
    pub arch: Arch,
    pub debian_version: String,
    /// `Date` of the main suite's `InRelease` the resolution used.
    pub release_date: String,
    /// The packages an application recipe named when it was locked (a changed recipe must
    /// be locked again before `--locked` builds it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requested: Vec<String>,
    pub tiers: Vec<LockedTier>,
    pub ca_certificates: LockedPackage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busybox: Option<LockedPackage>,
    /// Update suites the resolution went without (see `Plan::missing_suites`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_suites: Vec<String>,
    /// Upstream archives of an application recipe, pinned by the SHA-256 they had.
    #[serde(default, skip_serializing_if = "Vec::is_empty", rename = "archive")]
    pub archives: Vec<LockedArchive>,
}

/// An upstream archive as locked: a locked build takes exactly these bytes, without reading
/// the checksum file again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedArchive {
    pub name: String,
    pub version: String,
    /// Without any password.
    pub url: String,
    pub sha256: String,
}

/// The whole lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub version: u32,
    #[serde(default, rename = "image")]
    pub images: Vec<LockedImage>,
}

impl LockedImage {
    fn versions(&self) -> BTreeMap<String, String> {
        self.tiers
            .iter()
            .flat_map(|t| t.packages.iter())
            .chain(std::iter::once(&self.ca_certificates))
            .chain(self.busybox.iter())
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect()
    }
}

impl Lock {
    /// The lock a locked build takes: it must exist (`relock` says how to write one).
    pub fn read_existing(path: &Path, relock: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            path.exists(),
            "{}: no such lock file (write one with `{relock}`)",
            path.display()
        );
        Lock::read(path)
    }

    /// Reads a lock file; a missing file is an empty lock.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let meta = match fs_err::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Lock {
                    version: LOCK_VERSION,
                    images: Vec::new(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        anyhow::ensure!(meta.is_file(), "{}: not a regular file", path.display());
        let bytes = crate::files::read_regular(path, MAX_LOCK)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", path.display()))?;
        let lock: Lock = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
        lock.check()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if lock.version != LOCK_VERSION {
            bail!(
                "{}: lock format version {} is not supported (expected {LOCK_VERSION})",
                path.display(),
                lock.version
            );
        }
        Ok(lock)
    }

    /// Writes the lock file atomically, entries sorted.
    pub fn write(&mut self, path: &Path) -> anyhow::Result<()> {
        self.version = LOCK_VERSION;
        self.images.sort_by(|a, b| {
            (&a.name, a.debian, a.arch.debian()).cmp(&(&b.name, b.debian, b.arch.debian()))
        });
        let body = toml::to_string(self)?;
        let text = format!(
            "# distroless.lock: exact Debian packages per image. Written by `distroless lock`;\n# `distroless build --locked` builds exactly these.\n{body}"
        );
        crate::files::write_atomic(path, text.as_bytes())?;
        Ok(())
    }

    /// The entry for an image, release and architecture.
    pub fn find(&self, name: &str, debian: u32, arch: Arch) -> Option<&LockedImage> {
        self.images
            .iter()
            .find(|i| i.name == name && i.debian == debian && i.arch == arch)
    }

    /// Refuses what no resolution writes: pool paths outside the pool, bad hashes, file lists
    /// that leave the package, the same image twice.
    fn check(&self) -> anyhow::Result<()> {
        let mut seen = std::collections::BTreeSet::new();
        for i in &self.images {
            anyhow::ensure!(
                seen.insert((i.name.clone(), i.debian, i.arch)),
                "{} (Debian {}, {}) is listed twice",
                i.name,
                i.debian,
                i.arch
            );
            let all = i
                .tiers
                .iter()
                .flat_map(|t| &t.packages)
                .chain(std::iter::once(&i.ca_certificates))
                .chain(i.busybox.iter());
            for p in all {
                let shown: String = p.filename.chars().take(80).collect();
                // A local `.deb` is pinned by its file name and digest; the recipe names where.
                let local = p.suite == debian::archive::LOCAL_SUITE
                    && !p.filename.contains('/')
                    && debian::archive::pool_path_ok(&format!("pool/{}", p.filename));
                anyhow::ensure!(
                    local || debian::archive::pool_path_ok(&p.filename),
                    "{}: filename {shown:?} is not a path inside the pool",
                    p.name
                );
                anyhow::ensure!(
                    p.sha256.len() == 64 && p.sha256.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{}: sha256 is not 64 hex digits",
                    p.name
                );
                if let Some(only) = &p.only {
                    anyhow::ensure!(
                        !only.is_empty()
                            && only.iter().all(|f| !f.starts_with('/')
                                && !f.split('/').any(|c| c.is_empty() || c == "." || c == "..")),
                        "{}: only lists paths that are not plain paths inside the package",
                        p.name
                    );
                }
            }
        }
        Ok(())
    }

    /// Inserts or replaces an entry; returns the version changes (`name: old → new`).
    pub fn put(&mut self, entry: LockedImage) -> Vec<String> {
        let old = self
            .find(&entry.name, entry.debian, entry.arch)
            .map(LockedImage::versions);
        self.images.retain(|i| {
            !(i.name == entry.name && i.debian == entry.debian && i.arch == entry.arch)
        });
        let new = entry.versions();
        self.images.push(entry);
        let Some(old) = old else {
            return Vec::new();
        };
        let mut changes = Vec::new();
        for (name, v) in &new {
            match old.get(name) {
                Some(o) if o != v => changes.push(format!("{name}: {o} → {v}")),
                None => changes.push(format!("{name}: (new) → {v}")),
                _ => {}
            }
        }
        for (name, o) in &old {
            if !new.contains_key(name) {
                changes.push(format!("{name}: {o} → (removed)"));
            }
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Catalog, ImageRef};
    use crate::plan::testing;

    #[test]
    fn a_plan_survives_the_lock_file_and_changes_are_listed() {
        let mut plan =
            testing::plan(&[("static", &["base-files", "tzdata"]), ("base", &["libc6"])]);
        plan.tiers[1]
            .partial
            .push((testing::package("libc-bin"), vec!["sbin/ldconfig".into()]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("distroless.lock");
        let mut lock = Lock::default();
        assert!(
            lock.put(LockedImage::from_plan("base", &plan, Vec::new()))
                .is_empty()
        );
        lock.write(&path).unwrap();
        let read = Lock::read(&path).unwrap();
        let entry = read.find("base", 13, Arch::Amd64).unwrap();
        let catalog = Catalog::embedded().unwrap();
        let image = ImageRef::parse("base-debian13", &catalog).unwrap();
        let mirrors = debian::sources::Mirrors::from_urls("file:///m/", None).unwrap();
        let back = entry.to_plan(&image, &mirrors);
        assert_eq!(
            back.tiers[0].packages[1].sha256,
            plan.tiers[0].packages[1].sha256
        );
        assert_eq!(back.tiers[1].partial[0].1, ["sbin/ldconfig"]);
        assert_eq!(back.tiers[1].packages[0].mirror, "file:///m/");

        let mut newer = plan.clone();
        newer.tiers[0].packages[1].version = "2.0-1".into();
        let mut lock = read;
        let changes = lock.put(LockedImage::from_plan("base", &newer, Vec::new()));
        assert_eq!(changes, ["tzdata: 1.0-1 → 2.0-1"]);
    }

    #[test]
    fn a_lock_of_another_format_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        fs_err::write(&path, "version = 9\n").unwrap();
        assert!(
            Lock::read(&path)
                .unwrap_err()
                .to_string()
                .contains("version 9")
        );
        assert!(
            Lock::read(&dir.path().join("absent"))
                .unwrap()
                .images
                .is_empty()
        );
    }
}
