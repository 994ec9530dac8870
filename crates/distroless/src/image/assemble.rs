//! One architecture's image, assembled: its layers (built or taken from the cache) in order,
//! the closure check over them, the config and manifest, and the SBOMs. The pipeline calls
//! this once per architecture; it never writes the index or the output.

use oci::image::{HistoryLayer, Platform};
use oci::layout::LayoutWriter;
use oci_spec::image::{Descriptor, MediaType};

use super::{Naming, annotations, runtime_config};
use crate::app::prepare::copied_files;
use crate::app::upstream::ArchiveLayers;
use crate::app::{AppPrepared, app_units, machine, settings};
use crate::debs::Debs;
use crate::layers::{BuiltLayer, LayerInputs, Prepared, Unit, prepare_layer, units};
use crate::model::recipe::Recipe;
use crate::model::{Arch, Catalog, ImageRef};
use crate::output::{DockerImage, ManifestSummary};
use crate::plan::{Plan, Source};
use crate::request::BuildRequest;
use crate::rootfs::{self, view::ImageView};
use crate::sbom::{self, Sbom};

/// A layer being written on another core, or done (`Taken` only while it is being joined).
enum Written<'s> {
    Running(std::thread::ScopedJoinHandle<'s, anyhow::Result<BuiltLayer>>),
    Done(BuiltLayer),
    Taken,
}

impl Written<'_> {
    fn finish(self) -> anyhow::Result<BuiltLayer> {
        match self {
            Written::Done(b) => Ok(b),
            Written::Running(job) => job
                .join()
                .map_err(|_| anyhow::anyhow!("a layer writer panicked"))?,
            Written::Taken => anyhow::bail!("a layer was joined twice"),
        }
    }
}

/// Waits until fewer layers are being written than the machine has cores (the oldest first).
fn wait_for_a_core(out: &mut [(String, Written<'_>)]) -> anyhow::Result<()> {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let running = |out: &[(String, Written<'_>)]| {
        (out.iter())
            .filter(|(_, w)| matches!(w, Written::Running(_)))
            .count()
    };
    while running(out) >= cores {
        let Some(slot) = (out.iter_mut()).find(|(_, w)| matches!(w, Written::Running(_))) else {
            break;
        };
        let w = std::mem::replace(&mut slot.1, Written::Taken);
        let built = (w.finish()).map_err(|e| e.context(format!("building layer `{}`", slot.0)))?;
        slot.1 = Written::Done(built);
    }
    Ok(())
}

/// The closure check failed: ELF files need libraries the image does not have.
#[derive(Debug, thiserror::Error)]
#[error("closure check: {0}")]
pub struct MissingLibraries(pub String);

/// A catalog image's entrypoint must be a file of the image (through its links): an upstream
/// archive without the program, or with a directory in its place, is not an image.
fn entrypoint_present(
    entrypoint: Option<&[String]>,
    view: &ImageView,
    elf: bool,
) -> anyhow::Result<()> {
    let Some(program) = entrypoint.and_then(<[String]>::first) else {
        return Ok(());
    };
    if !program.starts_with('/') {
        return Ok(());
    }
    match view.resolve(program) {
        rootfs::view::Resolved::File(real) if !elf || view.index.elfs.contains_key(&real) => Ok(()),
        rootfs::view::Resolved::File(_) => {
            anyhow::bail!("the entrypoint {program} is not a program (not an ELF file)")
        }
        rootfs::view::Resolved::Dir(_) => {
            anyhow::bail!("the entrypoint {program} is a directory in the image, not a program")
        }
        rootfs::view::Resolved::Missing => {
            anyhow::bail!("the entrypoint {program} is not in the image")
        }
    }
}

/// What one architecture's build produced.
pub struct ArchImage {
    pub manifest: Descriptor,
    pub platform: Platform,
    pub summary: ManifestSummary,
    pub sboms: Vec<Sbom>,
    pub docker: DockerImage,
}

/// Everything one architecture's image is built from, besides its plan.
pub struct ArchStep<'a> {
    pub source: &'a Source<'a>,
    pub catalog: &'a Catalog,
    pub req: &'a BuildRequest,
    pub image: &'a ImageRef,
    pub chain: &'a [&'a Recipe],
    pub app: Option<&'a AppPrepared>,
    /// The chain's upstream archives, unpacked for this architecture.
    pub archives: &'a ArchiveLayers,
    pub layout: &'a LayoutWriter,
}

