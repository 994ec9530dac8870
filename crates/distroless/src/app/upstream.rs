//! What an image takes from outside Debian's archive, over its whole recipe chain (the catalog
//! recipes it stands on, then the application): apt repositories resolved beside Debian's, and
//! upstream archives, each unpacked into a layer right after its recipe's tier, so an image
//! built on `nodejs24` starts with exactly `nodejs24`'s layers.
//!
//! A catalog recipe names no host and no key file (the catalog never writes a host name, and
//! a vendor's key is the user's to trust): the command line gives both, by the source's name
//! (see [`Upstreams`]).

use std::path::PathBuf;

use super::archives::{self, ArchiveRecord, LockedArchive};
use super::{AppSpec, CATALOG_PREFIX};
use crate::layers::LazyEntries;
use crate::model::recipe::Recipe;
use crate::model::{Arch, Catalog, Upstreams};
use crate::plan::{Repository, Source};

/// The recipes of a chain that name sources beyond Debian, ready to fetch from.
pub struct Upstream {
    /// Each such recipe (catalog ones first, the application last) with the tier its
    /// archives follow.
    specs: Vec<(String, AppSpec)>,
    /// Every repository of the chain, with its one key.
    pub repositories: Vec<Repository>,
}

/// The archives of a chain for one architecture, unpacked.
#[derive(Default)]
pub struct ArchiveLayers {
    /// (tier it follows, layer label, entries made when the layer is built), in chain order.
    pub layers: Vec<(String, String, LazyEntries)>,
    pub records: Vec<ArchiveRecord>,
}

impl Upstream {
    /// The chain's sources: `chain` holds the catalog recipes (the application, if any, is
    /// `app` and its tier is named `app`). Checks that every override names a source.
    pub fn prepare(
        chain: &[&Recipe],
        app: Option<&AppSpec>,
        upstreams: &Upstreams,
    ) -> anyhow::Result<Self> {
        let mut specs: Vec<(String, AppSpec)> = chain
            .iter()
            .filter(|r| r.name != "app")
            .filter(|r| !r.archives.is_empty() || !r.repositories.is_empty())
            .map(|r| (r.name.clone(), catalog_spec(r)))
            .collect();
        if let Some(app) = app {
            specs.push(("app".into(), app.clone()));
        }
        check_names(&specs)?;
        let (archives, repositories) = names_of(specs.iter().map(|(_, s)| &s.recipe));
        let archives: Vec<&str> = archives.iter().map(String::as_str).collect();
        let repositories: Vec<&str> = repositories.iter().map(String::as_str).collect();
        upstreams.check_known(&archives, &repositories)?;
        let mut all = Vec::new();
        for (_, spec) in &specs {
            all.extend(super::local::repositories(spec, upstreams)?);
        }
        Ok(Upstream {
            specs,
            repositories: all,
        })
    }

    /// Every archive of the chain for one architecture: downloaded, checked, unpacked. With
    /// `locked`, each must be the one locked (its SHA-256 is the lock's).
    pub fn materialize(
        &self,
        source: &Source<'_>,
        arch: Arch,
        upstreams: &Upstreams,
        locked: Option<&[LockedArchive]>,
    ) -> anyhow::Result<ArchiveLayers> {
        let mut out = ArchiveLayers::default();
        for (tier, spec) in &self.specs {
            for u in archives::materialize(source, spec, arch, upstreams, locked)? {
                out.layers.push((tier.clone(), u.label, u.entries));
                out.records.push(u.record);
            }
        }
        Ok(out)
    }

    /// Checks, without fetching, that the chain's archives can be fetched for `arch`.
    pub fn check(&self, arch: Arch, upstreams: &Upstreams) -> anyhow::Result<()> {
        for (_, spec) in &self.specs {
            archives::check(spec, arch, upstreams)?;
        }
        Ok(())
    }

    /// The archives of the chain for one architecture as a lock pins them.
    pub fn pins(
        &self,
        source: &Source<'_>,
        arch: Arch,
        upstreams: &Upstreams,
    ) -> anyhow::Result<Vec<LockedArchive>> {
        let mut out = Vec::new();
        for (_, spec) in &self.specs {
            out.extend(archives::pins(source, spec, arch, upstreams)?);
        }
        Ok(out)
    }
}

