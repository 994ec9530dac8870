//! Live tests of the language images (python3, java17/java21, nodejs) on Debian 12 and 13:
//! each variant is built from the host mirror and its runtime is run under runc.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::path::Path;
use std::process::Command;

use support::{
    build, config, distroless, have_tool, manifests, run, run_with_files, shared_cache, tools,
};

/// Modules Debian ships that cannot import in a distroless python3 image, and why.
const PYTHON_EXPECTED_FAILURES: &[(&str, &str)] = &[
    ("turtle", "needs tkinter, which Debian ships in python3-tk"),
    (
        "_distutils_system_mod",
        "Debian's shim for distutils, shipped in python3-distutils / setuptools",
    ),
    ("_ios_support", "iOS only"),
];

fn entrypoint(layout: &Path) -> serde_json::Value {
    let (_, m) = &manifests(layout)[0];
    config(layout, m)["config"]["Entrypoint"].clone()
}

fn python(debian: u32) {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let probe = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/stdlib_probe.py");
    let latest = tmp.path().join("latest");
    build(&format!("python3-debian{debian}"), "amd64", &latest);
    assert_eq!(entrypoint(&latest), serde_json::json!(["/usr/bin/python3"]));
    let out = run_with_files(
        &latest,
        "latest",
        &[(&probe, "probe.py")],
        &["/usr/bin/python3", "/probe.py"],
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(v["modules"].as_u64().unwrap() > 200, "{v}");
    for (name, why) in v["failed"].as_object().unwrap() {
        assert!(
            PYTHON_EXPECTED_FAILURES.iter().any(|(n, _)| n == name),
            "stdlib module {name} does not import: {why}"
        );
    }
    assert_eq!(
        v["libc"], "libc.so.6",
        "ctypes.util.find_library must find libc through ld.so.cache"
    );
    assert_eq!(v["shell"], "FileNotFoundError", "there must be no shell");
    assert!(v["ca_certs"].as_u64().unwrap() > 100, "{v}");
    assert_eq!(v["encoding"], "utf-8");
    let via_link = run_with_files(
        &latest,
        "latest",
        &[],
        &["/usr/bin/python", "-c", "print('link ok')"],
    );
    assert_eq!(via_link.trim(), "link ok");

    let nonroot = tmp.path().join("nonroot");
    build(
        &format!("python3-debian{debian}:nonroot"),
        "amd64",
        &nonroot,
    );
    let uid = run_with_files(
        &nonroot,
        "nonroot",
        &[],
        &[
            "/usr/bin/python3",
            "-c",
            "import os; print(os.getuid(), os.getcwd())",
        ],
    );
    assert_eq!(uid.trim(), "65532 /home/nonroot");

    let debug = tmp.path().join("debug");
    build(&format!("python3-debian{debian}:debug"), "amd64", &debug);
    assert_eq!(entrypoint(&debug), serde_json::json!(["/usr/bin/python3"]));
    let out = run_with_files(
        &debug,
        "debug",
        &[],
        &["/busybox/sh", "-c", "python3 -c 'print(6*7)'"],
    );
    assert_eq!(out.trim(), "42");
}

#[test]
fn python3_debian12() {
    python(12);
}

#[test]
fn python3_debian13() {
    python(13);
}

const JAVA_PROBE: &str = r#"
import java.nio.charset.Charset;
import java.security.KeyStore;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

public class Probe {
    public static void main(String[] args) throws Exception {
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init((KeyStore) null);
        X509TrustManager tm = (X509TrustManager) tmf.getTrustManagers()[0];
        System.out.println(tm.getAcceptedIssuers().length + " " + Charset.defaultCharset() + " " + System.getProperty("user.name"));
        // Text laid out and drawn headless: fontconfig finds fonts, harfbuzz shapes them.
        java.awt.image.BufferedImage img = new java.awt.image.BufferedImage(200, 40, java.awt.image.BufferedImage.TYPE_INT_RGB);
        java.awt.Graphics2D g = img.createGraphics();
        g.setFont(new java.awt.Font(java.awt.Font.SANS_SERIF, java.awt.Font.PLAIN, 16));
        g.drawString("distroless \u00e9\u00df", 5, 25);
        int fonts = java.awt.GraphicsEnvironment.getLocalGraphicsEnvironment().getAvailableFontFamilyNames().length;
        System.out.println("fonts=" + fonts);
    }
}
"#;

fn package_version(image: &str, package: &str) -> String {
    let out = distroless(&shared_cache())
        .args(["build", image, "--dry-run", "--json", "--arch", "amd64"])
        .assert()
        .success();
    let plans: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    plans[0]["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["packages"].as_array().unwrap().iter())
        .find(|p| p["name"] == package)
        .map(|p| p["version"].as_str().unwrap().to_string())
        .unwrap()
}

fn java(name: &str, debian: u32, feature: u32) {
    if !tools() || !have_tool("javac") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("Probe.java");
    fs_err::write(&src, JAVA_PROBE).unwrap();
    run(Command::new("javac")
        .args(["--release", "17", "-d"])
        .arg(tmp.path())
        .arg(&src));
    let class = tmp.path().join("Probe.class");
    let image = format!("{name}-debian{debian}");
    let latest = tmp.path().join("latest");
    build(&image, "amd64", &latest);
    assert_eq!(
        entrypoint(&latest),
        serde_json::json!(["/usr/bin/java", "-jar"])
    );
    let packaged = package_version(&image, &format!("openjdk-{feature}-jre-headless"));
    let out = run_with_files(
        &latest,
        "latest",
        &[(&class, "Probe.class")],
        &["/usr/bin/java", "-cp", "/", "Probe"],
    );
    let parts: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert!(parts[0].parse::<u32>().unwrap() > 100, "trust store: {out}");
    let fonts: u32 = out
        .lines()
        .find_map(|l| l.strip_prefix("fonts="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    assert!(fonts > 0, "text renders with fonts: {out}");
    // The runtime's version is exported and annotated, as in the published images.
    let upstream_full = packaged
        .split_once(':')
        .map_or(packaged.as_str(), |(_, v)| v);
    let upstream_full = java_named(upstream_full);
    let env = config(&latest, &manifests(&latest)[0].1)["config"]["Env"].clone();
    assert!(
        env.as_array()
            .unwrap()
            .iter()
            .any(|e| e == format!("JAVA_VERSION={upstream_full}").as_str()),
        "{env}"
    );
    assert_eq!(
        manifests(&latest)[0].1["annotations"]["dev.distroless.java.version"],
        upstream_full
    );
    assert_eq!(parts[1], "UTF-8");
    assert_eq!(parts[2], "root");
    // `java -version` reports the packaged upstream version.
    let version_line = java_version_line(&latest);
    let upstream = packaged.split(['+', '-']).next().unwrap();
    assert!(
        version_line.contains(&format!("\"{upstream}")),
        "{version_line} vs package {packaged}"
    );

    let nonroot = tmp.path().join("nonroot");
    build(&format!("{image}:nonroot"), "amd64", &nonroot);
    let out = run_with_files(
        &nonroot,
        "nonroot",
        &[(&class, "Probe.class")],
        &["/usr/bin/java", "-cp", "/", "Probe"],
    );
    assert!(
        out.lines()
            .next()
            .unwrap()
            .trim()
            .ends_with("UTF-8 nonroot"),
        "{out}"
    );

    let debug = tmp.path().join("debug");
    build(&format!("{image}:debug"), "amd64", &debug);
    let out = run_with_files(
        &debug,
        "debug",
        &[(&class, "Probe.class")],
        &["/busybox/sh", "-c", "java -cp / Probe"],
    );
    assert!(out.contains("UTF-8"), "{out}");
    // The debug variant carries the JDK's tools, as the published images; the others do not.
    let bin = format!("/usr/lib/jvm/java-{feature}-openjdk-amd64/bin");
    let out = run_with_files(
        &debug,
        "debug",
        &[],
        &[
            "/busybox/sh",
            "-c",
            &format!("{bin}/javac -version 2>&1; ls {bin}"),
        ],
    );
    assert!(out.contains(&format!("javac {feature}")), "{out}");
    assert!(out.contains("jcmd") && out.contains("jstack"), "{out}");
    let f = support::files(&latest, &manifests(&latest)[0].1);
    assert!(!f.contains_key(&format!("{}/javac", bin.trim_start_matches('/'))));
}

/// A JDK version as Java names it: no build number, a fourth component only when not zero.
fn java_named(upstream: &str) -> String {
    let numbers: Vec<&str> = upstream
        .split(['+', '-'])
        .next()
        .unwrap()
        .split('.')
        .collect();
    match numbers.as_slice() {
        [a, b, c, d, ..] if *d != "0" => format!("{a}.{b}.{c}.{d}"),
        [a, b, c, ..] => format!("{a}.{b}.{c}"),
        _ => numbers.join("."),
    }
}

/// The runtime version the JVM reports (what `java -version` prints, read on stdout).
fn java_version_line(layout: &Path) -> String {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("Nop.java");
    fs_err::write(&src, "public class Nop { public static void main(String[] a) { System.out.println(System.getProperty(\"java.runtime.version\")); } }").unwrap();
    run(Command::new("javac")
        .args(["--release", "17", "-d"])
        .arg(work.path())
        .arg(&src));
    let out = run_with_files(
        layout,
        "latest",
        &[(&work.path().join("Nop.class"), "Nop.class")],
        &["/usr/bin/java", "-cp", "/", "Nop"],
    );
    format!("\"{}", out.trim())
}

#[test]
fn java17_debian12() {
    java("java17", 12, 17);
}

#[test]
fn java21_debian13() {
    java("java21", 13, 21);
}

const NODE_PROBE: &str = r#"
const crypto = require("crypto");
const out = {
  versions: process.versions,
  sha256: crypto.createHash("sha256").update("distroless").digest("hex"),
  random: crypto.randomBytes(8).length,
  number: new Intl.NumberFormat("de-DE").format(1234567.5),
  month: new Intl.DateTimeFormat("fr", { month: "long", timeZone: "UTC" }).format(new Date(0)),
  uid: process.getuid(),
};
console.log(JSON.stringify(out));
"#;

fn nodejs(debian: u32) {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let latest = tmp.path().join("latest");
    let image = format!("nodejs-debian{debian}");
    build(&image, "amd64", &latest);
    assert_eq!(entrypoint(&latest), serde_json::json!(["/usr/bin/node"]));
    let (_, m) = &manifests(&latest)[0];
    let files = support::files(&latest, m);
    assert!(!files.contains_key("usr/bin/npm") && !files.contains_key("usr/bin/corepack"));
    let check = |layout: &Path, tag: &str, uid: u64| {
        let out = run_with_files(layout, tag, &[], &["/usr/bin/node", "-e", NODE_PROBE]);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert!(
            v["versions"]["node"].is_string() && v["versions"]["icu"].is_string(),
            "{v}"
        );
        assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
        assert_eq!(v["random"], 8);
        assert_eq!(v["number"], "1.234.567,5", "Intl needs full ICU data");
        assert_eq!(v["month"], "janvier");
        assert_eq!(v["uid"], uid);
    };
    check(&latest, "latest", 0);
    let nonroot = tmp.path().join("nonroot");
    build(&format!("{image}:nonroot"), "amd64", &nonroot);
    check(&nonroot, "nonroot", 65532);
    let debug = tmp.path().join("debug");
    build(&format!("{image}:debug"), "amd64", &debug);
    let out = run_with_files(
        &debug,
        "debug",
        &[],
        &["/busybox/sh", "-c", "node -e 'console.log(6*7)'"],
    );
    assert_eq!(out.trim(), "42");
}

#[test]
fn nodejs_debian12() {
    nodejs(12);
}

#[test]
fn nodejs_debian13() {
    nodejs(13);
}

/// Our `ld.so.cache` lists the same entries, in the same order, as the host's `ldconfig`
/// writes for the same tree. (The bytes differ only in string-table layout and ldconfig's
/// "generator" extension record, neither of which ld.so reads for lookups.)
#[test]
fn ld_so_cache_matches_ldconfig() {
    if !tools() || !have_tool("ldconfig") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("py");
    build("python3", "amd64", &layout);
    let bundle = tmp.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image", &format!("{}:latest", layout.display())])
        .arg(&bundle));
    let rootfs = bundle.join("rootfs");
    run(Command::new("ldconfig").arg("-r").arg(&rootfs).args([
        "-C",
        "/host-ld.so.cache",
        "-f",
        "/etc/ld.so.conf",
    ]));
    let ours =
        distroless::rootfs::ldcache::parse(&fs_err::read(rootfs.join("etc/ld.so.cache")).unwrap())
            .unwrap();
    let theirs =
        distroless::rootfs::ldcache::parse(&fs_err::read(rootfs.join("host-ld.so.cache")).unwrap())
            .unwrap();
    assert!(ours.len() > 30, "{}", ours.len());
    assert_eq!(ours, theirs);
}

/// The SBOMs validate against the published schemas, and syft finds exactly the packages
/// (names and versions) our SBOM lists.
#[test]
fn sboms_match_syft() {
    if !tools() || !have_tool("syft") || !have_tool("pyspdxtools") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("py");
    build("python3-debian12:debug", "amd64", &layout);
    let spdx_path = tmp.path().join("py.spdx.json");
    let cdx_path = tmp.path().join("py.cdx.json");
    support::validate_sbom("spdx", &spdx_path);
    support::validate_sbom("cdx", &cdx_path);
    run(Command::new("pyspdxtools").arg("-i").arg(&spdx_path));
    let cdx: serde_json::Value = serde_json::from_slice(&fs_err::read(&cdx_path).unwrap()).unwrap();
    let mut ours: Vec<(String, String)> = cdx["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    ours.sort();
    let theirs = support::syft_packages(&layout);
    assert_eq!(ours, theirs);
}

/// The catalog's `nodejs24`: the official Node.js binary (fetched from the npm registry,
/// where Node.js publishes it) served on 127.0.0.1 as a release directory with a checksum file
/// signed by a test key, named by `--archive-mirror`/`--archive-key`, unpacked at the
/// published image's path onto cc, and run: crypto, ICU, and an HTTP round trip over loopback.
#[test]
fn nodejs24_from_the_official_release_archive() {
    if !tools() || !have_tool("npm") {
        return;
    }
    let node = support::NodeReleases::for_catalog("nodejs24");
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    distroless(&shared_cache())
        .args(["build", "nodejs24", "-q", "--arch", "amd64"])
        .args(node.args())
        .arg("-o")
        .arg(&out)
        .assert()
        .success();
    let probe = "const c = require('crypto'); const http = require('http'); \
                 const s = http.createServer((q, r) => r.end('ok')).listen(0, '127.0.0.1', () => \
                 http.get({port: s.address().port, host: '127.0.0.1'}, r => { let b = ''; \
                 r.on('data', d => b += d); r.on('end', () => { console.log(process.version, \
                 c.createHash('sha256').update('distroless').digest('hex').length, \
                 new Intl.NumberFormat('de-DE').format(1234.5), b); s.close(); }); }));";
    let printed = run_with_files(&out, "latest", &[], &["/nodejs/bin/node", "-e", probe]);
    assert!(
        printed.starts_with(&format!("v{} 64 1.234,5 ok", node.version)),
        "{printed}"
    );
    let m = &manifests(&out)[0].1;
    assert_eq!(
        m["annotations"]["dev.distroless.nodejs.version"],
        node.version
    );
    assert_eq!(
        m["annotations"]["dev.distroless.nodejs.source"],
        "archive:node"
    );
    assert_eq!(
        config(&out, m)["config"]["Entrypoint"],
        serde_json::json!(["/nodejs/bin/node"])
    );
    // Only the binary and its licence, as the published image.
    let f = support::files(&out, m);
    let ours: Vec<&String> = f.keys().filter(|k| k.starts_with("nodejs/")).collect();
    assert_eq!(ours, ["nodejs/LICENSE", "nodejs/bin", "nodejs/bin/node"]);
    assert!(
        f.contains_key("nodejs"),
        "the layer has its parent directory"
    );
    // Locked, it builds again from the lock alone (no flags: the locked URL and digest).
    let lockfile = tmp.path().join("distroless.lock");
    distroless(&shared_cache())
        .args(["lock", "nodejs24", "-q", "--arch", "amd64", "--lockfile"])
        .arg(&lockfile)
        .args(node.args())
        .assert()
        .success();
    let locked = tmp.path().join("locked");
    distroless(&shared_cache())
        .args([
            "build",
            "nodejs24",
            "-q",
            "--arch",
            "amd64",
            "--locked",
            "--lockfile",
        ])
        .arg(&lockfile)
        .arg("-o")
        .arg(&locked)
        .assert()
        .success();
    assert_eq!(
        manifests(&locked)[0].0,
        manifests(&out)[0].0,
        "the same image"
    );
    // The SBOM names it with its purl.
    let spdx = fs_err::read_to_string(tmp.path().join("out.spdx.json")).unwrap();
    assert!(
        spdx.contains(&format!("pkg:generic/node@{}", node.version)),
        "{spdx}"
    );
}

#[test]
fn java25_debian13() {
    java("java25", 13, 25);
}

/// java-base carries what a JRE links but no JVM: a runtime made with jlink on the host runs
/// on it (its closure checked at build time like any copied program).
#[test]
fn a_jlinked_runtime_runs_on_java_base() {
    if !tools() || !have_tool("jlink") || !have_tool("javac") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("app");
    fs_err::create_dir_all(&project).unwrap();
    run(Command::new("jlink")
        .args([
            "--add-modules",
            "java.base",
            "--no-header-files",
            "--no-man-pages",
        ])
        .arg("--output")
        .arg(project.join("runtime")));
    // java.base only: the trust store and the default charset.
    let src = tmp.path().join("Probe.java");
    let probe = JAVA_PROBE
        .split("        // Text laid out")
        .next()
        .unwrap()
        .to_string()
        + "    }\n}\n";
    fs_err::write(&src, probe).unwrap();
    run(Command::new("javac")
        .args(["--release", "17", "-d"])
        .arg(&project)
        .arg(&src));
    fs_err::write(
        project.join("distroless.toml"),
        "name = \"jl\"\nfrom = \"java-base-debian13\"\nentrypoint = [\"/opt/java/bin/java\"]\n\
         [[copy]]\nsrc = \"runtime\"\ndest = \"/opt/java\"\n\
         [[copy]]\nsrc = \"Probe.class\"\ndest = \"/app/Probe.class\"\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    distroless(&shared_cache())
        .current_dir(&project)
        .args(["build", "-q", "--arch", "amd64", "-o"])
        .arg(&out)
        .assert()
        .success();
    let f = support::files(&out, &manifests(&out)[0].1);
    assert!(
        !f.keys().any(|k| k.starts_with("usr/lib/jvm")),
        "no JVM of its own"
    );
    assert!(f.contains_key("etc/ssl/certs/java/cacerts"));
    let printed = run_with_files(
        &out,
        "latest",
        &[],
        &["/opt/java/bin/java", "-cp", "/app", "Probe"],
    );
    let first: Vec<&str> = printed.lines().next().unwrap().split_whitespace().collect();
    assert!(
        first[0].parse::<u32>().unwrap() > 100,
        "trust store: {printed}"
    );
    assert_eq!(first[1], "UTF-8", "{printed}");
}

#[test]
fn an_extension_module_for_another_python_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let module = "_speedups.cpython-311-x86_64-linux-gnu.so";
    fs_err::write(dir.join(module), testkit::elf::static_program(62)).unwrap();
    let copy = format!("{module}:/app/markupsafe/{module}");
    let a = support::distroless(&support::shared_cache())
        .current_dir(dir)
        .args([
            "build",
            "-q",
            "--arch",
            "amd64",
            "--from",
            "python3-debian13",
            "--copy",
            &copy,
            "-o",
            "out",
        ])
        .assert()
        .failure();
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        err.contains("a CPython extension for Python 3.11, in an image of Python 3.13"),
        "{err}"
    );
    assert!(!dir.join("out").exists());
}
