//! Authentication: the `WWW-Authenticate` challenge answered (Basic, or a Bearer token
//! fetched from the realm with the scopes a request needs), credentials looked up once per
//! registry, and every secret remembered so that no output shows it.

use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderMap, WWW_AUTHENTICATE};

use super::{Client, read_json};
use crate::credentials::{self, Credential};
use crate::error::{Error, Result};
use crate::reference::Reference;

/// How a registry wants to be authenticated, learnt from its first challenge.
#[derive(Debug, Clone)]
pub(super) enum Scheme {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

impl Client {
    pub(super) fn credential(&self, registry: &str) -> Result<Option<Credential>> {
        if let Some((reg, c)) = &self.given
            && reg == registry
        {
            remember_credential(c);
            return Ok(Some(c.clone()));
        }
        let mut known = self
            .credentials
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = known.get(registry) {
            return Ok(c.clone());
        }
        let found = credentials::lookup(registry)?;
        if let Some(c) = &found {
            remember_credential(c);
        }
        known.insert(registry.to_string(), found.clone());
        Ok(found)
    }

    /// The `Authorization` value for a request needing `scopes`, if the registry asked for one.
    pub(super) fn authorization(&self, r: &Reference, scopes: &[String]) -> Result<Option<String>> {
        let scheme = self
            .schemes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&r.registry)
            .cloned();
        match scheme {
            None => Ok(None),
            Some(Scheme::Basic) => Ok(self.credential(&r.registry)?.map(|c| basic(&c))),
            Some(Scheme::Bearer { .. }) => {
                let key = (r.registry.clone(), scopes.join(" "));
                let token = self
                    .tokens
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get(&key)
                    .cloned();
                Ok(token.map(|t| format!("Bearer {t}")))
            }
        }
    }

    /// Answers a 401: learns the scheme and, for Bearer, fetches a token for `scopes`.
    pub(super) fn authenticate(
        &self,
        r: &Reference,
        scopes: &[String],
        headers: &HeaderMap,
    ) -> Result<()> {
        let challenge = headers
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let scheme = parse_challenge(challenge).ok_or_else(|| Error::Unauthorized {
            reference: r.to_string(),
            message: "the registry refused access and sent no usable WWW-Authenticate challenge"
                .into(),
        })?;
        let credential = self.credential(&r.registry)?;
        if let Scheme::Bearer { realm, service } = &scheme {
            let token =
                self.fetch_token(r, realm, service.as_deref(), scopes, credential.as_ref())?;
            self.tokens
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert((r.registry.clone(), scopes.join(" ")), token);
        } else if credential.is_none() {
            return Err(Self::no_credentials(r));
        }
        self.schemes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(r.registry.clone(), scheme);
        Ok(())
    }

    pub(super) fn no_credentials(r: &Reference) -> Error {
        Error::Unauthorized {
            reference: r.to_string(),
            message: format!(
                "the registry wants credentials and none are stored for {} (run `distroless login {} -u USER`)",
                r.registry, r.registry
            ),
        }
    }

    /// Asks the token realm for a token covering `scopes` (with the credential, if any); an
    /// answer that breaks off is asked for again.
    pub(super) fn fetch_token(
        &self,
        r: &Reference,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        credential: Option<&Credential>,
    ) -> Result<String> {
        self.again_on_network(r, || {
            self.fetch_token_once(r, realm, service, scopes, credential)
        })
    }

