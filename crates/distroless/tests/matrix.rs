//! `build --matrix`: a family of catalog images in one process, into one OCI layout and a
//! loopback registry (Debian's `docker-registry`), from the hermetic test archive.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use testkit::fixtures::catalog_repo_for;
use testkit::registry::Registry;

const MATRIX: &str = "images = [\"static\", \"base\", \"cc\"]\nreleases = [13]\n\
                      tags = [\"latest\", \"nonroot\", \"debug\"]\narches = [\"amd64\", \"arm64\"]\n\
                      arch_tags = true\n";

#[test]
fn a_matrix_is_one_layout_of_the_images_single_builds_make() {
    let repo = catalog_repo_for(&["amd64", "arm64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    fs_err::write(tmp.path().join("m.toml"), MATRIX).unwrap();

    // Nine images (three images × three tags), each an index of two platforms, in one layout
    // whose refs are REPOSITORY:TAG, with SBOMs and provenance in OUT.evidence.
    let doc = support::matrix(&cache, &repo, tmp.path(), &["-o", "out"]);
    let images = doc["images"].as_array().unwrap();
    assert_eq!(images.len(), 9, "{doc}");
    // The dry-run list names the TAG-ARCH references too.
    let listed = support::matrix(&cache, &repo, tmp.path(), &["--dry-run"]);
    let arch_refs = &listed["images"][0]["arch_references"];
    assert_eq!(arch_refs.as_array().unwrap().len(), 2, "{listed}");
    // Every architecture the release offers (the test archive: amd64 and arm64) is the same.
    let all = support::matrix(&cache, &repo, tmp.path(), &["-o", "all", "--all-arches"]);
    assert_eq!(support::matrix_digests(&all), support::matrix_digests(&doc));
    let mut refs = support::ref_names(&tmp.path().join("out"));
    refs.sort_unstable();
    assert_eq!(refs.len(), 9);
    assert!(
        refs.iter().any(|r| r == "distroless/cc-debian13:debug"),
        "{refs:?}"
    );
    for i in images {
        let reference = i["reference"].as_str().unwrap();
        let stem = reference.replace(['/', ':'], "_");
        for kind in ["provenance.json", "amd64.spdx.json", "arm64.cdx.json"] {
            let f = tmp.path().join(format!("out.evidence/{stem}.{kind}"));
            assert!(f.is_file(), "{}", f.display());
        }
        // Each ref is the image a single build of it makes.
        let one = tmp.path().join(format!("one-{stem}"));
        let image = reference.trim_start_matches("distroless/").to_string();
        let one_s = one.to_str().unwrap();
        let args = [
            "build", &image, "-q", "--arch", "amd64", "--arch", "arm64", "-o", one_s,
        ];
        support::trusting(&cache, &repo.file_url(), &args)
            .assert()
            .success();
        let single: serde_json::Value =
            serde_json::from_slice(&fs_err::read(one.join("index.json")).unwrap()).unwrap();
        assert_eq!(single["manifests"][0]["digest"], i["digest"], "{reference}");
    }

    // Another image's ref in the layout survives a re-run (refs the matrix does not make are
    // carried over), and the matrix's refs are still its own.
    let out_s = tmp.path().join("out");
    let args = [
        "build",
        "static",
        "-q",
        "--arch",
        "amd64",
        "-o",
        out_s.to_str().unwrap(),
    ];
    support::trusting(&cache, &repo.file_url(), &args)
        .assert()
        .success();
    let again = support::matrix(&cache, &repo, tmp.path(), &["-o", "out"]);
    assert_eq!(
        support::matrix_digests(&again),
        support::matrix_digests(&doc)
    );
    let refs = support::ref_names(&tmp.path().join("out"));
    assert_eq!(refs.len(), 10, "{refs:?}");
    assert!(
        refs.iter().any(|r| r == "latest"),
        "the other image's ref: {refs:?}"
    );
    assert!(!fs_err::read_dir(tmp.path()).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".distroless-matrix-")
    }));
}

