//! Plan → fetch → layers → image → output.
//!
//! Each tier (or package, with `--layering package`) becomes one layer. Layers are cached under
//! a key made of every input that shapes their bytes, so a warm rebuild only writes JSON, and a
//! child image reuses its parent's layer blobs byte for byte.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use debian::fetch::{Cache, Expected};
use debian::index::Package;
use oci::image::{HistoryLayer, Platform, RuntimeConfig};
use oci::layer::{Compression, LayerBlob, LayerWriter};
use oci::layout::LayoutWriter;
use oci_spec::image::MediaType;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::catalog::{Catalog, ImageRef};
use crate::plan::{Plan, Source, plan};
use crate::platform::oci_platform;
use crate::rootfs::{self, Tree};

/// Bump when the bytes a layer is made of change for the same inputs.
const LAYER_VERSION: u32 = 1;

/// Default `PATH` of every image.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// How packages are grouped into layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layering {
    /// One layer per tier: static, then what base adds, then what cc adds.
    #[default]
    Tier,
    /// One layer per package.
    Package,
}

/// Everything a build needs besides the package source.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub image: ImageRef,
    pub arches: Vec<String>,
    pub output: PathBuf,
    pub compression: Compression,
    pub layering: Layering,
    pub epoch: u64,
}

/// What a build produced.
#[derive(Debug, Clone, Serialize)]
pub struct BuildSummary {
    pub image: String,
    pub output: PathBuf,
    pub format: &'static str,
    pub index_digest: String,
    pub manifests: Vec<ManifestSummary>,
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

/// One layer to build: its label, packages, and generated content.
struct Unit {
    label: String,
    packages: Vec<Package>,
    skeleton: bool,
    busybox: bool,
}

#[derive(Serialize, Deserialize)]
struct CachedLayer {
    digest: String,
    size: u64,
    diff_id: String,
    media_type: String,
    symlinks: BTreeSet<String>,
}

/// Fetches every `.deb` a plan needs, in parallel, into the cache.
pub fn fetch_debs(
    source: &Source<'_>,
    packages: &[&Package],
) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let total: u64 = packages.iter().map(|p| p.size).sum();
    let mut missing = Vec::new();
    for p in packages {
        if source.cache.verified(&p.sha256, p.size)?.is_none() {
            missing.push(format!("{} {}", p.name, p.version));
        }
    }
    if source.offline && !missing.is_empty() {
        bail!("offline: not in the cache: {}", missing.join(", "));
    }
    source.reporter.start("fetching packages", total);
    let result: anyhow::Result<Vec<(String, PathBuf)>> = packages
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
                .ensure(&source.fetcher, &want, source.reporter)?;
            Ok((p.sha256.clone(), path))
        })
        .collect();
    source.reporter.finish();
    Ok(result?.into_iter().collect())
}

fn units(plan: &Plan, layering: Layering, debug: bool) -> Vec<Unit> {
    let mut out = Vec::new();
    for (i, tier) in plan.tiers.iter().enumerate() {
        match layering {
            Layering::Tier => out.push(Unit {
                label: format!("distroless {} tier: {}", tier.name, names(&tier.packages)),
                packages: tier.packages.clone(),
                skeleton: i == 0,
                busybox: false,
            }),
            Layering::Package => {
                if i == 0 {
                    out.push(Unit {
                        label: "distroless skeleton: accounts, os-release, CA bundle".into(),
                        packages: vec![],
                        skeleton: true,
                        busybox: false,
                    });
                }
                for p in &tier.packages {
                    out.push(Unit {
                        label: format!("distroless package: {} {}", p.name, p.version),
                        packages: vec![p.clone()],
                        skeleton: false,
                        busybox: false,
                    });
                }
            }
        }
    }
    if debug {
        out.push(Unit {
            label: "distroless debug: busybox".into(),
            packages: vec![],
            skeleton: false,
            busybox: true,
        });
    }
    out
}

fn names(packages: &[Package]) -> String {
    packages
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

struct LayerInputs<'a> {
    plan: &'a Plan,
    debs: &'a BTreeMap<String, PathBuf>,
    merged_usr: bool,
    release: (u32, &'a str),
    compression: Compression,
    epoch: u64,
}

fn layer_key(inputs: &LayerInputs<'_>, unit: &Unit, below: &BTreeSet<String>) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "v{LAYER_VERSION} {:?} {} {} {:?}\n",
        inputs.compression, inputs.epoch, inputs.merged_usr, inputs.release
    ));
    for s in below {
        h.update(format!("below {s}\n"));
    }
    for p in &unit.packages {
        h.update(format!("pkg {} {}\n", p.name, p.sha256));
    }
    if unit.skeleton {
        h.update(format!(
            "skeleton ca {}\n",
            inputs.plan.ca_certificates.sha256
        ));
    }
    if unit.busybox {
        let sha = inputs
            .plan
            .busybox
            .as_ref()
            .map_or("", |b| b.sha256.as_str());
        h.update(format!("busybox {sha}\n"));
    }
    hex::encode(h.finalize())
}

