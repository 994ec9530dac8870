//! Package sources beyond the Debian archive: local `.deb` files a recipe names, installed like
//! archive packages (same path policy, dependencies from the archive, status.d, SBOMs,
//! provenance, lock), and refused in one line when they are not what they must be.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use support::{files, manifests};
use testkit::fixtures::catalog_repo;
use testkit::{DebBuilder, DebEntry};

/// A project with `build/NAME.deb` and a recipe naming it.
fn project(deb: &DebBuilder, file: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(dir.path().join("build")).unwrap();
    fs_err::write(dir.path().join("build").join(file), deb.build()).unwrap();
    fs_err::write(
        dir.path().join("distroless.toml"),
        format!("name = \"shop\"\nfrom = \"base\"\ndebs = [\"build/{file}\"]\n"),
    )
    .unwrap();
    dir
}

fn myapp(version: &str) -> DebBuilder {
    DebBuilder::new("myapp", version, "amd64")
        .field("Depends", "libstdc++6")
        .file("usr/share/myapp/config", format!("v{version}\n").as_bytes())
}

fn build(repo: &testkit::Repo, dir: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    let cache = dir.join("cache");
    let mut args = vec!["build", "-q", "--arch", "amd64", "-o", "out"];
    args.extend(extra);
    support::trusting(&cache, &repo.file_url(), &args)
        .current_dir(dir)
        .assert()
}

fn one_line_failure(a: &assert_cmd::assert::Assert) -> String {
    let err = String::from_utf8_lossy(&a.get_output().stderr)
        .trim()
        .to_string();
    assert!(!err.contains('\n'), "{err}");
    err
}

#[test]
fn a_local_deb_is_installed_with_its_dependencies_and_recorded() {
    let repo = catalog_repo();
    let deb = myapp("1.2");
    let dir = project(&deb, "myapp_1.2_amd64.deb");
    build(&repo, dir.path(), &[]).success();
    let out = dir.path().join("out");
    let f = files(&out, &manifests(&out)[0].1);
    let text = |p: &str| String::from_utf8(f[p].data.clone()).unwrap();
    assert_eq!(text("usr/share/myapp/config"), "v1.2\n");
    assert!(text("var/lib/dpkg/status.d/myapp").contains("Version: 1.2"));
    assert!(f.contains_key("var/lib/dpkg/status.d/myapp.md5sums"));
    // Its dependency came from the archive (base alone has no libstdc++6).
    assert!(f.contains_key("var/lib/dpkg/status.d/libstdc++6"));
    // The SBOMs and the provenance name it with the file's SHA-256.
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(deb.build()));
    let spdx = fs_err::read_to_string(dir.path().join("out.spdx.json")).unwrap();
    assert!(
        spdx.contains("\"myapp\"") && spdx.contains(&sha),
        "SPDX names it"
    );
    support::validate_sbom("spdx", &dir.path().join("out.spdx.json"));
    let provenance = fs_err::read_to_string(dir.path().join("out.provenance.json")).unwrap();
    assert!(
        provenance.contains("myapp_1.2_amd64.deb") && provenance.contains(&sha),
        "provenance records it"
    );

    // Locked: pinned by its SHA-256; a changed file is refused until locked again.
    let cache = dir.path().join("cache");
    support::trusting(&cache, &repo.file_url(), &["lock", "--arch", "amd64"])
        .current_dir(dir.path())
        .assert()
        .success();
    let lock = fs_err::read_to_string(dir.path().join("distroless.lock")).unwrap();
    assert!(lock.contains("myapp") && lock.contains(&sha), "{lock}");
    build(&repo, dir.path(), &["--locked", "--replace"]).success();
    fs_err::write(
        dir.path().join("build/myapp_1.2_amd64.deb"),
        myapp("1.2").file("usr/share/myapp/extra", b"x").build(),
    )
    .unwrap();
    let err = one_line_failure(&build(&repo, dir.path(), &["--locked", "--replace"]).failure());
    assert!(err.contains("is not the one locked"), "{err}");
}

#[test]
fn bad_local_debs_are_refused_in_one_line_and_write_nothing() {
    let repo = catalog_repo();
    let cases: Vec<(DebBuilder, &str, &str)> = vec![
        (
            DebBuilder::new("myapp", "1.0", "arm64").file("usr/share/myapp/x", b"x"),
            "myapp.deb",
            "a package for arm64, not amd64",
        ),
        (
            DebBuilder::new("myapp", "1.0", "amd64")
                .entry(DebEntry::RawFile("./../../etc/evil".into(), b"x".to_vec())),
            "myapp.deb",
            "..",
        ),
        (
            DebBuilder::new("myapp", "1.0", "amd64").field("Depends", "no-such-package"),
            "myapp.deb",
            "no-such-package",
        ),
    ];
    for (deb, file, needle) in cases {
        let dir = project(&deb, file);
        let err = one_line_failure(&build(&repo, dir.path(), &[]).failure());
        assert!(err.contains(needle), "{needle}: {err}");
        assert!(
            !dir.path().join("out").exists(),
            "{needle}: nothing written"
        );
    }
    // Not a .deb at all; and a path outside the build context.
    let dir = project(&myapp("1.0"), "myapp.deb");
    fs_err::write(dir.path().join("build/myapp.deb"), b"not an ar archive").unwrap();
    let err = one_line_failure(&build(&repo, dir.path(), &[]).failure());
    assert!(
        err.contains("distroless.toml") && err.contains("debs"),
        "{err}"
    );
    let outside = tempfile::tempdir().unwrap();
    fs_err::write(outside.path().join("x.deb"), myapp("1.0").build()).unwrap();
    fs_err::write(
        dir.path().join("distroless.toml"),
        format!(
            "name = \"shop\"\nfrom = \"base\"\ndebs = [\"{}\"]\n",
            outside.path().join("x.deb").display()
        ),
    )
    .unwrap();
    let err = one_line_failure(&build(&repo, dir.path(), &[]).failure());
    assert!(err.contains("outside"), "{err}");
}
