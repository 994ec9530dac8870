//! Where the sources outside Debian's archive come from when the command line (or the
//! environment, both read by the binary) says so: an archive's `{mirror}` and checksum key, a repository's URL and key,
//! each by the name the recipe gives it.
//!
//! Catalog recipes need this: their Node.js archives and Adoptium repository name no host and
//! no key (the catalog never writes a host name, and a vendor's key is the user's to trust), so
//! the build takes both from here.

use std::collections::BTreeMap;
use std::path::PathBuf;

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

impl Upstreams {
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

#[cfg(test)]
mod tests {
    use super::*;

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
