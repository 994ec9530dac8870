//! From image reference to resolved package sets: the archive's verified indexes of a
//! release, resolved tier by tier along the recipe chain.
//!
//! A warm build should not parse 50 MB of `Packages` text again: the plan is cached under a
//! key made of the verified index hashes and the recipe chain, so an unchanged archive costs
//! three small `InRelease` downloads and one JSON read. This module decides which packages an
//! image holds; it never fetches a `.deb` or builds a layer.

pub mod locked;
mod source;
#[cfg(test)]
pub(crate) mod testing;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use debian::archive::{Archive, Indexes};
use debian::fetch::{Fetcher, Timeouts};
use debian::index::Package;
use debian::release::{Keyring, ReleasePolicy};
use debian::resolve::{Broken, Universe, resolve};
use debian::sources::{Mirrors, host_mirrors, parse_url};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache::{Cache, Record};
use crate::model::{Arch, DebianRelease, ImageRef, recipe::Recipe};
use crate::report::Reporter;

pub use source::{Source, SourceSettings};

/// Packages that only serve maintainer scripts or interactive systems: never put in an image,
/// even when a package declares a dependency on them (a recipe's root package still wins).
pub const BUILTIN_EXCLUDES: &[&str] = &[
    "adduser",
    "awk",
    "base-passwd",
    "bash",
    "cdebconf",
    "coreutils",
    "dash",
    "debconf",
    "debconf-2.0",
    "debianutils",
    "diffutils",
    "dpkg",
    "findutils",
    "gawk",
    "grep",
    "init-system-helpers",
    "install-info",
    "login",
    "lsb-base",
    "mawk",
    "original-awk",
    "passwd",
    "perl-base",
    "sed",
    "sensible-utils",
    "sysvinit-utils",
    "ucf",
    "usr-is-merged",
    "usrmerge",
];

/// The built-in exclusions as a set.
pub fn builtin_excludes() -> BTreeSet<String> {
    BUILTIN_EXCLUDES.iter().map(|s| (*s).to_string()).collect()
}

/// One tier (one recipe of the chain) and the packages it adds over the tiers below.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tier {
    pub name: String,
    pub packages: Vec<Package>,
    pub broken: Vec<Broken>,
    /// Packages of which only some paths are installed, with those paths.
    #[serde(default)]
    pub partial: Vec<(Package, Vec<String>)>,
}

/// Everything a build of one image for one architecture needs to know about packages.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub image: String,
    /// Debian release number (12, 13).
    pub release: u32,
    pub arch: Arch,
    pub debian_version: String,
    pub release_date: String,
    pub tiers: Vec<Tier>,
    /// `ca-certificates`, read for the bundle but not installed.
    pub ca_certificates: Package,
    /// `busybox-static`, for debug variants.
    pub busybox: Option<Package>,
    /// Update suites the release was resolved without (unpublished, or without this
    /// architecture, as `bookworm-security` for s390x): the SBOMs and the lock say so.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_suites: Vec<String>,
    /// The URLs of the third-party repositories packages may come from (a package whose
    /// mirror is one of them is locked with it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<String>,
}

impl Plan {
    /// Rewrites every mirror and repository URL the plan holds (to store it without
    /// passwords, and to put them back).
    pub fn map_urls(&mut self, f: impl Fn(&str) -> String) {
        let packages = self.tiers.iter_mut().flat_map(|t| {
            let partial = t.partial.iter_mut().map(|(p, _)| p);
            t.packages.iter_mut().chain(partial)
        });
        for p in packages
            .chain(std::iter::once(&mut self.ca_certificates))
            .chain(self.busybox.as_mut())
        {
            p.mirror = f(&p.mirror);
        }
        for r in &mut self.repositories {
            *r = f(r);
        }
    }

