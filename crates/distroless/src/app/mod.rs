//! Application images: a recipe's `copy`, `users`, `groups`, `ca_certificates` and runtime
//! settings on top of a base (a catalog image, `auto`, or an image on disk).
//!
//! Everything a recipe names is checked before anything is downloaded: copied paths must
//! exist, owners and the user must be in the image's accounts, modes must be octal. Errors
//! name the recipe file, the line and the key. This module prepares what an application adds;
//! the layers and the config it becomes are written by the build.

pub mod accounts;
pub mod auto;
pub mod copy;
pub mod prepare;
pub mod settings;

use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::model::recipe::{Recipe, line_of};
use crate::model::{Base, Catalog, DebianRelease, DiskImage, ImageRef};

pub use accounts::Accounts;
pub use prepare::{AppPrepared, app_units, prepare_app, prepare_app_with};

/// A recipe with where it came from, for relative paths and error locations.
#[derive(Debug, Clone)]
pub struct AppSpec {
    pub recipe: Recipe,
    /// Shown in errors: the recipe file, or `command line`.
    pub file: String,
    pub text: String,
    /// Relative `src` and certificate paths start here.
    pub dir: PathBuf,
}

impl AppSpec {
    /// An error located at `key` (inside the `nth` `[[table]]` if given).
    pub fn error(
        &self,
        table: Option<(&str, usize)>,
        key: &str,
        message: impl std::fmt::Display,
    ) -> anyhow::Error {
        if self.text.is_empty() {
            return anyhow::anyhow!("{}: {key}: {message}", self.file);
        }
        let line = line_of(&self.text, table, key);
        let shown = match table {
            Some((t, n)) => format!("{t}[{n}].{key}"),
            None => key.to_string(),
        };
        anyhow::anyhow!("{}:{line}: {shown}: {message}", self.file)
    }

    /// The base image of the recipe.
    pub fn base(&self, catalog: &Catalog) -> anyhow::Result<Base> {
        let from = self.recipe.from.as_deref().unwrap_or("static");
        if DiskImage::is_named_by(from, &self.dir, catalog) {
            return Ok(Base::Disk(DiskImage::parse(from, &self.dir)));
        }
        if from == "auto" {
            let n = self.recipe.debian.unwrap_or(13);
            let release =
                DebianRelease::from_number(n).map_err(|e| self.error(None, "debian", e))?;
            return Ok(Base::Auto(release));
        }
        ImageRef::parse(from, catalog)
            .map(Base::Catalog)
            .map_err(|e| self.error(None, "from", e))
    }
}

/// Reads a recipe file.
pub fn load(path: &Path) -> anyhow::Result<AppSpec> {
    let text = fs_err::read_to_string(path)?;
    let file = path.display().to_string();
    let recipe = Recipe::parse(&file, &text)?;
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    Ok(AppSpec {
        recipe,
        file,
        text,
        dir,
    })
}

/// Fails when an application recipe uses catalog-only keys.
pub fn check_keys(spec: &AppSpec) -> anyhow::Result<()> {
    let r = &spec.recipe;
    if r.java_trust_store || !r.partial.is_empty() || !r.remove.is_empty() || r.releases.is_some() {
        bail!(
            "{}: java_trust_store, partial, remove and releases are for catalog recipes only",
            spec.file
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_only_keys_are_refused() {
        let spec = AppSpec {
            recipe: Recipe::parse("r", "java_trust_store = true\n").unwrap(),
            file: "r.toml".into(),
            text: String::new(),
            dir: PathBuf::from("."),
        };
        assert!(
            check_keys(&spec)
                .unwrap_err()
                .to_string()
                .contains("catalog recipes only")
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let text = "name = \"a\"\n[[copy]]\nsrc = \"x\"\ndest = \"/x\"\n";
        let spec = AppSpec {
            recipe: Recipe::parse("r", text).unwrap(),
            file: "r.toml".into(),
            text: text.into(),
            dir: PathBuf::from("."),
        };
        let e = spec.error(Some(("copy", 0)), "src", "missing");
        assert_eq!(e.to_string(), "r.toml:3: copy[0].src: missing");
    }
}
