//! Sigstore bundles (v0.3), the format cosign 3 stores signatures and attestations in: a DSSE
//! envelope plus the material to check it (here a public key, named by its hint; no
//! certificate and no transparency-log entry, since keys are the user's own and signing is
//! offline).

use serde_json::json;

use crate::dsse::Envelope;
use crate::keys::KeyPair;
use crate::{Error, Result};

/// The media type of a bundle (layer and artifact type of its OCI manifest).
pub const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";

/// A bundle around an envelope signed by `key`.
pub fn wrap(key: &KeyPair, envelope: &Envelope) -> Result<Vec<u8>> {
    Ok(json!({
        "mediaType": MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key.public().hint()?}},
        "dsseEnvelope": envelope,
    })
    .to_string()
    .into_bytes())
}

/// The parts of a bundle we read; anything else in it is skipped unread (never held whole).
#[derive(serde::Deserialize)]
struct Bundle {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    #[serde(rename = "dsseEnvelope")]
    dsse_envelope: Option<Envelope>,
}

/// The envelope inside a bundle (a bundle of another version or kind is refused).
pub fn unwrap(bytes: &[u8]) -> Result<Envelope> {
    let b: Bundle = serde_json::from_slice(bytes)
        .map_err(|e| Error::Envelope(format!("not a sigstore bundle: {e}")))?;
    if !b
        .media_type
        .starts_with("application/vnd.dev.sigstore.bundle")
    {
        return Err(Error::Envelope(format!(
            "bundle media type {:?}",
            b.media_type
        )));
    }
    b.dsse_envelope
        .ok_or_else(|| Error::Envelope("a bundle without a DSSE envelope".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_gives_back_its_envelope() {
        let key = KeyPair::generate().unwrap();
        let env = Envelope::sign(&key, crate::dsse::IN_TOTO, b"{}");
        let bytes = wrap(&key, &env).unwrap();
        assert_eq!(unwrap(&bytes).unwrap(), env);
        assert!(unwrap(br#"{"mediaType":"x"}"#).is_err());
    }
}
