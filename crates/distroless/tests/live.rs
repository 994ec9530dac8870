//! Live tests against the host's real Debian mirror (from its apt sources): each catalog image
//! is built, inspected with skopeo, unpacked with umoci, run with runc and scanned with syft.
//! They need network access to the mirror and the tools; in CI (`CI` set) a missing tool fails.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::path::Path;
use std::process::Command;

use support::{
    build, compile, config, distroless, have_tool, manifests, run, run_in_image, shared_cache,
    skopeo_inspect, tools,
};

const C_STATIC: &str = r#"#include <stdio.h>
#include <string.h>
int main(void) {
    FILE *f = fopen("/etc/ssl/certs/ca-certificates.crt", "r");
    if (!f) { perror("bundle"); return 1; }
    char line[4096]; int n = 0;
    while (fgets(line, sizeof line, f)) if (strstr(line, "BEGIN CERTIFICATE")) n++;
    printf("static ok, %d certificates\n", n);
    return n > 100 ? 0 : 2;
}
"#;

const C_DYNAMIC: &str = r#"#include <stdio.h>
#include <unistd.h>
int main(void) { printf("base ok uid=%d\n", (int)getuid()); return 0; }
"#;

const CXX: &str = r#"#include <iostream>
#include <string>
#include <vector>
int main() { std::vector<std::string> v{"cc", "ok"}; std::cout << v[0] << " " << v[1] << std::endl; }
"#;

fn syft_matches_status_d(layout: &Path) {
    if !have_tool("syft") {
        return;
    }
    let found = support::syft_packages(layout);
    let (_, m) = &manifests(layout)[0];
    let files = support::files(layout, m);
    let mut ours: Vec<(String, String)> = files
        .iter()
        .filter(|(p, _)| p.starts_with("var/lib/dpkg/status.d/") && !p.ends_with(".md5sums"))
        .map(|(p, f)| {
            let text = String::from_utf8_lossy(&f.data).to_string();
            let version = text
                .lines()
                .find_map(|l| l.strip_prefix("Version: "))
                .unwrap()
                .to_string();
            (p.rsplit('/').next().unwrap().to_string(), version)
        })
        .collect();
    ours.sort();
    assert_eq!(found, ours, "syft must report every installed package");
}

fn family(debian: u32) {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let static_bin = compile(d, "prog-static", C_STATIC, false, &["-static"]);
    let dyn_bin = compile(d, "prog-dynamic", C_DYNAMIC, false, &[]);
    let cxx_bin = compile(d, "prog-cxx", CXX, true, &[]);

    let st = d.join("static");
    build(&format!("static-debian{debian}"), "amd64", &st);
    assert_eq!(skopeo_inspect(&st, "latest")["Architecture"], "amd64");
    let out = run_in_image(&st, "latest", Some(&static_bin), &["/test"]);
    assert!(out.starts_with("static ok"), "{out}");
    syft_matches_status_d(&st);

    let base = d.join("base");
    build(&format!("base-debian{debian}"), "amd64", &base);
    let out = run_in_image(&base, "latest", Some(&dyn_bin), &["/test"]);
    assert_eq!(out.trim(), "base ok uid=0");
    syft_matches_status_d(&base);

    let cc = d.join("cc");
    build(&format!("cc-debian{debian}"), "amd64", &cc);
    let out = run_in_image(&cc, "latest", Some(&cxx_bin), &["/test"]);
    assert_eq!(out.trim(), "cc ok");
    syft_matches_status_d(&cc);
    // Parent layers are reused byte for byte.
    let (sl, cl) = (
        &manifests(&st)[0].1["layers"],
        &manifests(&cc)[0].1["layers"],
    );
    assert_eq!(sl[0]["digest"], cl[0]["digest"]);

    let nonroot = d.join("cc-nonroot");
    build(&format!("cc-debian{debian}:nonroot"), "amd64", &nonroot);
    let (_, m) = &manifests(&nonroot)[0];
    assert_eq!(config(&nonroot, m)["config"]["User"], "65532");
    let out = run_in_image(&nonroot, "nonroot", Some(&dyn_bin), &["/test"]);
    assert_eq!(out.trim(), "base ok uid=65532");
}

#[test]
fn debian12_family_runs() {
    family(12);
}

#[test]
fn debian13_family_runs() {
    family(13);
}

