//! Application images on top of an image that is not ours: an OCI layout directory, an
//! oci-archive or a docker-archive (`from = "./base"`).
//!
//! The base's layers are copied as they are (same digests); its config is the starting point.
//! Its file system is indexed by reading the layer tars once (paths, symlinks, `/etc/passwd`,
//! `/etc/group`, the CA bundle), so owners, the user and the entrypoint are checked against
//! what the base really holds. Debian packages cannot be added to a foreign base: nothing says
//! which release its libraries come from.

use oci::layer::Compression;
use oci::layout::LayoutWriter;
use oci::read::ForeignImage;
use serde_json::{Value, json};

use super::Edit;
use crate::app::prepare::copied_files;
use crate::app::{Accounts, AppSpec, app_units, machine, prepare_app_with, settings};
use crate::attest::provenance;
use crate::finish::{Finish, Record};
use crate::image::assemble::ArchImage;
use crate::model::Arch;
use crate::model::DiskImage;
use crate::output::{BuildSummary, ManifestSummary};
use crate::report::Reporter;
use crate::request::BuildRequest;
use crate::sbom::CopiedFile;

/// Builds an application image on a foreign base.
pub fn build(
    spec: &AppSpec,
    base: &DiskImage,
    req: &BuildRequest,
    arches: Option<&[Arch]>,
    reporter: &dyn Reporter,
) -> anyhow::Result<BuildSummary> {
    if !spec.recipe.archives.is_empty() || !spec.recipe.repositories.is_empty() {
        return Err(spec.error(
            None,
            if spec.recipe.archives.is_empty() { "repositories" } else { "archives" },
            "archives and repositories need a catalog base (`from = \"cc-debian13\"`), not an image we did not build (from disk or a registry: nothing says which Debian release its libraries come from)",
        ));
    }
    if !spec.recipe.debs.is_empty() {
        return Err(spec.error(
            None,
            "debs",
            "local .deb files are installed with their dependencies from Debian: they need a catalog base (`from = \"cc-debian13\"`), not an image we did not build (from disk or a registry: nothing says which Debian release its libraries come from)",
        ));
    }
    if !spec.recipe.packages.is_empty() {
        return Err(spec.error(
            None,
            "packages",
            "Debian packages need a catalog base (`from = \"cc-debian13\"`), not an image we did not build (from disk or a registry: nothing says which Debian release its libraries come from)",
        ));
    }
    let started = std::time::SystemTime::now();
    let mut image = ForeignImage::open(&base.path, base.tag.as_deref())
        .map_err(|e| spec.error(None, "from", e))?;
    let base_material = base_material(&image, base);
    match arches {
        Some(wanted) => keep_platforms(&mut image, wanted, &base.shown)?,
        // As for a catalog base: the host's platform by default, when the base has it and
        // others (every platform with --all-arches; a base of one platform is that one).
        None if req.target.arches == crate::request::Arches::Default(Arch::host())
            && image.manifests.len() > 1
            && image
                .manifests
                .iter()
                .any(|m| arch_of(m) == Some(Arch::host())) =>
        {
            keep_platforms(&mut image, &[Arch::host()], &base.shown)?;
        }
        None => {}
    }
    let (layout, _scratch) = crate::finish::staging(req)?;
    let mut copied = Vec::new();
    let rewritten = super::rewrite(&image, &layout, req.options.epoch, |edit| {
        copied.push(add_app(
            edit,
            spec,
            base,
            &layout,
            (req.options.compression, req.options.epoch),
            reporter,
        )?);
        Ok(())
    })?;
    let built = rewritten
        .into_iter()
        .zip(copied)
        .map(|(r, files)| ArchImage {
            summary: ManifestSummary {
                arch: r.platform.architecture.clone(),
                digest: r.descriptor.digest().to_string(),
                layers: r.layers,
                compressed_size: r.size,
                packages: 0,
                partial_packages: Vec::new(),
                files,
            },
            manifest: r.descriptor,
            platform: r.platform,
            // Nothing says which packages a foreign base holds: SBOMs are for our images.
            sboms: Vec::new(),
            docker: r.docker,
        })
        .collect();
    let tags = req.target.tags(None);
    let finish = Finish {
        req,
        name: spec.recipe.name.clone(),
        shown: format!("{}:{}", spec.recipe.name, tags[0]),
        tags,
        base: Some(base.shown.clone()),
        record: Record {
            base: Some(base_material.name.clone()),
            materials: vec![base_material],
            started,
            explain: Vec::new(),
        },
    };
    crate::finish::finish(layout, built, finish)
}

