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
        let paths = |m: BTreeMap<String, String>| {
            m.into_iter().map(|(k, v)| (k, PathBuf::from(v))).collect()
        };
        Ok(Upstreams {
            archive_mirrors: pairs(
                "--archive-mirror",
                "DISTROLESS_ARCHIVE_MIRROR",
                &flags.archive_mirrors,
            )?,
            archive_keys: paths(pairs(
                "--archive-key",
                "DISTROLESS_ARCHIVE_KEY",
                &flags.archive_keys,
            )?),
            repository_urls: pairs("--repository", "DISTROLESS_REPOSITORY", &flags.repositories)?,
            repository_keys: paths(pairs(
                "--repository-key",
                "DISTROLESS_REPOSITORY_KEY",
                &flags.repository_keys,
            )?),
        })
    }

    /// Fails when an override names a source no recipe of the build has (a typo would
    /// otherwise be ignored and the recipe's own source used).
    pub fn check_known(&self, archives: &[&str], repositories: &[&str]) -> anyhow::Result<()> {
        let unknown = |flag: &str, names: Vec<&String>, known: &[&str]| {
            names
                .into_iter()
                .find(|n| !known.contains(&n.as_str()))
                .map(|n| {
                    let kind = if flag.starts_with("--archive") {
                        "archive"
                    } else {
                        "repository"
                    };
                    let listed = if known.is_empty() {
                        format!("the image has no {kind}")
                    } else {
                        format!("its {kind} names are {}", known.join(", "))
                    };
                    anyhow::anyhow!("{flag} {n}=…: no {kind} named {n} ({listed})")
                })
        };
        let checks = [
            (
                "--archive-mirror",
                self.archive_mirrors.keys().collect(),
                archives,
            ),
            (
                "--archive-key",
                self.archive_keys.keys().collect(),
                archives,
            ),
            (
                "--repository",
                self.repository_urls.keys().collect(),
                repositories,
            ),
            (
                "--repository-key",
                self.repository_keys.keys().collect(),
                repositories,
            ),
        ];
        for (flag, names, known) in checks {
            if let Some(e) = unknown(flag, names, known) {
                return Err(e);
            }
        }
        Ok(())
    }
}

/// `NAME=VALUE` items from the environment variable (comma-separated), then the flags.
fn pairs(flag: &str, var: &str, flags: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let env = std::env::var(var).unwrap_or_default();
    let mut out = BTreeMap::new();
    for item in env
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .chain(flags.iter().map(String::as_str))
    {
        let (name, value) = item
            .split_once('=')
            .filter(|(n, v)| !n.trim().is_empty() && !v.trim().is_empty())
            .with_context(|| {
                format!(
                    "{flag} {}: expected NAME=VALUE",
                    debian::sources::redact_userinfo(item)
                )
            })?;
        out.insert(name.trim().to_string(), value.trim().to_string());
    }
    Ok(out)
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
    }

    #[test]
    fn unknown_names_are_refused() {
        let u = Upstreams {
            repository_urls: [("adoptum".to_string(), "file:///r".to_string())].into(),
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
