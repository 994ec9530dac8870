//! OCI image layout directory and oci-archive, written atomically.
//!
//! Everything is written into a temporary directory beside the destination; only a finished
//! image is renamed into place, so a failed build leaves no half-written output behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, ImageIndex, MediaType};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::image::{canonical_json, descriptor};

/// Whether a directory is an OCI layout: `oci-layout` and `index.json` are regular files
/// (not symlinks, directories or FIFOs). Only such a directory is ever replaced or added to.
pub fn is_layout(dir: &Path) -> bool {
    let regular = |name: &str| {
        fs_err::symlink_metadata(dir.join(name)).is_ok_and(|m| m.file_type().is_file())
    };
    fs_err::symlink_metadata(dir).is_ok_and(|m| m.is_dir())
        && regular("oci-layout")
        && regular("index.json")
}

/// The refusal to touch an output that is not an OCI layout.
pub fn not_a_layout(dir: &Path) -> Error {
    Error::Layout {
        path: dir.to_path_buf(),
        reason: "exists and is not an OCI layout (oci-layout and index.json as regular files); \
                 refusing to replace it"
            .into(),
    }
}

/// An OCI layout being written.
pub struct LayoutWriter {
    tmp: tempfile::TempDir,
    _registered: crate::staging::Registered,
    /// Dropped after the staging directory: the output's parents this writer made.
    created: Created,
}

/// The directories [`LayoutWriter::new`] made for an output's parent (`-o a/b/out` where `a`
/// did not exist): removed again, deepest first and only while empty, unless the output was
/// finished, so a failed build leaves no new directory behind.
struct Created {
    deepest: PathBuf,
    top: Option<PathBuf>,
}

impl Created {
    /// Makes `dir` and its missing parents, remembering the topmost one made.
    fn make(dir: &Path) -> Result<Self> {
        let mut top = None;
        let mut p = dir;
        while !p.as_os_str().is_empty() && fs_err::symlink_metadata(p).is_err() {
            top = Some(p.to_path_buf());
            p = p.parent().unwrap_or(Path::new(""));
        }
        fs_err::create_dir_all(dir)?;
        Ok(Created {
            deepest: dir.to_path_buf(),
            top,
        })
    }

    /// The output is in place: its parents stay.
    fn keep(&mut self) {
        self.top = None;
    }
}

impl Drop for Created {
    fn drop(&mut self) {
        let Some(top) = &self.top else {
            return;
        };
        let mut d = self.deepest.as_path();
        while fs_err::remove_dir(d).is_ok() && d != top {
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
    }
}

impl LayoutWriter {
    /// Starts a layout in a temporary directory next to `dest`.
    pub fn new(dest: &Path) -> Result<Self> {
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let created = Created::make(&parent)?;
        let (tmp, registered) = crate::staging::directory(&parent)?;
        fs_err::create_dir_all(tmp.path().join("blobs/sha256"))?;
        Ok(LayoutWriter {
            tmp,
            _registered: registered,
            created,
        })
    }

    /// The `blobs/sha256` directory layers are written into.
    pub fn blobs(&self) -> PathBuf {
        self.tmp.path().join("blobs/sha256")
    }

    /// Writes a JSON blob canonically and returns its descriptor.
    pub fn json_blob<T: Serialize>(&self, media_type: MediaType, value: &T) -> Result<Descriptor> {
        let bytes = canonical_json(value)?;
        self.raw_blob(media_type, &bytes)
    }

    /// Writes bytes as a blob.
    pub fn raw_blob(&self, media_type: MediaType, bytes: &[u8]) -> Result<Descriptor> {
        let hex = hex::encode(Sha256::digest(bytes));
        let path = self.blobs().join(&hex);
        fs_err::write(&path, bytes)?;
        descriptor(media_type, &format!("sha256:{hex}"), bytes.len() as u64)
    }

    /// Copies an existing blob file (e.g. a cached layer) into the layout.
    pub fn import_blob(&self, digest_hex: &str, from: &Path) -> Result<()> {
        let dest = self.blobs().join(digest_hex);
        if dest.exists() {
            return Ok(());
        }
        if fs_err::hard_link(from, &dest).is_err() {
            fs_err::copy(from, &dest)?;
        }
        Ok(())
    }

    /// Where a blob lives in the layout being written.
    pub fn blob_path(&self, digest: &crate::digest::Digest) -> PathBuf {
        digest.blob_path(self.tmp.path())
    }

