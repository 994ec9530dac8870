//! One pipeline, one finish step: `--dry-run` writes nothing and `--audit` stops a build before
//! anything is written, whatever the image stands on (a catalog image, an image on disk, an
//! image in a registry), and the two together are refused alike.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

mod support;

use std::path::Path;

use testkit::fixtures::catalog_repo;
use testkit::registry::Registry;

/// What a run left in `dir` besides the cache, the base and the program it copies.
fn written(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| !["cache", "app"].contains(&n.as_str()) && !n.starts_with("base"))
        .collect();
    names.sort();
    names
}

#[test]
fn dry_run_and_audit_behave_alike_on_every_base() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cache = dir.join("cache");
    let run = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        support::trusting(&cache, &repo.file_url(), &args)
            .current_dir(dir)
            .assert()
    };
    let own = |args: &[&str]| -> Vec<String> { args.iter().map(ToString::to_string).collect() };
    run(&own(&[
        "build", "-q", "static", "--arch", "amd64", "-o", "base",
    ]))
    .success();
    fs_err::write(dir.join("app"), b"#!/bin/true\n").unwrap();
    // The registry base is the same image, pushed (skipped outside CI without the registry).
    let registry = Registry::start();
    if registry.is_none() {
        eprintln!("SKIP registry base: docker-registry is not installed");
    }
    let pushed = registry.as_ref().map(|r| format!("{}/team/base:1", r.addr));
    if let Some(reference) = &pushed {
        support::distroless(&cache)
            .current_dir(dir)
            .args(["push", "base", reference])
            .assert()
            .success();
    }
    let mut bases: Vec<(&str, Vec<&str>)> = vec![
        ("catalog", vec!["static"]),
        ("disk", vec!["--from", "./base", "--copy", "app:/app"]),
    ];
    if let Some(reference) = &pushed {
        bases.push(("registry", vec!["--from", reference, "--copy", "app:/app"]));
    }
    for (kind, base) in &bases {
        let with = |extra: &[&str]| -> Vec<String> {
            let mut v = vec!["build", "--arch", "amd64"];
            v.extend(base);
            v.extend(extra);
            v.into_iter().map(str::to_string).collect()
        };
        // --dry-run: exit 0, something said, nothing written.
        let a = run(&with(&["--dry-run", "-o", "out"])).success();
        let said = String::from_utf8_lossy(&a.get_output().stdout).to_string();
        assert!(
            !said.trim().is_empty(),
            "{kind}: a dry run says what it would do"
        );
        assert_eq!(
            written(dir),
            Vec::<String>::new(),
            "{kind}: --dry-run wrote"
        );
        // --dry-run --push: nothing pushed either (the registry is never asked).
        if let Some(r) = &registry {
            let before = r.requests("PUT", "/manifests/");
            let target = format!("{}/team/dry:1", r.addr);
            run(&with(&["--dry-run", "--push", &target])).success();
            assert_eq!(r.requests("PUT", "/manifests/"), before, "{kind}: pushed");
        }
        // --audit: the test repository's CA "certificates" are no certificates, on any base.
        let a = run(&with(&["--audit", "-o", "out"])).failure();
        let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
        assert!(err.contains("ca-bundle"), "{kind}: {err}");
        assert_eq!(
            written(dir),
            Vec::<String>::new(),
            "{kind}: a failed audit wrote"
        );
        // Both: refused alike, before anything is read.
        let a = run(&with(&["--audit", "--dry-run", "-o", "out"])).failure();
        let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
        assert!(err.contains("dry run"), "{kind}: {err}");
        // And without either, the image and its provenance are written.
        run(&with(&["-q", "-o", "out"])).success();
        assert!(dir.join("out/index.json").is_file(), "{kind}");
        assert!(dir.join("out.provenance.json").is_file(), "{kind}");
        for name in written(dir) {
            let path = dir.join(name);
            if path.is_dir() {
                fs_err::remove_dir_all(path).unwrap();
            } else {
                fs_err::remove_file(path).unwrap();
            }
        }
    }
}

#[test]
fn a_dry_run_refuses_what_the_build_would_and_no_output_replaces_its_base() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cache = dir.join("cache");
    let run = |args: &[&str]| {
        support::trusting(&cache, &repo.file_url(), args)
            .current_dir(dir)
            .assert()
    };
    run(&["build", "-q", "static", "--arch", "amd64", "-o", "base"]).success();
    fs_err::write(dir.join("app"), b"#!/bin/true\n").unwrap();
    fs_err::write(dir.join("a-file"), b"not an image\n").unwrap();
    let on_base = ["--from", "./base", "--copy", "app:/app"];
    for base in [&["static"][..], &on_base[..]] {
        let mut two = vec!["build", "--dry-run", "--arch", "amd64", "--arch", "arm64"];
        two.extend(base);
        two.extend(["--format", "docker", "-o", "d.tar"]);
        let a = run(&two).failure();
        let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
        assert!(err.contains("holds one architecture"), "{err}");
        let mut onto_file = vec!["build", "--dry-run", "--arch", "amd64"];
        onto_file.extend(base);
        onto_file.extend(["-o", "a-file"]);
        run(&onto_file).failure();
    }
    let before = fs_err::read(dir.join("base/index.json")).unwrap();
    for out in ["base", "base/sub", "./base"] {
        let mut args = vec!["build", "--arch", "amd64"];
        args.extend(on_base);
        args.extend(["-o", out]);
        let a = run(&args).failure();
        let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
        assert!(
            err.contains("would overwrite the image it is built on"),
            "{out}: {err}"
        );
    }
    assert_eq!(fs_err::read(dir.join("base/index.json")).unwrap(), before);
    assert!(!dir.join("base/sub").exists());
    // A failed build leaves none of the directories it made for its output.
    let mut audited = vec!["build", "--arch", "amd64", "--audit", "-o", "p1/p2/out"];
    audited.extend(on_base);
    run(&audited).failure();
    run(&[
        "build",
        "static",
        "--arch",
        "amd64",
        "--audit",
        "-o",
        "p1/p2/out.tar",
    ])
    .failure();
    assert!(!dir.join("p1").exists());
}

