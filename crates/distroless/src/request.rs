//! The typed request every command receives. The binary turns flags and recipe into one of
//! these once (merged and validated); nothing below it sees a command-line type.

use oci::layer::Compression;

use crate::app::AppSpec;
use crate::layers::Layering;
use crate::model::lock::Lock;
use crate::model::{Arch, Base, Catalog, Destination, ImageRef};
use crate::sbom::SbomFormats;

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
