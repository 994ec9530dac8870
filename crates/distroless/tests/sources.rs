//! Package sources beyond the Debian archive: local `.deb` files a recipe names, installed like
//! archive packages (same path policy, dependencies from the archive, status.d, SBOMs,
//! provenance, lock), and refused in one line when they are not what they must be.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use support::{files, manifests};
use testkit::fixtures::catalog_repo;
use testkit::{DebBuilder, DebEntry};

/// A project with `build/NAME.deb` and a recipe naming it.
fn project(deb: &DebBuilder, file: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(dir.path().join("build")).unwrap();
    fs_err::write(dir.path().join("build").join(file), deb.build()).unwrap();
    fs_err::write(
        dir.path().join("distroless.toml"),
        format!("name = \"shop\"\nfrom = \"base\"\ndebs = [\"build/{file}\"]\n"),
    )
    .unwrap();
    dir
}

fn myapp(version: &str) -> DebBuilder {
    DebBuilder::new("myapp", version, "amd64")
        .field("Depends", "libstdc++6")
        .file("usr/share/myapp/config", format!("v{version}\n").as_bytes())
}

fn build(repo: &testkit::Repo, dir: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    let cache = dir.join("cache");
    let mut args = vec!["build", "-q", "--arch", "amd64", "-o", "out"];
    args.extend(extra);
    support::trusting(&cache, &repo.file_url(), &args)
        .current_dir(dir)
        .assert()
}

fn one_line_failure(a: &assert_cmd::assert::Assert) -> String {
    let err = String::from_utf8_lossy(&a.get_output().stderr)
        .trim()
        .to_string();
    assert!(!err.contains('\n'), "{err}");
    err
}

#[test]
fn a_local_deb_is_installed_with_its_dependencies_and_recorded() {
    let repo = catalog_repo();
    let deb = myapp("1.2");
    let dir = project(&deb, "myapp_1.2_amd64.deb");
    build(&repo, dir.path(), &[]).success();
    let out = dir.path().join("out");
    let f = files(&out, &manifests(&out)[0].1);
    let text = |p: &str| String::from_utf8(f[p].data.clone()).unwrap();
    assert_eq!(text("usr/share/myapp/config"), "v1.2\n");
    assert!(text("var/lib/dpkg/status.d/myapp").contains("Version: 1.2"));
    assert!(f.contains_key("var/lib/dpkg/status.d/myapp.md5sums"));
    // Its dependency came from the archive (base alone has no libstdc++6).
    assert!(f.contains_key("var/lib/dpkg/status.d/libstdc++6"));
    // The SBOMs and the provenance name it with the file's SHA-256.
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(deb.build()));
    let spdx = fs_err::read_to_string(dir.path().join("out.spdx.json")).unwrap();
    assert!(
        spdx.contains("\"myapp\"") && spdx.contains(&sha),
        "SPDX names it"
    );
    support::validate_sbom("spdx", &dir.path().join("out.spdx.json"));
    let provenance = fs_err::read_to_string(dir.path().join("out.provenance.json")).unwrap();
    assert!(
        provenance.contains("myapp_1.2_amd64.deb") && provenance.contains(&sha),
        "provenance records it"
    );

    // Locked: pinned by its SHA-256; a changed file is refused until locked again.
    let cache = dir.path().join("cache");
    support::trusting(&cache, &repo.file_url(), &["lock", "--arch", "amd64"])
        .current_dir(dir.path())
        .assert()
        .success();
    let lock = fs_err::read_to_string(dir.path().join("distroless.lock")).unwrap();
    assert!(lock.contains("myapp") && lock.contains(&sha), "{lock}");
    build(&repo, dir.path(), &["--locked", "--replace"]).success();
    fs_err::write(
        dir.path().join("build/myapp_1.2_amd64.deb"),
        myapp("1.2").file("usr/share/myapp/extra", b"x").build(),
    )
    .unwrap();
    let err = one_line_failure(&build(&repo, dir.path(), &["--locked", "--replace"]).failure());
    assert!(err.contains("is not the one locked"), "{err}");
}

