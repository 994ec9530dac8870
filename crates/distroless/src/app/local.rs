//! Local `.deb` files a recipe names (`debs = ["build/myapp_1.2_amd64.deb"]`): each resolved
//! inside the build context, read with the same path policy as archive packages, and turned
//! into an index record (its control file plus its own size and SHA-256) so the resolver, the
//! lock, status.d and the SBOMs treat it like any package. Fetching it is a `file://` copy
//! into the cache, checked against that SHA-256 like every download.

use anyhow::Context;
use debian::index::Package;

use super::AppSpec;
use crate::model::{Arch, Upstreams};

/// The suite name local packages carry (in the lock and the SBOMs).
pub use debian::archive::LOCAL_SUITE as SUITE;

/// The packages of a recipe's `debs` for one architecture.
pub fn packages(spec: &AppSpec, arch: Arch) -> anyhow::Result<Vec<Package>> {
    let mut out: Vec<Package> = Vec::new();
    for (i, rel) in spec.recipe.debs.iter().enumerate() {
        let rel = arch.expand(rel);
        let path = spec.source(None, "debs", &rel)?;
        let at = |e: String| spec.error(None, "debs", format!("{rel}: {e}"));
        if !fs_err::metadata(&path).is_ok_and(|m| m.is_file()) {
            return Err(at("not a regular file".into()));
        }
        let sha256 = debian::fetch::hash_file(&path).map_err(|e| at(e.to_string()))?;
        let size = fs_err::metadata(&path)?.len();
        // Its errors name the file already.
        let control = debian::deb::read_control(&path, &rel)
            .map_err(|e| spec.error(None, "debs", e.to_string()))?;
        let canonical = fs_err::canonicalize(&path)?;
        let dir = canonical
            .parent()
            .context("a .deb file without a directory")?;
        let file = canonical
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .context("a .deb without a file name")?;
        let stanza = format!(
            "{}\nFilename: {file}\nSize: {size}\nSHA256: {sha256}\n",
            control.control.trim_end()
        );
        let mirror = url::Url::from_directory_path(dir)
            .map_err(|()| at("its directory is not an absolute path".into()))?;
        let mut parsed = debian::index::parse_packages(&rel, &stanza, SUITE, mirror.as_str())
            .map_err(|e| at(e.to_string()))?;
        let pkg = parsed.pop().ok_or_else(|| at("no control record".into()))?;
        if !debian::index::package_name_ok(&pkg.name) {
            return Err(at(format!("{:?} is not a Debian package name", pkg.name)));
        }
        if debian::version::Version::parse(&pkg.version).is_none() {
            return Err(at(format!(
                "Version {:?} is not a Debian version",
                pkg.version
            )));
        }
        if pkg.architecture != "all" && pkg.architecture != arch.debian() {
            return Err(at(format!(
                "a package for {}, not {} (use {{arch}} in the path for one file per architecture)",
                pkg.architecture,
                arch.debian()
            )));
        }
        if let Some(other) = out.iter().find(|p| p.name == pkg.name) {
            return Err(at(format!(
                "{} is already given by another file ({} {}), entry {}",
                pkg.name,
                other.filename,
                other.version,
                i + 1
            )));
        }
        out.push(pkg);
    }
    Ok(out)
}

/// The recipe's `[[repositories]]`, each with the one key it must be signed with: the URL
/// and key named on the command line for its name, else the recipe's (a recipe's key file is
/// read from inside its build context; a key given on the command line is the user's choice).
pub fn repositories(
    spec: &AppSpec,
    upstreams: &Upstreams,
) -> anyhow::Result<Vec<crate::plan::Repository>> {
    let mut out = Vec::new();
    for (i, r) in spec.recipe.repositories.iter().enumerate() {
        let at = Some(("repositories", i));
        let key_given = (r.name.as_ref())
            .is_some_and(|n| upstreams.repository_keys.contains_key(n))
            || r.key.is_some();
        let wanted = |what: &str, flag: &str| match &r.name {
            // Both missing: say both at once.
            Some(n) if what == "URL" && !key_given => format!(
                "no URL and no key: give --repository {n}=URL and --repository-key {n}=FILE"
            ),
            Some(n) => format!("no {what}: give {flag} {n}=…"),
            None => format!("no {what}: name one in the recipe"),
        };
        let text = (r.name.as_ref())
            .and_then(|n| upstreams.repository_urls.get(n).cloned())
            .or_else(|| r.url.clone())
            .ok_or_else(|| spec.error(at, "url", wanted("URL", "--repository")))?;
        let mut url = debian::sources::parse_url(&text).map_err(|e| spec.error(at, "url", e))?;
        if !url.path().ends_with('/') {
            url.set_path(&format!("{}/", url.path()));
        }
        if r.suites.is_empty() || r.components.is_empty() {
            return Err(spec.error(at, "suites", "name at least one suite and component"));
        }
        let key = match (
            (r.name.as_ref()).and_then(|n| upstreams.repository_keys.get(n).cloned()),
            &r.key,
        ) {
            (Some(path), _) => path,
            (None, Some(rel)) => spec.source(at, "key", rel)?,
            (None, None) => {
                return Err(spec.error(at, "key", wanted("key", "--repository-key")));
            }
        };
        let mut keyring = debian::release::Keyring::default();
        keyring
            .add_file(&key)
            .map_err(|e| spec.error(at, "key", e))?;
        out.push(crate::plan::Repository {
            url,
            suites: r.suites.clone(),
            components: r.components.clone(),
            keyring,
            pin: r.pin.clone(),
        });
    }
    Ok(out)
}
