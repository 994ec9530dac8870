//! End-to-end tests of application recipes against the signed test repository: every recipe
//! key, every error message, the flag equivalents, docker-archive output and `distroless debug`.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::path::Path;

use predicates::str::contains;
use support::{config, files, manifests};
use testkit::DebBuilder;
use testkit::fixtures::{catalog_repo_for, catalog_repo_with};

const CERT: &str = "-----BEGIN CERTIFICATE-----\nQ09SUA==\n-----END CERTIFICATE-----\n";

fn recipe_cmd(repo_url: &str, cache: &Path, file: &Path, out: &Path) -> assert_cmd::Command {
    let mut cmd = support::trusting(cache, repo_url, &["build", "-q", "--arch", "amd64"]);
    cmd.arg("-f").arg(file).arg("-o").arg(out);
    cmd
}

/// A project directory with files to copy.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs_err::write(p.join("server"), b"#!binary").unwrap();
    fs_err::set_permissions(
        p.join("server"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    fs_err::create_dir_all(p.join("static/css")).unwrap();
    fs_err::write(p.join("static/index.html"), b"<h1>hi</h1>").unwrap();
    fs_err::write(p.join("static/css/site.css"), b"body{}").unwrap();
    fs_err::write(p.join("static/app.js.map"), b"{}").unwrap();
    std::os::unix::fs::symlink("index.html", p.join("static/home.html")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", p.join("static/outside")).unwrap();
    fs_err::write(p.join("corp.pem"), CERT).unwrap();
    dir
}

const FULL: &str = r#"
name = "shop"
from = "cc"
description = "the shop"
packages = ["libpq5"]
entrypoint = ["/srv/server"]
cmd = ["--serve"]
workdir = "/srv"
user = "shop:shop"
exposed_ports = ["8080", "9090/udp"]
volumes = ["/var/lib/shop"]
stop_signal = "SIGINT"
ca_certificates = ["corp.pem"]
tags = ["latest", "2.1"]

[env]
MODE = "prod"

[labels]
"org.example.team" = "shop"

[annotations]
"org.opencontainers.image.source" = "https://example.invalid/shop"

[healthcheck]
test = ["CMD", "/srv/server", "--health"]
interval = "30s"
timeout = "5s"
start_period = "1m"
retries = 3

[[groups]]
name = "shop"
gid = 2000

[[users]]
name = "shop"
uid = 2000
gid = 2000

[[copy]]
src = "server"
dest = "/srv/server"
owner = "shop:shop"
mode = "0750"

[[copy]]
src = "static"
dest = "/srv/www/"
exclude = ["*.map"]
"#;

fn repo_with_libpq() -> testkit::Repo {
    catalog_repo_with(|pkgs| {
        pkgs.push(
            DebBuilder::new("libpq5", "17.5-1", "amd64")
                .field("Depends", "libc6 (>= 2.34), libssl3t64")
                .file("usr/lib/x86_64-linux-gnu/libpq.so.5", b"pq"),
        );
    })
}

#[test]
fn every_recipe_key_lands_in_the_image() {
    let repo = repo_with_libpq();
    let dir = project();
    let file = dir.path().join("distroless.toml");
    fs_err::write(&file, FULL).unwrap();
    let out = dir.path().join("out");
    recipe_cmd(&repo.file_url(), &dir.path().join("cache"), &file, &out)
        .assert()
        .success();

    let tags = support::ref_names(&out);
    assert_eq!(tags, ["latest", "2.1"]);
    let (_, m) = &manifests(&out)[0];
    assert_eq!(
        m["annotations"]["org.opencontainers.image.source"],
        "https://example.invalid/shop"
    );
    assert_eq!(m["annotations"]["org.opencontainers.image.title"], "shop");
    assert_eq!(
        m["annotations"]["org.opencontainers.image.base.name"],
        "cc-debian13:latest"
    );
    // cc's four tiers, the app tier (libpq5), accounts+certificates, then one layer per copy.
    assert_eq!(m["layers"].as_array().unwrap().len(), 8);
    let c = config(&out, m)["config"].clone();
    assert_eq!(c["Entrypoint"], serde_json::json!(["/srv/server"]));
    assert_eq!(c["Cmd"], serde_json::json!(["--serve"]));
    assert_eq!(c["WorkingDir"], "/srv");
    // Numeric, as Kubernetes' runAsNonRoot needs.
    assert_eq!(c["User"], "2000:2000");
    assert!(
        c["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "MODE=prod")
    );
    assert_eq!(c["Labels"]["org.example.team"], "shop");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object() && c["ExposedPorts"]["9090/udp"].is_object());
    assert!(c["Volumes"]["/var/lib/shop"].is_object());
    assert_eq!(c["StopSignal"], "SIGINT");
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "/srv/server", "--health"])
    );
    assert_eq!(c["Healthcheck"]["Interval"], 30_000_000_000u64);
    assert_eq!(c["Healthcheck"]["StartPeriod"], 60_000_000_000u64);
    assert_eq!(c["Healthcheck"]["Retries"], 3);

    let f = files(&out, m);
    let text = |p: &str| String::from_utf8(f[p].data.clone()).unwrap();
    assert!(text("etc/passwd").contains("shop:x:2000:2000:shop:/home/shop:/sbin/nologin"));
    assert!(text("etc/passwd").contains("nonroot:x:65532"));
    assert!(text("etc/group").contains("shop:x:2000:"));
    assert_eq!((f["home/shop"].uid, f["home/shop"].mode), (2000, 0o700));
    assert!(text("etc/ssl/certs/ca-certificates.crt").ends_with(CERT));
    assert!(text("etc/ssl/certs/ca-certificates.crt").contains("AAAA"));
    assert_eq!(
        (
            f["srv/server"].uid,
            f["srv/server"].gid,
            f["srv/server"].mode
        ),
        (2000, 2000, 0o750)
    );
    assert!(f.contains_key("srv/www/index.html") && f.contains_key("srv/www/css/site.css"));
    assert!(!f.contains_key("srv/www/app.js.map"), "excluded");
    assert_eq!(f["srv/www/home.html"].link.as_deref(), Some("index.html"));
    assert_eq!(
        f["srv/www/outside"].link.as_deref(),
        Some("/etc/passwd"),
        "symlinks are kept, never followed"
    );
    assert!(f.contains_key("var/lib/dpkg/status.d/libpq5"));
    assert!(f.values().all(|e| e.mtime == 0));
}

