//! The last step: a finished layout moved into its destination, whole or not at all (the
//! layout writer stages everything under a temporary name next to the output).

use std::path::PathBuf;

use oci::layout::LayoutWriter;
use oci_spec::image::ImageIndex;
use serde::Serialize;

use crate::model::Destination;

/// What a build produced (printed by the CLI, `--json` for machines).
#[derive(Debug, Clone, Serialize)]
pub struct BuildSummary {
    /// The image built: the application's `NAME:TAG`, or the catalog image.
    pub image: String,
    /// What an application image stands on (a catalog image, or the image on disk).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    pub output: PathBuf,
    pub format: &'static str,
    /// The image's digest: what its tags name (the image index with several architectures,
    /// else the manifest), as a registry shows it.
    pub digest: String,
    /// The digest of the layout's `index.json` (it changes with the layout's other tags).
    pub index_digest: String,
    pub manifests: Vec<ManifestSummary>,
    pub sboms: Vec<PathBuf>,
    /// The SLSA provenance statement written beside the output (unsigned; `attest` signs it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<PathBuf>,
    /// For `from = "auto"`: why every library file is in the image.
    pub explain: Vec<String>,
}

/// One architecture's manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestSummary {
    pub arch: String,
    pub digest: String,
    pub layers: usize,
    pub compressed_size: u64,
    pub packages: usize,
    /// Packages only some files were taken from (`from = "auto"`), with how many.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub partial_packages: Vec<(String, usize)>,
    /// The application's copied files, with their digests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<crate::sbom::CopiedFile>,
}

/// What a docker-archive lists besides the blobs: the config and layer digests of its one
/// image, and its `RepoTags`.
#[derive(Debug, Clone)]
pub struct DockerImage {
    pub config: String,
    pub layers: Vec<String>,
    pub repo_tags: Vec<String>,
}

/// Moves a finished layout into place as the destination asks. A docker-archive needs the
/// one image it holds.
pub fn finish(
    layout: LayoutWriter,
    top: &ImageIndex,
    destination: &Destination,
    docker: Option<&DockerImage>,
) -> anyhow::Result<()> {
    match destination {
        Destination::Layout(path) => layout.finish_dir(top, path)?,
        Destination::OciArchive(path) => layout.finish_archive(top, path)?,
        Destination::DockerArchive(path) => {
            let image = docker.ok_or_else(|| {
                anyhow::anyhow!(
                    "a docker-archive holds one architecture and this image has several: write an OCI layout or oci-archive, or pick one (--arch for build, --platform for pull)"
                )
            })?;
            layout.finish_docker_archive(path, &image.config, &image.layers, &image.repo_tags)?;
        }
    }
    Ok(())
}
