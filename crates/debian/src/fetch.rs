//! HTTP and `file://` fetching, retries, and the content-addressed cache.
//!
//! Everything downloaded is checked against a size and SHA256 that came from a verified
//! index before anyone may read it. Downloads go to a temporary file in the cache directory
//! and are renamed into place only when the hash matches, so an interrupted or poisoned
//! download never becomes a cache entry; entries are re-hashed when read.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use url::Url;

use crate::error::{Error, Result};

mod silence;

/// Receives progress of long operations; the CLI draws bars, libraries only call this.
pub trait Reporter: Sync {
    /// A batch of work of `total` bytes starts.
    fn start(&self, _label: &str, _total: u64) {}
    /// `bytes` more bytes are done.
    fn advance(&self, _bytes: u64) {}
    /// The batch is done.
    fn finish(&self) {}
    /// A warning the user should see even with progress bars.
    fn warn(&self, message: &str);
}

/// How long the network may take before an attempt is given up.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Establishing a connection.
    pub connect: Duration,
    /// Waiting for the next byte (headers or body): a mirror that accepts and then stalls
    /// fails after this long instead of hanging the build.
    pub idle: Duration,
    /// Attempts per download (the whole download, body included, is retried).
    pub attempts: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(15),
            idle: Duration::from_secs(30),
            attempts: 6,
        }
    }
}

/// Fetches URLs over HTTP(S) or from `file://` paths.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: reqwest::blocking::Client,
    timeouts: Timeouts,
    /// What each host has done this run (shared by clones: parallel downloads learn together).
    hosts: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, silence::Heard>>>,
}

/// Why one attempt failed, and whether another may succeed.
enum Attempt {
    /// Worth another try (5xx, 408, 429, connection errors, broken or short bodies); the
    /// server may ask for a delay (`Retry-After`).
    Retry(String, Option<Duration>),
    /// An idle timeout before the host sent a single byte of this answer.
    Silent(String),
    Fatal(Error),
}

impl Fetcher {
    /// A fetcher with the default timeouts.
    pub fn new() -> Result<Self> {
        Self::with_timeouts(Timeouts::default())
    }

    /// A fetcher with these timeouts. The blocking client applies its timeout to every read,
    /// which makes it an idle timeout: a large download is never cut for being slow, only
    /// for stalling.
    pub fn with_timeouts(timeouts: Timeouts) -> Result<Self> {
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.idle)
            .user_agent(concat!("distroless/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Http {
                url: String::new(),
                message: format!("cannot create HTTP client: {e}"),
            })?;
        Ok(Fetcher {
            client,
            timeouts,
            hosts: std::sync::Arc::default(),
        })
    }

    /// Opens a URL as a stream, one attempt (callers retry the whole transfer). A missing
    /// file is `Error::NotFound`.
    fn open_once(&self, url: &Url) -> std::result::Result<Box<dyn Read + Send>, Attempt> {
        if url.scheme() == "file" {
            let path = url.to_file_path().map_err(|()| {
                Attempt::Fatal(Error::Http {
                    url: url.to_string(),
                    message: "not a local path".into(),
                })
            })?;
            return match fs_err::File::open(&path) {
                Ok(f) => Ok(Box::new(f)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(Attempt::Fatal(Error::NotFound {
                        url: url.to_string(),
                    }))
                }
                Err(e) => Err(Attempt::Fatal(Error::IoPlain(e))),
            };
        }
        let resp = self.client.get(url.clone()).send().map_err(|e| {
            if e.is_timeout() {
                Attempt::Silent(error_chain(&e))
            } else {
                Attempt::Retry(error_chain(&e), None)
            }
        })?;
        self.heard(url, true);
        let status = resp.status();
        if status.is_success() {
            return Ok(Box::new(resp));
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(Attempt::Fatal(Error::NotFound {
                url: url.to_string(),
            }));
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(10)));
        let retryable = status.is_server_error()
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT;
        if retryable {
            Err(Attempt::Retry(format!("HTTP {status}"), retry_after))
        } else {
            Err(Attempt::Fatal(Error::Http {
                url: url.to_string(),
                message: format!("HTTP {status}"),
            }))
        }
    }

    /// Runs `read` on a fresh stream of `url` until it succeeds, retrying the whole transfer
    /// with exponential backoff and jitter when an attempt fails in a way another may not.
    fn with_retries<T>(
        &self,
        url: &Url,
        mut read: impl FnMut(Box<dyn Read + Send>) -> std::result::Result<T, Attempt>,
    ) -> Result<T> {
        let mut last = String::new();
        let attempts = if url.scheme() == "file" {
            1
        } else {
            self.timeouts.attempts.max(1)
        };
        for attempt in 0..attempts {
            self.still_worth_asking(url)?;
            let outcome = self.open_once(url).and_then(&mut read);
            match outcome {
                Ok(v) => return Ok(v),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(m, after)) => {
                    last = m;
                    if attempt + 1 < attempts {
                        std::thread::sleep(after.unwrap_or_else(|| backoff(attempt)));
                    }
                }
                Err(Attempt::Silent(m)) => {
                    self.heard(url, false);
                    last = m;
                    if attempt + 1 < attempts {
                        self.still_worth_asking(url)?;
                        std::thread::sleep(backoff(attempt));
                    }
                }
            }
        }
        Err(Error::Http {
            url: url.to_string(),
            message: format!("{last} (after {attempts} attempts)"),
        })
    }

    /// Reads a whole (small) resource into memory, capped at `limit` bytes.
    pub fn get(&self, url: &Url, limit: u64) -> Result<Vec<u8>> {
        self.with_retries(url, |stream| {
            let mut out = Vec::new();
            let read = stream.take(limit + 1).read_to_end(&mut out);
            if let Err(e) = read {
                if out.is_empty() && e.kind() == std::io::ErrorKind::TimedOut {
                    return Err(Attempt::Silent(error_chain(&e)));
                }
                return Err(Attempt::Retry(
                    format!("body broken after {} bytes: {}", out.len(), error_chain(&e)),
                    None,
                ));
            }
            if out.len() as u64 > limit {
                return Err(Attempt::Fatal(Error::Http {
                    url: url.to_string(),
                    message: format!("larger than the {limit} byte limit"),
                }));
            }
            Ok(out)
        })
    }
}

