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
    /// Where it was written (empty when nothing was: `--dry-run`, or a temporary output).
    pub output: PathBuf,
    pub format: &'static str,
    /// The tags the image was given (computed once, by the request).
    pub tags: Vec<String>,
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
    /// `--dry-run`: assembled and checked, but nothing written.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// The SBOMs and provenance, in memory: what signing and attesting take.
    #[serde(skip)]
    pub evidence: Option<crate::attest::Evidence>,
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

/// Joins layouts this process just built (a matrix's images, each in its own private layout)
/// into one at `dest`, written whole or not at all: their blobs are linked, not copied or
/// hashed again (they are ours and were checked as they were written), and their refs listed
/// in order. Unless `replace`, the refs `dest` already has that no part replaces are carried
/// over (those blobs are read and checked, as for any layout on disk). Done once at the end, so
/// a family of n images costs one pass, not n passes over a growing layout.
pub fn join_layouts(
    parts: &[PathBuf],
    dest: &std::path::Path,
    replace: bool,
) -> anyhow::Result<()> {
    let writer = LayoutWriter::new(dest)?;
    let mut entries = Vec::new();
    let mut names = Vec::new();
    for part in parts {
        let blobs = part.join("blobs/sha256");
        for e in fs_err::read_dir(&blobs)? {
            let e = e?;
            let name = e.file_name().to_string_lossy().to_string();
            writer.import_blob(&name, &e.path())?;
        }
        let bytes = fs_err::read(part.join("index.json"))?;
        let index: ImageIndex = serde_json::from_slice(&bytes)?;
        for d in index.manifests() {
            if let Some(name) = d
                .annotations()
                .as_ref()
                .and_then(|a| a.get(oci::retag::REF_NAME))
            {
                names.push(name.clone());
            }
            entries.push((d.clone(), None));
        }
    }
    if !replace {
        let kept = writer.carry_over(dest, &names)?;
        entries.extend(kept.into_iter().map(|d| (d, None)));
    }
    let top = oci::image::index(entries, &std::collections::BTreeMap::new())?;
    writer.finish_dir(&top, dest)?;
    Ok(())
}