#[test]
fn bad_local_debs_are_refused_in_one_line_and_write_nothing() {
    let repo = catalog_repo();
    let cases: Vec<(DebBuilder, &str, &str)> = vec![
        (
            DebBuilder::new("myapp", "1.0", "arm64").file("usr/share/myapp/x", b"x"),
            "myapp.deb",
            "a package for arm64, not amd64",
        ),
        (
            DebBuilder::new("myapp", "1.0", "amd64")
                .entry(DebEntry::RawFile("./../../etc/evil".into(), b"x".to_vec())),
            "myapp.deb",
            "..",
        ),
        (
            DebBuilder::new("myapp", "1.0", "amd64").field("Depends", "no-such-package"),
            "myapp.deb",
            "no-such-package",
        ),
    ];
    for (deb, file, needle) in cases {
        let dir = project(&deb, file);
        let err = one_line_failure(&build(&repo, dir.path(), &[]).failure());
        assert!(err.contains(needle), "{needle}: {err}");
        assert!(
            !dir.path().join("out").exists(),
            "{needle}: nothing written"
        );
    }
    // Not a .deb at all; and a path outside the build context.
    let dir = project(&myapp("1.0"), "myapp.deb");
    fs_err::write(dir.path().join("build/myapp.deb"), b"not an ar archive").unwrap();
    let err = one_line_failure(&build(&repo, dir.path(), &[]).failure());
    assert!(
        err.contains("distroless.toml") && err.contains("debs"),
        "{err}"
    );
    let outside = tempfile::tempdir().unwrap();
    fs_err::write(outside.path().join("x.deb"), myapp("1.0").build()).unwrap();
    fs_err::write(
        dir.path().join("distroless.toml"),
        format!(
            "name = \"shop\"\nfrom = \"base\"\ndebs = [\"{}\"]\n",
            outside.path().join("x.deb").display()
        ),
    )
    .unwrap();
    let err = one_line_failure(&build(&repo, dir.path(), &[]).failure());
    assert!(err.contains("outside"), "{err}");
}

/// A vendor's repository (suite `stable`) signed with `key`, published for amd64.
fn vendor_repo(key: &testkit::SignKey, extra: Vec<DebBuilder>) -> testkit::Repo {
    let mut repo = testkit::Repo::new();
    repo.add(
        "stable",
        DebBuilder::new("vendor-tool", "2.0", "amd64")
            .field("Depends", "libstdc++6")
            .file("usr/share/vendor-tool/README", b"vendor\n"),
    );
    for d in extra {
        repo.add("stable", d);
    }
    repo.publish("amd64", Some("Sat, 01 Jan 2050 00:00:00 UTC"), key);
    repo
}

/// A recipe taking `packages` with the vendor repository (and its key file beside it).
fn vendor_project(vendor: &testkit::Repo, key: &testkit::SignKey, pin: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs_err::copy(&key.public, dir.path().join("vendor.gpg")).unwrap();
    fs_err::write(
        dir.path().join("distroless.toml"),
        format!(
            "name = \"shop\"\nfrom = \"base\"\npackages = [\"vendor-tool\", \"tzdata\"]\n\
             [[repositories]]\nurl = \"{}\"\nsuites = [\"stable\"]\nkey = \"vendor.gpg\"\npin = [{pin}]\n",
            vendor.file_url()
        ),
    )
    .unwrap();
    dir
}