    /// Every package a layer may read: installed, partial, the CA source and (for debug
    /// variants) busybox.
    pub fn wanted(&self, debug: bool) -> anyhow::Result<Vec<&Package>> {
        let mut wanted: Vec<&Package> = self
            .tiers
            .iter()
            .flat_map(|t| t.packages.iter().chain(t.partial.iter().map(|(p, _)| p)))
            .collect();
        wanted.push(&self.ca_certificates);
        if debug {
            wanted.push(self.busybox()?);
        }
        Ok(wanted)
    }

    /// The busybox package of a debug variant.
    pub fn busybox(&self) -> anyhow::Result<&Package> {
        self.busybox
            .as_ref()
            .context("the suites have no busybox-static package")
    }

    /// The number of fully installed packages.
    pub fn package_count(&self) -> usize {
        self.tiers.iter().map(|t| t.packages.len()).sum()
    }
}

/// The merged, verified package universe of a release and architecture (no caching: for
/// analyses that need more than a plan, such as `from = "auto"`).
pub fn load_universe(
    source: &Source<'_>,
    release: DebianRelease,
    arch: Arch,
) -> anyhow::Result<Universe> {
    let indexes = source.indexes(release.codename, arch.debian())?;
    Ok(Universe::clone(&*source.universe(&indexes)?))
}

/// A third-party apt repository, ready to read: its URL, what to read of it, the only key
/// trusted for it, and the packages taken from it whatever version Debian has.
#[derive(Debug, Clone)]
pub struct Repository {
    pub url: url::Url,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    pub keyring: debian::release::Keyring,
    pub pin: Vec<String>,
}

/// What an application adds to the Debian archive's packages.
#[derive(Debug, Clone, Copy, Default)]
pub struct Additions<'a> {
    /// Local `.deb` files (they win over any version of the same name).
    pub local: &'a [Package],
    pub repositories: &'a [Repository],
}

/// Reads every repository (InRelease verified with its own key only, indexes by their
/// hashes); a pin must name a package the repository has. Returns each one's packages and a
/// fingerprint of all the indexes read.
fn read_repositories(
    source: &Source<'_>,
    repositories: &[Repository],
    arch: Arch,
) -> anyhow::Result<(Vec<Universe>, String)> {
    let mut read = Vec::new();
    let mut h = Sha256::new();
    for r in repositories {
        let (theirs, fp) = source.archive.with_keyring(r.keyring.clone()).repository(
            &r.url,
            &r.suites,
            &r.components,
            arch.debian(),
        )?;
        h.update(format!("{} {:?} {fp}\n", r.url, r.pin));
        if let Some(bad) = theirs.names().find(|n| !debian::index::package_name_ok(n)) {
            anyhow::bail!(
                "{}: lists a package named {bad:?}, which is not a Debian package name",
                r.url
            );
        }
        for name in &r.pin {
            anyhow::ensure!(
                theirs.get(name).is_some(),
                "{}: pins {name}, which the repository does not have for {arch}",
                r.url
            );
        }
        read.push(theirs);
    }
    Ok((read, hex::encode(h.finalize())))
}

/// The repositories' packages merged into Debian's: the highest version wins, except for
/// pinned names, which come from their repository. Returns the Debian packages a repository
/// replaced (name, Debian's version, the repository's URL and version).
fn merge_repositories(
    universe: &mut Universe,
    read: &[Universe],
    repositories: &[Repository],
) -> Vec<(String, String, String, String)> {
    let mut replaced = Vec::new();
    for (theirs, r) in read.iter().zip(repositories) {
        for name in theirs.names() {
            let Some(p) = theirs.get(name) else { continue };
            let debian = universe
                .get(name)
                .filter(|d| !repositories.iter().any(|x| x.url.as_str() == d.mirror));
            let (name, version) = (p.name.clone(), p.version.clone());
            if r.pin.contains(&p.name) {
                universe.pin(p);
            } else {
                universe.add(p);
            }
            if let Some(d) = debian
                && universe
                    .get(&name)
                    .is_some_and(|now| now.version == version && now.mirror == r.url.as_str())
            {
                replaced.push((name, d.version, r.url.to_string(), version));
            }
        }
    }
    replaced
}

