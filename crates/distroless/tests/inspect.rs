//! `inspect`, `diff` and `audit` end to end: numbers agree with the manifests (and skopeo),
//! diffs find what changed and say equal for equal images, and every audit rule fires on an
//! image built to break it while the catalog's images pass.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::path::Path;
use std::process::Command;

use testkit::fixtures::catalog_repo;

fn json(a: &assert_cmd::assert::Assert) -> serde_json::Value {
    serde_json::from_slice(&a.get_output().stdout).unwrap()
}

fn build(cache: &Path, repo: &testkit::Repo, image: &str, out: &Path) {
    support::trusting(
        cache,
        &repo.file_url(),
        &["build", "-q", image, "--arch", "amd64"],
    )
    .arg("-o")
    .arg(out)
    .assert()
    .success();
}

#[test]
fn inspect_reports_what_the_manifest_and_skopeo_say() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let cc = tmp.path().join("cc");
    build(&cache, &repo, "cc", &cc);
    let a = support::distroless(&cache)
        .args(["inspect", "--json"])
        .arg(&cc)
        .assert()
        .success();
    let r = &json(&a)["platforms"][0];
    assert_eq!(r["platform"], "linux/amd64");
    let (_, m) = &support::manifests(&cc)[0];
    let layers = m["layers"].as_array().unwrap();
    assert_eq!(r["layers"].as_array().unwrap().len(), layers.len());
    for (ours, theirs) in r["layers"].as_array().unwrap().iter().zip(layers) {
        assert_eq!(ours["digest"], theirs["digest"]);
        assert_eq!(ours["compressed"], theirs["size"]);
        assert!(ours["uncompressed"].as_u64().unwrap() > ours["compressed"].as_u64().unwrap());
    }
    if support::have_tool("skopeo") {
        let raw = support::run(Command::new("skopeo").args([
            "inspect",
            "--raw",
            &format!("oci:{}:latest", cc.display()),
        ]));
        let sk: serde_json::Value = serde_json::from_str(&raw).unwrap();
        let sizes: Vec<u64> = sk["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["size"].as_u64().unwrap())
            .collect();
        let ours: Vec<u64> = r["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["compressed"].as_u64().unwrap())
            .collect();
        assert_eq!(sizes, ours);
    }
    let packages: Vec<&str> = r["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        packages.contains(&"libc6") && packages.contains(&"libstdc++6"),
        "{packages:?}"
    );
    assert!(
        r["layers"][3]["packages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "libstdc++6")
    );
    assert_eq!(r["wasted"], 0);
    // The tree, below a path.
    let t = support::distroless(&cache)
        .args(["inspect", "--tree", "/etc"])
        .arg(&cc)
        .assert()
        .success();
    let tree = String::from_utf8(t.get_output().stdout.clone()).unwrap();
    assert!(
        tree.contains("-rw-r--r--     0:0") && tree.contains("/etc/passwd"),
        "{tree}"
    );
    assert!(
        !tree.lines().any(|l| l.contains("  /usr/")),
        "only below /etc: {tree}"
    );
}

#[test]
fn diff_says_what_changed_and_equal_when_nothing_did() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let (a, b, base) = (
        tmp.path().join("a"),
        tmp.path().join("b"),
        tmp.path().join("base"),
    );
    build(&cache, &repo, "cc", &a);
    build(&cache, &repo, "cc", &b);
    build(&cache, &repo, "base", &base);
    let same = support::distroless(&cache)
        .arg("diff")
        .arg(&a)
        .arg(&b)
        .assert()
        .success();
    assert_eq!(
        String::from_utf8_lossy(&same.get_output().stdout).trim(),
        "equal"
    );
    let d = support::distroless(&cache)
        .args(["diff", "--json"])
        .arg(&base)
        .arg(&a)
        .assert()
        .code(1);
    let d = json(&d);
    let p = &d["platforms"][0];
    let added: Vec<&str> = p["packages_added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[0].as_str().unwrap())
        .collect();
    assert!(
        added.contains(&"libstdc++6") && added.contains(&"libgcc-s1"),
        "{added:?}"
    );
    let files: Vec<&str> = p["files_added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(files.iter().any(|f| f.contains("libstdc++")), "{files:?}");
    assert!(
        p["files_added"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["package"] == "libstdc++6"),
        "files are grouped by package"
    );
    // A changed file says what changed, old → new.
    for f in p["files_changed"].as_array().unwrap() {
        assert!(f["changes"][0].as_str().unwrap().contains(" → "), "{f}");
    }
    // Against umoci's unpacked trees: the same paths added.
    if support::have_tool("umoci") {
        let tree = |layout: &Path, name: &str| {
            let bundle = tmp.path().join(name);
            support::run(
                Command::new("umoci")
                    .args(["unpack", "--image"])
                    .arg(format!("{}:latest", layout.display()))
                    .arg(&bundle),
            );
            let root = bundle.join("rootfs");
            walkdir::WalkDir::new(&root)
                .min_depth(1)
                .into_iter()
                .map(|e| {
                    format!(
                        "/{}",
                        e.unwrap().path().strip_prefix(&root).unwrap().display()
                    )
                })
                .collect::<std::collections::BTreeSet<String>>()
        };
        let (ta, tb) = (tree(&base, "ub"), tree(&a, "ua"));
        let expected: std::collections::BTreeSet<String> = tb.difference(&ta).cloned().collect();
        let ours: std::collections::BTreeSet<String> =
            files.iter().map(|f| (*f).to_string()).collect();
        assert_eq!(ours, expected);
    }
}

/// A layer tar with every kind of trouble an audit looks for.
fn broken_layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, kind: tar::EntryType, mode: u32, uid: u64, body: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_path(path).unwrap();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_size(body.len() as u64);
        h.set_cksum();
        b.append(&h, body).unwrap();
    };
    let file = tar::EntryType::Regular;
    add("bin/sh", file, 0o755, 0, b"#!shell");
    add(
        "usr/bin/tool",
        file,
        0o755,
        0,
        b"xx BusyBox v1.36.1 (renamed) xx",
    );
    add("usr/bin/dpkg", file, 0o755, 0, b"dpkg");
    add("usr/bin/su", file, 0o4755, 0, b"su");
    add("scratch", tar::EntryType::Directory, 0o777, 0, b"");
    add("usr/share/theirs", file, 0o644, 1000, b"x");
    add("app/.env", file, 0o600, 0, b"TOKEN=1");
    add(
        "root/.ssh/id_rsa",
        file,
        0o600,
        0,
        b"-----BEGIN OPENSSH PRIVATE KEY-----\nx\n",
    );
    add(
        "etc/ssl/certs/ca-certificates.crt",
        file,
        0o644,
        0,
        b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
    );
    add(
        "usr/bin/needy",
        file,
        0o755,
        0,
        &fs_err::read("/usr/bin/true").unwrap(),
    );
    b.into_inner().unwrap()
}

#[test]
fn every_audit_rule_fires_on_an_image_built_to_break_it() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("broken");
    testkit::image::Layout::with_layer(&layout, &broken_layer(), |c| {
        c["config"]["User"] = serde_json::json!("0");
    });
    let cache = tmp.path().join("cache");
    let policy = tmp.path().join("policy.toml");
    fs_err::write(
        &policy,
        "require_non_root = true\nmax_bytes = 10\nforbidden_packages = []\n",
    )
    .unwrap();
    let a = support::distroless(&cache)
        .args(["audit", "--format", "json", "--policy"])
        .arg(&policy)
        .arg(&layout)
        .assert()
        .code(1);
    let doc = json(&a);
    // `--json` is `--format json`, as on every other command.
    let same = support::distroless(&cache)
        .args(["audit", "--json", "--policy"])
        .arg(&policy)
        .arg(&layout)
        .assert()
        .code(1);
    assert_eq!(json(&same), doc);
    let rules: std::collections::BTreeSet<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["finding"]["rule"].as_str().unwrap())
        .collect();
    for rule in [
        "no-shell",
        "no-package-manager",
        "non-root-user",
        "no-setuid",
        "no-world-writable",
        "root-owned-system",
        "ca-bundle",
        "tzdata",
        "closure",
        "no-secrets",
        "size-budget",
    ] {
        assert!(rules.contains(rule), "{rule} did not fire: {rules:?}");
    }
    let text = doc.to_string();
    assert!(
        text.contains("/usr/bin/tool is a shell (busybox or bash, by its signature)"),
        "{text}"
    );
    // SARIF, validated by a model generated from the published 2.1.0 schema.
    let s = support::distroless(&cache)
        .args(["audit", "--format", "sarif"])
        .arg(&layout)
        .assert()
        .code(1);
    let sarif = tmp.path().join("audit.sarif");
    fs_err::write(&sarif, &s.get_output().stdout).unwrap();
    support::validate_sarif(&sarif);
}

