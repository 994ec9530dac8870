//! Push and pull against Debian's `docker-registry` on 127.0.0.1: digests survive both ways,
//! blobs the registry has are not sent again, credentials are asked for and kept secret.

#![allow(clippy::unwrap_used)]

use oci::layout::LayoutWriter;
use oci::read::ForeignImage;
use registry::credentials::Credential;
use registry::push::{Seen, push};
use registry::{Client, Options, Reference};
use testkit::image::Layout;
use testkit::registry::{Registry, Setup};

fn client() -> Client {
    Client::new(Options {
        attempts: 2,
        ..Options::default()
    })
    .unwrap()
}

/// A small layout on disk, opened, and where to push it in `reg`.
fn fixture(reg: &Registry, name: &str) -> (tempfile::TempDir, Layout, ForeignImage, Reference) {
    let tmp = tempfile::tempdir().unwrap();
    let src = Layout::write(&tmp.path().join("src"));
    let image = ForeignImage::open(&src.root, None).unwrap();
    let r = Reference::parse(&format!("{}/{name}", reg.addr)).unwrap();
    (tmp, src, image, r)
}

#[test]
fn a_layout_pushes_and_pulls_back_to_the_same_digests() {
    let Some(reg) = Registry::start() else {
        return;
    };
    let (tmp, src, image, r) = fixture(&reg, "team/app:1.0");
    let c = client();
    let seen = Seen::default();
    let pushed = push(&c, &seen, &image, std::slice::from_ref(&r), false).unwrap();
    assert_eq!(pushed[0].digest, src.manifest);
    assert_eq!(pushed[0].reference, r.to_string());

    // Again: the tag names this image already, so nothing is sent (one HEAD).
    let again = client();
    push(&again, &seen, &image, std::slice::from_ref(&r), false).unwrap();
    let sent = again
        .counters
        .bytes_sent
        .load(std::sync::atomic::Ordering::Relaxed);
    let requests = again
        .counters
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!((sent, requests), (0, 1));
    // Another tag: blobs are HEADed and skipped, only the manifest goes under the new tag.
    let retag = client();
    push(&retag, &seen, &image, &[r.with_tag("1.1")], false).unwrap();
    let skipped = retag
        .counters
        .blobs_skipped
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(skipped, 2);

    // Another repository of the same registry: mounted, not uploaded.
    let other = Reference::parse(&format!("{}/team/other:1.0", reg.addr)).unwrap();
    let third = client();
    push(&third, &seen, &image, std::slice::from_ref(&other), false).unwrap();
    assert_eq!(
        third
            .counters
            .blobs_mounted
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );

    let out = tmp.path().join("pulled");
    let layout = LayoutWriter::new(&out).unwrap();
    let pulled = registry::pull::pull(&client(), &r, &layout, None).unwrap();
    assert_eq!(pulled.digest.to_string(), src.manifest);
    assert_eq!(pulled.manifests[0].layers[0].to_string(), src.layer);
    assert_eq!(pulled.manifests[0].config.to_string(), src.config);
}

#[test]
fn basic_auth_uses_stored_credentials_and_never_shows_them() {
    let Some(reg) = Registry::start_with(&Setup {
        basic: Some(("alice".into(), "s3cret-pass".into())),
        ..Setup::default()
    }) else {
        return;
    };
    let (_tmp, src, image, r) = fixture(&reg, "team/app:1.0");
    // No credentials anywhere: one line saying what to do.
    let e = push(
        &client(),
        &Seen::default(),
        &image,
        std::slice::from_ref(&r),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("distroless login"), "{e}");
    // Wrong ones: refused, and the secret is not in the message.
    let wrong = client().with_credential(&reg.addr, Credential::given("alice", "wrong-pass"));
    let e = push(
        &wrong,
        &Seen::default(),
        &image,
        std::slice::from_ref(&r),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("refused") && !e.contains("wrong-pass"), "{e}");
    let right = client().with_credential(&reg.addr, Credential::given("alice", "s3cret-pass"));
    let pushed = push(
        &right,
        &Seen::default(),
        &image,
        std::slice::from_ref(&r),
        false,
    )
    .unwrap();
    assert_eq!(pushed[0].digest, src.manifest);
}