#[test]
fn a_vendor_repository_is_verified_with_its_own_key_and_resolved_with_debian() {
    let debian = catalog_repo();
    let key = testkit::SignKey::generate("vendor");
    // The vendor has an older tzdata (pinned: taken anyway) and a newer zlib1g (wins).
    let vendor = vendor_repo(
        &key,
        vec![
            DebBuilder::new("tzdata", "2020a-1", "all").file("usr/share/zoneinfo/UTC", b"old"),
            DebBuilder::new("zlib1g", "1:9.9-1", "amd64").file("usr/lib/libz.so.1", b"z9"),
        ],
    );
    let dir = vendor_project(&vendor, &key, "\"tzdata\"");
    let built = build(&debian, dir.path(), &[]).success();
    let warned = String::from_utf8_lossy(&built.get_output().stderr).to_string();
    assert!(
        warned.contains("zlib1g: file://") && warned.contains("1:9.9-1 replaces Debian's"),
        "{warned}"
    );
    assert!(
        warned.contains("tzdata:") && warned.contains("2020a-1 replaces Debian's"),
        "{warned}"
    );
    let out = dir.path().join("out");
    let f = files(&out, &manifests(&out)[0].1);
    let text = |p: &str| String::from_utf8_lossy(&f[p].data).to_string();
    assert!(text("var/lib/dpkg/status.d/vendor-tool").contains("Version: 2.0"));
    assert!(
        f.contains_key("var/lib/dpkg/status.d/libstdc++6"),
        "its Debian dependency"
    );
    assert!(
        text("var/lib/dpkg/status.d/tzdata").contains("Version: 2020a-1"),
        "pinned"
    );
    assert!(
        text("var/lib/dpkg/status.d/zlib1g").contains("Version: 1:9.9-1"),
        "newer wins"
    );
    // The lock names the repository of its packages, and a locked build reads them there.
    let cache = dir.path().join("cache");
    support::trusting(&cache, &debian.file_url(), &["lock", "--arch", "amd64"])
        .current_dir(dir.path())
        .assert()
        .success();
    let lock = fs_err::read_to_string(dir.path().join("distroless.lock")).unwrap();
    assert!(
        lock.contains(&format!("repository = \"{}\"", vendor.file_url())),
        "{lock}"
    );
    let fresh = tempfile::tempdir().unwrap();
    fs_err::copy(
        dir.path().join("distroless.lock"),
        fresh.path().join("distroless.lock"),
    )
    .unwrap();
    fs_err::copy(
        dir.path().join("distroless.toml"),
        fresh.path().join("distroless.toml"),
    )
    .unwrap();
    fs_err::copy(
        dir.path().join("vendor.gpg"),
        fresh.path().join("vendor.gpg"),
    )
    .unwrap();
    build(&debian, fresh.path(), &["--locked"]).success();
}

#[test]
fn a_vendor_repository_signed_by_another_key_or_tampered_is_refused() {
    let debian = catalog_repo();
    let key = testkit::SignKey::generate("vendor");
    // Signed with Debian's (test) key: trusted for Debian, never for the vendor.
    let wrong = vendor_repo(testkit::SignKey::shared(), Vec::new());
    let dir = vendor_project(&wrong, &key, "");
    let err = one_line_failure(&build(&debian, dir.path(), &[]).failure());
    assert!(
        err.contains("InRelease") && err.contains("signature"),
        "{err}"
    );
    assert!(!dir.path().join("out").exists());
    // A changed index.
    let vendor = vendor_repo(&key, Vec::new());
    let packages = vendor
        .root()
        .join("dists/stable/main/binary-amd64/Packages.xz");
    let mut bytes = fs_err::read(&packages).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs_err::write(&packages, bytes).unwrap();
    fs_err::remove_file(
        vendor
            .root()
            .join("dists/stable/main/binary-amd64/Packages.gz"),
    )
    .ok();
    let dir = vendor_project(&vendor, &key, "");
    let err = one_line_failure(&build(&debian, dir.path(), &[]).failure());
    assert!(err.contains("Packages"), "{err}");
    assert!(!dir.path().join("out").exists());
    // A pin the repository cannot honour.
    let vendor = vendor_repo(&key, Vec::new());
    let dir = vendor_project(&vendor, &key, "\"nothing-like-it\"");
    let err = one_line_failure(&build(&debian, dir.path(), &[]).failure());
    assert!(err.contains("pins nothing-like-it"), "{err}");
}

/// A `.tar.xz` whose entries are written with raw names (so `..` can be tested).
fn tar_xz(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data, mode) in entries {
        let mut h = tar::Header::new_gnu();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_size(data.len() as u64);
        h.set_mode(*mode);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.append(&h, *data).unwrap();
    }
    let raw = tar.into_inner().unwrap();
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    std::io::Write::write_all(&mut xz, &raw).unwrap();
    xz.finish().unwrap()
}

/// A Node.js-style release directory served on 127.0.0.1: the archive and a checksum file
/// clear-signed with `key`.
struct Release {
    dir: tempfile::TempDir,
    server: testkit::Server,
}

fn release(archive: &[u8], key: &testkit::SignKey, sums_for: Option<&[u8]>) -> Release {
    let dir = tempfile::tempdir().unwrap();
    let v = dir.path().join("v24.0.0");
    fs_err::create_dir_all(&v).unwrap();
    fs_err::write(v.join("node-v24.0.0-linux-x64.tar.xz"), archive).unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        sums_for.unwrap_or(archive),
    ));
    let sums = format!(
        "{sha}  node-v24.0.0-linux-x64.tar.xz\n{}  node-v24.0.0-linux-arm64.tar.xz\n",
        "0".repeat(64)
    );
    fs_err::write(v.join("SHASUMS256.txt.asc"), key.clearsign(&sums)).unwrap();
    let server = testkit::Server::start(dir.path());
    Release { dir, server }
}

