//! A matrix file: a family of catalog images (which images, Debian releases, tags and
//! architectures) and where each goes, built in one process by `build --matrix FILE` (or the
//! whole catalog with `build --all`). Plain data and its expansion into jobs; nothing here
//! builds.

use std::collections::BTreeSet;

use anyhow::{Context, bail};
use serde::Deserialize;

use super::catalog::{Catalog, ImageRef, Variant};
use super::release::{DebianRelease, RELEASES};

/// The four tags of every catalog image.
pub const TAGS: [&str; 4] = ["latest", "nonroot", "debug", "debug-nonroot"];

/// The matrix file, as written.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    /// Catalog image names (`static`, `python3`); `["all"]` for the whole catalog.
    pub images: Vec<String>,
    /// Debian releases (default: every one); an image is built for those it exists for.
    pub releases: Option<Vec<u32>>,
    /// Tags (default: latest, nonroot, debug, debug-nonroot).
    pub tags: Option<Vec<String>>,
    /// Debian architectures of every index (default: the host's).
    #[serde(default)]
    pub arches: Vec<String>,
    /// Each image's repository, with `{image}` and `{release}`:
    /// default `distroless/{image}-debian{release}`, the published names.
    #[serde(default = "default_repository")]
    pub repository: String,
    /// Where `--push` sends the repositories (`127.0.0.1:5000/team`), unless the flag says.
    pub registry: Option<String>,
    /// Also tag each architecture's manifest (`latest-amd64`), as the published images do.
    #[serde(default)]
    pub arch_tags: bool,
    /// Sign each image (a cosign signature, in the registry and the layout).
    #[serde(default)]
    pub sign: bool,
    /// Attest each image's SBOMs and provenance (default: as `sign`).
    pub attest: Option<bool>,
    /// The private key (cosign's format), relative to the matrix file; `--key` overrides.
    pub key: Option<String>,
}

fn default_repository() -> String {
    "distroless/{image}-debian{release}".to_string()
}

/// One image of the matrix: a catalog reference and the repository and tag it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub image: ImageRef,
    pub repository: String,
    pub tag: String,
}

impl Job {
    /// `REPOSITORY:TAG`, the image's name in the matrix's layout.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.repository, self.tag)
    }
}

impl Matrix {
    /// Reads a matrix file (at most 1 MiB of UTF-8 TOML).
    pub fn read(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = String::from_utf8(crate::files::read_regular(path, 1 << 20)?)
            .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", path.display()))?;
        Matrix::parse(&path.display().to_string(), &text)
    }

    /// The architectures to build: those given (else the file's, else the host's); none for
    /// every one each release offers (`all`, or `arches = ["all"]`).
    pub fn arches_for(&self, given: &[String], all: bool) -> anyhow::Result<Vec<super::Arch>> {
        let names = if given.is_empty() {
            &self.arches
        } else {
            given
        };
        if all {
            return Ok(Vec::new());
        }
        if names.iter().any(|n| n == "all") {
            anyhow::ensure!(names.len() == 1, "arches: \"all\" stands alone");
            return Ok(Vec::new());
        }
        super::Arch::parse_list(names)
    }

    /// Parses a matrix file; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> anyhow::Result<Self> {
        let m: Matrix = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{file}:{}", super::recipe::one_line(&e, text)))?;
        anyhow::ensure!(!m.images.is_empty(), "{file}: images: name at least one");
        for (key, empty) in [
            ("releases", m.releases.as_ref().is_some_and(Vec::is_empty)),
            ("tags", m.tags.as_ref().is_some_and(Vec::is_empty)),
        ] {
            anyhow::ensure!(
                !empty,
                "{file}: {key}: name at least one (or leave it out for all)"
            );
        }
        let twice = |list: &[String]| {
            let mut seen = BTreeSet::new();
            list.iter().find(|x| !seen.insert(x.as_str())).cloned()
        };
        if let Some(x) = twice(&m.images).or_else(|| m.tags.as_deref().and_then(twice)) {
            bail!("{file}: {x:?} is listed twice");
        }
        Ok(m)
    }

    /// Whether the matrix is the whole catalog (`images = ["all"]`).
    pub fn is_all(&self) -> bool {
        self.images.iter().any(|i| i == "all")
    }

    /// The whole catalog, every release, the four tags.
    pub fn all() -> Self {
        Matrix {
            images: vec!["all".into()],
            releases: None,
            tags: None,
            arches: Vec::new(),
            repository: default_repository(),
            registry: None,
            arch_tags: false,
            sign: false,
            attest: None,
            key: None,
        }
    }

    /// Whether images are attested (`attest`, or `sign` when it is left out).
    pub fn attests(&self) -> bool {
        self.attest.unwrap_or(self.sign)
    }

    /// Every image × release × tag, in catalog order; an image is skipped for a release it
    /// does not exist for. Unknown names, releases and tags are errors naming `file`.
    pub fn jobs(&self, file: &str, catalog: &Catalog) -> anyhow::Result<Vec<Job>> {
        let names: Vec<String> = if self.is_all() {
            catalog.names().into_iter().map(str::to_string).collect()
        } else {
            self.images.clone()
        };
        let releases: Vec<DebianRelease> = match &self.releases {
            None => RELEASES.to_vec(),
            Some(list) => (list.iter())
                .map(|&n| {
                    DebianRelease::from_number(n).with_context(|| format!("{file}: releases"))
                })
                .collect::<anyhow::Result<_>>()?,
        };
        let tags: Vec<String> = match &self.tags {
            None => TAGS.iter().map(ToString::to_string).collect(),
            Some(list) => list.clone(),
        };
        for t in &tags {
            if !TAGS.contains(&t.as_str()) {
                bail!("{file}: tags: unknown tag {t:?} (use {})", TAGS.join(", "));
            }
        }
        let mut jobs = Vec::new();
        let mut seen = BTreeSet::new();
        for name in &names {
            let recipe = catalog.get(name).with_context(|| {
                format!(
                    "{file}: images: no catalog image named {name:?} (known: {})",
                    catalog.names().join(", ")
                )
            })?;
            for release in releases.iter().filter(|r| recipe.supports(r.number)) {
                let repository = self
                    .repository
                    .replace("{image}", name)
                    .replace("{release}", &release.number.to_string());
                check_repository(file, &repository)?;
                for tag in &tags {
                    let image = ImageRef {
                        name: name.clone(),
                        release: *release,
                        variant: variant(tag),
                    };
                    let job = Job {
                        image,
                        repository: repository.clone(),
                        tag: tag.clone(),
                    };
                    if !seen.insert(job.reference()) {
                        bail!(
                            "{file}: repository: {} names two images (use {{image}} and {{release}})",
                            job.reference()
                        );
                    }
                    jobs.push(job);
                }
            }
        }
        Ok(jobs)
    }
}