#[test]
fn bearer_tokens_are_fetched_from_the_realm_with_merged_scopes() {
    let Some(reg) = Registry::start_with(&Setup {
        token: Some(("bob".into(), "tok-pass".into())),
        ..Setup::default()
    }) else {
        return;
    };
    let (tmp, src, image, r) = fixture(&reg, "team/app:1.0");
    let e = push(
        &client(),
        &Seen::default(),
        &image,
        std::slice::from_ref(&r),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("distroless login"), "{e}");
    let bob = || client().with_credential(&reg.addr, Credential::given("bob", "tok-pass"));
    let seen = Seen::default();
    let pushed = push(&bob(), &seen, &image, std::slice::from_ref(&r), false).unwrap();
    assert_eq!(pushed[0].digest, src.manifest);
    // A mount needs pull on the source repository too: one token covers both.
    let other = Reference::parse(&format!("{}/team/copy:1.0", reg.addr)).unwrap();
    let c = bob();
    push(&c, &seen, &image, std::slice::from_ref(&other), false).unwrap();
    assert_eq!(
        c.counters
            .blobs_mounted
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
    let out = tmp.path().join("pulled");
    let layout = LayoutWriter::new(&out).unwrap();
    let pulled = registry::pull::pull(&bob(), &other, &layout, None).unwrap();
    assert_eq!(pulled.digest.to_string(), src.manifest);
}

#[test]
fn tls_is_verified_against_the_given_ca() {
    let Some(reg) = Registry::start_with(&Setup {
        tls: true,
        ..Setup::default()
    }) else {
        return;
    };
    let (_tmp, src, image, r) = fixture(&reg, "team/app:1.0");
    let trusting = Client::new(Options {
        ca_file: Some(reg.ca()),
        attempts: 2,
        ..Options::default()
    })
    .unwrap();
    let pushed = push(
        &trusting,
        &Seen::default(),
        &image,
        std::slice::from_ref(&r),
        false,
    )
    .unwrap();
    assert_eq!(pushed[0].digest, src.manifest);
    // Another CA's certificate proves nothing.
    let other = tempfile::tempdir().unwrap();
    testkit::tokens::tls_files(other.path());
    let wrong = Client::new(Options {
        ca_file: Some(other.path().join("ca.crt")),
        attempts: 1,
        ..Options::default()
    })
    .unwrap();
    let e = push(
        &wrong,
        &Seen::default(),
        &image,
        std::slice::from_ref(&r),
        false,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("certificate") || e.contains("Unknown"), "{e}");
}

#[test]
fn blobs_go_in_chunks_when_asked() {
    let Some(reg) = Registry::start() else {
        return;
    };
    let (tmp, src, image, r) = fixture(&reg, "team/chunked:1");
    let c = Client::new(Options {
        chunk_size: Some(100),
        ..Options::default()
    })
    .unwrap();
    push(
        &c,
        &Seen::default(),
        &image,
        std::slice::from_ref(&r),
        false,
    )
    .unwrap();
    assert!(
        reg.requests("PATCH", "/blobs/uploads/") > 2,
        "several chunks"
    );
    let out = tmp.path().join("pulled");
    let layout = LayoutWriter::new(&out).unwrap();
    let pulled = registry::pull::pull(&client(), &r, &layout, None).unwrap();
    assert_eq!(pulled.manifests[0].layers[0].to_string(), src.layer);
}

/// A registry that wants Basic auth and sends uploads to another server; that server records
/// whether it was given credentials.
fn leaky_registry() -> (String, std::sync::Arc<std::sync::Mutex<Vec<bool>>>) {
    use std::sync::{Arc, Mutex};
    let other = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let other_port = other.server_addr().to_ip().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    std::thread::spawn(move || {
        for mut req in other.incoming_requests() {
            let has_auth = req.headers().iter().any(|h| h.field.equiv("Authorization"));
            s.lock().unwrap().push(has_auth);
            let _ = std::io::copy(req.as_reader(), &mut std::io::sink());
            let _ = req.respond(tiny_http::Response::empty(201));
        }
    });
    let reg = Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    let port = reg.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for mut req in reg.incoming_requests() {
            let authed = req.headers().iter().any(|h| h.field.equiv("Authorization"));
            let _ = std::io::copy(req.as_reader(), &mut std::io::sink());
            let resp = if !authed {
                tiny_http::Response::empty(401).with_header(
                    "WWW-Authenticate: Basic realm=\"x\""
                        .parse::<tiny_http::Header>()
                        .unwrap(),
                )
            } else if req.method() == &tiny_http::Method::Post {
                tiny_http::Response::empty(202).with_header(
                    format!("Location: http://127.0.0.1:{other_port}/up")
                        .parse::<tiny_http::Header>()
                        .unwrap(),
                )
            } else if req.method() == &tiny_http::Method::Put {
                tiny_http::Response::empty(201)
            } else {
                tiny_http::Response::empty(404)
            };
            let _ = req.respond(resp);
        }
    });
    (format!("127.0.0.1:{port}"), seen)
}

