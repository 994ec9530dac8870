//! The architectures we build, and every fact about each one in one place: Debian name, OCI
//! platform, GNU triplet, byte order, ELF machine, `ld.so.cache` flags and loader path.
//!
//! An unknown name is an error, never a fallback to amd64.

use std::fmt;
use std::str::FromStr;

use oci::image::Platform;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A Debian architecture the tool can build images for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    Amd64,
    Arm64,
    Armhf,
    S390x,
    Ppc64el,
    Riscv64,
    I386,
}

/// The facts of one architecture.
struct Facts {
    debian: &'static str,
    oci: &'static str,
    variant: Option<&'static str>,
    triplet: &'static str,
    big_endian: bool,
    /// ELF `e_machine` and class of its programs.
    elf_machine: u16,
    elf_64: bool,
    /// glibc's `FLAG_*` architecture bits for its libraries in `ld.so.cache`.
    ldcache_flags: i32,
    loader: &'static str,
}

impl Arch {
    /// Every architecture, in the order `--all-arches` and `distroless list` show them.
    pub const ALL: [Arch; 7] = [
        Arch::Amd64,
        Arch::Arm64,
        Arch::Armhf,
        Arch::S390x,
        Arch::Ppc64el,
        Arch::Riscv64,
        Arch::I386,
    ];

    /// The architectures the catalog publishes (i386 can be asked for, but is not offered).
    pub fn published() -> impl Iterator<Item = Arch> {
        Self::ALL.into_iter().filter(|a| *a != Arch::I386)
    }

    fn facts(self) -> Facts {
        match self {
            Arch::Amd64 => Facts {
                debian: "amd64",
                oci: "amd64",
                variant: None,
                triplet: "x86_64-linux-gnu",
                big_endian: false,
                elf_machine: 62,
                elf_64: true,
                ldcache_flags: 0x0300, // FLAG_X8664_LIB64
                loader: "/lib64/ld-linux-x86-64.so.2",
            },
            Arch::Arm64 => Facts {
                debian: "arm64",
                oci: "arm64",
                variant: Some("v8"),
                triplet: "aarch64-linux-gnu",
                big_endian: false,
                elf_machine: 183,
                elf_64: true,
                ldcache_flags: 0x0a00, // FLAG_AARCH64_LIB64
                loader: "/lib/ld-linux-aarch64.so.1",
            },
            Arch::Armhf => Facts {
                debian: "armhf",
                oci: "arm",
                variant: Some("v7"),
                triplet: "arm-linux-gnueabihf",
                big_endian: false,
                elf_machine: 40,
                elf_64: false,
                ldcache_flags: 0x0900, // FLAG_ARM_LIBHF
                loader: "/lib/ld-linux-armhf.so.3",
            },
            Arch::S390x => Facts {
                debian: "s390x",
                oci: "s390x",
                variant: None,
                triplet: "s390x-linux-gnu",
                big_endian: true,
                elf_machine: 22,
                elf_64: true,
                ldcache_flags: 0x0400, // FLAG_S390_LIB64
                loader: "/lib/ld64.so.1",
            },
            Arch::Ppc64el => Facts {
                debian: "ppc64el",
                oci: "ppc64le",
                variant: None,
                triplet: "powerpc64le-linux-gnu",
                big_endian: false,
                elf_machine: 21,
                elf_64: true,
                ldcache_flags: 0x0500, // FLAG_POWERPC_LIB64
                loader: "/lib64/ld64.so.2",
            },
            Arch::Riscv64 => Facts {
                debian: "riscv64",
                oci: "riscv64",
                variant: None,
                triplet: "riscv64-linux-gnu",
                big_endian: false,
                elf_machine: 243,
                elf_64: true,
                ldcache_flags: 0x1000, // FLAG_RISCV_FLOAT_ABI_DOUBLE
                loader: "/lib/ld-linux-riscv64-lp64d.so.1",
            },
            Arch::I386 => Facts {
                debian: "i386",
                oci: "386",
                variant: None,
                triplet: "i386-linux-gnu",
                big_endian: false,
                elf_machine: 3,
                elf_64: false,
                ldcache_flags: 0,
                loader: "/lib/ld-linux.so.2",
            },
        }
    }

