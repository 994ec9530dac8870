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

use crate::app::{self, AppSpec};
use crate::catalog::{Catalog, ImageRef};
pub use crate::layers::Layering;
use crate::layers::{GenEntry, LayerInputs, Unit, build_layer, has_glibc, units};
use crate::plan::{Plan, Source, plan};
use crate::platform::oci_platform;
use crate::recipe::Recipe;
use crate::rootfs::{self, view::ImageView};
use crate::sbom::{self, SbomFormats};
use oci::layer::Meta;

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

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| path.display().to_string())?;
    Ok(())
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
    let mut chain: Vec<Recipe> = catalog
        .chain(&opts.image.name)?
        .into_iter()
        .cloned()
        .collect();
    if let Some(app) = &opts.app {
        let mut r = app.recipe.clone();
        // The application tier: its packages, env, entrypoint and cmd; the rest is applied below.
        r.name = "app".into();
        r.from = Some(opts.image.name.clone());
        chain.push(r);
    }
    Ok(chain)
}

/// What an application recipe adds, prepared (and checked) before anything is fetched.
pub struct AppPrepared {
    pub spec: AppSpec,
    pub accounts: app::Accounts,
    pub copies: Vec<(String, Vec<GenEntry>)>,
    pub certs: Vec<(String, Vec<u8>)>,
    pub user: Option<String>,
}

/// Checks an application recipe against the host and the base's accounts.
pub fn prepare_app(spec: &AppSpec) -> anyhow::Result<AppPrepared> {
    prepare_app_with(spec, spec.accounts()?)
}

/// Like [`prepare_app`], with the image's accounts (a foreign base's, already extended).
pub fn prepare_app_with(spec: &AppSpec, accounts: app::Accounts) -> anyhow::Result<AppPrepared> {
    app::check_keys(spec)?;
    let mut copies = Vec::new();
    for (i, c) in spec.recipe.copy.iter().enumerate() {
        let entries = app::copy_entries(spec, i, c, &accounts)?;
        copies.push((format!("distroless copy: {} → {}", c.src, c.dest), entries));
    }
    let certs = app::extra_certificates(spec)?;
    let user = app::user_setting(spec, &accounts)?;
    if let Some(h) = &spec.recipe.healthcheck {
        for (key, value) in [
            ("interval", &h.interval),
            ("timeout", &h.timeout),
            ("start_period", &h.start_period),
        ] {
            if let Some(v) = value
                && app::duration_ns(v).is_none()
            {
                return Err(spec.error(
                    None,
                    key,
                    format!("{v:?} is not a duration like \"30s\" or \"1m30s\""),
                ));
            }
        }
        if h.test.is_empty() {
            return Err(spec.error(None, "test", "the health check needs a test command"));
        }
    }
    for p in &spec.recipe.exposed_ports {
        if normalise_port(p).is_none() {
            return Err(spec.error(
                None,
                "exposed_ports",
                format!("{p:?} is not a port like \"8080\" or \"53/udp\""),
            ));
        }
    }
    Ok(AppPrepared {
        spec: spec.clone(),
        accounts,
        copies,
        certs,
        user,
    })
}

fn normalise_port(p: &str) -> Option<String> {
    let (n, proto) = p.split_once('/').unwrap_or((p, "tcp"));
    (n.parse::<u16>().is_ok_and(|n| n > 0) && matches!(proto, "tcp" | "udp" | "sctp"))
        .then(|| format!("{n}/{proto}"))
}

