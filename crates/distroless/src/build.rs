//! The pipeline, and only the pipeline: request → prepared build → plan → packages → layers →
//! image → the finish step ([`crate::finish`]). Each step lives in its own module and takes
//! typed values from the step before; this module decides the order and nothing else.
//!
//! [`Prepared`] is made once per request and serves the build, its dry run and `lock` alike,
//! for every kind of base; [`run`] is the one entry point of a build.

use anyhow::{Context, bail};

use crate::app::upstream::Upstream;
use crate::app::{AppPrepared, AppSpec, machine, prepare::auto_plan, prepare_app, settings};
use crate::attest::provenance;
use crate::finish::{self, Finish, Record};
use crate::image::assemble::ArchStep;
use crate::model::lock::Lock;
use crate::model::recipe::Recipe;
use crate::model::{Arch, Base, Catalog, DiskImage, ImageRef};
use crate::output::BuildSummary;
use crate::plan::{Plan, Source, UnknownPackage, plan};
use crate::report::Reporter;
use crate::request::{Arches, BuildRequest, Target};

/// What a build gave: the plans (`--dry-run` of an image built from packages), or an image
/// (written, or with `--dry-run` on an image on disk, assembled and checked only).
pub enum Outcome {
    Planned(Vec<(Plan, Vec<String>)>),
    Built(Box<BuildSummary>),
}

/// The one pipeline value: what a build, its dry run and `lock` share, made and checked once
/// before anything is downloaded.
pub struct Prepared<'t> {
    pub target: &'t Target,
    pub kind: Kind,
}

/// What the image stands on.
pub enum Kind {
    /// A catalog image (or `auto`): built from Debian packages.
    Archive(FromArchive),
    /// An image on disk or pulled from a registry: the application's layers go on top.
    Disk {
        spec: Box<AppSpec>,
        base: DiskImage,
        /// The architectures asked for; `None` keeps every platform of the base.
        arches: Option<Vec<Arch>>,
    },
}

/// A build from the Debian archive, prepared: the catalog image, its recipe chain (the
/// application last), the architectures, the application prepared for each, and the sources
/// beyond Debian.
pub struct FromArchive {
    pub image: ImageRef,
    chain: Vec<Recipe>,
    pub arches: Vec<Arch>,
    apps: Vec<Option<AppPrepared>>,
    pub upstream: Upstream,
}

impl<'t> Prepared<'t> {
    /// Prepares a target: `source` is needed for images built from packages (to list a
    /// suite's architectures), not for an image on disk.
    pub fn new(
        catalog: &Catalog,
        target: &'t Target,
        source: Option<&Source<'_>>,
    ) -> anyhow::Result<Self> {
        let kind = match (&target.base, &target.app) {
            (Base::Disk(base), Some(spec)) => Kind::Disk {
                spec: Box::new(spec.clone()),
                base: base.clone(),
                arches: match &target.arches {
                    Arches::Listed(list) => Some(list.clone()),
                    Arches::AllOffered | Arches::Default(_) => None,
                },
            },
            (Base::Disk(_), None) => {
                bail!("an image on disk is a base for application recipes only")
            }
            _ => {
                let source = source.context("an image built from packages needs the archive")?;
                let (image, chain) = stands_on(catalog, target)?;
                let arches = arches(source, &image, &target.arches)?;
                let apps = prepare(target, &arches)?;
                let refs: Vec<&Recipe> = chain.iter().collect();
                let upstream = Upstream::prepare(&refs, target.app.as_ref(), &target.upstreams)?;
                Kind::Archive(FromArchive {
                    image,
                    chain,
                    arches,
                    apps,
                    upstream,
                })
            }
        };
        Ok(Prepared { target, kind })
    }

    /// The image built from packages, or an error naming why an image on disk has no plan.
    pub fn from_archive(&self) -> anyhow::Result<&FromArchive> {
        match &self.kind {
            Kind::Archive(a) => Ok(a),
            Kind::Disk { spec, .. } => Err(spec.error(
                None,
                "from",
                "an image on disk is not built from Debian packages: there is no plan to show or lock",
            )),
        }
    }

