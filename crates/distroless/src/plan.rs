//! From image reference to resolved package sets: fetch and verify the indexes, merge the
//! suites, resolve every tier.
//!
//! A warm build should not parse 50 MB of `Packages` text again: the resolution is cached under
//! a key made of the verified index hashes and the recipe, so an unchanged archive costs three
//! small `InRelease` downloads and one JSON read.

use std::collections::BTreeSet;
use std::io::Read;

use anyhow::{Context, bail};
use debian::fetch::{Cache, Expected, Fetcher, Reporter};
use debian::index::{Package, for_each_package};
use debian::release::{Keyring, Release, ReleasePolicy, verify_inrelease};
use debian::resolve::{BUILTIN_EXCLUDES, Broken, Universe, resolve};
use debian::sources::Mirrors;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

use crate::catalog::{DebianRelease, ImageRef};
use crate::recipe::Recipe;

/// Bump when the resolution rules change, so cached resolutions are not reused.
const RESOLVE_VERSION: u32 = 2;

/// Where and how indexes are read.
pub struct Source<'a> {
    pub mirrors: Mirrors,
    pub keyring: Keyring,
    pub policy: ReleasePolicy,
    pub offline: bool,
    pub cache: Cache,
    pub fetcher: Fetcher,
    pub reporter: &'a dyn Reporter,
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
    pub arch: String,
    pub debian_version: String,
    pub release_date: String,
    pub tiers: Vec<Tier>,
    /// `ca-certificates`, read for the bundle but not installed.
    pub ca_certificates: Package,
    /// `busybox-static`, for debug variants.
    pub busybox: Option<Package>,
}

struct SuiteIndex {
    suite: String,
    release: Release,
    packages_url: Url,
    packages_name: String,
    sha256: String,
    size: u64,
}

impl Source<'_> {
    fn inrelease(&self, mirror: &Url, suite: &str) -> anyhow::Result<Option<Release>> {
        let url = mirror.join(&format!("dists/{suite}/InRelease"))?;
        let cached = self
            .cache
            .root()
            .join("releases")
            .join(hex::encode(Sha256::digest(url.as_str())));
        let bytes = if self.offline {
            match fs_err::read(&cached) {
                Ok(b) => b,
                Err(_) if suite.contains('-') => return Ok(None),
                Err(_) => bail!("offline: {url} is not in the cache (run once without --offline)"),
            }
        } else {
            match self.fetcher.get(&url, 32 << 20) {
                Ok(b) => b,
                Err(debian::Error::NotFound { .. }) if suite.contains('-') => {
                    self.reporter
                        .warn(&format!("{url}: not found; building without {suite}"));
                    return Ok(None);
                }
                Err(e) => return Err(e.into()),
            }
        };
        let release = verify_inrelease(url.as_str(), &bytes, &self.keyring, self.policy)?;
        if !self.offline {
            debian::fetch::write_atomic(&cached, &bytes)?;
        }
        Ok(Some(release))
    }

    fn suite_index(
        &self,
        mirror: &Url,
        suite: &str,
        arch: &str,
    ) -> anyhow::Result<Option<SuiteIndex>> {
        let Some(release) = self.inrelease(mirror, suite)? else {
            return Ok(None);
        };
        for ext in ["xz", "gz"] {
            let name = format!("main/binary-{arch}/Packages.{ext}");
            if let Some((sha, size)) = release.sha256.get(&name).cloned() {
                let packages_url = mirror.join(&format!("dists/{suite}/{name}"))?;
                return Ok(Some(SuiteIndex {
                    suite: suite.to_string(),
                    release,
                    packages_name: format!("{mirror}dists/{suite}/{name}"),
                    packages_url,
                    sha256: sha,
                    size,
                }));
            }
        }
        if release.architectures.iter().any(|a| a == arch) || suite.contains('-') {
            bail!(
                "{mirror}dists/{suite}/InRelease: lists no main/binary-{arch}/Packages.xz or .gz"
            );
        }
        bail!(
            "Debian suite {suite} has no architecture {arch} (it has: {})",
            release.architectures.join(", ")
        )
    }

    fn load_packages(
        &self,
        idx: &SuiteIndex,
        mirror: &Url,
        universe: &mut Universe,
    ) -> anyhow::Result<()> {
        let want = Expected {
            url: idx.packages_url.clone(),
            name: &idx.packages_name,
            size: idx.size,
            sha256: &idx.sha256,
        };
        let path = match self.cache.verified(&idx.sha256, idx.size)? {
            Some(p) => p,
            None if self.offline => bail!("offline: {} is not in the cache", idx.packages_name),
            None => self.fetch_index(idx, &want)?,
        };
        let file = fs_err::File::open(&path)?;
        let reader: Box<dyn Read> = if idx.packages_name.ends_with(".xz") {
            Box::new(liblzma::read::XzDecoder::new(std::io::BufReader::new(file)))
        } else {
            Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
        };
        let reader = std::io::BufReader::with_capacity(1 << 16, reader);
        for_each_package(
            &idx.packages_name,
            reader,
            &idx.suite,
            mirror.as_str(),
            |p| {
                universe.add(p);
            },
        )?;
        Ok(())
    }
}

