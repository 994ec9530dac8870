//! `distroless keygen`: keys cosign reads, made once, never shown.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Command;

#[test]
fn keygen_writes_keys_cosign_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = tmp.path().join("keys");
    let made = support::distroless(&cache)
        .args(["keygen", "-o"])
        .arg(&dir)
        .env("DISTROLESS_PASSWORD", "s3cret-pw")
        .assert()
        .success();
    assert!(!String::from_utf8_lossy(&made.get_output().stdout).contains("s3cret-pw"));
    let key = fs_err::read_to_string(dir.join("cosign.key")).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &fs_err::metadata(dir.join("cosign.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(key_mode & 0o777, 0o600);
    // Made once: an existing pair is never replaced; an empty password is refused.
    support::distroless(&cache)
        .args(["keygen", "-o"])
        .arg(&dir)
        .env("DISTROLESS_PASSWORD", "x")
        .assert()
        .failure();
    support::distroless(&cache)
        .args(["keygen", "-o"])
        .arg(tmp.path().join("other"))
        .env_remove("DISTROLESS_PASSWORD")
        .write_stdin("\n")
        .assert()
        .failure();
    if support::have_tool("cosign") {
        let public = support::run(
            Command::new("cosign")
                .args(["public-key", "--key"])
                .arg(dir.join("cosign.key"))
                .env("COSIGN_PASSWORD", "s3cret-pw"),
        );
        assert_eq!(
            public,
            fs_err::read_to_string(dir.join("cosign.pub")).unwrap()
        );
    }
}

#[test]
fn an_empty_password_variable_is_unset_and_the_password_is_read_from_stdin() {
    let repo = testkit::fixtures::catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let dir = tmp.path().join("keys");
    support::distroless(&cache)
        .args(["keygen", "-o"])
        .arg(&dir)
        .env("DISTROLESS_PASSWORD", "pw-1")
        .assert()
        .success();
    let layout = tmp.path().join("img");
    let out = layout.display().to_string();
    support::trusting(
        &cache,
        &repo.file_url(),
        &["build", "-q", "static", "--arch", "amd64", "-o", &out],
    )
    .assert()
    .success();
    let sign = |stdin: &str| {
        support::distroless(&cache)
            .arg("sign")
            .arg(&layout)
            .arg("--key")
            .arg(dir.join("cosign.key"))
            .env("DISTROLESS_PASSWORD", "")
            .write_stdin(stdin.to_string())
            .assert()
    };
    sign("pw-1\n").success();
    // `--json`: what was stored, as a document.
    let a = support::distroless(&cache)
        .args(["sign", "--json", "--key"])
        .arg(dir.join("cosign.key"))
        .arg(&layout)
        .env("DISTROLESS_PASSWORD", "pw-1")
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert!(!doc["stored"].as_array().unwrap().is_empty(), "{doc}");
    let a = sign("").failure();
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(err.contains("needs a password and none was given"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}
