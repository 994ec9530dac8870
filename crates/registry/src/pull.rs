//! Pulling an image from a registry into a layout being written: the manifest (or index) by
//! tag or digest, checked against the digest the reference names and the one the registry
//! states; every manifest, config and layer streamed through a digest check into the layout.
//! Nothing unverified lands on disk, and what lands is the registry's bytes exactly.

use std::io::Read;
use std::sync::atomic::Ordering;

use oci::digest::Digest;
use oci::layout::LayoutWriter;
use reqwest::header::ACCEPT;
use serde_json::Value;

use crate::client::{Client, error_chain, explain, read_capped};
use crate::error::{Error, Result};
use crate::reference::Reference;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The largest manifest or index we read.
const MAX_MANIFEST: u64 = 4 << 20;
/// Every manifest media type we read, for `Accept`.
pub(crate) const ACCEPTED: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];
/// The largest image config we take (as for images read from disk).
const MAX_CONFIG: u64 = oci::read::MAX_CONFIG;
/// The layer media types an image we pull may use (as for images read from disk).
const LAYER_TYPES: [&str; 5] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
];

/// An OCI platform as `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformFilter {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl PlatformFilter {
    /// Parses `linux/arm64`, `linux/arm/v7`.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('/');
        let os = parts.next().filter(|s| !s.is_empty())?;
        let architecture = parts.next().filter(|s| !s.is_empty())?;
        let variant = parts.next().map(str::to_string);
        parts.next().is_none().then(|| PlatformFilter {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant,
        })
    }

    fn matches(&self, p: &Value) -> bool {
        p["os"] == self.os.as_str()
            && p["architecture"] == self.architecture.as_str()
            && self
                .variant
                .as_ref()
                .is_none_or(|v| p["variant"] == v.as_str())
    }
}

/// One platform's image as pulled.
#[derive(Debug, Clone)]
pub struct PulledManifest {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub platform: Option<Value>,
    pub config: Digest,
    pub layers: Vec<Digest>,
}

/// What a pull wrote into the layout.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The top object: an index, or one manifest.
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    /// Its platform, when one platform was picked out of an index.
    pub platform: Option<Value>,
    pub manifests: Vec<PulledManifest>,
}

/// The manifest or index a reference names, as bytes, checked; and its media type.
pub fn manifest(client: &Client, r: &Reference, key: &str) -> Result<(Vec<u8>, String, Digest)> {
    // A body that breaks off is fetched again, like any failed request.
    client.again_on_network(r, || manifest_once(client, r, key))
}

fn manifest_once(client: &Client, r: &Reference, key: &str) -> Result<(Vec<u8>, String, Digest)> {
    let scopes = [format!("repository:{}:pull", r.repository)];
    let url = client.url(r, &format!("manifests/{key}"));
    let accept = ACCEPTED.join(", ");
    let resp = client.send(r, &scopes, || {
        Ok(client.http().get(&url).header(ACCEPT, &accept))
    })?;
    if !resp.status().is_success() {
        return Err(explain(r, resp, &format!("fetching manifest {key}")));
    }
    let stated = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let bytes = read_capped(r, resp, MAX_MANIFEST)?;
    client
        .counters
        .bytes_received
        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    let digest = Digest::sha256_of(&bytes);
    if let Ok(expected) = key.parse::<Digest>()
        && expected != digest
    {
        return Err(Error::registry(
            r,
            format!("the registry sent a manifest whose digest is {digest}, not {expected}"),
        ));
    }
    if let Some(s) = stated
        && s.starts_with("sha256:")
        && s != digest.to_string()
    {
        return Err(Error::registry(
            r,
            format!(
                "the manifest's digest is {digest}, but the registry says {}",
                oci::digest::shown(&s)
            ),
        ));
    }
    let json: Value = serde_json::from_slice(&bytes).map_err(|_| {
        Error::registry(
            r,
            if bytes.trim_ascii_start().starts_with(b"<") {
                "the server answered an HTML page, not a manifest"
            } else {
                "the manifest is not JSON"
            },
        )
    })?;
    let media = json["mediaType"]
        .as_str()
        .filter(|m| !m.is_empty())
        .map_or(content_type, str::to_string);
    if ![OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].contains(&media.as_str()) {
        return Err(Error::registry(
            r,
            format!(
                "unsupported manifest media type {}",
                oci::digest::shown(&media)
            ),
        ));
    }
    Ok((bytes, media, digest))
}

