//! A registry repository as the cache that runners share (`--cache-repo REGISTRY/REPO`).
//!
//! The package facts of the local cache (the records that can be checked; `Cache` says which)
//! and every layer can also live in one repository, each as a small OCI artifact tagged
//! `KIND-SHA256(KEY)`: its one layer is the record's JSON, or the layer blob itself, and an
//! annotation repeats the key. BuildKit's
//! registry cache keeps one manifest listing every layer under one tag; here each key has its
//! own tag, so runners storing at once never overwrite each other's entries, a lookup is one
//! `GET`, and the registry's own blob store shares the bytes with the images (a push to
//! another repository of the same registry mounts them).
//!
//! An entry is a hint, checked like everything else. A record is parsed like a local one (a
//! damaged one is a miss, and the runner's fresh record replaces it). A layer entry names a
//! blob and nothing more: the blob is fetched through a digest check, and its diff_id and file
//! index are rebuilt from its bytes (`rootfs::read_back`). That the key's inputs really make
//! that blob cannot be checked without the packages: that rests on who may push to the
//! repository, as with BuildKit's cache.
//!
//! A cache never fails a build: the first failure to read switches reading off for the rest of
//! the run, the first failure to store switches storing off (a runner that may only pull
//! still reads), and both are kept for the caller to report.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use oci::digest::Digest;
use oci::layout::LayoutWriter;
use registry::push::Seen;
use registry::{Client, Reference};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const ARTIFACT: &str = "application/vnd.distroless.cache.v1";
const RECORD: &str = "application/vnd.distroless.cache.record.v1+json";
const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY: &[u8] = b"{}";
const KEY_ANNOTATION: &str = "dev.distroless.cache.key";
/// The largest record read (package facts are a few hundred bytes).
const MAX_RECORD: u64 = 1 << 20;

/// What the repository did for this run.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct RemoteStats {
    /// Entries found there that the local cache lacked.
    pub hits: u64,
    /// Entries looked up and not found.
    pub misses: u64,
    /// Entries stored there.
    pub stored: u64,
    /// Bytes of layer blobs fetched from it.
    pub layer_bytes_fetched: u64,
}

/// A blob a layer entry names.
#[derive(Debug, Clone)]
pub struct RemoteLayer {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// The shared repository and what this run learnt about it.
pub struct Remote {
    client: Client,
    repo: Reference,
    seen: Seen,
    /// Look up only, store nothing (`--dry-run`).
    read_only: bool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The first failure to read; nothing is read after it.
    reads_off: Option<String>,
    /// The first failure to store; nothing is stored after it.
    writes_off: Option<String>,
    /// Tags looked up or stored in this run, and whether the repository has them.
    present: HashMap<String, bool>,
    stats: RemoteStats,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("repo", &self.name())
            .finish_non_exhaustive()
    }
}

impl Remote {
    /// The repository `REGISTRY/REPO` names (no tag, no digest), reached through `client`;
    /// `seen` learns which blobs it holds, so a push to the same registry mounts them.
    pub fn new(client: Client, repo: &str, seen: Seen, read_only: bool) -> anyhow::Result<Self> {
        let r = Reference::parse(repo).map_err(|e| anyhow::anyhow!("--cache-repo: {e}"))?;
        anyhow::ensure!(
            r.tag.is_none() && r.digest.is_none(),
            "--cache-repo {repo}: name a repository (REGISTRY/REPO), without a tag or digest"
        );
        Ok(Remote {
            client,
            repo: r,
            seen,
            read_only,
            state: Mutex::default(),
        })
    }