fn node_recipe(dir: &Path, key: &testkit::SignKey, mirror: Option<&str>) {
    fs_err::copy(&key.public, dir.join("nodejs.gpg")).unwrap();
    let mirror = mirror
        .map(|m| format!("mirror = \"{m}\"\n"))
        .unwrap_or_default();
    fs_err::write(
        dir.join("distroless.toml"),
        format!(
            "name = \"web\"\nfrom = \"cc\"\n[[archives]]\nname = \"node\"\nversion = \"24.0.0\"\n{mirror}\
             url = \"{{mirror}}/v{{version}}/node-v{{version}}-linux-{{arch}}.tar.xz\"\n\
             arch_names = {{ amd64 = \"x64\", arm64 = \"arm64\" }}\n\
             checksums_url = \"{{mirror}}/v{{version}}/SHASUMS256.txt.asc\"\nchecksums_key = \"nodejs.gpg\"\n\
             strip_components = 1\ninclude = [\"bin/node\"]\ndest = \"/nodejs\"\n"
        ),
    )
    .unwrap();
}

fn node_archive() -> Vec<u8> {
    tar_xz(&[
        (
            "node-v24.0.0-linux-x64/bin/node",
            b"#!/bin/false\nnode\n",
            0o755,
        ),
        (
            "node-v24.0.0-linux-x64/share/doc/node/README.md",
            b"docs",
            0o644,
        ),
        (
            "node-v24.0.0-linux-x64/include/node/node.h",
            b"header",
            0o644,
        ),
    ])
}

#[test]
fn an_upstream_archive_is_checked_against_a_signed_checksum_file_and_unpacked() {
    let debian = catalog_repo();
    let key = testkit::SignKey::generate("node releases");
    let rel = release(&node_archive(), &key, None);
    let dir = tempfile::tempdir().unwrap();
    node_recipe(dir.path(), &key, None);
    // No mirror given: one line saying how to give it.
    let err = one_line_failure(&build(&debian, dir.path(), &[]).failure());
    assert!(err.contains("--archive-mirror node=URL"), "{err}");
    build(
        &debian,
        dir.path(),
        &["--archive-mirror", &format!("node={}", rel.server.url)],
    )
    .success();
    let out = dir.path().join("out");
    let f = files(&out, &manifests(&out)[0].1);
    assert_eq!(f["nodejs/bin/node"].data, b"#!/bin/false\nnode\n");
    assert_eq!(f["nodejs/bin/node"].mode & 0o777, 0o755);
    assert!(
        !f.contains_key("nodejs/share/doc/node/README.md"),
        "only what include names"
    );
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(node_archive()));
    let provenance = fs_err::read_to_string(dir.path().join("out.provenance.json")).unwrap();
    assert!(provenance.contains("pkg:generic/node@24.0.0") && provenance.contains(&sha));
    for (kind, file) in [("spdx", "out.spdx.json"), ("cdx", "out.cdx.json")] {
        let text = fs_err::read_to_string(dir.path().join(file)).unwrap();
        assert!(
            text.contains("pkg:generic/node@24.0.0") && text.contains(&sha),
            "{kind}"
        );
        support::validate_sbom(kind, &dir.path().join(file));
    }
    // Locked: the digest read from the signed file is pinned; a locked build needs neither the
    // checksum file nor the key again, and refuses another version.
    let cache = dir.path().join("cache");
    let mirror = format!("node={}", rel.server.url);
    support::trusting(
        &cache,
        &debian.file_url(),
        &["lock", "--arch", "amd64", "--archive-mirror", &mirror],
    )
    .current_dir(dir.path())
    .assert()
    .success();
    let lock = fs_err::read_to_string(dir.path().join("distroless.lock")).unwrap();
    assert!(
        lock.contains("[[image.archive]]") && lock.contains(&sha),
        "{lock}"
    );
    fs_err::remove_file(rel.dir.path().join("v24.0.0/SHASUMS256.txt.asc")).unwrap();
    build(
        &debian,
        dir.path(),
        &["--locked", "--replace", "--archive-mirror", &mirror],
    )
    .success();
    let recipe = fs_err::read_to_string(dir.path().join("distroless.toml")).unwrap();
    fs_err::write(
        dir.path().join("distroless.toml"),
        recipe.replace("version = \"24.0.0\"", "version = \"24.0.1\""),
    )
    .unwrap();
    let err = one_line_failure(
        &build(
            &debian,
            dir.path(),
            &["--locked", "--replace", "--archive-mirror", &mirror],
        )
        .failure(),
    );
    assert!(err.contains("not in the lock"), "{err}");
    drop(rel.dir);
}

