//! End-to-end tests against a signed Debian repository the tests build themselves.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::path::Path;

use predicates::str::contains;
use support::{config, distroless, files, manifests};
use testkit::fixtures::{catalog_repo, catalog_repo_with};
use testkit::{DebBuilder, DebEntry, Server, SignKey};

/// `distroless build IMAGE` for amd64 against a test repository trusted through its key.
fn build_cmd(repo_url: &str, cache: &Path, image: &str, extra: &[&str]) -> assert_cmd::Command {
    let mut args = vec!["build", image, "-q", "--arch", "amd64"];
    args.extend_from_slice(extra);
    support::trusting(cache, repo_url, &args)
}

fn build(repo_url: &str, cache: &Path, image: &str, out: &Path) -> assert_cmd::assert::Assert {
    build_cmd(repo_url, cache, image, &[])
        .arg("-o")
        .arg(out)
        .assert()
}

fn index_digest(out: &Path) -> String {
    let index = fs_err::read(out.join("index.json")).unwrap();
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&index))
}

#[test]
fn static_image_has_the_distroless_skeleton() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("static");
    build(&repo.file_url(), &tmp.path().join("cache"), "static", &out).success();
    let ms = manifests(&out);
    assert_eq!(ms.len(), 1);
    let (arch, m) = &ms[0];
    assert_eq!(arch, "amd64");
    assert_eq!(m["layers"].as_array().unwrap().len(), 1);
    let f = files(&out, m);
    let text = |p: &str| String::from_utf8(f[p].data.clone()).unwrap();
    assert!(
        text("etc/passwd").contains("nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin")
    );
    assert!(text("etc/group").contains("tty:x:5:"));
    assert!(text("usr/lib/os-release").contains("PRETTY_NAME=\"Distroless\""));
    assert_eq!(
        f["etc/os-release"].link.as_deref(),
        Some("../usr/lib/os-release")
    );
    assert_eq!(f["tmp"].mode, 0o1777);
    assert_eq!(f["root"].mode, 0o700);
    assert_eq!(
        (
            f["home/nonroot"].uid,
            f["home/nonroot"].gid,
            f["home/nonroot"].mode
        ),
        (65532, 65532, 0o700)
    );
    // CA bundle: every certificate, in path order; of the package only its copyright and its
    // record (scanners and license checks see it), never its programs.
    let bundle = text("etc/ssl/certs/ca-certificates.crt");
    assert!(bundle.find("AAAA").unwrap() < bundle.find("BBBB").unwrap());
    assert!(text("var/lib/dpkg/status.d/ca-certificates").contains("Package: ca-certificates"));
    assert!(text("usr/share/doc/ca-certificates/copyright").contains("MPL-2.0"));
    assert!(!f.contains_key("usr/sbin/update-ca-certificates"));
    assert!(!f.contains_key("usr/share/ca-certificates/mozilla/A_Root.crt"));
    let sums = text("var/lib/dpkg/status.d/ca-certificates.md5sums");
    assert_eq!(sums.lines().count(), 1, "{sums}");
    assert!(
        sums.ends_with("  usr/share/doc/ca-certificates/copyright\n"),
        "{sums}"
    );
    // The newer tzdata from -updates wins; excluded packages are absent.
    assert!(text("var/lib/dpkg/status.d/tzdata").contains("Version: 2026g-0+deb13u1"));
    for absent in ["mawk", "debconf", "cdebconf"] {
        assert!(
            !f.contains_key(&format!("var/lib/dpkg/status.d/{absent}")),
            "{absent}"
        );
    }
    assert!(text("var/lib/dpkg/status.d/netbase.md5sums").contains("  etc/services"));
    assert!(f.values().all(|e| e.mtime == 0));
    let cfg = config(&out, m);
    let env = cfg["config"]["Env"].to_string();
    assert!(
        env.contains("SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"),
        "{env}"
    );
    assert_eq!(cfg["created"], "1970-01-01T00:00:00Z");
}

#[test]
fn merged_usr_rewrites_paths_and_md5sums() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("base");
    build(
        &repo.file_url(),
        &tmp.path().join("cache"),
        "base-nossl",
        &out,
    )
    .success();
    let (_, m) = &manifests(&out)[0];
    let f = files(&out, m);
    assert!(f.contains_key("usr/lib/x86_64-linux-gnu/libc.so.6"));
    assert!(!f.contains_key("lib/x86_64-linux-gnu/libc.so.6"));
    assert_eq!(f["lib"].link.as_deref(), Some("usr/lib"));
    // lib64 was not provided by base-files, so the build adds the link the loader path needs.
    assert_eq!(f["lib64"].link.as_deref(), Some("usr/lib64"));
    assert!(f.contains_key("usr/lib64/ld-linux-x86-64.so.2"));
    let md5 = String::from_utf8(f["var/lib/dpkg/status.d/libc6.md5sums"].data.clone()).unwrap();
    assert!(
        md5.contains("  usr/lib/x86_64-linux-gnu/libc.so.6"),
        "{md5}"
    );
    assert!(!f.contains_key("var/lib/dpkg/status.d/libgcc-s1"));
}

