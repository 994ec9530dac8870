//! `distroless debug IMAGE -o OUT`: any image's debug variant.
//!
//! The image (an OCI layout directory, an oci-archive or a docker-archive) is read as it is;
//! a busybox layer (Debian's `busybox-static` for the image's architecture, one symlink per
//! applet under `/busybox`) is added on top, `PATH` gains `:/busybox`, and an image without an
//! entrypoint gets `/busybox/sh`. Every other layer keeps its bytes and digest.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use oci::image::HistoryLayer;
use oci::layer::{Compression, LayerWriter};
use oci::layout::LayoutWriter;
use oci_spec::image::MediaType;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::catalog::DebianRelease;
use crate::plan::Source;
use crate::rootfs::{self, Tree};

/// A manifest read from the source image.
pub(crate) struct SourceManifest {
    pub(crate) manifest: Value,
    pub(crate) config: Value,
    pub(crate) platform: Option<Value>,
}

/// The Debian architecture of an OCI platform.
pub(crate) fn debian_arch(arch: &str, variant: Option<&str>) -> anyhow::Result<&'static str> {
    Ok(match (arch, variant) {
        ("amd64", _) => "amd64",
        ("arm64", _) => "arm64",
        ("arm", Some("v7") | None) => "armhf",
        ("s390x", _) => "s390x",
        ("ppc64le", _) => "ppc64el",
        ("riscv64", _) => "riscv64",
        ("386", _) => "i386",
        _ => bail!(
            "no Debian busybox for platform {arch}{}",
            variant.map(|v| format!("/{v}")).unwrap_or_default()
        ),
    })
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    serde_json::from_slice(&fs_err::read(path)?)
        .with_context(|| format!("{}: not valid JSON", path.display()))
}

/// Unpacks an archive into a temporary directory.
pub(crate) fn unpack(archive: &Path) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    let mut tar = tar::Archive::new(fs_err::File::open(archive)?);
    for entry in tar
        .entries()
        .with_context(|| format!("{}: not a tar archive", archive.display()))?
    {
        let mut entry = entry?;
        let path = entry.path()?.to_path_buf();
        let clean =
            debian::deb::normalise(&archive.display().to_string(), &path.to_string_lossy())?;
        if clean.is_empty() {
            continue;
        }
        if entry.header().entry_type().is_dir() {
            fs_err::create_dir_all(dir.path().join(&clean))?;
        } else if entry.header().entry_type().is_file() {
            let dest = dir.path().join(&clean);
            fs_err::create_dir_all(dest.parent().context("no parent")?)?;
            let mut f = fs_err::File::create(&dest)?;
            std::io::copy(&mut entry, &mut f)?;
        }
    }
    Ok(dir)
}

pub(crate) fn blob_path(root: &Path, digest: &str) -> PathBuf {
    root.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// Reads the manifests of an OCI layout (for `tag`, or its first entry).
pub(crate) fn oci_manifests(root: &Path, tag: Option<&str>) -> anyhow::Result<Vec<SourceManifest>> {
    let index = read_json(&root.join("index.json"))?;
    let entries = index["manifests"]
        .as_array()
        .context("index.json has no manifests")?;
    let top = match tag {
        Some(t) => entries
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == t)
            .with_context(|| format!("{}: no image tagged {t:?}", root.display()))?,
        None => entries.first().context("index.json lists no image")?,
    };
    let mut out = Vec::new();
    let descs: Vec<Value> = if top["mediaType"] == "application/vnd.oci.image.index.v1+json" {
        read_json(&blob_path(root, top["digest"].as_str().unwrap_or("")))?["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    } else {
        vec![top.clone()]
    };
    for d in descs {
        let manifest = read_json(&blob_path(root, d["digest"].as_str().unwrap_or("")))?;
        let config = read_json(&blob_path(
            root,
            manifest["config"]["digest"].as_str().unwrap_or(""),
        ))?;
        out.push(SourceManifest {
            manifest,
            config,
            platform: d.get("platform").cloned(),
        });
    }
    Ok(out)
}

/// Reads a docker-archive (manifest.json + config + layer tars) as OCI manifests.
pub(crate) fn docker_manifests(root: &Path) -> anyhow::Result<Vec<SourceManifest>> {
    let list = read_json(&root.join("manifest.json"))?;
    let first = list
        .as_array()
        .and_then(|l| l.first())
        .context("manifest.json lists no image")?;
    let config_path = root.join(
        first["Config"]
            .as_str()
            .context("manifest.json: no Config")?,
    );
    let config_bytes = fs_err::read(&config_path)?;
    let config: Value = serde_json::from_slice(&config_bytes)?;
    fs_err::create_dir_all(root.join("blobs/sha256"))?;
    let config_hex = hex::encode(Sha256::digest(&config_bytes));
    fs_err::write(root.join("blobs/sha256").join(&config_hex), &config_bytes)?;
    let mut layers = Vec::new();
    for l in first["Layers"]
        .as_array()
        .context("manifest.json: no Layers")?
    {
        let path = root.join(l.as_str().context("bad layer path")?);
        let bytes_hex = debian::fetch::hash_file(&path)?;
        let dest = root.join("blobs/sha256").join(&bytes_hex);
        if !dest.exists() {
            fs_err::copy(&path, &dest)?;
        }
        let mut head = [0u8; 2];
        std::io::Read::read_exact(&mut fs_err::File::open(&path)?, &mut head).ok();
        let media = if head == [0x1f, 0x8b] {
            "application/vnd.oci.image.layer.v1.tar+gzip"
        } else {
            "application/vnd.oci.image.layer.v1.tar"
        };
        layers.push(json!({"mediaType": media, "digest": format!("sha256:{bytes_hex}"), "size": fs_err::metadata(&path)?.len()}));
    }
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{config_hex}"), "size": config_bytes.len()},
        "layers": layers,
    });
    Ok(vec![SourceManifest {
        manifest,
        config,
        platform: None,
    }])
}