#[test]
fn arches_key_builds_an_index() {
    let repo = catalog_repo_for(&["amd64", "arm64"], |_| {});
    let dir = project();
    let file = dir.path().join("r.toml");
    fs_err::write(&file, "from = \"static\"\narches = [\"amd64\", \"arm64\"]\nentrypoint = [\"/server\"]\n[[copy]]\nsrc = \"server\"\ndest = \"/server\"\n").unwrap();
    let out = dir.path().join("out");
    support::trusting(
        &dir.path().join("cache"),
        &repo.file_url(),
        &["build", "-q"],
    )
    .arg("-f")
    .arg(&file)
    .arg("-o")
    .arg(&out)
    .assert()
    .success();
    let arches: Vec<String> = manifests(&out).into_iter().map(|(a, _)| a).collect();
    assert_eq!(arches, ["amd64", "arm64"]);
}

fn error_case(body: &str, expected: &str) {
    let repo = repo_with_libpq();
    let dir = project();
    let file = dir.path().join("distroless.toml");
    fs_err::write(&file, body).unwrap();
    let out = dir.path().join("out");
    recipe_cmd(&repo.file_url(), &dir.path().join("cache"), &file, &out)
        .assert()
        .failure()
        .stderr(contains(format!("{}:{expected}", file.display())));
    assert!(!out.exists());
}

