//! The published images' own structure checks, run on ours: catalog images built from the
//! host's Debian mirror as docker-archives, loaded into a private Docker engine, judged by
//! container-structure-test (docker driver, so uid/gid and commands are checked too) with the
//! files in `tests/data/structure/` (see its README).
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Command;

use support::{distroless, have_tool, shared_cache};

/// Images, and the structure files each must pass.
const CASES: &[(&str, &[&str])] = &[
    ("static-debian12", &["skeleton", "debian12"]),
    ("static-debian13", &["skeleton", "debian13"]),
    ("base-debian12", &["skeleton", "libc", "debian12"]),
    ("base-debian13:nonroot", &["skeleton", "libc", "debian13"]),
    ("base-nossl-debian12", &["skeleton", "libc", "debian12"]),
    (
        "base-nossl-debian13:nonroot",
        &["skeleton", "libc", "debian13"],
    ),
    ("cc-debian13", &["skeleton", "libc", "debian13"]),
    ("static-debian12:debug", &["skeleton", "debug", "debian12"]),
    (
        "base-debian13:debug",
        &["skeleton", "libc", "debug", "debian13"],
    ),
    (
        "python3-debian12",
        &[
            "skeleton",
            "libc",
            "python3",
            "python3-debian12",
            "debian12",
        ],
    ),
    (
        "python3-debian13",
        &[
            "skeleton",
            "libc",
            "python3",
            "python3-debian13",
            "debian13",
        ],
    ),
];

#[test]
fn published_structure_checks_pass_on_our_images() {
    if !have_tool("container-structure-test") {
        return;
    }
    let Some(engine) = testkit::engine::Dockerd::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|(image, configs)| judge(&engine, tmp.path(), image, &[], configs, &[]))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The catalog's Node.js images with the official binaries (served on 127.0.0.1, see
