//! Adding to a layout instead of replacing it: the images of an existing layout that a build
//! does not re-tag are carried into the new one, as `skopeo copy` and `umoci` add a tag to a
//! layout rather than drop its other tags.
//!
//! The old layout is read like any image we did not build: every blob is copied through a
//! digest check (a tampered blob stops the build), JSON blobs are read capped, symlinks are
//! refused, and the walk from `index.json` is bounded in depth and breadth.

use std::path::Path;

use oci_spec::image::{Descriptor, ImageIndex};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::layout::LayoutWriter;
use crate::read::{MAX_MANIFEST, MAX_MANIFESTS};

/// The annotation naming a tag in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Blobs one carried-over image may name (manifests, configs and layers together).
const MAX_BLOBS: usize = 4096;

impl LayoutWriter {
    /// Copies every image of the layout at `old` whose tag is not in `replaced` (and every
    /// untagged one) into this layout; returns their `index.json` entries. A directory that is
    /// not a layout carries nothing over.
    pub fn carry_over(&self, old: &Path, replaced: &[String]) -> Result<Vec<Descriptor>> {
        let index_path = old.join("index.json");
        if !crate::layout::is_layout(old) {
            // Nothing there (or an empty directory) carries nothing; anything else is not ours
            // to add to.
            let empty = fs_err::read_dir(old).map_or(true, |mut d| d.next().is_none());
            return if empty {
                Ok(Vec::new())
            } else {
                Err(crate::layout::not_a_layout(old))
            };
        }
        let bad = |reason: String| Error::Layout {
            path: old.to_path_buf(),
            reason,
        };
        let bytes = read_capped(&index_path, MAX_MANIFEST)?;
        let index: ImageIndex = serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("index.json is not an image index: {e}")))?;
        if index.manifests().len() > MAX_MANIFESTS {
            return Err(bad(format!(
                "index.json lists more than {MAX_MANIFESTS} images"
            )));
        }
        let mut kept = Vec::new();
        let mut budget = MAX_BLOBS;
        for d in index.manifests() {
            let tag = d.annotations().as_ref().and_then(|a| a.get(REF_NAME));
            if tag.is_some_and(|t| replaced.contains(t)) {
                continue;
            }
            self.copy_closure(old, d, 0, &mut budget)?;
            kept.push(d.clone());
        }
        Ok(kept)
    }

    /// Copies a blob and, for an index or a manifest, everything it names.
    fn copy_closure(
        &self,
        old: &Path,
        d: &Descriptor,
        depth: usize,
        budget: &mut usize,
    ) -> Result<()> {
        let bad = |reason: String| Error::Layout {
            path: old.to_path_buf(),
            reason,
        };
        if depth > 3 || *budget == 0 {
            return Err(bad("images nest too deeply or name too many blobs".into()));
        }
        *budget -= 1;
        let digest: Digest = d.digest().to_string().parse()?;
        let what = format!("{} of {}", digest, old.display());
        let path = digest.blob_path(old);
        let meta = fs_err::symlink_metadata(&path)?;
        if !meta.is_file() {
            return Err(bad(format!("blob {digest} is not a regular file")));
        }
        let media = d.media_type().to_string();
        if !(media.contains("manifest") || media.contains("index")) {
            let mut f = fs_err::File::open(&path)?;
            return self.import_verified(&digest, d.size(), &mut f, &what);
        }
        if d.size() > MAX_MANIFEST {
            return Err(bad(format!("{what} is larger than {MAX_MANIFEST} bytes")));
        }
        let bytes = read_capped(&path, MAX_MANIFEST)?;
        self.import_verified(&digest, d.size(), &mut bytes.as_slice(), &what)?;
        let json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("{what} is not JSON: {e}")))?;
        let mut children: Vec<&serde_json::Value> = Vec::new();
        for list in ["manifests", "layers", "blobs"] {
            children.extend(json[list].as_array().into_iter().flatten());
        }
        children.extend(json.get("config"));
        for child in children {
            let child: Descriptor = serde_json::from_value(child.clone())
                .map_err(|e| bad(format!("{what} names a blob badly: {e}")))?;
            self.copy_closure(old, &child, depth + 1, budget)?;
        }
        Ok(())
    }
}

/// Reads a file of at most `limit` bytes.
fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    fs_err::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(Error::Layout {
            path: path.to_path_buf(),
            reason: format!("larger than {limit} bytes"),
        });
    }
    Ok(bytes)
}