#[test]
fn tiers_share_layers_and_builds_are_reproducible() {
    let repo = catalog_repo();
    let server = Server::start(repo.root());
    let tmp = tempfile::tempdir().unwrap();
    let (a, b, s) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("s"),
    );
    build(&repo.file_url(), &tmp.path().join("c1"), "cc", &a).success();
    build(&server.url, &tmp.path().join("c2"), "cc", &b).success();
    build(&repo.file_url(), &tmp.path().join("c3"), "static", &s).success();
    assert_eq!(
        index_digest(&a),
        index_digest(&b),
        "file:// and http:// builds differ"
    );
    let cc = &manifests(&a)[0].1;
    let st = &manifests(&s)[0].1;
    assert_eq!(cc["layers"].as_array().unwrap().len(), 4);
    assert_eq!(
        cc["layers"][0]["digest"], st["layers"][0]["digest"],
        "cc must reuse static's layer"
    );
    let ann = &cc["annotations"];
    assert_eq!(
        ann["org.opencontainers.image.base.name"],
        "base-debian13:latest"
    );
    assert_eq!(ann["org.opencontainers.image.version"], "13.1");
}

#[test]
fn dry_run_lists_the_resolved_set_and_cut_dependencies() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let out = support::trusting(
        &tmp.path().join("cache"),
        &repo.file_url(),
        &["build", "cc", "--dry-run", "--arch", "amd64"],
    )
    .assert()
    .success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let tiers: Vec<(&str, Vec<&str>)> = vec![
        (
            "static",
            vec![
                "base-files",
                "media-types",
                "netbase",
                "tzdata",
                "tzdata-legacy",
            ],
        ),
        ("base-nossl", vec!["libc6"]),
        ("base", vec!["libssl3t64", "libzstd1", "zlib1g"]),
        (
            "cc",
            vec!["gcc-14-base", "libgcc-s1", "libgomp1", "libstdc++6"],
        ),
    ];
    for (tier, pkgs) in tiers {
        let section = text.split(&format!("tier {tier}:")).nth(1).unwrap();
        let section = section
            .split("tier ")
            .next()
            .unwrap()
            .split("dependencies cut")
            .next()
            .unwrap();
        let names: Vec<&str> = section
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        assert_eq!(names, pkgs, "tier {tier}:\n{text}");
    }
    assert!(text.contains("base-files → awk"), "{text}");
    assert!(text.contains("libc6 → libgcc-s1"), "{text}");
    assert!(
        text.contains("libssl3t64 → openssl-provider-legacy"),
        "{text}"
    );
    assert!(!std::path::Path::new("cc").exists());
}

