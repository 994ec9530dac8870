//! Interoperability with cosign itself (Debian's newer suite, fetched by
//! `scripts/fetch-tools.sh`): our keys sign with cosign and our signatures verify with it, and
//! cosign's keys open and sign here.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use sign::{KeyPair, PublicKey};

fn cosign() -> Option<Command> {
    if !testkit::have("cosign") {
        return None;
    }
    let mut c = Command::new("cosign");
    c.env("COSIGN_PASSWORD", "pa55")
        .env_remove("COSIGN_EXPERIMENTAL");
    Some(c)
}

/// `cosign verify-blob` of `d/blob` against `d/cosign.pub` and a signature file in `d`.
fn verify_blob(d: &std::path::Path, signature: &str) -> Command {
    let mut c = cosign().unwrap();
    c.current_dir(d).args([
        "verify-blob",
        "--key",
        "cosign.pub",
        "--insecure-ignore-tlog",
        "--signature",
        signature,
        "blob",
    ]);
    c
}

fn run(mut c: Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{c:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn keys_and_signatures_work_both_ways_with_cosign() {
    let Some(_) = cosign() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    fs_err::write(d.join("blob"), b"hello distroless\n").unwrap();

    // Our key, used by cosign; cosign's signature verified here.
    let ours = KeyPair::generate().unwrap();
    fs_err::write(d.join("ours.key"), ours.to_encrypted_pem(b"pa55").unwrap()).unwrap();
    fs_err::write(d.join("ours.pub"), ours.public().to_pem().unwrap()).unwrap();
    let mut c = cosign().unwrap();
    c.current_dir(d).args([
        "sign-blob",
        "--key",
        "ours.key",
        "--tlog-upload=false",
        "--new-bundle-format=false",
        "--use-signing-config=false",
        "--output-signature",
        "by-cosign.sig",
        "-y",
        "blob",
    ]);
    run(c);
    let sig = fs_err::read_to_string(d.join("by-cosign.sig")).unwrap();
    ours.public().verify(b"hello distroless\n", &sig).unwrap();

    // cosign's key, opened and used here; our signature verified by cosign.
    let mut c = cosign().unwrap();
    c.current_dir(d).args(["generate-key-pair"]);
    run(c);
    let theirs = KeyPair::from_encrypted_pem(
        &fs_err::read_to_string(d.join("cosign.key")).unwrap(),
        b"pa55",
    )
    .unwrap();
    let public =
        PublicKey::from_pem(&fs_err::read_to_string(d.join("cosign.pub")).unwrap()).unwrap();
    assert_eq!(public, theirs.public());
    fs_err::write(d.join("by-us.sig"), theirs.sign(b"hello distroless\n")).unwrap();
    run(verify_blob(d, "by-us.sig"));
    // A signature over other bytes is refused by cosign too.
    fs_err::write(d.join("blob"), b"hello distroless!\n").unwrap();
    assert!(
        !verify_blob(d, "by-us.sig")
            .output()
            .unwrap()
            .status
            .success()
    );
}