impl ArchStep<'_> {
    /// Layers, closure check, config, manifest and SBOMs of one architecture.
    pub fn build(&self, plan: &Plan) -> anyhow::Result<ArchImage> {
        let debug = self.image.variant.debug;
        let hint = self.req.target.lock.as_ref().map(|_| {
            format!(
                "a locked version is no longer on the mirror; build from a snapshot mirror of the \
                 Debian archive as of {}",
                plan.release_date
            )
        });
        let debs = Debs::new(self.source, plan.wanted(debug)?, hint)?;
        let (layers, view) = self.layers(plan, &debs)?;
        if let Some(app) = self.app {
            for warning in machine::check(app, &view, plan.arch)? {
                self.source.reporter.warn(&warning);
            }
        }
        self.check_closure(&view, plan.arch)?;
        let platform = plan.arch.platform();
        let mut runtime = runtime_config(self.image, self.chain);
        if self.app.is_none() {
            // The recipe's own program must be one; busybox's shell (the debug default) is
            // checked by the debug layer.
            let own = self.chain.iter().any(|r| r.entrypoint.is_some());
            entrypoint_present(runtime.entrypoint.as_deref(), &view, own)?;
        }
        let language = super::runtime_of(self.chain, plan, &self.archives.records);
        if let Some((r, _, version)) = &language
            && let Some(var) = &r.env
        {
            runtime.env.retain(|e| !e.starts_with(&format!("{var}=")));
            runtime.env.push(format!("{var}={version}"));
        }
        let config = oci::image::config(&platform, &runtime, &layers, self.req.options.epoch)?;
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
            epoch: self.req.options.epoch,
            runtime: language.map(|(r, package, version)| (r.name, package, version)),
        };
        let annotations = annotations(&naming, self.catalog)?;
        let docker = DockerImage {
            config: config_desc.digest().to_string(),
            layers: layers.iter().map(|l| l.blob.digest.clone()).collect(),
            repo_tags: Vec::new(),
        };
        let manifest = oci::image::manifest(config_desc, &layers, &annotations)?;
        let desc = self.layout.json_blob(MediaType::ImageManifest, &manifest)?;
        let files = match self.app {
            Some(app) => copied_files(app, &view)?,
            None => Vec::new(),
        };
        let summary = ManifestSummary {
            arch: plan.arch.to_string(),
            digest: desc.digest().to_string(),
            layers: layers.len(),
            compressed_size: layers.iter().map(|l| l.blob.size).sum(),
            packages: plan.package_count(),
            partial_packages: plan
                .tiers
                .iter()
                .flat_map(|t| &t.partial)
                .map(|(p, only)| (p.name.clone(), only.len()))
                .collect(),
            files: files.clone(),
        };
        let name = self.image_name();
        let about = sbom::About {
            image: &name,
            manifest_digest: &summary.digest,
            files: &files,
            epoch: self.req.options.epoch,
            archives: &self.archives.records,
        };
        let sboms = sbom::documents(
            self.req.options.sbom,
            plan,
            (&self.source.cache, &debs),
            debug,
            &about,
        )?;
        Ok(ArchImage {
            manifest: desc,
            platform,
            summary,
            sboms,
            docker,
        })
    }

    /// The image's name in its SBOMs: the application's `NAME:TAG`, or the catalog image's.
    pub fn image_name(&self) -> String {
        match self.app {
            Some(app) => {
                let r = &app.spec.recipe;
                format!(
                    "{}:{}",
                    r.name,
                    r.tags.first().map_or("latest", String::as_str)
                )
            }
            None => self.image.canonical(),
        }
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
            compression: self.req.options.compression,
            epoch: self.req.options.epoch,
        };
        let after: Vec<(String, Unit)> = (self.archives.layers.iter())
            .map(|(tier, label, entries)| {
                let unit = Unit {
                    label: label.clone(),
                    lazy: Some(entries.clone()),
                    adds_only: true,
                    ..Unit::default()
                };
                (tier.clone(), unit)
            })
            .collect();
        let mut all = units(
            plan,
            self.chain,
            self.req.options.layering,
            self.image.variant.debug,
            after,
        );
        if let Some(app) = self.app {
            let base_certs = || rootfs::cacerts::certs_from_deb(&debs.path(&plan.ca_certificates)?);
            let java = self.chain.iter().any(|c| c.java_trust_store);
            all.extend(app_units(app, &base_certs, java, self.req.options.epoch)?);
        }
        let mut view = ImageView::default();
        // Each layer is named to the ones above by its key, so the next can be prepared while
        // this one is compressed on another core.
        let mut below: Vec<String> = Vec::new();
        let (cache, layout) = (&self.source.cache, self.layout);
        let written = std::thread::scope(|scope| -> anyhow::Result<Vec<_>> {
            let mut out = Vec::new();
            for unit in all {
                let failed = |e: anyhow::Error| {
                    // A fetch failure belongs to the image, not to the layer that asked first.
                    if e.is::<crate::debs::FetchFailed>() {
                        e
                    } else {
                        e.context(format!("building layer `{}`", unit.label))
                    }
                };
                let prepared =
                    prepare_layer(&inputs, cache, layout, &unit, &view, &below).map_err(failed)?;
                match prepared {
                    None => {}
                    Some(Prepared::Known(hit, key)) => {
                        view.push(&hit.index);
                        below.push(key);
                        out.push((unit.label, Written::Done(hit)));
                    }
                    Some(Prepared::Pending(p)) if p.uncached => {
                        // Named by its bytes: written before the layers above are keyed.
                        let built = p.write(cache, layout).map_err(failed)?;
                        view.push(&built.index);
                        below.push(built.blob.diff_id.clone());
                        out.push((unit.label, Written::Done(built)));
                    }
                    Some(Prepared::Pending(p)) => {
                        view.push(&p.index);
                        below.push(p.key().to_string());
                        wait_for_a_core(&mut out)?;
                        let label = unit.label.clone();
                        let job = scope.spawn(move || p.write(cache, layout));
                        out.push((label, Written::Running(job)));
                    }
                }
            }
            out.into_iter()
                .map(|(label, w)| {
                    let built = w
                        .finish()
                        .map_err(|e| e.context(format!("building layer `{label}`")))?;
                    Ok((label, built))
                })
                .collect()
        })?;
        let mut layers = Vec::new();
        for (label, built) in written {
            self.source.reporter.layer(&label, built.cached);
            layers.push(HistoryLayer {
                blob: built.blob,
                created_by: label,
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
        if self.req.options.allow_missing {
            for m in &list {
                self.source.reporter.warn(m);
            }
            return Ok(());
        }
        let mut text = list.join("; ");
        if let Some(app) = self.app.filter(|_| self.req.target.lock.is_some()) {
            text = format!(
                "{text}; if the programs changed since the lock was written, lock again with `distroless lock -f {}`",
                app.spec.file
            );
        }
        Err(MissingLibraries(text).into())
    }
}