#[test]
fn static_debug_runs_busybox_shell() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("static-debug");
    build("static:debug", "amd64", &out);
    let text = run_in_image(
        &out,
        "debug",
        None,
        &[
            "/busybox/sh",
            "-c",
            "echo ok; ls /bin/sh 2>/dev/null || echo no-bin-sh",
        ],
    );
    assert_eq!(text.trim(), "ok\nno-bin-sh");
}

#[test]
fn static_arm64_and_multi_arch_index() {
    if !have_tool("skopeo") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("static-arm64");
    build("static", "arm64", &out);
    let v = skopeo_inspect(&out, "latest");
    assert_eq!(v["Architecture"], "arm64");
    let ms = manifests(&out);
    assert_eq!(ms[0].0, "arm64");

    let multi = tmp.path().join("multi");
    distroless(&shared_cache())
        .args([
            "build", "static", "-q", "--arch", "amd64", "--arch", "arm64", "-o",
        ])
        .arg(&multi)
        .assert()
        .success();
    let ms = manifests(&multi);
    let arches: Vec<&str> = ms.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(arches, ["amd64", "arm64"]);
    let text = run(Command::new("skopeo").args([
        "--override-arch",
        "arm64",
        "inspect",
        &format!("oci:{}:latest", multi.display()),
    ]));
    assert!(text.contains("\"Architecture\": \"arm64\""), "{text}");
    let index: serde_json::Value =
        serde_json::from_slice(&fs_err::read(multi.join("index.json")).unwrap()).unwrap();
    let inner = support::blob(&multi, index["manifests"][0]["digest"].as_str().unwrap());
    let inner: serde_json::Value = serde_json::from_slice(&fs_err::read(inner).unwrap()).unwrap();
    assert_eq!(inner["manifests"][1]["platform"]["variant"], "v8");
}

#[test]
fn live_builds_are_reproducible_and_static_is_small() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    build("static", "amd64", &a);
    // A second build with an empty cache, so nothing is reused.
    distroless(&tmp.path().join("fresh-cache"))
        .args(["build", "static", "-q", "--arch", "amd64", "-o"])
        .arg(&b)
        .assert()
        .success();
    assert_eq!(
        fs_err::read(a.join("index.json")).unwrap(),
        fs_err::read(b.join("index.json")).unwrap()
    );
    let (_, m) = &manifests(&a)[0];
    let size: u64 = m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["size"].as_u64().unwrap())
        .sum();
    assert!(size < 2 * 1024 * 1024, "static is {size} bytes compressed");
}

