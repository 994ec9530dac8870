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

    assert!(support::names_starting(".distroless-", &tmp.path().join("o")).is_empty());
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
    assert!(support::names_starting(".distroless-", tmp.path()).is_empty());
}

/// Builds the recipe `text` (written as `dir/r.toml`) against an unreachable mirror: every
/// check here must fail before anything is downloaded. Returns stderr.
fn recipe_fails(dir: &Path, text: &str, extra: &[&str]) -> String {
    fs_err::write(dir.join("r.toml"), text).unwrap();
    let a = support::distroless(&dir.join("cache"))
        .current_dir(dir)
        .args([
            "build",
            "-q",
            "-f",
            "r.toml",
            "--mirror",
            "file:///nonexistent/",
        ])
        .args(extra)
        .assert()
        .failure();
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

#[test]
fn recipes_cannot_reach_outside_their_build_context() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path().join("repo");
    fs_err::create_dir_all(&ctx).unwrap();
    fs_err::write(tmp.path().join("secret"), b"s3cret").unwrap();
    std::os::unix::fs::symlink(tmp.path(), ctx.join("up")).unwrap();
    fs_err::write(ctx.join("app"), b"x").unwrap();
    let copy = |src: &str| format!("from = \"static\"\n[[copy]]\nsrc = \"{src}\"\ndest = \"/x\"\n");
    for src in ["/etc/shadow", "../secret", "up/secret"] {
        let e = recipe_fails(&ctx, &copy(src), &[]);
        assert!(
            e.contains("r.toml:3: copy[0].src:") && e.contains("outside the build context"),
            "{e}"
        );
        assert!(!e.contains("s3cret"));
    }
    // A wider context, chosen explicitly, lets the same recipe reach the file.
    let e = recipe_fails(
        &ctx,
        &copy("../secret"),
        &["--context", tmp.path().to_str().unwrap()],
    );
    assert!(!e.contains("outside the build context"), "{e}");

    let e = recipe_fails(
        &ctx,
        "from = \"static\"\nca_certificates = [\"/dev/zero\"]\n",
        &[],
    );
    assert!(
        e.contains("ca_certificates") && e.contains("outside the build context"),
        "{e}"
    );
    std::os::unix::fs::symlink("/dev/zero", ctx.join("zero.pem")).unwrap();
    let e = recipe_fails(
        &ctx,
        "from = \"static\"\nca_certificates = [\"zero.pem\"]\n",
        &["--context", "/"],
    );
    assert!(e.contains("not a regular file"), "{e}");

    // An image on disk is a file the recipe reads too.
    Layout::write(&tmp.path().join("elsewhere"));
    for from in ["../elsewhere", "/etc"] {
        let e = recipe_fails(&ctx, &format!("from = \"{from}\"\n"), &[]);
        assert!(
            e.contains("from:") && e.contains("outside the build context"),
            "{e}"
        );
    }

    for name in ["../../escaped", "/tmp/abs", ""] {
        let e = recipe_fails(&ctx, &format!("name = {name:?}\nfrom = \"static\"\n"), &[]);
        assert!(
            e.contains("name:") && e.contains("is not an image name"),
            "{e}"
        );
    }
    assert!(!tmp.path().join("escaped").exists());
    assert!(
        support::names_starting(".distroless-", &ctx).is_empty()
            && support::names_starting(".distroless-", tmp.path()).is_empty()
    );

    let a = support::distroless(&tmp.path().join("cache"))
        .args([
            "build",
            "-f",
            "/dev/zero",
            "--mirror",
            "file:///nonexistent/",
        ])
        .assert()
        .failure();
    assert!(String::from_utf8_lossy(&a.get_output().stderr).contains("not a regular file"));
}

#[test]
fn text_from_outside_cannot_forge_error_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let a = support::distroless(&tmp.path().join("cache"))
        .args([
            "build",
            "--from",
            "static",
            "--copy",
            "nofile\nerror: injected\u{1b}[31m:/x",
        ])
        .args(["--mirror", "file:///nonexistent/", "-o"])
        .arg(tmp.path().join("o"))
        .assert()
        .failure();
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains('\u{1b}'), "{err:?}");
    assert!(
        err.contains("nofile\\nerror: injected\\u{1b}[31m"),
        "{err:?}"
    );
}