#[test]
fn recipe_errors_name_file_line_and_key() {
    error_case(
        "from = \"cc\"\nentrypont = [\"/x\"]\n",
        "2: entrypont: unknown key `entrypont` (did you mean `entrypoint`?)",
    );
    error_case("from = \"cc\"\nuser = 7\n", "2: user: invalid type");
    error_case(
        "from = \"cc\"\nuser = \"ghost\"\n",
        "2: user: user \"ghost\" is not in the image's /etc/passwd",
    );
    error_case(
        "from = \"cc\"\nentrypoint = [\"/nope\"]\n",
        "2: entrypoint: /nope is not in the image",
    );
    error_case(
        "from = \"cc\"\n[[copy]]\nsrc = \"missing\"\ndest = \"/x\"\n",
        "3: copy[0].src:",
    );
    error_case(
        "from = \"cc\"\n[[copy]]\nsrc = \"server\"\ndest = \"/x\"\nmode = \"rwx\"\n",
        "5: copy[0].mode: \"rwx\" is not an octal mode",
    );
    error_case(
        "from = \"cc\"\n[[copy]]\nsrc = \"server\"\ndest = \"/x\"\nowner = \"bob\"\n",
        "5: copy[0].owner: user \"bob\"",
    );
    error_case(
        "from = \"cc\"\n[[copy]]\nsrc = \"server\"\ndest = \"x\"\n",
        "4: copy[0].dest: \"x\" must be an absolute path",
    );
    error_case(
        "from = \"cc\"\n[[copy]]\nsrc = \"server\"\ndest = \"/srv/../../x\"\n",
        "4: copy[0].dest: \"/srv/../../x\" must not contain `..`",
    );
    error_case(
        "from = \"cc\"\nexposed_ports = [\"http\"]\n",
        "2: exposed_ports: \"http\" is not a port",
    );
    error_case(
        "from = \"cc\"\n[healthcheck]\ntest = [\"CMD\", \"/x\"]\ninterval = \"soon\"\n",
        "4: interval: \"soon\" is not a duration",
    );
    error_case(
        "from = \"nope\"\n",
        "1: from: image \"nope\": no catalog image named",
    );
    error_case(
        "from = \"cc\"\nca_certificates = [\"none.pem\"]\n",
        "2: ca_certificates:",
    );
    error_case(
        "from = \"cc\"\n[[users]]\nname = \"nonroot\"\nuid = 3000\n",
        "3: users[0].name: user nonroot",
    );
}

#[test]
fn programs_the_config_starts_must_be_there_and_runnable() {
    let copy = "[[copy]]\nsrc = \"static\"\ndest = \"/srv/www/\"\n";
    error_case(
        &format!("from = \"cc\"\nentrypoint = [\"/srv/www/index.html\"]\n{copy}"),
        "2: entrypoint: /srv/www/index.html is not executable (mode 0644); give its copy mode = \"0755\"",
    );
    error_case(
        "from = \"cc\"\nentrypoint = [\"/page\"]\n[[copy]]\nsrc = \"static/index.html\"\ndest = \"/page\"\nmode = \"0755\"\n",
        "2: entrypoint: /page is not a program (neither ELF nor a #! script)",
    );
    error_case(
        "from = \"cc\"\nentrypoint = [\"/etc\"]\n",
        "2: entrypoint: /etc is a directory, not a program",
    );
    error_case(
        "from = \"cc\"\ncmd = [\"/nothere\"]\n",
        "2: cmd: /nothere is not in the image",
    );
    error_case(
        "from = \"cc\"\n[[copy]]\nsrc = \"bin/{archh}/x\"\ndest = \"/x\"\n",
        "3: copy[0].src: unknown placeholder {archh} (use {arch} or {oci_arch})",
    );
    error_case(
        "from = \"cc\"\n[healthcheck]\ntest = [\"CMD-SHELL\", \"curl -f localhost\"]\n",
        "3: test: CMD-SHELL runs /bin/sh, which the image does not have",
    );
    error_case(
        "from = \"cc\"\n[healthcheck]\ntest = [\"CMD\", \"curl\", \"-f\", \"localhost\"]\n",
        "3: test: curl is not in the image",
    );
    error_case(
        "from = \"cc\"\n[healthcheck]\ntest = [\"/server\", \"--health\"]\n",
        "3: test: [\"/server\", \"--health\"] is not a health check test",
    );
    error_case(
        "from = \"cc\"\nstop_signal = \"SIGSTOPPLEASE\"\n",
        "2: stop_signal: \"SIGSTOPPLEASE\" is not a signal",
    );
    error_case(
        "from = \"cc\"\nworkdir = \"srv\"\n",
        "2: workdir: \"srv\" must be an absolute path",
    );
    error_case(
        "from = \"cc\"\nvolumes = [\"data\"]\n",
        "2: volumes: \"data\" must be an absolute path",
    );
    error_case(
        "from = \"cc\"\n[env]\n\"A=B\" = \"1\"\n",
        "2: env: \"A=B\" is not a variable name",
    );
}

