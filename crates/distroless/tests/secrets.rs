//! No secret in any output: every command that takes an image reference or a mirror is run
//! with a password in it, and stdout, stderr and every file the run wrote (outputs, SBOMs,
//! provenance, lock files, the cache) are searched for the password.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::path::Path;

use testkit::Server;
use testkit::fixtures::catalog_repo;

const PASSWORD: &str = "s3cret-pw-4711";

/// Every file under `dir` that holds the password (but the recipe the test wrote).
fn files_holding_it(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.file_name() != "distroless.toml")
        .filter(|e| {
            fs_err::read(e.path())
                .is_ok_and(|b| b.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()))
        })
        .map(|e| e.path().display().to_string())
        .collect()
}

#[test]
fn no_password_in_a_reference_or_mirror_reaches_any_output() {
    let repo = catalog_repo();
    let server = Server::start(repo.root());
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path();
    let cache = work.join("cache");
    let mirror = server
        .url
        .replacen("http://", &format!("http://bob:{PASSWORD}@"), 1);
    let reference = format!("alice:{PASSWORD}@127.0.0.1:9/team/app:1");
    // A base on disk for `diff` and the recipe.
    let base_dir = work.join("base").display().to_string();
    support::trusting(
        &cache,
        &repo.file_url(),
        &["build", "static", "-q", "--arch", "amd64", "-o", &base_dir],
    )
    .assert()
    .success();
    fs_err::write(
        work.join("distroless.toml"),
        format!("name = \"app\"\nfrom = \"{reference}\"\n"),
    )
    .unwrap();
    let base = work.join("base").display().to_string();
    let runs = runs(&mirror, &reference, &base);
    for args in &runs {
        let out = support::distroless(&cache)
            .current_dir(work)
            .args(args)
            .args(["--no-default-keyring", "--keyring"])
            .arg(&testkit::SignKey::shared().public)
            .output()
            .unwrap();
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !shown.contains(PASSWORD),
            "{args:?} printed the password: {shown}"
        );
    }
    assert!(
        work.join("out-cc/index.json").exists(),
        "the mirror with a password builds"
    );
    let leaked = files_holding_it(work);
    assert!(leaked.is_empty(), "files holding the password: {leaked:?}");
}

/// Every command run with a password in its reference or mirror (`base` is a layout on disk).
fn runs(mirror: &str, reference: &str, base: &str) -> Vec<Vec<String>> {
    let bad_mirror = format!("http://ci:tok/{PASSWORD}@127.0.0.1:9/debian");
    [
        vec![
            "build", "cc", "--arch", "amd64", "--mirror", mirror, "-o", "out-cc",
        ],
        vec![
            "build",
            "cc",
            "--arch",
            "amd64",
            "--mirror",
            mirror,
            "--dry-run",
            "--json",
            "-o",
            "x",
        ],
        vec![
            "build",
            "cc",
            "--arch",
            "amd64",
            "--mirror",
            mirror,
            "--offline",
            "--dry-run",
        ],
        vec!["lock", "cc", "--arch", "amd64", "--mirror", mirror],
        // A password the URL parser cannot separate (a `/` in it).
        vec!["build", "static", "--mirror", &bad_mirror, "-o", "out-bad"],
        vec!["inspect", reference],
        vec!["audit", reference],
        vec!["diff", base, reference],
        vec!["debug", reference, "--mirror", mirror, "-o", "out-debug"],
        vec![
            "build", "--from", reference, "--mirror", mirror, "-o", "out-from",
        ],
        vec![
            "build",
            "-f",
            "distroless.toml",
            "--mirror",
            mirror,
            "-o",
            "out-recipe",
        ],
        vec!["pull", reference, "-o", "out-pull"],
        // A URL given where a reference belongs: its scheme is cut off, its password is not.
        vec![
            "build",
            "--from",
            &format!("https://{reference}"),
            "--copy",
            "distroless.toml:/x",
            "-o",
            "out-url",
        ],
        vec![
            "build",
            "static",
            "--dry-run",
            "--push",
            &format!("//{reference}"),
        ],
        vec!["push", base, reference],
    ]
    .iter()
    .map(|r| r.iter().map(ToString::to_string).collect())
    .collect()
}