/// For a command over several images (`lock A B`, a matrix): every override a flag gives
/// must name a source of one of them; each image then takes the ones it has. Returns the
/// overrides to hand to each image.
pub fn for_many<'n>(
    upstreams: &Upstreams,
    catalog: &Catalog,
    images: impl IntoIterator<Item = &'n str>,
) -> anyhow::Result<Upstreams> {
    let mut recipes = Vec::new();
    for name in images {
        recipes.extend(catalog.chain(name)?);
    }
    let (archives, repositories) = names_of(recipes.into_iter());
    let archives: Vec<&str> = archives.iter().map(String::as_str).collect();
    let repositories: Vec<&str> = repositories.iter().map(String::as_str).collect();
    upstreams.check_known(&archives, &repositories)?;
    Ok(Upstreams {
        from_flags: Vec::new(),
        ..upstreams.clone()
    })
}

/// The archive names and repository names of recipes.
fn names_of<'r>(recipes: impl Iterator<Item = &'r Recipe>) -> (Vec<String>, Vec<String>) {
    let mut archives = Vec::new();
    let mut repositories = Vec::new();
    for r in recipes {
        archives.extend(r.archives.iter().map(|a| a.name.clone()));
        repositories.extend(r.repositories.iter().filter_map(|x| x.name.clone()));
    }
    (archives, repositories)
}

/// Archive and repository names are names (they become purls and flag keys): lower-case
/// letters, digits and `.`, `_`, `+`, `-`, starting with a letter or digit; each once in the
/// whole chain.
fn check_names(specs: &[(String, AppSpec)]) -> anyhow::Result<()> {
    let ok = |n: &str| {
        n.len() <= 64
            && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._+-".contains(&b))
    };
    let mut seen = std::collections::BTreeSet::new();
    for (_, spec) in specs {
        let named = (spec.recipe.archives.iter().enumerate())
            .map(|(i, a)| ("archives", i, Some(a.name.as_str())))
            .chain(
                (spec.recipe.repositories.iter().enumerate())
                    .map(|(i, r)| ("repositories", i, r.name.as_deref())),
            );
        for (table, i, name) in named {
            let Some(name) = name else { continue };
            if !ok(name) {
                return Err(spec.error(
                    Some((table, i)),
                    "name",
                    format!(
                        "{} is not a name (lower-case letters, digits, `.`, `_`, `+`, `-`)",
                        oci::digest::shown(name)
                    ),
                ));
            }
            if !seen.insert((table, name.to_string())) {
                return Err(spec.error(
                    Some((table, i)),
                    "name",
                    format!("{name} names two {table}"),
                ));
            }
        }
    }
    Ok(())
}

/// A catalog recipe as a spec: errors name the image (its file is embedded, not the user's);
/// it has no build context (a path it named could not resolve anywhere), so its sources come
/// from the command line.
fn catalog_spec(recipe: &Recipe) -> AppSpec {
    AppSpec {
        recipe: recipe.clone(),
        file: format!("{CATALOG_PREFIX}{}", recipe.name),
        text: String::new(),
        dir: PathBuf::from("."),
        // Nothing canonical starts with a relative directory: every path is outside it.
        context: PathBuf::from("(catalog recipes read no files)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalog names no host and no key file: those come from the command line.
    #[test]
    fn catalog_sources_name_no_host_and_no_file() {
        let catalog = Catalog::embedded().unwrap();
        for r in catalog.recipes() {
            for a in &r.archives {
                assert!(
                    a.mirror.is_none() && a.checksums_key.is_none(),
                    "{}",
                    r.name
                );
                assert!(a.url.starts_with("{mirror}/"), "{}", r.name);
            }
            for repo in &r.repositories {
                assert!(repo.url.is_none() && repo.key.is_none(), "{}", r.name);
                assert!(repo.name.is_some(), "{}", r.name);
            }
        }
    }
}