#[test]
fn a_program_copied_to_bin_lands_where_the_merged_usr_link_leads() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cache = dir.join("cache");
    fs_err::write(dir.join("hello"), testkit::elf::static_program(62)).unwrap();
    let a = support::trusting(
        &cache,
        &repo.file_url(),
        &[
            "build",
            "--arch",
            "amd64",
            "--from",
            "static",
            "--copy",
            "hello:/bin/hello",
            "--entrypoint",
            "/bin/hello",
            "-o",
            "out",
        ],
    )
    .current_dir(dir)
    .assert()
    .success();
    let said = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(said.contains("/bin/hello is at /usr/bin/hello"), "{said}");
    let (_, m) = &support::manifests(&dir.join("out"))[0];
    let files = support::files(&dir.join("out"), m);
    assert!(files.contains_key("usr/bin/hello"), "{:?}", files.keys());
    let sbom = fs_err::read_to_string(dir.join("out.spdx.json")).unwrap();
    assert!(
        sbom.contains("/usr/bin/hello"),
        "the SBOM names where it is"
    );
}

#[test]
fn advice_is_left_unsaid_by_a_quiet_build() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cache = dir.join("cache");
    fs_err::write(dir.join("hello"), testkit::elf::static_program(62)).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    fs_err::set_permissions(dir.join("hello"), mode).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "build",
            "--arch",
            "amd64",
            "--from",
            "static",
            "--copy",
            "hello:/hello",
            "--healthcheck",
            "/hello",
            "--replace",
            "-o",
            "out",
        ];
        args.extend(extra);
        let a = support::trusting(&cache, &repo.file_url(), &args)
            .current_dir(dir)
            .assert()
            .success();
        String::from_utf8_lossy(&a.get_output().stderr).to_string()
    };
    assert!(run(&[]).contains("Podman ignores it"));
    assert_eq!(run(&["-q"]), "");
}

#[test]
fn a_recipe_of_flags_is_named_after_its_entrypoint_and_never_over_a_file() {
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cache = dir.join("cache");
    fs_err::write(dir.join("app"), testkit::elf::static_program(62)).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    fs_err::set_permissions(dir.join("app"), mode).unwrap();
    let build = |dest: &str| {
        let copy = format!("app:{dest}");
        support::trusting(
            &cache,
            &repo.file_url(),
            &[
                "build",
                "-q",
                "--arch",
                "amd64",
                "--from",
                "static",
                "--copy",
                &copy,
                "--entrypoint",
                dest,
            ],
        )
        .current_dir(dir)
        .assert()
        .success();
    };
    build("/usr/local/bin/tool");
    assert!(dir.join("tool/index.json").is_file());
    build("/app");
    assert!(dir.join("app-image/index.json").is_file());
    assert_eq!(
        fs_err::read(dir.join("app")).unwrap(),
        testkit::elf::static_program(62)
    );
}

#[test]
fn debug_takes_a_registry_reference_and_names_the_result_after_its_image() {
    let Some(reg) = Registry::start() else {
        return;
    };
    let repo = catalog_repo();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cache = dir.join("cache");
    let run = |args: &[&str]| {
        support::trusting(&cache, &repo.file_url(), args)
            .current_dir(dir)
            .assert()
            .success()
    };
    run(&["build", "-q", "static", "--arch", "amd64", "-o", "base"]);
    let reference = format!("{}/team/goapp:1", reg.addr);
    support::distroless(&cache)
        .current_dir(dir)
        .args(["push", "base", &reference])
        .assert()
        .success();
    run(&[
        "debug", "-q", &reference, "--format", "docker", "-o", "dbg.tar",
    ]);
    let out = std::process::Command::new("tar")
        .args(["-xOf", "dbg.tar", "manifest.json"])
        .current_dir(dir)
        .output()
        .unwrap();
    let manifest = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        manifest.contains("\"RepoTags\":[\"team/goapp:1-debug\"]"),
        "{manifest}"
    );
}

#[test]
fn a_base_of_several_platforms_is_built_for_the_host_unless_asked() {
    let repo = testkit::fixtures::catalog_repo_for(&["amd64", "arm64"], |_| {});
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cache = dir.join("cache");
    let run = |args: &[&str]| {
        support::trusting(&cache, &repo.file_url(), args)
            .current_dir(dir)
            .assert()
    };
    run(&[
        "build", "-q", "static", "--arch", "amd64", "--arch", "arm64", "-o", "base",
    ])
    .success();
    fs_err::write(dir.join("f"), b"data\n").unwrap();
    run(&[
        "build", "-q", "--from", "./base", "--copy", "f:/f", "-o", "one",
    ])
    .success();
    let host = distroless::model::Arch::host().platform().architecture;
    let one: Vec<String> = support::manifests(&dir.join("one"))
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert_eq!(
        one.as_slice(),
        std::slice::from_ref(&host),
        "the host's platform, as for a catalog base"
    );
    run(&[
        "build",
        "-q",
        "--from",
        "./base",
        "--copy",
        "f:/f",
        "--all-arches",
        "-o",
        "all",
    ])
    .success();
    assert_eq!(support::manifests(&dir.join("all")).len(), 2);
    let a = run(&[
        "build",
        "-q",
        "--from",
        "./base",
        "--package",
        "libpq5",
        "-o",
        "x",
    ])
    .failure();
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(err.contains("nothing says which Debian release"), "{err}");
}
