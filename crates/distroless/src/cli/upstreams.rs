//! The sources beyond Debian the command line and the environment name: `--archive-mirror`,
//! `--archive-key`, `--repository`, `--repository-key` and their comma-separated environment
//! variables, merged once into the library's [`Upstreams`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use distroless::model::upstream::Upstreams;

use super::env;

/// The raw `NAME=VALUE` items of each override: flags, and the comma-separated environment
/// variable of the same meaning (flags win).
#[derive(Debug, Clone, Default)]
pub(crate) struct UpstreamFlags {
    pub(crate) archive_mirrors: Vec<String>,
    pub(crate) archive_keys: Vec<String>,
    pub(crate) repositories: Vec<String>,
    pub(crate) repository_keys: Vec<String>,
}

/// Reads the flags and `$DISTROLESS_ARCHIVE_MIRROR`, `$DISTROLESS_ARCHIVE_KEY`,
/// `$DISTROLESS_REPOSITORY`, `$DISTROLESS_REPOSITORY_KEY`.
pub(crate) fn read(flags: &UpstreamFlags) -> anyhow::Result<Upstreams> {
    let mut from_flags = Vec::new();
    let mut read = |flag: &str, var: &str, items: &[String]| {
        let (map, named) = pairs(flag, var, items)?;
        from_flags.extend(named.into_iter().map(|n| (flag.to_string(), n)));
        anyhow::Ok(map)
    };
    let archive_mirrors = read(
        "--archive-mirror",
        env::ARCHIVE_MIRROR,
        &flags.archive_mirrors,
    )?;
    let archive_keys = read("--archive-key", env::ARCHIVE_KEY, &flags.archive_keys)?;
    let repository_urls = read("--repository", env::REPOSITORY, &flags.repositories)?;
    let repository_keys = read(
        "--repository-key",
        env::REPOSITORY_KEY,
        &flags.repository_keys,
    )?;
    let paths =
        |m: BTreeMap<String, String>| m.into_iter().map(|(k, v)| (k, PathBuf::from(v))).collect();
    Ok(Upstreams {
        archive_mirrors,
        archive_keys: paths(archive_keys),
        repository_urls,
        repository_keys: paths(repository_keys),
        from_flags,
    })
}

/// `NAME=VALUE` items from the environment variable (comma-separated), then the flags (which
/// win); also the names the flags gave. A name given twice in one place is refused.
fn pairs(
    flag: &str,
    var: &str,
    flags: &[String],
) -> anyhow::Result<(BTreeMap<String, String>, Vec<String>)> {
    let env = env::value(var);
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
        let u = read(&flags).unwrap();
        assert_eq!(u.archive_mirrors["node"], "http://127.0.0.1:1/dist");
        assert_eq!(u.repository_keys["adoptium"], PathBuf::from("keys/a.asc"));
        let bad = UpstreamFlags {
            archive_keys: vec!["node".into()],
            ..UpstreamFlags::default()
        };
        let e = read(&bad).unwrap_err().to_string();
        assert!(e.contains("--archive-key node: expected NAME=VALUE"), "{e}");
        let twice = UpstreamFlags {
            archive_mirrors: vec!["node=a".into(), "node=b".into()],
            ..UpstreamFlags::default()
        };
        let e = read(&twice).unwrap_err().to_string();
        assert_eq!(e, "--archive-mirror: node is given twice");
        // The environment's names need not be the image's.
        let quiet = Upstreams {
            repository_urls: [("other".to_string(), "file:///r".to_string())].into(),
            ..Upstreams::default()
        };
        assert!(quiet.check_known(&[], &[]).is_ok());
    }
}
