//! Images we did not build, on disk: read them (OCI layouts, oci-archives, docker-archives),
//! and add layers and settings of ours on top while every layer of theirs keeps its bytes and
//! digest. One path serves application recipes on a foreign base ([`app`]) and
//! `distroless debug` ([`debug`]): each says what to add to every manifest through [`Edit`],
//! [`rewrite`] does the rest.
//!
//! The source image is read by `oci::read`, which checks every digest, path and size; its
//! layers are copied into our layout verified, and only those copies are read. Its JSON is
//! handled as `serde_json::Value`, so fields we do not model survive the round trip.

pub mod app;
pub mod debug;
pub mod index;

use anyhow::Context;
use oci::image::Platform;
use oci::layer::LayerBlob;
use oci::layout::LayoutWriter;
use oci::read::{ForeignImage, ForeignManifest};
use oci_spec::image::{Descriptor, MediaType};
use serde_json::{Value, json};

pub use index::{BaseFiles, index_layer, index_layers};

use crate::output::DockerImage;

/// One manifest of the source image being extended.
pub struct Edit<'a> {
    pub source: &'a ForeignManifest,
    pub config: Value,
    pub manifest: Value,
    epoch: u64,
}

impl Edit<'_> {
    /// Appends one of our layers: its descriptor, its `diff_id` and a history entry.
    pub fn append(&mut self, blob: &LayerBlob, created_by: &str) -> anyhow::Result<()> {
        self.config["rootfs"]["diff_ids"]
            .as_array_mut()
            .context("config has no diff_ids")?
            .push(json!(blob.diff_id));
        let entry = json!({"created": oci::image::rfc3339(self.epoch), "created_by": created_by});
        match self.config["history"].as_array_mut() {
            Some(h) => h.push(entry),
            None => self.config["history"] = json!([entry]),
        }
        self.manifest["layers"]
            .as_array_mut()
            .context("manifest has no layers")?
            .push(json!({"mediaType": blob.media_type, "digest": blob.digest, "size": blob.size}));
        self.manifest["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
        Ok(())
    }

    /// The platform of the image: the config's architecture, and its variant (or the one the
    /// source index names).
    pub fn platform(&self) -> anyhow::Result<Platform> {
        let architecture = self.config["architecture"]
            .as_str()
            .context("the image config names no architecture")?;
        let variant = self.config["variant"].as_str().or_else(|| {
            self.source
                .platform
                .as_ref()
                .and_then(|p| p["variant"].as_str())
        });
        Ok(Platform {
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        })
    }
}

/// A rewritten manifest: its descriptor and platform, and its layers' count and total size.
pub struct Rewritten {
    pub descriptor: Descriptor,
    pub platform: Platform,
    pub layers: usize,
    pub size: u64,
    /// What a docker-archive of it lists.
    pub docker: DockerImage,
}

/// The docker-archive view of the one image of a rewrite (`None` with several).
pub fn docker_image(rewritten: &[Rewritten], name: &str, tags: &[String]) -> Option<DockerImage> {
    match rewritten {
        [one] => Some(DockerImage {
            repo_tags: tags.iter().map(|t| format!("{name}:{t}")).collect(),
            ..one.docker.clone()
        }),
        _ => None,
    }
}

/// Copies every manifest's layers of `image` into `layout` unchanged (each verified against
/// its descriptor on the way), lets `change` add to a copy of its config and manifest, and
/// writes the new config and manifest.
pub fn rewrite(
    image: &ForeignImage,
    layout: &LayoutWriter,
    epoch: u64,
    mut change: impl FnMut(&mut Edit<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Rewritten>> {
    let mut out = Vec::new();
    for sm in &image.manifests {
        import_layers(image, sm, layout)?;
        let mut edit = Edit {
            source: sm,
            config: sm.config.clone(),
            manifest: sm.manifest.clone(),
            epoch,
        };
        change(&mut edit)?;
        let config = layout.json_blob(MediaType::ImageConfig, &edit.config)?;
        let docker = DockerImage {
            config: config.digest().to_string(),
            layers: Vec::new(),
            repo_tags: Vec::new(),
        };
        edit.manifest["config"] = serde_json::to_value(config)?;
        let layers = edit.manifest["layers"]
            .as_array()
            .context("manifest has no layers")?;
        let docker = DockerImage {
            layers: layers
                .iter()
                .filter_map(|l| l["digest"].as_str().map(str::to_string))
                .collect(),
            ..docker
        };
        let (count, size) = (
            layers.len(),
            layers.iter().filter_map(|l| l["size"].as_u64()).sum(),
        );
        let descriptor = layout.json_blob(MediaType::ImageManifest, &edit.manifest)?;
        out.push(Rewritten {
            descriptor,
            platform: edit.platform()?,
            layers: count,
            size,
            docker,
        });
    }
    Ok(out)
}

/// Copies the layers of one manifest into the layout, each checked against its descriptor
/// while it streams.
fn import_layers(
    image: &ForeignImage,
    sm: &ForeignManifest,
    layout: &LayoutWriter,
) -> anyhow::Result<()> {
    for blob in &sm.layers {
        let mut from = image.open_blob(blob)?;
        layout.import_verified(
            &blob.digest,
            blob.size,
            &mut from,
            &format!("layer {}", blob.digest),
        )?;
    }
    Ok(())
}
