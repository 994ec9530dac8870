//! Reading images we did not build: OCI layout directories, oci-archives and docker-archives.
//!
//! Everything in them is hostile input. Digests are parsed ([`Digest`]) and blob paths built
//! from the parsed value; paths an archive names stay inside it and never pass through a
//! symlink; JSON documents are read up to a size cap and their digest and size checked before
//! they are parsed; layers are checked while they stream ([`ForeignImage::open_blob`] hands out
//! a [`Verifier`]). Errors name the image and the blob, never the bytes in them.
//! The JSON is returned as `serde_json::Value`, so fields we do not model survive a rewrite.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::digest::{Digest, Verifier, shown};
use crate::error::{Error, Result};

/// The largest index or manifest we read (the distribution spec's limit for manifests).
pub const MAX_MANIFEST: u64 = 4 << 20;
/// The largest image config we read.
pub const MAX_CONFIG: u64 = 16 << 20;
/// The most platforms one image may have.
pub const MAX_MANIFESTS: usize = 64;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A blob an image refers to, with its checked digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRef {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    /// Where the blob is, relative to the image root (checked to stay inside).
    path: PathBuf,
}

/// How a layer's bytes are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerCompression {
    None,
    Gzip,
    Zstd,
}

impl LayerCompression {
    /// The compression a layer media type names; `None` for one that is not a layer's.
    pub fn of_media_type(m: &str) -> Option<Self> {
        Some(match m {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar" => LayerCompression::None,
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip" => LayerCompression::Gzip,
            "application/vnd.oci.image.layer.v1.tar+zstd" => LayerCompression::Zstd,
            _ => return None,
        })
    }

    /// A layer's tar stream from its blob, as runtimes read it: every gzip member and every
    /// zstd frame (a reader of the first gzip member alone would miss entries a second one
    /// adds, and disagree with runtimes on the diff_id).
    pub fn tar_stream<'a>(self, blob: impl Read + 'a) -> std::io::Result<Box<dyn Read + 'a>> {
        Ok(match self {
            LayerCompression::None => Box::new(blob),
            LayerCompression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(blob)),
            LayerCompression::Zstd => Box::new(zstd::stream::read::Decoder::new(blob)?),
        })
    }
}

impl BlobRef {
    /// The compression a layer's media type says (unknown layer types are refused).
    pub fn layer_compression(&self) -> Result<LayerCompression> {
        LayerCompression::of_media_type(&self.media_type).ok_or_else(|| Error::Blob {
            what: format!("layer {}", self.digest),
            reason: format!("unknown layer media type {}", shown(&self.media_type)),
        })
    }
}

/// One image (one platform) of the source.
#[derive(Debug, Clone)]
pub struct ForeignManifest {
    pub manifest: Value,
    pub config: Value,
    /// The platform the index names for it, if any.
    pub platform: Option<Value>,
    pub layers: Vec<BlobRef>,
    /// The manifest as stored (`None` for a docker-archive, whose manifest is made here).
    pub manifest_blob: Option<BlobRef>,
    /// The config as stored.
    pub config_blob: BlobRef,
}

/// An image opened from disk (archives are unpacked into a private temporary directory).
pub struct ForeignImage {
    _unpacked: Option<(tempfile::TempDir, crate::staging::Registered)>,
    root: PathBuf,
    /// How the user named it, for errors.
    name: String,
    pub manifests: Vec<ForeignManifest>,
    /// The image index the chosen `index.json` entry names, as stored (multi-platform images).
    pub index_blob: Option<BlobRef>,
    /// Indexes that index names in turn, innermost first (what a push sends before it).
    pub nested_indexes: Vec<BlobRef>,
    /// The `org.opencontainers.image.ref.name` of the image chosen in a layout's index
    /// (`shop:1.0`), if it has one.
    pub ref_name: Option<String>,
}

