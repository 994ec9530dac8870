//! Reading images on disk that we did not build: OCI layout directories, oci-archives and
//! docker-archives. Their manifests and configs are read as JSON, their layers copied
//! unchanged into the layout we write.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use oci::layout::LayoutWriter;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// A manifest read from the source image.
pub struct SourceManifest {
    pub manifest: Value,
    pub config: Value,
    pub platform: Option<Value>,
}

/// An image opened from disk (archives are unpacked into a temporary directory).
pub struct Opened {
    _unpacked: Option<tempfile::TempDir>,
    pub root: PathBuf,
    pub manifests: Vec<SourceManifest>,
}

/// Opens an OCI layout directory (image `tag`, or its first), an oci-archive or a docker-archive.
pub fn open(path: &Path, tag: Option<&str>) -> anyhow::Result<Opened> {
    anyhow::ensure!(
        path.exists(),
        "{}: no such OCI layout, oci-archive or docker-archive",
        path.display()
    );
    let (unpacked, root) = if path.is_dir() {
        (None, path.to_path_buf())
    } else {
        let t = unpack(path)?;
        let r = t.path().to_path_buf();
        (Some(t), r)
    };
    let manifests = if root.join("index.json").exists() {
        oci_manifests(&root, tag)?
    } else if root.join("manifest.json").exists() {
        docker_manifests(&root)?
    } else {
        bail!(
            "{}: neither an OCI layout (index.json) nor a docker-archive (manifest.json)",
            path.display()
        );
    };
    Ok(Opened {
        _unpacked: unpacked,
        root,
        manifests,
    })
}

/// Copies every layer blob of a manifest into the layout, unchanged.
pub fn import_layers(layout: &LayoutWriter, root: &Path, manifest: &Value) -> anyhow::Result<()> {
    for l in manifest["layers"]
        .as_array()
        .context("manifest has no layers")?
    {
        let d = l["digest"].as_str().context("layer without digest")?;
        layout.import_blob(d.trim_start_matches("sha256:"), &blob_path(root, d))?;
    }
    Ok(())
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    serde_json::from_slice(&fs_err::read(path)?)
        .with_context(|| format!("{}: not valid JSON", path.display()))
}

/// Unpacks an archive into a temporary directory.
pub fn unpack(archive: &Path) -> anyhow::Result<tempfile::TempDir> {
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

pub fn blob_path(root: &Path, digest: &str) -> PathBuf {
    root.join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// Reads the manifests of an OCI layout (for `tag`, or its first entry).
pub fn oci_manifests(root: &Path, tag: Option<&str>) -> anyhow::Result<Vec<SourceManifest>> {
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
pub fn docker_manifests(root: &Path) -> anyhow::Result<Vec<SourceManifest>> {
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