#[test]
fn unsatisfiable_dependency_shows_the_chain() {
    let repo = catalog_repo_with(|pkgs| {
        for p in pkgs.iter_mut().filter(|p| p.name == "libstdc++6") {
            p.fields = vec![("Depends".into(), "libgcc-s1 (>= 99)".into())];
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    build(&repo.file_url(), &tmp.path().join("cache"), "cc", &tmp.path().join("cc"))
        .failure()
        .stderr(contains("cc-debian13 → libstdc++6 → libgcc-s1 (>= 99): unsatisfiable (libgcc-s1 14.2.0-19 available)"));
    assert!(!tmp.path().join("cc").exists());
}

/// Building `static` from the repository fails with `message` and leaves nothing behind.
fn rejects(repo_url: &str, message: &str) {
    let tmp = tempfile::tempdir().unwrap();
    build(
        repo_url,
        &tmp.path().join("cache"),
        "static",
        &tmp.path().join("o"),
    )
    .failure()
    .stderr(contains(message));
    assert_no_output(tmp.path());
}

fn assert_no_output(dir: &Path) {
    let leftovers: Vec<_> = fs_err::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n != "cache")
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

#[test]
fn tampered_inrelease_is_rejected() {
    let repo = catalog_repo();
    let path = repo.root().join("dists/trixie/InRelease");
    let text = fs_err::read_to_string(&path)
        .unwrap()
        .replace("Version: 13.1", "Version: 13.9");
    fs_err::write(&path, text).unwrap();
    rejects(
        &repo.file_url(),
        "dists/trixie/InRelease: signature verification failed",
    );
}

#[test]
fn unknown_signing_key_is_rejected() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    // Debian's embedded keys only: the test key is unknown.
    distroless(&tmp.path().join("cache"))
        .args([
            "build",
            "static",
            "-q",
            "--arch",
            "amd64",
            "--mirror",
            &repo.file_url(),
            "-o",
        ])
        .arg(tmp.path().join("o"))
        .assert()
        .failure()
        .stderr(contains("signed by unknown key"));
    assert_no_output(tmp.path());
}

#[test]
fn expired_release_needs_the_flag() {
    let mut repo = testkit::Repo::new();
    for p in testkit::fixtures::catalog_packages() {
        repo.add("trixie", p);
    }
    repo.suite("trixie-updates").suite("trixie-security");
    repo.publish(
        "amd64",
        Some("Sat, 01 Jan 2000 00:00:00 UTC"),
        SignKey::shared(),
    );
    let tmp = tempfile::tempdir().unwrap();
    build(
        &repo.file_url(),
        &tmp.path().join("cache"),
        "static",
        &tmp.path().join("o"),
    )
    .failure()
    .stderr(contains("expired"))
    .stderr(contains("--allow-expired-release"));
    build_cmd(
        &repo.file_url(),
        &tmp.path().join("cache"),
        "static",
        &["--allow-expired-release"],
    )
    .arg("-o")
    .arg(tmp.path().join("o"))
    .assert()
    .success();
}

#[test]
fn packages_index_hash_mismatch_is_rejected() {
    let repo = catalog_repo();
    let path = repo
        .root()
        .join("dists/trixie/main/binary-amd64/Packages.gz");
    let mut bytes = fs_err::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    fs_err::write(&path, bytes).unwrap();
    // The gzip index is the one read (it decompresses three times faster than xz).
    rejects(
        &repo.file_url(),
        "dists/trixie/main/binary-amd64/Packages.gz: hash mismatch",
    );
}

#[test]
fn deb_hash_mismatch_is_rejected_and_not_cached() {
    let repo = catalog_repo();
    let deb = repo.root().join("pool/main/trixie/netbase_6.5_all.deb");
    let mut bytes = fs_err::read(&deb).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0xff;
    fs_err::write(&deb, bytes).unwrap();
    rejects(
        &repo.file_url(),
        "pool/main/trixie/netbase_6.5_all.deb: hash mismatch",
    );
}

fn hostile(entry: DebEntry) -> testkit::Repo {
    catalog_repo_with(move |pkgs| {
        let i = pkgs.iter().position(|p| p.name == "netbase").unwrap();
        pkgs[i] = DebBuilder::new("netbase", "6.5", "all")
            .file("etc/services", b"x")
            .entry(entry);
    })
}

#[test]
fn malicious_debs_are_rejected() {
    let cases = [
        (
            DebEntry::RawFile("../../etc/evil".into(), b"x".to_vec()),
            "contains `..`",
        ),
        (
            DebEntry::RawFile("/etc/evil".into(), b"x".to_vec()),
            "absolute path",
        ),
        (DebEntry::Symlink("etc/escape".into(), "/tmp".into()), ""),
        (
            DebEntry::Hardlink("etc/link".into(), "etc/shadow".into()),
            "not an earlier file",
        ),
        // `etc/services` is a file of the package: the same path again as a directory.
        (DebEntry::Dir("etc/services".into(), 0o755), "appears twice"),
        (
            DebEntry::RawFile(format!("etc/{}", "n".repeat(300)), b"x".to_vec()),
            "path component over 255 bytes",
        ),
        (
            DebEntry::RawFile("usr/GNUSparseFile.0/big".into(), b"x".to_vec()),
            "sparse file",
        ),
    ];
    for (entry, message) in cases {
        let through = matches!(&entry, DebEntry::Symlink(..));
        let repo = if through {
            catalog_repo_with(|pkgs| {
                let i = pkgs.iter().position(|p| p.name == "netbase").unwrap();
                pkgs[i] = DebBuilder::new("netbase", "6.5", "all")
                    .entry(DebEntry::Symlink("etc/escape".into(), "/tmp".into()))
                    .entry(DebEntry::RawFile("etc/escape/evil".into(), b"x".to_vec()));
            })
        } else {
            hostile(entry)
        };
        let message = if through {
            "written through the symlink"
        } else {
            message
        };
        let tmp = tempfile::tempdir().unwrap();
        build(
            &repo.file_url(),
            &tmp.path().join("cache"),
            "static",
            &tmp.path().join("o"),
        )
        .failure()
        .stderr(contains("netbase"))
        .stderr(contains(message));
        assert_no_output(tmp.path());
    }
}

#[test]
fn an_oversized_control_file_is_refused_before_it_is_read() {
    let repo = catalog_repo_with(|pkgs| {
        let i = pkgs.iter().position(|p| p.name == "netbase").unwrap();
        pkgs[i] = pkgs[i].clone().field("X-Padding", &"x".repeat(2 << 20));
    });
    let tmp = tempfile::tempdir().unwrap();
    build(
        &repo.file_url(),
        &tmp.path().join("cache"),
        "static",
        &tmp.path().join("o"),
    )
    .failure()
    .stderr(contains("netbase"))
    .stderr(contains(
        "control.tar/control exceeds the 1048576-byte limit",
    ));
    assert_no_output(tmp.path());
}

#[test]
fn truncated_deb_is_rejected() {
    let repo = catalog_repo_with(|_| {});
    // Re-publish with a truncated netbase whose index entry matches the truncated bytes, so the
    // failure comes from reading the archive, not from the hash check.
    let mut repo2 = testkit::Repo::new();
    let mut pkgs = testkit::fixtures::catalog_packages();
    let i = pkgs.iter().position(|p| p.name == "netbase").unwrap();
    pkgs[i] = pkgs[i]
        .clone()
        .file("usr/share/doc/netbase/big", &vec![7u8; 200_000]);
    for p in pkgs {
        repo2.add("trixie", p);
    }
    repo2.suite("trixie-updates").suite("trixie-security");
    repo2.publish("amd64", None, SignKey::shared());
    drop(repo);
    let deb = repo2.root().join("pool/main/trixie/netbase_6.5_all.deb");
    let bytes = fs_err::read(&deb).unwrap();
    let cut = &bytes[..bytes.len() / 2];
    fs_err::write(&deb, cut).unwrap();
    // Fix up the index so size and hash match the truncated file.
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(cut));
    let old_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let dist = repo2.root().join("dists/trixie");
    let packages = fs_err::read_to_string(dist.join("main/binary-amd64/Packages"))
        .unwrap()
        .replace(&old_sha, &sha)
        .replace(
            &format!("Size: {}\n", bytes.len()),
            &format!("Size: {}\n", cut.len()),
        );
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    std::io::Write::write_all(&mut xz, packages.as_bytes()).unwrap();
    let xz = xz.finish().unwrap();
    fs_err::write(dist.join("main/binary-amd64/Packages.xz"), &xz).unwrap();
    let release = format!(
        "Suite: trixie\nCodename: trixie\nVersion: 13.1\nDate: Sat, 10 May 2025 09:00:00 UTC\nArchitectures: amd64\nSHA256:\n {} {} main/binary-amd64/Packages.xz\n",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&xz)),
        xz.len()
    );
    fs_err::write(
        dist.join("InRelease"),
        SignKey::shared().clearsign(&release),
    )
    .unwrap();
    rejects(&repo2.file_url(), "netbase");
}

