//! The built-in images, embedded from `images/*.toml`, and references to them.
//!
//! References use the names people know from Google's registry:
//! `NAME[-debian12|-debian13][:latest|nonroot|debug|debug-nonroot]`; no suffix means Debian 13.

use anyhow::{Context, bail};

use super::recipe::Recipe;
use super::release::{DebianRelease, RELEASES};

const EMBEDDED: &[(&str, &str)] = &[
    (
        "images/static.toml",
        include_str!("../../../../images/static.toml"),
    ),
    (
        "images/base-nossl.toml",
        include_str!("../../../../images/base-nossl.toml"),
    ),
    (
        "images/base.toml",
        include_str!("../../../../images/base.toml"),
    ),
    ("images/cc.toml", include_str!("../../../../images/cc.toml")),
    (
        "images/python3.toml",
        include_str!("../../../../images/python3.toml"),
    ),
    (
        "images/java17.toml",
        include_str!("../../../../images/java17.toml"),
    ),
    (
        "images/java21.toml",
        include_str!("../../../../images/java21.toml"),
    ),
    (
        "images/java25.toml",
        include_str!("../../../../images/java25.toml"),
    ),
    (
        "images/java-base.toml",
        include_str!("../../../../images/java-base.toml"),
    ),
    (
        "images/nodejs.toml",
        include_str!("../../../../images/nodejs.toml"),
    ),
    (
        "images/nodejs22.toml",
        include_str!("../../../../images/nodejs22.toml"),
    ),
    (
        "images/nodejs24.toml",
        include_str!("../../../../images/nodejs24.toml"),
    ),
    (
        "images/nodejs26.toml",
        include_str!("../../../../images/nodejs26.toml"),
    ),
    (
        "images/java17-temurin.toml",
        include_str!("../../../../images/java17-temurin.toml"),
    ),
    (
        "images/java21-temurin.toml",
        include_str!("../../../../images/java21-temurin.toml"),
    ),
    (
        "images/java25-temurin.toml",
        include_str!("../../../../images/java25-temurin.toml"),
    ),
];

/// Image variant: the tag part of a reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Variant {
    pub nonroot: bool,
    pub debug: bool,
}

impl Variant {
    /// The tag name (`latest`, `nonroot`, `debug`, `debug-nonroot`).
    pub fn tag(self) -> &'static str {
        match (self.debug, self.nonroot) {
            (false, false) => "latest",
            (false, true) => "nonroot",
            (true, false) => "debug",
            (true, true) => "debug-nonroot",
        }
    }
}

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    pub name: String,
    pub release: DebianRelease,
    pub variant: Variant,
}

impl ImageRef {
    /// Parses `cc-debian12:nonroot`, `static`, `base:debug`.
    pub fn parse(text: &str, catalog: &Catalog) -> anyhow::Result<Self> {
        let (name, tag) = text.split_once(':').unwrap_or((text, "latest"));
        let variant = match tag {
            "latest" | "" => Variant::default(),
            "nonroot" => Variant {
                nonroot: true,
                debug: false,
            },
            "debug" => Variant {
                nonroot: false,
                debug: true,
            },
            "debug-nonroot" => Variant {
                nonroot: true,
                debug: true,
            },
            other => bail!(
                "image {text:?}: unknown tag {other:?} (use latest, nonroot, debug or debug-nonroot)"
            ),
        };
        let (base, explicit) = match name.rsplit_once("-debian") {
            Some((base, n)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
                (base, Some(DebianRelease::from_number(n.parse()?)?))
            }
            _ => (name, None),
        };
        let Some(recipe) = catalog.get(base) else {
            bail!(
                "image {text:?}: no catalog image named {base:?} (known: {})",
                catalog.names().join(", ")
            );
        };
        let release = match explicit {
            Some(r) if recipe.supports(r.number) => r,
            Some(r) => bail!(
                "image {text:?}: {base} does not exist for Debian {}",
                r.number
            ),
            // Without a suffix: Debian 13, or the newest release the image exists for.
            None => *RELEASES
                .iter()
                .rev()
                .find(|r| recipe.supports(r.number))
                .with_context(|| format!("image {text:?}: {base} exists for no release"))?,
        };
        Ok(ImageRef {
            name: base.to_string(),
            release,
            variant,
        })
    }

    /// The canonical name, e.g. `cc-debian13:nonroot`.
    pub fn canonical(&self) -> String {
        format!(
            "{}-debian{}:{}",
            self.name,
            self.release.number,
            self.variant.tag()
        )
    }
}

