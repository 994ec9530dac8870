//! A loopback HTTP server over a directory that misbehaves on purpose: 500s, 429 with
//! `Retry-After`, connections reset before an answer, bodies cut short, and stalls. Which
//! request fails, and how, follows a seeded sequence, so a failing test can be replayed.
//!
//! Written on `std::net` rather than an HTTP crate because it must break the protocol in ways
//! a well-behaved server library will not (a `Content-Length` it then does not honour, a
//! socket closed mid-body).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One way a response goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `500 Internal Server Error`.
    ServerError,
    /// `429 Too Many Requests` with `Retry-After: 1`.
    TooMany,
    /// The connection is closed without an answer.
    Reset,
    /// The headers promise the whole file; half of it is sent, then the socket closes.
    Truncate,
    /// Nothing is sent for this long, then the socket closes.
    Stall(Duration),
}

/// What the server did, for assertions.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub faults: AtomicU64,
    /// Body bytes sent in complete, successful responses.
    pub bytes_ok: AtomicU64,
}

/// Which requests fail.
#[derive(Debug, Clone, Copy)]
pub enum Schedule {
    /// About `percent` of all requests, chosen by a generator seeded with `seed`.
    Random { percent: u64, seed: u64 },
    /// The first `n` requests of every path: every download must retry, and every retry is
    /// finally answered (deterministic, whatever the order of parallel requests).
    FirstOfEachPath(u32),
    /// Every request whose path contains this text (`"pool/"`: every package download).
    PathsContaining(&'static str),
}

/// Serves `root` on 127.0.0.1 until dropped, failing the requests the schedule picks.
pub struct FaultyServer {
    pub url: String,
    pub stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    port: u16,
    handle: Option<JoinHandle<()>>,
    picker: Arc<Mutex<Picker>>,
}

impl FaultyServer {
    /// Starts the server; `faults` are used in turn for the requests chosen to fail.
    pub fn start(root: &Path, percent: u64, faults: Vec<Fault>, seed: u64) -> Self {
        Self::with_schedule(root, Schedule::Random { percent, seed }, faults)
    }

    /// Starts the server with any schedule.
    pub fn with_schedule(root: &Path, schedule: Schedule, faults: Vec<Fault>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("address").port();
        let stats = Arc::new(Stats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let root = root.to_path_buf();
        let (s, st) = (Arc::clone(&stats), Arc::clone(&stop));
        let shared = Arc::new(Mutex::new(Picker {
            schedule,
            faults,
            rng: 0,
            turn: 0,
            seen: HashMap::new(),
        }));
        let picker = Arc::clone(&shared);
        let handle = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (root, stats, picker) = (root.clone(), Arc::clone(&s), Arc::clone(&picker));
                std::thread::spawn(move || serve(conn, &root, &picker, &stats));
            }
        });
        FaultyServer {
            url: format!("http://127.0.0.1:{port}/"),
            stats,
            stop,
            port,
            handle: Some(handle),
            picker: shared,
        }
    }

    /// Changes which requests fail from now on (a mirror that goes down between two runs).
    pub fn reschedule(&self, schedule: Schedule, faults: Vec<Fault>) {
        let mut p = self.picker.lock().unwrap();
        p.schedule = schedule;
        p.faults = faults;
    }
}

impl Drop for FaultyServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Decides which request fails, and how.
struct Picker {
    schedule: Schedule,
    faults: Vec<Fault>,
    rng: u64,
    turn: usize,
    seen: HashMap<PathBuf, u32>,
}

impl Picker {
    fn pick(&mut self, path: &Path) -> Option<Fault> {
        if self.faults.is_empty() {
            return None;
        }
        let fail = match self.schedule {
            Schedule::Random { percent, seed } => {
                self.rng = self
                    .rng
                    .wrapping_add(seed)
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (self.rng >> 33) % 100 < percent
            }
            Schedule::PathsContaining(text) => path.to_string_lossy().contains(text),
            Schedule::FirstOfEachPath(n) => {
                let count = self.seen.entry(path.to_path_buf()).or_default();
                *count += 1;
                *count <= n
            }
        };
        fail.then(|| {
            self.turn += 1;
            self.faults[(self.turn - 1) % self.faults.len()]
        })
    }
}

fn serve(mut conn: TcpStream, root: &Path, picker: &Mutex<Picker>, stats: &Stats) {
    let Ok(path) = request_path(&conn, root) else {
        return;
    };
    stats.requests.fetch_add(1, Ordering::SeqCst);
    let fault = match &path {
        Some(p) => picker.lock().map_or(None, |mut pk| pk.pick(p)),
        None => None,
    };
    let body = path
        .filter(|p| p.is_file())
        .and_then(|p| fs_err::read(p).ok());
    let Some(body) = body else {
        let _ = conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    if let Some(f) = fault {
        stats.faults.fetch_add(1, Ordering::SeqCst);
        misbehave(&mut conn, f, &body);
        return;
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if conn.write_all(head.as_bytes()).is_ok() && conn.write_all(&body).is_ok() {
        stats
            .bytes_ok
            .fetch_add(body.len() as u64, Ordering::SeqCst);
    }
}

fn misbehave(conn: &mut TcpStream, fault: Fault, body: &[u8]) {
    match fault {
        Fault::ServerError => {
            let _ = conn.write_all(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
        Fault::TooMany => {
            let _ = conn.write_all(
                b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
        Fault::Reset => {
            let _ = conn.shutdown(Shutdown::Both);
        }
        Fault::Truncate => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body[..body.len() / 2]);
            let _ = conn.flush();
            let _ = conn.shutdown(Shutdown::Both);
        }
        Fault::Stall(d) => {
            std::thread::sleep(d);
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

/// Reads the request line and headers; the file the path names under `root` (`None` when
/// the path tries to leave it). An unreadable request is an error.
fn request_path(conn: &TcpStream, root: &Path) -> std::io::Result<Option<PathBuf>> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line
        .split_whitespace()
        .nth(1)
        .ok_or_else(|| std::io::Error::other("no request target"))?
        .to_string();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    let rel = target.trim_start_matches('/');
    if rel.split('/').any(|p| p == "..") {
        return Ok(None);
    }
    Ok(Some(root.join(rel)))
}