#[test]
fn flags_build_the_same_image_as_the_recipe() {
    let repo = repo_with_libpq();
    let dir = project();
    let file = dir.path().join("r.toml");
    fs_err::write(
        &file,
        "name = \"svc\"\ndescription = \"a service\"\nfrom = \"cc:nonroot\"\nentrypoint = [\"/app/server\"]\nuser = \"nonroot\"\npackages = [\"libpq5\"]\nexposed_ports = [\"8080\"]\n[env]\nA = \"1\"\n[labels]\nk = \"v\"\n[healthcheck]\ntest = [\"CMD\", \"/app/server\", \"--health\"]\ninterval = \"10s\"\n[[copy]]\nsrc = \"server\"\ndest = \"/app/server\"\n",
    )
    .unwrap();
    let cache = dir.path().join("cache");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    recipe_cmd(&repo.file_url(), &cache, &file, &a)
        .assert()
        .success();
    let server = dir.path().join("server");
    let flags = [
        "build",
        "-q",
        "--arch",
        "amd64",
        "--from",
        "cc:nonroot",
        "--entrypoint",
        "/app/server",
        "--user",
        "nonroot",
        "--package",
        "libpq5",
        "--expose",
        "8080",
        "--env",
        "A=1",
        "--label",
        "k=v",
        "--name",
        "svc",
        "--description",
        "a service",
        "--healthcheck",
        "/app/server",
        "--healthcheck",
        "--health",
        "--healthcheck-interval",
        "10s",
    ];
    support::trusting(&cache, &repo.file_url(), &flags)
        .current_dir(dir.path())
        .arg("--copy")
        .arg(format!("{}:/app/server", server.display()))
        .arg("-o")
        .arg(&b)
        .assert()
        .success();
    let (ca, cb) = (
        config(&a, &manifests(&a)[0].1),
        config(&b, &manifests(&b)[0].1),
    );
    assert_eq!(ca["config"], cb["config"]);
    assert_eq!(ca["rootfs"], cb["rootfs"]);
    assert_eq!(ca["config"]["Healthcheck"]["Test"][2], "--health");
    assert_eq!(
        manifests(&a)[0].1["annotations"],
        manifests(&b)[0].1["annotations"]
    );
}

#[test]
fn docker_archive_and_debug_of_any_image() {
    let repo = repo_with_libpq();
    let dir = project();
    let file = dir.path().join("distroless.toml");
    fs_err::write(&file, "from = \"cc\"\nname = \"svc\"\nentrypoint = [\"/server\"]\n[[copy]]\nsrc = \"server\"\ndest = \"/server\"\n").unwrap();
    let cache = dir.path().join("cache");
    let archive = dir.path().join("svc.tar");
    recipe_cmd(&repo.file_url(), &cache, &file, &archive)
        .arg("--format")
        .arg("docker")
        .assert()
        .success();
    let mut tar = tar::Archive::new(fs_err::File::open(&archive).unwrap());
    let names: Vec<String> = tar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().to_string())
        .collect();
    assert!(
        names.contains(&"manifest.json".to_string()) && names.contains(&"repositories".to_string())
    );
    if support::have_tool("skopeo") {
        let out = support::run(
            std::process::Command::new("skopeo")
                .args(["inspect", &format!("docker-archive:{}", archive.display())]),
        );
        assert!(out.contains("\"Architecture\": \"amd64\""), "{out}");
    }

    // The debug variant of an OCI layout keeps every layer and adds busybox.
    let layout = dir.path().join("svc");
    recipe_cmd(&repo.file_url(), &cache, &file, &layout)
        .assert()
        .success();
    let debug = dir.path().join("svc-debug");
    support::trusting(&cache, &repo.file_url(), &["debug", "-q"])
        .arg(format!("{}:latest", layout.display()))
        .arg("-o")
        .arg(&debug)
        .assert()
        .success();
    let before = &manifests(&layout)[0].1["layers"];
    let after = &manifests(&debug)[0].1["layers"];
    let n = before.as_array().unwrap().len();
    assert_eq!(after.as_array().unwrap().len(), n + 1);
    assert_eq!(
        &after.as_array().unwrap()[..n],
        before.as_array().unwrap().as_slice()
    );
    let f = files(&debug, &manifests(&debug)[0].1);
    assert_eq!(f["busybox/sh"].link.as_deref(), Some("/busybox/busybox"));
    let c = config(&debug, &manifests(&debug)[0].1)["config"].clone();
    assert!(c["Env"][0].as_str().unwrap().ends_with(":/busybox"));
    assert_eq!(
        c["Entrypoint"],
        serde_json::json!(["/server"]),
        "an image with an entrypoint keeps it"
    );

    // And of a docker-archive.
    let debug2 = dir.path().join("svc2-debug");
    support::trusting(&cache, &repo.file_url(), &["debug", "-q"])
        .arg(&archive)
        .arg("-o")
        .arg(&debug2)
        .assert()
        .success();
    assert_eq!(
        manifests(&debug2)[0].1["layers"].as_array().unwrap().len(),
        n + 1
    );

    // A debug docker-archive, named after the image it extends (not its file); a debug image
    // is not debugged twice.
    let debug_tar = dir.path().join("svc-debug.tar");
    support::trusting(
        &cache,
        &repo.file_url(),
        &["debug", "-q", "--format", "docker"],
    )
    .arg(format!("{}:latest", layout.display()))
    .arg("-o")
    .arg(&debug_tar)
    .assert()
    .success();
    let manifest = member(&debug_tar, "manifest.json");
    assert!(
        manifest.contains("\"RepoTags\":[\"svc:debug\"]"),
        "{manifest}"
    );
    support::trusting(&cache, &repo.file_url(), &["debug", "-q"])
        .arg(&debug)
        .arg("-o")
        .arg(dir.path().join("twice"))
        .assert()
        .failure()
        .stderr(contains("already a debug image"));
    assert!(!dir.path().join("twice").exists());
}

