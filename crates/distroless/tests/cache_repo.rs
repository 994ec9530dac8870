//! `--cache-repo`: a registry repository (Debian's `docker-registry` on loopback) as the cache
//! CI runners share. A runner with an empty cache republishes a family without a `.deb` or an
//! index and without uploading a layer; entries that are not what they claim are refused.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use sha2::Digest as _;

use testkit::fixtures::catalog_repo_for;
use testkit::registry::Registry;

const MATRIX: &str = "images = [\"static\", \"cc\"]\nreleases = [13]\n\
                      tags = [\"latest\", \"debug\"]\narches = [\"amd64\", \"arm64\"]\n";

/// One runner: its own cache directory, the shared repository, a push to `prefix`.
fn runner(
    dir: &Path,
    name: &str,
    repo: &testkit::Repo,
    cache_repo: &str,
    prefix: &str,
) -> serde_json::Value {
    let args = [
        "build",
        "--matrix",
        "m.toml",
        "--json",
        "--cache-repo",
        cache_repo,
        "--push",
        prefix,
    ];
    let out = support::trusting(&dir.join(name), &repo.file_url(), &args)
        .current_dir(dir)
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

fn digests(doc: &serde_json::Value) -> Vec<String> {
    (doc["images"].as_array().unwrap().iter())
        .map(|i| format!("{} {}", i["reference"], i["digest"]))
        .collect()
}

/// Blobs of a cache directory that are `.deb` archives or xz-compressed indexes.
fn debs_and_indexes(cache: &Path) -> usize {
    walkdir::WalkDir::new(cache.join("sha256"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            let head = fs_err::read(e.path()).unwrap();
            head.starts_with(b"!<arch>\n") || head.starts_with(b"\xfd7zXZ")
        })
        .count()
}

/// The layer records of a cache directory (file name → JSON).
fn layer_records(cache: &Path) -> BTreeMap<String, serde_json::Value> {
    fs_err::read_dir(cache.join("layers-v8"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let json = serde_json::from_slice(&fs_err::read(e.path()).unwrap()).unwrap();
            (e.file_name().to_string_lossy().to_string(), json)
        })
        .collect()
}

/// The tags of a repository, read from the registry's storage.
fn tags(reg: &Registry, repository: &str) -> Vec<String> {
    let dir = reg.storage().join(format!(
        "data/docker/registry/v2/repositories/{repository}/_manifests/tags"
    ));
    fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect()
}

#[test]
fn a_fresh_runner_republishes_without_a_deb_and_without_uploading_a_layer() {
    let Some(reg) = Registry::start() else {
        return;
    };
    // A real ELF file in the test archive (the host's dynamic loader, which needs nothing),
    // so the ELF facts of a layer from the repository are compared too.
    let elf = fs_err::read("/lib64/ld-linux-x86-64.so.2").unwrap();
    let repo = catalog_repo_for(&["amd64", "arm64"], |pkgs| {
        for p in pkgs.iter_mut().filter(|p| p.name == "libgcc-s1") {
            *p = p.clone().file("usr/lib/testelf/libtestelf.so.1", &elf);
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    fs_err::write(tmp.path().join("m.toml"), MATRIX).unwrap();
    let cache_repo = format!("{}/ci/cache", reg.addr);

    // The first runner builds, stores plans, facts and layers, and publishes.
    let first = runner(
        tmp.path(),
        "a",
        &repo,
        &cache_repo,
        &format!("{}/one", reg.addr),
    );
    assert_eq!(
        first["cache_repo"]["failure"],
        serde_json::Value::Null,
        "{first}"
    );
    assert!(
        first["cache_repo"]["stats"]["stored"].as_u64().unwrap() > 10,
        "{first}"
    );
    let stored = tags(&reg, "ci/cache");
    assert!(
        stored.iter().any(|t| t.starts_with("layers-v8-")),
        "{stored:?}"
    );
    assert!(
        stored.iter().any(|t| t.starts_with("plans-v3-")),
        "{stored:?}"
    );
    let uploads = reg.requests("PUT", "/blobs/uploads/");

    // A fresh runner publishing the same family elsewhere in the registry: the same images,
    // no package or index fetched, every layer mounted, nothing but configs uploaded.
    let fresh = runner(
        tmp.path(),
        "b",
        &repo,
        &cache_repo,
        &format!("{}/two", reg.addr),
    );
    assert_eq!(digests(&fresh), digests(&first));
    assert_eq!(debs_and_indexes(&tmp.path().join("b")), 0);
    assert!(debs_and_indexes(&tmp.path().join("a")) > 0);
    let push = &fresh["push"];
    assert!(push["blobs_mounted"].as_u64().unwrap() > 0, "{fresh}");
    let configs = 4 * 2;
    assert!(push["blobs_sent"].as_u64().unwrap() <= configs, "{fresh}");
    assert!(
        reg.requests("PUT", "/blobs/uploads/") - uploads <= usize::try_from(configs).unwrap(),
        "only configs uploaded"
    );
    let stats = &fresh["cache_repo"]["stats"];
    assert_eq!(stats["stored"], 0, "{fresh}");
    assert_eq!(stats["misses"], 0, "{fresh}");
    assert!(
        stats["layer_bytes_fetched"].as_u64().unwrap() > 0,
        "{fresh}"
    );
    // What the fresh runner knows of each layer (its file index, ELF facts, diff_id), rebuilt
    // from the blobs, is what the first runner knew having built them.
    let records = layer_records(&tmp.path().join("b"));
    assert!(
        records
            .values()
            .any(|r| !r["index"]["elfs"].as_object().unwrap().is_empty()),
        "the layers hold ELF files"
    );
    assert_eq!(records, layer_records(&tmp.path().join("a")));
}

#[test]
fn entries_that_are_not_what_they_claim_change_no_image() {
    let Some(reg) = Registry::start() else {
        return;
    };
    let repo = catalog_repo_for(&["amd64", "arm64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    fs_err::write(tmp.path().join("m.toml"), MATRIX).unwrap();
    let cache_repo = format!("{}/ci/cache", reg.addr);
    let prefix = format!("{}/one", reg.addr);
    let first = runner(tmp.path(), "a", &repo, &cache_repo, &prefix);

    let client = registry::Client::new(registry::Options::default()).unwrap();
    let r = registry::Reference::parse(&cache_repo).unwrap();
    let all = tags(&reg, "ci/cache");
    // A plan entry whose record is not JSON: a miss, rebuilt and stored again.
    let plan = all.iter().find(|t| t.starts_with("plans-v3-")).unwrap();
    poison(
        &client,
        &r,
        plan,
        b"{not json",
        "application/vnd.distroless.cache.record.v1+json",
    );
    let rebuilt = runner(tmp.path(), "b", &repo, &cache_repo, &prefix);
    assert_eq!(digests(&rebuilt), digests(&first));
    assert_eq!(rebuilt["cache_repo"]["failure"], serde_json::Value::Null);
    let (bytes, _, _) = registry::referrers::manifest_if_any(&client, &r, plan)
        .unwrap()
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let record = m["layers"][0]["digest"].as_str().unwrap().parse().unwrap();
    let json = registry::referrers::blob(&client, &r, &record, 1 << 20).unwrap();
    serde_json::from_slice::<serde_json::Value>(&json).expect("the damaged record was replaced");

    // A layer entry whose blob is not a layer: refused, the repository left alone for the
    // run, and the images built from the packages are the same.
    for layer in all.iter().filter(|t| t.starts_with("layers-v8-")) {
        poison(
            &client,
            &r,
            layer,
            b"not a tar stream at all",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        );
    }
    let refused = runner(tmp.path(), "c", &repo, &cache_repo, &prefix);
    assert_eq!(digests(&refused), digests(&first));
    let failure = refused["cache_repo"]["failure"].as_str().unwrap();
    assert!(failure.contains("refused"), "{failure}");
    assert!(
        debs_and_indexes(&tmp.path().join("c")) > 0,
        "built from packages"
    );
}

/// Replaces the entry under `tag` with one whose single layer is `bytes`, keeping its key.
fn poison(
    client: &registry::Client,
    r: &registry::Reference,
    tag: &str,
    bytes: &[u8],
    media_type: &str,
) {
    let (old, _, _) = registry::referrers::manifest_if_any(client, r, tag)
        .unwrap()
        .unwrap();
    let mut m: serde_json::Value = serde_json::from_slice(&old).unwrap();
    m["layers"] = serde_json::json!([{
        "mediaType": media_type,
        "digest": format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes))),
        "size": bytes.len(),
    }]);
    let manifest = serde_json::to_vec(&m).unwrap();
    registry::push::push_artifact(
        client,
        r,
        &[b"{}".to_vec(), bytes.to_vec()],
        &manifest,
        "application/vnd.oci.image.manifest.v1+json",
        tag,
    )
    .unwrap();
}

/// A repository that does not answer costs a warning and a few seconds, never the build; an
/// empty `DISTROLESS_CACHE_REPO` (as CI writes `VAR=${X:-}`) means none.
#[test]
fn an_unreachable_or_empty_cache_repo_never_fails_a_build() {
    let repo = catalog_repo_for(&["amd64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let args = [
        "build",
        "static",
        "-o",
        "a",
        "--cache-repo",
        "127.0.0.1:1/ci/cache",
    ];
    let out = support::trusting(&tmp.path().join("c1"), &repo.file_url(), &args)
        .current_dir(tmp.path())
        .assert()
        .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("warning: cache repository 127.0.0.1:1/ci/cache not used after a failure"),
        "{err}"
    );
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    let out = support::trusting(
        &tmp.path().join("c2"),
        &repo.file_url(),
        &["build", "static", "-o", "b"],
    )
    .current_dir(tmp.path())
    .env("DISTROLESS_CACHE_REPO", "")
    .assert()
    .success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(!err.contains("cache repository"), "{err}");
}
