//! Blobs sent: a HEAD first, a cross-repository mount where the blob was seen, else a
//! streamed monolithic upload (or chunks, when asked), every byte hashed on the way; a failed
//! `PUT` restarts its upload session.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Uploads every blob, `jobs` at a time.
pub(super) fn upload_all(
    client: &Client,
    seen: &Seen,
    image: &ForeignImage,
    r: &Reference,
    blobs: &[&BlobRef],
) -> Result<()> {
    let mut unique: Vec<&BlobRef> = Vec::new();
    for b in blobs {
        if !unique.iter().any(|u| u.digest == b.digest) {
            unique.push(b);
        }
    }
    crate::client::bounded(client.options.jobs, unique, |blob| {
        let open = || Ok(image.open_blob(blob)?);
        let out = Outbound {
            digest: &blob.digest,
            size: blob.size,
            open: &open,
        };
        upload(client, seen, r, &out)
    })
}

/// Pushes one blob held in a file: skipped when the repository has it, mounted when seen in
/// another repository of the registry, else streamed through a digest check.
pub fn push_file(
    client: &Client,
    seen: &Seen,
    r: &Reference,
    digest: &Digest,
    size: u64,
    path: &std::path::Path,
) -> Result<()> {
    let open = || {
        Ok(oci::digest::Verifier::new(
            fs_err::File::open(path)?,
            digest,
            size,
        ))
    };
    upload(
        client,
        seen,
        r,
        &Outbound {
            digest,
            size,
            open: &open,
        },
    )
}

/// A blob on its way: its descriptor and how to read its bytes (checked while they stream).
struct Outbound<'a> {
    digest: &'a Digest,
    size: u64,
    open: &'a (dyn Fn() -> Result<oci::digest::Verifier<fs_err::File>> + Sync),
}

/// One blob: skipped when present, mounted when seen in another repository, else uploaded.
fn upload(client: &Client, seen: &Seen, r: &Reference, blob: &Outbound<'_>) -> Result<()> {
    let digest = blob.digest.to_string();
    let from = seen.elsewhere(r, blob.digest);
    let mut scopes = vec![format!("repository:{}:pull,push", r.repository)];
    if let Some(f) = &from {
        scopes.push(format!("repository:{f}:pull"));
    }
    let head_url = client.url(r, &format!("blobs/{digest}"));
    let head = client.send(r, &scopes, || Ok(client.http().head(&head_url)))?;
    if head.status().is_success() {
        client
            .counters
            .blobs_skipped
            .fetch_add(1, Ordering::Relaxed);
        seen.note(r, blob.digest);
        return Ok(());
    }
    // A broken session is started again; anything else stops here.
    let mounted =
        client.again_on_network(r, || upload_once(client, r, blob, from.as_deref(), &scopes))?;
    let c = if mounted {
        &client.counters.blobs_mounted
    } else {
        &client.counters.blobs_sent
    };
    c.fetch_add(1, Ordering::Relaxed);
    seen.note(r, blob.digest);
    Ok(())
}

