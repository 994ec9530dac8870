//! The HTTP side of the distribution protocol: one client per run, TLS verified (system roots
//! plus `--ca-file`), plain HTTP only for loopback registries or with `--insecure`, the
//! `WWW-Authenticate` challenge answered (Basic, or a Bearer token fetched from the realm with
//! the scopes the request needs), and every request retried with backoff and jitter on 408,
//! 429 (`Retry-After` honoured up to 10 s), 5xx, resets and timeouts.
//!
//! Retrying lives in one place: a request is described by a closure that builds it afresh, so
//! a body (a blob streamed from disk) is reopened for every attempt.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{RequestBuilder, Response};
use reqwest::header::{AUTHORIZATION, RETRY_AFTER};

use crate::credentials::Credential;
use crate::error::{Error, Result};
use crate::reference::Reference;

mod auth;
use auth::Scheme;

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Allow plain HTTP (and skip nothing else) for registries that are not on loopback.
    pub insecure: bool,
    /// Extra PEM certificates trusted besides the system's.
    pub ca_file: Option<std::path::PathBuf>,
    /// Blobs sent or fetched at once.
    pub jobs: usize,
    /// Attempts per request.
    pub attempts: u32,
    /// The largest image (all its blobs together) pulled or pushed.
    pub max_bytes: u64,
    /// A connection that sends nothing for this long is given up (and retried).
    pub idle_timeout: Duration,
    /// A request not done (body included) this long after it started is given up, however
    /// steadily bytes trickle in; none by default (a large blob may take long).
    pub deadline: Option<Duration>,
    /// Send blobs in `PATCH` chunks of this many bytes instead of one `PUT` (for registries
    /// that refuse large requests).
    pub chunk_size: Option<u64>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            insecure: false,
            ca_file: None,
            jobs: 4,
            attempts: 6,
            max_bytes: 16 << 30,
            idle_timeout: Duration::from_secs(30),
            deadline: None,
            chunk_size: None,
        }
    }
}

/// What the client counts (for `--json` output and the benchmarks).
#[derive(Debug, Default)]
pub struct Counters {
    pub requests: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    pub blobs_sent: AtomicU64,
    pub blobs_skipped: AtomicU64,
    pub blobs_mounted: AtomicU64,
}

/// A registry client.
pub struct Client {
    http: reqwest::blocking::Client,
    pub options: Options,
    schemes: Mutex<HashMap<String, Scheme>>,
    /// Bearer tokens by registry and scope set.
    tokens: Mutex<HashMap<(String, String), String>>,
    credentials: Mutex<HashMap<String, Option<Credential>>>,
    /// Credentials given for this run (`login` checks them before storing).
    given: Option<(String, Credential)>,
    pub counters: Counters,
}

/// Redirects are followed (registries send blob downloads to storage services) only while
/// they keep their scheme: the HTTP client strips `Authorization` when the host or port
/// changes, never when `https` turns into `http` on the same host and port, which would send
/// credentials in clear. A change the other way is refused too, so credentials reach only the
/// scheme, host and port they were given for.
fn redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let from = attempt.previous().last().map(|u| u.scheme().to_string());
        if attempt.previous().len() > 5 {
            attempt.error("more than 5 redirects")
        } else if from.as_deref() != Some(attempt.url().scheme()) {
            let to = attempt.url().scheme().to_string();
            attempt.error(format!(
                "a redirect from {} to {to} (refused: a redirect never changes the scheme)",
                from.unwrap_or_default()
            ))
        } else {
            attempt.follow()
        }
    })
}

thread_local! {
    /// The failed attempts of the operation this thread is in, while `again_on_network` runs
    /// one: `--attempts N` then means N failed requests in all, however the retries nest, and
    /// the count an error gives is the real one.
    static FAILED: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
}

/// `message` with the real number of attempts at its end (replacing an inner count).
fn with_count(message: &str, failed: u32) -> String {
    let bare = match message.rfind(" (after ") {
        Some(i) if message.ends_with(" attempts)") || message.ends_with(" attempt)") => {
            &message[..i]
        }
        _ => message,
    };
    let s = if failed == 1 { "" } else { "s" };
    format!("{bare} (after {failed} attempt{s})")
}

/// An attempt's failure worth another try: why, and how long the registry asked us to wait.
struct Failure(String, Option<Duration>);

impl Client {
    /// A client with these options.
    pub fn new(options: Options) -> Result<Self> {
        let mut builder = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            // The blocking client applies this to every read: an idle timeout, not a cap on a
            // long transfer.
            .timeout(options.idle_timeout)
            .redirect(redirects())
            .user_agent(concat!("distroless/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &options.ca_file {
            let pem = fs_err::read(path)?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                Error::Credentials(format!("{}: not PEM certificates ({e})", path.display()))
            })?;
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .build()
            .map_err(|e| Error::registry("HTTP client", e.to_string()))?;
        Ok(Client {
            http,
            options,
            schemes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            credentials: Mutex::new(HashMap::new()),
            given: None,
            counters: Counters::default(),
        })
    }