#[test]
fn credentials_never_follow_an_upload_location_to_another_server() {
    let (addr, seen) = leaky_registry();
    let tmp = tempfile::tempdir().unwrap();
    let src = Layout::write(&tmp.path().join("src"));
    let image = ForeignImage::open(&src.root, None).unwrap();
    let r = Reference::parse(&format!("{addr}/team/app:1")).unwrap();
    let c = client().with_credential(&addr, Credential::given("bob", "PUSHSECRET"));
    push(
        &c,
        &Seen::default(),
        &image,
        std::slice::from_ref(&r),
        false,
    )
    .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "uploads went to the other server");
    assert!(
        seen.iter().all(|had| !had),
        "credentials were sent elsewhere"
    );
}

#[test]
fn credentials_never_follow_a_redirect_from_https_to_http() {
    if !testkit::have("python3") || !testkit::have("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    testkit::tokens::tls_files(tmp.path());
    let log = tmp.path().join("clear.log");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/downgrading_registry.py"
    );
    let mut server = std::process::Command::new("python3")
        .arg(script)
        .arg(tmp.path().join("tls.crt"))
        .arg(tmp.path().join("tls.key"))
        .arg(&log)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut port,
    )
    .unwrap();
    let r = Reference::parse(&format!("127.0.0.1:{}/team/app:1.0", port.trim())).unwrap();
    let client = Client::new(Options {
        ca_file: Some(tmp.path().join("ca.crt")),
        attempts: 1,
        ..Options::default()
    })
    .unwrap()
    .with_credential(&r.registry, Credential::given("alice", "s3cret-pass"));
    let url = client.url(&r, "blobs/sha256:0000");
    let result = client.send(&r, &[], || Ok(client.http().get(&url)));
    let _ = server.kill();
    let _ = server.wait();
    let clear = fs_err::read_to_string(&log).unwrap_or_default();
    assert!(
        !clear.to_lowercase().contains("authorization"),
        "credentials went out in clear: {clear}"
    );
    let e = result
        .map(|_| ())
        .expect_err("a downgrading redirect must fail")
        .to_string();
    assert!(e.contains("never changes the scheme"), "{e}");
    assert!(!e.contains("s3cret"), "{e}");
}

#[test]
fn attempts_are_counted_once_however_retries_nest() {
    // A registry that accepts connections and never answers: every attempt is one connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(c);
        }
    });
    let r = Reference::parse(&format!("127.0.0.1:{port}/team/app:1.0")).unwrap();
    let client = Client::new(Options {
        attempts: 2,
        idle_timeout: std::time::Duration::from_millis(500),
        ..Options::default()
    })
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let layout = LayoutWriter::new(&tmp.path().join("out")).unwrap();
    let e = registry::pull::pull(&client, &r, &layout, None)
        .map(|_| ())
        .expect_err("a silent registry fails a pull")
        .to_string();
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2, "{e}");
    assert!(e.contains("(after 2 attempts)"), "{e}");
}

/// Puts an index listing `entries` (digest, size, media type) into `r`'s repository, made
/// distinct by `n`; its digest and size.
fn put_index(
    c: &Client,
    r: &Reference,
    entries: &[(String, u64, &str)],
    n: usize,
) -> (String, u64) {
    let list: Vec<serde_json::Value> = entries
        .iter()
        .map(|(d, size, media)| {
            serde_json::json!({"mediaType": media, "digest": d, "size": size,
                "platform": {"os": "linux", "architecture": "amd64"}})
        })
        .collect();
    let media = "application/vnd.oci.image.index.v1+json";
    let body = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": media, "manifests": list,
        "annotations": {"n": n.to_string()}
    }))
    .unwrap();
    let digest = format!(
        "sha256:{}",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body))
    );
    let url = c.url(r, &format!("manifests/{digest}"));
    let resp = c
        .http()
        .put(&url)
        .header("content-type", media)
        .body(body.clone())
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    (digest, body.len() as u64)
}