/// Builds (or takes from the cache) one layer; returns it and the symlinks below the next.
fn build_layer(
    inputs: &LayerInputs<'_>,
    cache: &Cache,
    layout: &LayoutWriter,
    unit: &Unit,
    below: BTreeSet<String>,
) -> anyhow::Result<(LayerBlob, BTreeSet<String>)> {
    let key = layer_key(inputs, unit, &below);
    let entry_path = cache.root().join("layers").join(format!("{key}.json"));
    let cached = fs_err::read(&entry_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<CachedLayer>(&bytes).ok());
    if let Some(c) = cached {
        {
            let hex = c.digest.trim_start_matches("sha256:").to_string();
            if let Some(path) = cache.verified(&hex, c.size)? {
                layout.import_blob(&hex, &path)?;
                return Ok((
                    LayerBlob {
                        digest: c.digest,
                        size: c.size,
                        diff_id: c.diff_id,
                        media_type: c.media_type,
                    },
                    c.symlinks,
                ));
            }
        }
    }
    let mut tree = Tree::new(inputs.merged_usr, below)?;
    for p in &unit.packages {
        let deb = &inputs.debs[&p.sha256];
        let control = debian::deb::read_control(deb, &p.name)?;
        let placed = tree.add_deb(deb, &p.name)?;
        rootfs::dpkg::add_records(&mut tree, &p.name, &control, &placed)?;
    }
    if unit.skeleton {
        rootfs::skeleton::add(&mut tree, inputs.release.0, inputs.release.1)?;
        let ca = &inputs.debs[&inputs.plan.ca_certificates.sha256];
        let bundle = rootfs::cacerts::bundle_from_deb(ca)?;
        tree.put_file(
            rootfs::cacerts::BUNDLE,
            bundle,
            oci::layer::Meta::root(0o644),
        )?;
    }
    if unit.busybox {
        let bb = inputs
            .plan
            .busybox
            .as_ref()
            .context("the suites have no busybox-static package")?;
        let binary = rootfs::busybox::binary_from_deb(&inputs.debs[&bb.sha256])?;
        rootfs::busybox::add(&mut tree, binary)?;
    }
    tree.add_merge_links()?;
    let mut writer = LayerWriter::new(&layout.blobs(), inputs.compression, inputs.epoch)?;
    tree.write_layer(&mut writer)?;
    let blob = writer.finish()?;
    let symlinks = tree.all_symlinks();
    let hex = blob.digest.trim_start_matches("sha256:");
    let cached_blob = cache.path_of(hex);
    if !cached_blob.exists() {
        let _ = fs_err::hard_link(layout.blobs().join(hex), &cached_blob)
            .or_else(|_| fs_err::copy(layout.blobs().join(hex), &cached_blob).map(|_| ()));
    }
    let entry = CachedLayer {
        digest: blob.digest.clone(),
        size: blob.size,
        diff_id: blob.diff_id.clone(),
        media_type: blob.media_type.clone(),
        symlinks: symlinks.clone(),
    };
    fs_err::create_dir_all(entry_path.parent().context("no parent")?)?;
    let mut tmp = tempfile::NamedTempFile::new_in(cache.root().join("layers"))?;
    std::io::Write::write_all(&mut tmp, &serde_json::to_vec(&entry)?)?;
    tmp.persist(&entry_path).map_err(|e| e.error)?;
    Ok((blob, symlinks))
}

/// The runtime config of a catalog image variant.
pub fn runtime_config(image: &ImageRef, catalog: &Catalog) -> anyhow::Result<RuntimeConfig> {
    let chain = catalog.chain(&image.name)?;
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
    for r in &chain {
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
        labels: BTreeMap::new(),
    })
}