/// A file of a tar archive, as text.
fn member(archive: &Path, name: &str) -> String {
    let mut tar = tar::Archive::new(fs_err::File::open(archive).unwrap());
    let mut e = tar
        .entries()
        .unwrap()
        .map(Result::unwrap)
        .find(|e| e.path().unwrap().to_string_lossy() == name)
        .unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut e, &mut text).unwrap();
    text
}

#[test]
fn a_rebuilt_layout_keeps_its_other_tags_unless_replaced() {
    let repo = repo_with_libpq();
    let dir = project();
    let cache = dir.path().join("cache");
    let layout = dir.path().join("img");
    let build = |image: &str, extra: &[&str]| {
        support::trusting(
            &cache,
            &repo.file_url(),
            &["build", "-q", "--arch", "amd64"],
        )
        .arg(image)
        .arg("-o")
        .arg(&layout)
        .args(extra)
        .assert()
        .success();
    };
    let tags = || support::ref_names(&layout);
    build("static", &[]);
    build("cc:nonroot", &[]);
    assert_eq!(tags(), ["nonroot", "latest"]);
    // Every image of the layout is whole (the carried one's blobs came along).
    for tag in ["latest", "nonroot"] {
        support::trusting(
            &cache,
            &repo.file_url(),
            &["debug", "-q", "--format", "docker"],
        )
        .arg(format!("{}:{tag}", layout.display()))
        .arg("-o")
        .arg(dir.path().join(format!("{tag}.tar")))
        .assert()
        .success();
    }
    build("base", &[]);
    assert_eq!(tags(), ["latest", "nonroot"], "latest is now base's");
    build("cc", &["--replace"]);
    assert_eq!(tags(), ["latest"]);
}

