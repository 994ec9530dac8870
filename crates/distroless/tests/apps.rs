//! Live application images: the README's Dockerfile examples as recipes, `from = "auto"`,
//! and docker-archive loading into podman. Programs are built by the tests with the host's
//! toolchains and run under runc.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{copy_tree, distroless, have_tool, manifests, run, run_image, shared_cache, tools};

fn example(name: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    let dir = tmp.path().join(name);
    copy_tree(&src, &dir);
    (tmp, dir)
}

fn build_recipe(dir: &Path, out: &Path, extra: &[&str]) -> String {
    let assert = distroless(&shared_cache())
        .current_dir(dir)
        .args(["build", "--arch", "amd64", "-f", "distroless.toml", "-o"])
        .arg(out)
        .args(extra)
        .assert()
        .success();
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

#[test]
fn static_program_example() {
    if !tools() {
        return;
    }
    let (_tmp, dir) = example("static-go");
    support::compile(
        &dir,
        "hello",
        "#include <stdio.h>\nint main(void){puts(\"hello from static\");return 0;}\n",
        false,
        &["-static"],
    );
    let out = dir.join("image");
    build_recipe(&dir, &out, &[]);
    assert_eq!(run_image(&out, "latest").trim(), "hello from static");
}

#[test]
fn cpp_example() {
    if !tools() {
        return;
    }
    let (_tmp, dir) = example("cpp");
    support::compile(
        &dir,
        "server",
        "#include <iostream>\n#include <unistd.h>\nint main(){ std::cout << \"server ok uid=\" << getuid() << std::endl; }\n",
        true,
        &[],
    );
    let out = dir.join("image");
    build_recipe(&dir, &out, &[]);
    assert_eq!(run_image(&out, "latest").trim(), "server ok uid=65532");
}

#[test]
fn python_example() {
    if !tools() {
        return;
    }
    let (_tmp, dir) = example("python");
    let out = dir.join("image");
    build_recipe(&dir, &out, &[]);
    let v: serde_json::Value = serde_json::from_str(run_image(&out, "latest").trim()).unwrap();
    assert_eq!(v["message"], "hello from python3");
}

#[test]
fn java_example() {
    if !tools() || !have_tool("javac") || !have_tool("jar") {
        return;
    }
    let (_tmp, dir) = example("java");
    fs_err::write(dir.join("Main.java"), "public class Main { public static void main(String[] a) { System.out.println(\"hello from java \" + System.getProperty(\"user.name\")); } }").unwrap();
    run(Command::new("javac")
        .current_dir(&dir)
        .args(["--release", "17", "Main.java"]));
    run(Command::new("jar")
        .current_dir(&dir)
        .args(["cfe", "app.jar", "Main", "Main.class"]));
    let out = dir.join("image");
    build_recipe(&dir, &out, &[]);
    assert_eq!(run_image(&out, "latest").trim(), "hello from java nonroot");
}

const TLS_ZLIB_CXX: &str = r#"
#include <iostream>
#include <string>
#include <openssl/ssl.h>
#include <zlib.h>
int main() {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    std::string s = std::string(OpenSSL_version(OPENSSL_VERSION)) + " zlib " + zlibVersion();
    std::cout << "auto ok " << (ctx != nullptr) << " " << s << std::endl;
    SSL_CTX_free(ctx);
}
"#;

fn uncompressed_size(layout: &Path) -> u64 {
    let (_, m) = &manifests(layout)[0];
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let f =
                fs_err::File::open(support::blob(layout, l["digest"].as_str().unwrap())).unwrap();
            std::io::copy(&mut flate2::read::GzDecoder::new(f), &mut std::io::sink()).unwrap()
        })
        .sum()
}