/// The catalog of built-in recipes.
#[derive(Debug, Clone)]
pub struct Catalog {
    recipes: Vec<Recipe>,
}

impl Catalog {
    /// Loads the embedded catalog.
    pub fn embedded() -> anyhow::Result<Self> {
        let recipes = EMBEDDED
            .iter()
            .map(|(file, text)| Recipe::parse(file, text))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Catalog { recipes })
    }

    /// The recipe of that name.
    pub fn get(&self, name: &str) -> Option<&Recipe> {
        self.recipes.iter().find(|r| r.name == name)
    }

    /// All names in catalog order.
    pub fn names(&self) -> Vec<&str> {
        self.recipes.iter().map(|r| r.name.as_str()).collect()
    }

    /// All recipes in catalog order.
    pub fn recipes(&self) -> &[Recipe] {
        &self.recipes
    }

    /// The chain of recipes from the root ancestor to `name`.
    pub fn chain(&self, name: &str) -> anyhow::Result<Vec<&Recipe>> {
        let mut chain = Vec::new();
        let mut cur = Some(name.to_string());
        while let Some(n) = cur.take() {
            let r = self
                .get(&n)
                .with_context(|| format!("catalog image {n:?} does not exist"))?;
            if chain.iter().any(|c: &&Recipe| c.name == r.name) {
                bail!("catalog image {name:?}: `from` chain loops at {n:?}");
            }
            chain.push(r);
            cur.clone_from(&r.from);
        }
        chain.reverse();
        Ok(chain)
    }
}

impl Catalog {
    /// Every image with its releases and their packages, runtime, upstream sources, tags and
    /// architectures: what `list --json` prints.
    pub fn listing(&self) -> Vec<serde_json::Value> {
        let arches: Vec<&str> = super::Arch::published().map(super::Arch::debian).collect();
        self
            .recipes()
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "from": r.from,
                    "description": r.description,
                    "debian": RELEASES.iter().filter(|d| r.supports(d.number)).map(|d| serde_json::json!({
                        "release": d.number,
                        "codename": d.codename,
                        "packages": r.packages_for(d.number),
                    })).collect::<Vec<_>>(),
                    "runtime": r.runtime.as_ref().map(|rt| serde_json::json!({
                        "name": rt.name,
                        "from": rt.origin.as_deref().unwrap_or("Debian archive"),
                        "packages": rt.packages,
                        "archive": rt.archive,
                    })),
                    "archives": r.archives.iter().map(|a| serde_json::json!({
                        "name": a.name, "version": a.version,
                    })).collect::<Vec<_>>(),
                    "repositories": r.repositories.iter().filter_map(|x| x.name.clone()).collect::<Vec<_>>(),
                    "tags": ["latest", "nonroot", "debug", "debug-nonroot"],
                    "arches": arches,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recipe added to `images/` is embedded (and only those there are): a new catalog image
    /// is one file there and one line in `EMBEDDED`.
    #[test]
    fn every_file_of_images_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../images");
        let mut on_disk: Vec<String> = fs_err::read_dir(&dir)
            .unwrap()
            .map(|e| format!("images/{}", e.unwrap().file_name().to_string_lossy()))
            .filter(|n| n.ends_with(".toml"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = EMBEDDED.iter().map(|(n, _)| (*n).to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "images/ and the embedded catalog differ");
        for (name, text) in EMBEDDED {
            assert_eq!(
                fs_err::read_to_string(dir.join(name.trim_start_matches("images/"))).unwrap(),
                *text,
                "{name}"
            );
        }
    }

    #[test]
    fn references() {
        let c = Catalog::embedded().unwrap();
        let r = ImageRef::parse("cc-debian12:nonroot", &c).unwrap();
        assert_eq!(
            (r.name.as_str(), r.release.number, r.variant.nonroot),
            ("cc", 12, true)
        );
        let r = ImageRef::parse("base:debug", &c).unwrap();
        assert_eq!(r.canonical(), "base-debian13:debug");
        assert!(
            ImageRef::parse("nope", &c)
                .unwrap_err()
                .to_string()
                .contains("known: static")
        );
        assert!(ImageRef::parse("static:weird", &c).is_err());
        assert!(ImageRef::parse("static-debian11", &c).is_err());
    }

    #[test]
    fn chains() {
        let c = Catalog::embedded().unwrap();
        let names: Vec<_> = c
            .chain("cc")
            .unwrap()
            .iter()
            .map(|r| r.name.clone())
            .collect();
        assert_eq!(names, ["static", "base-nossl", "base", "cc"]);
    }
}
