//! Plan → fetch → layers → image → output.
//!
//! Each tier (or package, with `--layering package`) becomes one layer. Layers are cached under
//! a key made of every input that shapes their bytes, so a warm rebuild only writes JSON, and a
//! child image reuses its parent's layer blobs byte for byte.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use debian::fetch::Expected;
use debian::index::Package;
use oci::image::{HistoryLayer, Platform, RuntimeConfig};
use oci::layer::Compression;
use oci::layout::LayoutWriter;
use oci_spec::image::MediaType;
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::app::AppSpec;
use crate::catalog::{Catalog, ImageRef};
pub use crate::layers::Layering;
use crate::layers::{LayerInputs, build_layer, has_glibc, units};
use crate::plan::{Plan, Source, plan};
use crate::platform::oci_platform;
use crate::prepare::{AppPrepared, app_units, apply_settings, auto_plan, prepare_app};
use crate::recipe::Recipe;
use crate::rootfs::{self, view::ImageView};
use crate::sbom::{self, SbomFormats};

/// Default `PATH` of every image.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything a build needs besides the package source.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub image: ImageRef,
    pub arches: Vec<String>,
    pub output: PathBuf,
    pub compression: Compression,
    pub layering: Layering,
    pub epoch: u64,
    /// Build even when the closure check finds missing libraries.
    pub allow_missing: bool,
    pub sbom: SbomFormats,
    /// Build exactly the packages of this lock instead of resolving.
    pub lock: Option<crate::lock::Lock>,
    /// An application recipe on top of the catalog image.
    pub app: Option<AppSpec>,
    /// Write a docker-archive instead of OCI.
    pub docker: bool,
    /// The application starts `from = "auto"`: its libraries are chosen by ELF analysis.
    pub auto: bool,
}

/// What a build produced.
#[derive(Debug, Clone, Serialize)]
pub struct BuildSummary {
    pub image: String,
    pub output: PathBuf,
    pub format: &'static str,
    pub index_digest: String,
    pub manifests: Vec<ManifestSummary>,
    pub sboms: Vec<std::path::PathBuf>,
    /// For `from = "auto"`: why every library file is in the image.
    pub explain: Vec<String>,
}

/// One architecture's manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestSummary {
    pub arch: String,
    pub digest: String,
    pub layers: usize,
    pub compressed_size: u64,
    pub packages: usize,
}

/// Fetches every `.deb` a plan needs, in parallel, into the cache.
pub fn fetch_debs(
    source: &Source<'_>,
    packages: &[&Package],
) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    // One verifying read of what the cache has, then downloads of the rest only.
    let present: Vec<Option<PathBuf>> = packages
        .par_iter()
        .map(|p| source.cache.verified(&p.sha256, p.size))
        .collect::<Result<_, _>>()?;
    let mut found = BTreeMap::new();
    let mut missing = Vec::new();
    for (p, path) in packages.iter().zip(present) {
        match path {
            Some(path) => {
                found.insert(p.sha256.clone(), path);
            }
            None => missing.push(*p),
        }
    }
    if missing.is_empty() {
        return Ok(found);
    }
    if source.offline {
        let names: Vec<String> = missing
            .iter()
            .map(|p| format!("{} {}", p.name, p.version))
            .collect();
        bail!("offline: not in the cache: {}", names.join(", "));
    }
    source
        .reporter
        .start("fetching packages", missing.iter().map(|p| p.size).sum());
    let result: anyhow::Result<Vec<(String, PathBuf)>> = missing
        .par_iter()
        .with_max_len(1)
        .map(|p| {
            let url = Url::parse(&p.mirror)?.join(&p.filename)?;
            let want = Expected {
                url,
                name: &p.filename,
                size: p.size,
                sha256: &p.sha256,
            };
            let path = source
                .cache
                .download(&source.fetcher, &want, source.reporter)?;
            Ok((p.sha256.clone(), path))
        })
        .collect();
    source.reporter.finish();
    found.extend(result?);
    Ok(found)
}

/// The `.deb` files of one image, fetched (and hash-checked) only when first needed: a warm
/// build whose layers and SBOM facts are all cached reads no package at all.
pub struct Debs<'a> {
    source: &'a Source<'a>,
    wanted: Vec<&'a Package>,
    /// Added to a "not found" error: why a file may have vanished (locked builds).
    vanished_hint: Option<String>,
    fetched: std::sync::OnceLock<BTreeMap<String, PathBuf>>,
}