#[test]
fn build_audit_stops_a_build_before_anything_is_written() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let out = tmp.path().join("img");
    // The test repository's CA "certificates" are not certificates: the audit refuses them.
    let a = support::trusting(
        &cache,
        &repo.file_url(),
        &["build", "-q", "static", "--arch", "amd64", "--audit"],
    )
    .arg("-o")
    .arg(&out)
    .assert()
    .failure();
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        err.contains("audit: ") && err.contains("ca-bundle"),
        "{err}"
    );
    assert!(!out.exists() && !tmp.path().join("img.spdx.json").exists());
    let policy = tmp.path().join("p.toml");
    fs_err::write(&policy, "skip = [\"ca-bundel\"]\n").unwrap();
    support::distroless(&cache)
        .args(["audit", "--policy"])
        .arg(&policy)
        .arg(tmp.path())
        .assert()
        .failure()
        .stderr(predicates::str::contains("\"ca-bundel\" is not a rule"));
    fs_err::write(&policy, "skip = [\"ca-bundle\"]\n").unwrap();
    support::trusting(
        &cache,
        &repo.file_url(),
        &["build", "-q", "static", "--arch", "amd64", "--audit"],
    )
    .arg("--policy")
    .arg(&policy)
    .arg("-o")
    .arg(&out)
    .assert()
    .success();
    assert!(out.join("index.json").is_file());
}

