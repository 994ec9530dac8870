//! `login`'s check: a user name and password tried against the registry (its `/v2/`
//! endpoint, through the same challenge and token exchange a push uses) before they are
//! stored.

use registry::{Client, Reference};

/// A registry as `login`/`logout` take it: `HOST[:PORT]`, not a URL or a reference.
pub fn registry_host(text: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        !text.contains("://") && !text.contains('/'),
        "{text:?}: give the registry as HOST[:PORT] (no scheme, no repository)"
    );
    Ok(Reference::parse(&format!("{text}/probe"))?.registry)
}

/// Whether the registry accepts the client's credential for `registry`.
pub fn check(client: &Client, registry: &str) -> anyhow::Result<()> {
    let probe = Reference::parse(&format!("{registry}/probe"))?;
    let base = client.base(&probe);
    let refused =
        || anyhow::anyhow!("{registry}: the registry refused this user name and password");
    let resp = match client.send(&probe, &[], || Ok(client.http().get(&base))) {
        Err(registry::Error::Unauthorized { .. }) => return Err(refused()),
        other => other?,
    };
    if resp.status().as_u16() == 401 {
        return Err(refused());
    }
    anyhow::ensure!(
        resp.status().is_success(),
        "{registry}: the registry answered HTTP {} to the login check",
        resp.status()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_is_a_host_not_a_url_or_a_repository() {
        assert_eq!(registry_host("127.0.0.1:5000").unwrap(), "127.0.0.1:5000");
        assert!(registry_host("http://127.0.0.1:5000").is_err());
        assert!(registry_host("127.0.0.1:5000/team").is_err());
    }
}
