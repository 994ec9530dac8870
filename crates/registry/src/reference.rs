//! Image references: `HOST[:PORT]/REPOSITORY[:TAG][@DIGEST]`.
//!
//! The registry host is always written out: the tool has no default registry (a name without
//! a host would silently mean somebody's public service). Repository components and tags follow
//! the distribution spec's grammar, so a reference can be put into a URL path as it is.

use std::fmt;
use std::net::IpAddr;

use oci::digest::Digest;

use crate::error::{Error, Result};

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host` or `host:port`.
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

fn bad(text: &str, reason: impl Into<String>) -> Error {
    Error::Reference {
        text: text.to_string(),
        reason: reason.into(),
    }
}

/// The distribution spec's path component: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn component_ok(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut prev_sep = false;
    for (i, &ch) in b.iter().enumerate() {
        let alnum = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        if alnum {
            prev_sep = false;
            continue;
        }
        match ch {
            b'-' => prev_sep = true,
            b'.' | b'_' if !prev_sep => prev_sep = true,
            // `__` is one separator.
            b'_' if b[i - 1] == b'_' && (i < 2 || b[i - 2] != b'_') => {}
            _ => return false,
        }
    }
    true
}

/// A tag: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn tag_ok(t: &str) -> bool {
    t.len() <= 128
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn host_ok(h: &str) -> bool {
    let (name, port) = match h.rsplit_once(':') {
        Some((n, p)) if !n.ends_with(']') || h.starts_with('[') => (n, Some(p)),
        _ => (h, None),
    };
    // Digits only, no leading zero: `:034659` and `:+34659` name no port credentials match.
    let port_ok = port.is_none_or(|p| {
        p.bytes().all(|b| b.is_ascii_digit())
            && !p.starts_with('0')
            && p.parse::<u16>().is_ok_and(|n| n > 0)
    });
    let name_ok = if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        v6.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        !name.is_empty()
            && name.len() <= 253
            && name.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    };
    port_ok && name_ok
}

/// Whether `text` starts like `user:password@host/…`: a reference that must never be echoed.
pub fn carries_userinfo(text: &str) -> bool {
    text.split('/')
        .next()
        .is_some_and(|host| host.contains('@'))
}

impl Reference {
    /// Parses `HOST[:PORT]/REPOSITORY[:TAG][@sha256:…]`.
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() > 512 || text.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad(text, "too long, or holds spaces or control characters"));
        }
        let without_scheme = text.split_once("://").map_or(text, |(_, rest)| rest);
        if carries_userinfo(without_scheme) {
            // Never echoed: it may hold a password.
            return Err(Error::Reference {
                text: "(not shown)".into(),
                reason: "user:password@ in a reference is not supported; use `distroless login`"
                    .into(),
            });
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(bad(
                text,
                format!("a reference has no scheme: drop `{scheme}://`"),
            ));
        }
        let (rest, digest) = match text.split_once('@') {
            Some((r, d)) => (
                r,
                Some(d.parse::<Digest>().map_err(|e| bad(text, e.to_string()))?),
            ),
            None => (text, None),
        };
        let (host, path) = rest.split_once('/').ok_or_else(|| {
            bad(
                text,
                "name the registry: HOST[:PORT]/REPOSITORY[:TAG] (there is no default registry)",
            )
        })?;
        let looks_like_host = host.contains('.') || host.contains(':') || host == "localhost";
        if !looks_like_host || !host_ok(host) {
            return Err(bad(
                text,
                format!(
                    "{host:?} is not a registry host; write HOST[:PORT]/REPOSITORY[:TAG] (there is no default registry)"
                ),
            ));
        }
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t.to_string())),
            _ => (path, None),
        };
        if repository.len() > 255 || !repository.split('/').all(component_ok) {
            return Err(bad(
                text,
                format!(
                    "{repository:?} is not a repository name (lowercase letters, digits, separators . _ __ -, parts joined by /)"
                ),
            ));
        }
        if let Some(t) = &tag
            && !tag_ok(t)
        {
            return Err(bad(text, format!("{t:?} is not a tag")));
        }
        Ok(Reference {
            registry: host.to_string(),
            repository: repository.to_string(),
            tag,
            digest,
        })
    }

    /// What the manifest endpoint is asked for: the digest if there is one, else the tag (or
    /// `latest`).
    pub fn manifest_key(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// The tag, or `latest`.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The same repository with another tag and no digest.
    #[must_use]
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// Whether the registry is on this machine (plain HTTP is allowed there).
    pub fn is_loopback(&self) -> bool {
        let name = match self.registry.rsplit_once(':') {
            Some((n, p)) if p.parse::<u16>().is_ok() => n,
            _ => self.registry.as_str(),
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        name.eq_ignore_ascii_case("localhost")
            || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_and_print_back() {
        for text in [
            "127.0.0.1:5000/team/shop:1.2",
            "localhost/a",
            "reg.example:443/a/b/c@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "[::1]:5000/x:y",
            "r.example/a__b/c-d.e_f:T_1.0-x",
        ] {
            let r = Reference::parse(text).unwrap();
            assert_eq!(r.to_string(), text);
        }
        let r = Reference::parse("127.0.0.1:5000/team/shop:1.2").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_deref()),
            ("127.0.0.1:5000", "team/shop", Some("1.2"))
        );
        assert!(r.is_loopback());
        assert!(Reference::parse("[::1]:5000/x").unwrap().is_loopback());
        assert!(!Reference::parse("reg.example/x").unwrap().is_loopback());
        assert_eq!(
            Reference::parse("localhost/a").unwrap().manifest_key(),
            "latest"
        );
    }

    #[test]
    fn bad_references_say_why() {
        for (text, why) in [
            ("shop", "name the registry"),
            ("team/shop:1", "not a registry host"),
            ("reg.example/Shop", "not a repository name"),
            ("reg.example/a//b", "not a repository name"),
            ("reg.example/a:b c", "spaces"),
            ("reg.example/a:-x", "not a tag"),
            ("reg.example/a@sha256:xyz", "digest"),
            ("reg.example:99999/a", "not a registry host"),
            ("reg.example/a..b", "not a repository name"),
            ("127.0.0.1:034659/a", "not a registry host"),
            ("127.0.0.1:+34659/a", "not a registry host"),
            ("user:pw@127.0.0.1:5000/a", "not supported"),
        ] {
            let e = Reference::parse(text).unwrap_err().to_string();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
