//! The pipeline, and only the pipeline: request → plan → packages → layers → image →
//! destination. Each step lives in its own module and takes typed values from the step before;
//! this module decides the order and nothing else.

use anyhow::{Context, bail};
use oci::image::{HistoryLayer, Platform};
use oci::layout::LayoutWriter;
use oci_spec::image::{Descriptor, MediaType};

use crate::app::{AppPrepared, AppSpec, app_units, prepare::auto_plan, prepare_app, settings};
use crate::debs::Debs;
use crate::image::{Naming, annotations, index_digest, runtime_config, tagged_index};
use crate::layers::{LayerInputs, build_layer, units};
use crate::model::recipe::Recipe;
use crate::model::{Arch, Base, Catalog, ImageRef};
use crate::output::{self, BuildSummary, DockerImage, ManifestSummary};
use crate::plan::{Plan, Source, plan};
use crate::request::{Arches, BuildRequest};
use crate::rootfs::{self, view::ImageView};
use crate::sbom::{self, Sbom};

/// Builds an application image on an image on disk (no Debian archive is read).
pub fn build_on_disk(req: &BuildRequest) -> anyhow::Result<BuildSummary> {
    let (Base::Disk(base), Some(app)) = (&req.base, &req.app) else {
        bail!("an image on disk is a base for application recipes only");
    };
    crate::foreign::app::build(app, base, &req.destination, req.compression, req.epoch)
}

/// Builds a catalog image (or an application on one, or on `auto`) for every requested
/// architecture, and writes the output atomically.
pub fn build(
    source: &Source<'_>,
    catalog: &Catalog,
    req: &BuildRequest,
) -> anyhow::Result<BuildSummary> {
    let image = req
        .image(catalog)?
        .context("an image on disk is built without the Debian archive")?;
    let owned = chain_with_app(catalog, &image.name, req.app.as_ref())?;
    let chain: Vec<&Recipe> = owned.iter().collect();
    let app = req.app.as_ref().map(prepare_app).transpose()?;
    let arches = arches(source, &image, &req.arches)?;
    req.destination.check()?;
    let layout = LayoutWriter::new(req.destination.path())?;
    let mut built = Vec::new();
    let mut explain = Vec::new();
    for &arch in &arches {
        let what = || format!("{} for {arch}", image.canonical());
        let mut p = plan_for(source, req, &image, &chain, arch).with_context(what)?;
        if let (Base::Auto(release), Some(app)) = (&req.base, &app) {
            let lines;
            (p, lines) = auto_plan(source, *release, p, app, arch)?;
            explain.extend(lines);
        }
        let step = ArchStep {
            source,
            catalog,
            req,
            image: &image,
            chain: &chain,
            app: app.as_ref(),
            layout: &layout,
        };
        built.push(step.build(&p).with_context(what)?);
    }
    finish(layout, req, &image, built, explain)
}

/// The plans a build would use, one per architecture (for `--dry-run`).
pub fn plans(
    source: &Source<'_>,
    catalog: &Catalog,
    req: &BuildRequest,
) -> anyhow::Result<Vec<Plan>> {
    let image = req
        .image(catalog)?
        .context("an image on disk has no Debian plan")?;
    let owned = chain_with_app(catalog, &image.name, req.app.as_ref())?;
    let chain: Vec<&Recipe> = owned.iter().collect();
    arches(source, &image, &req.arches)?
        .into_iter()
        .map(|arch| plan(source, &chain, &image, arch))
        .collect()
}

/// The architectures to build: as listed, or every published one the suite offers.
pub fn arches(source: &Source<'_>, image: &ImageRef, arches: &Arches) -> anyhow::Result<Vec<Arch>> {
    match arches {
        Arches::Listed(list) => Ok(list.clone()),
        Arches::AllOffered => {
            let offered = source.archive.architectures(image.release.codename)?;
            Ok(Arch::published()
                .filter(|a| offered.iter().any(|o| o == a.debian()))
                .collect())
        }
    }
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

/// The plan of one architecture: from the lock, or resolved.
fn plan_for(
    source: &Source<'_>,
    req: &BuildRequest,
    image: &ImageRef,
    chain: &[&Recipe],
    arch: Arch,
) -> anyhow::Result<Plan> {
    let Some(lock) = &req.lock else {
        return plan(source, chain, image, arch);
    };
    let n = image.release.number;
    let entry = lock.find(&image.name, n, arch).with_context(|| {
        format!(
            "{} for {arch} is not in the lock file; lock it first (`distroless lock {}-debian{n} --arch {arch}`)",
            image.canonical(),
            image.name,
        )
    })?;
    Ok(entry.to_plan(image, &source.archive.mirrors))
}

/// The closure check failed: ELF files need libraries the image does not have.
#[derive(Debug, thiserror::Error)]
#[error("closure check: {0}")]
pub struct MissingLibraries(pub String);

/// What one architecture's build produced.
struct ArchImage {
    manifest: Descriptor,
    platform: Platform,
    summary: ManifestSummary,
    sboms: Vec<Sbom>,
    docker: DockerImage,
}

/// Everything one architecture's image is built from, besides its plan.
struct ArchStep<'a> {
    source: &'a Source<'a>,
    catalog: &'a Catalog,
    req: &'a BuildRequest,
    image: &'a ImageRef,
    chain: &'a [&'a Recipe],
    app: Option<&'a AppPrepared>,
    layout: &'a LayoutWriter,
}

