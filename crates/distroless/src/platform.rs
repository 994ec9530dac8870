//! Debian architecture names and their OCI platforms.

use anyhow::bail;
use oci::image::Platform;

/// Debian architectures we can build, with their OCI architecture and variant.
pub const ARCHES: &[(&str, &str, Option<&str>)] = &[
    ("amd64", "amd64", None),
    ("arm64", "arm64", Some("v8")),
    ("armhf", "arm", Some("v7")),
    ("s390x", "s390x", None),
    ("ppc64el", "ppc64le", None),
    ("riscv64", "riscv64", None),
    ("i386", "386", None),
];

/// The OCI platform of a Debian architecture.
pub fn oci_platform(debian_arch: &str) -> anyhow::Result<Platform> {
    match ARCHES.iter().find(|(d, _, _)| *d == debian_arch) {
        Some((_, arch, variant)) => Ok(Platform {
            architecture: (*arch).to_string(),
            variant: variant.map(str::to_string),
        }),
        None => bail!(
            "unknown architecture {debian_arch:?} (use one of: {})",
            ARCHES.iter().map(|a| a.0).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The Debian architecture of the machine we run on.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "arm" => "armhf",
        "s390x" => "s390x",
        "powerpc64" => "ppc64el",
        "riscv64" => "riscv64",
        "x86" => "i386",
        _ => "amd64",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        assert_eq!(
            oci_platform("arm64").unwrap().variant.as_deref(),
            Some("v8")
        );
        assert_eq!(oci_platform("armhf").unwrap().architecture, "arm");
        assert_eq!(oci_platform("ppc64el").unwrap().architecture, "ppc64le");
        assert!(oci_platform("vax").is_err());
    }
}
