//! Mirrors from the host's apt configuration.
//!
//! The tool never names a mirror itself: the default Debian mirror and security mirror are
//! read from `/etc/apt/sources.list.d/*.sources` (deb822), `/etc/apt/sources.list.d/*.list`
//! and `/etc/apt/sources.list` (one-line form). Flags and environment variables override them
//! in the product; this module only reads files.

use std::path::Path;

use url::Url;

use crate::error::{Error, Result};

/// Debian suite names (codenames and aliases) recognised as the main archive.
const DEBIAN_SUITES: &[&str] = &[
    "buster",
    "bullseye",
    "bookworm",
    "trixie",
    "forky",
    "duke",
    "sid",
    "oldoldstable",
    "oldstable",
    "stable",
    "testing",
    "unstable",
];

/// One `deb` entry of an apt source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    pub uri: String,
    pub suites: Vec<String>,
    pub components: Vec<String>,
}

/// The mirrors a build fetches from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirrors {
    /// Holds `<suite>` and `<suite>-updates`.
    pub debian: Url,
    /// Holds `<suite>-security`.
    pub security: Url,
}

impl Mirrors {
    /// Builds mirrors from explicit URLs; without a security mirror one is derived from the main
    /// mirror (a path ending in `/debian` becomes `/debian-security`, anything else is reused,
    /// which suits single-tree test and snapshot repositories).
    pub fn from_urls(debian: &str, security: Option<&str>) -> Result<Self> {
        let debian = parse_url(debian)?;
        let security = match security {
            Some(s) => parse_url(s)?,
            None => derive_security(&debian),
        };
        Ok(Mirrors { debian, security })
    }
}

