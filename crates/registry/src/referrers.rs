//! OCI 1.1 referrers: artifacts (signatures, attestations) whose manifest names an image as
//! its `subject`. Registries with the referrers API index them themselves; for the others the
//! client keeps the referrers tag schema's index (`sha256-<hex>` in the same repository) up to
//! date, as the distribution spec's fallback says. Reading asks the API first and falls back
//! to that tag.

use oci::digest::Digest;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{Value, json};

use crate::client::{Client, explain, read_capped};
use crate::error::{Error, Result};
use crate::reference::Reference;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Referrer lists and artifact manifests are small; anything larger is refused.
const MAX_DOC: u64 = 4 << 20;

/// The referrers tag schema's tag for `subject`.
pub fn fallback_tag(subject: &Digest) -> String {
    format!("{}-{}", subject.algorithm().name(), subject.hex())
}

/// Pushes an artifact (its blobs and its manifest, which names a `subject`) and makes it
/// findable: through the registry's own referrers index when it has one, else by adding it to
/// the fallback tag's index. Returns the artifact manifest's digest.
pub fn push(client: &Client, r: &Reference, blobs: &[Vec<u8>], manifest: &[u8]) -> Result<Digest> {
    let doc: Value = serde_json::from_slice(manifest)
        .map_err(|e| Error::registry(r, format!("an artifact manifest that is not JSON: {e}")))?;
    let subject: Digest = doc["subject"]["digest"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| Error::registry(r, "an artifact manifest without a subject"))?;
    let (digest, indexed) = crate::push::push_subject_artifact(client, r, blobs, manifest)?;
    if !indexed {
        let mut entry = json!({
            "mediaType": doc["mediaType"],
            "digest": digest.to_string(),
            "size": manifest.len(),
        });
        for key in ["artifactType", "annotations"] {
            if !doc[key].is_null() {
                entry[key] = doc[key].clone();
            }
        }
        add_to_fallback(client, r, &subject, entry)?;
    }
    Ok(digest)
}

/// Adds one descriptor to the fallback index of `subject` (made when missing).
fn add_to_fallback(client: &Client, r: &Reference, subject: &Digest, entry: Value) -> Result<()> {
    let tag = fallback_tag(subject);
    let mut index = match get_index(client, r, &tag)? {
        Some(i) => i,
        None => json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}),
    };
    let list = index["manifests"]
        .as_array_mut()
        .ok_or_else(|| Error::registry(r, format!("the referrers tag {tag} is not an index")))?;
    if list.iter().any(|m| m["digest"] == entry["digest"]) {
        return Ok(());
    }
    list.push(entry);
    let bytes = serde_json::to_vec(&index).map_err(|e| Error::registry(r, e.to_string()))?;
    crate::push::push_artifact(client, r, &[], &bytes, OCI_INDEX, &tag)?;
    Ok(())
}

/// The referrers of `subject` (descriptors, as an index lists them), from the referrers API
/// or, where the registry has none, the fallback tag.
pub fn list(client: &Client, r: &Reference, subject: &Digest) -> Result<Vec<Value>> {
    let scopes = [format!("repository:{}:pull", r.repository)];
    let url = client.url(r, &format!("referrers/{subject}"));
    let resp = client.send(r, &scopes, || {
        Ok(client.http().get(&url).header(ACCEPT, OCI_INDEX))
    })?;
    let from_api = resp.status().is_success()
        && resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with(OCI_INDEX));
    let index = if from_api {
        let bytes = read_capped(r, resp, MAX_DOC)?;
        Some(
            serde_json::from_slice(&bytes)
                .map_err(|_| Error::registry(r, "the referrers list is not JSON"))?,
        )
    } else if resp.status() == StatusCode::NOT_FOUND || resp.status().is_success() {
        get_index(client, r, &fallback_tag(subject))?
    } else {
        return Err(explain(
            r,
            resp,
            &format!("listing the referrers of {subject}"),
        ));
    };
    Ok(index
        .and_then(|i: Value| i["manifests"].as_array().cloned())
        .unwrap_or_default())
}

/// The index a tag names, or nothing when the tag does not exist.
fn get_index(client: &Client, r: &Reference, tag: &str) -> Result<Option<Value>> {
    match manifest_if_any(client, r, tag)? {
        None => Ok(None),
        Some((bytes, media, _)) if media == OCI_INDEX => Ok(Some(
            serde_json::from_slice(&bytes).map_err(|e| Error::registry(r, e.to_string()))?,
        )),
        Some(_) => Err(Error::registry(r, format!("{tag} is not an image index"))),
    }
}

/// A manifest by tag or digest (checked as [`crate::pull::manifest`] checks it), or nothing
/// when the registry has no such manifest.
pub fn manifest_if_any(
    client: &Client,
    r: &Reference,
    key: &str,
) -> Result<Option<(Vec<u8>, String, Digest)>> {
    // One GET: a 404 is the answer "none", not an error.
    match crate::pull::manifest(client, r, key) {
        Ok(m) => Ok(Some(m)),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A small blob, whole in memory, checked against its digest (signatures and attestations
/// are kilobytes; anything over `limit` is refused).
pub fn blob(client: &Client, r: &Reference, digest: &Digest, limit: u64) -> Result<Vec<u8>> {
    let scopes = [format!("repository:{}:pull", r.repository)];
    let url = client.url(r, &format!("blobs/{digest}"));
    let bytes = client.again_on_network(r, || {
        let resp = client.send(r, &scopes, || Ok(client.http().get(&url)))?;
        if !resp.status().is_success() {
            return Err(explain(r, resp, &format!("fetching blob {digest}")));
        }
        read_capped(r, resp, limit)
    })?;
    let got = Digest::sha256_of(&bytes);
    if &got != digest {
        return Err(Error::registry(
            r,
            format!("blob {digest}: the registry sent bytes whose digest is {got}"),
        ));
    }
    Ok(bytes)
}
