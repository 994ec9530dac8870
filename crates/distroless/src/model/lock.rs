//! `distroless.lock`: the exact packages of each image, so a build can be repeated later.
//!
//! For every (image, Debian release, architecture) the lock records each package's version,
//! pool file name, size and SHA256, the tier it belongs to, and the date of the `InRelease`
//! that was used. `build --locked` reads nothing but the lock and the pool: no index is fetched
//! or resolved. Mirror URLs are not recorded; the current `--mirror` is used.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::bail;
use debian::index::Package;
use debian::sources::Mirrors;
use serde::{Deserialize, Serialize};

use super::{Arch, ImageRef};
use crate::plan::{Plan, Tier};

/// Lock file format version.
pub const LOCK_VERSION: u32 = 1;

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// One tier's packages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedTier {
    pub name: String,
    pub packages: Vec<LockedPackage>,
}

/// One image for one release and architecture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedImage {
    pub name: String,
    pub debian: u32,
    pub arch: Arch,
    pub debian_version: String,
    /// `Date` of the main suite's `InRelease` the resolution used.
    pub release_date: String,
    pub tiers: Vec<LockedTier>,
    pub ca_certificates: LockedPackage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busybox: Option<LockedPackage>,
}

/// The whole lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub version: u32,
    #[serde(default, rename = "image")]
    pub images: Vec<LockedImage>,
}

fn locked(p: &Package, only: Option<Vec<String>>) -> LockedPackage {
    LockedPackage {
        name: p.name.clone(),
        version: p.version.clone(),
        architecture: p.architecture.clone(),
        suite: p.suite.clone(),
        filename: p.filename.clone(),
        size: p.size,
        sha256: p.sha256.clone(),
        only,
    }
}

fn unlocked(p: &LockedPackage, mirrors: &Mirrors) -> Package {
    let mirror = if p.suite.ends_with("-security") {
        &mirrors.security
    } else {
        &mirrors.debian
    };
    Package {
        name: p.name.clone(),
        version: p.version.clone(),
        architecture: p.architecture.clone(),
        multi_arch: None,
        depends: String::new(),
        pre_depends: String::new(),
        provides: Vec::new(),
        filename: p.filename.clone(),
        size: p.size,
        sha256: p.sha256.clone(),
        installed_size: 0,
        source: None,
        essential: false,
        suite: p.suite.clone(),
        mirror: mirror.to_string(),
    }
}

impl LockedImage {
    /// Records a resolved plan.
    pub fn from_plan(name: &str, plan: &Plan) -> Self {
        LockedImage {
            name: name.to_string(),
            debian: plan.release,
            arch: plan.arch,
            debian_version: plan.debian_version.clone(),
            release_date: plan.release_date.clone(),
            tiers: plan
                .tiers
                .iter()
                .map(|t| LockedTier {
                    name: t.name.clone(),
                    packages: t
                        .packages
                        .iter()
                        .map(|p| locked(p, None))
                        .chain(
                            t.partial
                                .iter()
                                .map(|(p, only)| locked(p, Some(only.clone()))),
                        )
                        .collect(),
                })
                .collect(),
            ca_certificates: locked(&plan.ca_certificates, None),
            busybox: plan.busybox.as_ref().map(|b| locked(b, None)),
        }
    }

    /// The plan this entry pins, fetching from the given mirrors.
    pub fn to_plan(&self, image: &ImageRef, mirrors: &Mirrors) -> Plan {
        Plan {
            image: image.canonical(),
            release: self.debian,
            arch: self.arch,
            debian_version: self.debian_version.clone(),
            release_date: self.release_date.clone(),
            tiers: self
                .tiers
                .iter()
                .map(|t| Tier {
                    name: t.name.clone(),
                    packages: t
                        .packages
                        .iter()
                        .filter(|p| p.only.is_none())
                        .map(|p| unlocked(p, mirrors))
                        .collect(),
                    broken: Vec::new(),
                    partial: t
                        .packages
                        .iter()
                        .filter_map(|p| p.only.clone().map(|only| (unlocked(p, mirrors), only)))
                        .collect(),
                })
                .collect(),
            ca_certificates: unlocked(&self.ca_certificates, mirrors),
            busybox: self.busybox.as_ref().map(|b| unlocked(b, mirrors)),
        }
    }

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
    /// Reads a lock file; a missing file is an empty lock.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = match fs_err::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Lock {
                    version: LOCK_VERSION,
                    images: Vec::new(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let lock: Lock = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
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
        crate::atomic::write_atomic(path, text.as_bytes())?;
        Ok(())
    }

    /// The entry for an image, release and architecture.
    pub fn find(&self, name: &str, debian: u32, arch: Arch) -> Option<&LockedImage> {
        self.images
            .iter()
            .find(|i| i.name == name && i.debian == debian && i.arch == arch)
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
