//! Registries: what we push, skopeo, Docker and our own pull read back with the same digests;
//! recipes start from registry images; credentials are asked for, stored and kept secret; bad
//! answers get one line. Against Debian's `docker-registry` started by the tests on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::path::Path;
use std::process::Command;

use predicates::str::contains;
use testkit::fixtures::catalog_repo_for;
use testkit::registry::{Registry, Setup};

fn stdout(a: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

fn skopeo_digest(reference: &str) -> String {
    support::run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--raw",
        &format!("docker://{reference}"),
    ]))
    .pipe_digest()
}

trait PipeDigest {
    fn pipe_digest(self) -> String;
}

impl PipeDigest for String {
    /// The sha256 of a raw manifest as skopeo printed it.
    fn pipe_digest(self) -> String {
        format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(self.as_bytes()))
        )
    }
}

/// The digest `index.json`'s first entry names.
fn layout_digest(layout: &Path) -> String {
    let index: serde_json::Value =
        serde_json::from_slice(&fs_err::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn pushed_images_read_back_the_same_everywhere() {
    let Some(reg) = Registry::start() else {
        return;
    };
    if !support::have_tool("skopeo") {
        return;
    }
    let repo = catalog_repo_for(&["amd64", "arm64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let layout = tmp.path().join("base");
    support::build_layout(&cache, &repo, "base", &["amd64", "arm64"], &layout);
    let ours = layout_digest(&layout);
    let target = format!("{}/distroless/base", reg.addr);
    let pushed = support::distroless(&cache)
        .args(["push", "--json", "--arch-tags", "--tag", "v1"])
        .arg(&layout)
        .arg(format!("{target}:latest"))
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_str(&stdout(&pushed)).unwrap();
    let refs: Vec<&str> = doc["pushed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["reference"].as_str().unwrap())
        .collect();
    assert!(
        refs.contains(&format!("{target}:latest-arm64").as_str()),
        "{doc}"
    );
    assert!(refs.contains(&format!("{target}:v1").as_str()), "{doc}");
    assert_eq!(doc["pushed"][0]["digest"], ours.as_str());
    // skopeo sees our digest under both tags.
    assert_eq!(skopeo_digest(&format!("{target}:latest")), ours);
    assert_eq!(skopeo_digest(&format!("{target}:v1")), ours);

    // A second push sends no blob and no manifest again: only lookups and the tags.
    let again = support::distroless(&cache)
        .args(["push", "--json"])
        .arg(&layout)
        .arg(format!("{target}:latest"))
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_str(&stdout(&again)).unwrap();
    assert_eq!(doc["blobs_sent"], 0, "{doc}");
    assert!(doc["bytes_sent"].as_u64().unwrap() < 4096, "{doc}");

    // Our pull gives back the same digest; so does skopeo's copy of what we pushed, and our
    // pull of what skopeo pushed.
    let pulled = tmp.path().join("pulled");
    support::distroless(&cache)
        .args(["pull", &format!("{target}:latest"), "-o"])
        .arg(&pulled)
        .assert()
        .success();
    assert_eq!(layout_digest(&pulled), ours);
    let by_skopeo = tmp.path().join("skopeo");
    support::run(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{target}:latest"),
        &format!("oci:{}:latest", by_skopeo.display()),
        "--all",
    ]));
    assert_eq!(layout_digest(&by_skopeo), ours);
    support::run(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        "--all",
        &format!("oci:{}:latest", layout.display()),
        &format!("docker://{}/copied/base:sk", reg.addr),
    ]));
    let back = tmp.path().join("back");
    support::distroless(&cache)
        .args(["pull", &format!("{}/copied/base:sk", reg.addr), "-o"])
        .arg(&back)
        .assert()
        .success();
    assert_eq!(layout_digest(&back), ours);

    pull_one_platform_into_archives(&cache, &target, tmp.path());
    push_each_archive_kind(&cache, &repo, &reg, tmp.path());
    // inspect, diff and audit take a registry reference as they take a layout.
    let seen = support::distroless(&cache)
        .args(["inspect", "--json", &format!("{target}:latest")])
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_str(&stdout(&seen)).unwrap();
    assert_eq!(doc["platforms"].as_array().unwrap().len(), 2);
    support::distroless(&cache)
        .arg("diff")
        .arg(&layout)
        .arg(format!("{target}:latest"))
        .assert()
        .success();
}

/// An oci-archive and a docker-archive push too, and pull back to the manifest they hold.
fn push_each_archive_kind(cache: &Path, repo: &testkit::Repo, reg: &Registry, dir: &Path) {
    for (out, format) in [("a.tar", "oci"), ("d.tar", "docker")] {
        let archive = dir.join(out);
        support::trusting(
            cache,
            &repo.file_url(),
            &["build", "-q", "base", "--arch", "amd64", "--format", format],
        )
        .arg("-o")
        .arg(&archive)
        .assert()
        .success();
        let target = format!("{}/archives/{format}:1", reg.addr);
        let pushed = support::distroless(cache)
            .args(["push", "--json"])
            .arg(&archive)
            .arg(&target)
            .assert()
            .success();
        let doc: serde_json::Value = serde_json::from_str(&stdout(&pushed)).unwrap();
        let digest = doc["pushed"][0]["digest"].as_str().unwrap().to_string();
        assert_eq!(skopeo_digest(&target), digest, "{format}");
        let back = dir.join(format!("back-{format}"));
        support::distroless(cache)
            .args(["pull", &target, "-o"])
            .arg(&back)
            .assert()
            .success();
        assert_eq!(layout_digest(&back), digest, "{format}");
    }
}

/// `--platform` picks one manifest, written as an oci-archive and as a docker-archive.
fn pull_one_platform_into_archives(cache: &Path, target: &str, dir: &Path) {
    // One platform, into each archive kind.
    for (out, format) in [("one.tar", "oci"), ("one-docker.tar", "docker")] {
        let out = dir.join(out);
        support::distroless(cache)
            .args([
                "pull",
                &format!("{target}:latest"),
                "--platform",
                "linux/arm64",
                "--format",
                format,
                "-o",
            ])
            .arg(&out)
            .assert()
            .success();
        let shown = support::run(Command::new("skopeo").args([
            "inspect",
            &format!(
                "{}:{}",
                if format == "oci" {
                    "oci-archive"
                } else {
                    "docker-archive"
                },
                out.display()
            ),
        ]));
        assert!(shown.contains("\"Architecture\": \"arm64\""), "{shown}");
    }
}

#[test]
fn a_recipe_starts_from_a_registry_image_pulled_once() {
    let Some(reg) = Registry::start() else {
        return;
    };
    let repo = catalog_repo_for(&["amd64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let base = format!("{}/team/base:1.0", reg.addr);
    support::trusting(
        &cache,
        &repo.file_url(),
        &["build", "-q", "base", "--arch", "amd64"],
    )
    .arg("--push")
    .arg(&base)
    .assert()
    .success();
    let dir = tmp.path().join("app");
    fs_err::create_dir_all(&dir).unwrap();
    fs_err::write(dir.join("f"), "hello").unwrap();
    fs_err::write(
        dir.join("distroless.toml"),
        format!("name = \"onreg\"\nfrom = \"{base}\"\n[[copy]]\nsrc = \"f\"\ndest = \"/f\"\n"),
    )
    .unwrap();
    let build = || {
        support::distroless(&cache)
            .current_dir(&dir)
            .args(["build", "-q", "-o", "img"])
            .assert()
            .success()
    };
    build();
    let blobs_before = reg.requests("GET", "/blobs/");
    build();
    assert_eq!(
        reg.requests("GET", "/blobs/"),
        blobs_before,
        "no blob fetched twice"
    );
    let (_, m) = &support::manifests(&dir.join("img"))[0];
    assert_eq!(
        m["annotations"]["org.opencontainers.image.base.name"],
        base.as_str()
    );
}

#[test]
fn credentials_are_checked_stored_and_never_shown() {
    let Some(reg) = Registry::start_with(&Setup {
        basic: Some(("ci".into(), "t0p-s3cret".into())),
        ..Setup::default()
    }) else {
        return;
    };
    let repo = catalog_repo_for(&["amd64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let config = tmp.path().join("docker");
    let layout = tmp.path().join("static");
    support::build_layout(&cache, &repo, "static", &["amd64"], &layout);
    let cmd = |args: &[&str]| {
        let mut c = support::distroless(&cache);
        c.env("DOCKER_CONFIG", &config)
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("XDG_RUNTIME_DIR")
            .args(args);
        c
    };
    let target = format!("{}/team/static:1", reg.addr);
    let push = |c: &mut assert_cmd::Command| c.arg(&layout).arg(&target).assert();
    push(&mut cmd(&["push"])).failure().stderr(contains(format!(
        "run `distroless login {} -u USER`",
        reg.addr
    )));
    let wrong = cmd(&["login", &reg.addr, "-u", "ci"])
        .write_stdin("nope\n")
        .assert()
        .failure();
    let text = String::from_utf8_lossy(&wrong.get_output().stderr).to_string();
    assert!(
        !text.contains("nope") && !config.join("config.json").exists(),
        "{text}"
    );
    let ok = cmd(&["login", &reg.addr, "-u", "ci"])
        .write_stdin("t0p-s3cret\n")
        .assert()
        .success();
    assert!(!stdout(&ok).contains("t0p-s3cret"));
    let meta = fs_err::metadata(config.join("config.json")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    let pushed = push(&mut cmd(&["push"])).success();
    assert!(!stdout(&pushed).contains("t0p-s3cret"));
    cmd(&["logout", &reg.addr]).assert().success();
    push(&mut cmd(&["push"])).failure();
}

#[test]
fn bad_references_and_bad_answers_get_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    for (r, why) in [
        ("shop:latest", "name the registry"),
        ("127.0.0.1:5000/Shop", "not a repository name"),
        ("127.0.0.1:5000/a@sha256:12", "digest"),
    ] {
        support::distroless(&cache)
            .args(["pull", r, "-o"])
            .arg(tmp.path().join("x"))
            .assert()
            .failure()
            .stderr(contains(why));
    }
    // A web server that is not a registry: HTML where a manifest should be.
    let root = tmp.path().join("web");
    fs_err::create_dir_all(root.join("v2/a/manifests")).unwrap();
    fs_err::write(
        root.join("v2/a/manifests/latest"),
        "<html><body>hi</body></html>",
    )
    .unwrap();
    let fake = r#"{"schemaVersion":2}"#;
    let wrong = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    fs_err::write(root.join(format!("v2/a/manifests/{wrong}")), fake).unwrap();
    fs_err::write(
        root.join("v2/a/manifests/weird"),
        r#"{"schemaVersion":2,"mediaType":"application/vnd.example.thing+json"}"#,
    )
    .unwrap();
    let web = testkit::server::Server::start(&root);
    let host = web.url.trim_start_matches("http://").trim_end_matches('/');
    let out = tmp.path().join("o");
    let e = support::distroless(&cache)
        .args(["pull", &format!("{host}/a:latest"), "-o"])
        .arg(&out)
        .assert()
        .failure();
    let text = String::from_utf8_lossy(&e.get_output().stderr).to_string();
    assert!(
        text.contains("HTML page") && text.lines().count() == 1,
        "{text}"
    );
    support::distroless(&cache)
        .args(["pull", &format!("{host}/a@{wrong}"), "-o"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(contains(format!("not {wrong}")));
    support::distroless(&cache)
        .args(["pull", &format!("{host}/a:weird"), "-o"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(contains("unsupported manifest media type"));
    assert!(!out.exists());
}

/// A static server: prints its line, answers `health`, and otherwise waits.
const SERVER: &str = "#include <stdio.h>\n#include <string.h>\n#include <unistd.h>\nint main(int c, char **v){ if (c > 1 && !strcmp(v[1], \"health\")) return 0; if (c > 1 && !strcmp(v[1], \"serve\")) for (;;) pause(); puts(\"hello from the registry\"); return 0; }\n";

#[test]
fn docker_pulls_and_runs_what_we_pushed() {
    if !support::tools() {
        return;
    }
    let (Some(reg), Some(engine)) = (Registry::start(), testkit::engine::Dockerd::start()) else {
        return;
    };
    let repo = catalog_repo_for(&["amd64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    support::compile(dir, "server", SERVER, false, &["-static"]);
    fs_err::write(
        dir.join("distroless.toml"),
        "name = \"srv\"\nfrom = \"static\"\nentrypoint = [\"/server\"]\n[healthcheck]\ntest = [\"CMD\", \"/server\", \"health\"]\ninterval = \"1s\"\n[[copy]]\nsrc = \"server\"\ndest = \"/server\"\n",
    )
    .unwrap();
    let target = format!("{}/team/srv:1.0", reg.addr);
    support::trusting(
        &dir.join("cache"),
        &repo.file_url(),
        &["build", "-q", "--arch", "amd64"],
    )
    .current_dir(dir)
    .arg("--push")
    .arg(&target)
    .assert()
    .success();
    engine.run(&["pull", &target]);
    let out = engine.run(&["run", "--rm", "--network", "none", &target]);
    assert_eq!(out.trim(), "hello from the registry");
    let id = engine.run(&["run", "-d", "--network", "none", &target, "serve"]);
    let id = id.trim();
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    while engine
        .run(&["inspect", "-f", "{{.State.Health.Status}}", id])
        .trim()
        != "healthy"
    {
        assert!(std::time::Instant::now() < deadline, "never healthy");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    engine.run(&["rm", "-f", id]);
}

#[test]
fn pushes_and_pulls_survive_a_faulty_network_and_resume_without_resending() {
    use testkit::proxy::{Fault, FaultyProxy, Plan};
    let Some(reg) = Registry::start() else {
        return;
    };
    let repo = catalog_repo_for(&["amd64", "arm64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let layout = tmp.path().join("cc");
    support::build_layout(&cache, &repo, "cc", &["amd64", "arm64"], &layout);
    let ours = layout_digest(&layout);
    let faults = vec![
        Fault::ServerError,
        Fault::TooMany,
        Fault::Reset,
        Fault::Truncate,
    ];
    for seed in [1, 2, 3] {
        let proxy = FaultyProxy::start(
            &reg.addr,
            Plan::Random { percent: 20, seed },
            faults.clone(),
        );
        let target = format!("{}/faulty/cc{seed}:latest", proxy.addr);
        support::distroless(&cache)
            .args(["push"])
            .arg(&layout)
            .arg(&target)
            .assert()
            .success();
        let pulled = tmp.path().join(format!("pulled{seed}"));
        support::distroless(&cache)
            .args(["pull", &target, "-o"])
            .arg(&pulled)
            .assert()
            .success();
        assert_eq!(layout_digest(&pulled), ours);
        assert!(
            proxy
                .stats
                .faults
                .load(std::sync::atomic::Ordering::Relaxed)
                > 0
        );
    }

    // A push that dies after two blobs, then resumed: every blob reaches the registry once.
    let blob_bytes: u64 = {
        let mut sizes = std::collections::BTreeMap::new();
        for (_, m) in support::manifests(&layout) {
            for l in m["layers"].as_array().unwrap().iter().chain([&m["config"]]) {
                sizes.insert(
                    l["digest"].as_str().unwrap().to_string(),
                    l["size"].as_u64().unwrap(),
                );
            }
        }
        sizes.values().sum()
    };
    let dying = FaultyProxy::start(&reg.addr, Plan::UploadsAfter(2), vec![Fault::Reset]);
    let target = format!("{}/resumed/cc:latest", dying.addr);
    support::distroless(&cache)
        .args(["push", "--jobs", "1", "--attempts", "2"])
        .arg(&layout)
        .arg(&target)
        .assert()
        .failure();
    let first = dying
        .stats
        .upload_bytes
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(first > 0 && first < blob_bytes);
    let calm = FaultyProxy::start(
        &reg.addr,
        Plan::Random {
            percent: 0,
            seed: 0,
        },
        Vec::new(),
    );
    support::distroless(&cache)
        .args(["push"])
        .arg(&layout)
        .arg(format!("{}/resumed/cc:latest", calm.addr))
        .assert()
        .success();
    let second = calm
        .stats
        .upload_bytes
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(first + second, blob_bytes, "no blob sent twice");
}

#[test]
fn crane_judges_what_we_push_and_we_pull_what_crane_pushes() {
    let Some(reg) = Registry::start() else {
        return;
    };
    if !support::have_tool("crane") {
        return;
    }
    let repo = catalog_repo_for(&["amd64", "arm64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let layout = tmp.path().join("base");
    support::build_layout(&cache, &repo, "base", &["amd64", "arm64"], &layout);
    let ours = layout_digest(&layout);
    let target = format!("{}/judged/base:1", reg.addr);
    support::distroless(&cache)
        .arg("push")
        .arg(&layout)
        .arg(&target)
        .assert()
        .success();
    let crane = |args: &[&str]| support::run(Command::new("crane").args(args).arg("--insecure"));
    crane(&["validate", "--remote", &target]);
    assert_eq!(crane(&["digest", &target]).trim(), ours);
    // What crane pushes (our layout, as an index), we pull to the same digest.
    let by_crane = format!("{}/crane/base:1", reg.addr);
    crane(&["push", "--index", layout.to_str().unwrap(), &by_crane]);
    let pulled = tmp.path().join("pulled");
    support::distroless(&cache)
        .args(["pull", &by_crane, "-o"])
        .arg(&pulled)
        .assert()
        .success();
    // crane wraps the layout's index.json in an index of its own: the same top digest crane
    // reports, and our index inside it.
    assert_eq!(layout_digest(&pulled), crane(&["digest", &by_crane]).trim());
    assert!(
        pulled
            .join("blobs/sha256")
            .join(ours.trim_start_matches("sha256:"))
            .is_file()
    );
    // The nested layout a pull wrote is one our readers take, and pushes back as it was.
    support::distroless(&cache)
        .arg("inspect")
        .arg(&pulled)
        .assert()
        .success();
    let again = format!("{}/again/base:1", reg.addr);
    support::distroless(&cache)
        .arg("push")
        .arg(&pulled)
        .arg(&again)
        .assert()
        .success();
    assert_eq!(
        crane(&["digest", &again]).trim(),
        crane(&["digest", &by_crane]).trim()
    );
}

#[test]
fn credentials_come_from_helpers_and_containers_auth_files() {
    use base64::Engine as _;
    let Some(reg) = Registry::start_with(&Setup {
        basic: Some(("ci".into(), "h3lper-pass".into())),
        ..Setup::default()
    }) else {
        return;
    };
    let repo = catalog_repo_for(&["amd64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let layout = tmp.path().join("static");
    support::build_layout(&cache, &repo, "static", &["amd64"], &layout);
    // A credential helper, as `docker-credential-NAME get` answers.
    let bin = tmp.path().join("bin");
    fs_err::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-testhelper");
    fs_err::write(
        &helper,
        "#!/bin/sh\nread server\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"ci\",\"Secret\":\"h3lper-pass\"}' \"$server\"\n",
    )
    .unwrap();
    fs_err::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let docker = tmp.path().join("docker");
    fs_err::create_dir_all(&docker).unwrap();
    fs_err::write(
        docker.join("config.json"),
        format!("{{\"credHelpers\": {{\"{}\": \"testhelper\"}}}}", reg.addr),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let pushed = support::distroless(&cache)
        .env("PATH", &path)
        .env("DOCKER_CONFIG", &docker)
        .env_remove("REGISTRY_AUTH_FILE")
        .env_remove("XDG_RUNTIME_DIR")
        .arg("push")
        .arg(&layout)
        .arg(format!("{}/helped/static:1", reg.addr))
        .assert()
        .success();
    assert!(!stdout(&pushed).contains("h3lper-pass"));
    // containers' auth.json, named by REGISTRY_AUTH_FILE, comes first.
    let auth = tmp.path().join("auth.json");
    let token = base64::engine::general_purpose::STANDARD.encode("ci:h3lper-pass");
    fs_err::write(
        &auth,
        format!(
            "{{\"auths\": {{\"{}\": {{\"auth\": \"{token}\"}}}}}}",
            reg.addr
        ),
    )
    .unwrap();
    support::distroless(&cache)
        .env("REGISTRY_AUTH_FILE", &auth)
        .env("DOCKER_CONFIG", tmp.path().join("none"))
        .arg("push")
        .arg(&layout)
        .arg(format!("{}/authfile/static:1", reg.addr))
        .assert()
        .success();
    // A size cap refuses before anything is sent.
    support::distroless(&cache)
        .env("REGISTRY_AUTH_FILE", &auth)
        .args(["push", "--max-image-bytes", "1000"])
        .arg(&layout)
        .arg(format!("{}/capped/static:1", reg.addr))
        .assert()
        .failure()
        .stderr(contains("over the 1000-byte cap"));
}

#[test]
fn ambiguous_or_mismatched_requests_are_refused_in_one_line() {
    let Some(reg) = Registry::start() else {
        return;
    };
    let repo = catalog_repo_for(&["amd64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let layout = tmp.path().join("two");
    support::build_layout(&cache, &repo, "static", &["amd64"], &layout);
    support::build_layout(&cache, &repo, "static:nonroot", &["amd64"], &layout);
    let fails = |args: &[&str], why: &str| {
        let a = support::distroless(&cache).args(args).assert().failure();
        let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
        assert!(
            err.contains(why) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    };
    let target = format!("{}/two/static:1", reg.addr);
    // A layout with several tags: `latest` is taken, or a tag must be named.
    let l = layout.to_str().unwrap();
    support::distroless(&cache)
        .args(["push", l, &target])
        .assert()
        .success();
    let index: serde_json::Value =
        serde_json::from_slice(&fs_err::read(layout.join("index.json")).unwrap()).unwrap();
    let latest = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "latest")
        .unwrap()["digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        skopeo_digest(&target),
        latest,
        "the layout's latest, not its first entry"
    );
    let only_tags = tmp.path().join("tags");
    support::build_layout(&cache, &repo, "static:nonroot", &["amd64"], &only_tags);
    support::build_layout(&cache, &repo, "static:debug", &["amd64"], &only_tags);
    fails(
        &["push", only_tags.to_str().unwrap(), &target],
        "holds several images",
    );
    // A one-platform image pulled for another platform.
    fails(
        &[
            "pull",
            &target,
            "--platform",
            "linux/arm64",
            "-o",
            tmp.path().join("p").to_str().unwrap(),
        ],
        "not the platform asked for",
    );
    // build --push of a docker-archive, refused before building.
    fails(
        &[
            "build", "static", "--format", "docker", "-o", "x.tar", "--push", &target,
        ],
        "--push sends the OCI image",
    );
    // Pushed by digest only: no tag is made.
    let by_digest = format!("{}/bydigest/static@{latest}", reg.addr);
    support::distroless(&cache)
        .args(["push", l, &by_digest])
        .assert()
        .success();
    assert_eq!(skopeo_digest(&by_digest), latest);
    let tagged = Command::new("skopeo")
        .args(["inspect", "--tls-verify=false", "--raw"])
        .arg(format!("docker://{}/bydigest/static:latest", reg.addr))
        .output()
        .unwrap();
    assert!(!tagged.status.success(), "no latest tag was made");
}

#[test]
fn cosign_verifies_what_we_sign() {
    let Some(reg) = Registry::start() else {
        return;
    };
    if !support::have_tool("cosign") {
        return;
    }
    let repo = catalog_repo_for(&["amd64", "arm64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let layout = tmp.path().join("static");
    support::build_layout(&cache, &repo, "static", &["amd64", "arm64"], &layout);
    let (signed, unsigned) = (
        format!("{}/t/static:1", reg.addr),
        format!("{}/t/unsigned:1", reg.addr),
    );
    for target in [&signed, &unsigned] {
        support::distroless(&cache)
            .arg("push")
            .arg(&layout)
            .arg(target)
            .assert()
            .success();
    }
    // A key cosign made, used here.
    support::run(
        Command::new("cosign")
            .current_dir(tmp.path())
            .arg("generate-key-pair")
            .env("COSIGN_PASSWORD", "pa55"),
    );
    support::distroless(&cache)
        .args(["sign", &signed, "--key"])
        .arg(tmp.path().join("cosign.key"))
        .env("DISTROLESS_PASSWORD", "pa55")
        .assert()
        .success();
    let verify = |target: &str| {
        Command::new("cosign")
            .args([
                "verify",
                "--insecure-ignore-tlog",
                "--allow-http-registry",
                "--key",
            ])
            .arg(tmp.path().join("cosign.pub"))
            .arg(target)
            .output()
            .unwrap()
    };
    let ok = verify(&signed);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // Every platform's manifest is signed too.
    let index: serde_json::Value =
        serde_json::from_str(&support::run(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{signed}"),
        ])))
        .unwrap();
    for m in index["manifests"].as_array().unwrap() {
        let by_digest = format!("{}/t/static@{}", reg.addr, m["digest"].as_str().unwrap());
        assert!(verify(&by_digest).status.success(), "{by_digest}");
    }
    assert!(
        !verify(&unsigned).status.success(),
        "an unsigned image is refused"
    );
    // A wrong password is one clear line.
    let bad = support::distroless(&cache)
        .args(["sign", &signed, "--key"])
        .arg(tmp.path().join("cosign.key"))
        .env("DISTROLESS_PASSWORD", "nope")
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&bad.get_output().stderr).to_string();
    assert!(
        err.contains("password does not open") && !err.contains("nope"),
        "{err}"
    );
}