impl<'a> Debs<'a> {
    /// The packages an image may need.
    pub fn new(
        source: &'a Source<'a>,
        wanted: Vec<&'a Package>,
        vanished_hint: Option<String>,
    ) -> Self {
        Debs {
            source,
            wanted,
            vanished_hint,
            fetched: std::sync::OnceLock::new(),
        }
    }

    /// The cached `.deb` of a package; the first call fetches every wanted package in parallel.
    pub fn path(&self, p: &Package) -> anyhow::Result<PathBuf> {
        if self.fetched.get().is_none() {
            let map = fetch_debs(self.source, &self.wanted).map_err(|e| {
                let vanished = e
                    .downcast_ref::<debian::Error>()
                    .is_some_and(|d| matches!(d, debian::Error::NotFound { .. }));
                match &self.vanished_hint {
                    Some(hint) if vanished => e.context(hint.clone()),
                    _ => e,
                }
            })?;
            let _ = self.fetched.set(map);
        }
        self.fetched
            .get()
            .and_then(|m| m.get(&p.sha256))
            .cloned()
            .with_context(|| format!("{} {} is not among the image's packages", p.name, p.version))
    }
}

/// The runtime config of a catalog image variant.
pub fn runtime_config(image: &ImageRef, chain: &[&Recipe]) -> anyhow::Result<RuntimeConfig> {
    let mut path = PATH.to_string();
    let mut entrypoint = chain.iter().rev().find_map(|r| r.entrypoint.clone());
    let cmd = chain.iter().rev().find_map(|r| r.cmd.clone());
    if image.variant.debug {
        path.push_str(":/busybox");
        if entrypoint.is_none() {
            entrypoint = Some(vec!["/busybox/sh".to_string()]);
        }
    }
    let mut env = vec![
        format!("PATH={path}"),
        "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt".to_string(),
    ];
    for r in chain {
        for (k, v) in &r.env {
            env.retain(|e| !e.starts_with(&format!("{k}=")));
            env.push(format!("{k}={v}"));
        }
    }
    let (user, working_dir) = if image.variant.nonroot {
        (Some("65532".to_string()), Some("/home/nonroot".to_string()))
    } else {
        (Some("0".to_string()), Some("/".to_string()))
    };
    Ok(RuntimeConfig {
        env,
        user,
        working_dir,
        entrypoint,
        cmd,
        ..RuntimeConfig::default()
    })
}

/// The chain of recipes of a build: the catalog chain, then the application recipe.
pub fn full_chain(catalog: &Catalog, opts: &BuildOptions) -> anyhow::Result<Vec<Recipe>> {
    chain_with_app(catalog, &opts.image.name, opts.app.as_ref())
}

/// A catalog image's chain of recipes, then the application recipe as the tier named `app`
/// (its packages, env, entrypoint and cmd; the rest is applied after the layers).
pub fn chain_with_app(
    catalog: &Catalog,
    base: &str,
    app: Option<&AppSpec>,
) -> anyhow::Result<Vec<Recipe>> {
    let mut chain: Vec<Recipe> = catalog.chain(base)?.into_iter().cloned().collect();
    if let Some(app) = app {
        let mut r = app.recipe.clone();
        r.name = "app".into();
        r.from = Some(base.to_string());
        chain.push(r);
    }
    Ok(chain)
}

