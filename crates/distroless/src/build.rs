//! The pipeline, and only the pipeline: request → plan → packages → layers → image →
//! destination. Each step lives in its own module and takes typed values from the step before;
//! this module decides the order and nothing else.

use anyhow::{Context, bail};
use oci::layout::LayoutWriter;

use crate::app::upstream::Upstream;
use crate::app::{AppPrepared, AppSpec, machine, prepare::auto_plan, prepare_app, settings};
use crate::attest::provenance;
use crate::image::assemble::{ArchImage, ArchStep};
use crate::image::{index_digest, tagged_index};
use crate::model::lock::Lock;
use crate::model::recipe::Recipe;
use crate::model::{Arch, Base, Catalog, ImageRef};
use crate::output::{self, BuildSummary, DockerImage};
use crate::plan::{Plan, Source, UnknownPackage, plan};
use crate::report::Reporter;
use crate::request::{Arches, BuildRequest, Target};

/// Builds an application image on an image on disk (no Debian archive is read).
pub fn build_on_disk(req: &BuildRequest, reporter: &dyn Reporter) -> anyhow::Result<BuildSummary> {
    let (Base::Disk(base), Some(app)) = (&req.target.base, &req.target.app) else {
        bail!("an image on disk is a base for application recipes only");
    };
    if let Some(w) = settings::healthcheck_warning(app, &req.destination) {
        reporter.warn(&w);
    }
    let arches = match &req.target.arches {
        Arches::Listed(list) => Some(list.as_slice()),
        Arches::AllOffered | Arches::Default(_) => None,
    };
    crate::foreign::app::build(app, base, req, arches, reporter)
}

/// Builds a catalog image (or an application on one, or on `auto`) for every requested
/// architecture, and writes the output atomically.
pub fn build(
    source: &Source<'_>,
    catalog: &Catalog,
    req: &BuildRequest,
) -> anyhow::Result<BuildSummary> {
    let target = &req.target;
    let (image, owned) = stands_on(catalog, target)?;
    let chain: Vec<&Recipe> = owned.iter().collect();
    let arches = arches(source, &image, &target.arches)?;
    let apps = prepare(target, &arches)?;
    let upstream = Upstream::prepare(&chain, target.app.as_ref(), &target.upstreams)?;
    req.destination.check()?;
    // Upstream archives: downloaded, checked and unpacked before any layer is built.
    let mut archives = Vec::new();
    for &arch in &arches {
        // Under --locked, the lock's digests (the checksum file is not read again).
        let pinned = target.lock.as_ref().map(|lock| {
            lock.find(&target.lock_name(&image), image.release.number, arch)
                .map_or_else(Vec::new, |e| e.archives.clone())
        });
        archives.push(upstream.materialize(source, arch, &target.upstreams, pinned.as_deref())?);
    }
    if let Some(w) =
        (target.app.as_ref()).and_then(|a| settings::healthcheck_warning(a, &req.destination))
    {
        source.reporter.warn(&w);
    }
    let started = std::time::SystemTime::now();
    let layout = LayoutWriter::new(req.destination.path())?;
    let mut built = Vec::new();
    let mut explain = Vec::new();
    let mut materials = Vec::new();
    for ((&arch, app), archives) in arches.iter().zip(&apps).zip(&archives) {
        let what = || format!("{} for {arch}", target.shown(&image));
        let (p, lines) = resolve(
            source,
            target,
            &image,
            &chain,
            app.as_ref(),
            arch,
            &upstream,
        )?;
        explain.extend(lines);
        materials.extend(provenance::from_plan(&p, image.variant.debug)?);
        materials.extend(provenance::from_archives(&archives.records));
        let step = ArchStep {
            source,
            catalog,
            req,
            image: &image,
            chain: &chain,
            app: app.as_ref(),
            archives,
            layout: &layout,
        };
        built.push(step.build(&p).with_context(what)?);
    }
    let record = Record {
        materials,
        started,
        explain,
    };
    finish(layout, req, &image, built, record)
}

/// What the build learnt on the way that the output records: the inputs fetched (for the
/// provenance), when it began, and the `--explain` lines.
struct Record {
    materials: Vec<provenance::Material>,
    started: std::time::SystemTime,
    explain: Vec<String>,
}

