//! Application images on top of an image that is not ours: an OCI layout directory, an
//! oci-archive or a docker-archive (`from = "./base"`).
//!
//! The base's layers are copied as they are (same digests); its config is the starting point.
//! Its file system is indexed by reading the layer tars once (paths, symlinks, `/etc/passwd`,
//! `/etc/group`, the CA bundle), so owners, the user and the entrypoint are checked against
//! what the base really holds. Debian packages cannot be added to a foreign base: nothing says
//! which release its libraries come from.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use oci::image::HistoryLayer;
use oci::layer::{Compression, LayerBlob};
use oci::layout::LayoutWriter;
use oci_spec::image::MediaType;
use serde_json::{Value, json};

use crate::app::{Accounts, AppSpec};
use crate::build::{BuildSummary, ManifestSummary, is_archive};
use crate::layers::{GenEntry, Unit};
use crate::prepare::AppPrepared;
use crate::rootfs::view::{ImageView, LayerIndex};

/// Whether a `from` value names an image on disk rather than a catalog image: `./x`, `/x`,
/// `x.tar`, or an existing path that is not a catalog name.
pub fn is_path(dir: &Path, from: &str, catalog: &crate::catalog::Catalog) -> bool {
    from.starts_with('.')
        || from.starts_with('/')
        || from.ends_with(".tar")
        || (dir.join(from).exists() && crate::catalog::ImageRef::parse(from, catalog).is_err())
}

struct Base {
    _tmp: Option<tempfile::TempDir>,
    root: PathBuf,
    manifests: Vec<crate::debug::SourceManifest>,
}

fn open(path: &Path) -> anyhow::Result<Base> {
    anyhow::ensure!(path.exists(), "{}: no such image", path.display());
    let (tmp, root) = if path.is_dir() {
        (None, path.to_path_buf())
    } else {
        let t = crate::debug::unpack(path)?;
        let r = t.path().to_path_buf();
        (Some(t), r)
    };
    let manifests = if root.join("index.json").exists() {
        crate::debug::oci_manifests(&root, None)?
    } else if root.join("manifest.json").exists() {
        crate::debug::docker_manifests(&root)?
    } else {
        bail!(
            "{}: neither an OCI layout nor a docker-archive",
            path.display()
        );
    };
    Ok(Base {
        _tmp: tmp,
        root,
        manifests,
    })
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
        let f = fs_err::File::open(crate::debug::blob_path(root, digest))?;
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
    let path = spec.dir.join(from);
    let base = open(&path).map_err(|e| spec.error(None, "from", e))?;
    let layout = LayoutWriter::new(output)?;
    let mut out_descs = Vec::new();
    let mut summaries = Vec::new();
    for sm in &base.manifests {
        let (mut view, files) = index_layers(&base.root, &sm.manifest)?;
        let accounts = Accounts {
            passwd: files.passwd.clone().unwrap_or_default(),
            group: files.group.clone().unwrap_or_default(),
        };
        // Accounts: the base's, plus the recipe's.
        let extended = spec.accounts_on(&accounts)?;
        let prepared: AppPrepared = crate::prepare::prepare_app_with(spec, extended)?;
        let mut entries = Vec::new();
        if !spec.recipe.users.is_empty() || !spec.recipe.groups.is_empty() {
            entries.push(GenEntry::File(
                "etc/passwd".into(),
                prepared.accounts.passwd.clone().into_bytes(),
                oci::layer::Meta::root(0o644),
            ));
            entries.push(GenEntry::File(
                "etc/group".into(),
                prepared.accounts.group.clone().into_bytes(),
                oci::layer::Meta::root(0o644),
            ));
            entries.extend(crate::app::home_dirs(spec));
        }
        if !prepared.certs.is_empty() {
            let mut bundle = files.bundle.clone().unwrap_or_default().into_bytes();
            for (_, pem) in &prepared.certs {
                bundle.extend_from_slice(pem);
            }
            entries.push(GenEntry::File(
                crate::rootfs::cacerts::BUNDLE.into(),
                bundle,
                oci::layer::Meta::root(0o644),
            ));
        }
        let mut units = Vec::new();
        if !entries.is_empty() {
            units.push(Unit {
                label: "distroless app: accounts and CA certificates".into(),
                entries,
                uncached: true,
                ..Unit::default()
            });
        }
        for (label, entries) in &prepared.copies {
            units.push(Unit {
                label: label.clone(),
                entries: entries.clone(),
                uncached: true,
                ..Unit::default()
            });
        }
        for l in sm.manifest["layers"]
            .as_array()
            .context("manifest has no layers")?
        {
            let d = l["digest"].as_str().context("layer without digest")?;
            layout.import_blob(
                d.trim_start_matches("sha256:"),
                &crate::debug::blob_path(&base.root, d),
            )?;
        }
        let mut config = sm.config.clone();
        let mut manifest = sm.manifest.clone();
        let mut added: Vec<HistoryLayer> = Vec::new();
        for unit in units {
            let (blob, index) =
                crate::layers::build_generated(&unit, &view, &layout, compression, epoch)?;
            view.push(&index);
            added.push(HistoryLayer {
                blob,
                created_by: unit.label,
            });
        }
        apply_config(spec, &prepared, &mut config, &view, &added, epoch)?;
        let config_desc = layout.json_blob(MediaType::ImageConfig, &config)?;
        manifest["config"] = serde_json::to_value(&config_desc)?;
        manifest["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
        let layers = manifest["layers"]
            .as_array_mut()
            .context("manifest has no layers")?;
        for h in &added {
            let LayerBlob {
                media_type,
                digest,
                size,
                ..
            } = &h.blob;
            layers.push(json!({"mediaType": media_type, "digest": digest, "size": size}));
        }
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
    let (desc, platform) = if out_descs.len() == 1 {
        out_descs.remove(0)
    } else {
        let inner = oci::image::index(out_descs, &std::collections::BTreeMap::new())?;
        (layout.json_blob(MediaType::ImageIndex, &inner)?, None)
    };
    let entries = tags
        .iter()
        .map(|t| {
            let mut d = desc.clone();
            d.set_annotations(Some(
                [("org.opencontainers.image.ref.name".to_string(), t.clone())]
                    .into_iter()
                    .collect(),
            ));
            (d, platform.clone())
        })
        .collect();
    let top = oci::image::index(entries, &std::collections::BTreeMap::new())?;
    let index_digest = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            oci::image::canonical_json(&top)?
        ))
    );
    let archive = is_archive(output);
    if archive {
        layout.finish_archive(&top, output)?;
    } else {
        layout.finish_dir(&top, output)?;
    }
    Ok(BuildSummary {
        image: spec.recipe.name.clone(),
        output: output.to_path_buf(),
        format: if archive { "oci-archive" } else { "oci" },
        index_digest,
        manifests: summaries,
        sboms: Vec::new(),
        explain: Vec::new(),
    })
}