#[test]
fn upstream_archives_that_are_unsigned_changed_or_escaping_are_refused() {
    let debian = catalog_repo();
    let key = testkit::SignKey::generate("node releases");
    let other = testkit::SignKey::generate("someone else");
    let cases: Vec<(Release, &str)> = vec![
        // Signed, but by another key.
        (release(&node_archive(), &other, None), "InRelease"),
        // The archive is not the one the signed file lists.
        (
            release(&node_archive(), &key, Some(b"another archive")),
            "hash mismatch",
        ),
        // An entry climbing out of the tree.
        (
            release(
                &tar_xz(&[("node-v24.0.0-linux-x64/../../etc/evil", b"x", 0o644)]),
                &key,
                None,
            ),
            "leaves the archive's tree",
        ),
    ];
    for (rel, needle) in cases {
        let dir = tempfile::tempdir().unwrap();
        node_recipe(dir.path(), &key, Some(&rel.server.url));
        let err = one_line_failure(&build(&debian, dir.path(), &[]).failure());
        let needle = if needle == "InRelease" {
            "signature"
        } else {
            needle
        };
        assert!(err.contains(needle), "{needle}: {err}");
        assert!(!dir.path().join("out").exists());
    }
    // A checksum file that is not signed at all.
    let rel = release(&node_archive(), &key, None);
    let sums = rel.dir.path().join("v24.0.0/SHASUMS256.txt.asc");
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(node_archive()));
    fs_err::write(&sums, format!("{sha}  node-v24.0.0-linux-x64.tar.xz\n")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    node_recipe(dir.path(), &key, Some(&rel.server.url));
    let err = one_line_failure(&build(&debian, dir.path(), &[]).failure());
    assert!(err.contains("clear-signed"), "{err}");
}

#[test]
fn packages_from_elsewhere_cannot_replace_what_debian_put_there() {
    let debian = catalog_repo();
    let key = testkit::SignKey::generate("vendor");
    // A vendor package shipping libc's status.d record; a local one shipping a file where the
    // image has a directory; another claiming a name that is a path.
    let vendor = vendor_repo(
        &key,
        vec![DebBuilder::new("vendor-runtime", "1.0", "amd64").file(
            "var/lib/dpkg/status.d/libc6",
            b"Package: libc6\nVersion: 9.99\n",
        )],
    );
    let dir = vendor_project(&vendor, &key, "");
    let recipe = fs_err::read_to_string(dir.path().join("distroless.toml")).unwrap();
    fs_err::write(
        dir.path().join("distroless.toml"),
        recipe.replace("[\"vendor-tool\", \"tzdata\"]", "[\"vendor-runtime\"]"),
    )
    .unwrap();
    let err = one_line_failure(&build(&debian, dir.path(), &[]).failure());
    assert!(
        err.contains("var/lib/dpkg/status.d/libc6") && err.contains("lower layer"),
        "{err}"
    );
    assert!(!dir.path().join("out").exists());

    let certs = DebBuilder::new("myapp", "1.0", "amd64").file("etc/ssl/certs", b"not a dir");
    let dir = project(&certs, "myapp.deb");
    let err = one_line_failure(&build(&debian, dir.path(), &[]).failure());
    assert!(err.contains("/etc/ssl/certs"), "{err}");

    let named = DebBuilder::new("a/b", "1.0", "amd64").file("usr/share/x", b"x");
    let dir = project(&named, "x.deb");
    let err = one_line_failure(&build(&debian, dir.path(), &[]).failure());
    assert!(err.contains("not a Debian package name"), "{err}");
}