impl Source<'_> {
    /// Fetches an index, through `by-hash/` first when the archive offers it: a mirror caught
    /// between two syncs serves the old `Packages.xz` under its plain name, but the by-hash
    /// file always matches the `InRelease` we verified.
    fn fetch_index(
        &self,
        idx: &SuiteIndex,
        want: &Expected<'_>,
    ) -> anyhow::Result<std::path::PathBuf> {
        if idx.release.acquire_by_hash {
            let dir = idx
                .packages_url
                .as_str()
                .rsplit_once('/')
                .map_or("", |(d, _)| d);
            let by_hash = Url::parse(&format!("{dir}/by-hash/SHA256/{}", idx.sha256))?;
            let attempt = Expected {
                url: by_hash,
                ..want.clone()
            };
            match self.cache.ensure(&self.fetcher, &attempt, self.reporter) {
                Ok(p) => return Ok(p),
                // Many mirrors and proxies do not carry by-hash files: fall back quietly.
                Err(debian::Error::NotFound { .. }) => {}
                Err(e) => self.reporter.warn(&format!("{e}; trying {}", want.url)),
            }
        }
        Ok(self.cache.ensure(&self.fetcher, want, self.reporter)?)
    }
}

/// The architectures the main suite of a release offers (from its verified `InRelease`).
pub fn suite_architectures(source: &Source<'_>, codename: &str) -> anyhow::Result<Vec<String>> {
    let release = source
        .inrelease(&source.mirrors.debian, codename)?
        .context("the main suite is missing")?;
    Ok(release.architectures)
}

/// Resolves every tier of an image for one architecture.
/// The merged, verified package universe of a release and architecture (no caching: for
/// analyses that need more than a plan, such as `from = "auto"`).
pub fn load_universe(
    source: &Source<'_>,
    release: DebianRelease,
    arch: &str,
) -> anyhow::Result<Universe> {
    let indexes = suite_indexes(source, release, arch)?;
    let mut universe = Universe::default();
    for (m, idx) in &indexes {
        if let Some(i) = idx {
            source.load_packages(i, m, &mut universe)?;
        }
    }
    universe.finish();
    Ok(universe)
}

fn suite_indexes(
    source: &Source<'_>,
    release: DebianRelease,
    arch: &str,
) -> anyhow::Result<Vec<(Url, Option<SuiteIndex>)>> {
    let suites = [
        (source.mirrors.debian.clone(), release.codename.to_string()),
        (
            source.mirrors.debian.clone(),
            format!("{}-updates", release.codename),
        ),
        (
            source.mirrors.security.clone(),
            format!("{}-security", release.codename),
        ),
    ];
    suites
        .par_iter()
        .map(|(m, s)| Ok((m.clone(), source.suite_index(m, s, arch)?)))
        .collect()
}

pub fn plan(
    source: &Source<'_>,
    chain: &[&Recipe],
    image: &ImageRef,
    arch: &str,
) -> anyhow::Result<Plan> {
    let release: DebianRelease = image.release;
    let indexes = suite_indexes(source, release, arch)?;
    let main = indexes[0].1.as_ref().context("the main suite is missing")?;
    let debian_version = main.release.version.clone();
    let release_date = main.release.date.clone();

    let key = plan_key(chain, image, arch, &indexes);
    if let Some(plan) = source.cache.read_record::<Plan>("plans", &key) {
        return Ok(plan);
    }

    // Sequential on purpose: parsing suites in parallel doubles peak memory for little time.
    let mut universe = Universe::default();
    for (m, idx) in &indexes {
        if let Some(i) = idx {
            source.load_packages(i, m, &mut universe)?;
        }
    }
    universe.finish();

    let mut tiers = Vec::new();
    let mut roots: Vec<String> = Vec::new();
    let mut excludes: BTreeSet<String> =
        BUILTIN_EXCLUDES.iter().map(|s| (*s).to_string()).collect();
    let mut below: BTreeSet<String> = BTreeSet::new();
    for recipe in chain {
        roots.extend(recipe.packages_for(release.number));
        excludes.extend(recipe.excludes_for(release.number));
        let label = format!("{}-debian{}", recipe.name, release.number);
        let res = resolve(&universe, &label, &roots, &excludes)?;
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
    let ca_certificates = universe
        .get("ca-certificates")
        .context("the suites have no ca-certificates package")?;
    let busybox = universe.get("busybox-static");
    let plan = Plan {
        image: image.canonical(),
        release: release.number,
        arch: arch.to_string(),
        debian_version,
        release_date,
        tiers,
        ca_certificates,
        busybox,
    };
    source.cache.write_record("plans", &key, &plan)?;
    Ok(plan)
}

fn plan_key(
    chain: &[&Recipe],
    image: &ImageRef,
    arch: &str,
    indexes: &[(Url, Option<SuiteIndex>)],
) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "v{RESOLVE_VERSION}\n{arch}\n{}\n",
        image.release.number
    ));
    for r in chain {
        h.update(format!("{r:?}\n"));
    }
    for (m, idx) in indexes {
        match idx {
            Some(i) => h.update(format!("{m} {} {}\n", i.suite, i.sha256)),
            None => h.update(format!("{m} -\n")),
        }
    }
    hex::encode(h.finalize())
}