#[test]
fn corrupted_cache_is_repaired_and_offline_works() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let (a, b, c) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("c"),
    );
    build(&repo.file_url(), &cache, "base", &a).success();
    // Corrupt every cached blob.
    for e in fs_err::read_dir(cache.join("sha256")).unwrap() {
        let p = e.unwrap().path();
        let mut bytes = fs_err::read(&p).unwrap();
        bytes[0] ^= 0xff;
        fs_err::write(&p, bytes).unwrap();
    }
    build(&repo.file_url(), &cache, "base", &b).success();
    assert_eq!(index_digest(&a), index_digest(&b));
    build_cmd("file:///nonexistent/", &cache, "base", &["--offline"])
        .arg("-o")
        .arg(&c)
        .assert()
        .failure()
        .stderr(contains("offline"));
    build_cmd(&repo.file_url(), &cache, "base", &["--offline"])
        .arg("-o")
        .arg(&c)
        .assert()
        .success();
    assert_eq!(index_digest(&a), index_digest(&c));
    let empty = tmp.path().join("empty-cache");
    build_cmd(&repo.file_url(), &empty, "base", &["--offline"])
        .arg("-o")
        .arg(tmp.path().join("d"))
        .assert()
        .failure()
        .stderr(contains("offline"));
}

#[test]
fn debug_nonroot_variant() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("d");
    build(
        &repo.file_url(),
        &tmp.path().join("cache"),
        "static:debug-nonroot",
        &out,
    )
    .success();
    let (_, m) = &manifests(&out)[0];
    let f = files(&out, m);
    assert_eq!(f["busybox/busybox"].data, testkit::fixtures::fake_busybox());
    assert_eq!(f["busybox/sh"].link.as_deref(), Some("/busybox/busybox"));
    assert_eq!(
        f["busybox/tool59"].link.as_deref(),
        Some("/busybox/busybox")
    );
    assert!(!f.contains_key("busybox/other strings"));
    assert!(
        !f.keys()
            .any(|k| k.starts_with("bin/") || k.starts_with("usr/bin/sh"))
    );
    let cfg = config(&out, m);
    assert_eq!(cfg["config"]["User"], "65532");
    assert_eq!(cfg["config"]["WorkingDir"], "/home/nonroot");
    assert_eq!(cfg["config"]["Entrypoint"][0], "/busybox/sh");
    assert!(
        cfg["config"]["Env"][0]
            .as_str()
            .unwrap()
            .ends_with(":/busybox")
    );
}