#[test]
fn wasted_bytes_agree_with_dive() {
    if !support::have_tool("dive") {
        return;
    }
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    // Accounts rewrite /etc/passwd and /etc/group in a later layer.
    let recipe = tmp.path().join("r.toml");
    fs_err::write(
        &recipe,
        "name = \"dv\"\nfrom = \"static\"\n[[users]]\nname = \"app\"\nuid = 2000\n",
    )
    .unwrap();
    let archive = tmp.path().join("dv.tar");
    support::trusting(
        &cache,
        &repo.file_url(),
        &["build", "-q", "--arch", "amd64", "--format", "docker"],
    )
    .arg("-f")
    .arg(&recipe)
    .arg("-o")
    .arg(&archive)
    .assert()
    .success();
    let a = support::distroless(&cache)
        .args(["inspect", "--json"])
        .arg(&archive)
        .assert()
        .success();
    let ours = json(&a)["platforms"][0]["wasted"].as_u64().unwrap();
    assert!(ours > 0);
    let out = Command::new("dive")
        .args(["--ci", "--source", "docker-archive"])
        .arg(&archive)
        .env("CI", "true")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let theirs: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("wastedBytes: "))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no wastedBytes in {text}"));
    assert_eq!(ours, theirs, "{text}");
}

#[test]
fn paths_are_read_as_a_runtime_lands_them() {
    // `etc/./passwd` and `x/etc/passwd` with `x -> /` overwrite /etc/passwd at run time: the
    // audit must see the root account they make.
    for trick in ["etc/./passwd", "etc//passwd", "x/etc/passwd"] {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |path: &str, kind: tar::EntryType, link: Option<&str>, body: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_path(path).unwrap();
            h.set_entry_type(kind);
            h.set_mode(0o644);
            h.set_size(body.len() as u64);
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            h.set_cksum();
            b.append(&h, body).unwrap();
        };
        add(
            "etc/passwd",
            tar::EntryType::Regular,
            None,
            b"nonroot:x:65532:65532::/:/sbin/nologin\n",
        );
        add("x", tar::EntryType::Symlink, Some("/"), b"");
        let mut h = tar::Header::new_gnu();
        // (`set_path` would normalise the name: write it raw.)
        h.as_gnu_mut().unwrap().name[..trick.len()].copy_from_slice(trick.as_bytes());
        let body = b"nonroot:x:0:0::/:/sbin/nologin\n";
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(body.len() as u64);
        h.set_cksum();
        b.append(&h, &body[..]).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let layout = tmp.path().join("img");
        testkit::image::Layout::with_layer(&layout, &b.into_inner().unwrap(), |c| {
            c["config"]["User"] = serde_json::json!("nonroot");
        });
        let a = support::distroless(&tmp.path().join("cache"))
            .args(["audit", "--require-non-root", "--format", "json"])
            .arg(&layout)
            .assert()
            .code(1);
        let text = String::from_utf8_lossy(&a.get_output().stdout).to_string();
        assert!(text.contains("has uid 0"), "{trick}: {text}");
    }
}