/// 0.25 s, 0.5 s, 1 s, … (at most 4 s), plus up to half as much again of jitter, so that
/// parallel downloads that failed together do not retry together.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(250u64 << attempt.min(4)).min(Duration::from_secs(4));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let jitter = base.mul_f64(f64::from(nanos % 1000) / 2000.0);
    base + jitter
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// An expected blob: where to get it and what it must hash to.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub url: Url,
    /// Shown in errors (`pool/main/t/tzdata/tzdata_2025b-4_all.deb`).
    pub name: &'a str,
    pub size: u64,
    pub sha256: &'a str,
    /// `size` is the exact size (index records) or only a bound (an upstream archive, whose
    /// checksum file names no size).
    pub exact: bool,
}

/// Content-addressed store: a blob lives at `<root>/sha256/<hex>`.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// Opens (and creates) a cache directory.
    pub fn open(root: &Path) -> Result<Self> {
        fs_err::create_dir_all(root.join("sha256"))?;
        sweep_partials(root);
        Ok(Cache {
            root: root.to_path_buf(),
        })
    }

    /// A temporary file in the cache directory, named after this process so that a later run
    /// can tell it from the partial files of processes still running.
    pub fn partial(&self) -> Result<tempfile::NamedTempFile> {
        tempfile::Builder::new()
            .prefix(&partial_prefix(std::process::id()))
            .tempfile_in(&self.root)
            .map_err(|e| Error::io(&self.root, e))
    }

    /// Puts a file we wrote (a layer blob) into the store under its hash, atomically: linked
    /// (or copied) to a partial name first, then renamed into place.
    pub fn adopt(&self, sha256: &str, from: &Path) -> Result<PathBuf> {
        let path = self.path_of(sha256);
        // A file already there is kept only if it is what its name says: a damaged one is
        // replaced, or every later build would miss it and rebuild.
        if path.exists() && hash_file(&path).is_ok_and(|h| h == sha256) {
            return Ok(path);
        }
        let tmp = self.partial()?.into_temp_path();
        let tmp_path = tmp.to_path_buf();
        fs_err::remove_file(&tmp_path)?;
        if fs_err::hard_link(from, &tmp_path).is_err() {
            fs_err::copy(from, &tmp_path)?;
        }
        fs_err::rename(&tmp_path, &path)?;
        Ok(path)
    }

    /// The directory of the cache.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A derived record (`<root>/<kind>/<key>.json`: resolutions, layer facts, file lists…);
    /// `None` when absent or unreadable, so a damaged record is simply rebuilt.
    pub fn read_record<T: serde::de::DeserializeOwned>(&self, kind: &str, key: &str) -> Option<T> {
        let bytes = fs_err::read(self.record_path(kind, key)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Stores a derived record atomically.
    pub fn write_record<T: serde::Serialize>(
        &self,
        kind: &str,
        key: &str,
        value: &T,
    ) -> Result<()> {
        let path = self.record_path(kind, key);
        let bytes =
            serde_json::to_vec(value).map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
        write_atomic(&path, &bytes)
    }

    fn record_path(&self, kind: &str, key: &str) -> PathBuf {
        self.root.join(kind).join(format!("{key}.json"))
    }

    /// Where the blob with this hash lives (whether or not it is there).
    pub fn path_of(&self, sha256: &str) -> PathBuf {
        self.root.join("sha256").join(sha256)
    }

    /// Returns the blob's path if it is present and still hashes right. A corrupt entry is
    /// removed so the next fetch replaces it.
    ///
    /// A corrupt entry is left where it is: the download that follows replaces it by an atomic
    /// rename, so processes sharing the cache never remove each other's fresh entries (and a
    /// file that vanishes while it is checked is simply absent).
    pub fn verified(&self, sha256: &str, size: u64) -> Result<Option<PathBuf>> {
        self.verified_within(sha256, size, true)
    }

    /// Like [`Cache::verified`], with `size` exact or only a bound.
    pub fn verified_within(&self, sha256: &str, size: u64, exact: bool) -> Result<Option<PathBuf>> {
        let path = self.path_of(sha256);
        let Ok(meta) = fs_err::metadata(&path) else {
            return Ok(None);
        };
        if (exact && meta.len() != size) || meta.len() > size {
            return Ok(None);
        }
        match hash_file(&path) {
            Ok(actual) if actual == sha256 => Ok(Some(path)),
            Ok(_) => Ok(None),
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Makes sure the expected blob is in the cache, downloading it if needed.
    pub fn ensure(
        &self,
        fetcher: &Fetcher,
        want: &Expected<'_>,
        reporter: &dyn Reporter,
    ) -> Result<PathBuf> {
        if let Some(path) = self.verified_within(want.sha256, want.size, want.exact)? {
            reporter.advance(want.size);
            return Ok(path);
        }
        self.download(fetcher, want, reporter)
    }

    /// Downloads a blob that is known not to be in the cache, checking size and hash. A
    /// broken, short or stalled body is fetched again from the start (with backoff); a body
    /// that is too long or hashes wrong is refused at once.
    pub fn download(
        &self,
        fetcher: &Fetcher,
        want: &Expected<'_>,
        reporter: &dyn Reporter,
    ) -> Result<PathBuf> {
        let path = self.path_of(want.sha256);
        let tmp = fetcher.with_retries(&want.url, |stream| self.receive(stream, want, reporter))?;
        tmp.persist(&path).map_err(|e| Error::io(&path, e.error))?;
        Ok(path)
    }

    /// One attempt: streams the body into a temporary file, hashing as it goes.
    fn receive(
        &self,
        mut reader: Box<dyn Read + Send>,
        want: &Expected<'_>,
        reporter: &dyn Reporter,
    ) -> std::result::Result<tempfile::NamedTempFile, Attempt> {
        let fatal = Attempt::Fatal;
        let mut tmp = self.partial().map_err(fatal)?;
        let mut hasher = Sha256::new();
        let mut total = 0u64;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(n) => n,
                Err(e) if total == 0 && e.kind() == std::io::ErrorKind::TimedOut => {
                    return Err(Attempt::Silent(error_chain(&e)));
                }
                Err(e) => {
                    return Err(Attempt::Retry(
                        format!(
                            "{}: body broken after {total} of {} bytes: {}",
                            want.name,
                            want.size,
                            error_chain(&e)
                        ),
                        None,
                    ));
                }
            };
            if n == 0 {
                break;
            }
            total += n as u64;
            if total > want.size {
                return Err(fatal(Error::SizeMismatch {
                    file: want.name.to_string(),
                    expected: want.size,
                    actual: total,
                }));
            }
            hasher.update(&buf[..n]);
            tmp.write_all(&buf[..n])
                .map_err(|e| fatal(Error::io(tmp.path(), e)))?;
            reporter.advance(n as u64);
        }
        if total != want.size && want.exact && want.url.scheme() == "file" {
            // A local file does not grow by reading it again.
            return Err(fatal(Error::SizeMismatch {
                file: want.name.to_string(),
                expected: want.size,
                actual: total,
            }));
        }
        if total != want.size && want.exact {
            return Err(Attempt::Retry(
                format!(
                    "{}: body ended after {total} of {} bytes",
                    want.name, want.size
                ),
                None,
            ));
        }
        let actual = hex::encode(hasher.finalize());
        if actual != want.sha256 {
            return Err(fatal(Error::HashMismatch {
                file: want.name.to_string(),
                expected: want.sha256.to_string(),
                actual,
            }));
        }
        Ok(tmp)
    }
}

/// Writes a file through a temporary file in the same directory and a rename, so readers see
/// the old content or the whole new content, never a part. Creates the directory if needed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs_err::create_dir_all(&dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| Error::io(&dir, e))?;
    tmp.write_all(bytes).map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

fn partial_prefix(pid: u32) -> String {
    format!(".partial-{pid}-")
}

/// Removes the partial files of processes that no longer run (killed downloads).
fn sweep_partials(root: &Path) {
    let Ok(entries) = fs_err::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix(".partial-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs_err::remove_file(e.path());
        }
    }
}

