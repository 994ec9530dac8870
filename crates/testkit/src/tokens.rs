//! Certificates and a token service for registry tests, made with the `openssl` command: a
//! test CA with a server certificate for 127.0.0.1, and the bearer-token flow every public
//! registry uses — a token server on 127.0.0.1 that checks a user and password and issues
//! RS256 JWTs (with the signing certificate in `x5c`) that the registry trusts through its
//! `rootcertbundle`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Writes `ca.crt`, `tls.crt` and `tls.key` (a certificate for 127.0.0.1 signed by the CA).
pub fn tls_files(dir: &Path) {
    fs_err::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    for args in [
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=distroless test CA",
        ][..],
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "tls.key",
            "-out",
            "tls.csr",
            "-subj",
            "/CN=127.0.0.1",
        ][..],
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "tls.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ][..],
    ] {
        openssl(dir, args);
    }
}

/// A running token service.
pub struct TokenServer {
    /// The URL the registry sends clients to.
    pub realm: String,
    /// The certificate the registry trusts for token signatures.
    pub certificate: PathBuf,
    server: Arc<tiny_http::Server>,
    handle: Option<std::thread::JoinHandle<()>>,
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl TokenServer {
    /// Starts the service; keys and certificates are written into `dir`.
    pub fn start(dir: &Path, user: &str, pass: &str) -> TokenServer {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "token.key",
                "-out",
                "token.crt",
                "-days",
                "2",
                "-subj",
                "/CN=test-issuer",
            ],
        );
        openssl(
            dir,
            &[
                "x509",
                "-in",
                "token.crt",
                "-outform",
                "DER",
                "-out",
                "token.der",
            ],
        );
        let der = fs_err::read(dir.join("token.der")).unwrap();
        let x5c = base64::engine::general_purpose::STANDARD.encode(der);
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1"));
        let port = server.server_addr().to_ip().expect("ip").port();
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        let (s, key) = (Arc::clone(&server), dir.join("token.key"));
        let handle = std::thread::spawn(move || {
            for req in s.incoming_requests() {
                let authorized = req
                    .headers()
                    .iter()
                    .any(|h| h.field.equiv("Authorization") && h.value.as_str() == expected);
                if !authorized {
                    let _ = req.respond(tiny_http::Response::empty(401));
                    continue;
                }
                let token = issue(&key, &x5c, req.url());
                let body = format!(
                    "{{\"token\":\"{token}\",\"access_token\":\"{token}\",\"expires_in\":300}}"
                );
                let _ = req.respond(tiny_http::Response::from_string(body));
            }
        });
        TokenServer {
            realm: format!("http://127.0.0.1:{port}/token"),
            certificate: dir.join("token.crt"),
            server,
            handle: Some(handle),
        }
    }
}

/// A token granting every scope the request asks for.
fn issue(key: &Path, x5c: &str, url: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let mut access = Vec::new();
    for pair in query.split('&') {
        let Some(scope) = pair.strip_prefix("scope=") else {
            continue;
        };
        let scope = scope
            .replace("%3A", ":")
            .replace("%2C", ",")
            .replace("%2F", "/");
        let parts: Vec<&str> = scope.splitn(3, ':').collect();
        if let [kind, name, actions] = parts[..] {
            access.push(serde_json::json!({
                "type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()
            }));
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = serde_json::json!({
        "iss": "test-issuer", "sub": "test", "aud": "test-registry",
        "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{}", access.len()),
        "access": access,
    });
    let signing = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(signing.as_bytes())?;
            c.wait_with_output()
        })
        .expect("openssl dgst");
    format!("{signing}.{}", b64url(&out.stdout))
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