/// `text` with the password of every `scheme://user:password@host` in it replaced by
/// `<redacted>`: mirror URLs may carry credentials, and whatever people read or a document
/// records (errors, SBOMs, provenance) must not.
pub fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == ')')
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        match authority.rfind('@') {
            Some(user_end) => {
                let user = &authority[..user_end];
                let name = user.split_once(':').map_or(user, |(n, _)| n);
                if user.contains(':') {
                    out.push_str(name);
                    out.push_str(":<redacted>");
                } else {
                    // A user name alone is how tokens are often given (`https://TOKEN@host`).
                    out.push_str("<redacted>");
                }
                out.push_str(&authority[user_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    redact_bare_userinfo(&out)
}

/// `user:password@host/…` without a scheme (an image reference written as registries never
/// accept it, but people type it): the password replaced. A digest (`…@sha256:…`) and a
/// registry's port (`host:5000/repo@sha256:…`: a `/` before the `@`) are left alone.
fn redact_bare_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut start = 0;
    for (at, _) in text.match_indices('@') {
        if at < start {
            continue;
        }
        let word_start = text[..at]
            .rfind(|c: char| c.is_whitespace() || "\"'`()[]{},;=<>".contains(c))
            .map_or(0, |i| i + 1)
            .max(start);
        // `//user:pass@host/…` (a URL whose scheme was cut off, or typed so): the slashes are
        // not part of the user name.
        let word_start = word_start
            + (text[word_start..at].len() - text[word_start..at].trim_start_matches('/').len());
        let user = &text[word_start..at];
        let after = &text[at + 1..];
        let digest = after.starts_with("sha256:") || after.starts_with("sha512:");
        let Some(colon) = user.find(':') else {
            continue;
        };
        if digest || user.contains('/') || user.contains("://") || user[colon + 1..].is_empty() {
            continue;
        }
        if user[colon + 1..] == *"<redacted>" {
            continue;
        }
        out.push_str(&text[start..=(word_start + colon)]);
        out.push_str("<redacted>");
        start = at;
    }
    out.push_str(&text[start..]);
    out
}

/// Parses a mirror URL, accepting only the schemes the fetcher can serve.
pub fn parse_url(text: &str) -> Result<Url> {
    let mut url = Url::parse(text.trim()).map_err(|e| {
        // It may hold a password the parser could not separate (`/` or `?` in it): not echoed.
        let shown = if text.contains('@') {
            "(not shown: it may hold a password)".to_string()
        } else {
            format!("{text:?}")
        };
        Error::Sources(format!("mirror URL {shown} is not a valid URL: {e}"))
    })?;
    if !matches!(url.scheme(), "http" | "https" | "file") {
        return Err(Error::Sources(format!(
            "mirror URL {text:?}: scheme {:?} is not supported (use http://, https:// or file://)",
            url.scheme()
        )));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn derive_security(debian: &Url) -> Url {
    let path = debian.path().trim_end_matches('/');
    if path.ends_with("/debian") {
        let mut url = debian.clone();
        url.set_path(&format!("{path}-security/"));
        url
    } else {
        debian.clone()
    }
}

/// Reads the mirrors from the apt configuration under `root` (normally `/`).
pub fn host_mirrors(root: &Path) -> Result<Mirrors> {
    let entries = read_apt_sources(root)?;
    let is_debian = |suite: &str| DEBIAN_SUITES.contains(&suite.split('-').next().unwrap_or(""));
    let main = entries.iter().find(|e| {
        e.suites
            .iter()
            .any(|s| is_debian(s) && !s.ends_with("-security"))
    });
    let Some(main) = main else {
        return Err(Error::Sources(
            "no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d"
                .to_string(),
        ));
    };
    let security = entries.iter().find(|e| {
        e.suites
            .iter()
            .any(|s| s.ends_with("-security") && is_debian(s))
    });
    let debian = parse_url(&main.uri)?;
    let security = match security {
        Some(s) => parse_url(&s.uri)?,
        None => derive_security(&debian),
    };
    Ok(Mirrors { debian, security })
}

/// Every `deb` entry in the apt configuration under `root`, in apt's reading order.
pub fn read_apt_sources(root: &Path) -> Result<Vec<SourceEntry>> {
    let mut entries = Vec::new();
    let list = root.join("etc/apt/sources.list");
    if list.is_file() {
        let text = fs_err::read_to_string(&list)?;
        entries.extend(parse_one_line(&text));
    }
    let dir = root.join("etc/apt/sources.list.d");
    if dir.is_dir() {
        let mut files: Vec<_> = fs_err::read_dir(&dir)?
            .filter_map(std::result::Result::ok)
            .map(|e| e.path())
            .collect();
        files.sort();
        for file in files {
            let ext = file.extension().and_then(|e| e.to_str());
            match ext {
                Some("sources") => entries.extend(parse_deb822(&fs_err::read_to_string(&file)?)),
                Some("list") => entries.extend(parse_one_line(&fs_err::read_to_string(&file)?)),
                _ => {}
            }
        }
    }
    Ok(entries)
}

/// Parses the one-line `sources.list` format: `deb [options] URI SUITE COMPONENT...`.
pub fn parse_one_line(text: &str) -> Vec<SourceEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line
            .strip_prefix("deb ")
            .or_else(|| line.strip_prefix("deb\t"))
        else {
            continue;
        };
        let mut rest = rest.trim_start();
        if rest.starts_with('[') {
            match rest.find(']') {
                Some(end) => rest = rest[end + 1..].trim_start(),
                None => continue,
            }
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        out.push(SourceEntry {
            uri: uri.to_string(),
            suites: vec![suite.to_string()],
            components: words.map(str::to_string).collect(),
        });
    }
    out
}

/// Parses the deb822 `.sources` format; one entry per URI, stanzas with `Enabled: no` skipped.
pub fn parse_deb822(text: &str) -> Vec<SourceEntry> {
    let mut out = Vec::new();
    for stanza in text.split("\n\n") {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in stanza.lines() {
            if line.starts_with('#') {
                continue;
            }
            if line.starts_with(' ') || line.starts_with('\t') {
                if let Some(last) = fields.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        let get = |key: &str| {
            fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
        };
        let words = |key: &str| -> Vec<String> {
            get(key)
                .unwrap_or("")
                .split_whitespace()
                .map(str::to_string)
                .collect()
        };
        if !words("types").iter().any(|t| t == "deb") {
            continue;
        }
        if get("enabled").is_some_and(|v| v.eq_ignore_ascii_case("no")) {
            continue;
        }
        for uri in words("uris") {
            out.push(SourceEntry {
                uri,
                suites: words("suites"),
                components: words("components"),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_userinfo("get http://alice:S3cret@mirror.test/debian/x failed (http://b@h/)"),
            "get http://alice:<redacted>@mirror.test/debian/x failed (http://<redacted>@h/)"
        );
        assert_eq!(redact_userinfo("file:///srv/m"), "file:///srv/m");
        assert_eq!(redact_userinfo("no url"), "no url");
        assert_eq!(
            redact_userinfo("error: alice:s3cret@127.0.0.1:5000/team/app:1: no such file"),
            "error: alice:<redacted>@127.0.0.1:5000/team/app:1: no such file"
        );
        assert_eq!(
            redact_userinfo("image \"bob:pw@reg/x\" and http://u:p@h/y"),
            "image \"bob:<redacted>@reg/x\" and http://u:<redacted>@h/y"
        );
        // A scheme cut off before the password (`https:` read as a registry and a tag).
        assert_eq!(
            redact_userinfo("unknown tag \"//user:s3cretPW@127.0.0.1:5000/team/base:1\""),
            "unknown tag \"//user:<redacted>@127.0.0.1:5000/team/base:1\""
        );
        assert_eq!(
            redact_userinfo("--push '//u:pw@h/x:1'"),
            "--push '//u:<redacted>@h/x:1'"
        );
        for kept in [
            "127.0.0.1:5000/team/app@sha256:abcd",
            "app:1.0@sha256:abcd",
            "user@example",
            "a:@b",
        ] {
            assert_eq!(redact_userinfo(kept), kept);
        }
    }

    #[test]
    fn deb822_with_comments_and_two_stanzas() {
        let text = "Types: deb\n# a comment\nURIs: http://mirror.invalid/debian\n\
                    Suites: bookworm bookworm-updates\nComponents: main\n\n\
                    Types: deb\nURIs: http://mirror.invalid/debian-security\n\
                    Suites: bookworm-security\nComponents: main\n";
        let entries = parse_deb822(text);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].suites, ["bookworm", "bookworm-updates"]);
        assert_eq!(entries[1].uri, "http://mirror.invalid/debian-security");
    }

    #[test]
    fn one_line_with_options() {
        let text = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://m.invalid/debian trixie main contrib\n\
                    deb-src http://m.invalid/debian trixie main\n";
        let entries = parse_one_line(text);
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].uri, "http://m.invalid/debian");
        assert_eq!(entries[0].components, ["main", "contrib"]);
    }

    #[test]
    fn host_mirrors_from_a_fake_root() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("etc/apt/sources.list.d");
        fs_err::create_dir_all(&d).unwrap();
        fs_err::write(
            d.join("other.list"),
            "deb https://thirdparty.invalid/node nodistro main\n",
        )
        .unwrap();
        fs_err::write(
            d.join("debian.sources"),
            "Types: deb\nURIs: http://m.invalid/debian\nSuites: trixie\nComponents: main\n",
        )
        .unwrap();
        let m = host_mirrors(dir.path()).unwrap();
        assert_eq!(m.debian.as_str(), "http://m.invalid/debian/");
        assert_eq!(m.security.as_str(), "http://m.invalid/debian-security/");
    }

    #[test]
    fn no_sources_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = host_mirrors(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no Debian mirror"), "{err}");
    }

    #[test]
    fn rejects_unknown_scheme() {
        assert!(parse_url("ftp://x.invalid/debian").is_err());
        assert!(parse_url("file:///srv/repo").is_ok());
    }
}