impl ArchStep<'_> {
    /// Layers, closure check, config, manifest and SBOMs of one architecture.
    fn build(&self, plan: &Plan) -> anyhow::Result<ArchImage> {
        let debug = self.image.variant.debug;
        let hint = self.req.lock.as_ref().map(|_| {
            format!(
                "a locked version is no longer on the mirror; build from a snapshot mirror of the \
                 Debian archive as of {}",
                plan.release_date
            )
        });
        let debs = Debs::new(self.source, plan.wanted(debug)?, hint);
        let (layers, view) = self.layers(plan, &debs)?;
        self.check_closure(&view, plan.arch)?;
        let platform = plan.arch.platform();
        let runtime = runtime_config(self.image, self.chain);
        let config = oci::image::config(&platform, &runtime, &layers, self.req.epoch)?;
        let mut config = serde_json::to_value(&config)?;
        if let Some(app) = self.app {
            settings::apply_settings(app, &mut config, &view)?;
        }
        let config_desc = self.layout.json_blob(MediaType::ImageConfig, &config)?;
        let naming = Naming {
            image: self.image,
            app: self.app.map(|a| &a.spec.recipe),
            debian_version: &plan.debian_version,
            release_date: &plan.release_date,
            epoch: self.req.epoch,
        };
        let annotations = annotations(&naming, self.catalog)?;
        let docker = DockerImage {
            config: config_desc.digest().to_string(),
            layers: layers.iter().map(|l| l.blob.digest.clone()).collect(),
            repo_tags: Vec::new(),
        };
        let manifest = oci::image::manifest(config_desc, &layers, &annotations)?;
        let desc = self.layout.json_blob(MediaType::ImageManifest, &manifest)?;
        let summary = ManifestSummary {
            arch: plan.arch.to_string(),
            digest: desc.digest().to_string(),
            layers: layers.len(),
            compressed_size: layers.iter().map(|l| l.blob.size).sum(),
            packages: plan.package_count(),
        };
        let sboms = sbom::documents(
            self.req.sbom,
            plan,
            &self.source.cache,
            &debs,
            debug,
            &summary.digest,
            self.req.epoch,
        )?;
        Ok(ArchImage {
            manifest: desc,
            platform,
            summary,
            sboms,
            docker,
        })
    }

    /// Builds (or takes from the cache) every layer, in order, each on top of the ones below.
    fn layers(
        &self,
        plan: &Plan,
        debs: &Debs<'_>,
    ) -> anyhow::Result<(Vec<HistoryLayer>, ImageView)> {
        let release = self.image.release;
        let inputs = LayerInputs {
            plan,
            debs,
            merged_usr: release.merged_usr(),
            release: (release.number, release.codename),
            compression: self.req.compression,
            epoch: self.req.epoch,
        };
        let mut all = units(
            plan,
            self.chain,
            self.req.layering,
            self.image.variant.debug,
        );
        if let Some(app) = self.app {
            let base_certs = || rootfs::cacerts::certs_from_deb(&debs.path(&plan.ca_certificates)?);
            let java = self.chain.iter().any(|c| c.java_trust_store);
            all.extend(app_units(app, &base_certs, java, self.req.epoch)?);
        }
        let mut view = ImageView::default();
        let mut below: Vec<String> = Vec::new();
        let mut layers = Vec::new();
        for unit in all {
            let built = build_layer(
                &inputs,
                &self.source.cache,
                self.layout,
                &unit,
                &view,
                &below,
            )
            .with_context(|| format!("building layer `{}`", unit.label))?;
            let Some(built) = built else {
                continue;
            };
            self.source.reporter.layer(&unit.label, built.cached);
            view.push(&built.index);
            below.push(built.blob.diff_id.clone());
            layers.push(HistoryLayer {
                blob: built.blob,
                created_by: unit.label,
            });
        }
        Ok((layers, view))
    }

    /// Fails (or, when allowed, warns) when an ELF file needs a library the image lacks.
    fn check_closure(&self, view: &ImageView, arch: Arch) -> anyhow::Result<()> {
        let missing = rootfs::closure::check_image(view, arch);
        if missing.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
        if self.req.allow_missing {
            for m in &list {
                self.source.reporter.warn(m);
            }
            return Ok(());
        }
        Err(MissingLibraries(list.join("; ")).into())
    }
}