/// The digest a tag points at now (`HEAD`, or a `GET` when the registry will not say).
pub fn resolve(client: &Client, r: &Reference) -> Result<Digest> {
    if let Some(d) = &r.digest {
        return Ok(d.clone());
    }
    let (_, _, digest) = manifest(client, r, &r.manifest_key())?;
    Ok(digest)
}

/// Pulls the image a reference names into `layout`: every platform, or the one `platform`
/// names (then the top is that platform's manifest).
pub fn pull(
    client: &Client,
    r: &Reference,
    layout: &LayoutWriter,
    platform: Option<&PlatformFilter>,
) -> Result<Pulled> {
    let (bytes, media, digest) = manifest(client, r, &r.manifest_key())?;
    if media == OCI_MANIFEST || media == DOCKER_MANIFEST {
        let m = store_manifest(client, r, layout, &bytes, &media, None)?;
        if let Some(p) = platform {
            // One image: its config says its platform.
            let config: Value = serde_json::from_slice(&fs_err::read(layout.blob_path(&m.config))?)
                .map_err(|_| Error::registry(r, "the image config is not JSON"))?;
            if !p.matches(&config) {
                return Err(Error::registry(
                    r,
                    format!(
                        "the image is {}/{}, not the platform asked for",
                        config["os"].as_str().unwrap_or("?"),
                        config["architecture"].as_str().unwrap_or("?")
                    ),
                ));
            }
        }
        return Ok(Pulled {
            digest: m.digest.clone(),
            media_type: media,
            size: bytes.len() as u64,
            platform: None,
            manifests: vec![m],
        });
    }
    let mut manifests = Vec::new();
    let mut walk = IndexWalk {
        client,
        r,
        layout,
        platform,
        fetched: std::collections::HashSet::from([digest.clone()]),
    };
    let picked = walk.store_index(&bytes, 0, &mut manifests)?;
    if let (Some(_), Some(m)) = (platform, picked) {
        return Ok(Pulled {
            digest: m.digest.clone(),
            media_type: m.media_type.clone(),
            size: m.size,
            platform: m.platform.clone(),
            manifests: vec![m],
        });
    }
    let desc = layout.raw_blob(media.as_str().into(), &bytes)?;
    debug_assert_eq!(desc.digest().to_string(), digest.to_string());
    Ok(Pulled {
        digest,
        media_type: media,
        size: bytes.len() as u64,
        platform: None,
        manifests,
    })
}

/// The most manifests and indexes one pull fetches, at every level together.
const MAX_FETCHED: usize = oci::read::MAX_MANIFESTS;

/// A walk through an index and the indexes it names: every digest fetched once, at most
/// [`MAX_FETCHED`] in all (an index listing one manifest 64 times, three deep, had made one
/// pull send 266,305 requests).
struct IndexWalk<'a> {
    client: &'a Client,
    r: &'a Reference,
    layout: &'a LayoutWriter,
    platform: Option<&'a PlatformFilter>,
    fetched: std::collections::HashSet<Digest>,
}

