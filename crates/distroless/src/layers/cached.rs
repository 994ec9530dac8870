//! The layer cache: a layer found under its key in the local cache or the shared repository
//! (its blob digest-checked, its index rebuilt from its bytes when it came from elsewhere), and
//! a layer just built kept in both.

use std::path::PathBuf;

use anyhow::Context;
use oci::layer::{Compression, LayerBlob};
use oci::layout::LayoutWriter;

use super::{BuiltLayer, CachedLayer};
use crate::cache::{Cache, Record};
use crate::rootfs::{
    self,
    view::{ImageView, LayerIndex},
};

/// The layer under `key` from the local cache, else from the shared repository; a local hit is
/// stored in the repository when it lacks it.
pub(super) fn cached(
    cache: &Cache,
    layout: &LayoutWriter,
    key: &str,
    below: (&ImageView, Compression),
) -> anyhow::Result<Option<BuiltLayer>> {
    if let Some((hit, path)) = cached_here(cache, layout, key)? {
        share(cache, key, &hit.blob, &path);
        return Ok(Some(hit));
    }
    match cache.remote() {
        Some(r) => from_remote(r, cache, layout, key, below),
        None => Ok(None),
    }
}

fn cached_here(
    cache: &Cache,
    layout: &LayoutWriter,
    key: &str,
) -> anyhow::Result<Option<(BuiltLayer, PathBuf)>> {
    let Some(c) = cache.read::<CachedLayer>(Record::Layer, key) else {
        return Ok(None);
    };
    let hex = c.blob.digest.trim_start_matches("sha256:").to_string();
    let Some(path) = cache.verified_blob(&hex, c.blob.size)? else {
        return Ok(None);
    };
    layout.import_blob(&hex, &path)?;
    let hit = BuiltLayer {
        blob: c.blob,
        index: c.index,
        cached: true,
    };
    Ok(Some((hit, path)))
}

/// A layer the shared repository names under `key`: its blob fetched through a digest check,
/// its diff_id and index rebuilt from its bytes (nothing else of the entry is taken), then kept
/// in the local cache. `None` when the repository has no usable entry.
fn from_remote(
    remote: &crate::cache::remote::Remote,
    cache: &Cache,
    layout: &LayoutWriter,
    key: &str,
    (view, compression): (&ImageView, Compression),
) -> anyhow::Result<Option<BuiltLayer>> {
    let Some(found) = remote.layer(key, compression.media_type()) else {
        remote.counted(false);
        return Ok(None);
    };
    if !remote.fetch_layer(&found, layout) {
        remote.replace_layer(key);
        remote.counted(false);
        return Ok(None);
    }
    let path = layout.blob_path(&found.digest);
    let tar = oci::read::LayerCompression::of_media_type(&found.media_type)
        .context("not a layer media type")?
        .tar_stream(fs_err::File::open(&path)?)?;
    // Layers compress 3 to 50 times; a bomb is stopped well before it costs minutes.
    let limit = found.size.saturating_mul(256).max(64 << 20);
    let (index, diff_id) = match rootfs::read_back::index_of_layer(tar, &view.index.symlinks, limit)
    {
        Ok(read) => read,
        Err(e) => {
            // Not a layer we could have built: refused, the repository trusted no further.
            let _ = fs_err::remove_file(&path);
            let what = format!("layer {}", found.digest);
            remote.refuse(Record::Layer.dir(), key, &what, &e);
            remote.counted(false);
            return Ok(None);
        }
    };
    remote.counted(true);
    let blob = LayerBlob {
        digest: found.digest.to_string(),
        size: found.size,
        diff_id,
        media_type: found.media_type,
    };
    store(cache, layout, key, &blob, &index)?;
    Ok(Some(BuiltLayer {
        blob,
        index,
        cached: true,
    }))
}

/// Keeps a layer in the local cache (its blob adopted, its record written) and in the shared
/// repository when that lacks it (one taken from there is known to be there: nothing is sent).
pub(super) fn store(
    cache: &Cache,
    layout: &LayoutWriter,
    key: &str,
    blob: &LayerBlob,
    index: &LayerIndex,
) -> anyhow::Result<()> {
    let hex = blob.digest.trim_start_matches("sha256:");
    let path = cache.blobs().adopt(hex, &layout.blobs().join(hex))?;
    let entry = CachedLayer {
        blob: blob.clone(),
        index: index.clone(),
    };
    cache.write(Record::Layer, key, &entry)?;
    share(cache, key, blob, &path);
    Ok(())
}

/// Stores a layer in the shared repository, if there is one and it lacks it.
fn share(cache: &Cache, key: &str, blob: &LayerBlob, path: &std::path::Path) {
    if let Some(r) = cache.remote() {
        r.share_layer(key, blob, path);
    }
}