impl ForeignImage {
    /// Opens an OCI layout directory (image `tag`, or its first), an oci-archive or a
    /// docker-archive.
    pub fn open(path: &Path, tag: Option<&str>) -> Result<Self> {
        let name = path.display().to_string();
        let meta = fs_err::metadata(path).map_err(|_| Error::Foreign {
            image: name.clone(),
            reason: "no such OCI layout, oci-archive or docker-archive".into(),
        })?;
        let (unpacked, root) = if meta.is_dir() {
            (None, path.to_path_buf())
        } else if !meta.is_file() {
            return Err(Error::Foreign {
                image: name,
                reason: "not a directory or a regular file".into(),
            });
        } else {
            let t = crate::unpack::unpack(path, &name)?;
            let r = t.0.path().to_path_buf();
            (Some(t), r)
        };
        let mut image = ForeignImage {
            _unpacked: unpacked,
            root,
            name,
            manifests: Vec::new(),
            index_blob: None,
            nested_indexes: Vec::new(),
            ref_name: None,
        };
        image.manifests = if image.has("index.json") {
            image.oci_manifests(tag)?
        } else if image.has("manifest.json") {
            image.docker_manifests()?
        } else {
            return Err(image
                .error("neither an OCI layout (index.json) nor a docker-archive (manifest.json)"));
        };
        Ok(image)
    }

    /// A JSON blob's bytes as stored (manifest, index or config): size capped, digest checked.
    pub fn read_blob(&self, blob: &BlobRef) -> Result<Vec<u8>> {
        if blob.size > MAX_CONFIG {
            return Err(self.error(format!(
                "blob {} is {} bytes, over the {MAX_CONFIG}-byte limit",
                blob.digest, blob.size
            )));
        }
        let mut bytes = Vec::new();
        let mut check = self.open_blob(blob)?;
        check.read_to_end(&mut bytes)?;
        check.finish(&format!("{}: blob {}", self.name, blob.digest))?;
        Ok(bytes)
    }

    /// How the user named the image.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A layer's bytes as a stream that checks its size and digest: call
    /// [`Verifier::finish`] after reading to the end, before trusting anything read.
    ///
    /// A file whose length is not the descriptor's size is refused before a byte is read:
    /// readers cap what a layer may expand to by its size, which must not be a lie they learn
    /// of only at the end.
    pub fn open_blob(&self, blob: &BlobRef) -> Result<Verifier<fs_err::File>> {
        let file = self.open_file(&blob.path)?;
        let len = file.metadata()?.len();
        if len != blob.size {
            return Err(Error::Blob {
                what: format!("{}: blob {}", self.name, blob.digest),
                reason: format!(
                    "size mismatch: the descriptor says {} bytes, the file has {len}",
                    blob.size
                ),
            });
        }
        Ok(Verifier::new(file, &blob.digest, blob.size))
    }

    fn error(&self, reason: impl Into<String>) -> Error {
        Error::Foreign {
            image: self.name.clone(),
            reason: reason.into(),
        }
    }

    fn has(&self, name: &str) -> bool {
        fs_err::symlink_metadata(self.root.join(name)).is_ok_and(|m| m.is_file())
    }

    /// Opens a file below the root: a regular file, reached through no symlink.
    fn open_file(&self, rel: &Path) -> Result<fs_err::File> {
        let mut at = self.root.clone();
        for c in rel.components() {
            at.push(c);
            let meta = fs_err::symlink_metadata(&at)
                .map_err(|_| self.error(format!("{} is missing", rel.display())))?;
            if meta.file_type().is_symlink() {
                return Err(self.error(format!("{} passes through a symlink", rel.display())));
            }
        }
        if !fs_err::metadata(&at)?.is_file() {
            return Err(self.error(format!("{} is not a regular file", rel.display())));
        }
        Ok(fs_err::File::open(&at)?)
    }

    /// Reads a small file (capped) that no digest covers.
    fn read_capped(&self, rel: &Path, limit: u64) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_file(rel)?
            .take(limit + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 > limit {
            return Err(self.error(format!(
                "{} is larger than the {limit}-byte limit",
                rel.display()
            )));
        }
        Ok(bytes)
    }

    /// Reads a JSON blob: size cap, size and digest checked, then parsed.
    fn read_json_blob(&self, blob: &BlobRef, limit: u64, what: &str) -> Result<Value> {
        if blob.size > limit {
            return Err(self.error(format!(
                "{what} {} is {} bytes, over the {limit}-byte limit",
                blob.digest, blob.size
            )));
        }
        let mut bytes = Vec::new();
        let mut check = self.open_blob(blob)?;
        check.read_to_end(&mut bytes)?;
        check.finish(&format!("{}: {what} {}", self.name, blob.digest))?;
        self.parse(&bytes, &format!("{what} {}", blob.digest))
    }