fn apply_config(
    spec: &AppSpec,
    app: &AppPrepared,
    config: &mut Value,
    view: &ImageView,
    added: &[HistoryLayer],
    epoch: u64,
) -> anyhow::Result<()> {
    let r = &spec.recipe;
    let c = &mut config["config"];
    if let Some(e) = &r.entrypoint {
        c["Entrypoint"] = json!(e);
    }
    if let Some(cmd) = &r.cmd {
        c["Cmd"] = json!(cmd);
    }
    let mut env: Vec<String> = c["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for (k, v) in &r.env {
        env.retain(|e| !e.starts_with(&format!("{k}=")));
        env.push(format!("{k}={v}"));
    }
    c["Env"] = json!(env);
    if let Some(u) = &app.user {
        c["User"] = json!(u);
    }
    if let Some(w) = &r.workdir {
        c["WorkingDir"] = json!(w);
    }
    for (k, v) in &r.labels {
        c["Labels"][k] = json!(v);
    }
    for p in &r.exposed_ports {
        let p = if p.contains('/') {
            p.clone()
        } else {
            format!("{p}/tcp")
        };
        c["ExposedPorts"][p] = json!({});
    }
    for v in &r.volumes {
        c["Volumes"][v] = json!({});
    }
    if let Some(s) = &r.stop_signal {
        c["StopSignal"] = json!(s);
    }
    if let Some(h) = crate::prepare::healthcheck_of(app) {
        c["Healthcheck"] = h;
    }
    if let Some(program) = r.entrypoint.as_ref().and_then(|e| e.first())
        && program.starts_with('/')
        && !matches!(
            view.resolve(program),
            crate::rootfs::view::Resolved::File(_)
        )
    {
        return Err(spec.error(None, "entrypoint", format!("{program} is not in the image")));
    }
    let created = oci::image::rfc3339(epoch);
    for h in added {
        config["rootfs"]["diff_ids"]
            .as_array_mut()
            .context("config has no diff_ids")?
            .push(json!(h.blob.diff_id));
        let entry = json!({"created": created, "created_by": h.created_by});
        match config["history"].as_array_mut() {
            Some(list) => list.push(entry),
            None => config["history"] = json!([entry]),
        }
    }
    Ok(())
}