#[test]
fn layers_runtimes_would_read_otherwise_are_refused_naming_layer_and_entry() {
    use testkit::rawtar::{Block, Format, RawTar};
    // A STAR header: Go (every runtime) lands this file at /etc/passwd, making `nonroot` uid
    // 0; a reader taking a 155-byte prefix saw /.00000000000/etc/passwd and passed the audit.
    let body = b"nonroot:x:0:0::/:/sbin/nologin\n";
    let mut star = Block::new(Format::Star, b'0', b"etc/passwd", body.len() as u64);
    star.set(345, 13, b".00000000000");
    let mut t = RawTar::new();
    t.entry(
        &Block::new(Format::Ustar, b'0', b"etc/passwd", 39),
        b"nonroot:x:65532:65532::/:/sbin/nologin\n",
    );
    let plain = t.clone().end();
    t.entry(&star, body);
    let tmp = tempfile::tempdir().unwrap();
    let (layout, before) = (tmp.path().join("img"), tmp.path().join("before"));
    testkit::image::Layout::with_layer(&layout, &t.end(), |c| {
        c["config"]["User"] = serde_json::json!("nonroot");
    });
    testkit::image::Layout::with_layer(&before, &plain, |_| {});
    for args in [
        &["audit", "--require-non-root"][..],
        &["inspect"][..],
        &["diff", before.to_str().unwrap()][..],
    ] {
        let a = support::distroless(&tmp.path().join("cache"))
            .args(args)
            .arg(&layout)
            .assert()
            .failure();
        let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
        assert!(
            err.contains("layer sha256:") && err.contains("tar entry 2") && err.contains("STAR"),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn a_layer_of_compressed_zeros_is_refused_past_its_expansion_cap() {
    use std::io::Write as _;
    // 72 MiB of zeros in one file: a few KB of zstd.
    let size: u64 = 72 << 20;
    let header = testkit::rawtar::Block::new(testkit::rawtar::Format::Ustar, b'0', b"zeros", size);
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    let mut enc = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
    let mut put = |bytes: &[u8]| {
        sha2::Digest::update(&mut hasher, bytes);
        enc.write_all(bytes).unwrap();
    };
    put(&header.sealed());
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..72 {
        put(&chunk);
    }
    put(&[0; 1024]);
    let blob = enc.finish().unwrap();
    assert!(blob.len() < 64 << 10, "{}", blob.len());
    let diff_id = format!("sha256:{}", hex::encode(sha2::Digest::finalize(hasher)));
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("img");
    let mut l = testkit::image::Layout::with_layer(&root, b"", |_| {});
    l.layer = testkit::image::put_blob(&root, &blob);
    let mut config = serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}});
    l.set_config(&config);
    let mut m = l.manifest_json();
    m["layers"][0]["mediaType"] = serde_json::json!("application/vnd.oci.image.layer.v1.tar+zstd");
    l.set_manifest(&m);
    let started = std::time::Instant::now();
    let a = support::distroless(&tmp.path().join("cache"))
        .arg("inspect")
        .arg(&root)
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        err.contains("expands past 67108864 bytes") && err.contains("raise --max-layer-ratio"),
        "{err}"
    );
    assert!(started.elapsed().as_secs() < 10);
    config["config"] = serde_json::json!({});
    support::distroless(&tmp.path().join("cache"))
        .args(["inspect", "--max-layer-ratio", "1000000"])
        .arg(&root)
        .assert()
        .success();
    // An audit that could not read the image is not a broken rule: exit 2, not 1.
    let a = support::distroless(&tmp.path().join("cache"))
        .args(["audit", "--max-layer-bytes", "1000000"])
        .arg(&root)
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        err.contains("expands past 1000000 bytes (raise --max-layer-bytes)"),
        "{err}"
    );
}