fn variant(tag: &str) -> Variant {
    Variant {
        nonroot: tag.contains("nonroot"),
        debug: tag.contains("debug"),
    }
}

/// A repository name as the distribution spec has it: components of lower-case letters and
/// digits joined by single separators (`.`, `_`, `__`, or dashes), separated by `/`.
fn check_repository(file: &str, name: &str) -> anyhow::Result<()> {
    let component_ok = |c: &str| {
        let b = c.as_bytes();
        let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
        if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
            return false;
        }
        // Between runs of letters and digits: `.`, `_`, `__`, or any number of `-`.
        let mut i = 0;
        while i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            let sep = &c[start..i];
            if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
                return false;
            }
        }
        true
    };
    if name.len() > 200 || !name.split('/').all(component_ok) {
        bail!(
            "{file}: repository: {name:?} is not a repository name (lower-case components separated by /)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matrix_expands_to_the_images_that_exist() {
        let c = Catalog::embedded().unwrap();
        let m = Matrix::parse(
            "m.toml",
            "images = [\"static\", \"java17\"]\ntags = [\"latest\", \"debug\"]\n",
        )
        .unwrap();
        let refs: Vec<String> = m
            .jobs("m.toml", &c)
            .unwrap()
            .iter()
            .map(Job::reference)
            .collect();
        assert_eq!(
            refs,
            [
                "distroless/static-debian12:latest",
                "distroless/static-debian12:debug",
                "distroless/static-debian13:latest",
                "distroless/static-debian13:debug",
                "distroless/java17-debian12:latest",
                "distroless/java17-debian12:debug",
            ]
        );
        let all = Matrix::all().jobs("--all", &c).unwrap();
        assert!(all.len() > 60, "{}", all.len());
    }

    #[test]
    fn bad_matrices_are_refused_naming_the_file() {
        let c = Catalog::embedded().unwrap();
        let err = |text: &str| {
            Matrix::parse("m.toml", text)
                .and_then(|m| m.jobs("m.toml", &c))
                .unwrap_err()
                .to_string()
        };
        assert!(
            err("images = [\"nope\"]\n")
                .contains("m.toml: images: no catalog image named \"nope\"")
        );
        assert!(err("images = [\"static\"]\ntags = [\"edge\"]\n").contains("unknown tag \"edge\""));
        assert!(err("images = [\"static\"]\nreleases = [11]\n").starts_with("m.toml: releases"));
        assert!(
            err("images = [\"static\", \"base\"]\nrepository = \"x/one\"\n")
                .contains("names two images")
        );
        assert!(
            err("images = [\"static\"]\nrepository = \"X/{image}\"\n")
                .contains("not a repository name")
        );
        assert!(
            err("imagez = []\n")
                .starts_with("m.toml:1: imagez: unknown key `imagez` (did you mean `images`?)")
        );
        assert!(
            err("images = [\"static\"]\nrepository = \"a/{image}..x\"\n")
                .contains("not a repository name")
        );
        assert!(
            err("images = [\"static\"]\nrepository = \"a/{image}._x\"\n")
                .contains("not a repository name")
        );
        assert!(err("images = [\"static\"]\ntags = []\n").contains("tags: name at least one"));
        assert!(err("images = [\"static\", \"static\"]\n").contains("listed twice"));
        let ok = Matrix::parse(
            "m",
            "images = [\"static\"]\nrepository = \"a__b/x--y.z/{image}-d{release}\"\n",
        )
        .unwrap();
        assert!(ok.jobs("m", &c).is_ok());
    }
}