/// Resolves every tier of an image for one architecture.
pub fn plan(
    source: &Source<'_>,
    chain: &[&Recipe],
    image: &ImageRef,
    arch: Arch,
    additions: Additions<'_>,
) -> anyhow::Result<Plan> {
    let local = additions.local;
    let release = image.release;
    let indexes = source.indexes(release.codename, arch.debian())?;
    let newest = busybox_indexes(source, image, arch);
    let mut key = plan_key(chain, image, arch, &indexes);
    if let Some(n) = &newest {
        key = format!("{key}-busybox-{}", short_fingerprint(n));
    }
    for p in local {
        key = format!("{key}-{}", &p.sha256[..16.min(p.sha256.len())]);
    }
    let (read, fingerprint) = read_repositories(source, additions.repositories, arch)?;
    if !read.is_empty() {
        key = format!("{key}-repos-{fingerprint}");
    }
    // The cache holds plans without mirror passwords; the real URLs are put back on reading.
    let with_passwords: Vec<String> = [
        source.archive.mirrors.debian.to_string(),
        source.archive.mirrors.security.to_string(),
    ]
    .into_iter()
    .chain(additions.repositories.iter().map(|r| r.url.to_string()))
    .collect();
    if let Some(mut plan) = source.cache.read::<Plan>(Record::Plan, &key) {
        plan.map_urls(|shown| {
            with_passwords
                .iter()
                .find(|r| debian::sources::redact_userinfo(r) == shown)
                .cloned()
                .unwrap_or_else(|| shown.to_string())
        });
        return Ok(plan);
    }
    let shared = source.universe(&indexes)?;
    // Debian's universe as parsed, unless packages from elsewhere join it (then a copy).
    let (universe, replaced) = if read.is_empty() && local.is_empty() {
        (shared, Vec::new())
    } else {
        let mut own = Universe::clone(&shared);
        let replaced = merge_repositories(&mut own, &read, additions.repositories);
        for p in local {
            own.pin(p.clone());
        }
        own.finish();
        (Arc::new(own), replaced)
    };
    let busybox = match &newest {
        Some(n) => source.universe(n)?.get("busybox-static"),
        None => universe.get("busybox-static"),
    };
    let main = indexes.main()?;
    let plan = Plan {
        image: image.canonical(),
        release: release.number,
        arch,
        debian_version: main.version.clone(),
        release_date: main.date.clone(),
        tiers: resolve_tiers(
            &universe,
            chain,
            (release.number, arch),
            image.variant.debug,
            local,
        )?,
        ca_certificates: universe
            .get("ca-certificates")
            .context("the suites have no ca-certificates package")?,
        busybox,
        missing_suites: indexes.missing(),
        repositories: additions
            .repositories
            .iter()
            .map(|r| r.url.to_string())
            .collect(),
    };
    // A vendor's package standing in for one of Debian's is allowed (newer, or pinned), and
    // said: it may change what a lower tier holds.
    for (name, debian, url, theirs) in &replaced {
        if plan
            .tiers
            .iter()
            .any(|t| t.packages.iter().any(|p| &p.name == name))
        {
            source.reporter.warn(&format!(
                "{name}: {} {theirs} replaces Debian's {debian}",
                debian::sources::redact_userinfo(url)
            ));
        }
    }
    let mut stored = plan.clone();
    stored.map_urls(debian::sources::redact_userinfo);
    source.cache.write(Record::Plan, &key, &stored)?;
    Ok(plan)
}

/// For a debug image of an older release, the newest release's indexes (its busybox goes in);
/// a mirror without that release gets a warning and the release's own busybox.
fn busybox_indexes(source: &Source<'_>, image: &ImageRef, arch: Arch) -> Option<Indexes> {
    let newest = DebianRelease::newest();
    if !image.variant.debug || image.release == newest {
        return None;
    }
    match source.indexes(newest.codename, arch.debian()) {
        Ok(i) => Some(i),
        Err(e) => {
            source.reporter.warn(&format!(
                "{}: the debug layer takes Debian {}'s busybox-static, which cannot be read ({e}); using Debian {}'s",
                image.canonical(),
                newest.number,
                image.release.number
            ));
            None
        }
    }
}

