//! Images pulled from registries: into a destination the user names, or into the cache under
//! their digest (a recipe's `from`, an image `inspect` or `diff` is given by reference).

use std::path::{Path, PathBuf};

use anyhow::Context;
use oci::layout::LayoutWriter;
use oci::read::ForeignImage;
use oci_spec::image::MediaType;
use registry::pull::PlatformFilter;
use registry::{Client, Reference};

use crate::image::tagged_index;
use crate::model::{Destination, DiskImage};
use crate::output::{self, DockerImage};

/// Where the cache keeps pulled images, by digest.
const IMAGES: &str = "images-v1";

/// Pulls an image into a destination (tagged with the reference's tag, named after its
/// repository); returns the digest of what was written.
pub fn pull_into(
    client: &Client,
    r: &Reference,
    destination: &Destination,
    platform: Option<&PlatformFilter>,
    replace: bool,
) -> anyhow::Result<String> {
    destination.check()?;
    let layout = LayoutWriter::new(destination.path())?;
    let pulled = registry::pull::pull(client, r, &layout, platform)?;
    let desc = oci::image::descriptor(
        MediaType::from(pulled.media_type.as_str()),
        &pulled.digest.to_string(),
        pulled.size,
    )?;
    let platform = pulled.platform.as_ref().map(|p| oci::image::Platform {
        architecture: p["architecture"].as_str().unwrap_or_default().to_string(),
        variant: p["variant"].as_str().map(str::to_string),
    });
    let tags = [r.tag_or_latest().to_string()];
    let name = r.repository.clone();
    let top = tagged_index(
        &layout,
        vec![(desc, platform)],
        &destination.ref_names(&name, &tags),
        destination.kept(replace),
    )?;
    let docker = match pulled.manifests.as_slice() {
        [m] => Some(DockerImage {
            config: m.config.to_string(),
            layers: m.layers.iter().map(ToString::to_string).collect(),
            repo_tags: vec![format!("{}/{name}:{}", r.registry, tags[0])],
        }),
        _ => None,
    };
    output::finish(layout, &top, destination, docker.as_ref())?;
    Ok(pulled.digest.to_string())
}

/// The cache's place for an image of this digest.
fn cached_at(cache: &Path, digest: &oci::digest::Digest) -> PathBuf {
    cache
        .join(IMAGES)
        .join(digest.to_string().replace(':', "-"))
}

/// A registry image in the cache, pulled once under its digest (a tag costs one manifest
/// request; a digest none); returns its layout.
pub fn cached_pull(client: &Client, r: &Reference, cache: &Path) -> anyhow::Result<PathBuf> {
    let digest = match &r.digest {
        Some(d) => d.clone(),
        None => registry::pull::resolve(client, r)?,
    };
    let root = cached_at(cache, &digest);
    if !root.join("index.json").is_file() {
        let pinned = Reference {
            digest: Some(digest.clone()),
            ..r.clone()
        };
        let destination =
            Destination::from_path(root.clone(), crate::model::destination::Format::Oci);
        pull_into(client, &pinned, &destination, None, true)?;
    }
    Ok(root)
}

/// The base a recipe's `from` names when it is a registry image (`HOST[:PORT]/REPO[:TAG]
/// [@DIGEST]`, not a catalog image, `auto` or a path): pulled into the cache under its digest
/// (once; a tag costs one manifest request per build, a digest none) and used as an image on
/// disk. `None` for every other kind of `from`.
pub fn registry_base(
    spec: &crate::app::AppSpec,
    catalog: &crate::model::Catalog,
    client: impl FnOnce() -> anyhow::Result<Client>,
    cache: &Path,
) -> anyhow::Result<Option<crate::model::Base>> {
    let Some(from) = spec.recipe.from.as_deref() else {
        return Ok(None);
    };
    if from == "auto"
        || from.starts_with("auto-")
        || crate::model::ImageRef::parse(from, catalog).is_ok()
        || DiskImage::is_named_by(from, &spec.dir, catalog)
    {
        return Ok(None);
    }
    let Ok(r) = Reference::parse(from) else {
        return Ok(None);
    };
    let root = cached_pull(&client()?, &r, cache)?;
    Ok(Some(crate::model::Base::Disk(DiskImage {
        path: root,
        tag: None,
        shown: r.to_string(),
        repository: Some(r.repository.clone()),
    })))
}

/// An image named on the command line, on disk: an OCI layout (`DIR` or `DIR:TAG`), an
/// oci-archive or docker-archive as it is, or a registry reference pulled into the cache first
/// (the client is made only then).
pub fn on_disk(
    text: &str,
    client: impl FnOnce() -> anyhow::Result<Client>,
    cache: &Path,
) -> anyhow::Result<DiskImage> {
    let disk = DiskImage::parse(text, Path::new(""));
    if disk.path.exists() || text.starts_with('.') || text.starts_with('/') {
        return Ok(disk);
    }
    let r = Reference::parse(text)
        .with_context(|| format!("{text}: no such file, and not a registry reference"))?;
    let root = cached_pull(&client()?, &r, cache)?;
    Ok(DiskImage {
        path: root,
        tag: Some(r.tag_or_latest().to_string()),
        shown: text.to_string(),
        repository: Some(r.repository.clone()),
    })
}

/// Opens an image named on the command line (see [`on_disk`]).
pub fn open_any(
    text: &str,
    client: impl FnOnce() -> anyhow::Result<Client>,
    cache: &Path,
) -> anyhow::Result<ForeignImage> {
    let disk = on_disk(text, client, cache)?;
    Ok(ForeignImage::open(&disk.path, disk.tag.as_deref())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_an_image_under_its_digest_not_its_tag() {
        let d: oci::digest::Digest = format!("sha256:{}", "ab".repeat(32)).parse().unwrap();
        let at = cached_at(Path::new("/c"), &d);
        assert_eq!(
            at,
            Path::new("/c/images-v1").join(format!("sha256-{}", "ab".repeat(32)))
        );
    }

    #[test]
    fn a_path_that_is_not_there_is_not_taken_for_a_reference() {
        let e = open_any(
            "./missing-layout",
            || anyhow::bail!("no client"),
            Path::new("/c"),
        )
        .err()
        .unwrap();
        assert!(!format!("{e:#}").contains("no client"), "{e:#}");
    }
}
