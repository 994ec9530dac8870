//! The TOML recipe model: what an image is made of.
//!
//! Catalog images (`images/*.toml`) are recipes too. Unknown keys and wrong types are errors
//! that name the file, line and key; this module only reads, it never resolves packages.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Package additions and exclusions that apply to one Debian release only.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReleasePart {
    #[serde(default)]
    pub packages: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Symlinks that a maintainer script would have made (`update-alternatives`, `python3`).
    /// Targets may use `{arch}` for the Debian architecture.
    #[serde(default)]
    pub symlinks: BTreeMap<String, String>,
}

/// One image recipe.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    pub name: String,
    /// Parent catalog image whose layers this one extends.
    pub from: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub packages: Vec<String>,
    /// Declared dependencies deliberately not installed (in addition to the built-in list).
    #[serde(default)]
    pub exclude: Vec<String>,
    pub debian12: Option<ReleasePart>,
    pub debian13: Option<ReleasePart>,
    /// Debian releases this image exists for (all when absent).
    pub releases: Option<Vec<u32>>,
    #[serde(default)]
    pub symlinks: BTreeMap<String, String>,
    /// Packages of which only some paths are taken (`{ "libc-bin" = ["sbin/ldconfig"] }`),
    /// without their dependencies.
    #[serde(default)]
    pub partial: BTreeMap<String, Vec<String>>,
    /// Package files left out of the image (`{arch}` allowed), for parts that would need a
    /// deliberately excluded library (the JRE's sound and smart-card bridges).
    #[serde(default)]
    pub remove: Vec<String>,
    /// Generate `/etc/ssl/certs/java/cacerts` from the CA bundle.
    #[serde(default)]
    pub java_trust_store: bool,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl Recipe {
    /// Parses a recipe; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> anyhow::Result<Self> {
        toml::from_str(text).map_err(|e| anyhow::anyhow!("{file}: {}", one_line(&e)))
    }

    fn part(&self, release: u32) -> Option<&ReleasePart> {
        match release {
            12 => self.debian12.as_ref(),
            13 => self.debian13.as_ref(),
            _ => None,
        }
    }

    /// Root packages of this recipe alone, for a Debian release.
    pub fn packages_for(&self, release: u32) -> Vec<String> {
        let mut out = self.packages.clone();
        if let Some(p) = self.part(release) {
            out.extend(p.packages.iter().cloned());
        }
        out
    }

    /// Symlinks of this recipe alone, for a Debian release and architecture.
    pub fn symlinks_for(&self, release: u32, arch: &str) -> BTreeMap<String, String> {
        let mut out = self.symlinks.clone();
        if let Some(p) = self.part(release) {
            out.extend(p.symlinks.clone());
        }
        for target in out.values_mut() {
            *target = target.replace("{arch}", arch);
        }
        out
    }

    /// Whether the image exists for a Debian release.
    pub fn supports(&self, release: u32) -> bool {
        self.releases.as_ref().is_none_or(|r| r.contains(&release))
    }

    /// Exclusions of this recipe alone, for a Debian release.
    pub fn excludes_for(&self, release: u32) -> Vec<String> {
        let mut out = self.exclude.clone();
        if let Some(p) = self.part(release) {
            out.extend(p.exclude.iter().cloned());
        }
        out
    }
}

/// Flattens a TOML error (which spans several lines with a caret) into one line.
fn one_line(e: &toml::de::Error) -> String {
    let msg = e.message().trim().to_string();
    match e.span() {
        Some(span) => format!("at byte {}: {msg}", span.start),
        None => msg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_an_error_naming_the_file() {
        let err = Recipe::parse("x.toml", "name = \"a\"\npackagez = []\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("x.toml:"), "{text}");
        assert!(text.contains("packagez"), "{text}");
    }

    #[test]
    fn release_parts_add_up() {
        let r = Recipe::parse(
            "r",
            "name = \"s\"\npackages = [\"a\"]\n[debian13]\npackages = [\"b\"]\nexclude = [\"c\"]\n",
        )
        .unwrap();
        assert_eq!(r.packages_for(13), ["a", "b"]);
        assert_eq!(r.packages_for(12), ["a"]);
        assert_eq!(r.excludes_for(13), ["c"]);
    }
}