#[test]
fn zstd_package_layering_and_archive_output() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("base");
    let extra = ["--compression", "zstd", "--layering", "package"];
    build_cmd(&repo.file_url(), &tmp.path().join("cache"), "base", &extra)
        .arg("-o")
        .arg(&out)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .assert()
        .success();
    let (_, m) = &manifests(&out)[0];
    let layers = m["layers"].as_array().unwrap();
    // skeleton + 5 static packages + libc6 + libssl3t64, libzstd1, zlib1g
    assert_eq!(layers.len(), 10);
    assert!(
        layers
            .iter()
            .all(|l| l["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd")
    );
    let f = files(&out, m);
    assert!(f.values().all(|e| e.mtime == 1_700_000_000));
    // The generated os-release stands above base-files' one, as with one layer per tier.
    let os = String::from_utf8(f["usr/lib/os-release"].data.clone()).unwrap();
    assert!(os.contains("PRETTY_NAME=\"Distroless\""), "{os}");
    assert_eq!(config(&out, m)["created"], "2023-11-14T22:13:20Z");

    let archive = tmp.path().join("base.tar");
    build(
        &repo.file_url(),
        &tmp.path().join("cache"),
        "base",
        &archive,
    )
    .success();
    assert!(archive.is_file());
    if support::have_tool("skopeo") {
        let out = std::process::Command::new("skopeo")
            .args([
                "inspect",
                // An oci-archive names NAME:TAG, which `podman load` takes as the image name.
                &format!(
                    "oci-archive:{}:distroless/base-debian13:latest",
                    archive.display()
                ),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["Architecture"], "amd64");
    }
}

#[test]
fn bad_arguments_give_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    distroless(&tmp.path().join("cache"))
        .args(["build", "nope", "--mirror", "file:///x/"])
        .assert()
        .failure()
        .stderr(contains("no catalog image named \"nope\""));
    distroless(&tmp.path().join("cache"))
        .args(["build", "static", "--arch", "vax", "--mirror", "file:///x/"])
        .assert()
        .failure()
        .stderr(contains("unknown architecture \"vax\""));
    distroless(&tmp.path().join("cache"))
        .args(["build", "static", "--mirror", "ftp://x/"])
        .assert()
        .failure()
        .stderr(contains("not supported"));
    let a = distroless(&tmp.path().join("cache"))
        .args(["list"])
        .assert()
        .success();
    let text = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    let row = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap()
            .to_string()
    };
    assert!(row("base-nossl").contains(" 12,13 "), "{text}");
    assert!(
        row("java17").contains(" 12 ") && !row("java17").contains("13"),
        "{text}"
    );
    assert!(
        row("java21").contains(" 13 ") && !row("java21").contains("12,"),
        "{text}"
    );
    // A reader that stops early is no error.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} list --json | head -c 10 >/dev/null",
            assert_cmd::cargo::cargo_bin("distroless").display()
        ))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn shell_completions_are_scripts_the_shells_read() {
    let bin = assert_cmd::cargo::cargo_bin("distroless");
    for (shell, check) in [("bash", "bash -n"), ("zsh", ""), ("fish", "")] {
        let out = std::process::Command::new(&bin)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("--locked") && text.contains("needs"),
            "{shell}"
        );
        if !check.is_empty() {
            let tmp = tempfile::NamedTempFile::new().unwrap();
            fs_err::write(tmp.path(), &text).unwrap();
            let ok = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{check} {}", tmp.path().display()))
                .status()
                .unwrap();
            assert!(ok.success(), "{shell} completion does not parse");
        }
    }
}

#[test]
fn closure_check_names_the_file_and_the_library() {
    // A real dynamically linked program in an image whose (fake) libc6 has no real libc.
    let program = fs_err::read("/usr/bin/true").unwrap();
    let repo = catalog_repo_with(move |pkgs| {
        let i = pkgs.iter().position(|p| p.name == "libc6").unwrap();
        pkgs[i] = pkgs[i].clone().file_mode("usr/bin/probe", &program, 0o755);
    });
    let tmp = tempfile::tempdir().unwrap();
    build(
        &repo.file_url(),
        &tmp.path().join("cache"),
        "base-nossl",
        &tmp.path().join("o"),
    )
    .failure()
    .stderr(contains(
        "closure check: /usr/bin/probe needs /lib64/ld-linux-x86-64.so.2",
    ))
    .stderr(contains(
        "/usr/bin/probe needs libc.so.6, which is not in the image",
    ))
    .stderr(contains("--allow-missing"));
    assert_no_output(tmp.path());
    build_cmd(
        &repo.file_url(),
        &tmp.path().join("cache"),
        "base-nossl",
        &["--allow-missing"],
    )
    .arg("-o")
    .arg(tmp.path().join("o"))
    .assert()
    .success()
    .stderr(contains("warning: /usr/bin/probe needs libc.so.6"));
}