    pub(super) fn fetch_token_once(
        &self,
        r: &Reference,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
        credential: Option<&Credential>,
    ) -> Result<String> {
        let mut url = url::Url::parse(realm)
            .map_err(|_| Error::registry(r, format!("the token realm {realm:?} is not a URL")))?;
        // Plain HTTP only where the registry itself is reached that way: a loopback realm of
        // a remote HTTPS registry would get its credentials in clear from whatever listens on
        // that port here.
        let realm_loopback = url.host_str().is_some_and(|h| {
            h == "localhost"
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        let plain_ok =
            self.base(r).starts_with("http://") && (realm_loopback || self.options.insecure);
        if url.scheme() != "https" && !(url.scheme() == "http" && plain_ok) {
            return Err(Error::registry(
                r,
                format!("the token realm {realm:?} is not HTTPS; credentials are not sent there"),
            ));
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        let url = url.to_string();
        let resp = self.retrying(r, self.options.attempts, || {
            let req = self.http.get(&url);
            Ok(match credential {
                Some(c) => req.header(AUTHORIZATION, basic(c)),
                None => req,
            })
        })?;
        if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
            return Err(match credential {
                Some(c) => Error::Unauthorized {
                    reference: r.to_string(),
                    message: format!(
                        "the token service refused the credentials for {} from {}",
                        r.registry, c.from
                    ),
                },
                None => Self::no_credentials(r),
            });
        }
        let body: serde_json::Value = read_json(r, resp, 1 << 20)?;
        let token = body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .map(str::to_string)
            .ok_or_else(|| Error::registry(r, "the token service answered without a token"))?;
        crate::secrets::remember(&token);
        Ok(token)
    }
}

/// Remembers a credential's secret and its Basic encoding as secrets to scrub from any text.
pub(super) fn remember_credential(c: &Credential) {
    crate::secrets::remember(&c.secret);
    if let Some(encoded) = basic(c).strip_prefix("Basic ") {
        crate::secrets::remember(encoded);
    }
}

/// `Basic base64(user:secret)`.
pub(super) fn basic(c: &Credential) -> String {
    let raw = format!("{}:{}", c.username, c.secret);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
pub(super) fn parse_challenge(text: &str) -> Option<Scheme> {
    let (kind, params) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
    if kind.eq_ignore_ascii_case("basic") {
        return Some(Scheme::Basic);
    }
    if !kind.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let mut realm = None;
    let mut service = None;
    let mut rest = params;
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        match key {
            "realm" => realm = Some(value.to_string()),
            "service" => service = Some(value.to_string()),
            _ => {}
        }
        rest = next;
    }
    Some(Scheme::Bearer {
        realm: realm?,
        service,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Options;

    #[test]
    fn a_loopback_realm_over_http_serves_only_a_registry_reached_over_http() {
        let client = Client::new(Options::default()).unwrap();
        let cred = Credential::given("alice", "pw-for-remote");
        // A remote registry (reached over HTTPS) naming a plain-HTTP realm on this machine:
        // refused before anything is sent.
        let remote = Reference::parse("reg.invalid/team/app:1").unwrap();
        let e = client
            .fetch_token_once(&remote, "http://127.0.0.1:1/token", None, &[], Some(&cred))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not HTTPS"), "{e}");
        // `--insecure` does not make a registry reached over HTTPS (a CA file given) send its
        // credentials to a plain-HTTP realm either.
        let tmp = tempfile::tempdir().unwrap();
        testkit::tokens::tls_files(tmp.path());
        let client = Client::new(Options {
            insecure: true,
            ca_file: Some(tmp.path().join("ca.crt")),
            ..Options::default()
        })
        .unwrap();
        let local = Reference::parse("127.0.0.1:5000/team/app:1").unwrap();
        let e = client
            .fetch_token_once(&local, "http://127.0.0.1:1/token", None, &[], Some(&cred))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not HTTPS"), "{e}");
    }

    #[test]
    fn challenges_parse() {
        match parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull""#,
        ) {
            Some(Scheme::Bearer { realm, service }) => {
                assert_eq!(realm, "https://auth.example/token");
                assert_eq!(service.as_deref(), Some("reg"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_challenge("Basic realm=\"x\""),
            Some(Scheme::Basic)
        ));
        assert!(parse_challenge("Negotiate").is_none());
        assert!(parse_challenge("Bearer service=\"x\"").is_none());
    }
}