    /// Copies a blob of an image we did not build into the layout, hashing it on the way: it
    /// lands under its digest only when size and digest match, so nothing unverified is ever
    /// in the layout. `what` names the blob in errors.
    pub fn import_verified(
        &self,
        digest: &crate::digest::Digest,
        size: u64,
        from: &mut dyn std::io::Read,
        what: &str,
    ) -> Result<()> {
        if digest.algorithm() != crate::digest::Algorithm::Sha256 {
            return Err(Error::Blob {
                what: what.to_string(),
                reason: "only sha256 blobs can be copied into an image we write".into(),
            });
        }
        let dest = self.blob_path(digest);
        if dest.exists() {
            return Ok(());
        }
        let dir = dest.parent().unwrap_or(self.tmp.path());
        fs_err::create_dir_all(dir)?;
        let mut tmp = crate::staging::public_tempfile(dir)?;
        let mut check = crate::digest::Verifier::new(from, digest, size);
        std::io::copy(&mut check, &mut tmp).map_err(|e| Error::Blob {
            what: what.to_string(),
            reason: format!("read failed: {e}"),
        })?;
        check.finish(what)?;
        tmp.persist(&dest).map_err(|e| Error::io(&dest, e.error))?;
        Ok(())
    }

    fn write_top(&self, index: &ImageIndex) -> Result<()> {
        fs_err::write(
            self.tmp.path().join("oci-layout"),
            br#"{"imageLayoutVersion":"1.0.0"}"#,
        )?;
        fs_err::write(self.tmp.path().join("index.json"), canonical_json(index)?)?;
        Ok(())
    }

    /// Writes `index.json` into the staging directory so the image can be read as a layout
    /// before it is finished (an audit before anything is written); returns that directory.
    pub fn staged(&self, index: &ImageIndex) -> Result<&Path> {
        self.write_top(index)?;
        Ok(self.tmp.path())
    }

    /// Finishes as a layout directory at `dest`, replacing what was there.
    pub fn finish_dir(mut self, index: &ImageIndex, dest: &Path) -> Result<()> {
        self.write_top(index)?;
        crate::staging::unmark(self.tmp.path())?;
        if dest.exists() {
            if !is_layout(dest) && fs_err::read_dir(dest)?.next().is_some() {
                return Err(not_a_layout(dest));
            }
            let trash = self.tmp.path().with_extension("old");
            fs_err::rename(dest, &trash)?;
            let tmp = self.tmp.keep();
            fs_err::rename(&tmp, dest)?;
            fs_err::remove_dir_all(&trash)?;
        } else {
            let tmp = self.tmp.keep();
            fs_err::rename(&tmp, dest)?;
        }
        self.created.keep();
        Ok(())
    }

    /// Adds a top-level file (docker-archive's `manifest.json` and `repositories`).
    pub fn top_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        fs_err::write(self.tmp.path().join(name), bytes)?;
        Ok(())
    }

    /// Finishes as a docker-archive (`docker load`, `podman load`) at `dest`: the OCI layout
    /// plus `manifest.json` and `repositories`, which is what Docker itself writes since 25.
    pub fn finish_docker_archive(
        self,
        dest: &Path,
        config_digest: &str,
        layer_digests: &[String],
        repo_tags: &[String],
    ) -> Result<()> {
        let blob = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
        let manifest = serde_json::json!([{
            "Config": blob(config_digest),
            "RepoTags": repo_tags,
            "Layers": layer_digests.iter().map(|d| blob(d)).collect::<Vec<_>>(),
        }]);
        self.top_file("manifest.json", &canonical_json(&manifest)?)?;
        let mut repos: std::collections::BTreeMap<
            String,
            std::collections::BTreeMap<String, String>,
        > = std::collections::BTreeMap::new();
        let top = layer_digests
            .last()
            .map(|d| d.trim_start_matches("sha256:").to_string())
            .unwrap_or_default();
        for t in repo_tags {
            if let Some((name, tag)) = t.rsplit_once(':') {
                repos
                    .entry(name.to_string())
                    .or_default()
                    .insert(tag.to_string(), top.clone());
            }
        }
        self.top_file("repositories", &canonical_json(&repos)?)?;
        // Only Docker's own format: with an index.json beside it, podman would read the OCI
        // layout instead and name the image after the bare tag.
        self.write_tar(dest, false)
    }