    /// Uses this credential for `registry` instead of looking one up.
    #[must_use]
    pub fn with_credential(mut self, registry: &str, credential: Credential) -> Self {
        self.given = Some((registry.to_string(), credential));
        self
    }

    /// The HTTP client, for building requests passed to [`Client::send`].
    pub fn http(&self) -> &reqwest::blocking::Client {
        &self.http
    }

    /// `https://HOST/v2/` or, where plain HTTP is allowed and no CA file is given, `http://`.
    pub fn base(&self, r: &Reference) -> String {
        let plain = (r.is_loopback() || self.options.insecure) && self.options.ca_file.is_none();
        format!(
            "{}://{}/v2/",
            if plain { "http" } else { "https" },
            r.registry
        )
    }

    /// `…/v2/REPOSITORY/PATH`.
    pub fn url(&self, r: &Reference, path: &str) -> String {
        format!("{}{}/{path}", self.base(r), r.repository)
    }

    /// Runs `op` again while it fails with a network error (a body or session that broke off
    /// after the request itself succeeded, which `send` cannot retry); any other outcome is
    /// returned at once. Requests `op` makes draw on the same attempts (see [`FAILED`]): a
    /// request retried inside an operation that is itself retried never multiplies them.
    pub(crate) fn again_on_network<T>(
        &self,
        r: &Reference,
        mut op: impl FnMut() -> Result<T>,
    ) -> Result<T> {
        let mine = FAILED.get().is_none();
        if mine {
            FAILED.set(Some(0));
        }
        let result = loop {
            let before = FAILED.get().unwrap_or(0);
            match op() {
                Err(Error::Network { message, .. }) => {
                    // A failure `send` did not count (a body that broke off) counts here.
                    let failed = FAILED.get().unwrap_or(0).max(before + 1);
                    FAILED.set(Some(failed));
                    if failed >= self.options.attempts.max(1) {
                        break Err(Error::Network {
                            reference: r.to_string(),
                            message: with_count(&message, failed),
                        });
                    }
                    std::thread::sleep(backoff(failed - 1));
                }
                other => break other,
            }
        };
        if mine {
            FAILED.set(None);
        }
        result
    }

    /// Sends a request (built afresh for every attempt) with authentication and retries.
    /// Answers other than 401 and the retried ones are returned as they are.
    pub fn send(
        &self,
        r: &Reference,
        scopes: &[String],
        make: impl Fn() -> Result<RequestBuilder>,
    ) -> Result<Response> {
        self.send_tries(r, scopes, self.options.attempts, make)
    }

    /// [`Client::send`] with its own number of attempts (1 for a request that must not be
    /// repeated on its own, such as the `PUT` that ends an upload session).
    pub fn send_tries(
        &self,
        r: &Reference,
        scopes: &[String],
        attempts: u32,
        make: impl Fn() -> Result<RequestBuilder>,
    ) -> Result<Response> {
        let mut authenticated = false;
        loop {
            let auth = self.authorization(r, scopes)?;
            let origin = self.base(r);
            let resp = self.retrying_with(
                r,
                attempts,
                auth.as_deref().map(|a| (a, origin.as_str())),
                &make,
            )?;
            if resp.status() != StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            if authenticated {
                return Err(match self.credential(&r.registry)? {
                    Some(c) => Error::Unauthorized {
                        reference: r.to_string(),
                        message: format!(
                            "the registry refused the credentials for {} from {}",
                            r.registry, c.from
                        ),
                    },
                    None => Self::no_credentials(r),
                });
            }
            self.authenticate(r, scopes, resp.headers())?;
            authenticated = true;
        }
    }

    /// One request with retries on what another attempt may fix.
    fn retrying(
        &self,
        r: &Reference,
        attempts: u32,
        make: impl Fn() -> Result<RequestBuilder>,
    ) -> Result<Response> {
        self.retrying_with(r, attempts, None, &make)
    }