#[test]
fn sboms_are_written_valid_and_reproducible() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("base");
    build(
        &repo.file_url(),
        &tmp.path().join("cache"),
        "base:debug",
        &out,
    )
    .success();
    let spdx_path = tmp.path().join("base.spdx.json");
    let cdx_path = tmp.path().join("base.cdx.json");
    support::validate_sbom("spdx", &spdx_path);
    support::validate_sbom("cdx", &cdx_path);
    let spdx: serde_json::Value =
        serde_json::from_slice(&fs_err::read(&spdx_path).unwrap()).unwrap();
    let names: Vec<&str> = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "base-files",
            "busybox-static",
            "ca-certificates",
            "libc6",
            "libssl3t64",
            "libzstd1",
            "media-types",
            "netbase",
            "tzdata",
            "tzdata-legacy",
            "zlib1g"
        ]
    );
    let zlib = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "zlib1g")
        .unwrap();
    assert_eq!(
        zlib["externalRefs"][0]["referenceLocator"],
        "pkg:deb/debian/zlib1g@1%3A1.3?arch=amd64&distro=debian-13"
    );
    assert_eq!(zlib["checksums"][0]["algorithm"], "SHA256");
    let cdx: serde_json::Value = serde_json::from_slice(&fs_err::read(&cdx_path).unwrap()).unwrap();
    assert_eq!(cdx["specVersion"], "1.6");
    assert_eq!(cdx["components"].as_array().unwrap().len(), names.len());
    // Same inputs, same SBOM bytes.
    let again = tmp.path().join("again");
    build(
        &repo.file_url(),
        &tmp.path().join("cache2"),
        "base:debug",
        &again,
    )
    .success();
    assert_eq!(
        fs_err::read(&cdx_path).unwrap(),
        fs_err::read(tmp.path().join("again.cdx.json")).unwrap()
    );
    // --sbom none writes none.
    build_cmd(
        &repo.file_url(),
        &tmp.path().join("cache"),
        "static",
        &["--sbom", "none"],
    )
    .arg("-o")
    .arg(tmp.path().join("plain"))
    .assert()
    .success();
    assert!(!tmp.path().join("plain.spdx.json").exists());
}

#[test]
fn lockfile_pins_updates_and_explains_vanished_versions() {
    let newer = |pkgs: &mut Vec<DebBuilder>| {
        let i = pkgs.iter().position(|p| p.name == "netbase").unwrap();
        pkgs[i] = DebBuilder::new("netbase", "6.6", "all")
            .file("etc/services", b"ssh 22/tcp\nhttp 80/tcp\n");
    };
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let lockfile = tmp.path().join("distroless.lock");
    let cache = tmp.path().join("cache");
    let lock = |url: &str, extra: &[&str]| {
        support::trusting(&cache, url, &["lock", "--arch", "amd64"])
            .arg("--lockfile")
            .arg(&lockfile)
            .args(extra)
            .assert()
            .success()
    };
    lock(&repo.file_url(), &["cc"]);
    let text = fs_err::read_to_string(&lockfile).unwrap();
    assert!(
        text.contains("name = \"netbase\"\nversion = \"6.5\""),
        "{text}"
    );
    assert!(text.contains("release_date = \"Sat, 10 May 2025 09:00:00 UTC\""));
    assert!(text.contains("filename = \"pool/main/trixie/netbase_6.5_all.deb\""));

    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    build(&repo.file_url(), &cache, "cc", &a).success();
    let locked = |url: &str, out: &Path, cache: &Path| {
        let lf = format!("--lockfile={}", lockfile.display());
        build_cmd(url, cache, "cc", &["--locked", &lf])
            .arg("-o")
            .arg(out)
            .assert()
    };
    locked(&repo.file_url(), &b, &cache).success();
    assert_eq!(index_digest(&a), index_digest(&b));

    // The archive moves on: netbase 6.6 replaces 6.5 in the pool.
    let moved = catalog_repo_with(newer);
    let c = tmp.path().join("c");
    // (A fresh cache: a cached .deb would still build.)
    let fresh = tmp.path().join("fresh-cache");
    locked(&moved.file_url(), &c, &fresh)
        .failure()
        .stderr(contains("snapshot mirror"))
        .stderr(contains("Sat, 10 May 2025"));
    let out = lock(&moved.file_url(), &["--update"]);
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert_eq!(stdout.trim(), "cc-debian13 amd64: netbase: 6.5 → 6.6");
    locked(&moved.file_url(), &c, &fresh).success();

    build_cmd(
        &repo.file_url(),
        &cache,
        "static",
        &["--locked", &format!("--lockfile={}", lockfile.display())],
    )
    .arg("-o")
    .arg(tmp.path().join("d"))
    .assert()
    .failure()
    .stderr(contains(
        "not in the lock file; run `distroless lock static-debian13 --arch amd64`",
    ));
}

