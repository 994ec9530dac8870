//! Hand-made packages and plans for unit tests.

use debian::index::Package;

use super::{Plan, Tier};
use crate::model::Arch;

/// A package with a unique fake hash and pool file.
pub(crate) fn package(name: &str) -> Package {
    let sha: String = format!("{:x}", md5_like(name))
        .repeat(8)
        .chars()
        .take(64)
        .collect();
    Package {
        name: name.into(),
        version: "1.0-1".into(),
        architecture: "amd64".into(),
        multi_arch: None,
        depends: String::new(),
        pre_depends: String::new(),
        provides: Vec::new(),
        filename: format!("pool/main/{name}_1.0-1_amd64.deb"),
        size: 1000,
        sha256: sha,
        installed_size: 0,
        source: None,
        essential: false,
        suite: "trixie".into(),
        mirror: "file:///mirror/".into(),
    }
}

fn md5_like(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A plan of tiers, each `(name, packages)`.
pub(crate) fn plan(tiers: &[(&str, &[&str])]) -> Plan {
    Plan {
        image: "test-debian13:latest".into(),
        release: 13,
        arch: Arch::Amd64,
        debian_version: "13.1".into(),
        release_date: "Sat, 06 Sep 2025 10:00:00 UTC".into(),
        tiers: tiers
            .iter()
            .map(|(name, pkgs)| Tier {
                name: (*name).into(),
                packages: pkgs.iter().map(|p| package(p)).collect(),
                broken: Vec::new(),
                partial: Vec::new(),
            })
            .collect(),
        ca_certificates: package("ca-certificates"),
        busybox: Some(package("busybox-static")),
        missing_suites: Vec::new(),
        repositories: Vec::new(),
    }
}

/// A reporter that drops everything.
pub(crate) struct Quiet;

impl debian::fetch::Reporter for Quiet {
    fn warn(&self, _message: &str) {}
}

impl crate::report::Reporter for Quiet {}