    /// The plans a build would use, one per architecture, with their `--explain` lines (for
    /// `--dry-run` and `lock`; from the lock with `--locked`, as the build would). The
    /// application's recipe is checked as the build checks it.
    pub fn plans(&self, source: &Source<'_>) -> anyhow::Result<Vec<(Plan, Vec<String>)>> {
        let a = self.from_archive()?;
        let target = self.target;
        for (arch, app) in a.arches.iter().zip(&a.apps) {
            if target.lock.is_none() {
                a.upstream.check(*arch, &target.upstreams)?;
            }
            if let Some(app) = app {
                for w in machine::check_copies(app, *arch)? {
                    source.reporter.warn(&w);
                }
            }
        }
        (a.arches.iter().zip(&a.apps))
            .map(|(&arch, app)| a.resolve(source, target, app.as_ref(), arch))
            .collect()
    }
}

/// Runs a build request: plans it (`--dry-run` from packages), or builds and finishes it,
/// whatever its base. `source` is needed unless the base is an image on disk.
pub fn run(
    catalog: &Catalog,
    req: &BuildRequest,
    source: Option<&Source<'_>>,
    reporter: &dyn Reporter,
) -> anyhow::Result<Outcome> {
    req.check()?;
    let prepared = Prepared::new(catalog, &req.target, source)?;
    // After the recipe's own checks (a recipe error is told first), before anything is read.
    req.destination.check()?;
    if let Some(w) =
        (req.target.app.as_ref()).and_then(|a| settings::healthcheck_warning(a, &req.destination))
    {
        reporter.advise(&w);
    }
    match (&prepared.kind, source) {
        (Kind::Disk { spec, base, arches }, _) => Ok(Outcome::Built(Box::new(
            crate::foreign::app::build(spec, base, req, arches.as_deref(), reporter)?,
        ))),
        (Kind::Archive(_), Some(source)) if req.dry_run => {
            Ok(Outcome::Planned(prepared.plans(source)?))
        }
        (Kind::Archive(a), Some(source)) => {
            Ok(Outcome::Built(Box::new(a.build(source, catalog, req)?)))
        }
        (Kind::Archive(_), None) => bail!("an image built from packages needs the archive"),
    }
}

/// Builds a request from the archive and returns what was written (a matrix's images).
pub fn build(
    source: &Source<'_>,
    catalog: &Catalog,
    req: &BuildRequest,
) -> anyhow::Result<BuildSummary> {
    match run(catalog, req, Some(source), source.reporter)? {
        Outcome::Built(summary) => Ok(*summary),
        Outcome::Planned(_) => bail!("a dry run builds nothing"),
    }
}

