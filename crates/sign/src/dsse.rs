//! DSSE envelopes (the "Dead Simple Signing Envelope" in-toto attestations travel in): the
//! payload and its type are signed together through the pre-authentication encoding, so a
//! signature over one payload type can never be replayed as another.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::keys::{KeyPair, PublicKey};
use crate::{Error, Result};

/// The payload type of an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// An envelope as JSON carries it (payload in base64).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Envelope {
    pub payload: String,
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    pub signatures: Vec<Signature>,
}

/// One signature in an envelope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Signature {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
    pub sig: String,
}

/// The bytes a DSSE signature covers: `DSSEv1 <len> <type> <len> <payload>`.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// Signs `payload` of `payload_type` with `key`.
    pub fn sign(key: &KeyPair, payload_type: &str, payload: &[u8]) -> Self {
        Envelope {
            payload: b64().encode(payload),
            payload_type: payload_type.to_string(),
            signatures: vec![Signature {
                keyid: String::new(),
                sig: key.sign(&pae(payload_type, payload)),
            }],
        }
    }

    /// The envelope as compact JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads an envelope (size is the caller's to cap).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Envelope(format!("not a DSSE envelope: {e}")))
    }

    /// The payload, once one of the signatures verifies with `key` and the payload type is
    /// `expected_type`.
    pub fn open(&self, key: &PublicKey, expected_type: &str) -> Result<Vec<u8>> {
        if self.payload_type != expected_type {
            return Err(Error::Envelope(format!(
                "payload type {:?}, not {expected_type}",
                self.payload_type
            )));
        }
        let payload = b64()
            .decode(self.payload.trim())
            .map_err(|_| Error::Envelope("the payload is not base64".into()))?;
        let message = pae(&self.payload_type, &payload);
        if self.signatures.is_empty() {
            return Err(Error::Envelope("no signature".into()));
        }
        if self
            .signatures
            .iter()
            .any(|s| key.verify(&message, &s.sig).is_ok())
        {
            Ok(payload)
        } else {
            Err(Error::BadSignature)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_is_the_specs_example() {
        // The DSSE specification's own worked example.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn an_envelope_opens_only_unchanged_with_its_key_and_type() {
        let key = KeyPair::generate().unwrap();
        let other = KeyPair::generate().unwrap();
        let env = Envelope::sign(&key, IN_TOTO, b"{\"a\":1}");
        let back = Envelope::from_json(&env.to_json()).unwrap();
        assert_eq!(back.open(&key.public(), IN_TOTO).unwrap(), b"{\"a\":1}");
        assert!(matches!(
            back.open(&other.public(), IN_TOTO),
            Err(Error::BadSignature)
        ));
        assert!(back.open(&key.public(), "text/plain").is_err());
        let mut changed = back.clone();
        changed.payload = b64().encode(b"{\"a\":2}");
        assert!(matches!(
            changed.open(&key.public(), IN_TOTO),
            Err(Error::BadSignature)
        ));
        let mut retyped = back;
        retyped.payload_type = "text/plain".into();
        assert!(matches!(
            retyped.open(&key.public(), "text/plain"),
            Err(Error::BadSignature)
        ));
    }
}