#[test]
fn recipes_start_from_layouts_and_archives() {
    let repo = repo_with_libpq();
    let dir = project();
    let cache = dir.path().join("cache");
    let base_recipe = dir.path().join("base.toml");
    fs_err::write(
        &base_recipe,
        "from = \"cc:nonroot\"\nname = \"base\"\n[[users]]\nname = \"svc\"\nuid = 4000\n",
    )
    .unwrap();
    let layout = dir.path().join("base");
    recipe_cmd(&repo.file_url(), &cache, &base_recipe, &layout)
        .assert()
        .success();
    let oci_archive = dir.path().join("base.tar");
    recipe_cmd(&repo.file_url(), &cache, &base_recipe, &oci_archive)
        .assert()
        .success();
    let docker_archive = dir.path().join("base-docker.tar");
    recipe_cmd(&repo.file_url(), &cache, &base_recipe, &docker_archive)
        .args(["--format", "docker"])
        .assert()
        .success();
    let base_layers = manifests(&layout)[0].1["layers"]
        .as_array()
        .unwrap()
        .clone();

    for from in ["./base", "base.tar", "base-docker.tar"] {
        let file = dir.path().join("app.toml");
        fs_err::write(
            &file,
            format!("from = \"{from}\"\nname = \"on-top\"\nuser = \"svc\"\nentrypoint = [\"/srv/server\"]\n[[copy]]\nsrc = \"server\"\ndest = \"/srv/server\"\nowner = \"svc\"\n"),
        )
        .unwrap();
        let out = dir.path().join("on-top");
        recipe_cmd(&repo.file_url(), &cache, &file, &out)
            .assert()
            .success();
        let (_, m) = &manifests(&out)[0];
        let layers = m["layers"].as_array().unwrap();
        assert_eq!(layers.len(), base_layers.len() + 1, "{from}");
        assert_eq!(
            &layers[..base_layers.len()],
            base_layers.as_slice(),
            "{from}: base layers keep their digests"
        );
        assert_eq!(m["annotations"]["org.opencontainers.image.base.name"], from);
        let c = config(&out, m);
        assert_eq!(c["config"]["User"], "4000", "the name, as its uid");
        assert_eq!(
            c["config"]["WorkingDir"], "/home/nonroot",
            "{from}: the base's settings stay"
        );
        assert_eq!(files(&out, m)["srv/server"].uid, 4000);
        fs_err::remove_dir_all(&out).unwrap();
    }
    let file = dir.path().join("bad.toml");
    fs_err::write(&file, "from = \"./base\"\nuser = \"ghost\"\n").unwrap();
    recipe_cmd(&repo.file_url(), &cache, &file, &dir.path().join("x"))
        .assert()
        .failure()
        .stderr(contains(format!(
            "{}:2: user: user \"ghost\" is not in the image's /etc/passwd",
            file.display()
        )));
    fs_err::write(&file, "from = \"./base\"\npackages = [\"libpq5\"]\n").unwrap();
    recipe_cmd(&repo.file_url(), &cache, &file, &dir.path().join("x"))
        .assert()
        .failure()
        .stderr(contains("2: packages: Debian packages need a catalog base"));
}

#[test]
fn an_application_recipe_is_locked_with_its_own_packages() {
    let repo = repo_with_libpq();
    let dir = project();
    let p = dir.path();
    let cache = p.join("cache");
    let recipe = "name = \"shop\"\nfrom = \"cc\"\npackages = [\"libpq5\"]\n[[copy]]\nsrc = \"server\"\ndest = \"/srv/server\"\n";
    fs_err::write(p.join("distroless.toml"), recipe).unwrap();
    let in_dir = |args: &[&str]| {
        let mut cmd = support::trusting(&cache, &repo.file_url(), args);
        cmd.current_dir(p);
        cmd
    };
    // `lock` and `build` read ./distroless.toml when given nothing else.
    let out = in_dir(&["lock", "--arch", "amd64"]).assert().success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.starts_with("shop on cc (Debian 13) amd64: "),
        "{stdout}"
    );
    let lock = fs_err::read_to_string(p.join("distroless.lock")).unwrap();
    assert!(lock.contains("name = \"shop on cc\""), "{lock}");
    assert!(lock.contains("requested = [\"libpq5\"]"), "{lock}");
    assert!(lock.contains("name = \"libpq5\""), "{lock}");

    in_dir(&["build", "-q", "--arch", "amd64", "--locked", "-o", "img"])
        .assert()
        .success();
    let (_, m) = &manifests(&p.join("img"))[0];
    let listing = files(&p.join("img"), m);
    assert!(
        listing.keys().any(|f| f.contains("libpq.so.5")),
        "the locked image has the recipe's packages"
    );

    // A recipe that asks for other packages than were locked is refused, not half-built.
    fs_err::write(
        p.join("distroless.toml"),
        recipe.replace("libpq5", "zlib1g"),
    )
    .unwrap();
    in_dir(&["build", "-q", "--arch", "amd64", "--locked", "-o", "img2"])
        .assert()
        .failure()
        .stderr(contains(
            "the recipe's packages (zlib1g) are not those locked for shop on cc (libpq5); run `distroless lock -f distroless.toml --arch amd64`",
        ));
    assert!(!p.join("img2").exists());
    // Flags are merged over ./distroless.toml, not instead of it.
    fs_err::write(p.join("distroless.toml"), recipe).unwrap();
    in_dir(&[
        "build", "-q", "--arch", "amd64", "--tag", "2.1", "-o", "tagged",
    ])
    .assert()
    .success();
    let (_, m) = &manifests(&p.join("tagged"))[0];
    assert_eq!(m["annotations"]["org.opencontainers.image.title"], "shop");
    // `--update` re-resolves catalog entries and says which application entries it cannot.
    let out = in_dir(&["lock", "--update"]).assert().success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("shop on cc: skipped"), "{stdout}");
}