/// Writes the index, the output and the SBOMs of every architecture.
fn finish(
    layout: LayoutWriter,
    req: &BuildRequest,
    image: &ImageRef,
    built: Vec<ArchImage>,
    explain: Vec<String>,
) -> anyhow::Result<BuildSummary> {
    let tags: Vec<String> = match req.app.as_ref().map(|a| a.recipe.tags.clone()) {
        Some(t) if !t.is_empty() => t,
        // An application image is `latest` whatever variant it starts from.
        Some(_) => vec!["latest".to_string()],
        None => vec![image.variant.tag().to_string()],
    };
    let multi = built.len() > 1;
    let manifests = built
        .iter()
        .map(|b| (b.manifest.clone(), Some(b.platform.clone())))
        .collect();
    let top = tagged_index(&layout, manifests, &tags)?;
    let index_digest = index_digest(&top)?;
    let name = req.app.as_ref().map_or_else(
        || format!("distroless/{}-debian{}", image.name, image.release.number),
        |a| a.recipe.name.clone(),
    );
    let docker = match built.as_slice() {
        [one] => Some(DockerImage {
            repo_tags: tags.iter().map(|t| format!("{name}:{t}")).collect(),
            ..one.docker.clone()
        }),
        _ => None,
    };
    output::finish(layout, &top, &req.destination, docker.as_ref())?;
    let mut sboms = Vec::new();
    for doc in built.iter().flat_map(|b| &b.sboms) {
        let path = req.destination.sbom_path(&doc.arch, doc.kind, multi);
        crate::atomic::write_atomic(&path, &doc.bytes)?;
        sboms.push(path);
    }
    Ok(BuildSummary {
        image: image.canonical(),
        output: req.destination.path().to_path_buf(),
        format: req.destination.format(),
        index_digest,
        manifests: built.into_iter().map(|b| b.summary).collect(),
        sboms,
        explain,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::model::Destination;
    use crate::plan::SourceSettings;

    /// Records what the pipeline reports.
    #[derive(Default)]
    struct Recorder {
        layers: Mutex<Vec<(String, bool)>>,
    }

    impl debian::fetch::Reporter for Recorder {
        fn warn(&self, _message: &str) {}
    }

    impl crate::report::Reporter for Recorder {
        fn layer(&self, label: &str, cached: bool) {
            self.layers
                .lock()
                .unwrap()
                .push((label.to_string(), cached));
        }
    }

    fn request(catalog: &Catalog, image: &str, out: std::path::PathBuf) -> BuildRequest {
        BuildRequest {
            base: Base::Catalog(ImageRef::parse(image, catalog).unwrap()),
            app: None,
            arches: Arches::Listed(vec![Arch::Amd64]),
            destination: Destination::from_path(out, false),
            compression: oci::layer::Compression::Gzip,
            layering: crate::layers::Layering::Tier,
            epoch: 0,
            allow_missing: false,
            sbom: crate::sbom::SbomFormats::Both,
            lock: None,
        }
    }

    #[test]
    fn pipeline_builds_reuses_layers_and_is_reproducible() {
        let repo = testkit::fixtures::catalog_repo();
        let tmp = tempfile::tempdir().unwrap();
        let settings = SourceSettings {
            mirror: Some(repo.file_url()),
            keyrings: vec![testkit::SignKey::shared().public.clone()],
            no_default_keyring: true,
            cache_dir: tmp.path().join("cache"),
            ..SourceSettings::default()
        };
        let catalog = Catalog::embedded().unwrap();
        let cold = Recorder::default();
        let source = Source::open(&settings, &cold).unwrap();
        let first = build(
            &source,
            &catalog,
            &request(&catalog, "base-debian13", tmp.path().join("a")),
        )
        .unwrap();
        assert_eq!(first.format, "oci");
        assert_eq!(first.manifests.len(), 1);
        assert_eq!(first.sboms.len(), 2);
        assert!(tmp.path().join("a/index.json").exists());
        let labels = cold.layers.lock().unwrap().clone();
        assert_eq!(
            labels.len(),
            3,
            "static, base-nossl and base tiers: {labels:?}"
        );
        assert!(labels.iter().all(|(_, cached)| !cached));

        let warm = Recorder::default();
        let source = Source::open(&settings, &warm).unwrap();
        let second = build(
            &source,
            &catalog,
            &request(&catalog, "base-debian13", tmp.path().join("b")),
        )
        .unwrap();
        assert_eq!(first.index_digest, second.index_digest);
        assert!(
            warm.layers
                .lock()
                .unwrap()
                .iter()
                .all(|(_, cached)| *cached)
        );

        let plans = plans(
            &source,
            &catalog,
            &request(&catalog, "base-debian13", tmp.path().join("c")),
        )
        .unwrap();
        assert_eq!(plans[0].tiers.len(), 3);
        assert!(!tmp.path().join("c").exists(), "planning writes no output");
    }

    #[test]
    fn an_application_is_the_last_tier_of_the_chain() {
        let catalog = Catalog::embedded().unwrap();
        let app = AppSpec {
            recipe: Recipe::parse("r", "name = \"shop\"\npackages = [\"libpq5\"]\n").unwrap(),
            file: "r".into(),
            text: String::new(),
            dir: ".".into(),
        };
        let chain = chain_with_app(&catalog, "cc", Some(&app)).unwrap();
        let names: Vec<&str> = chain.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["static", "base-nossl", "base", "cc", "app"]);
        assert_eq!(chain[4].from.as_deref(), Some("cc"));
        assert_eq!(chain[4].packages, ["libpq5"]);
    }
}