    fn parse(&self, bytes: &[u8], what: &str) -> Result<Value> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| self.error(format!("{what} is not valid JSON ({e})")))?;
        if !v.is_object() && !v.is_array() {
            return Err(self.error(format!("{what} is not a JSON object")));
        }
        Ok(v)
    }

    /// A descriptor's media type, digest and size, checked.
    fn descriptor(&self, d: &Value, what: &str) -> Result<BlobRef> {
        let digest: Digest = d["digest"]
            .as_str()
            .ok_or_else(|| self.error(format!("{what} has no digest")))?
            .parse()
            .map_err(|e| self.error(format!("{what}: {e}")))?;
        let size = d["size"]
            .as_u64()
            .ok_or_else(|| self.error(format!("{what} {digest} has no size")))?;
        let media_type = d["mediaType"].as_str().unwrap_or_default().to_string();
        let path = digest.blob_path(Path::new(""));
        Ok(BlobRef {
            media_type,
            digest,
            size,
            path,
        })
    }

    fn oci_manifests(&mut self, tag: Option<&str>) -> Result<Vec<ForeignManifest>> {
        let index = self.parse(
            &self.read_capped(Path::new("index.json"), MAX_MANIFEST)?,
            "index.json",
        )?;
        let entries = index["manifests"]
            .as_array()
            .ok_or_else(|| self.error("index.json lists no manifests"))?;
        let ref_name = |m: &Value| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .map(str::to_string)
        };
        // A ref name, or its tag after `NAME:` (an archive names `NAME:TAG`); `NAME:TAG` that
        // several images share is ambiguous (a matrix's layout has `latest` once per image).
        let pick = |wanted: &str| -> Result<Option<&Value>> {
            if let Some(exact) = entries
                .iter()
                .find(|m| ref_name(m).as_deref() == Some(wanted))
            {
                return Ok(Some(exact));
            }
            let by_tag: Vec<&Value> = (entries.iter())
                .filter(|m| {
                    ref_name(m)
                        .is_some_and(|r| r.rsplit_once(':').is_some_and(|(_, x)| x == wanted))
                })
                .collect();
            match by_tag.as_slice() {
                [] => Ok(None),
                [one] => Ok(Some(one)),
                many => {
                    let names: Vec<String> = many
                        .iter()
                        .filter_map(|m| ref_name(m))
                        .map(|r| shown(&r))
                        .collect();
                    Err(self.error(format!(
                        "{} names several images ({}); name one as PATH:NAME:TAG",
                        shown(wanted),
                        names.join(", ")
                    )))
                }
            }
        };
        let top = match tag {
            Some(t) => {
                pick(t)?.ok_or_else(|| self.error(format!("no image tagged {}", shown(t))))?
            }
            // One image, or the one tagged `latest`; several others need a tag.
            None => match entries.as_slice() {
                [] => return Err(self.error("index.json lists no image")),
                [one] => one,
                many => pick("latest")?.ok_or_else(|| {
                    let tags: Vec<String> = many
                        .iter()
                        .filter_map(ref_name)
                        .map(|r| shown(&r))
                        .collect();
                    self.error(format!(
                        "holds several images ({}); name one as PATH:TAG",
                        tags.join(", ")
                    ))
                })?,
            },
        };
        self.ref_name = ref_name(top);
        let top_ref = self.descriptor(top, "index.json entry")?;
        let descs: Vec<Value> = if matches!(top_ref.media_type.as_str(), OCI_INDEX | DOCKER_LIST) {
            self.index_blob = Some(top_ref.clone());
            let mut out = Vec::new();
            self.flatten(&top_ref, 0, &mut out)?;
            out
        } else {
            vec![top.clone()]
        };
        let manifests: Vec<ForeignManifest> = descs
            .iter()
            .map(|d| self.oci_manifest(d))
            .collect::<Result<_>>()?;
        let mut seen = std::collections::HashSet::new();
        let digests = manifests.iter().filter_map(|m| m.manifest_blob.as_ref());
        if let Some(twice) = digests.map(|b| &b.digest).find(|d| !seen.insert(*d)) {
            return Err(self.error(format!("an image index lists {twice} twice")));
        }
        Ok(manifests)
    }

    /// The manifest descriptors of an image index and of the indexes it names (two levels
    /// below it at most, as `crane push --index` and other tools nest them), at most
    /// [`MAX_MANIFESTS`] in all, each digest once; the nested indexes are kept (a push sends
    /// them before the top).
    fn flatten(&mut self, index: &BlobRef, depth: usize, out: &mut Vec<Value>) -> Result<()> {
        let inner = self.read_json_blob(index, MAX_MANIFEST, "image index")?;
        let entries = inner["manifests"].as_array().cloned().ok_or_else(|| {
            self.error(format!("image index {} lists no manifests", index.digest))
        })?;
        for d in entries {
            let r = self.descriptor(&d, "index entry")?;
            if !matches!(r.media_type.as_str(), OCI_INDEX | DOCKER_LIST) {
                out.push(d);
            } else if depth >= 2 {
                return Err(self.error("image indexes nest more than two deep"));
            } else if self.nested_indexes.iter().any(|n| n.digest == r.digest) {
                return Err(self.error(format!("an image index lists {} twice", r.digest)));
            } else {
                self.flatten(&r, depth + 1, out)?;
                self.nested_indexes.push(r);
            }
            if out.len() + self.nested_indexes.len() > MAX_MANIFESTS {
                return Err(self.error(format!(
                    "an image index lists more than {MAX_MANIFESTS} manifests and indexes"
                )));
            }
        }
        Ok(())
    }

    fn oci_manifest(&self, d: &Value) -> Result<ForeignManifest> {
        let r = self.descriptor(d, "manifest")?;
        if !r.media_type.is_empty()
            && !matches!(r.media_type.as_str(), OCI_MANIFEST | DOCKER_MANIFEST)
        {
            return Err(self.error(format!(
                "manifest {} has unsupported media type {}",
                r.digest,
                shown(&r.media_type)
            )));
        }
        let manifest = self.read_json_blob(&r, MAX_MANIFEST, "manifest")?;
        let config_ref = self.descriptor(
            &manifest["config"],
            &format!("config of manifest {}", r.digest),
        )?;
        let config = self.read_json_blob(&config_ref, MAX_CONFIG, "config")?;
        let layers = manifest["layers"]
            .as_array()
            .ok_or_else(|| self.error(format!("manifest {} has no layers", r.digest)))?
            .iter()
            .map(|l| {
                let b = self.descriptor(l, &format!("layer of manifest {}", r.digest))?;
                b.layer_compression()?;
                Ok(b)
            })
            .collect::<Result<Vec<_>>>()?;
        check_diff_ids(&config, layers.len()).map_err(|e| self.error(e))?;
        Ok(ForeignManifest {
            manifest,
            config,
            platform: d.get("platform").cloned(),
            layers,
            manifest_blob: Some(r),
            config_blob: config_ref,
        })
    }

    /// Reads a docker-archive (`manifest.json` + config + layer tars) as one OCI manifest.
    fn docker_manifests(&self) -> Result<Vec<ForeignManifest>> {
        let list = self.parse(
            &self.read_capped(Path::new("manifest.json"), MAX_MANIFEST)?,
            "manifest.json",
        )?;
        let first = list
            .as_array()
            .and_then(|l| l.first())
            .ok_or_else(|| self.error("manifest.json lists no image"))?;
        let config_path = self.inside(first["Config"].as_str(), "Config")?;
        let config_bytes = self.read_capped(&config_path, MAX_CONFIG)?;
        let config = self.parse(&config_bytes, "the image config")?;
        let names = first["Layers"]
            .as_array()
            .ok_or_else(|| self.error("manifest.json: no Layers"))?;
        let mut layers = Vec::new();
        for l in names {
            let path = self.inside(l.as_str(), "Layers")?;
            layers.push(self.docker_layer(path)?);
        }
        check_diff_ids(&config, layers.len()).map_err(|e| self.error(e))?;
        let config_digest = Digest::sha256_of(&config_bytes);
        let config_blob = BlobRef {
            media_type: "application/vnd.oci.image.config.v1+json".into(),
            digest: config_digest.clone(),
            size: config_bytes.len() as u64,
            path: config_path,
        };
        let layer_json: Vec<Value> = layers
            .iter()
            .map(|b| json!({"mediaType": b.media_type, "digest": b.digest.to_string(), "size": b.size}))
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.to_string(), "size": config_bytes.len()},
            "layers": layer_json,
        });
        Ok(vec![ForeignManifest {
            manifest,
            config,
            platform: None,
            layers,
            manifest_blob: None,
            config_blob,
        }])
    }

    /// A layer file of a docker-archive: its digest is what its bytes hash to.
    fn docker_layer(&self, path: PathBuf) -> Result<BlobRef> {
        let mut file = self.open_file(&path)?;
        let mut head = [0u8; 2];
        let mut hasher = sha2::Sha256::default();
        let n = file.read(&mut head)?;
        sha2::Digest::update(&mut hasher, &head[..n]);
        let rest = std::io::copy(&mut file, &mut hasher)?;
        let digest: Digest =
            format!("sha256:{}", hex::encode(sha2::Digest::finalize(hasher))).parse()?;
        let media_type = if head[..n] == [0x1f, 0x8b] {
            "application/vnd.oci.image.layer.v1.tar+gzip"
        } else {
            "application/vnd.oci.image.layer.v1.tar"
        };
        Ok(BlobRef {
            media_type: media_type.to_string(),
            digest,
            size: n as u64 + rest,
            path,
        })
    }

    /// A path named by `manifest.json`, checked to stay inside the archive.
    fn inside(&self, text: Option<&str>, key: &str) -> Result<PathBuf> {
        let text = text.ok_or_else(|| self.error(format!("manifest.json: {key} is not a path")))?;
        crate::unpack::relative(text).ok_or_else(|| {
            self.error(format!(
                "manifest.json: {key} {} leaves the archive",
                shown(text)
            ))
        })
    }
}