/// Builds the debug variant of `input` into `output`.
pub fn debug_image(
    source: &Source<'_>,
    input: &str,
    output: &Path,
    release: DebianRelease,
    epoch: u64,
) -> anyhow::Result<String> {
    let (path, tag) = match input.rsplit_once(':') {
        Some((p, t)) if Path::new(p).exists() && !t.contains('/') => {
            (PathBuf::from(p), Some(t.to_string()))
        }
        _ => (PathBuf::from(input), None),
    };
    anyhow::ensure!(
        path.exists(),
        "{input}: no such OCI layout, oci-archive or docker-archive"
    );
    let unpacked;
    let root: PathBuf = if path.is_dir() {
        path.clone()
    } else {
        unpacked = unpack(&path)?;
        unpacked.path().to_path_buf()
    };
    let manifests = if root.join("index.json").exists() {
        oci_manifests(&root, tag.as_deref())?
    } else if root.join("manifest.json").exists() {
        docker_manifests(&root)?
    } else {
        bail!("{input}: neither an OCI layout (index.json) nor a docker-archive (manifest.json)");
    };
    let layout = LayoutWriter::new(output)?;
    let mut out_descs = Vec::new();
    for sm in manifests {
        let arch = sm.config["architecture"].as_str().unwrap_or("amd64");
        let variant = sm.config["variant"]
            .as_str()
            .or_else(|| sm.platform.as_ref().and_then(|p| p["variant"].as_str()));
        let deb_arch = debian_arch(arch, variant)?;
        let universe = crate::plan::load_universe(source, release, deb_arch)?;
        let bb = universe
            .get("busybox-static")
            .context("the suites have no busybox-static package")?;
        drop(universe);
        let debs = crate::build::fetch_debs(source, &[&bb])?;
        let deb = &debs[&bb.sha256];
        let mut tree = Tree::new(false, std::collections::BTreeSet::default())?;
        rootfs::busybox::add_package(&mut tree, deb, &bb.name)?;
        let mut writer = LayerWriter::new(&layout.blobs(), Compression::Gzip, epoch)?;
        tree.write_layer(&mut writer)?;
        let blob = writer.finish()?;
        for l in sm.manifest["layers"]
            .as_array()
            .context("manifest has no layers")?
        {
            let d = l["digest"].as_str().context("layer without digest")?;
            layout.import_blob(d.trim_start_matches("sha256:"), &blob_path(&root, d))?;
        }
        let mut config = sm.config.clone();
        config["rootfs"]["diff_ids"]
            .as_array_mut()
            .context("config has no diff_ids")?
            .push(json!(blob.diff_id));
        let history = HistoryLayer {
            blob: blob.clone(),
            created_by: "distroless debug: busybox".into(),
        };
        let created = oci::image::rfc3339(epoch);
        match config["history"].as_array_mut() {
            Some(h) => h.push(json!({"created": created, "created_by": history.created_by})),
            None => {
                config["history"] = json!([{"created": created, "created_by": history.created_by}]);
            }
        }
        let env = config["config"]["Env"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut env: Vec<String> = env
            .iter()
            .filter_map(|e| e.as_str().map(str::to_string))
            .collect();
        match env.iter_mut().find(|e| e.starts_with("PATH=")) {
            Some(p) => p.push_str(":/busybox"),
            None => env.push(format!("PATH={}:/busybox", crate::build::PATH)),
        }
        config["config"]["Env"] = json!(env);
        if config["config"]["Entrypoint"].is_null() {
            config["config"]["Entrypoint"] = json!(["/busybox/sh"]);
        }
        let config_desc = layout.json_blob(MediaType::ImageConfig, &config)?;
        let mut manifest = sm.manifest.clone();
        manifest["config"] = serde_json::to_value(&config_desc)?;
        manifest["layers"]
            .as_array_mut()
            .context("manifest has no layers")?
            .push(json!({
                "mediaType": blob.media_type, "digest": blob.digest, "size": blob.size,
            }));
        manifest["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
        let desc = layout.json_blob(MediaType::ImageManifest, &manifest)?;
        let platform = oci::image::Platform {
            architecture: arch.to_string(),
            variant: variant.map(str::to_string),
        };
        out_descs.push((desc, Some(platform)));
    }
    let tag = tag.unwrap_or_else(|| "debug".to_string());
    let (desc, platform) = if out_descs.len() == 1 {
        out_descs.remove(0)
    } else {
        let inner = oci::image::index(out_descs, &BTreeMap::new())?;
        (layout.json_blob(MediaType::ImageIndex, &inner)?, None)
    };
    let mut d = desc;
    d.set_annotations(Some(
        [("org.opencontainers.image.ref.name".to_string(), tag.clone())]
            .into_iter()
            .collect(),
    ));
    let top = oci::image::index(vec![(d, platform)], &BTreeMap::new())?;
    if crate::build::is_archive(output) {
        layout.finish_archive(&top, output)?;
    } else {
        layout.finish_dir(&top, output)?;
    }
    Ok(tag)
}