#[test]
fn programs_of_another_machine_are_refused_and_arch_picks_each_build() {
    let repo = catalog_repo_for(&["amd64", "arm64"], |_| {});
    let dir = project();
    let p = dir.path();
    for (arch, machine) in [("amd64", 62), ("arm64", 183)] {
        fs_err::create_dir_all(p.join(format!("bin/{arch}"))).unwrap();
        let program = testkit::elf::static_program(machine);
        let path = p.join(format!("bin/{arch}/server"));
        fs_err::write(&path, program).unwrap();
        fs_err::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    fs_err::create_dir_all(p.join("lib")).unwrap();
    let mut library = testkit::elf::static_program(62);
    library[16] = 3; // ET_DYN
    library[24..32].copy_from_slice(&0u64.to_le_bytes()); // no entry point: a library
    fs_err::write(p.join("lib/ext.so"), library).unwrap();
    let build = |recipe: &str| {
        let file = p.join("r.toml");
        fs_err::write(&file, recipe).unwrap();
        support::trusting(&p.join("cache"), &repo.file_url(), &["build"])
            .arg("-f")
            .arg(&file)
            .arg("-o")
            .arg(p.join("out"))
            .assert()
    };
    let head = "from = \"static\"\narches = [\"amd64\", \"arm64\"]\nentrypoint = [\"/server\"]\n";
    build(&format!(
        "{head}[[copy]]\nsrc = \"bin/amd64/server\"\ndest = \"/server\"\n"
    ))
    .failure()
    .stderr(contains(
        "/server: x86-64 program in an arm64 image (copy: bin/amd64/server → /server)",
    ));
    assert!(!p.join("out").exists());

    // `{arch}` takes each architecture's build; a library of another machine is a warning.
    let out = build(&format!(
        "{head}[[copy]]\nsrc = \"bin/{{arch}}/server\"\ndest = \"/server\"\n[[copy]]\nsrc = \"lib\"\ndest = \"/opt/lib\"\n"
    ))
    .success();
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains("/opt/lib/ext.so: x86-64 library in an arm64 image"),
        "{stderr}"
    );
    assert!(!stderr.contains("in an amd64 image"), "{stderr}");
    // A dry run says the same, before anything is built.
    fs_err::write(
        p.join("r.toml"),
        format!("{head}[[copy]]\nsrc = \"bin/amd64/server\"\ndest = \"/server\"\n"),
    )
    .unwrap();
    support::trusting(&p.join("cache"), &repo.file_url(), &["build", "--dry-run"])
        .arg("-f")
        .arg(p.join("r.toml"))
        .assert()
        .failure()
        .stderr(contains("x86-64 program in an arm64 image"));
    for (arch, m) in manifests(&p.join("out")) {
        let server = files(&p.join("out"), &m)["server"].data.clone();
        let machine = if arch == "amd64" { 62u16 } else { 183 };
        assert_eq!(server[18..20], machine.to_le_bytes(), "{arch}");
    }
}

#[test]
fn an_unknown_package_is_located_and_a_near_name_suggested() {
    error_case(
        "from = \"cc\"\npackages = [\"libpq\"]\n",
        "2: packages: libpq is not a package of Debian 13 (amd64); did you mean libpq5?",
    );
    error_case(
        "from = \"cc\"\n\npackages = [\"libpg5\"]\n",
        "3: packages: libpg5 is not a package of Debian 13 (amd64); did you mean libpq5?",
    );
    error_case(
        "from = \"cc\"\npackages = [\"nothing-like-it\"]\n",
        "2: packages: nothing-like-it is not a package of Debian 13 (amd64)\n",
    );
}

