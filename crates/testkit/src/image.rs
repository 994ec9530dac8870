//! Small OCI layouts and docker-archives written by hand, valid or hostile, for the tests of
//! everything that reads images we did not build.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// An OCI layout on disk with one uncompressed layer holding `etc/passwd`.
pub struct Layout {
    pub root: PathBuf,
    pub layer: String,
    pub config: String,
    pub manifest: String,
}

/// The bytes of a layer tar holding the given files.
pub fn layer_tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut h = tar::Header::new_gnu();
        h.set_path(path).unwrap();
        h.set_size(content.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, *content).unwrap();
    }
    b.into_inner().unwrap()
}

pub fn put_blob(root: &Path, bytes: &[u8]) -> String {
    let hex = hex::encode(Sha256::digest(bytes));
    let dir = root.join("blobs/sha256");
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::write(dir.join(&hex), bytes).unwrap();
    format!("sha256:{hex}")
}

impl Layout {
    /// Writes a valid single-platform layout (amd64) at `root`, tagged `latest`.
    pub fn write(root: &Path) -> Layout {
        let layer = layer_tar(&[("etc/passwd", b"root:x:0:0:root:/root:/sbin/nologin\n")]);
        Layout::with_layer(root, &layer, |_| {})
    }

    /// Writes a single-platform layout (amd64) of one uncompressed layer, its config changed
    /// by `edit`.
    pub fn with_layer(root: &Path, layer: &[u8], edit: impl FnOnce(&mut Value)) -> Layout {
        let layer_digest = put_blob(root, layer);
        let diff_id = layer_digest.clone();
        let mut config = json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        });
        edit(&mut config);
        let mut l = Layout {
            root: root.to_path_buf(),
            layer: layer_digest,
            config: String::new(),
            manifest: String::new(),
        };
        l.set_config(&config);
        l
    }

    /// Writes a single-platform layout (amd64) of uncompressed layers, bottom first, its
    /// config changed by `edit`.
    pub fn with_layers(root: &Path, layers: &[Vec<u8>], edit: impl FnOnce(&mut Value)) -> Layout {
        let digests: Vec<String> = layers.iter().map(|l| put_blob(root, l)).collect();
        let mut config = json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": digests},
        });
        edit(&mut config);
        let bytes = serde_json::to_vec(&config).unwrap();
        let mut l = Layout {
            root: root.to_path_buf(),
            layer: digests[0].clone(),
            config: put_blob(root, &bytes),
            manifest: String::new(),
        };
        let descs: Vec<Value> = digests
            .iter()
            .map(|d| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": l.blob_len(d)}))
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": l.config, "size": bytes.len()},
            "layers": descs,
        });
        l.set_manifest(&manifest);
        l
    }

    /// Replaces the config (and so the manifest and index).
    pub fn set_config(&mut self, config: &Value) {
        let bytes = serde_json::to_vec(config).unwrap();
        self.config = put_blob(&self.root, &bytes);
        let layer_size = self.blob_len(&self.layer);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": self.config, "size": bytes.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": self.layer, "size": layer_size}],
        });
        self.set_manifest(&manifest);
    }

    /// Replaces the manifest (written as a blob) and points the index at it.
    pub fn set_manifest(&mut self, manifest: &Value) {
        let bytes = serde_json::to_vec(manifest).unwrap();
        self.manifest = put_blob(&self.root, &bytes);
        let index = json!({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": self.manifest, "size": bytes.len(),
                "annotations": {"org.opencontainers.image.ref.name": "latest"},
            }],
        });
        self.set_index(&index);
    }

    /// Replaces `index.json` as it is.
    pub fn set_index(&self, index: &Value) {
        fs_err::write(
            self.root.join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        fs_err::write(
            self.root.join("index.json"),
            serde_json::to_vec(index).unwrap(),
        )
        .unwrap();
    }

    /// The manifest as JSON, to change and set again.
    pub fn manifest_json(&self) -> Value {
        serde_json::from_slice(&fs_err::read(self.blob(&self.manifest)).unwrap()).unwrap()
    }

    /// The path of a blob by digest text (`sha256:HEX`).
    pub fn blob(&self, digest: &str) -> PathBuf {
        self.root
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    }

    fn blob_len(&self, digest: &str) -> u64 {
        fs_err::metadata(self.blob(digest)).unwrap().len()
    }
}

/// Writes a docker-archive at `path` whose `manifest.json` is `manifest` (hostile or not),
/// holding a valid config `config.json` and layer `layer.tar`.
pub fn docker_archive(path: &Path, manifest: &Value) {
    let layer = layer_tar(&[("etc/passwd", b"root:x:0:0:root:/root:/sbin/nologin\n")]);
    let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&layer)));
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    let mut b = tar::Builder::new(fs_err::File::create(path).unwrap());
    for (name, bytes) in [
        ("manifest.json", serde_json::to_vec(manifest).unwrap()),
        ("config.json", serde_json::to_vec(&config).unwrap()),
        ("layer.tar", layer),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, bytes.as_slice()).unwrap();
    }
    b.finish().unwrap();
}

/// The `manifest.json` of a valid docker-archive written by [`docker_archive`].
pub fn docker_manifest() -> Value {
    json!([{"Config": "config.json", "RepoTags": ["x:latest"], "Layers": ["layer.tar"]}])
}
