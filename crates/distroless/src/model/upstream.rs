//! Where the sources outside Debian's archive come from when the command line (or the
//! environment) says so: an archive's `{mirror}` and checksum key, a repository's URL and key,
//! each by the name the recipe gives it.
//!
//! Catalog recipes need this: their Node.js archives and Adoptium repository name no host and
//! no key (the catalog never writes a host name, and a vendor's key is the user's to trust), so
//! the build takes both from here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;

/// The overrides of one command, by source name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upstreams {
    /// `--archive-mirror NAME=URL`: fills `{mirror}` in archive NAME's URLs.
    pub archive_mirrors: BTreeMap<String, String>,
    /// `--archive-key NAME=FILE`: the key archive NAME's checksum file must be signed with.
    pub archive_keys: BTreeMap<String, PathBuf>,
    /// `--repository NAME=URL`: where repository NAME is.
    pub repository_urls: BTreeMap<String, String>,
    /// `--repository-key NAME=FILE`: the key repository NAME's InRelease must be signed with.
    pub repository_keys: BTreeMap<String, PathBuf>,
    /// `(flag, NAME)` of every override given as a flag: those must name a source of the
    /// image. The environment's may name sources of other images (set once for a whole CI).
    pub from_flags: Vec<(String, String)>,
}

/// The raw `NAME=VALUE` items of each override: flags, and the comma-separated environment
/// variable of the same meaning (flags win).
#[derive(Debug, Clone, Default)]
pub struct UpstreamFlags {
    pub archive_mirrors: Vec<String>,
    pub archive_keys: Vec<String>,
    pub repositories: Vec<String>,
    pub repository_keys: Vec<String>,
}

impl Upstreams {
    /// Reads the flags and `$DISTROLESS_ARCHIVE_MIRROR`, `$DISTROLESS_ARCHIVE_KEY`,
    /// `$DISTROLESS_REPOSITORY`, `$DISTROLESS_REPOSITORY_KEY`.
    pub fn read(flags: &UpstreamFlags) -> anyhow::Result<Self> {
        let mut from_flags = Vec::new();
        let mut read = |flag: &str, var: &str, items: &[String]| {
            let (map, named) = pairs(flag, var, items)?;
            from_flags.extend(named.into_iter().map(|n| (flag.to_string(), n)));
            anyhow::Ok(map)
        };
        let archive_mirrors = read(
            "--archive-mirror",
            "DISTROLESS_ARCHIVE_MIRROR",
            &flags.archive_mirrors,
        )?;
        let archive_keys = read(
            "--archive-key",
            "DISTROLESS_ARCHIVE_KEY",
            &flags.archive_keys,
        )?;
        let repository_urls = read("--repository", "DISTROLESS_REPOSITORY", &flags.repositories)?;
        let repository_keys = read(
            "--repository-key",
            "DISTROLESS_REPOSITORY_KEY",
            &flags.repository_keys,
        )?;
        let paths = |m: BTreeMap<String, String>| {
            m.into_iter().map(|(k, v)| (k, PathBuf::from(v))).collect()
        };
        Ok(Upstreams {
            archive_mirrors,
            archive_keys: paths(archive_keys),
            repository_urls,
            repository_keys: paths(repository_keys),
            from_flags,
        })
    }

    /// Fails when an override names a source no recipe of the build has (a typo would
    /// otherwise be ignored and the recipe's own source used).
    pub fn check_known(&self, archives: &[&str], repositories: &[&str]) -> anyhow::Result<()> {
        for (flag, name) in &self.from_flags {
            let (kind, known) = if flag.starts_with("--archive") {
                ("archive", archives)
            } else {
                ("repository", repositories)
            };
            if known.contains(&name.as_str()) {
                continue;
            }
            let listed = if known.is_empty() {
                format!("the image has no {kind} of that name (give its entry `name = \"{name}\"`)")
            } else {
                format!("its {kind} names are {}", known.join(", "))
            };
            anyhow::bail!("{flag} {name}=…: no {kind} named {name} ({listed})");
        }
        Ok(())
    }
}

/// `NAME=VALUE` items from the environment variable (comma-separated), then the flags (which
/// win); also the names the flags gave. A name given twice in one place is refused.
fn pairs(
    flag: &str,
    var: &str,
    flags: &[String],
) -> anyhow::Result<(BTreeMap<String, String>, Vec<String>)> {
    let env = std::env::var(var).unwrap_or_default();
    let from_env = env.split(',').map(str::trim).filter(|s| !s.is_empty());
    let mut out = BTreeMap::new();
    let mut named = Vec::new();
    for (whence, items) in [
        (format!("${var}"), from_env.collect::<Vec<_>>()),
        (flag.to_string(), flags.iter().map(String::as_str).collect()),
    ] {
        let mut seen = std::collections::BTreeSet::new();
        for item in items {
            let (name, value) = item
                .split_once('=')
                .map(|(n, v)| (n.trim(), v.trim()))
                .filter(|(n, v)| !n.is_empty() && !v.is_empty())
                .with_context(|| {
                    format!(
                        "{whence} {}: expected NAME=VALUE",
                        debian::sources::redact_userinfo(item)
                    )
                })?;
            anyhow::ensure!(
                seen.insert(name.to_string()),
                "{whence}: {name} is given twice"
            );
            if whence == flag {
                named.push(name.to_string());
            }
            out.insert(name.to_string(), value.to_string());
        }
    }
    Ok((out, named))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_name_value_pairs() {
        let flags = UpstreamFlags {
            archive_mirrors: vec!["node=http://127.0.0.1:1/dist".into()],
            repository_keys: vec!["adoptium = keys/a.asc".into()],
            ..UpstreamFlags::default()
        };
        let u = Upstreams::read(&flags).unwrap();
        assert_eq!(u.archive_mirrors["node"], "http://127.0.0.1:1/dist");
        assert_eq!(u.repository_keys["adoptium"], PathBuf::from("keys/a.asc"));
        let bad = UpstreamFlags {
            archive_keys: vec!["node".into()],
            ..UpstreamFlags::default()
        };
        let e = Upstreams::read(&bad).unwrap_err().to_string();
        assert!(e.contains("--archive-key node: expected NAME=VALUE"), "{e}");
        let twice = UpstreamFlags {
            archive_mirrors: vec!["node=a".into(), "node=b".into()],
            ..UpstreamFlags::default()
        };
        let e = Upstreams::read(&twice).unwrap_err().to_string();
        assert_eq!(e, "--archive-mirror: node is given twice");
        // The environment's names need not be the image's.
        let quiet = Upstreams {
            repository_urls: [("other".to_string(), "file:///r".to_string())].into(),
            ..Upstreams::default()
        };
        assert!(quiet.check_known(&[], &[]).is_ok());
    }

    #[test]
    fn unknown_names_are_refused() {
        let u = Upstreams {
            repository_urls: [("adoptum".to_string(), "file:///r".to_string())].into(),
            from_flags: vec![("--repository".into(), "adoptum".into())],
            ..Upstreams::default()
        };
        let e = u.check_known(&["node"], &["adoptium"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--repository adoptum=…: no repository named adoptum (its repository names are adoptium)"
        );
        assert!(u.check_known(&[], &["adoptum"]).is_ok());
    }
}
