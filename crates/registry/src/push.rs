//! Pushing an image we have on disk (OCI layout, oci-archive, docker-archive) to a registry.
//!
//! Order makes a failed push harmless: blobs first (each skipped when the registry has it, or
//! mounted from another repository of the same registry where we saw it), then manifests and
//! the index by digest, and tags last, so no tag ever names an incomplete image. Blobs stream
//! from disk through a digest check, several at once; an upload whose final `PUT` fails is
//! started again from a fresh session rather than resent into a half-written one.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::Ordering;

use oci::digest::Digest;
use oci::read::{BlobRef, ForeignImage};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use serde::Serialize;

use crate::client::{Client, explain};
use crate::error::{Error, Result};
use crate::reference::Reference;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

mod upload;

pub use upload::push_file;
use upload::upload_all;

/// What a push did, per reference.
#[derive(Debug, Clone, Serialize)]
pub struct Pushed {
    pub reference: String,
    pub digest: String,
    pub media_type: String,
}

/// A JSON document to put under a digest (and maybe tags).
struct Doc {
    media_type: String,
    bytes: Vec<u8>,
    digest: Digest,
}

impl Doc {
    fn new(media_type: &str, bytes: Vec<u8>) -> Self {
        let digest = Digest::sha256_of(&bytes);
        Doc {
            media_type: media_type.to_string(),
            bytes,
            digest,
        }
    }
}

/// Where blobs were seen, so a push to another repository of the same registry can mount them
/// instead of sending them again. Kept in memory for a run, and (with a directory) across runs,
/// as skopeo's blob-info cache does: one small file per registry and blob naming a repository.
/// A wrong entry costs only a refused mount, which falls back to an upload.
#[derive(Default)]
pub struct Seen {
    places: Mutex<HashMap<(String, String), String>>,
    dir: Option<std::path::PathBuf>,
}

impl Seen {
    /// Remembers across runs in `dir`.
    pub fn persistent(dir: &std::path::Path) -> Self {
        Seen {
            places: Mutex::default(),
            dir: Some(dir.to_path_buf()),
        }
    }

    fn file(&self, r: &Reference, digest: &Digest) -> Option<std::path::PathBuf> {
        let host: String = r
            .registry
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.dir.as_ref().map(|d| d.join(host).join(digest.hex()))
    }

    /// Remembers that the repository `r` names holds a blob.
    pub fn note(&self, r: &Reference, digest: &Digest) {
        self.places
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                (r.registry.clone(), digest.to_string()),
                r.repository.clone(),
            );
        if let Some(f) = self.file(r, digest) {
            // Best effort: a hint, not a record anything depends on.
            let _ = f.parent().map(fs_err::create_dir_all);
            let _ = fs_err::write(f, &r.repository);
        }
    }

    fn elsewhere(&self, r: &Reference, digest: &Digest) -> Option<String> {
        let known = self
            .places
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(r.registry.clone(), digest.to_string()))
            .cloned();
        let repo = known.or_else(|| {
            let text = fs_err::read_to_string(self.file(r, digest)?).ok()?;
            crate::Reference::parse(&format!("{}/{}", r.registry, text.trim()))
                .ok()
                .map(|p| p.repository)
        })?;
        (repo != r.repository).then_some(repo)
    }
}

/// The media type a manifest's bytes declare (or an OCI manifest's when they do not).
fn media_type_of(bytes: &[u8], fallback: &str) -> String {
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(str::to_string))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| fallback.to_string())
}

