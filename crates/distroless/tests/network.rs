//! Downloads through a mirror that misbehaves on purpose (a seeded fault-injecting server on
//! 127.0.0.1): builds must complete with the right digests, and a stalled mirror must fail
//! within the idle timeout with the cause in one line.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use testkit::fixtures::catalog_repo;
use testkit::{Fault, FaultyServer, Schedule};

fn index_digest(out: &Path) -> String {
    let index = fs_err::read(out.join("index.json")).unwrap();
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&index))
}

fn build(mirror: &str, cache: &Path, out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    let mut args = vec!["build", "cc", "-q", "--arch", "amd64"];
    args.extend_from_slice(extra);
    support::trusting(cache, mirror, &args)
        .arg("-o")
        .arg(out)
        .assert()
}

#[test]
fn builds_complete_through_a_mirror_that_fails_every_first_two_requests() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let reference = tmp.path().join("ref");
    build(&repo.file_url(), &tmp.path().join("c0"), &reference, &[]).success();
    // Every file's first two requests fail (500, cut body, reset, 429 in turn): each index and
    // package download must be retried whole, and the result must be the same image.
    let faults = vec![
        Fault::ServerError,
        Fault::Truncate,
        Fault::Reset,
        Fault::TooMany,
    ];
    let server = FaultyServer::with_schedule(repo.root(), Schedule::FirstOfEachPath(2), faults);
    let out = tmp.path().join("o1");
    build(&server.url, &tmp.path().join("c1"), &out, &[]).success();
    assert_eq!(index_digest(&out), index_digest(&reference));
    let requests = server.stats.requests.load(Ordering::SeqCst);
    let faulted = server.stats.faults.load(Ordering::SeqCst);
    assert!(
        faulted >= 20 && requests >= 3 * faulted / 2,
        "{faulted} of {requests}"
    );
}

#[test]
fn a_stalled_mirror_fails_within_the_idle_timeout() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let server = FaultyServer::start(
        repo.root(),
        100,
        vec![Fault::Stall(Duration::from_secs(30))],
        3,
    );
    let started = Instant::now();
    let a = build(
        &server.url,
        &tmp.path().join("c"),
        &tmp.path().join("o"),
        &["--http-timeout", "1"],
    )
    .failure();
    let took = started.elapsed();
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    // A host that never sent a byte is given up after two idle timeouts, not six attempts;
    // the error names it.
    let host = server
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/');
    assert!(
        err.contains(host) && err.contains("sent nothing") && err.contains("2 idle timeouts"),
        "{err}"
    );
    assert!(
        !err.contains("--offline"),
        "nothing cached, nothing to suggest: {err}"
    );
    assert!(took < Duration::from_secs(10), "gave up after {took:?}");
    assert!(!tmp.path().join("o").exists());
}

#[test]
fn a_mirror_gone_silent_after_a_build_fails_fast_and_points_at_offline() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let server =
        FaultyServer::with_schedule(repo.root(), Schedule::PathsContaining("never"), vec![]);
    let cache = tmp.path().join("c");
    build(&server.url, &cache, &tmp.path().join("o1"), &[]).success();
    // The mirror now accepts connections and never answers.
    server.reschedule(
        Schedule::Random {
            percent: 100,
            seed: 1,
        },
        vec![Fault::Stall(Duration::from_mins(1))],
    );
    let started = Instant::now();
    let a = build(
        &server.url,
        &cache,
        &tmp.path().join("o2"),
        &["--http-timeout", "2"],
    )
    .failure();
    let took = started.elapsed();
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("sent nothing") && err.contains("--offline"),
        "{err}"
    );
    assert!(took < Duration::from_secs(15), "gave up after {took:?}");
    build(&server.url, &cache, &tmp.path().join("o3"), &["--offline"]).success();
}