#[test]
fn archive_links_that_climb_out_through_other_links_are_refused() {
    let debian = catalog_repo();
    let key = testkit::SignKey::generate("node releases");
    // x → . and s → x/x/../..: each lexically inside, together the root.
    let mut tar = tar::Builder::new(Vec::new());
    for (name, target) in [
        ("node-v24.0.0-linux-x64/x", "."),
        ("node-v24.0.0-linux-x64/s", "x/x/../.."),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        tar.append_link(&mut h, name, target).unwrap();
    }
    let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
    std::io::Write::write_all(&mut xz, &tar.into_inner().unwrap()).unwrap();
    let rel = release(&xz.finish().unwrap(), &key, None);
    let dir = tempfile::tempdir().unwrap();
    node_recipe(dir.path(), &key, Some(&rel.server.url));
    let recipe = fs_err::read_to_string(dir.path().join("distroless.toml")).unwrap();
    fs_err::write(
        dir.path().join("distroless.toml"),
        recipe.replace("include = [\"bin/node\"]\n", ""),
    )
    .unwrap();
    let err = one_line_failure(&build(&debian, dir.path(), &[]).failure());
    assert!(
        err.contains("resolves outside") || err.contains("outside the archive"),
        "{err}"
    );
}

#[test]
fn a_fifo_is_not_read_as_a_package() {
    let repo = catalog_repo();
    let dir = project(&myapp("1.0"), "myapp.deb");
    fs_err::remove_file(dir.path().join("build/myapp.deb")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(dir.path().join("build/myapp.deb"))
        .status()
        .unwrap();
    assert!(status.success());
    let err = one_line_failure(&build(&repo, dir.path(), &[]).failure());
    assert!(err.contains("not a regular file"), "{err}");
}

/// The catalog's images that need sources beyond Debian name neither host nor key: without
/// the flags, or with the wrong ones, the build stops in one line that says which flag, and
/// writes nothing.
#[test]
fn catalog_sources_come_from_the_command_line_and_are_verified() {
    let debian = catalog_repo();
    let dir = tempfile::tempdir().unwrap();
    let key = testkit::SignKey::generate("node releases");
    let other = testkit::SignKey::generate("someone else");
    let rel = release(&node_archive(), &key, None);
    let mirror = format!("node={}", rel.server.url);
    let signed_by = |k: &testkit::SignKey| format!("node={}", k.public.display());
    let fails = |args: &[&str]| {
        let mut all = vec!["nodejs24"];
        all.extend(args);
        let err = one_line_failure(&build(&debian, dir.path(), &all).failure());
        assert!(!dir.path().join("out").exists(), "{err}");
        err
    };
    let err = fails(&[]);
    assert!(err.contains("--archive-mirror node=URL"), "{err}");
    let err = fails(&["--archive-mirror", &mirror]);
    assert!(err.contains("--archive-key node=FILE"), "{err}");
    // A checksum file for the catalog's version, signed by `key`: another key is refused.
    let v = rel.dir.path().join("v24.21.0");
    fs_err::create_dir_all(&v).unwrap();
    let sums = format!("{}  node-v24.21.0-linux-x64.tar.gz\n", "1".repeat(64));
    fs_err::write(v.join("SHASUMS256.txt.asc"), key.clearsign(&sums)).unwrap();
    let err = fails(&[
        "--archive-mirror",
        &mirror,
        "--archive-key",
        &signed_by(&other),
    ]);
    assert!(
        err.contains("catalog image nodejs24: checksums_url:")
            && err.contains("signed by unknown key")
            && err.contains("the key it must be signed with"),
        "{err}"
    );
    let err = fails(&["--archive-mirror", "nod=file:///x"]);
    assert!(
        err.contains("--archive-mirror nod=…: no archive named nod (its archive names are node)"),
        "{err}"
    );

    let mut adoptium = testkit::Repo::new();
    adoptium.add(
        "trixie",
        DebBuilder::new("temurin-17-jre", "17.0.21.1.0+2-0", "amd64").file("x", b"x"),
    );
    adoptium.publish("amd64", None, &key);
    let url = format!("adoptium={}", adoptium.file_url());
    let fails = |args: &[&str]| {
        let mut all = vec!["java17-temurin"];
        all.extend(args);
        let err = one_line_failure(&build(&debian, dir.path(), &all).failure());
        assert!(!dir.path().join("out").exists(), "{err}");
        err
    };
    let err = fails(&[]);
    assert!(
        err.contains("catalog image java17-temurin: url: no URL and no key: give --repository adoptium=URL and --repository-key adoptium=FILE"),
        "{err}"
    );
    let err = fails(&["--repository", &url]);
    assert!(err.contains("--repository-key adoptium=…"), "{err}");
    let err = fails(&[
        "--repository",
        &url,
        "--repository-key",
        &format!("adoptium={}", other.public.display()),
    ]);
    assert!(err.contains("InRelease"), "{err}");
    let err = fails(&["--repository-key", "adoptum=/nonexistent"]);
    assert!(err.contains("no repository named adoptum"), "{err}");
}

/// A Node.js 24.21.0 release directory under `dir` holding an archive of `files` (under its
/// top directory) and a checksum file signed by `key`.
fn publish_node(key: &testkit::SignKey, dir: &Path, files: &[(&str, &[u8], u32)]) {
    let v = dir.join("v24.21.0");
    fs_err::create_dir_all(&v).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    {
        let mut tar = tar::Builder::new(&mut gz);
        for (name, data, mode) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(*mode);
            h.set_cksum();
            tar.append_data(&mut h, format!("node-v24.21.0-linux-x64/{name}"), *data)
                .unwrap();
        }
        tar.finish().unwrap();
    }
    let gz = gz.finish().unwrap();
    fs_err::write(v.join("node-v24.21.0-linux-x64.tar.gz"), &gz).unwrap();
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&gz));
    fs_err::write(
        v.join("SHASUMS256.txt.asc"),
        key.clearsign(&format!("{sha}  node-v24.21.0-linux-x64.tar.gz\n")),
    )
    .unwrap();
}