fn short_fingerprint(indexes: &Indexes) -> String {
    let mut h = Sha256::new();
    h.update(indexes.fingerprint());
    hex::encode(h.finalize())
}

/// A recipe names a package the suites do not have.
#[derive(Debug, thiserror::Error)]
#[error("{tier}: {}", self.message())]
pub struct UnknownPackage {
    /// The recipe (tier) that names it: `app` for an application recipe.
    pub tier: String,
    pub package: String,
    pub release: u32,
    pub arch: String,
    /// The closest name the suites do have.
    pub suggestion: Option<String>,
}

impl UnknownPackage {
    /// The problem without the recipe's name: `libpq is not a package of Debian 13 (amd64);
    /// did you mean libpq5?`.
    pub fn message(&self) -> String {
        let hint = self
            .suggestion
            .as_ref()
            .map(|s| format!("; did you mean {s}?"))
            .unwrap_or_default();
        format!(
            "{} is not a package of Debian {} ({}){hint}",
            self.package, self.release, self.arch
        )
    }
}

/// The package name closest to a mistyped one: one that starts with it (`libpq` → `libpq5`),
/// or the nearest by edit distance, if near enough to be a typo.
fn closest(universe: &Universe, wanted: &str) -> Option<String> {
    let longer = universe
        .names()
        .filter(|n| n.starts_with(wanted) && n.len() <= wanted.len() + 4)
        .min_by_key(|n| (n.len(), *n));
    if let Some(n) = longer {
        return Some(n.to_string());
    }
    let limit = (wanted.len() / 4).max(2);
    universe
        .names()
        .filter(|n| n.len().abs_diff(wanted.len()) <= limit)
        .map(|n| (strsim::levenshtein(wanted, n), n))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, n)| n.to_string())
}

/// Resolves each recipe of the chain on top of the ones before it: a tier holds only what its
/// recipe adds, and a child's roots may bring back what a parent excluded.
fn resolve_tiers(
    universe: &Universe,
    chain: &[&Recipe],
    (release, arch): (u32, Arch),
    debug: bool,
    local: &[Package],
) -> anyhow::Result<Vec<Tier>> {
    let mut tiers = Vec::new();
    let mut roots: Vec<String> = Vec::new();
    let mut excludes = builtin_excludes();
    let mut below: BTreeSet<String> = BTreeSet::new();
    for recipe in chain {
        for name in recipe.packages_for(release) {
            if universe.get(&name).is_none() {
                return Err(UnknownPackage {
                    tier: recipe.name.clone(),
                    suggestion: closest(universe, &name),
                    package: name,
                    release,
                    arch: arch.to_string(),
                }
                .into());
            }
        }
        roots.extend(recipe.packages_for(release));
        // The application's local `.deb`s are roots of its own tier (the chain's last).
        if chain
            .last()
            .is_some_and(|last| std::ptr::eq(*last, *recipe))
        {
            roots.extend(local.iter().map(|p| p.name.clone()));
        }
        excludes.extend(recipe.excludes_for(release));
        let label = format!("{}-debian{release}", recipe.name);
        let res = resolve(universe, &label, &roots, &excludes)?;
        let packages: Vec<Package> = res
            .packages
            .into_iter()
            .filter(|p| !below.contains(&p.name))
            .collect();
        below.extend(packages.iter().map(|p| p.name.clone()));
        let mut partial = Vec::new();
        for (name, paths) in &recipe.partial {
            let pkg = universe
                .get(name)
                .with_context(|| format!("{label}: partial package {name} is not in the suites"))?;
            partial.push((pkg, paths.clone()));
        }
        tiers.push(Tier {
            name: recipe.name.clone(),
            packages,
            broken: res.broken,
            partial,
        });
    }
    let extra: Vec<String> = chain
        .iter()
        .flat_map(|r| r.debug_packages.clone())
        .collect();
    if debug && !extra.is_empty() {
        let name = chain.last().map_or_else(String::new, |r| r.name.clone());
        let label = format!("{name}-debian{release}:debug");
        roots.extend(extra);
        let res = resolve(universe, &label, &roots, &excludes)?;
        tiers.push(Tier {
            name: format!("{name}{DEBUG_TIER}"),
            packages: res
                .packages
                .into_iter()
                .filter(|p| !below.contains(&p.name))
                .collect(),
            broken: res.broken,
            partial: Vec::new(),
        });
    }
    Ok(tiers)
}

