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
use crate::image::{index_digest, tagged_index};
use crate::model::Arch;
use crate::model::DiskImage;
use crate::output::{self, BuildSummary, ManifestSummary};
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
    let (destination, compression, epoch) = (&req.destination, req.compression, req.epoch);
    if !spec.recipe.archives.is_empty() || !spec.recipe.repositories.is_empty() {
        return Err(spec.error(
            None,
            if spec.recipe.archives.is_empty() { "repositories" } else { "archives" },
            "archives and repositories need a catalog base (`from = \"cc-debian13\"`), not an image on disk",
        ));
    }
    if !spec.recipe.debs.is_empty() {
        return Err(spec.error(
            None,
            "debs",
            "local .deb files are installed with their dependencies from Debian: they need a catalog base (`from = \"cc-debian13\"`), not an image on disk",
        ));
    }
    if !spec.recipe.packages.is_empty() {
        return Err(spec.error(
            None,
            "packages",
            "Debian packages need a catalog base (`from = \"cc-debian13\"`), not an image on disk",
        ));
    }
    let started = std::time::SystemTime::now();
    let mut image = ForeignImage::open(&base.path, base.tag.as_deref())
        .map_err(|e| spec.error(None, "from", e))?;
    let base_material = base_material(&image, base);
    if let Some(wanted) = arches {
        keep_platforms(&mut image, wanted, &base.shown)?;
    }
    destination.check()?;
    let layout = LayoutWriter::new(destination.path())?;
    let mut copied = Vec::new();
    let rewritten = super::rewrite(&image, &layout, epoch, |edit| {
        copied.push(add_app(
            edit,
            spec,
            base,
            &layout,
            (compression, epoch),
            reporter,
        )?);
        Ok(())
    })?;
    let summaries: Vec<ManifestSummary> = rewritten
        .iter()
        .zip(copied)
        .map(|(r, files)| ManifestSummary {
            arch: r.platform.architecture.clone(),
            digest: r.descriptor.digest().to_string(),
            layers: r.layers,
            compressed_size: r.size,
            packages: 0,
            partial_packages: Vec::new(),
            files,
        })
        .collect();
    let tags = if spec.recipe.tags.is_empty() {
        vec!["latest".to_string()]
    } else {
        spec.recipe.tags.clone()
    };
    let docker = super::docker_image(&rewritten, &spec.recipe.name, &tags);
    let manifests = rewritten
        .into_iter()
        .map(|r| (r.descriptor, Some(r.platform)))
        .collect();
    let refs = destination.ref_names(&spec.recipe.name, &tags);
    let top = tagged_index(&layout, manifests, &refs, destination.kept(req.replace))?;
    let index_digest = index_digest(&top)?;
    let top_digest = top
        .manifests()
        .first()
        .map(|d| d.digest().to_string())
        .unwrap_or_default();
    let provenance_path = destination.provenance_path();
    let statement = statement(spec, &base_material, req, &top_digest, &summaries, started);
    let staged = crate::files::stage(&provenance_path, &statement.to_json())?;
    output::finish(layout, &top, destination, docker.as_ref())?;
    staged.persist(&provenance_path)?;
    Ok(BuildSummary {
        image: format!("{}:{}", spec.recipe.name, tags[0]),
        base: Some(base.shown.clone()),
        output: destination.path().to_path_buf(),
        format: destination.format(),
        digest: top_digest,
        index_digest,
        manifests: summaries,
        sboms: Vec::new(),
        provenance: Some(provenance_path),
        explain: Vec::new(),
    })
}

/// The provenance of an application put on an image on disk: the base (by digest), the
/// recipe and the copied files.
fn statement(
    spec: &AppSpec,
    base: &provenance::Material,
    req: &BuildRequest,
    top: &str,
    summaries: &[ManifestSummary],
    started: std::time::SystemTime,
) -> sign::statement::Statement {
    let mut materials = vec![base.clone()];
    for s in summaries {
        materials.extend(provenance::from_files(&s.files));
    }
    let image = format!(
        "{}:{}",
        spec.recipe.name,
        spec.recipe.tags.first().map_or("latest", String::as_str)
    );
    let recipe_sha = provenance::sha256_hex(spec.text.as_bytes());
    provenance::statement(
        &provenance::Build {
            image: &image,
            top,
            manifests: summaries
                .iter()
                .map(|s| (s.arch.clone(), s.digest.clone()))
                .collect(),
            recipe: (!spec.text.is_empty()).then_some((spec.file.as_str(), recipe_sha.as_str())),
            base: Some(&base.name),
            request: req,
            started,
        },
        &materials,
        &[],
    )
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

/// Keeps the base's images of the architectures asked for (`--arch`, `arches`); every one
/// asked for must be there.
fn keep_platforms(image: &mut ForeignImage, wanted: &[Arch], shown: &str) -> anyhow::Result<()> {
    let arch_of = |m: &oci::read::ForeignManifest| {
        let p = m.platform.as_ref();
        let architecture = p
            .and_then(|p| p["architecture"].as_str())
            .or_else(|| m.config["architecture"].as_str())
            .unwrap_or_default();
        let variant = p
            .and_then(|p| p["variant"].as_str())
            .or_else(|| m.config["variant"].as_str());
        Arch::from_platform(architecture, variant).ok()
    };
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
    copied_files(&prepared)
}