/// Builds one architecture's image into the layout; returns the manifest descriptor.
fn build_arch(
    source: &Source<'_>,
    catalog: &Catalog,
    opts: &BuildOptions,
    plan: &Plan,
    layout: &LayoutWriter,
    app: Option<&AppPrepared>,
) -> anyhow::Result<ArchOutput> {
    let mut wanted: Vec<&Package> = plan
        .tiers
        .iter()
        .flat_map(|t| t.packages.iter().chain(t.partial.iter().map(|(p, _)| p)))
        .collect();
    wanted.push(&plan.ca_certificates);
    if opts.image.variant.debug {
        wanted.push(
            plan.busybox
                .as_ref()
                .context("the suites have no busybox-static package")?,
        );
    }
    let hint = opts.lock.as_ref().map(|_| {
        format!(
            "a locked version is no longer on the mirror; build from a snapshot mirror of the \
             Debian archive as of {} with --mirror URL (and --security-mirror URL)",
            plan.release_date
        )
    });
    let debs = Debs::new(source, wanted, hint);
    let inputs = LayerInputs {
        plan,
        debs: &debs,
        merged_usr: opts.image.release.merged_usr(),
        release: (opts.image.release.number, opts.image.release.codename),
        compression: opts.compression,
        epoch: opts.epoch,
    };
    let owned = full_chain(catalog, opts)?;
    let chain: Vec<&Recipe> = owned.iter().collect();
    let mut view = ImageView::default();
    let mut below: Vec<String> = Vec::new();
    let mut layers = Vec::new();
    let mut all_units = units(plan, &chain, opts.layering, opts.image.variant.debug);
    if let Some(app) = app {
        let base_certs = || rootfs::cacerts::certs_from_deb(&debs.path(&plan.ca_certificates)?);
        let java = chain.iter().any(|c| c.java_trust_store);
        all_units.extend(app_units(app, &base_certs, java, opts.epoch)?);
    }
    for unit in all_units {
        let Some(built) = build_layer(&inputs, &source.cache, layout, &unit, &view, &below)
            .with_context(|| format!("building layer `{}`", unit.label))?
        else {
            continue;
        };
        view.push(&built.index);
        below.push(built.blob.diff_id.clone());
        layers.push(HistoryLayer {
            blob: built.blob,
            created_by: unit.label,
        });
    }
    check_closure(&view, &plan.arch, opts.allow_missing, source.reporter)?;
    let platform: Platform = oci_platform(&plan.arch)?;
    let runtime = runtime_config(&opts.image, &chain)?;
    let config = oci::image::config(&platform, &runtime, &layers, opts.epoch)?;
    let mut config = serde_json::to_value(&config)?;
    if let Some(app) = app {
        apply_settings(app, &mut config, &view)?;
    }
    let config_desc = layout.json_blob(MediaType::ImageConfig, &config)?;
    let config_desc_digest = config_desc.digest().to_string();
    let mut annotations = manifest_annotations(opts, plan, catalog)?;
    if let Some(app) = app {
        annotations.extend(app.spec.recipe.annotations.clone());
    }
    let manifest = oci::image::manifest(config_desc, &layers, &annotations)?;
    let desc = layout.json_blob(MediaType::ImageManifest, &manifest)?;
    let summary = ManifestSummary {
        arch: plan.arch.clone(),
        digest: desc.digest().to_string(),
        layers: layers.len(),
        compressed_size: layers.iter().map(|l| l.blob.size).sum(),
        packages: plan.tiers.iter().map(|t| t.packages.len()).sum(),
    };
    let sboms = sboms(source, opts, plan, &debs, &summary.digest)?;
    let parts = (
        config_desc_digest,
        layers.iter().map(|l| l.blob.digest.clone()).collect(),
    );
    Ok((desc, summary, sboms, parts))
}

/// What one architecture's build produced: its manifest, summary, SBOMs, and the config and
/// layer digests a docker-archive lists.
type ArchOutput = (
    oci_spec::image::Descriptor,
    ManifestSummary,
    Vec<Sbom>,
    (String, Vec<String>),
);

/// One SBOM document to write next to the output.
pub struct Sbom {
    /// File name suffix: `spdx.json` or `cdx.json`, with the arch in multi-arch builds.
    pub kind: &'static str,
    pub arch: String,
    pub bytes: Vec<u8>,
}

fn sboms(
    source: &Source<'_>,
    opts: &BuildOptions,
    plan: &Plan,
    debs: &Debs<'_>,
    manifest_digest: &str,
) -> anyhow::Result<Vec<Sbom>> {
    if opts.sbom == SbomFormats::None {
        return Ok(Vec::new());
    }
    let subject = sbom::Subject {
        image: &plan.image,
        arch: &plan.arch,
        release: plan.release,
        manifest_digest,
        created: oci::image::rfc3339(opts.epoch),
        entries: sbom::entries(plan, &source.cache, debs, opts.image.variant.debug)?,
    };
    let mut out = Vec::new();
    if matches!(opts.sbom, SbomFormats::Spdx | SbomFormats::Both) {
        out.push(Sbom {
            kind: "spdx.json",
            arch: plan.arch.clone(),
            bytes: serde_json::to_vec_pretty(&sbom::spdx(&subject))?,
        });
    }
    if matches!(opts.sbom, SbomFormats::CycloneDx | SbomFormats::Both) {
        out.push(Sbom {
            kind: "cdx.json",
            arch: plan.arch.clone(),
            bytes: serde_json::to_vec_pretty(&sbom::cyclonedx(&subject))?,
        });
    }
    Ok(out)
}