/// The layers an application recipe adds after its packages.
fn app_units(
    app: &AppPrepared,
    chain: &[&Recipe],
    plan: &Plan,
    debs: &BTreeMap<String, std::path::PathBuf>,
    epoch: u64,
) -> anyhow::Result<Vec<Unit>> {
    let r = &app.spec.recipe;
    let mut entries = Vec::new();
    if !r.users.is_empty() || !r.groups.is_empty() {
        entries.push(GenEntry::File(
            "etc/passwd".into(),
            app.accounts.passwd.clone().into_bytes(),
            Meta::root(0o644),
        ));
        entries.push(GenEntry::File(
            "etc/group".into(),
            app.accounts.group.clone().into_bytes(),
            Meta::root(0o644),
        ));
        entries.extend(app::home_dirs(&app.spec));
    }
    if !app.certs.is_empty() {
        let ca = &debs[&plan.ca_certificates.sha256];
        let mut certs = rootfs::cacerts::certs_from_deb(ca)?;
        certs.extend(app.certs.iter().cloned());
        let mut bundle = Vec::new();
        for (_, pem) in &certs {
            bundle.extend_from_slice(pem);
            if !pem.ends_with(b"\n") {
                bundle.push(b'\n');
            }
        }
        entries.push(GenEntry::File(
            rootfs::cacerts::BUNDLE.into(),
            bundle,
            Meta::root(0o644),
        ));
        if chain.iter().any(|c| c.java_trust_store) {
            let store = rootfs::javacerts::trust_store(&certs, epoch)?;
            entries.push(GenEntry::File(
                rootfs::javacerts::PATH.into(),
                store,
                Meta::root(0o644),
            ));
        }
    }
    let mut out = Vec::new();
    if !entries.is_empty() {
        out.push(Unit {
            label: "distroless app: accounts and CA certificates".into(),
            entries,
            uncached: true,
            ..Unit::default()
        });
    }
    for (label, entries) in &app.copies {
        out.push(Unit {
            label: label.clone(),
            entries: entries.clone(),
            uncached: true,
            ..Unit::default()
        });
    }
    Ok(out)
}

/// Applies an application recipe's runtime settings; checks the entrypoint exists.
fn apply_app(
    app: &AppPrepared,
    runtime: &mut RuntimeConfig,
    view: &ImageView,
) -> anyhow::Result<()> {
    let r = &app.spec.recipe;
    if let Some(u) = &app.user {
        runtime.user = Some(u.clone());
    }
    if let Some(w) = &r.workdir {
        runtime.working_dir = Some(w.clone());
    }
    runtime.labels.extend(r.labels.clone());
    runtime.exposed_ports = r
        .exposed_ports
        .iter()
        .filter_map(|p| normalise_port(p))
        .collect();
    runtime.volumes.clone_from(&r.volumes);
    runtime.stop_signal.clone_from(&r.stop_signal);
    if let Some(program) = r.entrypoint.as_ref().and_then(|e| e.first()) {
        let found = if program.starts_with('/') {
            matches!(view.resolve(program), rootfs::view::Resolved::File(_))
        } else {
            let path = runtime
                .env
                .iter()
                .find_map(|e| e.strip_prefix("PATH="))
                .unwrap_or(PATH);
            path.split(':').any(|d| {
                matches!(
                    view.resolve(&format!("{d}/{program}")),
                    rootfs::view::Resolved::File(_)
                )
            })
        };
        if !found {
            return Err(app.spec.error(
                None,
                "entrypoint",
                format!("{program} is not in the image"),
            ));
        }
    }
    Ok(())
}