/// The resolved package sets of the catalog equal the lists in DESIGN.md.
#[test]
fn catalog_sets_match_distroless() {
    let expect = |debian: u32| -> Vec<(&'static str, Vec<&'static str>)> {
        let (tz, ssl, gcc_base): (&[&str], &[&str], &str) = if debian == 12 {
            (&["tzdata"], &["libssl3"], "gcc-12-base")
        } else {
            (
                &["tzdata", "tzdata-legacy"],
                &["libssl3t64", "libzstd1", "zlib1g"],
                "gcc-14-base",
            )
        };
        let mut st = vec!["base-files", "media-types", "netbase"];
        st.extend(tz);
        st.sort_unstable();
        vec![
            ("static", st),
            ("base-nossl", vec!["libc6"]),
            ("base", ssl.to_vec()),
            ("cc", vec![gcc_base, "libgcc-s1", "libgomp1", "libstdc++6"]),
        ]
    };
    for debian in [12, 13] {
        let out = distroless(&shared_cache())
            .args([
                "build",
                &format!("cc-debian{debian}"),
                "--dry-run",
                "--json",
                "--arch",
                "amd64",
            ])
            .assert()
            .success();
        let plans: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
        let tiers = plans[0]["tiers"].as_array().unwrap();
        let got: Vec<(String, Vec<String>)> = tiers
            .iter()
            .map(|t| {
                let names = t["packages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["name"].as_str().unwrap().to_string());
                (t["name"].as_str().unwrap().to_string(), names.collect())
            })
            .collect();
        let want: Vec<(String, Vec<String>)> = expect(debian)
            .into_iter()
            .map(|(t, p)| (t.to_string(), p.into_iter().map(str::to_string).collect()))
            .collect();
        assert_eq!(got, want, "Debian {debian}");
        let broken: Vec<String> = tiers
            .iter()
            .flat_map(|t| t["broken"].as_array().unwrap().iter())
            .map(|b| {
                format!(
                    "{} → {}",
                    b["package"].as_str().unwrap(),
                    b["dependency"].as_str().unwrap()
                )
            })
            .collect();
        assert!(
            broken.iter().any(|b| b == "libc6 → libgcc-s1"),
            "{broken:?}"
        );
        assert!(
            broken.iter().any(|b| b.starts_with("tzdata → debconf")),
            "{broken:?}"
        );
    }
}

#[test]
fn the_catalog_passes_the_default_audit_and_diffs_across_releases() {
    let tmp = tempfile::tempdir().unwrap();
    let mut images: Vec<String> = Vec::new();
    for name in [
        "static",
        "base-nossl",
        "base",
        "cc",
        "python3",
        "nodejs",
        "java21",
    ] {
        for tag in ["latest", "nonroot", "debug-nonroot"] {
            images.push(format!("{name}-debian13:{tag}"));
        }
    }
    for name in ["static", "base", "cc", "python3", "java17"] {
        images.push(format!("{name}-debian12:latest"));
    }
    for image in &images {
        let out = tmp.path().join(image.replace(':', "-"));
        support::build(image, "amd64", &out);
        let mut audit = support::distroless(&support::shared_cache());
        audit.arg("audit").arg(&out);
        if image.contains("debug") {
            audit.arg("--allow-busybox");
        }
        let a = audit.assert();
        let text = String::from_utf8_lossy(&a.get_output().stdout).to_string();
        assert!(a.get_output().status.success(), "{image}: {text}");
    }
    // Debian 12's bundle carries roots past their date: said once, with a count, and accepted
    // by a policy that says so.
    let static12 = tmp.path().join("static-debian12-latest");
    let a = support::distroless(&support::shared_cache())
        .args(["audit", "--format", "json"])
        .arg(&static12)
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let expired: Vec<&serde_json::Value> = (doc["findings"].as_array().unwrap().iter())
        .filter(|f| f["finding"]["rule"] == "ca-bundle")
        .collect();
    assert!(
        expired.len() <= 1,
        "one finding for every expired root: {expired:?}"
    );
    let policy = tmp.path().join("accept.toml");
    fs_err::write(&policy, "accept_expired_certificates = true\n").unwrap();
    let a = support::distroless(&support::shared_cache())
        .args(["audit", "--format", "json", "--policy"])
        .arg(&policy)
        .arg(&static12)
        .assert()
        .success();
    assert!(!String::from_utf8_lossy(&a.get_output().stdout).contains("ca-bundle"));
    // What Debian 13 changed in cc: libc6 upgraded, libssl3 → libssl3t64, gcc-12-base →
    // gcc-14-base.
    let d = support::distroless(&support::shared_cache())
        .args(["diff", "--json"])
        .arg(tmp.path().join("cc-debian12-latest"))
        .arg(tmp.path().join("cc-debian13-latest"))
        .assert()
        .code(1);
    let d: serde_json::Value = serde_json::from_slice(&d.get_output().stdout).unwrap();
    let text = d.to_string();
    for expected in ["\"libc6\"", "libssl3t64", "gcc-14-base", "gcc-12-base"] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
}

#[test]
fn a_debian_rootfs_breaks_the_rules_distroless_keeps() {
    if !support::have_tool("mmdebstrap") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = tmp.path().join("rootfs.tar");
    // From the host's apt sources, as the benchmarks' peer does.
    support::run(
        Command::new("mmdebstrap")
            .args([
                "--quiet",
                "--variant=extract",
                "--include=bash,dpkg,coreutils,login,passwd",
                "bookworm",
            ])
            .arg(&rootfs),
    );
    let layout = tmp.path().join("debian");
    testkit::image::Layout::with_layer(&layout, &fs_err::read(&rootfs).unwrap(), |_| {});
    let a = support::distroless(&support::shared_cache())
        .args(["audit", "--format", "json"])
        .arg(&layout)
        .assert()
        .code(1);
    let doc: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let rules: std::collections::BTreeSet<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["finding"]["rule"].as_str().unwrap())
        .collect();
    for rule in [
        "no-shell",
        "no-package-manager",
        "no-setuid",
        "non-root-user",
        "ca-bundle",
    ] {
        assert!(rules.contains(rule), "{rule}: {rules:?}");
    }
}