/// The plans a build would use, one per architecture, with their `--explain` lines (for
/// `--dry-run` and `lock`; from the lock with `--locked`, as the build would). The
/// application's recipe is checked as the build checks it.
pub fn plans(
    source: &Source<'_>,
    catalog: &Catalog,
    target: &Target,
) -> anyhow::Result<Vec<(Plan, Vec<String>)>> {
    let (image, owned) = stands_on(catalog, target)?;
    let chain: Vec<&Recipe> = owned.iter().collect();
    let arches = arches(source, &image, &target.arches)?;
    let apps = prepare(target, &arches)?;
    let upstream = Upstream::prepare(&chain, target.app.as_ref(), &target.upstreams)?;
    for (arch, app) in arches.iter().zip(&apps) {
        if target.lock.is_none() {
            upstream.check(*arch, &target.upstreams)?;
        }
        if let Some(app) = app {
            for w in machine::check_copies(app, *arch)? {
                source.reporter.warn(&w);
            }
        }
    }
    arches
        .into_iter()
        .zip(&apps)
        .map(|(arch, app)| {
            resolve(
                source,
                target,
                &image,
                &chain,
                app.as_ref(),
                arch,
                &upstream,
            )
        })
        .collect()
}

/// The application prepared (and checked) for every architecture, before anything is
/// downloaded.
fn prepare(target: &Target, arches: &[Arch]) -> anyhow::Result<Vec<Option<AppPrepared>>> {
    arches
        .iter()
        .map(|&arch| {
            target
                .app
                .as_ref()
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

/// The plan of one architecture as the build uses it, with its `--explain` lines: from the
/// lock, or resolved (and, on `auto`, with the library files the programs need).
fn resolve(
    source: &Source<'_>,
    target: &Target,
    image: &ImageRef,
    chain: &[&Recipe],
    app: Option<&AppPrepared>,
    arch: Arch,
    upstream: &Upstream,
) -> anyhow::Result<(Plan, Vec<String>)> {
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
    let p = plan(source, chain, image, arch, additions).map_err(|e| {
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
    let asked = requested(target);
    if entry.requested != asked {
        bail!(
            "the recipe's packages ({}) are not those locked for {name} ({}); run `{relock}`",
            shown_list(&asked),
            shown_list(&entry.requested)
        );
    }
    Ok(entry.to_plan(image, &source.archive.mirrors))
}

/// The packages an application recipe names, sorted (what a lock entry records).
pub fn requested(target: &Target) -> Vec<String> {
    let mut names: Vec<String> = target
        .app
        .iter()
        .flat_map(|a| a.recipe.packages.iter().cloned())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn shown_list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Writes the index, the output, the SBOMs of every architecture and the provenance.
fn finish(
    layout: LayoutWriter,
    req: &BuildRequest,
    image: &ImageRef,
    built: Vec<ArchImage>,
    record: Record,
) -> anyhow::Result<BuildSummary> {
    let tags: Vec<String> = match req.target.app.as_ref().map(|a| a.recipe.tags.clone()) {
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
    let name = req.target.app.as_ref().map_or_else(
        || format!("distroless/{}-debian{}", image.name, image.release.number),
        |a| a.recipe.name.clone(),
    );
    let top = tagged_index(
        &layout,
        manifests,
        &match &req.matrix {
            Some(m) => tags
                .iter()
                .map(|t| format!("{}:{t}", m.repository))
                .collect(),
            None => req.destination.ref_names(&name, &tags),
        },
        req.destination.kept(req.replace),
    )?;
    let index_digest = index_digest(&top)?;
    if let Some(policy) = &req.audit {
        audit_staged(&layout, &top, &tags, policy)?;
    }
    let docker = match built.as_slice() {
        [one] => Some(DockerImage {
            repo_tags: tags.iter().map(|t| format!("{name}:{t}")).collect(),
            ..one.docker.clone()
        }),
        _ => None,
    };
    // SBOMs are written under temporary names first and renamed beside the image only once
    // the image is in place: a failed or interrupted build leaves neither.
    let evidence = match &req.matrix {
        Some(m) => crate::model::Destination::Layout(m.evidence.clone()),
        None => req.destination.clone(),
    };
    let mut staged = Vec::new();
    let mut byproducts = Vec::new();
    for b in &built {
        for doc in &b.sboms {
            let path = evidence.sbom_path(&doc.arch, doc.kind, multi);
            byproducts.push(provenance::Byproduct::of(&path, doc, &b.summary.digest));
            staged.push((crate::files::stage(&path, &doc.bytes)?, path));
        }
    }
    let top_digest = top
        .manifests()
        .first()
        .map(|d| d.digest().to_string())
        .unwrap_or_default();
    let statement = provenance_of(
        req,
        image,
        &name,
        &top_digest,
        &built,
        record.materials,
        record.started,
        &byproducts,
    );
    let provenance_path = evidence.provenance_path();
    let staged_provenance = crate::files::stage(&provenance_path, &statement.to_json())?;
    output::finish(layout, &top, &req.destination, docker.as_ref())?;
    let mut sboms = Vec::new();
    for (tmp, path) in staged {
        tmp.persist(&path)?;
        sboms.push(path);
    }
    staged_provenance.persist(&provenance_path)?;
    let (shown, base) = match &req.target.app {
        Some(_) => (
            format!("{name}:{}", tags.first().map_or("latest", String::as_str)),
            Some(match req.target.base {
                Base::Auto(r) => format!("auto (Debian {})", r.number),
                _ => image.canonical(),
            }),
        ),
        None => (image.canonical(), None),
    };
    Ok(BuildSummary {
        image: shown,
        base,
        output: req.destination.path().to_path_buf(),
        format: req.destination.format(),
        digest: top_digest,
        index_digest,
        manifests: built.into_iter().map(|b| b.summary).collect(),
        sboms,
        provenance: Some(provenance_path),
        explain: record.explain,
    })
}

/// The build's provenance: the packages fetched, the files copied, the recipe, the request.
#[allow(clippy::too_many_arguments)]
fn provenance_of(
    req: &BuildRequest,
    image: &ImageRef,
    name: &str,
    top: &str,
    built: &[ArchImage],
    mut materials: Vec<provenance::Material>,
    started: std::time::SystemTime,
    byproducts: &[provenance::Byproduct],
) -> sign::statement::Statement {
    for b in built {
        materials.extend(provenance::from_files(&b.summary.files));
    }
    // A recipe given only as flags has no file: the command line records it.
    let recipe = req
        .target
        .app
        .as_ref()
        .filter(|a| !a.text.is_empty())
        .map(|a| (a.file.clone(), provenance::sha256_hex(a.text.as_bytes())));
    let base_name = req.target.app.as_ref().map(|_| image.canonical());
    provenance::statement(
        &provenance::Build {
            image: name,
            top,
            manifests: built
                .iter()
                .map(|b| (b.summary.arch.clone(), b.summary.digest.clone()))
                .collect(),
            recipe: recipe.as_ref().map(|(f, d)| (f.as_str(), d.as_str())),
            base: base_name.as_deref(),
            request: req,
            started,
        },
        &materials,
        byproducts,
    )
}

/// Audits the image in the staging directory; a finding stops the build before anything is
/// written. Certificates are judged against the build's clock, not `SOURCE_DATE_EPOCH`.
fn audit_staged(
    layout: &LayoutWriter,
    top: &oci_spec::image::ImageIndex,
    tags: &[String],
    policy: &crate::inspect::audit::Policy,
) -> anyhow::Result<()> {
    let root = layout.staged(top)?;
    let image = oci::read::ForeignImage::open(root, tags.first().map(String::as_str))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let findings: Vec<_> = crate::inspect::audit::audit_image(
        &image,
        policy,
        now,
        crate::inspect::fs::Expansion::default(),
    )?
    .into_iter()
    .filter(|(_, f)| f.level == crate::inspect::audit::Level::Error)
    .collect();
    if findings.is_empty() {
        Ok(())
    } else {
        Err(crate::inspect::audit::AuditFailed(findings).into())
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
            destination: Destination::from_path(out, false),
            compression: oci::layer::Compression::Gzip,
            layering: crate::layers::Layering::Tier,
            epoch: 0,
            allow_missing: false,
            sbom: crate::sbom::SbomFormats::Both,
            replace: false,
            audit: None,
            invocation: Vec::new(),
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

        let plans = plans(
            &source,
            &catalog,
            &request(&catalog, "base-debian13", tmp.path().join("c")).target,
        )
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