impl IndexWalk<'_> {
    /// Stores what an index names (indexes inside it too, two levels at most, as the layout
    /// reader reads them): every platform, or the first manifest the platform matches, which
    /// is returned.
    fn store_index(
        &mut self,
        bytes: &[u8],
        depth: usize,
        out: &mut Vec<PulledManifest>,
    ) -> Result<Option<PulledManifest>> {
        let r = self.r;
        if depth > 2 {
            return Err(Error::registry(r, "image indexes nest more than two deep"));
        }
        let index: Value =
            serde_json::from_slice(bytes).map_err(|_| Error::registry(r, "bad index"))?;
        let entries = index["manifests"]
            .as_array()
            .ok_or_else(|| Error::registry(r, "the index lists no manifests"))?;
        let mut listed = std::collections::HashSet::new();
        for e in entries {
            let d = e["digest"]
                .as_str()
                .ok_or_else(|| Error::registry(r, "an index entry has no digest"))?;
            let digest: Digest = d.parse().map_err(|_| {
                Error::registry(
                    r,
                    format!(
                        "an index entry's digest {} is not a digest",
                        oci::digest::shown(d)
                    ),
                )
            })?;
            if !listed.insert(digest.clone()) {
                return Err(Error::registry(
                    r,
                    format!("the index lists {digest} twice"),
                ));
            }
            let is_index = matches!(e["mediaType"].as_str(), Some(OCI_INDEX | DOCKER_LIST));
            if !is_index && self.platform.is_some_and(|p| !p.matches(&e["platform"])) {
                continue;
            }
            if !self.fetched.insert(digest.clone()) {
                // Reached again by another path: a walk for one platform has seen it already;
                // a layout of every platform holds each digest once (as the reader wants).
                if self.platform.is_some() {
                    continue;
                }
                return Err(Error::registry(
                    r,
                    format!("the image names {digest} twice"),
                ));
            }
            if self.fetched.len() > MAX_FETCHED + 1 {
                return Err(Error::registry(
                    r,
                    format!("the image names more than {MAX_FETCHED} manifests and indexes"),
                ));
            }
            if let Some(found) = self.store_entry(e, d, depth, out)? {
                return Ok(Some(found));
            }
        }
        if let Some(p) = self.platform.filter(|_| depth == 0) {
            return Err(Error::registry(
                r,
                format!(
                    "no manifest for platform {}/{}{}",
                    p.os,
                    p.architecture,
                    p.variant
                        .as_ref()
                        .map(|v| format!("/{v}"))
                        .unwrap_or_default()
                ),
            ));
        }
        Ok(None)
    }

    /// Fetches and stores one entry of an index; the manifest when it is the platform's.
    fn store_entry(
        &mut self,
        e: &Value,
        d: &str,
        depth: usize,
        out: &mut Vec<PulledManifest>,
    ) -> Result<Option<PulledManifest>> {
        let (client, r, layout) = (self.client, self.r, self.layout);
        let (entry_bytes, entry_media, _) = manifest(client, r, d)?;
        // The index's descriptor must describe what came: a layout written from it is read
        // by tools that trust those fields.
        let said_media = e["mediaType"].as_str().unwrap_or(entry_media.as_str());
        if e["size"].as_u64() != Some(entry_bytes.len() as u64) || said_media != entry_media {
            return Err(Error::registry(
                r,
                format!("the index describes {d} wrongly (size or media type)"),
            ));
        }
        if entry_media == OCI_INDEX || entry_media == DOCKER_LIST {
            let found = self.store_index(&entry_bytes, depth + 1, out)?;
            if found.is_some() {
                return Ok(found);
            }
            layout.raw_blob(entry_media.as_str().into(), &entry_bytes)?;
            return Ok(None);
        }
        let m = store_manifest(
            client,
            r,
            layout,
            &entry_bytes,
            &entry_media,
            e.get("platform").cloned(),
        )?;
        if self.platform.is_some() {
            return Ok(Some(m));
        }
        out.push(m);
        Ok(None)
    }
}

