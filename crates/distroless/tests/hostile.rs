//! Hostile inputs through the binary: images we did not build (`debug`, `from = "./x"`).
//! Each must fail with one line naming the problem, leave no output and write nothing outside.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::path::Path;

use serde_json::json;
use testkit::fixtures::catalog_repo;
use testkit::image::{Layout, docker_archive, docker_manifest, layer_tar};

/// Runs `distroless debug IMAGE -o OUT` against the test repository; returns stderr.
fn debug_fails(cache: &Path, repo: &str, image: &Path, out: &Path) -> String {
    let a = support::trusting(cache, repo, &["debug", "-q"])
        .arg(image)
        .arg("-o")
        .arg(out)
        .assert()
        .failure();
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(!out.exists(), "no output after a failure");
    err
}

/// Files and directories left in `dir` whose name starts with `.distroless-`.
fn staging_left(dir: &Path) -> Vec<String> {
    fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".distroless-"))
        .collect()
}

#[test]
fn debug_refuses_hostile_layouts_and_archives() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("o/out");
    fs_err::create_dir_all(tmp.path().join("o")).unwrap();

    // A layer digest that is a path: nothing may be created outside the output.
    let mut l = Layout::write(&tmp.path().join("ev/a/b/in"));
    let mut m = l.manifest_json();
    m["layers"][0]["digest"] = json!("sha256:../../../../x");
    l.set_manifest(&m);
    let e = debug_fails(&cache, &repo.file_url(), &l.root, &out);
    assert!(e.contains("lowercase hex"), "{e}");
    assert!(!tmp.path().join("ev/x").exists() && !tmp.path().join("ev/a/x").exists());

    // A layer blob that is a symlink to a secret.
    let l = Layout::write(&tmp.path().join("sym"));
    let secret = tmp.path().join("shadow");
    fs_err::write(&secret, b"root:$6$topsecret:20000::::::\n").unwrap();
    fs_err::remove_file(l.blob(&l.layer)).unwrap();
    std::os::unix::fs::symlink(&secret, l.blob(&l.layer)).unwrap();
    let e = debug_fails(
        &cache,
        &repo.file_url(),
        &l.root,
        &tmp.path().join("o/out.tar"),
    );
    assert!(e.contains("symlink") && !e.contains("topsecret"), "{e}");

    // A swapped layer (a second uid 0) fails its digest.
    let l = Layout::write(&tmp.path().join("swap"));
    fs_err::write(
        l.blob(&l.layer),
        layer_tar(&[(
            "etc/passwd",
            b"root:x:0:0::/:/bin/sh\nevil:x:0:0::/:/bin/sh\n",
        )]),
    )
    .unwrap();
    let e = debug_fails(&cache, &repo.file_url(), &l.root, &out);
    assert!(e.contains("mismatch"), "{e}");

    // docker-archive paths that leave the archive: the host's files are never read.
    let mut dm = docker_manifest();
    dm[0]["Layers"] = json!(["../../../../etc/shadow"]);
    let tar = tmp.path().join("d.tar");
    docker_archive(&tar, &dm);
    let e = debug_fails(&cache, &repo.file_url(), &tar, &out);
    assert!(e.contains("leaves the archive"), "{e}");
    let mut dm = docker_manifest();
    dm[0]["Config"] = json!("/etc/hostname");
    docker_archive(&tar, &dm);
    assert!(debug_fails(&cache, &repo.file_url(), &tar, &out).contains("leaves the archive"));

    assert!(staging_left(&tmp.path().join("o")).is_empty());
}

#[test]
fn a_recipe_on_a_hostile_base_fails_at_its_from_key() {
    let tmp = tempfile::tempdir().unwrap();
    let l = Layout::write(&tmp.path().join("base"));
    fs_err::write(
        l.blob(&l.layer),
        layer_tar(&[("etc/passwd", b"evil:x:0:0::/:/bin/sh\n")]),
    )
    .unwrap();
    fs_err::write(tmp.path().join("app"), b"#!/bin/true\n").unwrap();
    fs_err::write(
        tmp.path().join("distroless.toml"),
        "from = \"./base\"\nname = \"app\"\n[[copy]]\nsrc = \"app\"\ndest = \"/app\"\nowner = \"evil\"\n",
    )
    .unwrap();
    let a = support::distroless(&tmp.path().join("cache"))
        .current_dir(tmp.path())
        .args(["build", "-q", "-f", "distroless.toml", "-o", "out"])
        .assert()
        .failure();
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("mismatch"), "{err}");
    assert!(!tmp.path().join("out").exists());
    assert!(staging_left(tmp.path()).is_empty());
}