/// The hostile-input findings on sources beyond Debian, each refused in one line with nothing
/// written: an archive replacing what a lower layer holds, a catalog image whose archive lacks
/// its entrypoint, a key that is not a regular file, names that are not names; and what must
/// keep working: overrides in the environment for images without those sources, a killed
/// build's unpacking directory swept.
#[test]
fn archives_add_to_an_image_and_never_replace_or_break_it() {
    let debian = catalog_repo();
    let key = testkit::SignKey::generate("node releases");
    // dest = "/" and an /etc/passwd inside: refused, as a package shipping it is.
    let evil = tar_xz(&[(
        "node-v24.0.0-linux-x64/etc/passwd",
        b"root::0:0::/:/x\n",
        0o644,
    )]);
    let rel = release(&evil, &key, None);
    let dir = tempfile::tempdir().unwrap();
    node_recipe(dir.path(), &key, Some(&rel.server.url));
    let recipe = dir.path().join("distroless.toml");
    let text = fs_err::read_to_string(&recipe).unwrap();
    let text = text
        .replace("include = [\"bin/node\"]\n", "")
        .replace("dest = \"/nodejs\"", "dest = \"/\"");
    fs_err::write(&recipe, &text).unwrap();
    let err = one_line_failure(&build(&debian, dir.path(), &[]).failure());
    assert!(err.contains("/etc/passwd is already in the image"), "{err}");
    assert!(!dir.path().join("out").exists());
    // Names become purls and flag keys.
    fs_err::write(&recipe, text.replace("name = \"node\"", "name = \"../x\"")).unwrap();
    let err = one_line_failure(&build(&debian, dir.path(), &[]).failure());
    assert!(
        err.contains("archives[0].name: \"../x\" is not a name"),
        "{err}"
    );

    // The catalog's nodejs24 from a correctly signed archive without bin/node, and (at
    // v24.21.0 under `script/`) one whose bin/node is a script, not a program.
    let tmp = tempfile::tempdir().unwrap();
    publish_node(&key, tmp.path(), &[("LICENSE", b"MIT", 0o644)]);
    publish_node(
        &key,
        &tmp.path().join("script"),
        &[("bin/node", b"#!/bin/sh\necho node\n", 0o755)],
    );
    let server = testkit::Server::start(tmp.path());
    let work = tempfile::tempdir().unwrap();
    // A killed build's unpacking directory, swept by the next build.
    let stale = work.path().join("cache/archives-v2/.unpack-999999999-dead");
    fs_err::create_dir_all(&stale).unwrap();
    let flags = [
        "nodejs24",
        "--archive-mirror",
        &format!("node={}", server.url),
        "--archive-key",
        &format!("node={}", key.public.display()),
    ];
    let err = one_line_failure(&build(&debian, work.path(), &flags).failure());
    assert!(
        err.contains("the entrypoint /nodejs/bin/node is not in the image"),
        "{err}"
    );
    assert!(!work.path().join("out").exists());
    assert!(
        !stale.exists(),
        "a dead process's unpacking directory is swept"
    );
    let script = [
        "nodejs24",
        "--archive-mirror",
        &format!("node={}/script", server.url),
        "--archive-key",
        &format!("node={}", key.public.display()),
    ];
    let err = one_line_failure(&build(&debian, work.path(), &script).failure());
    assert!(
        err.contains("the entrypoint /nodejs/bin/node is not a program"),
        "{err}"
    );
    let leftover: Vec<_> = fs_err::read_dir(work.path().join("cache/archives-v2"))
        .unwrap()
        .collect();
    assert!(
        leftover.is_empty(),
        "the build removes its own: {leftover:?}"
    );

    // A key that is not a regular file is refused before it is read.
    let zero = [
        "nodejs24",
        "--archive-mirror",
        &format!("node={}", server.url),
        "--archive-key",
        "node=/dev/zero",
    ];
    let err = one_line_failure(&build(&debian, work.path(), &zero).failure());
    assert!(err.contains("/dev/zero: not a regular file"), "{err}");

    // Overrides in the environment concern only images that have those sources.
    let cache = work.path().join("cache");
    support::trusting(
        &cache,
        &debian.file_url(),
        &["build", "-q", "--arch", "amd64", "static", "-o", "plain"],
    )
    .current_dir(work.path())
    .env("DISTROLESS_ARCHIVE_MIRROR", format!("node={}", server.url))
    .env("DISTROLESS_REPOSITORY", "adoptium=file:///nowhere")
    .assert()
    .success();
}

