//! What an SBOM says of a package beyond its index record: its maintainer and licenses (from
//! its DEP-5 copyright file), read once per `.deb` and kept in the cache.

#[allow(clippy::wildcard_imports)]
use super::*;

/// Facts about a package that only its `.deb` knows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct PackageFacts {
    pub maintainer: Option<String>,
    /// Debian short license names from a machine-readable copyright file.
    pub licenses: Option<Vec<String>>,
}

impl PackageFacts {
    /// Whether the facts look like a package's: a maintainer and license names of sane length
    /// without control characters (a record from a shared cache is checked before it goes
    /// into an SBOM).
    fn plausible(&self) -> bool {
        let clean = |s: &str, max: usize| s.len() <= max && !s.chars().any(char::is_control);
        self.maintainer.as_deref().is_none_or(|m| clean(m, 512))
            && self
                .licenses
                .as_deref()
                .is_none_or(|l| l.len() <= 64 && l.iter().all(|x| clean(x, 128)))
    }
}

/// Reads (or takes from the cache) the facts of one package.
pub fn facts(cache: &Cache, debs: &Debs<'_>, pkg: &Package) -> anyhow::Result<PackageFacts> {
    if let Some(f) = cached_facts(cache, pkg) {
        return Ok(f);
    }
    let deb_path = &debs.path(pkg)?;
    let control = deb::read_control(deb_path, &pkg.name)?;
    let wanted = copyright_path(&pkg.name);
    let mut copyright = None;
    deb::read_data(deb_path, &pkg.name, |e, r| {
        if e.kind == Kind::File && e.path == wanted {
            let mut bytes = Vec::new();
            r.take(MAX_COPYRIGHT).read_to_end(&mut bytes).ok();
            copyright = Some(bytes);
        }
        Ok(())
    })?;
    let f = facts_of(&control, copyright);
    cache.write(Record::PackageFacts, &pkg.sha256, &f)?;
    Ok(f)
}

/// Keeps the facts of a package whose files a layer has just unpacked (its copyright file read
/// from the layer's tree), so the SBOMs need not unpack the `.deb` again.
pub fn remember_facts(
    cache: &Cache,
    pkg: &Package,
    control: &deb::Control,
    tree: &mut crate::rootfs::Tree,
) -> anyhow::Result<()> {
    if cached_facts(cache, pkg).is_some() {
        return Ok(());
    }
    let copyright = tree.file_head(&copyright_path(&pkg.name), MAX_COPYRIGHT)?;
    cache.write(
        Record::PackageFacts,
        &pkg.sha256,
        &facts_of(control, copyright),
    )
}

/// A package's facts from the cache, if they look like a package's (a record that does not is
/// rebuilt, and replaced in a shared repository).
fn cached_facts(cache: &Cache, pkg: &Package) -> Option<PackageFacts> {
    let f = cache.read::<PackageFacts>(Record::PackageFacts, &pkg.sha256)?;
    if f.plausible() {
        return Some(f);
    }
    cache.distrust(Record::PackageFacts, &pkg.sha256);
    None
}

/// The most of a copyright file read for its licenses.
const MAX_COPYRIGHT: u64 = 4 << 20;

fn copyright_path(name: &str) -> String {
    format!("usr/share/doc/{name}/copyright")
}

/// A package's facts from its control record and (the head of) its copyright file; a file
/// that is not UTF-8 names no license.
fn facts_of(control: &deb::Control, copyright: Option<Vec<u8>>) -> PackageFacts {
    let maintainer = deb::control_field(&control.control, "Maintainer").map(str::to_string);
    let text = copyright.map(|b| String::from_utf8(b).unwrap_or_default());
    let licenses = text
        .as_deref()
        .and_then(license::dep5_licenses)
        .map(|s| s.into_iter().collect());
    PackageFacts {
        maintainer,
        licenses,
    }
}