/// The config must list one `diff_id` per layer (a manifest and config that disagree describe
/// no image).
fn check_diff_ids(config: &Value, layers: usize) -> std::result::Result<(), String> {
    let ids = config["rootfs"]["diff_ids"]
        .as_array()
        .ok_or("the image config has no rootfs.diff_ids")?;
    if ids.len() != layers {
        return Err(format!(
            "the image config lists {} layers, the manifest {layers}",
            ids.len()
        ));
    }
    for id in ids {
        let text = id.as_str().ok_or("a diff_id is not a string")?;
        text.parse::<Digest>().map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_gzip_layer_is_read_to_its_last_member() {
        use std::io::Write;
        let gz = |b: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(b).unwrap();
            e.finish().unwrap()
        };
        let blob = [gz(b"first "), gz(b"second")].concat();
        let mut text = String::new();
        LayerCompression::Gzip
            .tar_stream(blob.as_slice())
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "first second");
        assert_eq!(
            LayerCompression::of_media_type("application/vnd.oci.image.layer.v1.tar+zstd"),
            Some(LayerCompression::Zstd)
        );
        assert_eq!(LayerCompression::of_media_type("text/plain"), None);
    }

    use super::*;

    #[test]
    fn relative_paths_stay_inside() {
        assert_eq!(
            crate::unpack::relative("./a/b.tar"),
            Some(PathBuf::from("a/b.tar"))
        );
        assert_eq!(crate::unpack::relative("../x"), None);
        assert_eq!(crate::unpack::relative("a/../../x"), None);
        assert_eq!(crate::unpack::relative("/etc/shadow"), None);
        assert_eq!(crate::unpack::relative("."), None);
    }

    #[test]
    fn layer_media_types() {
        let mut b = BlobRef {
            media_type: "application/vnd.oci.image.layer.v1.tar+zstd".into(),
            digest: Digest::sha256_of(b""),
            size: 0,
            path: PathBuf::new(),
        };
        assert_eq!(b.layer_compression().unwrap(), LayerCompression::Zstd);
        b.media_type = "text/html".into();
        assert!(b.layer_compression().is_err());
    }
}