/// Fetches a manifest's config and layers, then stores the manifest itself.
fn store_manifest(
    client: &Client,
    r: &Reference,
    layout: &LayoutWriter,
    bytes: &[u8],
    media: &str,
    platform: Option<Value>,
) -> Result<PulledManifest> {
    let m: Value = serde_json::from_slice(bytes).map_err(|_| Error::registry(r, "bad manifest"))?;
    let blob = |v: &Value| -> Result<(Digest, u64)> {
        let d: Digest = v["digest"]
            .as_str()
            .ok_or_else(|| Error::registry(r, "a descriptor has no digest"))?
            .parse()?;
        let size = v["size"]
            .as_u64()
            .ok_or_else(|| Error::registry(r, "a descriptor has no size"))?;
        Ok((d, size))
    };
    let config = blob(&m["config"])?;
    if config.1 > MAX_CONFIG {
        return Err(Error::registry(
            r,
            format!(
                "the image config is {} bytes, over the {MAX_CONFIG}-byte limit",
                config.1
            ),
        ));
    }
    for l in m["layers"].as_array().into_iter().flatten() {
        let media = l["mediaType"].as_str().unwrap_or("");
        if !LAYER_TYPES.contains(&media) {
            return Err(Error::registry(
                r,
                format!("unsupported layer media type {}", oci::digest::shown(media)),
            ));
        }
    }
    let layers = m["layers"]
        .as_array()
        .ok_or_else(|| Error::registry(r, "the manifest lists no layers"))?
        .iter()
        .map(blob)
        .collect::<Result<Vec<_>>>()?;
    let total: u64 = layers.iter().map(|(_, s)| s).sum::<u64>() + config.1;
    if total > client.options.max_bytes {
        return Err(Error::registry(
            r,
            format!(
                "the image has {total} bytes of blobs, over the {}-byte cap (--max-image-bytes)",
                client.options.max_bytes
            ),
        ));
    }
    let mut all = vec![config.clone()];
    all.extend(layers.iter().cloned());
    fetch_all(client, r, layout, all)?;
    let desc = layout.raw_blob(media.into(), bytes)?;
    Ok(PulledManifest {
        digest: desc.digest().to_string().parse()?,
        media_type: media.to_string(),
        size: bytes.len() as u64,
        platform,
        config: config.0,
        layers: layers.into_iter().map(|(d, _)| d).collect(),
    })
}

/// Fetches blobs, `jobs` at a time.
fn fetch_all(
    client: &Client,
    r: &Reference,
    layout: &LayoutWriter,
    blobs: Vec<(Digest, u64)>,
) -> Result<()> {
    crate::client::bounded(client.options.jobs, blobs, |(d, size)| {
        fetch_blob(client, r, layout, &d, size)
    })
}

/// One blob, streamed through a digest check into the layout (nothing when the layout has it);
/// a body that breaks off is fetched again.
pub fn fetch_blob(
    client: &Client,
    r: &Reference,
    layout: &LayoutWriter,
    d: &Digest,
    size: u64,
) -> Result<()> {
    if layout.blob_path(d).exists() {
        return Ok(());
    }
    let scopes = [format!("repository:{}:pull", r.repository)];
    let url = client.url(r, &format!("blobs/{d}"));
    let mut last = String::new();
    for _ in 0..client.options.attempts.max(1) {
        let resp = client.send(r, &scopes, || Ok(client.http().get(&url)))?;
        if !resp.status().is_success() {
            return Err(explain(r, resp, &format!("fetching blob {d}")));
        }
        let mut counted = Counting {
            inner: resp,
            client,
        };
        match layout.import_verified(d, size, &mut counted, &format!("{r}: blob {d}")) {
            Ok(()) => return Ok(()),
            Err(e) => {
                let text = error_chain(&e);
                // A wrong digest is the registry's answer, not an accident of the network.
                if text.contains("digest mismatch") {
                    return Err(e.into());
                }
                last = text;
            }
        }
    }
    Err(Error::Network {
        reference: r.to_string(),
        message: format!("blob {d}: {last}"),
    })
}

/// Counts the bytes received.
struct Counting<'a, R> {
    inner: R,
    client: &'a Client,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.client
            .counters
            .bytes_received
            .fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_match() {
        let p = PlatformFilter::parse("linux/arm/v7").unwrap();
        assert!(
            p.matches(&serde_json::json!({"os": "linux", "architecture": "arm", "variant": "v7"}))
        );
        assert!(
            !p.matches(&serde_json::json!({"os": "linux", "architecture": "arm", "variant": "v6"}))
        );
        let q = PlatformFilter::parse("linux/amd64").unwrap();
        assert!(q.matches(&serde_json::json!({"os": "linux", "architecture": "amd64"})));
        assert!(PlatformFilter::parse("linux").is_none());
        assert!(PlatformFilter::parse("a/b/c/d").is_none());
    }
}