/// `support::NodeReleases`), judged like the published nodejs22/24/26.
#[test]
fn nodejs_structure_checks_pass() {
    if !have_tool("container-structure-test") || !have_tool("npm") {
        return;
    }
    let Some(engine) = testkit::engine::Dockerd::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let configs = ["skeleton", "libc", "debian13", "nodejs"];
    let mut failures = Vec::new();
    for (name, images) in [
        ("nodejs22", &["nodejs22-debian13"][..]),
        (
            "nodejs24",
            &["nodejs24-debian13", "nodejs24-debian13:nonroot"][..],
        ),
        ("nodejs26", &["nodejs26-debian13:debug"][..]),
    ] {
        let node = support::NodeReleases::for_catalog(name);
        let vars = [("{version}", node.version.as_str())];
        failures.extend(
            images
                .iter()
                .filter_map(|i| judge(&engine, tmp.path(), i, &node.args(), &configs, &vars)),
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The catalog's Temurin images from a repository laid out like Adoptium's (Adoptium cannot
/// be reached from here): `temurin-17-jre` and `temurin-17-jdk` packages holding runtimes
/// made with `jlink` from the host's JDK, with Temurin's paths, its trust store link and the
/// X11 and sound libraries a server image leaves out; the Debian part comes from the host's
/// mirror. Judged like the published java17 and its debug variant.
#[test]
fn temurin_structure_checks_pass() {
    if !have_tool("container-structure-test") || !have_tool("jlink") {
        return;
    }
    let Some(engine) = testkit::engine::Dockerd::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let adoptium = AdoptiumLike::make(tmp.path());
    let args = adoptium.args();
    let vars = [
        ("{version}", adoptium.version.as_str()),
        ("{feature}", "17"),
    ];
    let failures: Vec<String> = [
        (
            "java17-temurin-debian13",
            &["skeleton", "debian13", "temurin"][..],
        ),
        (
            "java17-temurin-debian13:debug-nonroot",
            &["skeleton", "debian13", "temurin-debug"][..],
        ),
    ]
    .iter()
    .filter_map(|(image, configs)| judge(&engine, tmp.path(), image, &args, configs, &vars))
    .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// An apt repository like Adoptium's, signed by a test key.
struct AdoptiumLike {
    repo: testkit::Repo,
    key: testkit::SignKey,
    /// As Java names it (`17.0.21.1`).
    version: String,
}

impl AdoptiumLike {
    fn make(work: &Path) -> AdoptiumLike {
        // `java -version` of the host: `openjdk version "17.0.21.1" 2026-11-17`.
        let out = Command::new("java").arg("-version").output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr).to_string();
        let version = text.split('"').nth(1).unwrap().to_string();
        let build = text
            .split('+')
            .nth(1)
            .and_then(|b| b.split(|c: char| !c.is_ascii_digit()).next())
            .unwrap_or("1")
            .to_string();
        // Temurin's package versions: 17.0.21.1.0+2-0.
        let padded = if version.split('.').count() >= 4 {
            format!("{version}.0")
        } else {
            format!("{version}.0.0")
        };
        let deb_version = format!("{padded}+{build}-0");
        let mut repo = testkit::Repo::new();
        for (kind, modules) in [
            ("jre", "java.base"),
            ("jdk", "java.base,jdk.compiler,jdk.jcmd"),
        ] {
            let runtime = work.join(kind);
            let status = Command::new("jlink")
                .args([
                    "--add-modules",
                    modules,
                    "--no-header-files",
                    "--no-man-pages",
                ])
                .arg("--output")
                .arg(&runtime)
                .status()
                .unwrap();
            assert!(status.success());
            let home = format!("usr/lib/jvm/temurin-17-{kind}-amd64");
            let mut deb =
                testkit::DebBuilder::new(&format!("temurin-17-{kind}"), &deb_version, "amd64")
                    .field(
                        "Depends",
                        "adoptium-ca-certificates, java-common, libasound2t64, libc6, libx11-6, \
                     libxext6, libxi6, libxrender1, libxtst6, zlib1g, libfontconfig1",
                    );
            for e in walkdir::WalkDir::new(&runtime)
                .sort_by_file_name()
                .min_depth(1)
            {
                let e = e.unwrap();
                let rel = e
                    .path()
                    .strip_prefix(&runtime)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                let at = format!("{home}/{rel}");
                let meta = e.metadata().unwrap();
                if rel == "lib/security/cacerts" {
                    // As Temurin's packages: the JRE's store is a link to Adoptium's path.
                    deb = deb.entry(testkit::DebEntry::Symlink(
                        at,
                        "/etc/ssl/certs/adoptium/cacerts".into(),
                    ));
                } else if meta.is_dir() {
                    deb = deb.entry(testkit::DebEntry::Dir(at, 0o755));
                } else {
                    let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o755;
                    deb = deb.file_mode(&at, &fs_err::read(e.path()).unwrap(), mode);
                }
            }
            // A full Temurin also ships the X11 toolkit and the sound bridge (which need the
            // libraries excluded above): present here so the recipe's removals are exercised.
            for lib in [
                "libawt_xawt.so",
                "libjawt.so",
                "libsplashscreen.so",
                "libjsound.so",
            ] {
                deb = deb.file(&format!("{home}/lib/{lib}"), b"needs X11 or ALSA");
            }
            repo.add("trixie", deb);
        }
        let key = testkit::SignKey::generate("adoptium-like test repository");
        repo.publish("amd64", None, &key);
        AdoptiumLike { repo, key, version }
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--repository".into(),
            format!("adoptium={}", self.repo.file_url()),
            "--repository-key".into(),
            format!("adoptium={}", self.key.public.display()),
        ]
    }
}

/// Builds `image` (amd64, docker-archive) with `args`, loads it, and runs
/// container-structure-test with `configs` (their `{…}` placeholders filled from `vars`);
/// the failure report, if any.
fn judge(
    engine: &testkit::engine::Dockerd,
    work: &Path,
    image: &str,
    args: &[String],
    configs: &[&str],
    vars: &[(&str, &str)],
) -> Option<String> {
    let archive = work.join(format!("{}.tar", image.replace(':', "_")));
    distroless(&shared_cache())
        .args([
            "build", image, "-q", "--arch", "amd64", "--format", "docker",
        ])
        .args(["--sbom", "none"])
        .args(args)
        .arg("-o")
        .arg(&archive)
        .assert()
        .success();
    engine.run(&["load", "-i", archive.to_str().unwrap()]);
    let (name, tag) = image.split_once(':').unwrap_or((image, "latest"));
    let mut cmd = Command::new("container-structure-test");
    cmd.env(
        "DOCKER_HOST",
        format!("unix://{}", engine.socket().display()),
    )
    .args(["test", "--driver", "docker", "--image"])
    .arg(format!("distroless/{name}:{tag}"));
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/structure");
    for c in configs {
        let mut text = fs_err::read_to_string(data.join(format!("{c}.yaml"))).unwrap();
        for (k, v) in vars {
            text = text.replace(k, v);
        }
        let filled = work.join(format!("{}-{c}.yaml", image.replace(':', "_")));
        fs_err::write(&filled, text).unwrap();
        cmd.arg("--config").arg(filled);
    }
    let out = cmd.output().unwrap();
    (!out.status.success()).then(|| {
        format!(
            "{image}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}