    /// [`Client::retrying`], adding `Authorization` (`auth`: the value and the registry's
    /// base URL) only to requests for the registry itself: an upload `Location` naming another
    /// host, port or scheme (a storage service, or a hostile answer) gets no credentials.
    fn retrying_with(
        &self,
        r: &Reference,
        attempts: u32,
        auth: Option<(&str, &str)>,
        make: &dyn Fn() -> Result<RequestBuilder>,
    ) -> Result<Response> {
        let attempts = attempts.max(1);
        let mut last = String::from("no attempt left for this request");
        let mut failed = FAILED.get().unwrap_or(0);
        for attempt in 0..attempts {
            // Inside an operation, its failures so far count against the same attempts.
            if FAILED
                .get()
                .is_some_and(|f| f >= self.options.attempts.max(1))
            {
                break;
            }
            self.counters.requests.fetch_add(1, Ordering::Relaxed);
            let mut request = make()?
                .build()
                .map_err(|e| Error::registry(r, error_chain(&e)))?;
            if let Some(d) = self.options.deadline {
                *request.timeout_mut() = Some(d);
            }
            if let Some((value, base)) = auth
                && same_origin(request.url(), base)
                && let Ok(v) = reqwest::header::HeaderValue::from_str(value)
            {
                request.headers_mut().insert(AUTHORIZATION, v);
            }
            let outcome = match self.http.execute(request) {
                Ok(resp) => classify(resp),
                Err(e) => Err(Failure(error_chain(&e), None)),
            };
            match outcome {
                Ok(resp) => return Ok(resp),
                Err(Failure(m, after)) => {
                    last = m;
                    failed = match FAILED.get() {
                        Some(f) => f + 1,
                        None => failed + 1,
                    };
                    if FAILED.get().is_some() {
                        FAILED.set(Some(failed));
                    }
                    let more = attempt + 1 < attempts && failed < self.options.attempts.max(1);
                    if more {
                        std::thread::sleep(after.unwrap_or_else(|| backoff(attempt)));
                    }
                }
            }
        }
        Err(Error::Network {
            reference: r.to_string(),
            message: with_count(&last, failed),
        })
    }
}

/// Runs `work` on every item, `jobs` at a time, stopping at the first error (which is
/// returned). Blobs go up and come down this way.
pub(crate) fn bounded<T: Send>(
    jobs: usize,
    items: Vec<T>,
    work: impl Fn(T) -> Result<()> + Sync,
) -> Result<()> {
    let queue = Mutex::new(items);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let stop = failure
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .is_some();
                    let next = queue
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .pop();
                    let (false, Some(item)) = (stop, next) else {
                        return;
                    };
                    if let Err(e) = work(item) {
                        failure
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    match failure
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
    {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Whether a URL has the same scheme, host and port as `base` (`…/v2/`).
fn same_origin(url: &url::Url, base: &str) -> bool {
    let Ok(base) = url::Url::parse(base) else {
        return false;
    };
    url.scheme() == base.scheme()
        && url.host_str() == base.host_str()
        && url.port_or_known_default() == base.port_or_known_default()
}

/// A response worth returning, or a failure worth another attempt.
fn classify(resp: Response) -> std::result::Result<Response, Failure> {
    let status = resp.status();
    let retryable = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    if !retryable {
        return Ok(resp);
    }
    let after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s.min(10)));
    Err(Failure(format!("HTTP {status}"), after))
}

/// 0.25 s, 0.5 s, 1 s … at most 4 s, plus up to half as much of jitter.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(250).saturating_mul(1 << attempt.min(4));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base + base.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

/// An error and its causes on one line.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = c.source();
    }
    out
}

/// Reads a small JSON answer (capped), refusing HTML and other non-JSON bodies in one line.
pub(crate) fn read_json(r: &Reference, resp: Response, limit: u64) -> Result<serde_json::Value> {
    let bytes = read_capped(r, resp, limit)?;
    serde_json::from_slice(&bytes).map_err(|_| {
        let looks_html = bytes.trim_ascii_start().starts_with(b"<");
        Error::registry(
            r,
            if looks_html {
                "the server answered an HTML page, not the registry API".to_string()
            } else {
                "the registry answered something that is not JSON".to_string()
            },
        )
    })
}

/// Reads a body of at most `limit` bytes.
pub(crate) fn read_capped(r: &Reference, resp: Response, limit: u64) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    resp.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Network {
            reference: r.to_string(),
            message: format!("the answer broke off: {}", error_chain(&e)),
        })?;
    if bytes.len() as u64 > limit {
        return Err(Error::registry(
            r,
            format!("the answer is larger than {limit} bytes"),
        ));
    }
    Ok(bytes)
}

/// The registry's error message (`{"errors":[{"code","message"}]}`), or the status.
pub(crate) fn explain(r: &Reference, resp: Response, doing: &str) -> Error {
    let status = resp.status();
    let body = read_capped(r, resp, 64 << 10).unwrap_or_default();
    let detail = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            v["errors"][0]["code"].as_str().map(|c| {
                let m = v["errors"][0]["message"].as_str().unwrap_or("");
                format!("{c}: {m}")
            })
        })
        .unwrap_or_else(|| {
            if body.trim_ascii_start().starts_with(b"<") {
                "an HTML page, not the registry API".into()
            } else {
                "no explanation".into()
            }
        });
    // A registry may echo what it was sent (an `Authorization` header) in its message.
    let detail = crate::secrets::scrub(&detail);
    let message = format!("{doing}: HTTP {status} ({})", oci::digest::shown(&detail));
    if status == StatusCode::NOT_FOUND {
        Error::NotFound {
            reference: r.to_string(),
            message,
        }
    } else if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        Error::Unauthorized {
            reference: r.to_string(),
            message,
        }
    } else {
        Error::registry(r, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        assert!(backoff(0) >= Duration::from_millis(250));
        assert!(backoff(10) <= Duration::from_secs(6));
    }
}
