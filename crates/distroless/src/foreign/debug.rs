//! `distroless debug IMAGE -o OUT`: any image's debug variant.
//!
//! The image (an OCI layout directory, an oci-archive or a docker-archive) is read as it is;
//! a busybox layer (Debian's `busybox-static` for the image's architecture, one symlink per
//! applet under `/busybox`) is added on top, `PATH` gains `:/busybox`, and an image without an
//! entrypoint gets `/busybox/sh`. Every other layer keeps its bytes and digest.

use std::collections::BTreeSet;

use anyhow::Context;
use oci::layer::{Compression, LayerBlob, LayerWriter};
use oci::layout::LayoutWriter;
use oci::read::ForeignImage;
use serde_json::json;

use super::Edit;
use crate::image::tagged_index;
use crate::model::PATH;
use crate::model::{Arch, DebianRelease, Destination, DiskImage};
use crate::output;
use crate::plan::{Source, load_universe};
use crate::rootfs::{self, Tree};

/// Builds the debug variant of `input` into `destination`; returns the tag written.
pub fn build(
    source: &Source<'_>,
    input: &DiskImage,
    destination: &Destination,
    release: DebianRelease,
    (epoch, replace): (u64, bool),
) -> anyhow::Result<String> {
    let image = ForeignImage::open(&input.path, input.tag.as_deref())?;
    for m in &image.manifests {
        let has_busybox = m.config["config"]["Env"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|e| {
                e.as_str()
                    .is_some_and(|e| e.starts_with("PATH=") && e.ends_with(":/busybox"))
            });
        anyhow::ensure!(
            !has_busybox,
            "{}: already a debug image (its PATH ends in /busybox)",
            input.shown
        );
    }
    destination.check()?;
    let layout = LayoutWriter::new(destination.path())?;
    let rewritten = super::rewrite(&image, &layout, epoch, |edit| {
        add_busybox(edit, source, release, &layout, epoch)
    })?;
    // As the catalog names its debug variants: latest → debug, nonroot → debug-nonroot.
    let tag = match input.tag.as_deref() {
        None | Some("latest") => "debug".to_string(),
        Some(t) if t.starts_with("debug") || t.ends_with("-debug") => t.to_string(),
        Some("nonroot") => "debug-nonroot".to_string(),
        Some(t) => format!("{t}-debug"),
    };
    // Named after the image it extends: its layout ref `shop:1.0` (a bare tag names no
    // image), else the title our builds give it, else the repository it was pulled from, else
    // the output file.
    let title = (image.manifests.first())
        .and_then(|m| m.manifest["annotations"]["org.opencontainers.image.title"].as_str());
    let usable = |n: &&str| crate::model::image_name_ok(n);
    let name = (image.ref_name.as_deref())
        .and_then(|r| r.rsplit_once(':').map(|(n, _)| n))
        .filter(usable)
        .or(title.filter(usable))
        .or(input.repository.as_deref().filter(usable))
        .map_or_else(|| output_name(destination), str::to_string);
    let tags = std::slice::from_ref(&tag);
    let docker = super::docker_image(&rewritten, &name, tags);
    let manifests = rewritten
        .into_iter()
        .map(|r| (r.descriptor, Some(r.platform)))
        .collect();
    let refs = destination.ref_names(&name, tags);
    let top = tagged_index(&layout, manifests, &refs, destination.kept(replace))?;
    output::finish(layout, &top, destination, docker.as_ref())?;
    Ok(format!("{name}:{tag}"))
}

/// The image name a debug output carries in archives: the output's file name without `.tar`
/// (`shop-debug.tar` → `shop-debug`), made a valid repository name.
fn output_name(destination: &Destination) -> String {
    let stem = destination
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".tar").to_lowercase())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if name.is_empty() {
        "debug".into()
    } else {
        name.to_string()
    }
}

/// Adds the busybox layer of the image's architecture and the settings that find it.
fn add_busybox(
    edit: &mut Edit<'_>,
    source: &Source<'_>,
    release: DebianRelease,
    layout: &LayoutWriter,
    epoch: u64,
) -> anyhow::Result<()> {
    let platform = edit.platform()?;
    let arch = Arch::from_platform(&platform.architecture, platform.variant.as_deref())
        .context("no Debian busybox for this image")?;
    let blob = busybox_layer(source, release, arch, layout, epoch)?;
    edit.append(&blob, "distroless debug: busybox")?;
    let c = &mut edit.config["config"];
    let mut env: Vec<String> = c["Env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    match env.iter_mut().find(|e| e.starts_with("PATH=")) {
        Some(p) => p.push_str(":/busybox"),
        None => env.push(format!("PATH={PATH}:/busybox")),
    }
    c["Env"] = json!(env);
    if c["Entrypoint"].is_null() {
        c["Entrypoint"] = json!(["/busybox/sh"]);
    }
    Ok(())
}

/// The layer of Debian's `busybox-static` for an architecture.
fn busybox_layer(
    source: &Source<'_>,
    release: DebianRelease,
    arch: Arch,
    layout: &LayoutWriter,
    epoch: u64,
) -> anyhow::Result<LayerBlob> {
    let universe = load_universe(source, release, arch)?;
    let bb = universe
        .get("busybox-static")
        .context("the suites have no busybox-static package")?;
    drop(universe);
    let debs = source.archive.fetch(&[&bb])?;
    let deb = debs
        .get(&bb.sha256)
        .context("busybox-static was not fetched")?;
    let mut tree = Tree::new(false, BTreeSet::default())?;
    rootfs::busybox::add_package(&mut tree, deb, &bb.name)?;
    let mut writer = LayerWriter::new(&layout.blobs(), Compression::Gzip, epoch)?;
    tree.write_layer(&mut writer)?;
    Ok(writer.finish()?)
}
