//! The `.deb` files a plan needs, fetched (and hash-checked) only when first needed: a warm
//! build whose layers and SBOM facts are all cached reads no package at all.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::Context;
use debian::index::Package;

use crate::plan::Source;

/// Fetching the image's packages failed. Kept apart from the layer being built when it
/// happened: the first layer to need a package fetches them all, so its name would mislead.
#[derive(Debug, thiserror::Error)]
#[error("fetching the image's packages: {0:#}")]
pub struct FetchFailed(anyhow::Error);

/// The packages one image may read, fetched together on first use.
pub struct Debs<'a> {
    source: &'a Source<'a>,
    wanted: Vec<&'a Package>,
    /// Added to a "not found" error: why a file may have vanished (locked builds).
    vanished_hint: Option<String>,
    fetched: OnceLock<BTreeMap<String, PathBuf>>,
}

impl<'a> Debs<'a> {
    /// The packages an image may need. Every record is checked now (its pool path and
    /// digest), not when a `.deb` is first read: a build whose layers all come from the cache
    /// reads none, yet records the URLs in its provenance.
    pub fn new(
        source: &'a Source<'a>,
        wanted: Vec<&'a Package>,
        vanished_hint: Option<String>,
    ) -> anyhow::Result<Self> {
        for p in &wanted {
            debian::archive::check_pool_entry(p)?;
        }
        Ok(Debs {
            source,
            wanted,
            vanished_hint,
            fetched: OnceLock::new(),
        })
    }

    /// The cached `.deb` of a package; the first call fetches every wanted package in parallel.
    pub fn path(&self, p: &Package) -> anyhow::Result<PathBuf> {
        if self.fetched.get().is_none() {
            let map = self.source.archive.fetch(&self.wanted).map_err(|e| {
                let vanished = matches!(e, debian::Error::NotFound { .. });
                let e = match &self.vanished_hint {
                    Some(hint) if vanished => anyhow::Error::new(e).context(hint.clone()),
                    _ => anyhow::Error::new(e),
                };
                FetchFailed(e)
            })?;
            let _ = self.fetched.set(map);
        }
        self.fetched
            .get()
            .and_then(|m| m.get(&p.sha256))
            .cloned()
            .with_context(|| format!("{} {} is not among the image's packages", p.name, p.version))
    }
}
