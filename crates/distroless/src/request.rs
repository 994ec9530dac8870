//! The typed request every command receives. The binary turns flags and recipe into one of
//! these once (merged and validated); nothing below it sees a command-line type.

use oci::layer::Compression;

use crate::app::AppSpec;
use crate::layers::Layering;
use crate::model::lock::Lock;
use crate::model::{Arch, Base, Catalog, Destination, ImageRef};
use crate::sbom::SbomFormats;

/// Which architectures to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arches {
    Listed(Vec<Arch>),
    /// Every published architecture the Debian suite offers.
    AllOffered,
    /// None named: the host's for an image built from packages, every platform of an image
    /// on disk.
    Default(Arch),
}

impl Arches {
    /// The architectures asked for: every one the suite offers (`all`), those given, else
    /// the recipe's, else the host's.
    pub fn choose(all: bool, given: &[String], recipe: Option<&[String]>) -> anyhow::Result<Self> {
        let recipe = recipe.unwrap_or_default();
        Ok(if all {
            Arches::AllOffered
        } else if !given.is_empty() {
            Arches::Listed(Arch::parse_list(given)?)
        } else if !recipe.is_empty() {
            Arches::Listed(Arch::parse_list(recipe)?)
        } else {
            Arches::Default(Arch::host())
        })
    }
}

/// What to plan: the base, the application on it, the architectures, and the lock to take
/// the packages from (what `build`, `build --dry-run` and `lock` share).
#[derive(Debug, Clone)]
pub struct Target {
    pub base: Base,
    /// The application recipe (file and flags merged), if any.
    pub app: Option<AppSpec>,
    pub arches: Arches,
    /// Build exactly the packages of this lock instead of resolving.
    pub lock: Option<Lock>,
    /// Where the recipes' sources beyond Debian come from, when the command line says.
    pub upstreams: crate::model::Upstreams,
}

/// Everything `distroless build` needs.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub target: Target,
    pub destination: Destination,
    /// How every image is made (what a matrix shares between its images).
    pub options: BuildOptions,
    /// Replace an existing layout instead of adding the new tags to it.
    pub replace: bool,
    /// Plan (or, on an image on disk, assemble and check) without writing, pushing or signing.
    pub dry_run: bool,
    /// In a matrix: the image's repository (its layout refs are `REPOSITORY:TAG`) and where
    /// its SBOMs and provenance go (`STEM.spdx.json`, …) instead of beside the layout.
    pub matrix: Option<MatrixPlace>,
}

/// How images are made, whatever is built and wherever it goes.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub compression: Compression,
    pub layering: Layering,
    /// `SOURCE_DATE_EPOCH`: every mtime and the config's `created`.
    pub epoch: u64,
    /// Warn instead of failing when an ELF file needs a missing library.
    pub allow_missing: bool,
    pub sbom: SbomFormats,
    /// Audit the result with this policy before anything is written.
    pub audit: Option<crate::model::policy::Policy>,
    /// The command line, secrets redacted (recorded in the provenance).
    pub invocation: Vec<String>,
}

/// Where one image of a matrix lands in the matrix's shared layout.
#[derive(Debug, Clone)]
pub struct MatrixPlace {
    pub repository: String,
    pub evidence: std::path::PathBuf,
}

/// The defaults the command line has: gzip, one layer per tier, the epoch, both SBOMs, no audit.
impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            compression: Compression::Gzip,
            layering: Layering::Tier,
            epoch: 0,
            allow_missing: false,
            sbom: SbomFormats::Both,
            audit: None,
            invocation: Vec::new(),
        }
    }
}

impl BuildRequest {
    /// Refuses combinations that cannot mean anything, whatever the base.
    pub fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !(self.dry_run && self.options.audit.is_some()),
            "an audit judges the image a build writes, and a dry run writes none: ask for one of them"
        );
        let several = match &self.target.arches {
            Arches::AllOffered => true,
            Arches::Listed(list) => list.len() > 1,
            Arches::Default(_) => false,
        };
        anyhow::ensure!(
            !(several && matches!(self.destination, Destination::DockerArchive(_))),
            "{}: a docker-archive holds one architecture and this build asks for several",
            self.destination.path().display()
        );
        if let Base::Disk(base) = &self.target.base {
            refuse_overwriting(&self.destination, base)?;
        }
        Ok(())
    }
}

/// An output that would replace (or sit inside, or hold) the image on disk it is built on is
/// refused: the base would be gone, or changed, by the time the build reads it again.
fn refuse_overwriting(
    destination: &Destination,
    base: &crate::model::DiskImage,
) -> anyhow::Result<()> {
    let absolute = |p: &std::path::Path| -> std::path::PathBuf {
        if let Ok(c) = fs_err::canonicalize(p) {
            return c;
        }
        let parent = p.parent().filter(|x| !x.as_os_str().is_empty());
        match (parent.map(fs_err::canonicalize), p.file_name()) {
            (Some(Ok(dir)), Some(name)) => dir.join(name),
            (None, Some(name)) => std::env::current_dir().unwrap_or_default().join(name),
            _ => p.to_path_buf(),
        }
    };
    let (out, from) = (absolute(destination.path()), absolute(&base.path));
    anyhow::ensure!(
        !(out.starts_with(&from) || from.starts_with(&out)),
        "{}: the output would overwrite the image it is built on ({}); write it elsewhere",
        destination.path().display(),
        base.shown
    );
    Ok(())
}