    /// `REGISTRY/REPO`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.repo.registry, self.repo.repository)
    }

    /// What the repository did so far.
    pub fn stats(&self) -> RemoteStats {
        self.state().stats.clone()
    }

    /// The failures that switched reading or storing off, if any did.
    pub fn failure(&self) -> Option<String> {
        let s = self.state();
        match (&s.reads_off, &s.writes_off) {
            (None, None) => None,
            (Some(r), None) => Some(format!("not read after: {r}")),
            (None, Some(w)) => Some(format!("nothing stored after: {w}")),
            (Some(r), Some(w)) if r == w => Some(format!("not used after: {r}")),
            (Some(r), Some(w)) => Some(format!("not read after: {r}; nothing stored after: {w}")),
        }
    }

    /// Counts an entry the cache took from the repository (`hit`) or looked for in vain.
    pub fn counted(&self, hit: bool) {
        let mut s = self.state();
        if hit {
            s.stats.hits += 1;
        } else {
            s.stats.misses += 1;
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs one exchange with the repository (a store when `store`); `None` when that side
    /// is off, or this exchange failed (which switches that side off).
    fn guarded<T>(
        &self,
        doing: &str,
        store: bool,
        f: impl FnOnce() -> anyhow::Result<T>,
    ) -> Option<T> {
        let off = {
            let s = self.state();
            if store {
                self.read_only || s.writes_off.is_some()
            } else {
                s.reads_off.is_some()
            }
        };
        if off {
            return None;
        }
        match f() {
            Ok(v) => Some(v),
            Err(e) => {
                let mut s = self.state();
                let failed = format!("{doing}: {e:#}");
                // A repository that fails a read (unreachable, too slow) would fail the stores
                // too; one that refuses a store may still be read (a pull-only runner).
                if store {
                    s.writes_off.get_or_insert(failed);
                } else {
                    s.writes_off.get_or_insert_with(|| failed.clone());
                    s.reads_off.get_or_insert(failed);
                }
                None
            }
        }
    }

    /// Marks an entry as one to store again (it was damaged).
    pub fn replace(&self, kind: &str, key: &str) {
        self.state().present.insert(Self::tag(kind, key), false);
    }

    /// Refuses what the repository sent (not what an entry must be) and reads nothing more
    /// from it; the entry is replaced by what this run builds.
    pub fn refuse(&self, kind: &str, key: &str, what: &str, e: &anyhow::Error) {
        self.replace(kind, key);
        let mut s = self.state();
        s.reads_off
            .get_or_insert_with(|| format!("{what} refused: {e:#}"));
    }

    fn tag(kind: &str, key: &str) -> String {
        format!("{kind}-{}", hex::encode(Sha256::digest(key.as_bytes())))
    }

    /// The one layer of the entry under `kind`/`key`, if the repository has a well-formed one.
    fn entry(&self, kind: &str, key: &str) -> Option<serde_json::Value> {
        let tag = Self::tag(kind, key);
        let found = self.guarded("looking up a cache entry", false, || {
            Ok(registry::referrers::manifest_if_any(
                &self.client,
                &self.repo,
                &tag,
            )?)
        })?;
        let layer = found.and_then(|(bytes, _, _)| {
            let m: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
            let named = m["annotations"][KEY_ANNOTATION].as_str() == Some(&format!("{kind}:{key}"));
            let layers = m["layers"].as_array()?;
            (named && layers.len() == 1).then(|| layers[0].clone())
        });
        self.state().present.insert(tag, layer.is_some());
        layer
    }

    /// A record's JSON bytes, when the repository has them.
    pub fn record(&self, kind: &str, key: &str) -> Option<Vec<u8>> {
        let layer = self.entry(kind, key)?;
        let wanted = || {
            let size = layer["size"].as_u64().filter(|s| *s <= MAX_RECORD)?;
            let digest: Digest = layer["digest"].as_str()?.parse().ok()?;
            (layer["mediaType"] == RECORD).then_some((digest, size))
        };
        let Some((digest, size)) = wanted() else {
            // Not a record this tool stores: replaced by the one this run makes.
            self.replace(kind, key);
            return None;
        };
        let got = self.guarded("fetching a cache record", false, || {
            let bytes = registry::referrers::blob(&self.client, &self.repo, &digest, size)?;
            anyhow::ensure!(bytes.len() as u64 == size, "record {digest}: wrong size");
            Ok(bytes)
        });
        if got.is_none() {
            self.replace(kind, key);
        }
        got
    }

    /// The blob a layer entry names, when the repository has an entry that names one of
    /// `media_type` (the compression the key was made with).
    pub fn layer(&self, key: &str, media_type: &str) -> Option<RemoteLayer> {
        let kind = super::Record::Layer.dir();
        let layer = self.entry(kind, key)?;
        let found = || {
            (layer["mediaType"] == media_type).then_some(())?;
            Some(RemoteLayer {
                digest: layer["digest"].as_str()?.parse().ok()?,
                size: layer["size"]
                    .as_u64()
                    .filter(|s| *s <= self.client.options.max_bytes)?,
                media_type: media_type.to_string(),
            })
        };
        let found = found();
        if found.is_none() {
            self.replace(kind, key);
        }
        found
    }

    /// Fetches a layer's blob into `layout` through a digest check; false when it could not.
    pub fn fetch_layer(&self, layer: &RemoteLayer, layout: &LayoutWriter) -> bool {
        let got = self.guarded("fetching a cached layer", false, || {
            registry::pull::fetch_blob(
                &self.client,
                &self.repo,
                layout,
                &layer.digest,
                layer.size,
            )?;
            Ok(())
        });
        if got.is_some() {
            self.seen.note(&self.repo, &layer.digest);
            self.state().stats.layer_bytes_fetched += layer.size;
        }
        got.is_some()
    }

    /// Marks a layer entry whose blob could not be fetched as one to store again.
    pub fn replace_layer(&self, key: &str) {
        self.replace(super::Record::Layer.dir(), key);
    }

    /// Whether the entry still has to be stored (looked up when this run has not yet).
    fn missing(&self, tag: &str) -> bool {
        if let Some(present) = self.state().present.get(tag) {
            return !present;
        }
        if self.read_only {
            return false;
        }
        let found = self.guarded("looking up a cache entry", true, || {
            Ok(registry::referrers::manifest_if_any(&self.client, &self.repo, tag)?.is_some())
        });
        if let Some(f) = found {
            self.state().present.insert(tag.to_string(), f);
        }
        found == Some(false)
    }

    /// Stores a record unless the repository has it.
    pub fn share_record(&self, kind: &str, key: &str, json: &[u8]) {
        let tag = Self::tag(kind, key);
        if !self.missing(&tag) {
            return;
        }
        let layer = descriptor(RECORD, &Digest::sha256_of(json), json.len() as u64);
        self.put(
            &tag,
            &format!("{kind}:{key}"),
            &[EMPTY.to_vec(), json.to_vec()],
            &layer,
        );
    }

    /// Stores a layer's blob (from `path`) and its entry unless the repository has them.
    pub fn share_layer(&self, key: &str, blob: &oci::layer::LayerBlob, path: &Path) {
        let tag = Self::tag(super::Record::Layer.dir(), key);
        if !self.missing(&tag) {
            return;
        }
        let Ok(digest) = blob.digest.parse::<Digest>() else {
            return;
        };
        let sent = self.guarded("storing a layer in the cache", true, || {
            registry::push::push_file(
                &self.client,
                &self.seen,
                &self.repo,
                &digest,
                blob.size,
                path,
            )?;
            Ok(())
        });
        if sent.is_some() {
            let layer = descriptor(&blob.media_type, &digest, blob.size);
            let named = format!("{}:{key}", super::Record::Layer.dir());
            self.put(&tag, &named, &[EMPTY.to_vec()], &layer);
        }
    }

    /// Puts an entry's small blobs and its manifest under `tag`.
    fn put(&self, tag: &str, key: &str, small: &[Vec<u8>], layer: &serde_json::Value) {
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT,
            "config": descriptor(EMPTY_TYPE, &Digest::sha256_of(EMPTY), EMPTY.len() as u64),
            "layers": [layer],
            "annotations": { KEY_ANNOTATION: key },
        });
        let stored = self.guarded("storing a cache entry", true, || {
            let bytes = serde_json::to_vec(&manifest)?;
            registry::push::push_artifact(
                &self.client,
                &self.repo,
                small,
                &bytes,
                OCI_MANIFEST,
                tag,
            )?;
            Ok(())
        });
        if stored.is_some() {
            let mut s = self.state();
            s.present.insert(tag.to_string(), true);
            s.stats.stored += 1;
        }
    }
}

fn descriptor(media_type: &str, digest: &Digest, size: u64) -> serde_json::Value {
    json!({ "mediaType": media_type, "digest": digest.to_string(), "size": size })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_valid_and_distinct_per_kind_and_key() {
        let a = Remote::tag("plans-v3", "k");
        assert!(registry::reference::tag_ok(&a), "{a}");
        assert_ne!(a, Remote::tag("plans-v3", "k2"));
        assert_ne!(a, Remote::tag("facts-v1", "k"));
        assert!(a.len() <= 128);
    }

    #[test]
    fn a_repository_with_a_tag_or_without_a_registry_is_refused() {
        let client = || Client::new(registry::Options::default()).unwrap();
        let e =
            Remote::new(client(), "127.0.0.1:5000/cache:x", Seen::default(), false).unwrap_err();
        assert!(e.to_string().contains("without a tag"), "{e}");
        let e = Remote::new(client(), "cache", Seen::default(), false).unwrap_err();
        assert!(e.to_string().contains("--cache-repo"), "{e}");
        Remote::new(
            client(),
            "127.0.0.1:5000/team/cache",
            Seen::default(),
            false,
        )
        .unwrap();
    }
}