/// Builds one architecture's image into the layout; returns the manifest descriptor.
fn build_arch(
    source: &Source<'_>,
    catalog: &Catalog,
    opts: &BuildOptions,
    plan: &Plan,
    layout: &LayoutWriter,
) -> anyhow::Result<(oci_spec::image::Descriptor, ManifestSummary)> {
    let mut wanted: Vec<&Package> = plan.tiers.iter().flat_map(|t| t.packages.iter()).collect();
    wanted.push(&plan.ca_certificates);
    if opts.image.variant.debug {
        wanted.push(
            plan.busybox
                .as_ref()
                .context("the suites have no busybox-static package")?,
        );
    }
    let debs = fetch_debs(source, &wanted)?;
    let inputs = LayerInputs {
        plan,
        debs: &debs,
        merged_usr: opts.image.release.merged_usr(),
        release: (opts.image.release.number, opts.image.release.codename),
        compression: opts.compression,
        epoch: opts.epoch,
    };
    let mut below = BTreeSet::new();
    let mut layers = Vec::new();
    for unit in units(plan, opts.layering, opts.image.variant.debug) {
        let (blob, symlinks) = build_layer(&inputs, &source.cache, layout, &unit, below)
            .with_context(|| format!("building layer `{}`", unit.label))?;
        below = symlinks;
        layers.push(HistoryLayer {
            blob,
            created_by: unit.label,
        });
    }
    let platform: Platform = oci_platform(&plan.arch)?;
    let runtime = runtime_config(&opts.image, catalog)?;
    let config = oci::image::config(&platform, &runtime, &layers, opts.epoch)?;
    let config_desc = layout.json_blob(MediaType::ImageConfig, &config)?;
    let annotations = manifest_annotations(opts, plan, catalog)?;
    let manifest = oci::image::manifest(config_desc, &layers, &annotations)?;
    let desc = layout.json_blob(MediaType::ImageManifest, &manifest)?;
    let summary = ManifestSummary {
        arch: plan.arch.clone(),
        digest: desc.digest().to_string(),
        layers: layers.len(),
        compressed_size: layers.iter().map(|l| l.blob.size).sum(),
        packages: plan.tiers.iter().map(|t| t.packages.len()).sum(),
    };
    Ok((desc, summary))
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
    a.insert("org.debian.release.date".into(), plan.release_date.clone());
    Ok(a)
}

/// Builds an image for every requested architecture and writes the output atomically.
pub fn build(
    source: &Source<'_>,
    catalog: &Catalog,
    opts: &BuildOptions,
) -> anyhow::Result<BuildSummary> {
    let chain = catalog.chain(&opts.image.name)?;
    check_output(&opts.output)?;
    let layout = LayoutWriter::new(&opts.output)?;
    let mut manifests = Vec::new();
    let mut summaries = Vec::new();
    for arch in &opts.arches {
        let p = plan(source, &chain, &opts.image, arch)
            .with_context(|| format!("{} for {arch}", opts.image.canonical()))?;
        let (desc, summary) = build_arch(source, catalog, opts, &p, &layout)
            .with_context(|| format!("{} for {arch}", opts.image.canonical()))?;
        manifests.push((desc, Some(oci_platform(arch)?)));
        summaries.push(summary);
    }
    let tag = opts.image.variant.tag().to_string();
    let ref_name = BTreeMap::from([("org.opencontainers.image.ref.name".to_string(), tag)]);
    let top = if manifests.len() == 1 {
        let (mut desc, platform) = manifests.remove(0);
        desc.set_annotations(Some(ref_name.into_iter().collect()));
        oci::image::index(vec![(desc, platform)], &BTreeMap::new())?
    } else {
        let inner = oci::image::index(manifests, &BTreeMap::new())?;
        let mut desc = layout.json_blob(MediaType::ImageIndex, &inner)?;
        desc.set_annotations(Some(ref_name.into_iter().collect()));
        oci::image::index(vec![(desc, None)], &BTreeMap::new())?
    };
    let index_digest = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(oci::image::canonical_json(&top)?))
    );
    let archive = is_archive(&opts.output);
    if archive {
        layout.finish_archive(&top, &opts.output)?;
    } else {
        layout.finish_dir(&top, &opts.output)?;
    }
    Ok(BuildSummary {
        image: opts.image.canonical(),
        output: opts.output.clone(),
        format: if archive { "oci-archive" } else { "oci" },
        index_digest,
        manifests: summaries,
    })
}

/// Refuses early, before any download, an output that could not be replaced safely.
fn check_output(out: &Path) -> anyhow::Result<()> {
    let Ok(meta) = fs_err::symlink_metadata(out) else {
        return Ok(());
    };
    if is_archive(out) {
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