    /// Finishes as an oci-archive (a tar of the layout) at `dest`.
    pub fn finish_archive(self, index: &ImageIndex, dest: &Path) -> Result<()> {
        self.write_top(index)?;
        self.write_tar(dest, true)
    }

    fn write_tar(mut self, dest: &Path, oci: bool) -> Result<()> {
        let parent = self
            .tmp
            .path()
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let out = crate::staging::Partial::new(&parent)?;
        let mut tar = tar::Builder::new(std::io::BufWriter::new(out));
        let root = self.tmp.path();
        let mut names = if oci {
            vec!["oci-layout".to_string(), "index.json".to_string()]
        } else {
            Vec::new()
        };
        for extra in ["manifest.json", "repositories"] {
            if root.join(extra).exists() {
                names.push(extra.to_string());
            }
        }
        let mut blobs: Vec<String> = fs_err::read_dir(root.join("blobs/sha256"))?
            .filter_map(std::result::Result::ok)
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        blobs.sort();
        for dir in ["blobs/", "blobs/sha256/"] {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_mtime(0);
            h.set_size(0);
            tar.append_data(&mut h, dir, std::io::empty())
                .map_err(|e| Error::io(dest, e))?;
        }
        names.extend(blobs.into_iter().map(|b| format!("blobs/sha256/{b}")));
        for name in names {
            let path = root.join(&name);
            let mut f = fs_err::File::open(&path)?;
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_size(f.metadata()?.len());
            tar.append_data(&mut h, &name, &mut f)
                .map_err(|e| Error::io(dest, e))?;
        }
        let mut w = tar.into_inner().map_err(|e| Error::io(dest, e))?;
        w.flush().map_err(|e| Error::io(dest, e))?;
        let file = w
            .into_inner()
            .map_err(|e| Error::io(dest, e.into_error()))?;
        file.persist(dest)?;
        self.created.keep();
        Ok(())
    }
}

/// Adds artifacts (each its blobs and its manifest, e.g. signatures and attestations that
/// name an image of the layout as their `subject`) to an existing layout: blobs land under
/// their digests, then `index.json` gains one untagged entry per manifest, replaced whole
/// (written beside it and renamed), so a reader sees the old index or the new one.
pub fn add_artifacts(dir: &Path, artifacts: &[(Vec<Vec<u8>>, Vec<u8>)]) -> Result<()> {
    if !is_layout(dir) {
        return Err(not_a_layout(dir));
    }
    let blobs = dir.join("blobs/sha256");
    fs_err::create_dir_all(&blobs)?;
    let put = |bytes: &[u8]| -> Result<String> {
        let hex = hex::encode(Sha256::digest(bytes));
        let dest = blobs.join(&hex);
        if !dest.exists() {
            let mut tmp = crate::staging::public_tempfile(&blobs)?;
            std::io::Write::write_all(&mut tmp, bytes)?;
            tmp.persist(&dest).map_err(|e| Error::io(&dest, e.error))?;
        }
        Ok(format!("sha256:{hex}"))
    };
    // Two signers of one layout at once must not lose each other's entries: the
    // read-modify-write of index.json holds an exclusive lock on the layout directory.
    let lock = fs_err::File::open(dir)?;
    lock.file().lock().map_err(|e| Error::io(dir, e))?;
    let index_path = dir.join("index.json");
    let text = fs_err::read(&index_path)?;
    let mut index: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| Error::Foreign {
            image: dir.display().to_string(),
            reason: format!("index.json: {e}"),
        })?;
    let Some(list) = index["manifests"].as_array_mut() else {
        return Err(not_a_layout(dir));
    };
    for (parts, manifest) in artifacts {
        for b in parts {
            put(b)?;
        }
        let digest = put(manifest)?;
        if list.iter().any(|m| m["digest"] == digest.as_str()) {
            continue;
        }
        let doc: serde_json::Value = serde_json::from_slice(manifest).unwrap_or_default();
        let mut entry = serde_json::json!({
            "mediaType": doc["mediaType"],
            "digest": digest,
            "size": manifest.len(),
        });
        if !doc["artifactType"].is_null() {
            entry["artifactType"] = doc["artifactType"].clone();
        }
        list.push(entry);
    }
    let mut tmp = crate::staging::public_tempfile(dir)?;
    std::io::Write::write_all(&mut tmp, &serde_json::to_vec(&index).unwrap_or_default())?;
    tmp.persist(&index_path)
        .map_err(|e| Error::io(&index_path, e.error))?;
    Ok(())
}
