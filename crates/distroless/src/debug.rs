//! `distroless debug IMAGE -o OUT`: any image's debug variant.
//!
//! The image (an OCI layout directory, an oci-archive or a docker-archive) is read as it is;
//! a busybox layer (Debian's `busybox-static` for the image's architecture, one symlink per
//! applet under `/busybox`) is added on top, `PATH` gains `:/busybox`, and an image without an
//! entrypoint gets `/busybox/sh`. Every other layer keeps its bytes and digest.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use oci::layer::{Compression, LayerWriter};
use oci::layout::LayoutWriter;
use oci_spec::image::MediaType;
use serde_json::json;

use crate::catalog::DebianRelease;
use crate::plan::Source;
use crate::rootfs::{self, Tree};

/// The Debian architecture of an OCI platform.
pub(crate) fn debian_arch(arch: &str, variant: Option<&str>) -> anyhow::Result<&'static str> {
    Ok(match (arch, variant) {
        ("amd64", _) => "amd64",
        ("arm64", _) => "arm64",
        ("arm", Some("v7") | None) => "armhf",
        ("s390x", _) => "s390x",
        ("ppc64le", _) => "ppc64el",
        ("riscv64", _) => "riscv64",
        ("386", _) => "i386",
        _ => bail!(
            "no Debian busybox for platform {arch}{}",
            variant.map(|v| format!("/{v}")).unwrap_or_default()
        ),
    })
}

/// Builds the debug variant of `input` into `output`.
pub fn debug_image(
    source: &Source<'_>,
    input: &str,
    output: &Path,
    release: DebianRelease,
    epoch: u64,
) -> anyhow::Result<String> {
    let (path, tag) = match input.rsplit_once(':') {
        Some((p, t)) if Path::new(p).exists() && !t.contains('/') => {
            (PathBuf::from(p), Some(t.to_string()))
        }
        _ => (PathBuf::from(input), None),
    };
    anyhow::ensure!(
        path.exists(),
        "{input}: no such OCI layout, oci-archive or docker-archive"
    );
    let image = crate::foreign::open(&path, tag.as_deref())?;
    let layout = LayoutWriter::new(output)?;
    let mut out_descs = Vec::new();
    for sm in &image.manifests {
        let arch = sm.config["architecture"].as_str().unwrap_or("amd64");
        let variant = sm.config["variant"]
            .as_str()
            .or_else(|| sm.platform.as_ref().and_then(|p| p["variant"].as_str()));
        let deb_arch = debian_arch(arch, variant)?;
        let universe = crate::plan::load_universe(source, release, deb_arch)?;
        let bb = universe
            .get("busybox-static")
            .context("the suites have no busybox-static package")?;
        drop(universe);
        let debs = crate::build::fetch_debs(source, &[&bb])?;
        let deb = &debs[&bb.sha256];
        let mut tree = Tree::new(false, std::collections::BTreeSet::default())?;
        rootfs::busybox::add_package(&mut tree, deb, &bb.name)?;
        let mut writer = LayerWriter::new(&layout.blobs(), Compression::Gzip, epoch)?;
        tree.write_layer(&mut writer)?;
        let blob = writer.finish()?;
        crate::foreign::import_layers(&layout, &image.root, &sm.manifest)?;
        let mut config = sm.config.clone();
        let mut manifest = sm.manifest.clone();
        crate::foreign::append_layer(
            &mut config,
            &mut manifest,
            &blob,
            "distroless debug: busybox",
            epoch,
        )?;
        let env = config["config"]["Env"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut env: Vec<String> = env
            .iter()
            .filter_map(|e| e.as_str().map(str::to_string))
            .collect();
        match env.iter_mut().find(|e| e.starts_with("PATH=")) {
            Some(p) => p.push_str(":/busybox"),
            None => env.push(format!("PATH={}:/busybox", crate::build::PATH)),
        }
        config["config"]["Env"] = json!(env);
        if config["config"]["Entrypoint"].is_null() {
            config["config"]["Entrypoint"] = json!(["/busybox/sh"]);
        }
        manifest["config"] =
            serde_json::to_value(layout.json_blob(MediaType::ImageConfig, &config)?)?;
        let desc = layout.json_blob(MediaType::ImageManifest, &manifest)?;
        let platform = oci::image::Platform {
            architecture: arch.to_string(),
            variant: variant.map(str::to_string),
        };
        out_descs.push((desc, Some(platform)));
    }
    let tag = tag.unwrap_or_else(|| "debug".to_string());
    let top = crate::build::tagged_index(&layout, out_descs, std::slice::from_ref(&tag))?;
    crate::build::finish(layout, &top, output)?;
    Ok(tag)
}