/// Where an SBOM lands: `OUT.spdx.json`, or `OUT.ARCH.spdx.json` for several architectures.
pub fn sbom_path(output: &Path, arch: &str, kind: &str, multi: bool) -> std::path::PathBuf {
    let base = output.to_string_lossy();
    let base = base
        .strip_suffix(".tar")
        .unwrap_or(&base)
        .trim_end_matches('/');
    if multi {
        std::path::PathBuf::from(format!("{base}.{arch}.{kind}"))
    } else {
        std::path::PathBuf::from(format!("{base}.{kind}"))
    }
}

fn manifest_annotations(
    opts: &BuildOptions,
    plan: &Plan,
    catalog: &Catalog,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut a = BTreeMap::new();
    let image = &opts.image;
    a.insert("org.opencontainers.image.title".into(), image.canonical());
    a.insert(
        "org.opencontainers.image.version".into(),
        plan.debian_version.clone(),
    );
    a.insert(
        "org.opencontainers.image.created".into(),
        oci::image::rfc3339(opts.epoch),
    );
    let recipe = catalog
        .get(&image.name)
        .context("image vanished from the catalog")?;
    if let Some(app) = &opts.app {
        // An application image: named after the recipe, based on the catalog image.
        a.insert(
            "org.opencontainers.image.title".into(),
            app.recipe.name.clone(),
        );
        a.insert(
            "org.opencontainers.image.base.name".into(),
            image.canonical(),
        );
        if !app.recipe.description.is_empty() {
            a.insert(
                "org.opencontainers.image.description".into(),
                app.recipe.description.clone(),
            );
        }
    } else {
        if !recipe.description.is_empty() {
            a.insert(
                "org.opencontainers.image.description".into(),
                recipe.description.clone(),
            );
        }
        if let Some(parent) = &recipe.from {
            a.insert(
                "org.opencontainers.image.base.name".into(),
                format!(
                    "{parent}-debian{}:{}",
                    image.release.number,
                    image.variant.tag()
                ),
            );
        }
    }
    a.insert("org.debian.release.date".into(), plan.release_date.clone());
    Ok(a)
}

/// Fails (or, with `allow_missing`, warns) when an ELF file needs a library the image lacks.
fn check_closure(
    view: &ImageView,
    arch: &str,
    allow_missing: bool,
    reporter: &dyn debian::fetch::Reporter,
) -> anyhow::Result<()> {
    let entries = if has_glibc(view) {
        rootfs::ldcache::entries(view, arch)
    } else {
        Vec::new()
    };
    let missing = rootfs::closure::check(view, &entries, arch);
    if missing.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
    if allow_missing {
        for m in &list {
            reporter.warn(m);
        }
        return Ok(());
    }
    bail!(
        "closure check: {} (use --allow-missing to build anyway)",
        list.join("; ")
    )
}