#[test]
fn a_dry_run_checks_the_recipe_as_the_build_does() {
    let repo = repo_with_libpq();
    let dir = project();
    let file = dir.path().join("distroless.toml");
    for (body, expected) in [
        (
            "from = \"cc\"\n[[copy]]\nsrc = \"missing\"\ndest = \"/x\"\n",
            "3: copy[0].src:",
        ),
        (
            "from = \"cc\"\nuser = \"ghost\"\n",
            "2: user: user \"ghost\"",
        ),
        (
            "from = \"cc\"\npackages = [\"libpq\"]\n",
            "2: packages: libpq is not a package",
        ),
        ("from = \"cc\"\nstop_signal = \"NOPE\"\n", "2: stop_signal:"),
    ] {
        fs_err::write(&file, body).unwrap();
        recipe_cmd(
            &repo.file_url(),
            &dir.path().join("cache"),
            &file,
            &dir.path().join("o"),
        )
        .arg("--dry-run")
        .assert()
        .failure()
        .stderr(contains(format!("{}:{expected}", file.display())));
    }
}

#[test]
fn an_application_summary_and_sboms_name_it_and_list_its_files() {
    let repo = repo_with_libpq();
    let dir = project();
    let file = dir.path().join("distroless.toml");
    fs_err::write(&file, FULL).unwrap();
    let out = dir.path().join("shop");
    let done = recipe_cmd(&repo.file_url(), &dir.path().join("cache"), &file, &out)
        .arg("--json")
        .assert()
        .success();
    let summary: serde_json::Value = serde_json::from_slice(&done.get_output().stdout).unwrap();
    assert_eq!(summary["image"], "shop:latest");
    assert_eq!(summary["base"], "cc-debian13:latest");
    let server_sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"#!binary"));
    let listed = summary["manifests"][0]["files"].as_array().unwrap();
    assert!(
        listed.iter().any(|f| f["path"] == "/srv/server"
            && f["sha256"] == server_sha.as_str()
            && f["size"] == 8),
        "{summary}"
    );
    assert!(
        !listed.iter().any(|f| f["path"] == "/srv/www/app.js.map"),
        "excluded"
    );

    let spdx_path = dir.path().join("shop.spdx.json");
    let cdx_path = dir.path().join("shop.cdx.json");
    let spdx: serde_json::Value =
        serde_json::from_slice(&fs_err::read(&spdx_path).unwrap()).unwrap();
    assert_eq!(spdx["packages"][0]["name"], "shop:latest");
    let server = spdx["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["fileName"] == "./srv/server")
        .unwrap();
    assert_eq!(server["checksums"][1]["checksumValue"], server_sha.as_str());
    let cdx: serde_json::Value = serde_json::from_slice(&fs_err::read(&cdx_path).unwrap()).unwrap();
    assert_eq!(cdx["metadata"]["component"]["name"], "shop");
    assert!(
        cdx["components"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "file" && c["name"] == "/srv/server")
    );
    support::validate_sbom("spdx", &spdx_path);
    support::validate_sbom("cdx", &cdx_path);
    if support::have_tool("pyspdxtools") {
        support::run(
            std::process::Command::new("pyspdxtools")
                .arg("-i")
                .arg(&spdx_path),
        );
    }
}

#[test]
fn copies_never_turn_image_files_into_directories_or_carry_damaged_programs() {
    let repo = repo_with_libpq();
    let dir = project();
    let p = dir.path();
    let mut damaged = testkit::elf::static_program(62);
    damaged.truncate(40);
    fs_err::write(p.join("damaged"), damaged).unwrap();
    let file = p.join("distroless.toml");
    for (body, why) in [
        (
            "from = \"cc\"\n[[copy]]\nsrc = \"server\"\ndest = \"/etc/ssl/certs/ca-certificates.crt/x\"\n",
            "/etc/ssl/certs/ca-certificates.crt is a file in the image, not a directory",
        ),
        (
            "from = \"cc\"\n[[copy]]\nsrc = \"damaged\"\ndest = \"/damaged\"\n",
            "/damaged: an ELF file that cannot be read (truncated or damaged)",
        ),
    ] {
        fs_err::write(&file, body).unwrap();
        recipe_cmd(&repo.file_url(), &p.join("cache"), &file, &p.join("out"))
            .assert()
            .failure()
            .stderr(contains(why));
        assert!(!p.join("out").exists());
    }
    // `dest = "/"` copies a file to the root.
    fs_err::write(
        &file,
        "from = \"cc\"\n[[copy]]\nsrc = \"server\"\ndest = \"/\"\n",
    )
    .unwrap();
    recipe_cmd(&repo.file_url(), &p.join("cache"), &file, &p.join("out"))
        .assert()
        .success();
    let (_, m) = &manifests(&p.join("out"))[0];
    assert!(files(&p.join("out"), m).contains_key("server"));
}