/// One upload session: `POST` (mounting if we can), then one monolithic `PUT` of the bytes.
/// Returns whether the blob was mounted.
fn upload_once(
    client: &Client,
    r: &Reference,
    blob: &Outbound<'_>,
    from: Option<&str>,
    scopes: &[String],
) -> Result<bool> {
    let digest = blob.digest.to_string();
    let mut start = client.url(r, "blobs/uploads/");
    if let Some(f) = from {
        start = format!("{start}?mount={digest}&from={f}");
    }
    let resp = client.send(r, scopes, || {
        Ok(client.http().post(&start).header(CONTENT_LENGTH, 0))
    })?;
    if resp.status() == StatusCode::CREATED {
        return Ok(true);
    }
    if resp.status() != StatusCode::ACCEPTED {
        return Err(explain(
            r,
            resp,
            &format!("starting the upload of {digest}"),
        ));
    }
    let location = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| Error::registry(r, "the registry started an upload without a Location"))?;
    let base = url::Url::parse(&client.base(r)).map_err(|e| Error::registry(r, e.to_string()))?;
    let session = base
        .join(location)
        .map_err(|_| Error::registry(r, "the upload Location is not a URL"))?;
    if let Some(chunk) = client.options.chunk_size {
        upload_chunked(client, r, blob, scopes, session, chunk)?;
        return Ok(false);
    }
    let mut put = session;
    put.query_pairs_mut().append_pair("digest", &digest);
    let put = put.to_string();
    let size = blob.size;
    let resp = client.send_tries(r, scopes, 1, || {
        let reader = Checked {
            inner: (blob.open)()?,
            what: format!("blob {digest}"),
            done: false,
        };
        Ok(client
            .http()
            .put(&put)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(reqwest::blocking::Body::sized(reader, size)))
    })?;
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE {
        // The registry wants chunks: a new session, sent in pieces.
        return Err(Error::registry(
            r,
            format!(
                "the registry refused {digest} in one request (HTTP 413); push again with --chunk-size"
            ),
        ));
    }
    if resp.status() != StatusCode::CREATED {
        return Err(explain(
            r,
            resp,
            &format!("finishing the upload of {digest}"),
        ));
    }
    client
        .counters
        .bytes_sent
        .fetch_add(size, Ordering::Relaxed);
    Ok(false)
}

/// Sends a blob as `PATCH` chunks of at most `chunk` bytes (each held in memory, nothing
/// more), following the `Location` each answer gives, then closes the session with `PUT`.
fn upload_chunked(
    client: &Client,
    r: &Reference,
    blob: &Outbound<'_>,
    scopes: &[String],
    mut at: url::Url,
    chunk: u64,
) -> Result<()> {
    let digest = blob.digest.to_string();
    let mut reader = Checked {
        inner: (blob.open)()?,
        what: format!("blob {digest}"),
        done: false,
    };
    let mut offset = 0u64;
    while offset < blob.size {
        let len = chunk.max(1).min(blob.size - offset);
        let mut piece = vec![0u8; usize::try_from(len).unwrap_or(usize::MAX)];
        reader.read_exact(&mut piece)?;
        let url = at.to_string();
        let range = format!("{offset}-{}", offset + len - 1);
        let resp = client.send_tries(r, scopes, 1, || {
            Ok(client
                .http()
                .patch(&url)
                .header(CONTENT_TYPE, "application/octet-stream")
                .header(CONTENT_LENGTH, len)
                .header("Content-Range", &range)
                .body(piece.clone()))
        })?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(explain(
                r,
                resp,
                &format!("sending bytes {range} of {digest}"),
            ));
        }
        let next = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::registry(r, "a chunk was taken without a Location"))?;
        at = at
            .join(next)
            .map_err(|_| Error::registry(r, "the upload Location is not a URL"))?;
        client.counters.bytes_sent.fetch_add(len, Ordering::Relaxed);
        offset += len;
    }
    // The end of the stream: the digest check runs here.
    let mut tail = [0u8; 1];
    if reader.read(&mut tail)? != 0 {
        return Err(Error::registry(
            r,
            format!("blob {digest} is longer than its descriptor"),
        ));
    }
    at.query_pairs_mut().append_pair("digest", &digest);
    let url = at.to_string();
    let resp = client.send_tries(r, scopes, 1, || {
        Ok(client.http().put(&url).header(CONTENT_LENGTH, 0))
    })?;
    if resp.status() != StatusCode::CREATED {
        return Err(explain(
            r,
            resp,
            &format!("finishing the upload of {digest}"),
        ));
    }
    Ok(())
}

/// A blob read from disk whose digest is checked when it ends: a mismatch breaks the request
/// before the registry can commit it.
struct Checked {
    inner: oci::digest::Verifier<fs_err::File>,
    what: String,
    done: bool,
}

impl Read for Checked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !self.done {
            self.done = true;
            self.inner
                .check(&self.what)
                .map_err(std::io::Error::other)?;
        }
        Ok(n)
    }
}