#[test]
fn an_index_fanning_out_is_fetched_once_per_digest_and_capped() {
    let Some(reg) = Registry::start() else {
        return;
    };
    let (tmp, src, image, r) = fixture(&reg, "team/app:1.0");
    let c = client();
    push(
        &c,
        &Seen::default(),
        &image,
        std::slice::from_ref(&r),
        false,
    )
    .unwrap();
    let hex = src.manifest.trim_start_matches("sha256:");
    let size = fs_err::metadata(src.root.join("blobs/sha256").join(hex))
        .unwrap()
        .len();
    let m = (
        src.manifest.clone(),
        size,
        "application/vnd.oci.image.manifest.v1+json",
    );
    let index = "application/vnd.oci.image.index.v1+json";
    let at = |digest: &str| Reference::parse(&format!("{}/team/app@{digest}", reg.addr)).unwrap();
    let pull_of = |digest: &str, platform: Option<&str>| {
        let c = client();
        let out = tmp
            .path()
            .join(format!("pulled-{}-{}", &digest[7..19], platform.is_some()));
        let layout = LayoutWriter::new(&out).unwrap();
        let filter = platform.map(|p| registry::pull::PlatformFilter::parse(p).unwrap());
        let result = registry::pull::pull(&c, &at(digest), &layout, filter.as_ref());
        let requests = c
            .counters
            .requests
            .load(std::sync::atomic::Ordering::Relaxed);
        (
            result
                .map(|p| p.digest.to_string())
                .map_err(|e| e.to_string()),
            requests,
        )
    };
    // One manifest listed twice: refused, as the layout reader refuses it.
    let (twice, _) = put_index(&c, &r, &[m.clone(), m.clone()], 0);
    assert!(pull_of(&twice, None).0.unwrap_err().contains("twice"));
    // 64 indexes of 64 indexes of the manifest: 4,096 paths to one manifest.
    let level1: Vec<_> = (0..64)
        .map(|n| put_index(&c, &r, std::slice::from_ref(&m), n))
        .collect();
    let as_entries = |level: &[(String, u64)]| -> Vec<(String, u64, &str)> {
        level.iter().map(|(d, s)| (d.clone(), *s, index)).collect()
    };
    let level2: Vec<_> = (0..64)
        .map(|n| put_index(&c, &r, &as_entries(&level1), n))
        .collect();
    let (top, _) = put_index(&c, &r, &as_entries(&level2), 0);
    let started = std::time::Instant::now();
    // Every platform: the manifest is reached a second time on the second path, refused (a
    // layout holds each digest once).
    let (result, requests) = pull_of(&top, None);
    assert!(result.unwrap_err().contains("twice"));
    assert!(requests < 10, "{requests} requests");
    // A platform no manifest has: the walk stops at the cap.
    let (result, requests) = pull_of(&top, Some("linux/arm64"));
    assert!(result.unwrap_err().contains("more than 64"));
    assert!(requests < 80, "{requests} requests");
    // A platform the manifest has: nesting followed, each digest once.
    let (result, _) = pull_of(&top, Some("linux/amd64"));
    assert_eq!(result.unwrap(), src.manifest);
    assert!(started.elapsed().as_secs() < 20);
}

#[test]
fn a_registry_echoing_credentials_in_its_errors_has_them_scrubbed() {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let auth = req
                .headers()
                .iter()
                .find(|h| h.field.equiv("Authorization"))
                .map(|h| h.value.as_str().to_string());
            let resp = match auth {
                None => tiny_http::Response::from_string("")
                    .with_status_code(401)
                    .with_header(
                        "WWW-Authenticate: Basic realm=\"x\""
                            .parse::<tiny_http::Header>()
                            .unwrap(),
                    ),
                Some(a) => tiny_http::Response::from_string(format!(
                    r#"{{"errors":[{{"code":"DENIED","message":"no access for {a} (alice:echo-s3cret)"}}]}}"#
                ))
                .with_status_code(403),
            };
            let _ = req.respond(resp);
        }
    });
    let r = Reference::parse(&format!("127.0.0.1:{port}/team/app:1")).unwrap();
    let c = client().with_credential(&r.registry, Credential::given("alice", "echo-s3cret"));
    let tmp = tempfile::tempdir().unwrap();
    let layout = LayoutWriter::new(&tmp.path().join("out")).unwrap();
    let e = registry::pull::pull(&c, &r, &layout, None)
        .map(|_| ())
        .expect_err("a denied pull fails")
        .to_string();
    assert!(e.contains("DENIED") && e.contains("<redacted>"), "{e}");
    assert!(
        !e.contains("echo-s3cret") && !e.contains("YWxpY2U6ZWNoby1zM2NyZXQ"),
        "{e}"
    );
}
