//! Application images on top of an image that is not ours: an OCI layout directory, an
//! oci-archive or a docker-archive (`from = "./base"`).
//!
//! The base's layers are copied as they are (same digests); its config is the starting point.
//! Its file system is indexed by reading the layer tars once (paths, symlinks, `/etc/passwd`,
//! `/etc/group`, the CA bundle), so owners, the user and the entrypoint are checked against
//! what the base really holds. Debian packages cannot be added to a foreign base: nothing says
//! which release its libraries come from.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use oci::layer::Compression;
use oci::layout::LayoutWriter;
use oci_spec::image::MediaType;
use serde_json::{Value, json};

use crate::app::{Accounts, AppSpec};
use crate::build::{BuildSummary, ManifestSummary};
use crate::rootfs::view::{ImageView, LayerIndex};

/// Whether a `from` value names an image on disk rather than a catalog image: `./x`, `/x`,
/// `x.tar`, or an existing path that is not a catalog name.
pub fn is_path(dir: &Path, from: &str, catalog: &crate::catalog::Catalog) -> bool {
    from.starts_with('.')
        || from.starts_with('/')
        || from.ends_with(".tar")
        || (dir.join(from).exists() && crate::catalog::ImageRef::parse(from, catalog).is_err())
}

/// Reads a base's file system facts from its layer tars.
fn index_layers(root: &Path, manifest: &Value) -> anyhow::Result<(ImageView, BaseFiles)> {
    let mut view = ImageView::default();
    let mut files = BaseFiles::default();
    for l in manifest["layers"]
        .as_array()
        .context("manifest has no layers")?
    {
        let digest = l["digest"].as_str().context("layer without digest")?;
        let f = fs_err::File::open(crate::foreign::blob_path(root, digest))?;
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

#[derive(Default)]
struct BaseFiles {
    passwd: Option<String>,
    group: Option<String>,
    bundle: Option<String>,
}

/// Builds an application image on a foreign base.
pub fn build(
    spec: &AppSpec,
    from: &str,
    output: &Path,
    compression: Compression,
    epoch: u64,
) -> anyhow::Result<BuildSummary> {
    if !spec.recipe.packages.is_empty() {
        return Err(spec.error(
            None,
            "packages",
            "Debian packages need a catalog base (`from = \"cc-debian13\"`), not an image on disk",
        ));
    }
    let base = crate::foreign::open(&spec.dir.join(from), None)
        .map_err(|e| spec.error(None, "from", e))?;
    let layout = LayoutWriter::new(output)?;
    let mut out_descs = Vec::new();
    let mut summaries = Vec::new();
    for sm in &base.manifests {
        let (mut view, files) = index_layers(&base.root, &sm.manifest)?;
        // Accounts: the base's, plus the recipe's.
        let accounts = Accounts {
            passwd: files.passwd.clone().unwrap_or_default(),
            group: files.group.clone().unwrap_or_default(),
        };
        let prepared = crate::prepare::prepare_app_with(spec, spec.accounts_on(&accounts)?)?;
        let base_bundle = files.bundle.clone().unwrap_or_default().into_bytes();
        let base_certs = || Ok(vec![("base bundle".to_string(), base_bundle.clone())]);
        let units = crate::prepare::app_units(&prepared, &base_certs, false, epoch)?;
        crate::foreign::import_layers(&layout, &base.root, &sm.manifest)?;
        let mut config = sm.config.clone();
        let mut manifest = sm.manifest.clone();
        for unit in units {
            let (blob, index) =
                crate::layers::build_generated(&unit, &view, &layout, compression, epoch)?;
            view.push(&index);
            crate::foreign::append_layer(&mut config, &mut manifest, &blob, &unit.label, epoch)?;
        }
        crate::prepare::apply_settings(&prepared, &mut config, &view)?;
        manifest["config"] =
            serde_json::to_value(layout.json_blob(MediaType::ImageConfig, &config)?)?;
        let layers = manifest["layers"]
            .as_array()
            .context("manifest has no layers")?;
        let n_layers = layers.len();
        let size: u64 = layers.iter().filter_map(|l| l["size"].as_u64()).sum();
        let mut annotations = manifest["annotations"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        annotations.insert("org.opencontainers.image.base.name".into(), json!(from));
        annotations.insert(
            "org.opencontainers.image.title".into(),
            json!(spec.recipe.name),
        );
        for (k, v) in &spec.recipe.annotations {
            annotations.insert(k.clone(), json!(v));
        }
        manifest["annotations"] = Value::Object(annotations);
        let desc = layout.json_blob(MediaType::ImageManifest, &manifest)?;
        let arch = config["architecture"]
            .as_str()
            .unwrap_or("amd64")
            .to_string();
        let variant = config["variant"].as_str().map(str::to_string);
        summaries.push(ManifestSummary {
            arch: arch.clone(),
            digest: desc.digest().to_string(),
            layers: n_layers,
            compressed_size: size,
            packages: 0,
        });
        out_descs.push((
            desc,
            Some(oci::image::Platform {
                architecture: arch,
                variant,
            }),
        ));
    }
    let tags = if spec.recipe.tags.is_empty() {
        vec!["latest".to_string()]
    } else {
        spec.recipe.tags.clone()
    };
    let top = crate::build::tagged_index(&layout, out_descs, &tags)?;
    let index_digest = crate::build::index_digest(&top)?;
    let format = crate::build::finish(layout, &top, output)?;
    Ok(BuildSummary {
        image: spec.recipe.name.clone(),
        output: output.to_path_buf(),
        format,
        index_digest,
        manifests: summaries,
        sboms: Vec::new(),
        explain: Vec::new(),
    })
}