impl FromArchive {
    /// Builds every architecture's image and finishes the build.
    fn build(
        &self,
        source: &Source<'_>,
        catalog: &Catalog,
        req: &BuildRequest,
    ) -> anyhow::Result<BuildSummary> {
        let target = &req.target;
        let image = &self.image;
        // Upstream archives: downloaded, checked and unpacked before any layer is built.
        let mut archives = Vec::new();
        for &arch in &self.arches {
            // Under --locked, the lock's digests (the checksum file is not read again).
            let pinned = target.lock.as_ref().map(|lock| {
                lock.find(&target.lock_name(image), image.release.number, arch)
                    .map_or_else(Vec::new, |e| e.archives.clone())
            });
            archives.push(self.upstream.materialize(
                source,
                arch,
                &target.upstreams,
                pinned.as_deref(),
            )?);
        }
        let started = std::time::SystemTime::now();
        let (layout, _scratch) = finish::staging(req)?;
        let chain: Vec<&Recipe> = self.chain.iter().collect();
        let mut built = Vec::new();
        let mut explain = Vec::new();
        let mut materials = Vec::new();
        for ((&arch, app), archives) in self.arches.iter().zip(&self.apps).zip(&archives) {
            let what = || format!("{} for {arch}", target.shown(image));
            let (p, lines) = self.resolve(source, target, app.as_ref(), arch)?;
            explain.extend(lines);
            materials.extend(provenance::from_plan(&p, image.variant.debug)?);
            materials.extend(provenance::from_archives(&archives.records));
            let step = ArchStep {
                source,
                catalog,
                req,
                image,
                chain: &chain,
                app: app.as_ref(),
                archives,
                layout: &layout,
            };
            built.push(step.build(&p).with_context(what)?);
        }
        let finish = Finish {
            req,
            name: target.app.as_ref().map_or_else(
                || format!("distroless/{}-debian{}", image.name, image.release.number),
                |a| a.recipe.name.clone(),
            ),
            tags: target.tags(Some(image)),
            shown: String::new(),
            base: target.app.as_ref().map(|_| match target.base {
                Base::Auto(r) => format!("auto (Debian {})", r.number),
                _ => image.canonical(),
            }),
            record: Record {
                materials,
                base: target.app.as_ref().map(|_| image.canonical()),
                started,
                explain,
            },
        };
        let shown = match &target.app {
            Some(_) => format!("{}:{}", finish.name, finish.tags[0]),
            None => image.canonical(),
        };
        finish::finish(layout, built, Finish { shown, ..finish })
    }

    /// The plan of one architecture as the build uses it, with its `--explain` lines: from the
    /// lock, or resolved (and, on `auto`, with the library files the programs need).
    fn resolve(
        &self,
        source: &Source<'_>,
        target: &Target,
        app: Option<&AppPrepared>,
        arch: Arch,
    ) -> anyhow::Result<(Plan, Vec<String>)> {
        let (image, upstream) = (&self.image, &self.upstream);
        let chain: Vec<&Recipe> = self.chain.iter().collect();
        let local = app.map_or(&[][..], |a| a.local_debs.as_slice());
        if let Some(lock) = &target.lock {
            let mut p = locked_plan(source, target, lock, image, arch)?;
            local_locked(&mut p, local, target)?;
            // The lock names repositories without their passwords; the recipe's URLs have them.
            for r in &upstream.repositories {
                let real = r.url.to_string();
                let shown = debian::sources::redact_userinfo(&real);
                for q in p.tiers.iter_mut().flat_map(|t| t.packages.iter_mut()) {
                    if q.mirror == shown {
                        q.mirror.clone_from(&real);
                    }
                }
            }
            return Ok((p, Vec::new()));
        }
        let additions = crate::plan::Additions {
            local,
            repositories: &upstream.repositories,
        };
        let p = plan(source, &chain, image, arch, additions).map_err(|e| {
            match (&target.app, e.downcast_ref::<UnknownPackage>()) {
                // A package the application recipe names: located in the recipe file.
                (Some(app), Some(unknown)) if unknown.tier == "app" => {
                    app.error(None, "packages", unknown.message())
                }
                _ => e.context(format!("{} for {arch}", target.shown(image))),
            }
        })?;
        match (&target.base, app) {
            (Base::Auto(release), Some(app)) => auto_plan(source, *release, p, app, arch),
            _ => Ok((p, Vec::new())),
        }
    }
}

/// The application prepared (and checked) for every architecture, before anything is
/// downloaded.
fn prepare(target: &Target, arches: &[Arch]) -> anyhow::Result<Vec<Option<AppPrepared>>> {
    (arches.iter())
        .map(|&arch| {
            (target.app.as_ref())
                .map(|spec| prepare_app(spec, arch))
                .transpose()
        })
        .collect()
}

/// The catalog image a request stands on, and its recipe chain with the application last.
pub fn stands_on(catalog: &Catalog, target: &Target) -> anyhow::Result<(ImageRef, Vec<Recipe>)> {
    let image = target
        .image(catalog)?
        .context("an image on disk is built without the Debian archive")?;
    let chain = chain_with_app(catalog, &image.name, target.app.as_ref())?;
    Ok((image, chain))
}

