//! The product's cache: the Debian archive client's content-addressed blob store
//! (`<root>/sha256/<hex>`: packages, indexes, layer blobs), plus records of what the product
//! derived from those blobs (resolutions, layer facts, package facts, file lists, ELF facts).
//!
//! Each record kind has one home here with its directory and format version: bump the version
//! when what a kind holds, or the bytes it describes, change for the same key. Records are
//! written atomically and read leniently: a missing, damaged or old record is `None`, and the
//! caller rebuilds it. A record never stands in for a verified blob; blobs are re-hashed on read.
//!
//! With a shared repository (`remote`), a record the local cache lacks is looked up there, and
//! every record read or written here is stored there too (layers: by the layers module).

pub mod remote;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;

use crate::files::write_atomic;

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// A resolved plan, keyed by the recipe chain and the index hashes.
    Plan,
    /// A built layer's blob descriptor and file index, keyed by everything that shapes its bytes
    /// (the key holds `layers::FORMAT`, which moves when the bytes change for the same inputs;
    /// this directory's version moves only when the record's own format does).
    Layer,
    /// Maintainer and licenses of a package, keyed by its `.deb` hash.
    PackageFacts,
    /// A package's file list (placed paths), keyed by its `.deb` hash and merged-/usr.
    FileList,
    /// The ELF facts of one file of a package.
    ElfFacts,
    /// What `from = "auto"` found the copied programs need, keyed by their bytes, places,
    /// the extra packages and the index hashes.
    AutoNeeds,
}

impl Record {
    /// The directory under the cache root, with the format version in its name.
    pub(crate) fn dir(self) -> &'static str {
        match self {
            Record::Plan => "plans-v3",
            Record::Layer => "layers-v8",
            Record::PackageFacts => "facts-v1",
            Record::FileList => "files-v1",
            Record::ElfFacts => "elf-v2",
            Record::AutoNeeds => "auto-v2",
        }
    }
}

/// The cache directory: blobs and records.
#[derive(Debug, Clone)]
pub struct Cache {
    blobs: debian::fetch::Cache,
    remote: Option<Arc<remote::Remote>>,
    /// Blobs this process has hashed already (a matrix reads a shared layer once per image).
    verified: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl Cache {
    /// Opens (and creates) a cache directory.
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        let blobs = debian::fetch::Cache::open(root)
            .with_context(|| format!("cache directory {}", root.display()))?;
        Ok(Cache {
            blobs,
            remote: None,
            verified: Arc::default(),
        })
    }

    /// The same cache, backed by a shared repository.
    #[must_use]
    pub fn with_remote(mut self, remote: Option<Arc<remote::Remote>>) -> Self {
        self.remote = remote;
        self
    }

    /// The shared repository, if there is one.
    pub fn remote(&self) -> Option<&remote::Remote> {
        self.remote.as_deref()
    }

    /// The default cache directory: `$XDG_CACHE_HOME/distroless` or `~/.cache/distroless`.
    pub fn default_dir() -> PathBuf {
        if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
            return PathBuf::from(x).join("distroless");
        }
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
        home.join(".cache/distroless")
    }

    /// A blob of the store, hashed on its first read by this process; `None` when absent or
    /// damaged.
    pub fn verified_blob(&self, hex: &str, size: u64) -> anyhow::Result<Option<PathBuf>> {
        let lock = || {
            self.verified
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let path = self.blobs.path_of(hex);
        if lock().contains(hex) && fs_err::metadata(&path).is_ok_and(|m| m.len() == size) {
            return Ok(Some(path));
        }
        let found = self.blobs.verified(hex, size)?;
        if found.is_some() {
            lock().insert(hex.to_string());
        }
        Ok(found)
    }

    /// The content-addressed blob store the archive client fills.
    pub fn blobs(&self) -> &debian::fetch::Cache {
        &self.blobs
    }

    /// A record; `None` when absent or unreadable, so a damaged record is simply rebuilt. With
    /// a shared repository: one the local cache lacks is looked up there (and kept here), one
    /// it has is stored there when the repository lacks it.
    pub fn read<T: serde::de::DeserializeOwned>(&self, kind: Record, key: &str) -> Option<T> {
        let path = self.record_path(kind, key);
        if let Ok(bytes) = fs_err::read(&path)
            && let Ok(value) = serde_json::from_slice(&bytes)
        {
            if let Some(r) = self.shared(kind) {
                r.share_record(kind.dir(), key, &bytes);
            }
            return Some(value);
        }
        let remote = self.shared(kind)?;
        let Some(bytes) = remote.record(kind.dir(), key) else {
            remote.counted(false);
            return None;
        };
        let Ok(value) = serde_json::from_slice(&bytes) else {
            // A damaged entry: rebuilt here, and the fresh record replaces it there.
            remote.replace(kind.dir(), key);
            remote.counted(false);
            return None;
        };
        remote.counted(true);
        // Kept locally for the next run; a failure to keep it only costs the lookup again.
        let _ = write_atomic(&path, &bytes);
        Some(value)
    }

    /// A record read was not what it should be: it is rebuilt, and the shared repository's
    /// copy is replaced by the rebuilt one.
    pub fn distrust(&self, kind: Record, key: &str) {
        if let Some(r) = self.shared(kind) {
            r.replace(kind.dir(), key);
        }
    }

    /// Stores a record atomically.
    pub fn write<T: serde::Serialize>(
        &self,
        kind: Record,
        key: &str,
        value: &T,
    ) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec(value)?;
        write_atomic(&self.record_path(kind, key), &bytes)?;
        if let Some(r) = self.shared(kind) {
            r.share_record(kind.dir(), key, &bytes);
        }
        Ok(())
    }

    /// The shared repository for records of this kind: package facts only (checked for size
    /// and characters when read). Plans, file lists, ELF facts and what `auto` found decide
    /// which packages and files go in and where they are fetched from; nothing short of
    /// resolving again from the signed indexes could check one taken from a shared
    /// repository, so each runner makes its own. Layers are stored there too, as blobs (the
    /// layers module stores and reads them).
    fn shared(&self, kind: Record) -> Option<&remote::Remote> {
        self.remote
            .as_deref()
            .filter(|_| kind == Record::PackageFacts)
    }

    fn record_path(&self, kind: Record, key: &str) -> PathBuf {
        self.blobs
            .root()
            .join(kind.dir())
            .join(format!("{key}.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_damage_reads_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        cache.write(Record::Plan, "k", &vec![1, 2, 3]).unwrap();
        assert_eq!(
            cache.read::<Vec<u32>>(Record::Plan, "k"),
            Some(vec![1, 2, 3])
        );
        assert_eq!(cache.read::<Vec<u32>>(Record::Layer, "k"), None);
        fs_err::write(cache.record_path(Record::Plan, "k"), b"{broken").unwrap();
        assert_eq!(cache.read::<Vec<u32>>(Record::Plan, "k"), None);
    }
}