/// Starts a build whose package downloads stall, and waits until its staging directory exists.
fn stalled_build(mirror: &str, cache: &Path, out: &Path) -> std::process::Child {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("distroless"))
        .env("DISTROLESS_CACHE_DIR", cache)
        .args([
            "build",
            "cc",
            "-q",
            "--arch",
            "amd64",
            "--http-timeout",
            "60",
        ])
        .args(["--no-default-keyring", "--keyring"])
        .arg(&testkit::SignKey::shared().public)
        .args(["--mirror", mirror, "-o"])
        .arg(out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let parent = out.parent().unwrap();
    let started = Instant::now();
    while support::names_starting(".distroless-", parent).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no staging directory appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// A mirror over `repo` whose package downloads stall (indexes come at once).
fn pool_stalls(repo: &testkit::Repo) -> FaultyServer {
    FaultyServer::with_schedule(
        repo.root(),
        Schedule::PathsContaining("pool/"),
        vec![Fault::Stall(Duration::from_mins(2))],
    )
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[test]
fn signals_leave_nothing_behind_and_killed_runs_are_swept() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let outs = tmp.path().join("outs");
    fs_err::create_dir_all(&outs).unwrap();
    let server = pool_stalls(&repo);
    for sig in ["-INT", "-TERM"] {
        let mut child = stalled_build(&server.url, &tmp.path().join("c"), &outs.join("o"));
        signal(&child, sig);
        let status = child.wait().unwrap();
        assert!(!status.success());
        assert!(
            support::names_starting(".distroless-", &outs).is_empty(),
            "{sig} left {:?}",
            support::names_starting(".distroless-", &outs)
        );
        assert!(!outs.join("o").exists());
    }
    // SIGKILL cannot be caught: the next run in the same directory sweeps what it left.
    let mut child = stalled_build(&server.url, &tmp.path().join("c"), &outs.join("o"));
    signal(&child, "-KILL");
    child.wait().unwrap();
    assert_eq!(support::names_starting(".distroless-", &outs).len(), 1);
    build(
        &repo.file_url(),
        &tmp.path().join("c"),
        &outs.join("fine"),
        &[],
    )
    .success();
    assert!(
        support::names_starting(".distroless-", &outs).is_empty(),
        "{:?}",
        support::names_starting(".distroless-", &outs)
    );
    let partials = support::names_starting(".partial-", &tmp.path().join("c"));
    assert!(partials.is_empty(), "{partials:?}");
}

#[test]
fn an_interrupted_push_leaves_no_scratch_directory_and_a_killed_one_is_swept() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let scratch = tmp.path().join("tmp");
    fs_err::create_dir_all(&scratch).unwrap();
    let server = pool_stalls(&repo);
    let cache = tmp.path().join("c");
    let pushing = |mirror: &str| {
        let mut cmd = support::trusting_process(
            &cache,
            mirror,
            &[
                "build",
                "cc",
                "-q",
                "--arch",
                "amd64",
                "--http-timeout",
                "60",
            ],
        );
        cmd.args(["--push", "127.0.0.1:9/team/cc:1", "--attempts", "1"])
            .env("TMPDIR", &scratch)
            .stderr(std::process::Stdio::null());
        cmd
    };
    let wait_for_scratch = || {
        let started = Instant::now();
        while support::names_starting(".distroless-", &scratch).is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no scratch directory"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    for sig in ["-INT", "-TERM", "-KILL"] {
        let mut child = pushing(&server.url).spawn().unwrap();
        wait_for_scratch();
        // Its packages are being fetched (and stall): the build is under way.
        std::thread::sleep(Duration::from_millis(300));
        signal(&child, sig);
        assert!(!child.wait().unwrap().success());
        let left = support::names_starting(".distroless-", &scratch);
        match sig {
            "-KILL" => assert_eq!(left.len(), 1, "{left:?}"),
            _ => assert!(left.is_empty(), "{sig} left {left:?}"),
        }
    }
    // The next run sweeps what the killed one left (its own push then fails: no registry).
    let status = pushing(&repo.file_url()).status().unwrap();
    assert!(!status.success());
    let left = support::names_starting(".distroless-", &scratch);
    assert!(left.is_empty(), "{left:?}");
}