/// The Docker/Podman `Healthcheck` object of a recipe.
pub fn healthcheck_of(app: &AppPrepared) -> Option<serde_json::Value> {
    let h = app.spec.recipe.healthcheck.as_ref()?;
    let mut v = serde_json::json!({ "Test": h.test });
    for (key, value) in [
        ("Interval", &h.interval),
        ("Timeout", &h.timeout),
        ("StartPeriod", &h.start_period),
    ] {
        if let Some(ns) = value.as_deref().and_then(app::duration_ns) {
            v[key] = ns.into();
        }
    }
    if let Some(n) = h.retries {
        v["Retries"] = n.into();
    }
    Some(v)
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
    let debs = fetch_debs(source, &wanted).map_err(|e| {
        let vanished = e
            .downcast_ref::<debian::Error>()
            .is_some_and(|d| matches!(d, debian::Error::NotFound { .. }));
        if vanished && opts.lock.is_some() {
            e.context(format!(
                "a locked version is no longer on the mirror; build from a snapshot mirror of the \
                 Debian archive as of {} with --mirror URL (and --security-mirror URL)",
                plan.release_date
            ))
        } else {
            e
        }
    })?;
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
        all_units.extend(app_units(app, &chain, plan, &debs, opts.epoch)?);
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
    let mut runtime = runtime_config(&opts.image, &chain)?;
    let mut health = None;
    if let Some(app) = app {
        apply_app(app, &mut runtime, &view)?;
        health = healthcheck_of(app);
    }
    let config = oci::image::config(&platform, &runtime, &layers, opts.epoch)?;
    let mut config = serde_json::to_value(&config)?;
    if let Some(h) = health {
        config["config"]["Healthcheck"] = h;
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
    debs: &BTreeMap<String, std::path::PathBuf>,
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

/// The ELF programs an application copies: (path in the image, path on the host).
pub fn copied_programs(app: &AppPrepared) -> Vec<crate::auto::Program> {
    app.copies
        .iter()
        .flat_map(|(_, entries)| entries.iter())
        .filter_map(|e| match e {
            GenEntry::Host(dest, host, _) => Some(crate::auto::Program {
                image_path: format!("/{dest}"),
                host_path: host.clone(),
            }),
            _ => None,
        })
        .filter(|p| {
            crate::auto::program_info(&p.host_path)
                .ok()
                .flatten()
                .is_some()
        })
        .collect()
}

/// Adds the files the copied programs need to the application tier of a plan.
fn auto_plan(
    source: &Source<'_>,
    opts: &BuildOptions,
    mut p: Plan,
    app: Option<&AppPrepared>,
    arch: &str,
) -> anyhow::Result<(Plan, Vec<String>)> {
    let app = app.context("from = \"auto\" needs an application recipe")?;
    let programs = copied_programs(app);
    let universe = crate::plan::load_universe(source, opts.image.release, arch)?;
    let needs = crate::auto::analyse(
        source,
        &universe,
        &programs,
        arch,
        opts.image.release.merged_usr(),
        &app.spec.recipe.packages,
    )?;
    drop(universe);
    let installed: std::collections::BTreeSet<String> = p
        .tiers
        .iter()
        .flat_map(|t| t.packages.iter().map(|x| x.name.clone()))
        .collect();
    let tier = p.tiers.last_mut().context("plan without tiers")?;
    for (name, (pkg, files)) in needs.files {
        if !installed.contains(&name) {
            tier.partial.push((pkg, files.into_iter().collect()));
        }
    }
    let mut lines = needs.explain;
    for s in needs.static_programs {
        lines.push(format!("{s}: statically linked, needs nothing"));
    }
    Ok((p, lines))
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
    let (desc, platform) = if manifests.len() == 1 {
        manifests.remove(0)
    } else {
        let inner = oci::image::index(manifests, &BTreeMap::new())?;
        (layout.json_blob(MediaType::ImageIndex, &inner)?, None)
    };
    // One entry per tag, all pointing at the same manifest (or index).
    let entries = tags
        .iter()
        .map(|tag| {
            let mut d = desc.clone();
            let ref_name = [("org.opencontainers.image.ref.name".to_string(), tag.clone())];
            d.set_annotations(Some(ref_name.into_iter().collect()));
            (d, platform.clone())
        })
        .collect();
    let top = oci::image::index(entries, &BTreeMap::new())?;
    let index_digest = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(oci::image::canonical_json(&top)?))
    );
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
    } else if archive {
        layout.finish_archive(&top, &opts.output)?;
    } else {
        layout.finish_dir(&top, &opts.output)?;
    }
    let multi = opts.arches.len() > 1;
    let mut sbom_files = Vec::new();
    for doc in &sbom_docs {
        let path = sbom_path(&opts.output, &doc.arch, doc.kind, multi);
        write_atomic(&path, &doc.bytes)?;
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
