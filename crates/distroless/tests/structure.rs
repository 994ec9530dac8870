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
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/structure");
    let mut failures = Vec::new();
    for (image, configs) in CASES {
        let archive = tmp.path().join(format!("{}.tar", image.replace(':', "_")));
        distroless(&shared_cache())
            .args([
                "build", image, "-q", "--arch", "amd64", "--format", "docker",
            ])
            .args(["--sbom", "none", "-o"])
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
        for c in *configs {
            cmd.arg("--config").arg(data.join(format!("{c}.yaml")));
        }
        let out = cmd.output().unwrap();
        if !out.status.success() {
            failures.push(format!(
                "{image}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