/// SHA256 of a file, streamed.
pub fn hash_file(path: &Path) -> Result<String> {
    let mut f = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut f, &mut hasher).map_err(|e| Error::io(path, e))?;
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct QuietReporter;

    impl Reporter for QuietReporter {
        fn warn(&self, _message: &str) {}
    }

    #[test]
    fn cache_verifies_and_evicts_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("blob");
        fs_err::write(&src, b"hello").unwrap();
        let sha = hash_file(&src).unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let want = Expected {
            url: Url::from_file_path(&src).unwrap(),
            name: "blob",
            size: 5,
            sha256: &sha,
            exact: true,
        };
        let fetcher = Fetcher::new().unwrap();
        let path = cache.ensure(&fetcher, &want, &QuietReporter).unwrap();
        assert_eq!(fs_err::read(&path).unwrap(), b"hello");
        fs_err::write(&path, b"hellO").unwrap();
        assert!(cache.verified(&sha, 5).unwrap().is_none());
        let again = cache.ensure(&fetcher, &want, &QuietReporter).unwrap();
        assert_eq!(fs_err::read(&again).unwrap(), b"hello");
    }

    #[test]
    fn adopting_replaces_a_damaged_file() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("layer");
        fs_err::write(&src, b"layer bytes").unwrap();
        let sha = hash_file(&src).unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let path = cache.adopt(&sha, &src).unwrap();
        // Damaged in place (a new file, so `src` is untouched even if it was linked).
        fs_err::remove_file(&path).unwrap();
        fs_err::write(&path, b"damaged").unwrap();
        let again = cache.adopt(&sha, &src).unwrap();
        assert_eq!(fs_err::read(&again).unwrap(), b"layer bytes");
    }

    #[test]
    fn partial_files_of_dead_processes_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("cache");
        fs_err::create_dir_all(&root).unwrap();
        // u32::MAX is no running process; our own pid is.
        let dead = root.join(format!("{}x", partial_prefix(u32::MAX)));
        let alive = root.join(format!("{}x", partial_prefix(std::process::id())));
        fs_err::write(&dead, b"half").unwrap();
        fs_err::write(&alive, b"half").unwrap();
        Cache::open(&root).unwrap();
        assert!(!dead.exists());
        assert!(alive.exists());
    }

    #[test]
    fn hash_mismatch_leaves_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("blob");
        fs_err::write(&src, b"hello").unwrap();
        let cache = Cache::open(&dir.path().join("cache")).unwrap();
        let sha = "0".repeat(64);
        let want = Expected {
            url: Url::from_file_path(&src).unwrap(),
            name: "blob",
            size: 5,
            sha256: &sha,
            exact: true,
        };
        let err = cache
            .ensure(&Fetcher::new().unwrap(), &want, &QuietReporter)
            .unwrap_err();
        assert!(err.to_string().starts_with("blob: hash mismatch"), "{err}");
        assert_eq!(
            fs_err::read_dir(cache.root().join("sha256"))
                .unwrap()
                .count(),
            0
        );
    }
}
