//! Images on disk sent to registries: every blob once per registry (where a blob was seen is
//! remembered in the cache, so a blob pushed to one repository is mounted into the next, across
//! runs), and the signatures and attestations a layout holds carried along as referrers.

use std::path::Path;

use anyhow::Context;
use oci::digest::Digest;
use oci::read::ForeignImage;
use registry::push::{Pushed, Seen};
use registry::{Client, Reference};

use crate::attest::verify::{LayoutStore, Store};

/// Signature and attestation artifacts: (blobs, manifest) each.
pub type Artifacts = Vec<(Vec<Vec<u8>>, Vec<u8>)>;

/// At most this much of a layout's referrers is read (they are small JSON documents).
const REFERRERS_LIMIT: u64 = 256 << 20;

/// Where blobs were seen in registries, kept in the cache.
pub fn seen(cache: &Path) -> Seen {
    Seen::persistent(&cache.join("registry-blobs-v1"))
}

/// Pushes an image to every reference.
pub fn push_image(
    client: &Client,
    image: &ForeignImage,
    refs: &[Reference],
    arch_tags: bool,
    cache: &Path,
) -> anyhow::Result<Vec<Pushed>> {
    Ok(registry::push::push(
        client,
        &seen(cache),
        image,
        refs,
        arch_tags,
    )?)
}

/// The referrers an OCI layout holds for `image` (signatures and attestations `--sign` wrote
/// into it), read whole and digest-checked before anything is sent: a damaged one stops a
/// push before any tag names the image.
pub fn layout_referrers(dir: &Path, image: &ForeignImage) -> anyhow::Result<Artifacts> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let store = LayoutStore { dir };
    let subjects = image
        .index_blob
        .iter()
        .chain((image.manifests.iter()).filter_map(|m| m.manifest_blob.as_ref()));
    let mut artifacts = Vec::new();
    let mut total = 0u64;
    for s in subjects {
        for d in store.referrers(&s.digest)? {
            let digest: Digest = (d["digest"].as_str())
                .and_then(|x| x.parse().ok())
                .context("index.json: a referrer without a digest")?;
            artifacts.push(referrer(&store, &digest, &mut total)?);
        }
    }
    Ok(artifacts)
}

/// One referrer's manifest and blobs, each blob read once.
fn referrer(
    store: &LayoutStore<'_>,
    digest: &Digest,
    total: &mut u64,
) -> anyhow::Result<(Vec<Vec<u8>>, Vec<u8>)> {
    let manifest = store
        .manifest(&digest.to_string())?
        .with_context(|| format!("referrer {digest}: its manifest is missing"))?;
    let doc: serde_json::Value = serde_json::from_slice(&manifest)
        .with_context(|| format!("referrer {digest}: not JSON"))?;
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    let parts =
        std::iter::once(&doc["config"]).chain(doc["layers"].as_array().into_iter().flatten());
    for b in parts {
        let bd: Digest = (b["digest"].as_str())
            .and_then(|x| x.parse().ok())
            .with_context(|| format!("referrer {digest}: a blob without a digest"))?;
        if blobs.iter().any(|x| Digest::sha256_of(x) == bd) {
            continue;
        }
        let bytes = store.blob(&bd, REFERRERS_LIMIT - *total)?;
        *total += bytes.len() as u64;
        blobs.push(bytes);
    }
    Ok((blobs, manifest))
}

/// Pushes a layout's referrers to every reference's repository. Returns how many.
pub fn carry_referrers(
    client: &Client,
    artifacts: &Artifacts,
    refs: &[Reference],
) -> anyhow::Result<usize> {
    for r in repositories(refs) {
        for (blobs, manifest) in artifacts {
            registry::referrers::push(client, r, blobs, manifest)?;
        }
    }
    Ok(artifacts.len())
}

/// References, one per repository (signatures live beside the image in its repository,
/// whatever its tags).
pub fn repositories(refs: &[Reference]) -> Vec<&Reference> {
    let mut out: Vec<&Reference> = Vec::new();
    for r in refs {
        if !(out.iter()).any(|x| x.registry == r.registry && x.repository == r.repository) {
            out.push(r);
        }
    }
    out
}

/// The references an image built with `tags` is pushed to: each target as given, or, when it
/// names no tag or digest, once per tag.
pub fn targets_for_tags(targets: &[Reference], tags: &[String]) -> Vec<Reference> {
    targets
        .iter()
        .flat_map(|r| match (&r.tag, &r.digest) {
            (None, None) => tags.iter().map(|t| r.with_tag(t)).collect(),
            _ => vec![r.clone()],
        })
        .collect()
}

/// What a client sent, for reports.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Sent {
    pub requests: u64,
    pub bytes_sent: u64,
    pub blobs_sent: u64,
    pub blobs_mounted: u64,
    pub blobs_skipped: u64,
    pub bytes_received: u64,
}

impl Sent {
    /// The client's counters now.
    pub fn of(client: &Client) -> Self {
        let c = &client.counters;
        let n = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        Sent {
            requests: n(&c.requests),
            bytes_sent: n(&c.bytes_sent),
            blobs_sent: n(&c.blobs_sent),
            blobs_mounted: n(&c.blobs_mounted),
            blobs_skipped: n(&c.blobs_skipped),
            bytes_received: n(&c.bytes_received),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> Reference {
        Reference::parse(text).unwrap()
    }

    #[test]
    fn one_reference_per_repository() {
        let refs = [
            r("127.0.0.1:5000/a/b:1"),
            r("127.0.0.1:5000/a/b:2"),
            r("127.0.0.1:5000/a/c:1"),
            r("127.0.0.1:5001/a/b:1"),
        ];
        let shown: Vec<String> = repositories(&refs)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            shown,
            [
                "127.0.0.1:5000/a/b:1",
                "127.0.0.1:5000/a/c:1",
                "127.0.0.1:5001/a/b:1"
            ]
        );
    }

    #[test]
    fn a_reference_without_a_tag_takes_every_tag_of_the_build() {
        let tags = ["1.0".to_string(), "latest".to_string()];
        let out = targets_for_tags(
            &[r("127.0.0.1:5000/app"), r("127.0.0.1:5000/x:pinned")],
            &tags,
        );
        let shown: Vec<String> = out.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "127.0.0.1:5000/app:1.0",
                "127.0.0.1:5000/app:latest",
                "127.0.0.1:5000/x:pinned"
            ]
        );
    }
}
