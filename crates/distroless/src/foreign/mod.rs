//! Images we did not build, on disk: read them (OCI layouts, oci-archives, docker-archives),
//! and add layers and settings of ours on top while every layer of theirs keeps its bytes and
//! digest. One path serves application recipes on a foreign base ([`app`]) and
//! `distroless debug` ([`debug`]): each says what to add to every manifest through [`Edit`],
//! [`rewrite`] does the rest.
//!
//! The source image's JSON is handled as `serde_json::Value`, so fields we do not model
//! survive the round trip.

pub mod app;
pub mod debug;
pub mod read;

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use oci::image::Platform;
use oci::layer::LayerBlob;
use oci::layout::LayoutWriter;
use oci_spec::image::{Descriptor, MediaType};
use serde_json::{Value, json};

pub use read::{Opened, SourceManifest, open};

use crate::rootfs::view::{ImageView, LayerIndex};

/// One manifest of the source image being extended.
pub struct Edit<'a> {
    pub source: &'a SourceManifest,
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
}

/// Copies every manifest's layers of `image` into `layout` unchanged, lets `change` add to a
/// copy of its config and manifest, and writes the new config and manifest.
pub fn rewrite(
    image: &Opened,
    layout: &LayoutWriter,
    epoch: u64,
    mut change: impl FnMut(&mut Edit<'_>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<Rewritten>> {
    let mut out = Vec::new();
    for sm in &image.manifests {
        read::import_layers(layout, &image.root, &sm.manifest)?;
        let mut edit = Edit {
            source: sm,
            config: sm.config.clone(),
            manifest: sm.manifest.clone(),
            epoch,
        };
        change(&mut edit)?;
        edit.manifest["config"] =
            serde_json::to_value(layout.json_blob(MediaType::ImageConfig, &edit.config)?)?;
        let layers = edit.manifest["layers"]
            .as_array()
            .context("manifest has no layers")?;
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
        });
    }
    Ok(out)
}

/// The few files of a base an application layer must agree with.
#[derive(Default)]
pub struct BaseFiles {
    pub passwd: Option<String>,
    pub group: Option<String>,
    pub bundle: Option<String>,
}

/// Reads a base's file system facts from its layer tars.
pub fn index_layers(root: &Path, manifest: &Value) -> anyhow::Result<(ImageView, BaseFiles)> {
    let mut view = ImageView::default();
    let mut files = BaseFiles::default();
    for l in manifest["layers"]
        .as_array()
        .context("manifest has no layers")?
    {
        let digest = l["digest"].as_str().context("layer without digest")?;
        let f = fs_err::File::open(read::blob_path(root, digest))?;
        let media = l["mediaType"].as_str().unwrap_or("");
        let reader: Box<dyn Read> = if media.ends_with("gzip") {
            Box::new(flate2::read::GzDecoder::new(f))
        } else if media.ends_with("zstd") {
            Box::new(zstd::stream::read::Decoder::new(f)?)
        } else {
            Box::new(f)
        };
        let mut index = LayerIndex::default();
        let mut tar = tar::Archive::new(reader);
        for e in tar.entries()? {
            let mut e = e?;
            let path = debian::deb::normalise(digest, &e.path()?.to_string_lossy())?;
            match e.header().entry_type() {
                tar::EntryType::Directory => {
                    index.dirs.insert(path);
                }
                tar::EntryType::Symlink => {
                    let t = e
                        .link_name()?
                        .map(|l| l.to_string_lossy().to_string())
                        .unwrap_or_default();
                    index.symlinks.insert(path, t);
                }
                _ => {
                    let mut keep = |slot: &mut Option<String>| -> anyhow::Result<()> {
                        let mut s = String::new();
                        e.read_to_string(&mut s).ok();
                        *slot = Some(s);
                        Ok(())
                    };
                    match path.as_str() {
                        "etc/passwd" => keep(&mut files.passwd)?,
                        "etc/group" => keep(&mut files.group)?,
                        crate::rootfs::cacerts::BUNDLE => keep(&mut files.bundle)?,
                        _ => {}
                    }
                    index.files.insert(path);
                }
            }
        }
        view.push(&index);
    }
    Ok((view, files))
}