/// Pushes `image` to every reference (each gets the image's top manifest or index under its
/// tag); with `arch_tags`, each platform's manifest is also tagged `TAG-ARCH`.
pub fn push(
    client: &Client,
    seen: &Seen,
    image: &ForeignImage,
    refs: &[Reference],
    arch_tags: bool,
) -> Result<Vec<Pushed>> {
    let outgoing = Outgoing::new(client, image)?;
    let mut out = Vec::new();
    // One pass of blobs and manifests per repository; then each reference's tags.
    let mut repos: BTreeMap<(String, String), Vec<&Reference>> = BTreeMap::new();
    for r in refs {
        repos
            .entry((r.registry.clone(), r.repository.clone()))
            .or_default()
            .push(r);
    }
    for targets in repos.values() {
        if !arch_tags && outgoing.all_current(client, targets)? {
            // Every tag names this image already: nothing to send.
            out.extend(outgoing.as_they_are(targets));
            continue;
        }
        outgoing.send_content(client, seen, targets[0])?;
        out.extend(outgoing.put_tags(client, targets, arch_tags)?);
    }
    Ok(out)
}

/// An image on its way to a registry, in the push's three steps, so a caller pushing many
/// images can order them across the images (every image's content, then every tag): whether
/// its tags are current, its blobs and manifests under their digests, its tags.
pub struct Outgoing<'a> {
    image: &'a ForeignImage,
    manifests: Vec<(Doc, &'a oci::read::ForeignManifest)>,
    /// Indexes the top index names, innermost first.
    nested: Vec<Doc>,
    index: Option<Doc>,
}

impl<'a> Outgoing<'a> {
    /// The image's documents as they will be sent; refused over the client's size cap.
    pub fn new(client: &Client, image: &'a ForeignImage) -> Result<Self> {
        let total: u64 = image
            .manifests
            .iter()
            .flat_map(|m| m.layers.iter().chain(std::iter::once(&m.config_blob)))
            .map(|b| b.size)
            .sum();
        if total > client.options.max_bytes {
            return Err(Error::registry(
                image.name(),
                format!(
                    "the image has {total} bytes of blobs, over the {}-byte cap (--max-image-bytes)",
                    client.options.max_bytes
                ),
            ));
        }
        let (manifests, nested, index) = documents(image)?;
        Ok(Outgoing {
            image,
            manifests,
            nested,
            index,
        })
    }

    /// The top manifest or index: what the tags name.
    fn top(&self) -> &Doc {
        self.index.as_ref().unwrap_or(&self.manifests[0].0)
    }

    /// Whether every reference's tag names this image already (one `HEAD` each).
    pub fn all_current(&self, client: &Client, targets: &[&Reference]) -> Result<bool> {
        all_current(client, targets, self.top())
    }

    /// The references as they already are: each tag naming the image.
    pub fn as_they_are(&self, targets: &[&Reference]) -> Vec<Pushed> {
        let top = self.top();
        targets
            .iter()
            .map(|r| Pushed {
                reference: r.with_tag(r.tag_or_latest()).to_string(),
                digest: top.digest.to_string(),
                media_type: top.media_type.clone(),
            })
            .collect()
    }

    /// Blobs, then manifests and the index under their digests, each only if the registry
    /// lacks it. No tag is made.
    pub fn send_content(&self, client: &Client, seen: &Seen, r: &Reference) -> Result<()> {
        let blobs: Vec<&BlobRef> = (self.image.manifests.iter())
            .flat_map(|m| m.layers.iter().chain(std::iter::once(&m.config_blob)))
            .collect();
        upload_all(client, seen, self.image, r, &blobs)?;
        for doc in self
            .manifests
            .iter()
            .map(|(d, _)| d)
            .chain(&self.nested)
            .chain(self.index.as_ref())
        {
            if !has_manifest(client, r, doc)? {
                put_manifest(client, r, &doc.digest.to_string(), doc)?;
            }
        }
        Ok(())
    }

