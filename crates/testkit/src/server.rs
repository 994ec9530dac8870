//! A loopback HTTP server over a directory, for tests that fetch over the network stack.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Serves a directory on 127.0.0.1 until dropped.
pub struct Server {
    inner: Arc<tiny_http::Server>,
    handle: Option<JoinHandle<()>>,
    pub url: String,
}

impl Server {
    /// Starts serving `root` on a kernel-chosen port.
    pub fn start(root: &Path) -> Self {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
        let port = server.server_addr().to_ip().expect("ip address").port();
        let root: PathBuf = root.to_path_buf();
        let s = Arc::clone(&server);
        let handle = std::thread::spawn(move || {
            for req in s.incoming_requests() {
                let rel = req.url().trim_start_matches('/').to_string();
                let path = root.join(&rel);
                let ok = !rel.split('/').any(|p| p == "..");
                // tiny_http wants a std File; this is test-only code serving a temp directory.
                #[allow(clippy::disallowed_methods)]
                let file = std::fs::File::open(&path);
                match file {
                    Ok(f) if ok && path.is_file() => {
                        let _ = req.respond(tiny_http::Response::from_file(f));
                    }
                    _ => {
                        let _ = req.respond(tiny_http::Response::empty(404));
                    }
                }
            }
        });
        Server {
            inner: server,
            handle: Some(handle),
            url: format!("http://127.0.0.1:{port}/"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.inner.unblock();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