impl Target {
    /// The catalog image the build stands on: the base itself, or `static` of the release
    /// for `auto`. `None` for an image on disk.
    pub fn image(&self, catalog: &Catalog) -> anyhow::Result<Option<ImageRef>> {
        Ok(match &self.base {
            Base::Catalog(r) => Some(r.clone()),
            Base::Auto(release) => Some(ImageRef::parse(
                &format!("static-debian{}", release.number),
                catalog,
            )?),
            Base::Disk(_) => None,
        })
    }

    /// How errors name what is being built: the application, or the catalog image.
    pub fn shown(&self, image: &ImageRef) -> String {
        self.app
            .as_ref()
            .map_or_else(|| image.canonical(), |a| a.recipe.name.clone())
    }

    /// A catalog image to lock, as its debug variant: its plan also pins the busybox every
    /// variant's lock entry records (the newest release's, see `plan`).
    pub fn to_lock(
        mut image: ImageRef,
        arches: Arches,
        upstreams: crate::model::Upstreams,
    ) -> Self {
        image.variant.debug = true;
        Target {
            base: Base::Catalog(image),
            app: None,
            arches,
            lock: None,
            upstreams,
        }
    }

    /// An application recipe to lock: its architectures unless others are given; a recipe on
    /// an image on disk has nothing to lock.
    pub fn to_lock_recipe(
        spec: AppSpec,
        catalog: &Catalog,
        arches: &[String],
        upstreams: crate::model::Upstreams,
    ) -> anyhow::Result<Self> {
        spec.check_name()?;
        let base = spec.base(catalog)?;
        anyhow::ensure!(
            !matches!(base, Base::Disk(_)),
            "{}: an image on disk is not built from Debian packages; there is nothing to lock",
            spec.file
        );
        let arches = Arch::parse_list(if arches.is_empty() {
            &spec.recipe.arches
        } else {
            arches
        })?;
        Ok(Target {
            base,
            app: Some(spec),
            arches: Arches::Listed(arches),
            lock: None,
            upstreams,
        })
    }

    /// Several catalog targets: the sources the command line names must be a source of one
    /// of them, and each takes its own.
    pub fn share_upstreams(targets: &mut [Self], catalog: &Catalog) -> anyhow::Result<()> {
        if targets.len() < 2 {
            return Ok(());
        }
        let images: Vec<String> = (targets.iter())
            .filter_map(|t| match &t.base {
                Base::Catalog(image) => Some(image.name.clone()),
                _ => None,
            })
            .collect();
        let each = crate::app::upstream::for_many(
            &targets[0].upstreams,
            catalog,
            images.iter().map(String::as_str),
        )?;
        for t in targets {
            t.upstreams = each.clone();
        }
        Ok(())
    }

    /// What re-resolving a lock takes: every catalog entry (its image and architecture), and
    /// the names of the application entries, which need their recipe to be re-resolved.
    pub fn relock(
        lock: &Lock,
        catalog: &Catalog,
        upstreams: &crate::model::Upstreams,
    ) -> anyhow::Result<(Vec<Self>, Vec<String>)> {
        let mut targets = Vec::new();
        let mut skipped = Vec::new();
        for i in &lock.images {
            if catalog.chain(&i.name).is_err() {
                skipped.push(i.name.clone());
                continue;
            }
            let r = ImageRef::parse(&format!("{}-debian{}", i.name, i.debian), catalog)?;
            targets.push(Self::to_lock(
                r,
                Arches::Listed(vec![i.arch]),
                upstreams.clone(),
            ));
        }
        skipped.dedup();
        Ok((targets, skipped))
    }

    /// The tags of the image: the application's (`latest` when it names none, whatever
    /// variant it starts from), or the catalog image's variant tag.
    pub fn tags(&self, image: Option<&ImageRef>) -> Vec<String> {
        match (&self.app, image) {
            (Some(a), _) if !a.recipe.tags.is_empty() => a.recipe.tags.clone(),
            (Some(_), _) | (None, None) => vec!["latest".to_string()],
            (None, Some(image)) => vec![image.variant.tag().to_string()],
        }
    }

    /// The packages an application recipe names, sorted (what a lock entry records).
    pub fn requested(&self) -> Vec<String> {
        let mut names: Vec<String> = (self.app.iter())
            .flat_map(|a| a.recipe.packages.iter().cloned())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The name the plan is locked under: the catalog image's, or for an application
    /// `NAME on BASE` (an application's packages differ from its base's).
    pub fn lock_name(&self, image: &ImageRef) -> String {
        match (&self.app, &self.base) {
            (None, _) => image.name.clone(),
            (Some(a), Base::Auto(_)) => format!("{} on auto", a.recipe.name),
            (Some(a), _) => format!("{} on {}", a.recipe.name, image.name),
        }
    }
}
