//! The typed request every command receives. The binary turns flags and recipe into one of
//! these once (merged and validated); nothing below it sees a command-line type.

use std::path::PathBuf;

use oci::layer::Compression;

use crate::app::AppSpec;
use crate::layers::Layering;
use crate::model::lock::Lock;
use crate::model::{Arch, Base, Catalog, Destination, ImageRef};
use crate::sbom::SbomFormats;

/// Where packages come from and how they are trusted.
#[derive(Debug, Clone, Default)]
pub struct SourceSettings {
    /// The Debian mirror; `None` reads the host's apt sources.
    pub mirror: Option<String>,
    /// The security mirror; `None` reads the host's apt sources or derives it from `mirror`.
    pub security_mirror: Option<String>,
    /// Extra OpenPGP key files trusted to sign `InRelease`.
    pub keyrings: Vec<PathBuf>,
    /// Trust only `keyrings`, not the embedded Debian archive keys.
    pub no_default_keyring: bool,
    pub allow_expired_release: bool,
    pub cache_dir: PathBuf,
    pub offline: bool,
}

/// Which architectures to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arches {
    Listed(Vec<Arch>),
    /// Every published architecture the Debian suite offers.
    AllOffered,
}

/// Everything `distroless build` needs.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub base: Base,
    /// The application recipe (file and flags merged), if any.
    pub app: Option<AppSpec>,
    pub arches: Arches,
    pub destination: Destination,
    pub compression: Compression,
    pub layering: Layering,
    /// `SOURCE_DATE_EPOCH`: every mtime and the config's `created`.
    pub epoch: u64,
    /// Warn instead of failing when an ELF file needs a missing library.
    pub allow_missing: bool,
    pub sbom: SbomFormats,
    /// Build exactly the packages of this lock instead of resolving.
    pub lock: Option<Lock>,
}

impl BuildRequest {
    /// The catalog image the build stands on: the base itself, or `static` of the release
    /// for `auto`. `None` for an image on disk.
    pub fn image(&self, catalog: &Catalog) -> anyhow::Result<Option<ImageRef>> {
        Ok(match &self.base {
            Base::Catalog(r) => Some(r.clone()),
            Base::Auto(release) => Some(ImageRef::parse(
                &format!("static-debian{}", release.number),
                catalog,
            )?),
            Base::Disk(_) => None,
        })
    }
}

/// The default cache directory: `$XDG_CACHE_HOME/distroless` or `~/.cache/distroless`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return PathBuf::from(x).join("distroless");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    home.join(".cache/distroless")
}