#[test]
fn all_arches_builds_what_the_suite_offers() {
    let repo = testkit::fixtures::catalog_repo_for(&["amd64", "arm64", "armhf", "riscv64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("all");
    support::trusting(
        &tmp.path().join("cache"),
        &repo.file_url(),
        &["build", "static:debug", "-q", "--all-arches"],
    )
    .arg("-o")
    .arg(&out)
    .assert()
    .success();
    let index: serde_json::Value =
        serde_json::from_slice(&fs_err::read(out.join("index.json")).unwrap()).unwrap();
    let inner = support::blob(&out, index["manifests"][0]["digest"].as_str().unwrap());
    let inner: serde_json::Value = serde_json::from_slice(&fs_err::read(inner).unwrap()).unwrap();
    let platforms: Vec<String> = inner["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let p = &m["platform"];
            format!(
                "{}/{}",
                p["architecture"].as_str().unwrap(),
                p["variant"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(platforms, ["amd64/", "arm64/v8", "arm/v7", "riscv64/"]);
    for (arch, sbom) in [
        ("amd64", "all.amd64.spdx.json"),
        ("riscv64", "all.riscv64.cdx.json"),
    ] {
        assert!(tmp.path().join(sbom).is_file(), "{arch}");
    }
    // Each architecture's busybox comes from its own package.
    let ms = manifests(&out);
    let arm = &ms.iter().find(|(a, _)| a == "arm").unwrap().1;
    let f = files(&out, arm);
    assert!(
        String::from_utf8(f["var/lib/dpkg/status.d/busybox-static"].data.clone())
            .unwrap()
            .contains("Architecture: armhf")
    );
}

#[test]
fn a_signed_release_of_another_suite_is_refused() {
    let repo = catalog_repo();
    let dists = repo.root().join("dists");
    fs_err::copy(
        dists.join("trixie-updates/InRelease"),
        dists.join("trixie-security/InRelease"),
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    build(
        &repo.file_url(),
        &tmp.path().join("c"),
        "static",
        &tmp.path().join("o"),
    )
    .failure()
    .stderr(contains(
        "dists/trixie-security/InRelease: is the release of \"trixie-updates\"",
    ));
}

#[test]
fn a_release_dated_in_the_future_is_refused() {
    let repo = catalog_repo();
    let dist = repo.root().join("dists/trixie");
    let text = fs_err::read_to_string(dist.join("Release"))
        .unwrap()
        .replace(
            "Date: Sat, 10 May 2025 09:00:00 UTC",
            "Date: Sat, 01 Jan 2050 00:00:00 UTC",
        );
    fs_err::write(dist.join("InRelease"), SignKey::shared().clearsign(&text)).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    build(
        &repo.file_url(),
        &tmp.path().join("c"),
        "static",
        &tmp.path().join("o"),
    )
    .failure()
    .stderr(contains("lies in the future (not valid yet)"));
}

#[test]
fn concurrent_builds_repair_a_shared_corrupt_cache() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    build(&repo.file_url(), &cache, "base", &tmp.path().join("first")).success();
    // Corrupt every cached package and forget every derived record, so all builds must
    // re-verify (and repair) the same entries at the same time.
    for e in fs_err::read_dir(cache.join("sha256")).unwrap() {
        let p = e.unwrap().path();
        let mut bytes = fs_err::read(&p).unwrap();
        bytes[0] ^= 0xff;
        fs_err::write(&p, bytes).unwrap();
    }
    for e in fs_err::read_dir(&cache).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("layers-") || name.starts_with("facts-") || name.starts_with("plans-") {
            fs_err::remove_dir_all(&p).unwrap();
        }
    }
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let mut cmd = support::trusting_process(
                &cache,
                &repo.file_url(),
                &["build", "base", "-q", "--arch", "amd64"],
            );
            cmd.arg("-o").arg(tmp.path().join(format!("par{i}")));
            std::thread::spawn(move || cmd.output().unwrap())
        })
        .collect();
    let first = index_digest(&tmp.path().join("first"));
    for (i, h) in handles.into_iter().enumerate() {
        let out = h.join().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(index_digest(&tmp.path().join(format!("par{i}"))), first);
    }
}

#[test]
fn data_after_the_signature_gives_one_short_line() {
    let repo = catalog_repo();
    let path = repo.root().join("dists/trixie/InRelease");
    let mut bytes = fs_err::read(&path).unwrap();
    bytes.extend(std::iter::repeat_n(b'A', 1 << 20));
    fs_err::write(&path, bytes).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let a = build(
        &repo.file_url(),
        &tmp.path().join("c"),
        "static",
        &tmp.path().join("o"),
    )
    .failure();
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{}", &err[..err.len().min(500)]);
    assert!(err.len() < 600, "{} bytes: {}", err.len(), &err[..500]);
    assert!(err.contains("dists/trixie/InRelease"), "{err}");
}

#[test]
fn outputs_honour_the_umask_like_any_tool() {
    use std::os::unix::fs::PermissionsExt;
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("distroless");
    for out in ["img", "img.tar"] {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask 022; exec '{}' build static -q --arch amd64 --no-default-keyring --keyring '{}' --mirror '{}' -o '{}'",
                bin.display(),
                SignKey::shared().public.display(),
                repo.file_url(),
                tmp.path().join(out).display()
            ))
            .env("DISTROLESS_CACHE_DIR", tmp.path().join("cache"))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let mode = |p: &Path| fs_err::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&tmp.path().join("img")), 0o755);
    assert_eq!(mode(&tmp.path().join("img/index.json")), 0o644);
    for blob in fs_err::read_dir(tmp.path().join("img/blobs/sha256")).unwrap() {
        assert_eq!(mode(&blob.unwrap().path()), 0o644);
    }
    for f in ["img.tar", "img.spdx.json", "img.cdx.json"] {
        assert_eq!(mode(&tmp.path().join(f)), 0o644, "{f}");
    }
}

