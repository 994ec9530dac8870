//! `--cache-repo`: a registry repository (Debian's `docker-registry` on loopback) as the cache
//! CI runners share. A runner with an empty cache republishes a family without a `.deb` and
//! without uploading a layer (it resolves from the signed indexes itself); entries that are
//! not what they claim are refused.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::io::Read as _;
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
    let extra = ["--cache-repo", cache_repo, "--push", prefix];
    support::matrix(&dir.join(name), repo, dir, &extra)
}

/// Blobs of a cache directory that are `.deb` archives.
fn debs(cache: &Path) -> usize {
    walkdir::WalkDir::new(cache.join("sha256"))
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .filter(|e| {
            let mut head = [0u8; 8];
            let read = fs_err::File::open(e.path()).and_then(|mut f| f.read_exact(&mut head));
            read.is_ok() && head == *b"!<arch>\n"
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

    // The first runner builds, stores package facts and layers (not plans), and publishes.
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
        stored.iter().any(|t| t.starts_with("facts-v1-")),
        "{stored:?}"
    );
    assert!(
        !stored.iter().any(|t| t.starts_with("plans-")),
        "{stored:?}"
    );
    let uploads = reg.requests("PUT", "/blobs/uploads/");

    // A fresh runner publishing the same family elsewhere in the registry: the same images,
    // no package fetched, every layer mounted, nothing but configs uploaded.
    let fresh = runner(
        tmp.path(),
        "b",
        &repo,
        &cache_repo,
        &format!("{}/two", reg.addr),
    );
    assert_eq!(
        support::matrix_digests(&fresh),
        support::matrix_digests(&first)
    );
    assert_eq!(debs(&tmp.path().join("b")), 0);
    assert!(debs(&tmp.path().join("a")) > 0);
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
    let record = "application/vnd.distroless.cache.record.v1+json";
    // Package facts that are not JSON, or not a package's (a control character, a name of a
    // megabyte): rebuilt from the package, and the entries replaced.
    let facts: Vec<&String> = all.iter().filter(|t| t.starts_with("facts-v1-")).collect();
    poison(&client, &r, facts[0], b"{not json", record);
    let huge = format!(
        "{{\"maintainer\":\"{}\",\"licenses\":null}}",
        "x".repeat(1 << 20)
    );
    poison(&client, &r, facts[1], huge.as_bytes(), record);
    let escape = br#"{"maintainer":"evil \u001b[31m","licenses":["Proprietary-Backdoor"]}"#;
    poison(&client, &r, facts[2], escape, record);
    let rebuilt = runner(tmp.path(), "b", &repo, &cache_repo, &prefix);
    assert_eq!(
        support::matrix_digests(&rebuilt),
        support::matrix_digests(&first)
    );
    assert_eq!(rebuilt["cache_repo"]["failure"], serde_json::Value::Null);
    for tag in &facts[..3] {
        let json = entry_blob(&client, &r, tag);
        let value: serde_json::Value = serde_json::from_slice(&json).expect("replaced");
        assert!(!value.to_string().contains("Backdoor"), "{value}");
        assert!(json.len() < 4096, "replaced");
    }

    // Layer entries whose blobs are not layers this tool writes: refused, reading stopped for
    // the run, the images built from the packages are the same, and the entries replaced.
    let layers: Vec<&String> = all.iter().filter(|t| t.starts_with("layers-v8-")).collect();
    let gzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    poison(&client, &r, layers[0], b"not a tar stream at all", gzip);
    for hostile in [
        gz(&tar_of(
            &[(b"/etc/abs".as_slice(), tar::EntryType::Regular)],
            true,
        )),
        gz(&tar_of(
            &[(b"dev/x".as_slice(), tar::EntryType::Char)],
            true,
        )),
        // Two gzip members: the second (hidden from a reader of one member) escapes.
        [
            gz(&tar_of(
                &[(b"etc/hello".as_slice(), tar::EntryType::Regular)],
                false,
            )),
            gz(&tar_of(
                &[(b"../../escaped".as_slice(), tar::EntryType::Regular)],
                true,
            )),
        ]
        .concat(),
    ] {
        for layer in &layers {
            poison(&client, &r, layer, &hostile, gzip);
        }
        let dir = format!("c{}", hostile.len());
        let refused = runner(tmp.path(), &dir, &repo, &cache_repo, &prefix);
        assert_eq!(
            support::matrix_digests(&refused),
            support::matrix_digests(&first)
        );
        let failure = refused["cache_repo"]["failure"].as_str().unwrap();
        assert!(failure.contains("refused"), "{failure}");
        assert!(debs(&tmp.path().join(&dir)) > 0, "built from packages");
        // The refused entry now names the layer this runner built.
        assert!(
            layers
                .iter()
                .any(|t| entry_blob_digest(&client, &r, t) != sha256_of(&hostile))
        );
    }
}

/// A tar of empty entries (with the end-of-archive blocks when `end`).
fn tar_of(entries: &[(&[u8], tar::EntryType)], end: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind) in entries {
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        h.set_entry_type(*kind);
        h.set_size(0);
        h.set_mode(0o644);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
    }
    if end {
        out.extend_from_slice(&[0; 1024]);
    }
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The digest of the one layer of the entry under `tag`.
fn entry_blob_digest(client: &registry::Client, r: &registry::Reference, tag: &str) -> String {
    let (bytes, _, _) = registry::referrers::manifest_if_any(client, r, tag)
        .unwrap()
        .unwrap();
    let m: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    m["layers"][0]["digest"].as_str().unwrap().to_string()
}

/// The one layer of the entry under `tag`.
fn entry_blob(client: &registry::Client, r: &registry::Reference, tag: &str) -> Vec<u8> {
    let digest = entry_blob_digest(client, r, tag).parse().unwrap();
    registry::referrers::blob(client, r, &digest, 16 << 20).unwrap()
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
        err.contains("warning: cache repository 127.0.0.1:1/ci/cache: not used after:"),
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