    /// Each reference's tag (checked against the image's digest when it names one) and, with
    /// `arch_tags`, `TAG-ARCH` for each platform's manifest. The content must be there.
    pub fn put_tags(
        &self,
        client: &Client,
        targets: &[&Reference],
        arch_tags: bool,
    ) -> Result<Vec<Pushed>> {
        let top = self.top();
        let mut out = Vec::new();
        for r in targets {
            let tag = r.tag_or_latest();
            if let Some(d) = &r.digest
                && *d != top.digest
            {
                return Err(Error::registry(
                    r,
                    format!(
                        "the image's digest is {}, not the one the reference names",
                        top.digest
                    ),
                ));
            }
            if r.digest.is_some() && r.tag.is_none() {
                // Pushed by digest: no tag is made.
                out.push(Pushed {
                    reference: r.to_string(),
                    digest: top.digest.to_string(),
                    media_type: top.media_type.clone(),
                });
                continue;
            }
            put_manifest(client, r, tag, top)?;
            out.push(Pushed {
                reference: r.with_tag(tag).to_string(),
                digest: top.digest.to_string(),
                media_type: top.media_type.clone(),
            });
            if arch_tags {
                for (doc, m) in &self.manifests {
                    let Some(arch) = m.platform.as_ref().and_then(|p| p["architecture"].as_str())
                    else {
                        continue;
                    };
                    let t = format!("{tag}-{arch}");
                    put_manifest(client, r, &t, doc)?;
                    out.push(Pushed {
                        reference: r.with_tag(&t).to_string(),
                        digest: doc.digest.to_string(),
                        media_type: doc.media_type.clone(),
                    });
                }
            }
        }
        Ok(out)
    }
}

/// The image's manifests as their bytes (as stored, or made for a docker-archive), each with
/// its source; and the index, if the image has one.
#[allow(clippy::type_complexity)]
/// A manifest document and what it came from.
type ManifestDoc<'a> = (Doc, &'a oci::read::ForeignManifest);

fn documents(image: &ForeignImage) -> Result<(Vec<ManifestDoc<'_>>, Vec<Doc>, Option<Doc>)> {
    let mut manifests = Vec::new();
    let mut nested = Vec::new();
    for m in &image.manifests {
        let bytes = match &m.manifest_blob {
            Some(b) => image.read_blob(b)?,
            None => oci::image::canonical_json(&m.manifest)?,
        };
        let fallback = m
            .manifest_blob
            .as_ref()
            .map_or(OCI_MANIFEST, |b| b.media_type.as_str());
        let media = media_type_of(
            &bytes,
            if fallback.is_empty() {
                OCI_MANIFEST
            } else {
                fallback
            },
        );
        manifests.push((Doc::new(&media, bytes), m));
    }
    let index = match &image.index_blob {
        Some(b) => {
            let bytes = image.read_blob(b)?;
            Some(Doc::new(&media_type_of(&bytes, &b.media_type), bytes))
        }
        None => None,
    };
    // Indexes the top one names, innermost first: each is sent before what names it.
    for b in &image.nested_indexes {
        let bytes = image.read_blob(b)?;
        nested.push(Doc::new(&media_type_of(&bytes, &b.media_type), bytes));
    }
    Ok((manifests, nested, index))
}