/// The architectures to build: as listed, or every published one the suite offers.
pub fn arches(source: &Source<'_>, image: &ImageRef, arches: &Arches) -> anyhow::Result<Vec<Arch>> {
    match arches {
        Arches::Listed(list) => Ok(list.clone()),
        Arches::Default(host) => Ok(vec![*host]),
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

/// A locked build takes the lock's local `.deb`s only if the files on disk are still those,
/// and reads them from there.
fn local_locked(
    p: &mut Plan,
    local: &[debian::index::Package],
    target: &Target,
) -> anyhow::Result<()> {
    for l in local {
        let pinned = p
            .tiers
            .iter_mut()
            .flat_map(|t| t.packages.iter_mut())
            .find(|q| q.name == l.name && q.sha256 == l.sha256);
        if let Some(q) = pinned {
            q.mirror.clone_from(&l.mirror);
            q.filename.clone_from(&l.filename);
        } else {
            let file = target
                .app
                .as_ref()
                .map_or("the recipe", |a| a.file.as_str());
            bail!(
                "{file}: the local package {} ({}) is not the one locked; run `distroless lock -f {file}`",
                l.name,
                l.filename
            );
        }
    }
    Ok(())
}

/// The plan the lock pins for one architecture; refused when the lock has no entry or the
/// recipe asks for other packages than it did when it was locked.
fn locked_plan(
    source: &Source<'_>,
    target: &Target,
    lock: &Lock,
    image: &ImageRef,
    arch: Arch,
) -> anyhow::Result<Plan> {
    let n = image.release.number;
    let name = target.lock_name(image);
    let relock = match &target.app {
        Some(a) => format!("distroless lock -f {} --arch {arch}", a.file),
        None => format!("distroless lock {}-debian{n} --arch {arch}", image.name),
    };
    let entry = lock.find(&name, n, arch).with_context(|| {
        format!("{name} (Debian {n}, {arch}) is not in the lock file; run `{relock}`")
    })?;
    let asked = target.requested();
    if entry.requested != asked {
        bail!(
            "the recipe's packages ({}) are not those locked for {name} ({}); run `{relock}`",
            shown_list(&asked),
            shown_list(&entry.requested)
        );
    }
    Ok(entry.to_plan(image, &source.archive.mirrors))
}

fn shown_list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
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
            target: Target {
                base: Base::Catalog(ImageRef::parse(image, catalog).unwrap()),
                app: None,
                arches: Arches::Listed(vec![Arch::Amd64]),
                lock: None,
                upstreams: crate::model::Upstreams::default(),
            },
            destination: Destination::from_path(out, crate::model::destination::Format::Oci),
            dry_run: false,
            options: crate::request::BuildOptions::default(),
            replace: false,
            matrix: None,
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

        let req = request(&catalog, "base-debian13", tmp.path().join("c"));
        let plans = Prepared::new(&catalog, &req.target, Some(&source))
            .unwrap()
            .plans(&source)
            .unwrap();
        assert_eq!(plans[0].0.tiers.len(), 3);
        assert!(!tmp.path().join("c").exists(), "planning writes no output");
    }

    #[test]
    fn an_application_is_the_last_tier_of_the_chain() {
        let catalog = Catalog::embedded().unwrap();
        let app = AppSpec::for_test(
            "name = \"shop\"\npackages = [\"libpq5\"]\n",
            std::path::Path::new("."),
        );
        let chain = chain_with_app(&catalog, "cc", Some(&app)).unwrap();
        let names: Vec<&str> = chain.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["static", "base-nossl", "base", "cc", "app"]);
        assert_eq!(chain[4].from.as_deref(), Some("cc"));
        assert_eq!(chain[4].packages, ["libpq5"]);
    }
}