#[test]
fn auto_image_runs_and_is_smaller_than_cc() {
    if !tools() || !std::path::Path::new("/usr/include/openssl/ssl.h").exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "libssl-dev and zlib1g-dev are required in CI"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    support::compile(
        dir,
        "app",
        TLS_ZLIB_CXX,
        true,
        &["-lssl", "-lcrypto", "-lz"],
    );
    fs_err::write(
        dir.join("distroless.toml"),
        "name = \"tls\"\nfrom = \"auto\"\ndebian = 12\nentrypoint = [\"/app\"]\n[[copy]]\nsrc = \"app\"\ndest = \"/app\"\n",
    )
    .unwrap();
    let out = dir.join("auto");
    let text = build_recipe(dir, &out, &["--explain"]);
    assert!(text.contains("/usr/lib/x86_64-linux-gnu/libssl.so.3 ← libssl3 ← needed by /app (DT_NEEDED libssl.so.3)"), "{text}");
    assert!(text.contains("← libstdc++6 ← needed by /app"), "{text}");
    let ran = run_image(&out, "latest");
    assert!(ran.starts_with("auto ok 1 OpenSSL 3"), "{ran}");

    // The same program on cc, as a Dockerfile on distroless would make it.
    fs_err::write(
        dir.join("cc.toml"),
        "from = \"cc-debian12\"\npackages = [\"zlib1g\"]\nentrypoint = [\"/app\"]\n[[copy]]\nsrc = \"app\"\ndest = \"/app\"\n",
    )
    .unwrap();
    let cc = dir.join("cc");
    distroless(&shared_cache())
        .current_dir(dir)
        .args(["build", "-q", "--arch", "amd64", "-f", "cc.toml", "-o"])
        .arg(&cc)
        .assert()
        .success();
    let (auto_size, cc_size) = (uncompressed_size(&out), uncompressed_size(&cc));
    let ratio = auto_size as f64 / cc_size as f64;
    println!("auto {auto_size} bytes, cc + program {cc_size} bytes, ratio {ratio:.3}");
    // Measured 0.53 (Debian 12): libcrypto alone is 18% of cc + program, the static skeleton
    // 13%. The issue's 40% is not reachable without dropping static's packages; see the note.
    assert!(ratio < 0.60, "auto image is {ratio:.2} of cc + program");

    // The partial packages are recorded as such in the SBOM.
    let spdx: serde_json::Value =
        serde_json::from_slice(&fs_err::read(dir.join("auto.spdx.json")).unwrap()).unwrap();
    let libc = spdx["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "libc6")
        .unwrap();
    assert!(
        libc["comment"]
            .as_str()
            .unwrap()
            .starts_with("partial: only these files"),
        "{libc}"
    );
}

#[test]
fn static_binary_lands_on_static() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    support::compile(
        dir,
        "app",
        "#include <stdio.h>\nint main(void){puts(\"static ok\");return 0;}\n",
        false,
        &["-static"],
    );
    fs_err::write(
        dir.join("distroless.toml"),
        "from = \"auto\"\nentrypoint = [\"/app\"]\n[[copy]]\nsrc = \"app\"\ndest = \"/app\"\n",
    )
    .unwrap();
    let out = dir.join("img");
    let text = build_recipe(dir, &out, &["--explain"]);
    assert!(text.contains("/app: statically linked"), "{text}");
    let st = dir.join("static");
    support::build("static", "amd64", &st);
    let (a, s) = (
        &manifests(&out)[0].1["layers"],
        &manifests(&st)[0].1["layers"],
    );
    assert_eq!(
        a.as_array().unwrap().len(),
        s.as_array().unwrap().len() + 1,
        "static's layers + the copy"
    );
    assert_eq!(a[0]["digest"], s[0]["digest"]);
    assert_eq!(run_image(&out, "latest").trim(), "static ok");
}