#[test]
fn an_update_suite_without_the_architecture_is_skipped_said_and_recorded() {
    // As Debian's bookworm-security has dropped s390x: the security suite is published for
    // amd64 only, and an arm64 build goes on without it.
    let repo = testkit::fixtures::catalog_repo_for(&["amd64", "arm64"], |_| {});
    repo.publish_suite(
        "trixie-security",
        &["amd64"],
        Some("Sat, 01 Jan 2050 00:00:00 UTC"),
        testkit::SignKey::shared(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("s");
    let built = support::trusting(
        &tmp.path().join("cache"),
        &repo.file_url(),
        &[
            "build",
            "static",
            "--arch",
            "arm64",
            "-o",
            out.to_str().unwrap(),
        ],
    )
    .assert()
    .success();
    let stderr = String::from_utf8_lossy(&built.get_output().stderr).to_string();
    assert!(
        stderr.contains("trixie-security carries no arm64") && stderr.contains("building without"),
        "{stderr}"
    );
    let spdx: serde_json::Value =
        serde_json::from_slice(&fs_err::read(tmp.path().join("s.spdx.json")).unwrap()).unwrap();
    assert!(
        spdx["comment"]
            .as_str()
            .unwrap()
            .contains("trixie-security")
    );
    support::validate_sbom("spdx", &tmp.path().join("s.spdx.json"));
    support::validate_sbom("cdx", &tmp.path().join("s.cdx.json"));
    // The lock records it too; amd64 still has the suite.
    let lock = tmp.path().join("distroless.lock");
    support::trusting(
        &tmp.path().join("cache"),
        &repo.file_url(),
        &[
            "lock",
            "static",
            "--arch",
            "arm64",
            "--arch",
            "amd64",
            "--lockfile",
            lock.to_str().unwrap(),
        ],
    )
    .assert()
    .success();
    let text = fs_err::read_to_string(&lock).unwrap();
    assert_eq!(text.matches("missing_suites").count(), 1, "{text}");
}

/// The layer bytes of the test archive's images under each `layers::FORMAT`: what a warm cache
/// hands out under a key holding that version.
const LAYER_BYTES: &[(u32, &str)] = &[(
    9,
    "ca99ad691b9b36432ab58f31650ba8ccfa978acf129ff786e426137757217ced",
)];

#[test]
fn layer_bytes_move_with_their_version() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let mut digests = Vec::new();
    for (image, layering) in [
        ("cc-debian13:debug", "tier"),
        ("base-debian13:nonroot", "package"),
    ] {
        let out = tmp.path().join(image.replace(':', "-"));
        build_cmd(&repo.file_url(), &cache, image, &["--layering", layering])
            .arg("-o")
            .arg(&out)
            .assert()
            .success();
        for (_, m) in manifests(&out) {
            for l in m["layers"].as_array().unwrap() {
                digests.push(l["digest"].as_str().unwrap().to_string());
            }
        }
    }
    let now = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(digests.join("\n")));
    let format = distroless::layers::FORMAT;
    let recorded = LAYER_BYTES
        .iter()
        .find(|(v, _)| *v == format)
        .map(|(_, d)| *d);
    assert_eq!(
        recorded,
        Some(now.as_str()),
        "the layers' bytes for format {format} are {now}: if the bytes changed, bump \
         layers::FORMAT and record the new version's digest here (else a warm cache hands out \
         layers of the old shape)"
    );
}
