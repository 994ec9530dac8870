//! Debian's `docker-registry` (the distribution v2 registry) for tests: started on 127.0.0.1
//! with a port the kernel picks (read from its log), filesystem storage in a temporary
//! directory, optionally behind htpasswd basic auth. Stopped when dropped.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running registry.
pub struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    _tokens: Option<crate::tokens::TokenServer>,
}

/// How to start it.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// Basic auth with this user and password (bcrypt htpasswd file).
    pub basic: Option<(String, String)>,
    /// Bearer-token auth (the registry's `auth: token` mode): a token server on 127.0.0.1
    /// issues RS256 tokens, signed by a key the registry trusts, to this user and password.
    pub token: Option<(String, String)>,
    /// Serve HTTPS with a certificate for 127.0.0.1 from a test CA ([`Registry::ca`]).
    pub tls: bool,
}

impl Registry {
    /// Starts an anonymous registry, or `None` when `docker-registry` is not installed
    /// (outside CI; in CI that is a failure).
    pub fn start() -> Option<Registry> {
        Registry::start_with(&Setup::default())
    }

    /// Starts a registry as `setup` says.
    pub fn start_with(setup: &Setup) -> Option<Registry> {
        if !crate::have("docker-registry") {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("registry-")
            .tempdir()
            .expect("registry directory");
        let d = dir.path();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n",
            d.join("data").display()
        );
        if let Some((user, pass)) = &setup.basic {
            assert!(
                crate::have("htpasswd"),
                "htpasswd (apache2-utils) is needed"
            );
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, pass])
                .output()
                .expect("htpasswd");
            fs_err::write(d.join("htpasswd"), &out.stdout).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                d.join("htpasswd").display()
            ));
        }
        let tokens = setup.token.as_ref().map(|(user, pass)| {
            let t = crate::tokens::TokenServer::start(d, user, pass);
            config.push_str(&format!(
                "auth:\n  token:\n    realm: {}\n    service: test-registry\n    issuer: test-issuer\n    rootcertbundle: {}\n",
                t.realm,
                t.certificate.display()
            ));
            t
        });
        if setup.tls {
            crate::tokens::tls_files(d);
            config = config.replace(
                "  addr: 127.0.0.1:0\n",
                &format!(
                    "  addr: 127.0.0.1:0\n  tls:\n    certificate: {}\n    key: {}\n",
                    d.join("tls.crt").display(),
                    d.join("tls.key").display()
                ),
            );
        }
        fs_err::write(d.join("config.yml"), config).unwrap();
        let log = fs_err::File::create(d.join("log")).unwrap().into_parts().0;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let mut reg = Registry {
            child,
            dir,
            addr: String::new(),
            _tokens: tokens,
        };
        reg.addr = reg.wait_for_address();
        Some(reg)
    }

    fn wait_for_address(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let f = fs_err::File::open(self.log()).unwrap();
            for line in BufReader::new(f).lines().map_while(Result::ok) {
                if let Some(at) = line.find("listening on ") {
                    let rest = &line[at + "listening on ".len()..];
                    let addr: String = rest
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                        .collect();
                    return addr;
                }
            }
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The registry's log (requests are logged: tests count what reached it).
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// The test CA's certificate (with `Setup::tls`).
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// Where it stores blobs and repositories.
    pub fn storage(&self) -> &Path {
        self.dir.path()
    }

    /// Lines of the access log for requests with this method whose path contains `part`.
    pub fn requests(&self, method: &str, part: &str) -> usize {
        fs_err::read_to_string(self.log())
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&format!("\"{method} ")) && l.contains(part))
            .count()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