/// Builds an image for every requested architecture and writes the output atomically.
pub fn build(
    source: &Source<'_>,
    catalog: &Catalog,
    opts: &BuildOptions,
) -> anyhow::Result<BuildSummary> {
    let owned = full_chain(catalog, opts)?;
    let chain: Vec<&Recipe> = owned.iter().collect();
    let app = opts.app.as_ref().map(prepare_app).transpose()?;
    check_output(&opts.output, opts.docker)?;
    let layout = LayoutWriter::new(&opts.output)?;
    let mut manifests = Vec::new();
    let mut summaries = Vec::new();
    let mut sbom_docs = Vec::new();
    let mut docker_parts = Vec::new();
    let mut explain = Vec::new();
    for arch in &opts.arches {
        let p = match &opts.lock {
            Some(lock) => lock
                .find(&opts.image.name, opts.image.release.number, arch)
                .with_context(|| {
                    format!(
                        "{} for {arch} is not in the lock file; run `distroless lock {}-debian{} --arch {arch}`",
                        opts.image.canonical(),
                        opts.image.name,
                        opts.image.release.number
                    )
                })?
                .to_plan(&opts.image, &source.mirrors),
            None => plan(source, &chain, &opts.image, arch)
                .with_context(|| format!("{} for {arch}", opts.image.canonical()))?,
        };
        let p = if opts.auto {
            let (p, lines) = auto_plan(source, opts, p, app.as_ref(), arch)?;
            explain.extend(lines);
            p
        } else {
            p
        };
        let (desc, summary, docs, parts) =
            build_arch(source, catalog, opts, &p, &layout, app.as_ref())
                .with_context(|| format!("{} for {arch}", opts.image.canonical()))?;
        manifests.push((desc, Some(oci_platform(arch)?)));
        sbom_docs.extend(docs);
        docker_parts.push(parts);
        summaries.push(summary);
    }
    let tags: Vec<String> = match opts.app.as_ref().map(|a| a.recipe.tags.clone()) {
        Some(t) if !t.is_empty() => t,
        // An application image is `latest` whatever variant it starts from.
        Some(_) => vec!["latest".to_string()],
        None => vec![opts.image.variant.tag().to_string()],
    };
    let top = tagged_index(&layout, manifests, &tags)?;
    let index_digest = index_digest(&top)?;
    let archive = is_archive(&opts.output) || opts.docker;
    if opts.docker {
        anyhow::ensure!(
            docker_parts.len() == 1,
            "a docker-archive holds one architecture; build one --arch at a time"
        );
        let (config, layer_digests) = &docker_parts[0];
        let name = opts.app.as_ref().map_or_else(
            || {
                format!(
                    "distroless/{}-debian{}",
                    opts.image.name, opts.image.release.number
                )
            },
            |a| a.recipe.name.clone(),
        );
        let repo_tags: Vec<String> = tags.iter().map(|t| format!("{name}:{t}")).collect();
        layout.finish_docker_archive(&opts.output, config, layer_digests, &repo_tags)?;
    } else {
        finish(layout, &top, &opts.output)?;
    }
    let multi = opts.arches.len() > 1;
    let mut sbom_files = Vec::new();
    for doc in &sbom_docs {
        let path = sbom_path(&opts.output, &doc.arch, doc.kind, multi);
        debian::fetch::write_atomic(&path, &doc.bytes)?;
        sbom_files.push(path);
    }
    Ok(BuildSummary {
        image: opts.image.canonical(),
        output: opts.output.clone(),
        format: if opts.docker {
            "docker-archive"
        } else if archive {
            "oci-archive"
        } else {
            "oci"
        },
        index_digest,
        manifests: summaries,
        sboms: sbom_files,
        explain,
    })
}

/// The top `index.json`: one entry per tag, all pointing at the one manifest, or at an image
/// index over the per-architecture manifests.
pub fn tagged_index(
    layout: &LayoutWriter,
    mut manifests: Vec<(oci_spec::image::Descriptor, Option<Platform>)>,
    tags: &[String],
) -> anyhow::Result<oci_spec::image::ImageIndex> {
    let (desc, platform) = if manifests.len() == 1 {
        manifests.remove(0)
    } else {
        let inner = oci::image::index(manifests, &BTreeMap::new())?;
        (layout.json_blob(MediaType::ImageIndex, &inner)?, None)
    };
    let entries = tags
        .iter()
        .map(|tag| {
            let mut d = desc.clone();
            let ref_name = [("org.opencontainers.image.ref.name".to_string(), tag.clone())];
            d.set_annotations(Some(ref_name.into_iter().collect()));
            (d, platform.clone())
        })
        .collect();
    Ok(oci::image::index(entries, &BTreeMap::new())?)
}

/// `sha256:…` of an index as written.
pub fn index_digest(index: &oci_spec::image::ImageIndex) -> anyhow::Result<String> {
    Ok(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(oci::image::canonical_json(index)?))
    ))
}

/// Moves a finished layout into place: an oci-archive for `*.tar`, a directory otherwise.
pub fn finish(
    layout: LayoutWriter,
    top: &oci_spec::image::ImageIndex,
    output: &Path,
) -> anyhow::Result<&'static str> {
    if is_archive(output) {
        layout.finish_archive(top, output)?;
        Ok("oci-archive")
    } else {
        layout.finish_dir(top, output)?;
        Ok("oci")
    }
}

/// Refuses early, before any download, an output that could not be replaced safely.
fn check_output(out: &Path, docker: bool) -> anyhow::Result<()> {
    let Ok(meta) = fs_err::symlink_metadata(out) else {
        return Ok(());
    };
    if is_archive(out) || docker {
        if meta.is_dir() {
            bail!(
                "{}: is a directory; an oci-archive output must be a file",
                out.display()
            );
        }
    } else if !meta.is_dir() {
        bail!(
            "{}: exists and is not a directory (an OCI layout output is a directory; end the name in .tar for an oci-archive)",
            out.display()
        );
    } else if !out.join("oci-layout").exists() && fs_err::read_dir(out)?.next().is_some() {
        bail!(
            "{}: exists, is not empty and is not an OCI layout; refusing to replace it",
            out.display()
        );
    }
    Ok(())
}

/// Whether an output path names an oci-archive file rather than a layout directory.
pub fn is_archive(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "tar")
}