/// Pushed: every image under PREFIX/REPOSITORY:TAG (and TAG-ARCH); a blob shared by many
/// images is uploaded once; a second run uploads nothing. Before, `--dry-run` says what a
/// publish would change, and sends nothing.
#[test]
fn a_matrix_publish_shares_blobs_and_its_dry_run_says_what_changes() {
    let Some(reg) = Registry::start() else {
        return;
    };
    let repo = catalog_repo_for(&["amd64", "arm64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    fs_err::write(tmp.path().join("m.toml"), MATRIX).unwrap();
    let prefix = format!("{}/family", reg.addr);
    let statuses = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["--dry-run", "--push", &prefix];
        args.extend(extra);
        let doc = support::matrix(&cache, &repo, tmp.path(), &args);
        (doc["changes"].as_array().unwrap().iter())
            .map(|c| c["status"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(statuses(&[]), vec!["new"; 9]);
    assert_eq!(
        reg.requests("POST", "/blobs/uploads/"),
        0,
        "a dry run sends nothing"
    );
    let doc = support::matrix(&cache, &repo, tmp.path(), &["--push", &prefix, "-o", "out"]);
    let pushed: Vec<&str> = doc["images"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["pushed"].as_array().unwrap())
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        pushed.contains(&format!("{prefix}/distroless/base-debian13:nonroot-arm64").as_str()),
        "{pushed:?}"
    );
    // Manifests by digest first, every tag after them.
    let log = fs_err::read_to_string(reg.log()).unwrap();
    let puts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"PUT ") && l.contains("/manifests/"))
        .collect();
    let by_digest = |l: &&str| l.contains("/manifests/sha256:");
    let last_digest = puts.iter().rposition(by_digest).unwrap();
    let first_tag = puts.iter().position(|l| !by_digest(l)).unwrap();
    assert!(last_digest < first_tag, "{puts:#?}");
    let uploads = reg.requests("POST", "/blobs/uploads/");
    let layouts_blobs = fs_err::read_dir(tmp.path().join("out/blobs/sha256"))
        .unwrap()
        .count();
    assert!(
        uploads > 0 && uploads <= layouts_blobs,
        "{uploads} uploads for {layouts_blobs} distinct blobs"
    );
    support::matrix(&cache, &repo, tmp.path(), &["--push", &prefix]);
    assert_eq!(
        reg.requests("POST", "/blobs/uploads/"),
        uploads,
        "nothing uploaded again"
    );
    assert_eq!(statuses(&[]), vec!["unchanged"; 9]);
    assert_eq!(
        statuses(&["--source-date-epoch", "86400"]),
        vec!["changed"; 9]
    );
}

#[test]
fn bad_matrices_and_missing_sources_are_one_line() {
    let repo = catalog_repo_for(&["amd64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let fails = |text: &str, extra: &[&str]| {
        fs_err::write(tmp.path().join("m.toml"), text).unwrap();
        let mut args = vec!["build", "--matrix", "m.toml", "-o", "out"];
        args.extend(extra);
        let out = support::trusting(&cache, &repo.file_url(), &args)
            .current_dir(tmp.path())
            .assert()
            .failure();
        assert!(!tmp.path().join("out").exists());
        String::from_utf8_lossy(&out.get_output().stderr)
            .trim()
            .to_string()
    };
    // A matrix that signs without a key says so before building anything; a bare --push
    // needs the file's `registry`.
    let err = fails("images = [\"static\"]\nsign = true\n", &[]);
    assert!(
        err.contains("m.toml: signing and attesting need a key"),
        "{err}"
    );
    let err = fails("images = [\"static\"]\n", &["--push"]);
    assert!(err.contains("the file names none"), "{err}");
    let err = fails("images = [\"static\"]\ntags = [\"edge\"]\n", &[]);
    assert!(
        err.starts_with("error: m.toml: tags: unknown tag \"edge\""),
        "{err}"
    );
    // Nothing to build is an error, not an empty (or emptied) layout.
    let err = fails("images = [\"java17\"]\nreleases = [13]\n", &["--replace"]);
    assert!(err.contains("m.toml: no image to build"), "{err}");
    // Flags of a single image are refused, not ignored; so is an archive output.
    let err = fails("images = [\"static\"]\n", &["--locked"]);
    assert!(err.contains("--locked does not apply to a matrix"), "{err}");
    let err = fails("images = [\"static\"]\n", &["--copy", "m.toml:/m"]);
    assert!(err.contains("application flags"), "{err}");
    let err = fails("images = [\"static\"]\n", &["--push", "127.0.0.1:1/Team"]);
    assert!(err.contains("not an image reference"), "{err}");
    let err = fails("images = [\"nodejs24\"]\n", &[]);
    assert!(
        err.contains("nodejs24-debian13:latest") && err.contains("--archive-mirror node=URL"),
        "{err}"
    );
    // A killed run's part directories are swept by the next run.
    let stale = tmp.path().join(".distroless-matrix-999999999-dead");
    fs_err::create_dir_all(stale.join("0")).unwrap();
    fs_err::write(
        tmp.path().join("m.toml"),
        "images = [\"static\"]\nreleases = [13]\ntags = [\"latest\"]\n",
    )
    .unwrap();
    support::trusting(
        &cache,
        &repo.file_url(),
        &[
            "build", "--matrix", "m.toml", "-q", "--arch", "amd64", "-o", "ok",
        ],
    )
    .current_dir(tmp.path())
    .assert()
    .success();
    assert!(!stale.exists());
    assert!(
        tmp.path()
            .join("ok.evidence/distroless_static-debian13_latest.provenance.json")
            .is_file()
    );
    // --all leaves such images out, and says which flags they need.
    let out = support::trusting(
        &cache,
        &repo.file_url(),
        &["build", "--all", "--dry-run", "--arch", "amd64"],
    )
    .assert()
    .success();
    let text = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(
        text.contains("skipped nodejs24:") && text.contains("skipped java21-temurin:"),
        "{text}"
    );
    assert!(
        text.contains("distroless/python3-debian12:debug-nonroot"),
        "{text}"
    );
}

/// `sign = true` with a key beside the matrix file: every image signed and attested in the
/// registry (after its tags) and in the layout; `distroless verify` accepts each pushed one.
#[test]
fn a_signed_matrix_is_signed_and_attested_where_it_goes() {
    let Some(reg) = Registry::start() else {
        return;
    };
    let repo = catalog_repo_for(&["amd64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    keygen(&cache, tmp.path(), "keys");
    fs_err::create_dir(tmp.path().join("ci")).unwrap();
    fs_err::write(
        tmp.path().join("ci/m.toml"),
        "images = [\"static\", \"cc\"]\nreleases = [13]\ntags = [\"latest\", \"nonroot\"]\n\
         sign = true\nkey = \"../keys/cosign.key\"\n",
    )
    .unwrap();
    let prefix = format!("{}/signed", reg.addr);
    let args = [
        "build",
        "--matrix",
        "ci/m.toml",
        "--json",
        "-o",
        "out",
        "--push",
        &prefix,
    ];
    let out = support::trusting(&cache, &repo.file_url(), &args)
        .current_dir(tmp.path())
        .env("DISTROLESS_PASSWORD", "pw")
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    // Per image, in the registry and in the layout: a signature and three attestations
    // (SPDX, CycloneDX, provenance).
    assert_eq!(doc["signed"]["images"], 4, "{doc}");
    assert!(
        doc["signed"]["stored"].as_u64().unwrap() >= 4 * 2 * 4,
        "{doc}"
    );
    for image in ["static-debian13:latest", "cc-debian13:nonroot"] {
        let r = format!("{prefix}/distroless/{image}");
        support::distroless(&cache)
            .args([
                "verify",
                &r,
                "--key",
                "keys/cosign.pub",
                "--attestation",
                "spdx",
            ])
            .current_dir(tmp.path())
            .assert()
            .success();
    }
    // One image of the layout, named by its ref; a tag several images share is ambiguous.
    support::distroless(&cache)
        .args([
            "verify",
            "out:distroless/cc-debian13:nonroot",
            "--key",
            "keys/cosign.pub",
        ])
        .current_dir(tmp.path())
        .assert()
        .success();
    let ambiguous = support::distroless(&cache)
        .args(["verify", "out:latest", "--key", "keys/cosign.pub"])
        .current_dir(tmp.path())
        .assert()
        .failure();
    let line = String::from_utf8_lossy(&ambiguous.get_output().stderr).to_string();
    assert!(line.contains("names several images"), "{line}");
    // Again, nothing changed: the registry's images are signed already and are not signed
    // again (the layout, rebuilt, is).
    let first = doc["signed"]["stored"].as_u64().unwrap();
    let out = support::trusting(&cache, &repo.file_url(), &args)
        .current_dir(tmp.path())
        .env("DISTROLESS_PASSWORD", "pw")
        .arg("--replace")
        .assert()
        .success();
    let again: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let stored = again["signed"]["stored"].as_u64().unwrap();
    assert!(stored > 0 && stored < first, "{first} then {again}");
    // Another key: the images are signed again, with it.
    keygen(&cache, tmp.path(), "keys2");
    let out = support::trusting(&cache, &repo.file_url(), &args)
        .current_dir(tmp.path())
        .env("DISTROLESS_PASSWORD", "pw")
        .args(["--replace", "--sign", "--key", "keys2/cosign.key"])
        .assert()
        .success();
    let rekeyed: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let more = rekeyed["signed"]["stored"].as_u64().unwrap();
    assert!(
        more > stored,
        "the registry's images signed again: {rekeyed}"
    );
}

/// A key pair (password "pw") in `dir/name`.
fn keygen(cache: &Path, dir: &Path, name: &str) {
    support::distroless(cache)
        .args(["keygen", "-o", name])
        .current_dir(dir)
        .env("DISTROLESS_PASSWORD", "pw")
        .assert()
        .success();
}
