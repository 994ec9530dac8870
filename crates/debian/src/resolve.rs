//! Dependency resolution: apt-style alternatives, Provides, Pre-Depends and exclusions.
//!
//! No crate resolves Debian dependencies the way an image builder needs: we want the closure of
//! a few root packages with maintainer-script-only packages cut out, a record of every declared
//! dependency that a cut breaks, and an error that shows the chain to an unsatisfiable relation.
//! Rules:
//! - suites are merged first; for each name the highest version wins;
//! - a dependency whose alternatives name an excluded package is dropped (and reported), so a
//!   cut never silently pulls in another provider (`debconf | debconf-2.0` must not become
//!   `cdebconf`);
//! - otherwise the first alternative that can be satisfied is taken, a real package before
//!   a virtual one, an already-chosen provider before a new one;
//! - a root package is never excluded, so a child image can bring back what its parent cut.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::index::{Package, Relation};
use crate::version::Version;

/// Every package of the merged suites, by name, plus who provides what.
///
/// A suite has ~63,000 packages and a build visits a few dozen, so each record is kept as one
/// compact string (fields joined by U+001F) and turned back into a [`Package`] only when the
/// resolver looks at it. This keeps a cold build's peak memory at a fraction of a fully parsed
/// index.
#[derive(Debug, Default, Clone)]
pub struct Universe {
    packages: HashMap<Box<str>, Compact>,
    providers: HashMap<String, Vec<(String, Option<String>)>>,
    /// (suite, mirror) pairs that records point into.
    origins: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct Compact {
    fields: Box<str>,
    origin: u16,
}

const SEP: char = '\u{1f}';

impl Universe {
    /// Merges package lists; for each name the highest version wins.
    pub fn new(lists: impl IntoIterator<Item = Vec<Package>>) -> Self {
        let mut u = Universe::default();
        for list in lists {
            for pkg in list {
                u.add(pkg);
            }
        }
        u.finish();
        u
    }

    /// Adds one package unless a higher version of the same name is already known.
    pub fn add(&mut self, pkg: Package) {
        if let Some(old) = self.packages.get(pkg.name.as_str()) {
            let old_version = old.fields.split(SEP).next().unwrap_or("");
            if Version::parse(old_version) >= version_of(&pkg) {
                return;
            }
        }
        let origin = self.origin_of(&pkg.suite, &pkg.mirror);
        let provides: Vec<String> = pkg.provides.iter().map(ToString::to_string).collect();
        let fields = [
            pkg.version.as_str(),
            &pkg.architecture,
            pkg.multi_arch.as_deref().unwrap_or(""),
            &pkg.depends,
            &pkg.pre_depends,
            &provides.join(", "),
            &pkg.filename,
            &pkg.size.to_string(),
            &pkg.sha256,
            &pkg.installed_size.to_string(),
            pkg.source.as_deref().unwrap_or(""),
            if pkg.essential { "yes" } else { "" },
        ]
        .join(&SEP.to_string());
        self.packages.insert(
            pkg.name.into_boxed_str(),
            Compact {
                fields: fields.into_boxed_str(),
                origin,
            },
        );
    }

    fn origin_of(&mut self, suite: &str, mirror: &str) -> u16 {
        let found = self
            .origins
            .iter()
            .position(|(s, m)| s == suite && m == mirror);
        let index = found.unwrap_or_else(|| {
            self.origins.push((suite.to_string(), mirror.to_string()));
            self.origins.len() - 1
        });
        u16::try_from(index).unwrap_or(u16::MAX)
    }

    /// Puts a package in whatever version the suites have (a local `.deb` the recipe names
    /// wins over the archive's); call [`Universe::finish`] again afterwards.
    pub fn pin(&mut self, pkg: Package) {
        self.packages.remove(pkg.name.as_str());
        self.add(pkg);
    }

    /// Builds the Provides map once every list is in.
    pub fn finish(&mut self) {
        let mut providers: HashMap<String, Vec<(String, Option<String>)>> = HashMap::new();
        for (name, c) in &self.packages {
            let raw = c.fields.split(SEP).nth(5).unwrap_or("");
            if raw.is_empty() {
                continue;
            }
            for p in crate::index::parse_relations(raw).into_iter().flatten() {
                let version = p.constraint.map(|(_, v)| v);
                providers
                    .entry(p.name)
                    .or_default()
                    .push((name.to_string(), version));
            }
        }
        for list in providers.values_mut() {
            list.sort();
        }
        self.providers = providers;
    }