#[test]
fn bad_tags_outputs_and_lock_files_are_named_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let a = support::distroless(&tmp.path().join("cache"))
            .current_dir(tmp.path())
            .args(args)
            .args(["--mirror", "file:///nonexistent/"])
            .assert()
            .failure();
        let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        err
    };
    for tag in ["Bad Tag", "../../x", "", ".hidden", "a:b"] {
        let e = run(&["build", "--from", "static", "--tag", tag]);
        assert!(
            e.contains("tags:") && e.contains("is not a tag"),
            "{tag:?}: {e}"
        );
    }
    let e = run(&["build", "static", "-o", "x.tar.gz"]);
    assert!(
        e.contains("x.tar.gz: compressed archives are not written"),
        "{e}"
    );
    let e = run(&["build", "static", "--locked", "--lockfile", "missing.lock"]);
    assert!(e.contains("missing.lock: no such lock file"), "{e}");
    assert!(!tmp.path().join("x.tar.gz").exists());
}

#[test]
fn hostile_lock_files_and_accounts_are_refused_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let lock_case = |body: &str, why: &str| {
        let lock = tmp.path().join("l.lock");
        fs_err::write(&lock, body).unwrap();
        let a = support::distroless(&tmp.path().join("cache"))
            .args(["build", "static", "--locked", "--lockfile"])
            .arg(&lock)
            .args(["--mirror", "file:///nonexistent/", "-o"])
            .arg(tmp.path().join("o"))
            .assert()
            .failure();
        let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(why), "{why}: {err}");
    };
    let pkg = |filename: &str, only: &str| {
        format!(
            "version = 1\n[[image]]\nname = \"static\"\ndebian = 13\narch = \"amd64\"\ndebian_version = \"13\"\nrelease_date = \"x\"\n[[image.tiers]]\nname = \"static\"\n[[image.tiers.packages]]\nname = \"base-files\"\nversion = \"1\"\narchitecture = \"amd64\"\nsuite = \"trixie\"\nfilename = \"{filename}\"\nsize = 1\nsha256 = \"{}\"\n{only}[image.ca_certificates]\nname = \"ca-certificates\"\nversion = \"1\"\narchitecture = \"all\"\nsuite = \"trixie\"\nfilename = \"pool/c.deb\"\nsize = 1\nsha256 = \"{}\"\n",
            "a".repeat(64),
            "b".repeat(64)
        )
    };
    for bad in [
        "pool/../../etc/passwd",
        "/etc/passwd",
        "http://127.0.0.1:9/x.deb",
        "pool/%2e%2e/x",
    ] {
        lock_case(&pkg(bad, ""), "is not a path inside the pool");
    }
    lock_case(
        &pkg("pool/b.deb", "only = [\"../../../etc/shadow\"]\n"),
        "only lists paths that are not plain paths",
    );
    lock_case(
        &format!("{}surprise = 1\n", pkg("pool/b.deb", "")),
        "unknown field",
    );
    // A FIFO is named as what it is, not as a missing file.
    let fifo = tmp.path().join("fifo.lock");
    std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    let a = support::distroless(&tmp.path().join("cache"))
        .args(["build", "static", "--locked", "--lockfile"])
        .arg(&fifo)
        .args(["--mirror", "file:///nonexistent/"])
        .assert()
        .failure();
    assert!(String::from_utf8_lossy(&a.get_output().stderr).contains("not a regular file"));

    // Users that would write another passwd line or take over a system directory.
    let dir = tmp.path().join("app");
    fs_err::create_dir_all(&dir).unwrap();
    for (body, why) in [
        (
            "name = \"evil\\nroot2::0:0::/:/bin/sh\"\nuid = 2000\n",
            "is not a user name",
        ),
        ("name = \"a:b\"\nuid = 2000\n", "is not a user name"),
        (
            "name = \"app\"\nuid = 2000\nhome = \"/etc\"\n",
            "is not a home directory",
        ),
        (
            "name = \"app\"\nuid = 2000\nhome = \"/etc/passwd\"\n",
            "is not a home directory",
        ),
        (
            "name = \"app\"\nuid = 2000\ngid = 7777\n",
            "group 7777 is not in the image",
        ),
    ] {
        let e = recipe_fails(&dir, &format!("from = \"static\"\n[[users]]\n{body}"), &[]);
        assert!(e.contains(why), "{body}: {e}");
    }
}

#[test]
fn only_a_real_layout_is_added_to_or_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("k2");
    fs_err::create_dir_all(out.join("index.json")).unwrap();
    fs_err::write(out.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    fs_err::write(out.join("index.json/notes.txt"), "precious").unwrap();
    for extra in [&[][..], &["--replace"][..]] {
        let a = support::distroless(&tmp.path().join("cache"))
            .args([
                "build",
                "--from",
                "static",
                "--mirror",
                "file:///nonexistent/",
                "-o",
            ])
            .arg(&out)
            .args(extra)
            .assert()
            .failure();
        let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
        assert!(
            err.contains("is not an OCI layout") || err.contains("not an OCI layout"),
            "{err}"
        );
    }
    assert_eq!(
        fs_err::read_to_string(out.join("index.json/notes.txt")).unwrap(),
        "precious"
    );
}