#[test]
fn docker_archive_loads_into_podman() {
    if !tools() || !have_tool("podman") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs_err::write(dir.join("f"), "x").unwrap();
    fs_err::write(dir.join("distroless.toml"), "name = \"distroless-podman-test\"\nfrom = \"static\"\n[[copy]]\nsrc = \"f\"\ndest = \"/f\"\n[healthcheck]\ntest = [\"NONE\"]\n").unwrap();
    let archive = dir.join("img.tar");
    build_recipe(dir, &archive, &["--format", "docker"]);
    let out = run(Command::new("podman").arg("load").arg("-i").arg(&archive));
    assert!(out.contains("distroless-podman-test:latest"), "{out}");
    let _ = Command::new("podman")
        .args(["rmi", "-f", "localhost/distroless-podman-test:latest"])
        .output();
    // An oci-archive loads under its name too (not as `localhost/latest:latest`).
    let oci = dir.join("oci.tar");
    build_recipe(dir, &oci, &[]);
    let out = run(Command::new("podman").arg("load").arg("-i").arg(&oci));
    let _ = Command::new("podman")
        .args(["rmi", "-f", "localhost/distroless-podman-test:latest"])
        .output();
    assert!(
        out.contains("localhost/distroless-podman-test:latest"),
        "{out}"
    );
}

/// A C program that needs what glibc loads with `dlopen`: `libgcc_s.so.1` to cancel a thread,
/// gconv modules to convert to CP1252.
const DLOPENED_BY_GLIBC: &str = r#"
#include <iconv.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static void *sleeper(void *arg) { (void)arg; for (;;) pause(); return NULL; }
int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, sleeper, NULL);
    pthread_cancel(t);
    pthread_join(t, NULL);
    iconv_t cd = iconv_open("CP1252", "UTF-8");
    if (cd == (iconv_t)-1) { perror("iconv_open"); return 1; }
    char in[] = "caf\xc3\xa9", out[16] = {0};
    char *ip = in, *op = out; size_t il = strlen(in), ol = sizeof out;
    if (iconv(cd, &ip, &il, &op, &ol) == (size_t)-1) { perror("iconv"); return 1; }
    printf("cancelled, converted to %02x\n", (unsigned char)out[3]);
    return 0;
}
"#;

#[test]
fn auto_takes_what_glibc_loads_with_dlopen() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    support::compile(dir, "app", DLOPENED_BY_GLIBC, false, &["-pthread"]);
    fs_err::write(
        dir.join("distroless.toml"),
        "from = \"auto\"\ndebian = 12\nentrypoint = [\"/app\"]\n[[copy]]\nsrc = \"app\"\ndest = \"/app\"\n",
    )
    .unwrap();
    let out = dir.join("img");
    let text = build_recipe(dir, &out, &["--explain"]);
    assert!(
        text.contains("libgcc_s.so.1 ← libgcc-s1 ← needed by /app (glibc loads libgcc_s.so.1"),
        "{text}"
    );
    assert!(text.contains("/gconv/ ("), "{text}");
    assert!(
        text.contains("iconv_open in /app loads them with dlopen"),
        "{text}"
    );
    assert_eq!(
        run_image(&out, "latest").trim(),
        "cancelled, converted to e9"
    );
    // `needs --json` tells the same.
    let needs = distroless(&shared_cache())
        .args(["needs", "--json", "--debian", "12", "--arch", "amd64"])
        .arg(dir.join("app"))
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&needs.get_output().stdout).unwrap();
    let names: Vec<&str> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["libc6", "libgcc-s1"], "{doc}");
}