    /// The package of that name, if any suite has it.
    pub fn get(&self, name: &str) -> Option<Package> {
        let c = self.packages.get(name)?;
        let f: Vec<&str> = c.fields.split(SEP).collect();
        let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let (suite, mirror) = self
            .origins
            .get(usize::from(c.origin))
            .cloned()
            .unwrap_or_default();
        Some(Package {
            name: name.to_string(),
            version: f[0].to_string(),
            architecture: f[1].to_string(),
            multi_arch: opt(f[2]),
            depends: f[3].to_string(),
            pre_depends: f[4].to_string(),
            provides: crate::index::parse_relations(f[5])
                .into_iter()
                .flatten()
                .collect(),
            filename: f[6].to_string(),
            size: f[7].parse().unwrap_or(0),
            sha256: f[8].to_string(),
            installed_size: f[9].parse().unwrap_or(0),
            source: opt(f[10]),
            essential: f[11] == "yes",
            suite,
            mirror,
        })
    }

    /// Every real package name the universe knows.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.packages.keys().map(AsRef::as_ref)
    }

    /// Number of distinct package names.
    pub fn len(&self) -> usize {
        self.packages.len()
    }

    /// Whether no package is known.
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }
}

fn version_of(pkg: &Package) -> Option<Version> {
    Version::parse(&pkg.version)
}

/// A declared dependency that an exclusion dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broken {
    pub package: String,
    pub dependency: String,
}

/// The result of a resolution.
#[derive(Debug, Clone, Serialize)]
pub struct Resolution {
    /// Chosen packages, sorted by name.
    pub packages: Vec<Package>,
    /// For each chosen package, the package that pulled it in (`None` for roots).
    pub pulled_by: BTreeMap<String, Option<String>>,
    /// Dependencies dropped by exclusions.
    pub broken: Vec<Broken>,
}

/// Resolves `roots` transitively. `label` starts error chains (usually the image name).
pub fn resolve(
    universe: &Universe,
    label: &str,
    roots: &[String],
    excludes: &BTreeSet<String>,
) -> Result<Resolution> {
    let root_names: BTreeSet<&str> = roots.iter().map(String::as_str).collect();
    let is_cut = |name: &str| excludes.contains(name) && !root_names.contains(name);
    let mut chosen: BTreeMap<String, Package> = BTreeMap::new();
    let mut pulled_by: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut broken = Vec::new();
    let mut queue: VecDeque<String> = VecDeque::new();

    for root in roots {
        let pkg = universe.get(root).ok_or_else(|| {
            Error::Resolve(format!("{label} → {root}: no such package in the suites"))
        })?;
        if chosen.insert(root.clone(), pkg).is_none() {
            pulled_by.insert(root.clone(), None);
            queue.push_back(root.clone());
        }
    }

    while let Some(name) = queue.pop_front() {
        let pkg = chosen[&name].clone();
        for dep in &pkg.dependencies() {
            if dep.iter().any(|alt| is_cut(&alt.name)) {
                broken.push(Broken {
                    package: name.clone(),
                    dependency: format_dep(dep),
                });
                continue;
            }
            if dep
                .iter()
                .any(|alt| satisfied_by_chosen(universe, &chosen, alt))
            {
                continue;
            }
            let pick = dep.iter().find_map(|alt| candidate(universe, &chosen, alt));
            let Some(pick) = pick else {
                let chain = chain_of(&pulled_by, &name, label);
                return Err(Error::Resolve(format!(
                    "{chain} → {}: unsatisfiable ({})",
                    format_dep(dep),
                    available(universe, dep)
                )));
            };
            if !chosen.contains_key(&pick) {
                chosen.insert(
                    pick.clone(),
                    universe.get(&pick).ok_or_else(|| {
                        Error::Resolve(format!("{pick}: vanished from the index"))
                    })?,
                );
                pulled_by.insert(pick.clone(), Some(name.clone()));
                queue.push_back(pick);
            }
        }
    }
    Ok(Resolution {
        packages: chosen.into_values().collect(),
        pulled_by,
        broken,
    })
}

