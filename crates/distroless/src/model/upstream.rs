//! Where the sources outside Debian's archive come from when the command line (or the
//! environment, both read by the binary) says so: an archive's `{mirror}` and checksum key, a repository's URL and key,
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
    /// Every override given as a flag: those must name a source of the image. The
    /// environment's may name sources of other images (set once for a whole CI).
    pub from_flags: Vec<FlagNamed>,
}

/// A source named by a flag (`--repository NAME=…`): the flag as given, the name, and whether it
/// names an archive (else a repository).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagNamed {
    pub flag: String,
    pub name: String,
    pub archive: bool,
}

impl Upstreams {
    /// Fails when an override names a source no recipe of the build has (a typo would
    /// otherwise be ignored and the recipe's own source used).
    pub fn check_known(&self, archives: &[&str], repositories: &[&str]) -> anyhow::Result<()> {
        for FlagNamed {
            flag,
            name,
            archive,
        } in &self.from_flags
        {
            let (kind, known) = if *archive {
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

/// One override as the binary was given it: its flag's items and its environment variable's
/// value (comma-separated items), with their names for errors. Flags win.
#[derive(Debug, Clone, Default)]
pub struct Given {
    pub flag: String,
    pub var: String,
    pub env: String,
    pub items: Vec<String>,
}

impl Upstreams {
    /// Merges the four overrides: archive mirrors, archive keys, repository URLs and
    /// repository keys, in that order.
    pub fn merge(given: &[Given; 4]) -> anyhow::Result<Self> {
        let mut from_flags = Vec::new();
        let mut read = |g: &Given, archive: bool| {
            let (map, named) = pairs(g)?;
            from_flags.extend(named.into_iter().map(|name| FlagNamed {
                flag: g.flag.clone(),
                name,
                archive,
            }));
            anyhow::Ok(map)
        };
        let archive_mirrors = read(&given[0], true)?;
        let archive_keys = read(&given[1], true)?;
        let repository_urls = read(&given[2], false)?;
        let repository_keys = read(&given[3], false)?;
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
}

/// `NAME=VALUE` items from the environment variable (comma-separated), then the flags (which
/// win); also the names the flags gave. A name given twice in one place is refused.
fn pairs(given: &Given) -> anyhow::Result<(BTreeMap<String, String>, Vec<String>)> {
    let (flag, var, env, flags) = (
        given.flag.as_str(),
        given.var.as_str(),
        &given.env,
        &given.items,
    );
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

    /// The overrides as a binary would give them (flag names are data here), none from the
    /// environment.
    fn given(mirrors: &[&str], env_repositories: &[&str], repository_keys: &[&str]) -> [Given; 4] {
        let g = |flag: &str, items: &[&str]| Given {
            flag: flag.into(),
            var: format!("VAR_OF{flag}"),
            env: String::new(),
            items: items.iter().map(ToString::to_string).collect(),
        };
        let mut repositories = g("--repository", &[]);
        repositories.env = env_repositories.join(",");
        [
            g("--archive-mirror", mirrors),
            g("--archive-key", &[]),
            repositories,
            g("--repository-key", repository_keys),
        ]
    }

    #[test]
    fn the_environment_gives_items_too_and_flags_win() {
        let mut g = given(&[], &["adoptium=file:///env", "other=file:///o"], &[]);
        g[2].items = vec!["adoptium=file:///flag".into()];
        let u = Upstreams::merge(&g).unwrap();
        assert_eq!(u.repository_urls["adoptium"], "file:///flag");
        assert_eq!(u.repository_urls["other"], "file:///o");
        // Only the flag's names must be the image's.
        assert_eq!(
            u.from_flags,
            [FlagNamed {
                flag: "--repository".into(),
                name: "adoptium".into(),
                archive: false
            }]
        );
    }

    #[test]
    fn flags_are_name_value_pairs() {
        let u = Upstreams::merge(&given(
            &["node=http://127.0.0.1:1/dist"],
            &[],
            &["adoptium = keys/a.asc"],
        ))
        .unwrap();
        assert_eq!(u.archive_mirrors["node"], "http://127.0.0.1:1/dist");
        assert_eq!(u.repository_keys["adoptium"], PathBuf::from("keys/a.asc"));
        let mut bad = given(&[], &[], &[]);
        bad[1].items = vec!["node".into()];
        let e = Upstreams::merge(&bad).unwrap_err().to_string();
        assert!(e.contains("--archive-key node: expected NAME=VALUE"), "{e}");
        let e = Upstreams::merge(&given(&["node=a", "node=b"], &[], &[]))
            .unwrap_err()
            .to_string();
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
            from_flags: vec![FlagNamed {
                flag: "--repository".into(),
                name: "adoptum".into(),
                archive: false,
            }],
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