#[test]
fn a_program_for_a_newer_glibc_is_refused() {
    if !tools() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let bin = support::compile(
        dir,
        "app",
        "#include <stdio.h>\nint main(void){puts(\"x\");return 0;}\n",
        false,
        &[],
    );
    // The host's glibc is Debian 12's (2.36): every program it links needs GLIBC_2.34
    // (`__libc_start_main`). Renaming that need stands in for a program linked on a newer
    // system (GLIBC_2.99); the loader would refuse it just the same.
    let bytes = fs_err::read(&bin).unwrap();
    let at = bytes
        .windows(10)
        .position(|w| w == b"GLIBC_2.34")
        .expect("a GLIBC_2.34 need");
    let mut patched = bytes.clone();
    patched[at..at + 10].copy_from_slice(b"GLIBC_2.99");
    fs_err::write(&bin, patched).unwrap();
    for (from, what) in [
        (
            "from = \"cc-debian12\"",
            "closure check: /app needs GLIBC_2.99 from libc.so.6, which the image's libc.so.6 does not define, whose newest is GLIBC_2.36",
        ),
        (
            "from = \"auto\"\ndebian = 12",
            "/app needs GLIBC_2.99 from libc.so.6, which the image's libc.so.6 does not define, whose newest is GLIBC_2.36",
        ),
    ] {
        let recipe =
            format!("{from}\nentrypoint = [\"/app\"]\n[[copy]]\nsrc = \"app\"\ndest = \"/app\"\n");
        fs_err::write(dir.join("distroless.toml"), recipe).unwrap();
        distroless(&shared_cache())
            .current_dir(dir)
            .args(["build", "-q", "--arch", "amd64", "-o", "img"])
            .assert()
            .failure()
            .stderr(predicates::str::contains(what));
        assert!(!dir.join("img").exists());
    }
    distroless(&shared_cache())
        .args(["needs", "--debian", "12", "--arch", "amd64"])
        .arg(&bin)
        .assert()
        .failure()
        .stderr(predicates::str::contains("needs GLIBC_2.99 from libc.so.6"));
}

/// A static server whose `health` argument answers the health check.
const HEALTHY: &str = "#include <string.h>\n#include <unistd.h>\nint main(int c, char **v){ if (c > 1 && !strcmp(v[1], \"health\")) return 0; for (;;) pause(); }\n";

#[test]
fn healthcheck_works_where_engines_read_it_and_warns_where_not() {
    if !tools() || !have_tool("podman") {
        return;
    }
    let Some(engine) = testkit::engine::Dockerd::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    support::compile(dir, "server", HEALTHY, false, &["-static"]);
    fs_err::write(
        dir.join("distroless.toml"),
        "name = \"distroless-health-test\"\nfrom = \"static\"\nentrypoint = [\"/server\"]\n[healthcheck]\ntest = [\"CMD\", \"/server\", \"health\"]\ninterval = \"1s\"\nstart_period = \"1s\"\n[[copy]]\nsrc = \"server\"\ndest = \"/server\"\n",
    )
    .unwrap();
    // OCI output: built, with advice that Podman will not see the health check (left unsaid
    // by -q: tests/pipeline.rs).
    let warned = distroless(&shared_cache())
        .current_dir(dir)
        .args(["build", "--arch", "amd64", "-o", "oci"])
        .assert()
        .success();
    let stderr = String::from_utf8(warned.get_output().stderr.clone()).unwrap();
    assert!(
        stderr.contains("Podman ignores it in OCI-format images"),
        "{stderr}"
    );
    let docker = distroless(&shared_cache())
        .current_dir(dir)
        .args([
            "build", "-q", "--arch", "amd64", "--format", "docker", "-o", "img.tar",
        ])
        .assert()
        .success();
    assert!(
        docker.get_output().stderr.is_empty(),
        "no warning for docker format"
    );

    // Docker runs the check and the container becomes healthy.
    engine.run(&["load", "-i", dir.join("img.tar").to_str().unwrap()]);
    let id = engine.run(&[
        "run",
        "-d",
        "--network",
        "none",
        "distroless-health-test:latest",
    ]);
    let id = id.trim();
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(1);
    loop {
        let status = engine.run(&["inspect", "-f", "{{.State.Health.Status}}", id]);
        if status.trim() == "healthy" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "health: {status}");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    engine.run(&["rm", "-f", id]);

    // Podman keeps the health check of the docker-format image.
    let out = run(Command::new("podman")
        .arg("load")
        .arg("-i")
        .arg(dir.join("img.tar")));
    assert!(out.contains("distroless-health-test:latest"), "{out}");
    let inspect = run(Command::new("podman").args([
        "image",
        "inspect",
        "--format",
        "{{json .HealthCheck}}",
        "localhost/distroless-health-test:latest",
    ]));
    let _ = Command::new("podman")
        .args(["rmi", "-f", "localhost/distroless-health-test:latest"])
        .output();
    assert!(inspect.contains("/server"), "{inspect}");
}