/// Flags naming one image's sources serve a command over several images: `lock static
/// nodejs24` and a matrix of both take them, each image its own; a flag naming no source of
/// any is still refused.
#[test]
fn flags_for_one_image_serve_commands_over_several() {
    let debian = catalog_repo();
    let key = testkit::SignKey::generate("node releases");
    let tmp = tempfile::tempdir().unwrap();
    publish_node(&key, tmp.path(), &[("bin/node", b"x", 0o755)]);
    let server = testkit::Server::start(tmp.path());
    let work = tempfile::tempdir().unwrap();
    let mirror = format!("node={}", server.url);
    let signed = format!("node={}", key.public.display());
    let flags = ["--archive-mirror", &mirror, "--archive-key", &signed];
    let mut lock = vec!["lock", "static", "nodejs24", "--arch", "amd64"];
    lock.extend(flags);
    support::trusting(&work.path().join("cache"), &debian.file_url(), &lock)
        .current_dir(work.path())
        .assert()
        .success();
    let text = fs_err::read_to_string(work.path().join("distroless.lock")).unwrap();
    assert!(
        text.contains("[[image.archive]]") && text.contains("name = \"nodejs24\""),
        "{text}"
    );
    fs_err::write(
        work.path().join("m.toml"),
        "images = [\"static\", \"nodejs24\"]\nreleases = [13]\ntags = [\"latest\"]\n",
    )
    .unwrap();
    let mut dry = vec![
        "build",
        "--matrix",
        "m.toml",
        "--dry-run",
        "--arch",
        "amd64",
    ];
    dry.extend(flags);
    let out = support::trusting(&work.path().join("cache"), &debian.file_url(), &dry)
        .current_dir(work.path())
        .assert()
        .success();
    let listed = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        listed.contains("distroless/nodejs24-debian13:latest")
            && listed.contains("distroless/static-debian13:latest"),
        "{listed}"
    );
    let mut typo = vec![
        "lock",
        "static",
        "nodejs24",
        "--arch",
        "amd64",
        "--archive-key",
        "nod=/x",
    ];
    typo.extend(flags);
    let err = one_line_failure(
        &support::trusting(&work.path().join("cache"), &debian.file_url(), &typo)
            .current_dir(work.path())
            .assert()
            .failure(),
    );
    assert!(err.contains("no archive named nod"), "{err}");
}