/// The suffix of the tier `:debug` variants add (`java21:debug`); a lock holds it, and only
/// debug variants build it.
pub const DEBUG_TIER: &str = ":debug";

fn plan_key(chain: &[&Recipe], image: &ImageRef, arch: Arch, indexes: &Indexes) -> String {
    let mut h = Sha256::new();
    h.update(format!("{arch}\n{}\n", image.release.number));
    if image.variant.debug && chain.iter().any(|r| !r.debug_packages.is_empty()) {
        h.update("debug tier\n");
    }
    for r in chain {
        h.update(format!("{r:?}\n"));
    }
    h.update(indexes.fingerprint());
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use debian::index::parse_packages;

    fn universe() -> Universe {
        let text = "\
Package: base-files\nVersion: 1\nArchitecture: amd64\nDepends: mawk | awk\nFilename: pool/b.deb\nSize: 1\nSHA256: 0000000000000000000000000000000000000000000000000000000000000000\n\n\
Package: mawk\nVersion: 1\nArchitecture: amd64\nFilename: pool/m.deb\nSize: 1\nSHA256: 1111111111111111111111111111111111111111111111111111111111111111\n\n\
Package: libc6\nVersion: 2\nArchitecture: amd64\nDepends: libgcc-s1\nFilename: pool/c.deb\nSize: 1\nSHA256: 2222222222222222222222222222222222222222222222222222222222222222\n\n\
Package: libgcc-s1\nVersion: 3\nArchitecture: amd64\nDepends: libc6\nFilename: pool/g.deb\nSize: 1\nSHA256: 3333333333333333333333333333333333333333333333333333333333333333\n\n";
        Universe::new([parse_packages("Packages", text, "trixie", "file:///m/").unwrap()])
    }

    fn recipe(text: &str) -> Recipe {
        Recipe::parse("r.toml", text).unwrap()
    }

    #[test]
    fn tiers_hold_only_what_they_add_and_children_undo_cuts() {
        let u = universe();
        let stat = recipe("name = \"static\"\npackages = [\"base-files\"]\n");
        let base = recipe(
            "name = \"base\"\nfrom = \"static\"\npackages = [\"libc6\"]\nexclude = [\"libgcc-s1\"]\n",
        );
        let cc = recipe("name = \"cc\"\nfrom = \"base\"\npackages = [\"libgcc-s1\"]\n");
        let tiers = resolve_tiers(&u, &[&stat, &base, &cc], (13, Arch::Amd64), false, &[]).unwrap();
        let names = |t: &Tier| {
            t.packages
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&tiers[0]),
            ["base-files"],
            "mawk is a built-in exclusion"
        );
        assert_eq!(names(&tiers[1]), ["libc6"]);
        assert_eq!(names(&tiers[2]), ["libgcc-s1"]);
        assert!(tiers[0].broken.iter().any(|b| b.dependency.contains("awk")));
        assert!(
            tiers[1]
                .broken
                .iter()
                .any(|b| b.dependency.contains("libgcc-s1"))
        );
    }

    #[test]
    fn a_missing_partial_package_is_named() {
        let u = universe();
        let r = recipe("name = \"p\"\n[partial]\nlibc-bin = [\"sbin/ldconfig\"]\n");
        let err = resolve_tiers(&u, &[&r], (13, Arch::Amd64), false, &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("partial package libc-bin"), "{err}");
    }
}