/// Whether every reference's tag already names this document (`HEAD` on each tag).
fn all_current(client: &Client, targets: &[&Reference], top: &Doc) -> Result<bool> {
    for r in targets {
        if r.digest.as_ref().is_some_and(|d| *d != top.digest) {
            return Ok(false);
        }
        let scopes = [format!("repository:{}:pull,push", r.repository)];
        let url = client.url(r, &format!("manifests/{}", r.tag_or_latest()));
        let resp = client.send(r, &scopes, || {
            Ok(client
                .http()
                .head(&url)
                .header(reqwest::header::ACCEPT, &top.media_type))
        })?;
        let current = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            == Some(top.digest.to_string().as_str());
        if !resp.status().is_success() || !current {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether the registry has a manifest under its digest already (`HEAD`).
fn has_manifest(client: &Client, r: &Reference, doc: &Doc) -> Result<bool> {
    let scopes = [format!("repository:{}:pull,push", r.repository)];
    let url = client.url(r, &format!("manifests/{}", doc.digest));
    let resp = client.send(r, &scopes, || {
        Ok(client
            .http()
            .head(&url)
            .header(reqwest::header::ACCEPT, &doc.media_type))
    })?;
    Ok(resp.status().is_success())
}

/// `PUT /manifests/KEY` (a digest or a tag).
/// Puts a manifest; true when the registry says (`OCI-Subject`) it indexed the manifest's
/// subject for the referrers API.
fn put_manifest(client: &Client, r: &Reference, key: &str, doc: &Doc) -> Result<bool> {
    let scopes = [format!("repository:{}:pull,push", r.repository)];
    let url = client.url(r, &format!("manifests/{key}"));
    let resp = client.send(r, &scopes, || {
        Ok(client
            .http()
            .put(&url)
            .header(CONTENT_TYPE, &doc.media_type)
            .body(doc.bytes.clone()))
    })?;
    if resp.status() != StatusCode::CREATED && !resp.status().is_success() {
        return Err(explain(r, resp, &format!("putting manifest {key}")));
    }
    client
        .counters
        .bytes_sent
        .fetch_add(doc.bytes.len() as u64, Ordering::Relaxed);
    Ok(resp.headers().contains_key("oci-subject"))
}

/// Pushes a small artifact held in memory (a signature, an attestation): its blobs, its config
/// and its manifest under `tag`. Returns the manifest's digest.
pub fn push_artifact(
    client: &Client,
    r: &Reference,
    blobs: &[Vec<u8>],
    manifest: &[u8],
    media_type: &str,
    tag: &str,
) -> Result<String> {
    let doc = Doc::new(media_type, manifest.to_vec());
    push_small(client, r, blobs, &doc, tag)?;
    Ok(doc.digest.to_string())
}

/// Pushes an artifact manifest with a `subject` under its digest; true when the registry
/// indexed it for the referrers API (else the caller keeps the referrers tag up to date).
pub(crate) fn push_subject_artifact(
    client: &Client,
    r: &Reference,
    blobs: &[Vec<u8>],
    manifest: &[u8],
) -> Result<(Digest, bool)> {
    let doc = Doc::new(OCI_MANIFEST, manifest.to_vec());
    let indexed = push_small(client, r, blobs, &doc, &doc.digest.to_string())?;
    Ok((doc.digest, indexed))
}

/// Small in-memory blobs (skipped when present), then the manifest under `key`.
fn push_small(
    client: &Client,
    r: &Reference,
    blobs: &[Vec<u8>],
    doc: &Doc,
    key: &str,
) -> Result<bool> {
    let scopes = [format!("repository:{}:pull,push", r.repository)];
    for bytes in blobs {
        let digest = Digest::sha256_of(bytes).to_string();
        let head_url = client.url(r, &format!("blobs/{digest}"));
        if client
            .send(r, &scopes, || Ok(client.http().head(&head_url)))?
            .status()
            .is_success()
        {
            continue;
        }
        let start = client.url(r, "blobs/uploads/");
        let resp = client.send(r, &scopes, || {
            Ok(client.http().post(&start).header(CONTENT_LENGTH, 0))
        })?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(explain(r, resp, "starting an upload"));
        }
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::registry(r, "the registry started an upload without a Location"))?
            .to_string();
        let base =
            url::Url::parse(&client.base(r)).map_err(|e| Error::registry(r, e.to_string()))?;
        let mut put = base
            .join(&location)
            .map_err(|_| Error::registry(r, "the upload Location is not a URL"))?;
        put.query_pairs_mut().append_pair("digest", &digest);
        let put = put.to_string();
        let resp = client.send_tries(r, &scopes, 1, || {
            Ok(client
                .http()
                .put(&put)
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(bytes.clone()))
        })?;
        if resp.status() != StatusCode::CREATED {
            return Err(explain(r, resp, &format!("uploading {digest}")));
        }
    }
    put_manifest(client, r, key, doc)
}
