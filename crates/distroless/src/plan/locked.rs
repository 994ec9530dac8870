//! Plans pinned in a lock file: a resolved plan recorded as a lock entry, and a lock entry
//! turned back into the plan it pins (fetching from the current mirrors).

use debian::index::Package;
use debian::sources::Mirrors;

use super::{Plan, Tier};
use crate::model::ImageRef;
use crate::model::lock::{LockedImage, LockedPackage, LockedTier};

fn locked(p: &Package, only: Option<Vec<String>>, repositories: &[String]) -> LockedPackage {
    LockedPackage {
        // Debian's mirrors are the build's; a third-party repository is part of the pin.
        // Without its password: a lock is shared; the recipe gives the credentials back.
        repository: repositories
            .contains(&p.mirror)
            .then(|| debian::sources::redact_userinfo(&p.mirror)),
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
    let mirror = if let Some(r) = &p.repository {
        r.clone()
    } else if p.suite.ends_with("-security") {
        mirrors.security.to_string()
    } else {
        mirrors.debian.to_string()
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
        mirror,
    }
}

impl LockedImage {
    /// Records a resolved plan, with the packages an application recipe asked for.
    pub fn from_plan(name: &str, plan: &Plan, requested: Vec<String>) -> Self {
        LockedImage {
            name: name.to_string(),
            requested,
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
                        .map(|p| locked(p, None, &plan.repositories))
                        .chain(
                            t.partial
                                .iter()
                                .map(|(p, only)| locked(p, Some(only.clone()), &plan.repositories)),
                        )
                        .collect(),
                })
                .collect(),
            ca_certificates: locked(&plan.ca_certificates, None, &plan.repositories),
            busybox: plan
                .busybox
                .as_ref()
                .map(|b| locked(b, None, &plan.repositories)),
            missing_suites: plan.missing_suites.clone(),
            archives: Vec::new(),
        }
    }

    /// The third-party repositories its packages come from.
    fn repositories(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .tiers
            .iter()
            .flat_map(|t| &t.packages)
            .filter_map(|p| p.repository.clone())
            .collect();
        out.sort();
        out.dedup();
        out
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
                // The debug-only tier belongs to debug variants (the lock records it for them).
                .filter(|t| image.variant.debug || !t.name.ends_with(super::DEBUG_TIER))
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
            missing_suites: self.missing_suites.clone(),
            repositories: self.repositories(),
        }
    }
}