/// `distroless audit EXTRA LAYOUT`: its exit code and everything it printed.
fn audit_of(cache: &Path, layout: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let a = support::distroless(cache)
        .arg("audit")
        .args(extra)
        .arg(layout)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&a.stderr)
    );
    (a.status.code(), text)
}

#[test]
fn paths_layers_replace_or_hide_are_read_as_runtimes_apply_them() {
    use testkit::rawtar::{Block, Format::Ustar, RawTar};
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let audit = |layout: &Path, extra: &[&str]| audit_of(&cache, layout, extra);
    let passwd = b"nonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n";
    // A path below an earlier layer's symlink: overlay runtimes keep the setuid file below,
    // others replace it. Refused.
    let mut lower = RawTar::new();
    lower.entry(Block::new(Ustar, b'2', b"x", 0).set(157, 100, b"/"), b"");
    lower.entry(
        Block::new(Ustar, b'0', b"usr/bin/evil", 1).octal(100, 8, 0o4755),
        b"x",
    );
    let mut upper = RawTar::new();
    upper.entry(&Block::new(Ustar, b'0', b"x/usr/bin/evil", 1), b"y");
    let layout = tmp.path().join("below-link");
    testkit::image::Layout::with_layers(&layout, &[lower.end(), upper.end()], |_| {});
    let (code, text) = audit(&layout, &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("symlink of an earlier layer"), "{text}");
    // A symlink over /etc hides the old /etc/passwd (runtimes read /etc2/passwd through it).
    let mut lower = RawTar::new();
    lower.entry(&Block::new(Ustar, b'5', b"etc/", 0), b"");
    lower.entry(
        &Block::new(Ustar, b'0', b"etc/passwd", passwd.len() as u64),
        passwd,
    );
    let root = b"nonroot:x:0:0::/:/x\n";
    let mut upper = RawTar::new();
    upper.entry(
        Block::new(Ustar, b'2', b"etc", 0).set(157, 100, b"etc2"),
        b"",
    );
    upper.entry(&Block::new(Ustar, b'5', b"etc2/", 0), b"");
    upper.entry(
        &Block::new(Ustar, b'0', b"etc2/passwd", root.len() as u64),
        root,
    );
    let layout = tmp.path().join("dir-to-link");
    testkit::image::Layout::with_layers(&layout, &[lower.end(), upper.end()], |c| {
        c["config"]["User"] = serde_json::json!("nonroot");
    });
    let (code, text) = audit(&layout, &["--require-non-root"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("nonroot"), "{text}");
    // A whited-out /etc/passwd is no passwd.
    let mut lower = RawTar::new();
    lower.entry(
        &Block::new(Ustar, b'0', b"etc/passwd", passwd.len() as u64),
        passwd,
    );
    let mut upper = RawTar::new();
    upper.entry(&Block::new(Ustar, b'0', b"etc/.wh.passwd", 0), b"");
    let layout = tmp.path().join("whiteout");
    testkit::image::Layout::with_layers(&layout, &[lower.end(), upper.end()], |c| {
        c["config"]["User"] = serde_json::json!("nonroot");
    });
    let (code, text) = audit(&layout, &["--require-non-root"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("is not in the image's /etc/passwd"), "{text}");
}

#[test]
fn privileges_a_runtime_would_grant_are_found() {
    use testkit::rawtar::{Block, Format::Ustar, RawTar};
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let audit = |layout: &Path, extra: &[&str]| audit_of(&cache, layout, extra);
    // File capabilities are privileges as setuid is.
    let mut t = RawTar::new();
    t.pax(
        Ustar,
        &[("SCHILY.xattr.security.capability", b"\x01\x00\x00\x02")],
    );
    t.entry(
        Block::new(Ustar, b'0', b"usr/bin/app", 1).octal(100, 8, 0o755),
        b"a",
    );
    let layout = tmp.path().join("caps");
    testkit::image::Layout::with_layers(&layout, &[t.end()], |_| {});
    let (code, text) = audit(&layout, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("/usr/bin/app has file capabilities"),
        "{text}"
    );
    let tree = support::distroless(&cache)
        .args(["inspect", "--tree", "/"])
        .arg(&layout)
        .output()
        .unwrap();
    let tree = String::from_utf8_lossy(&tree.stdout).to_string();
    assert!(
        tree.contains("/usr/bin/app [security.capability]"),
        "{tree}"
    );
    // `diff` sees attributes and device numbers.
    let mut t = RawTar::new();
    t.entry(
        Block::new(Ustar, b'0', b"usr/bin/app", 1).octal(100, 8, 0o755),
        b"a",
    );
    t.entry(
        Block::new(Ustar, b'3', b"dev/null", 0)
            .octal(329, 8, 8)
            .octal(337, 8, 0),
        b"",
    );
    let other = tmp.path().join("plain");
    testkit::image::Layout::with_layers(&other, &[t.end()], |_| {});
    let a = support::distroless(&cache)
        .arg("diff")
        .arg(&other)
        .arg(&layout)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&a.stdout).to_string();
    assert_eq!(a.status.code(), Some(1), "{text}");
    assert!(
        text.contains("attributes [] → [security.capability]"),
        "{text}"
    );
    // A descriptor that claims a larger blob than the file is refused before reading.
    let mut l = testkit::image::Layout::write(&tmp.path().join("size-lie"));
    let mut m = l.manifest_json();
    m["layers"][0]["size"] = serde_json::json!(1u64 << 32);
    l.set_manifest(&m);
    let (code, text) = audit(&l.root, &[]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("size mismatch"), "{text}");
}

#[test]
fn hard_links_are_audited_as_the_inode_they_share() {
    use testkit::rawtar::{Block, Format::Ustar, RawTar};
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let audit = |layout: &Path, extra: &[&str]| audit_of(&cache, layout, extra);
    // A hard link's mode is its target's (runtimes chmod the shared inode).
    let mut t = RawTar::new();
    t.entry(
        Block::new(Ustar, b'0', b"usr/bin/helper", 1).octal(100, 8, 0o755),
        b"h",
    );
    t.entry(
        Block::new(Ustar, b'1', b"usr/bin/helper2", 0)
            .set(157, 100, b"usr/bin/helper")
            .octal(100, 8, 0o4755),
        b"",
    );
    let layout = tmp.path().join("hardlink-setuid");
    testkit::image::Layout::with_layers(&layout, &[t.end()], |_| {});
    let (code, text) = audit(&layout, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("/usr/bin/helper is setuid"), "{text}");
    // A link without the bit does not take it from its target.
    let mut t = RawTar::new();
    t.entry(
        Block::new(Ustar, b'0', b"usr/bin/zzz", 1).octal(100, 8, 0o4755),
        b"z",
    );
    t.entry(
        Block::new(Ustar, b'1', b"usr/bin/yyy", 0)
            .set(157, 100, b"usr/bin/zzz")
            .octal(100, 8, 0o755),
        b"",
    );
    let layout = tmp.path().join("hardlink-plain");
    testkit::image::Layout::with_layers(&layout, &[t.end()], |_| {});
    let (code, text) = audit(&layout, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("/usr/bin/zzz is setuid"), "{text}");
    // A hard link keeps its content when its target's name is whited out; a key with CRLF
    // line ends is a key.
    let key =
        b"-----BEGIN PRIVATE KEY-----\r\nMC4CAQAwBQYDK2VwBCIEIA==\r\n-----END PRIVATE KEY-----\r\n";
    let mut lower = RawTar::new();
    lower.entry(&Block::new(Ustar, b'0', b"opt/k", key.len() as u64), key);
    lower.entry(
        Block::new(Ustar, b'1', b"app/key.pem", 0).set(157, 100, b"opt/k"),
        b"",
    );
    let mut upper = RawTar::new();
    upper.entry(&Block::new(Ustar, b'0', b"opt/.wh.k", 0), b"");
    let layout = tmp.path().join("hardlink-kept");
    testkit::image::Layout::with_layers(&layout, &[lower.end(), upper.end()], |_| {});
    let (code, text) = audit(&layout, &[]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("/app/key.pem"), "{text}");
}