fn format_dep(dep: &[Relation]) -> String {
    dep.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

fn chain_of(pulled_by: &BTreeMap<String, Option<String>>, name: &str, label: &str) -> String {
    let mut chain = vec![name.to_string()];
    let mut cur = name.to_string();
    while let Some(Some(parent)) = pulled_by.get(&cur) {
        chain.push(parent.clone());
        cur = parent.clone();
        if chain.len() > 64 {
            break;
        }
    }
    chain.push(label.to_string());
    chain.reverse();
    chain.join(" → ")
}

fn available(universe: &Universe, dep: &[Relation]) -> String {
    let found: Vec<String> = dep
        .iter()
        .filter_map(|alt| universe.get(&alt.name))
        .map(|p| format!("{} {} available", p.name, p.version))
        .collect();
    if found.is_empty() {
        "no such package".to_string()
    } else {
        found.join(", ")
    }
}

fn version_ok(have: &str, alt: &Relation) -> bool {
    match (alt.op_version(), Version::parse(have)) {
        (None, _) => alt.constraint.is_none(),
        (Some((op, want)), Some(have)) => op.holds(&have, &want),
        (Some(_), None) => false,
    }
}

fn satisfied_by_chosen(
    universe: &Universe,
    chosen: &BTreeMap<String, Package>,
    alt: &Relation,
) -> bool {
    if chosen
        .get(&alt.name)
        .is_some_and(|p| version_ok(&p.version, alt))
    {
        return true;
    }
    providers_ok(universe, alt).any(|p| chosen.contains_key(p))
}

fn providers_ok<'u>(universe: &'u Universe, alt: &'u Relation) -> impl Iterator<Item = &'u String> {
    universe
        .providers
        .get(&alt.name)
        .into_iter()
        .flatten()
        .filter(move |(_, provided)| match (&alt.constraint, provided) {
            (None, _) => true,
            (Some(_), Some(v)) => version_ok(v, alt),
            (Some(_), None) => false,
        })
        .map(|(name, _)| name)
}

fn candidate(
    universe: &Universe,
    chosen: &BTreeMap<String, Package>,
    alt: &Relation,
) -> Option<String> {
    if let Some(p) = universe
        .get(&alt.name)
        .filter(|p| version_ok(&p.version, alt))
    {
        return Some(p.name.clone());
    }
    let providers: Vec<&String> = providers_ok(universe, alt).collect();
    providers
        .iter()
        .find(|p| chosen.contains_key(p.as_str()))
        .or_else(|| providers.first())
        .map(|p| (*p).clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::parse_relations;

    fn pkg(name: &str, version: &str, depends: &str, provides: &str) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            architecture: "amd64".into(),
            multi_arch: None,
            depends: depends.into(),
            pre_depends: String::new(),
            provides: parse_relations(provides).into_iter().flatten().collect(),
            filename: format!("pool/{name}.deb"),
            size: 1,
            sha256: "0".repeat(64),
            installed_size: 1,
            source: None,
            essential: false,
            suite: "s".into(),
            mirror: "m".into(),
        }
    }

    fn names(r: &Resolution) -> Vec<&str> {
        r.packages.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn highest_version_wins_across_suites() {
        let u = Universe::new([
            vec![pkg("a", "1.0", "", "")],
            vec![pkg("a", "1.0+deb12u1", "", "")],
        ]);
        assert_eq!(u.get("a").unwrap().version, "1.0+deb12u1");
    }

    #[test]
    fn excluded_alternative_drops_the_whole_dependency() {
        let u = Universe::new([vec![
            pkg("tzdata", "1", "debconf (>= 0.5) | debconf-2.0", ""),
            pkg("debconf", "1", "", "debconf-2.0"),
            pkg("cdebconf", "1", "", "debconf-2.0"),
        ]]);
        let ex = BTreeSet::from(["debconf".to_string()]);
        let r = resolve(&u, "static", &["tzdata".into()], &ex).unwrap();
        assert_eq!(names(&r), ["tzdata"]);
        assert_eq!(r.broken[0].dependency, "debconf (>= 0.5) | debconf-2.0");
    }

    #[test]
    fn roots_override_exclusions() {
        let u = Universe::new([vec![
            pkg("libc6", "2", "libgcc-s1", ""),
            pkg("libgcc-s1", "12", "libc6", ""),
        ]]);
        let ex = BTreeSet::from(["libgcc-s1".to_string()]);
        let base = resolve(&u, "base", &["libc6".into()], &ex).unwrap();
        assert_eq!(names(&base), ["libc6"]);
        let cc = resolve(&u, "cc", &["libc6".into(), "libgcc-s1".into()], &ex).unwrap();
        assert_eq!(names(&cc), ["libc6", "libgcc-s1"]);
    }

    #[test]
    fn virtual_and_versions() {
        let u = Universe::new([vec![
            pkg("app", "1", "mail-transport-agent, libx (>= 2)", ""),
            pkg("postfix", "3", "", "mail-transport-agent"),
            pkg("libx", "2.1", "", ""),
        ]]);
        let r = resolve(&u, "img", &["app".into()], &BTreeSet::new()).unwrap();
        assert_eq!(names(&r), ["app", "libx", "postfix"]);
        assert_eq!(r.pulled_by["postfix"].as_deref(), Some("app"));
    }

    #[test]
    fn unsatisfiable_shows_the_chain() {
        let u = Universe::new([vec![
            pkg("libstdc++6", "12", "libgcc-s1 (>= 4.3)", ""),
            pkg("libgcc-s1", "4.2", "", ""),
        ]]);
        let err = resolve(&u, "cc", &["libstdc++6".into()], &BTreeSet::new()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cc → libstdc++6 → libgcc-s1 (>= 4.3): unsatisfiable"),
            "{err}"
        );
    }
}