    /// The Debian name (`amd64`, `ppc64el`).
    pub fn debian(self) -> &'static str {
        self.facts().debian
    }

    /// The OCI platform (`arm64` + variant `v8`, `ppc64le`).
    pub fn platform(self) -> Platform {
        let f = self.facts();
        Platform {
            architecture: f.oci.to_string(),
            variant: f.variant.map(str::to_string),
        }
    }

    /// The architecture of an OCI platform (`arm` without a variant is taken as `v7`).
    pub fn from_platform(architecture: &str, variant: Option<&str>) -> Result<Arch, UnknownArch> {
        Self::ALL
            .into_iter()
            .find(|a| {
                let f = a.facts();
                // Only 32-bit ARM has variants we must tell apart (v7 is armhf).
                f.oci == architecture
                    && (f.oci != "arm" || variant.is_none() || f.variant == variant)
            })
            .ok_or_else(|| {
                let shown = format!(
                    "{architecture}{}",
                    variant.map(|v| format!("/{v}")).unwrap_or_default()
                );
                UnknownArch(format!("platform {}", oci::digest::shown(&shown)))
            })
    }

    /// The Debian multiarch triplet (`x86_64-linux-gnu`).
    pub fn triplet(self) -> &'static str {
        self.facts().triplet
    }

    /// Whether the architecture stores numbers big-endian (binary formats such as
    /// `ld.so.cache` follow it).
    pub fn big_endian(self) -> bool {
        self.facts().big_endian
    }

    /// glibc's `ld.so.cache` flags for a library of this ELF machine and class: the library
    /// format bit, plus the architecture bits of the architecture it belongs to.
    pub fn ldcache_flags(machine: u16, is_64: bool) -> i32 {
        const FLAG_ELF_LIBC6: i32 = 0x0003;
        let arch = Self::ALL
            .into_iter()
            .map(Arch::facts)
            .find(|f| f.elf_machine == machine && f.elf_64 == is_64)
            .map_or(0, |f| f.ldcache_flags);
        FLAG_ELF_LIBC6 | arch
    }

    /// Whether programs of this ELF machine and class run on this architecture.
    pub fn runs(self, machine: u16, is_64: bool) -> bool {
        let f = self.facts();
        f.elf_machine == machine && f.elf_64 == is_64
    }

    /// The usual name of an ELF machine and class (`x86-64`, `arm64`), for messages.
    pub fn machine_name(machine: u16, is_64: bool) -> String {
        match (machine, is_64) {
            (62, true) => "x86-64".into(),
            (3, false) => "i386".into(),
            (183, true) => "arm64".into(),
            (40, false) => "32-bit ARM".into(),
            (22, true) => "s390x".into(),
            (21, true) => "ppc64".into(),
            (243, true) => "riscv64".into(),
            (m, true) => format!("64-bit ELF machine {m}"),
            (m, false) => format!("32-bit ELF machine {m}"),
        }
    }

    /// A recipe path with `{arch}` (the Debian name) and `{oci_arch}` (the OCI name)
    /// replaced, so one recipe can take each architecture's build output.
    pub fn expand(self, text: &str) -> String {
        text.replace("{arch}", self.debian())
            .replace("{oci_arch}", self.facts().oci)
    }

    /// The path of glibc's dynamic loader, as programs name it in `PT_INTERP`.
    pub fn loader(self) -> &'static str {
        self.facts().loader
    }

    /// The directories `ld.so` searches when nothing else finds a library.
    pub fn default_lib_dirs(self) -> Vec<String> {
        let t = self.triplet();
        vec![
            format!("lib/{t}"),
            format!("usr/lib/{t}"),
            "lib".into(),
            "usr/lib".into(),
            "lib64".into(),
            "usr/lib64".into(),
        ]
    }

    /// Debian architecture names as a list: each once, in order (`--arch amd64 --arch amd64`
    /// is one architecture, not the same manifest twice); the host's when none are given.
    pub fn parse_list(names: &[String]) -> anyhow::Result<Vec<Arch>> {
        if names.is_empty() {
            return Ok(vec![Arch::host()]);
        }
        let mut out: Vec<Arch> = Vec::new();
        for name in names {
            let a: Arch = name.parse()?;
            if !out.contains(&a) {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// The architecture of the machine we run on.
    pub fn host() -> Arch {
        match std::env::consts::ARCH {
            "aarch64" => Arch::Arm64,
            "arm" => Arch::Armhf,
            "s390x" => Arch::S390x,
            "powerpc64" => Arch::Ppc64el,
            "riscv64" => Arch::Riscv64,
            "x86" => Arch::I386,
            _ => Arch::Amd64,
        }
    }
}

/// An architecture name or platform we do not build.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "unknown architecture {0} (use one of: amd64, arm64, armhf, s390x, ppc64el, riscv64, i386)"
)]
pub struct UnknownArch(String);

impl FromStr for Arch {
    type Err = UnknownArch;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.debian() == s)
            .ok_or_else(|| UnknownArch(format!("{s:?}")))
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.debian())
    }
}

/// Serialised as the Debian name, so plans and lock files read as before.
impl Serialize for Arch {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.debian())
    }
}

impl<'de> Deserialize<'de> for Arch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_names_each_architecture_once_and_defaults_to_the_host() {
        let names = |n: &[&str]| n.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(
            Arch::parse_list(&names(&["arm64", "amd64", "arm64"])).unwrap(),
            [Arch::Arm64, Arch::Amd64]
        );
        assert_eq!(Arch::parse_list(&[]).unwrap(), [Arch::host()]);
        assert!(Arch::parse_list(&names(&["amd64", "vax"])).is_err());
    }

    #[test]
    fn platforms() {
        assert_eq!(Arch::Arm64.platform().variant.as_deref(), Some("v8"));
        assert_eq!(Arch::Armhf.platform().architecture, "arm");
        assert_eq!(Arch::Ppc64el.platform().architecture, "ppc64le");
        assert!("vax".parse::<Arch>().is_err());
    }

    #[test]
    fn platforms_round_trip() {
        for a in Arch::ALL {
            let p = a.platform();
            assert_eq!(
                Arch::from_platform(&p.architecture, p.variant.as_deref()).unwrap(),
                a
            );
            assert_eq!(a.debian().parse::<Arch>().unwrap(), a);
        }
        assert_eq!(Arch::from_platform("arm", None).unwrap(), Arch::Armhf);
        assert!(Arch::from_platform("arm", Some("v6")).is_err());
        assert!(Arch::from_platform("mips64le", None).is_err());
    }

    #[test]
    fn ldcache_flags_follow_the_machine() {
        assert_eq!(Arch::ldcache_flags(62, true), 0x0303);
        assert_eq!(Arch::ldcache_flags(40, false), 0x0903);
        assert_eq!(Arch::ldcache_flags(62, false), 0x0003);
        assert!(Arch::S390x.big_endian() && !Arch::Amd64.big_endian());
    }

    #[test]
    fn serialises_as_the_debian_name() {
        assert_eq!(
            serde_json::to_string(&Arch::Ppc64el).unwrap(),
            "\"ppc64el\""
        );
        let a: Arch = serde_json::from_str("\"armhf\"").unwrap();
        assert_eq!(a, Arch::Armhf);
    }
}
