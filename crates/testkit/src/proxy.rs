//! A fault-injecting HTTP proxy on 127.0.0.1 in front of a real server (a registry): on the
//! requests a seeded generator picks it answers 500 or 429 (`Retry-After: 1`), resets the
//! connection, or forwards and cuts the answer's body in half; everything else is forwarded
//! as it is. It also counts the body bytes of uploads that reached the server.
//!
//! Written on `std::net` for the reason `faults.rs` is: it must break HTTP on purpose. One
//! request per connection (`Connection: close` both ways) keeps the forwarding simple.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub use crate::faults::Fault;

/// What the proxy saw and did.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub requests: AtomicU64,
    pub faults: AtomicU64,
    /// Body bytes of `PUT`/`PATCH` requests to `/blobs/uploads/` forwarded to the server.
    pub upload_bytes: AtomicU64,
}

/// Which requests fail.
#[derive(Debug, Clone, Copy)]
pub enum Plan {
    /// About `percent` of requests, picked by a generator seeded with `seed`.
    Random { percent: u64, seed: u64 },
    /// Every blob upload (`PUT …/blobs/uploads/…`) after the first `n` is reset: a push that
    /// dies part way.
    UploadsAfter(u64),
}

/// A running proxy; stops when dropped.
pub struct FaultyProxy {
    /// `127.0.0.1:PORT`, to use in place of the server's address.
    pub addr: String,
    pub stats: Arc<ProxyStats>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

struct Picker {
    plan: Plan,
    faults: Vec<Fault>,
    rng: u64,
    turn: usize,
    uploads: u64,
}

impl Picker {
    fn pick(&mut self, method: &str, path: &str) -> Option<Fault> {
        let fail = match self.plan {
            Plan::Random { percent, seed } => {
                self.rng = self
                    .rng
                    .wrapping_add(seed)
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (self.rng >> 33) % 100 < percent
            }
            Plan::UploadsAfter(n) => {
                if method == "PUT" && path.contains("/blobs/uploads/") {
                    self.uploads += 1;
                    self.uploads > n
                } else {
                    false
                }
            }
        };
        if !fail || self.faults.is_empty() {
            return None;
        }
        self.turn += 1;
        Some(self.faults[self.turn % self.faults.len()])
    }
}

impl FaultyProxy {
    /// Proxies to `upstream` (`127.0.0.1:PORT`), failing as `plan` says with `faults` in turn.
    pub fn start(upstream: &str, plan: Plan, faults: Vec<Fault>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("address").port();
        let stats = Arc::new(ProxyStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let picker = Arc::new(Mutex::new(Picker {
            plan,
            faults,
            rng: 0,
            turn: 0,
            uploads: 0,
        }));
        let upstream = upstream.to_string();
        let (s, st) = (Arc::clone(&stats), Arc::clone(&stop));
        let handle = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (up, stats, picker) = (upstream.clone(), Arc::clone(&s), Arc::clone(&picker));
                std::thread::spawn(move || {
                    let _ = handle(conn, &up, &picker, &stats);
                });
            }
        });
        FaultyProxy {
            addr: format!("127.0.0.1:{port}"),
            stats,
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A request or response head: its first line and headers (without `Connection`).
struct Head {
    first: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn read(r: &mut impl BufRead) -> std::io::Result<Option<Head>> {
        let mut first = String::new();
        if r.read_line(&mut first)? == 0 {
            return Ok(None);
        }
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && !k.eq_ignore_ascii_case("connection")
                && !k.eq_ignore_ascii_case("keep-alive")
            {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        Ok(Some(Head {
            first: first.trim_end().to_string(),
            headers,
        }))
    }

    fn length(&self) -> Option<u64> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse().ok())
    }

    fn write(&self, w: &mut impl Write) -> std::io::Result<()> {
        write!(w, "{}\r\n", self.first)?;
        for (k, v) in &self.headers {
            write!(w, "{k}: {v}\r\n")?;
        }
        write!(w, "Connection: close\r\n\r\n")
    }
}

fn answer(conn: &mut TcpStream, status: &str, extra: &str) -> std::io::Result<()> {
    write!(
        conn,
        "HTTP/1.1 {status}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

fn handle(
    conn: TcpStream,
    upstream: &str,
    picker: &Mutex<Picker>,
    stats: &ProxyStats,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let Some(head) = Head::read(&mut reader)? else {
        return Ok(());
    };
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let mut parts = head.first.split(' ');
    let (method, path) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let fault = picker
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pick(&method, &path);
    let mut conn = conn;
    let body_len = head.length().unwrap_or(0);
    if fault.is_some() {
        stats.faults.fetch_add(1, Ordering::Relaxed);
    }
    match fault {
        Some(Fault::Reset) => {
            let _ = conn.shutdown(Shutdown::Both);
            return Ok(());
        }
        Some(Fault::ServerError) => {
            std::io::copy(&mut (&mut reader).take(body_len), &mut std::io::sink())?;
            return answer(&mut conn, "500 Internal Server Error", "");
        }
        Some(Fault::TooMany) => {
            std::io::copy(&mut (&mut reader).take(body_len), &mut std::io::sink())?;
            return answer(&mut conn, "429 Too Many Requests", "Retry-After: 1\r\n");
        }
        Some(Fault::Stall(d)) => {
            std::thread::sleep(d);
            let _ = conn.shutdown(Shutdown::Both);
            return Ok(());
        }
        _ => {}
    }
    let mut up = TcpStream::connect(upstream)?;
    head.write(&mut up)?;
    let sent = std::io::copy(&mut (&mut reader).take(body_len), &mut up)?;
    if (method == "PUT" || method == "PATCH") && path.contains("/blobs/uploads/") {
        stats.upload_bytes.fetch_add(sent, Ordering::Relaxed);
    }
    let mut up_reader = BufReader::new(up);
    let Some(resp) = Head::read(&mut up_reader)? else {
        return Ok(());
    };
    resp.write(&mut conn)?;
    if fault == Some(Fault::Truncate) {
        let half = resp.length().unwrap_or(0) / 2;
        std::io::copy(&mut (&mut up_reader).take(half), &mut conn)?;
        let _ = conn.shutdown(Shutdown::Both);
        return Ok(());
    }
    std::io::copy(&mut up_reader, &mut conn)?;
    Ok(())
}
