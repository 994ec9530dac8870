//! Images we did not build, made hostile by hand: every one must be refused with one line
//! naming the image and the problem, before any of its bytes are used.

#![allow(clippy::unwrap_used)]

use std::io::Read;

use oci::read::ForeignImage;
use serde_json::json;
use testkit::image::{Layout, docker_archive, docker_manifest, layer_tar};

fn refused(path: &std::path::Path) -> String {
    let e = ForeignImage::open(path, None)
        .err()
        .expect("must be refused")
        .to_string();
    assert!(!e.contains('\n'), "one line: {e}");
    e
}

/// Opens the image and reads its first layer through the verifier.
fn read_layer(image: &ForeignImage) -> oci::Result<Vec<u8>> {
    let blob = &image.manifests[0].layers[0];
    let mut v = image.open_blob(blob)?;
    let mut out = Vec::new();
    v.read_to_end(&mut out)?;
    v.finish("layer")?;
    Ok(out)
}

#[test]
fn a_valid_layout_and_docker_archive_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let l = Layout::write(&dir.path().join("l"));
    let image = ForeignImage::open(&l.root, Some("latest")).unwrap();
    assert_eq!(image.manifests[0].layers[0].digest.to_string(), l.layer);
    assert!(read_layer(&image).is_ok());
    let tar = dir.path().join("d.tar");
    docker_archive(&tar, &docker_manifest());
    let image = ForeignImage::open(&tar, None).unwrap();
    assert!(read_layer(&image).is_ok());
}

#[test]
fn digests_that_are_paths_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Layout::write(&dir.path().join("a/b/l"));
    let mut m = l.manifest_json();
    m["layers"][0]["digest"] = json!("sha256:../../../../x");
    l.set_manifest(&m);
    let e = refused(&l.root);
    assert!(e.contains("digest \"sha256:../../../../x\""), "{e}");
    let mut m = l.manifest_json();
    m["config"]["digest"] = json!("sha256:../../index.json");
    l.set_manifest(&m);
    assert!(refused(&l.root).contains("lowercase hex"));
    assert!(!dir.path().join("a/x").exists() && !dir.path().join("x").exists());
}

#[test]
fn a_symlinked_blob_is_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let l = Layout::write(&dir.path().join("l"));
    let secret = dir.path().join("secret");
    fs_err::write(&secret, b"root:$6$secret:20000::::::\n").unwrap();
    fs_err::remove_file(l.blob(&l.layer)).unwrap();
    std::os::unix::fs::symlink(&secret, l.blob(&l.layer)).unwrap();
    let image = ForeignImage::open(&l.root, None).unwrap();
    let e = read_layer(&image).unwrap_err().to_string();
    assert!(e.contains("passes through a symlink"), "{e}");
    assert!(!e.contains("secret"), "{e}");
}

#[test]
fn a_swapped_layer_fails_its_digest() {
    let dir = tempfile::tempdir().unwrap();
    let l = Layout::write(&dir.path().join("l"));
    let evil = layer_tar(&[(
        "etc/passwd",
        b"root:x:0:0::/:/bin/sh\nevil:x:0:0::/:/bin/sh\n",
    )]);
    fs_err::write(l.blob(&l.layer), &evil).unwrap();
    let image = ForeignImage::open(&l.root, None).unwrap();
    let e = read_layer(&image).unwrap_err().to_string();
    assert!(e.contains("mismatch"), "{e}");
    assert!(!e.contains("evil"), "{e}");
}

#[test]
fn a_manifest_with_a_wrong_size_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let l = Layout::write(&dir.path().join("l"));
    let mut index: serde_json::Value =
        serde_json::from_slice(&fs_err::read(l.root.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["size"] = json!(3);
    l.set_index(&index);
    assert!(refused(&l.root).contains("size mismatch"));
}

#[test]
fn oversized_json_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Layout::write(&dir.path().join("l"));
    let mut m = l.manifest_json();
    m["annotations"] = json!({"pad": "x".repeat(5 << 20)});
    l.set_manifest(&m);
    assert!(refused(&l.root).contains("limit"));
}

#[test]
fn a_config_that_disagrees_with_the_manifest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Layout::write(&dir.path().join("l"));
    l.set_config(&json!({"architecture": "amd64", "os": "linux", "rootfs": {"diff_ids": []}}));
    assert!(refused(&l.root).contains("lists 0 layers, the manifest 1"));
}

#[test]
fn docker_archive_paths_stay_inside() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value) in [
        ("Layers", json!(["../../../../etc/shadow"])),
        ("Layers", json!(["/etc/shadow"])),
        ("Config", json!("/root/.docker/config.json")),
        ("Config", json!("../config.json")),
    ] {
        let mut m = docker_manifest();
        m[0][key] = value;
        let tar = dir.path().join("d.tar");
        docker_archive(&tar, &m);
        let e = refused(&tar);
        assert!(e.contains("leaves the archive"), "{key}: {e}");
    }
}

#[test]
fn non_json_and_non_tar_inputs_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let l = Layout::write(&dir.path().join("l"));
    fs_err::write(l.root.join("index.json"), b"root:x:0:0:secret\n").unwrap();
    let e = refused(&l.root);
    assert!(
        e.contains("index.json is not valid JSON") && !e.contains("secret"),
        "{e}"
    );
    let junk = dir.path().join("junk.tar");
    fs_err::write(&junk, vec![7u8; 2048]).unwrap();
    assert!(refused(&junk).contains("junk.tar"));
}