/// The base image as a provenance input: its top digest (index, or its one manifest).
fn base_material(image: &ForeignImage, base: &DiskImage) -> provenance::Material {
    let digest = image
        .index_blob
        .as_ref()
        .or_else(|| {
            image
                .manifests
                .first()
                .and_then(|m| m.manifest_blob.as_ref())
        })
        .map(|b| b.digest.hex().to_string())
        .unwrap_or_default();
    provenance::Material {
        name: base.shown.clone(),
        uri: String::new(),
        sha256: digest,
        annotations: [("role".to_string(), "base image".to_string())].into(),
    }
}

/// The architecture of one of the base's images (its index entry's platform, else its config).
fn arch_of(m: &oci::read::ForeignManifest) -> Option<Arch> {
    let p = m.platform.as_ref();
    let architecture = p
        .and_then(|p| p["architecture"].as_str())
        .or_else(|| m.config["architecture"].as_str())
        .unwrap_or_default();
    let variant = p
        .and_then(|p| p["variant"].as_str())
        .or_else(|| m.config["variant"].as_str());
    Arch::from_platform(architecture, variant).ok()
}

/// Keeps the base's images of the architectures asked for (`--arch`, `arches`); every one
/// asked for must be there.
fn keep_platforms(image: &mut ForeignImage, wanted: &[Arch], shown: &str) -> anyhow::Result<()> {
    for a in wanted {
        anyhow::ensure!(
            image.manifests.iter().any(|m| arch_of(m) == Some(*a)),
            "{shown}: the base has no {a} image"
        );
    }
    image
        .manifests
        .retain(|m| arch_of(m).is_some_and(|a| wanted.contains(&a)));
    Ok(())
}

/// Adds the recipe's layers and settings to one manifest of the base.
fn add_app(
    edit: &mut Edit<'_>,
    spec: &AppSpec,
    base: &DiskImage,
    layout: &LayoutWriter,
    (compression, epoch): (Compression, u64),
    reporter: &dyn Reporter,
) -> anyhow::Result<Vec<CopiedFile>> {
    let (mut view, files) = super::index_layers(layout, edit.source)?;
    // Accounts: the base's, plus the recipe's.
    let accounts = Accounts {
        passwd: files.passwd.clone().unwrap_or_default(),
        group: files.group.clone().unwrap_or_default(),
    };
    let platform = edit.platform()?;
    let arch = Arch::from_platform(&platform.architecture, platform.variant.as_deref())?;
    let prepared = prepare_app_with(spec, spec.accounts_on(&accounts)?, arch)?;
    let base_bundle = files.bundle.clone().unwrap_or_default().into_bytes();
    let base_certs = || Ok(vec![("base bundle".to_string(), base_bundle.clone())]);
    for unit in app_units(&prepared, &base_certs, false, epoch)? {
        let (blob, index) =
            crate::layers::build_generated(&unit, &view, layout, compression, epoch)?;
        view.push(&index);
        edit.append(&blob, &unit.label)?;
    }
    for warning in machine::check(&prepared, &view, arch)? {
        reporter.warn(&warning);
    }
    settings::apply_settings(&prepared, &mut edit.config, &view)?;
    let mut annotations = edit.manifest["annotations"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    annotations.insert(
        "org.opencontainers.image.base.name".into(),
        json!(base.shown),
    );
    annotations.insert(
        "org.opencontainers.image.title".into(),
        json!(spec.recipe.name),
    );
    for (k, v) in &spec.recipe.annotations {
        annotations.insert(k.clone(), json!(v));
    }
    edit.manifest["annotations"] = Value::Object(annotations);
    copied_files(&prepared, &view)
}
