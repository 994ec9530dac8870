//! Key pairs: made, sealed and opened in cosign's encrypted format, and used to sign and
//! verify.

use base64::Engine as _;
use crypto_secretbox::XSalsa20Poly1305;
use crypto_secretbox::aead::{Aead, KeyInit};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use serde_json::{Value, json};

use crate::{Error, Result};

/// The PEM label cosign writes (and the older one it still reads).
const LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
const OLD_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// scrypt's cost as cosign 2 writes it (`N = 2^15`); what a key names is what opening uses.
const LOG_N: u8 = 15;

/// A private key (and its public half).
pub struct KeyPair {
    key: SigningKey,
}

/// A public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out).map_err(|e| Error::Key(format!("no randomness: {e}")))?;
    Ok(out)
}

/// scrypt's output for a password, salt and cost.
fn derive(password: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32) -> Result<[u8; 32]> {
    let params = scrypt::Params::new(log_n, r, p, 32)
        .map_err(|e| Error::Key(format!("scrypt parameters: {e}")))?;
    let mut out = [0u8; 32];
    scrypt::scrypt(password, salt, &params, &mut out)
        .map_err(|e| Error::Key(format!("scrypt: {e}")))?;
    Ok(out)
}

impl KeyPair {
    /// A new random key.
    pub fn generate() -> Result<Self> {
        loop {
            let bytes: [u8; 32] = random()?;
            if let Ok(key) = SigningKey::from_bytes(&bytes.into()) {
                return Ok(KeyPair { key });
            }
        }
    }

    /// The private key sealed with a password, as cosign writes `cosign.key`.
    pub fn to_encrypted_pem(&self, password: &[u8]) -> Result<String> {
        let der = self
            .key
            .to_pkcs8_der()
            .map_err(|e| Error::Key(format!("PKCS#8: {e}")))?;
        let salt: [u8; 32] = random()?;
        let nonce: [u8; 24] = random()?;
        let secret = derive(password, &salt, LOG_N, 8, 1)?;
        let sealed = XSalsa20Poly1305::new(&secret.into())
            .encrypt(&nonce.into(), der.as_bytes())
            .map_err(|_| Error::Key("sealing the key failed".into()))?;
        let doc = json!({
            "kdf": {"name": "scrypt", "params": {"N": 1u64 << LOG_N, "r": 8, "p": 1}, "salt": b64().encode(salt)},
            "cipher": {"name": "nacl/secretbox", "nonce": b64().encode(nonce)},
            "ciphertext": b64().encode(sealed),
        });
        Ok(pem(LABEL, doc.to_string().as_bytes()))
    }

    /// Opens a key cosign (or we) wrote.
    pub fn from_encrypted_pem(text: &str, password: &[u8]) -> Result<Self> {
        let body = unpem(text, &[LABEL, OLD_LABEL])
            .ok_or_else(|| Error::Key("not an encrypted cosign private key".into()))?;
        let doc: Value = serde_json::from_slice(&body)
            .map_err(|_| Error::Key("the key's contents are not the JSON cosign writes".into()))?;
        let field = |v: &Value| -> Result<Vec<u8>> {
            b64()
                .decode(v.as_str().unwrap_or(""))
                .map_err(|_| Error::Key("a field of the key is not base64".into()))
        };
        if doc["kdf"]["name"] != "scrypt" || doc["cipher"]["name"] != "nacl/secretbox" {
            return Err(Error::Key(
                "the key is sealed with something other than scrypt + secretbox".into(),
            ));
        }
        let n = doc["kdf"]["params"]["N"].as_u64().unwrap_or(0);
        if !n.is_power_of_two() || !(1 << 10..=1 << 20).contains(&n) {
            return Err(Error::Key("the key's scrypt cost is out of range".into()));
        }
        let (r, p) = (
            doc["kdf"]["params"]["r"].as_u64().unwrap_or(8),
            doc["kdf"]["params"]["p"].as_u64().unwrap_or(1),
        );
        // scrypt needs 128·N·r bytes and N·r·p work: a key file must not be able to ask for
        // gigabytes or hours. cosign writes N = 2^15 or 2^16, r = 8, p = 1.
        if !(1..=64).contains(&r)
            || !(1..=16).contains(&p)
            || n * r > 1 << 21
            || n * r * p > 1 << 23
        {
            return Err(Error::Key(format!(
                "the key asks for an scrypt cost beyond what is accepted (N={n}, r={r}, p={p}; at most 256 MiB and 2^23 rounds)"
            )));
        }
        let (r, p) = (u32::try_from(r).unwrap_or(8), u32::try_from(p).unwrap_or(1));
        let log_n = u8::try_from(n.trailing_zeros()).unwrap_or(0);
        let secret = derive(password, &field(&doc["kdf"]["salt"])?, log_n, r, p)?;
        let nonce = field(&doc["cipher"]["nonce"])?;
        if nonce.len() != 24 {
            return Err(Error::Key("the key's nonce is not 24 bytes".into()));
        }
        let der = XSalsa20Poly1305::new(&secret.into())
            .decrypt(
                nonce.as_slice().into(),
                field(&doc["ciphertext"])?.as_slice(),
            )
            .map_err(|_| Error::WrongPassword)?;
        let key = SigningKey::from_pkcs8_der(&der)
            .map_err(|_| Error::Key("the key is not an ECDSA P-256 key".into()))?;
        Ok(KeyPair { key })
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey {
            key: *self.key.verifying_key(),
        }
    }

    /// A signature over `message` (ECDSA P-256, SHA-256), base64 of its ASN.1 DER form.
    pub fn sign(&self, message: &[u8]) -> String {
        let sig: DerSignature = self.key.sign(message);
        b64().encode(sig.as_bytes())
    }
}

impl PublicKey {
    /// A `PUBLIC KEY` PEM block, as cosign writes `cosign.pub`.
    pub fn to_pem(&self) -> Result<String> {
        self.key
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| Error::Key(format!("public key: {e}")))
    }

    /// Reads a `PUBLIC KEY` PEM block.
    pub fn from_pem(text: &str) -> Result<Self> {
        VerifyingKey::from_public_key_pem(text.trim())
            .map(|key| PublicKey { key })
            .map_err(|_| Error::Key("not an ECDSA P-256 public key (PEM)".into()))
    }

    /// What a sigstore bundle names this key by: base64 of the SHA-256 of its DER form (the
    /// `publicKey.hint` cosign writes).
    pub fn hint(&self) -> Result<String> {
        use sha2::Digest as _;
        let der = self
            .key
            .to_public_key_der()
            .map_err(|e| Error::Key(format!("public key: {e}")))?;
        Ok(b64().encode(sha2::Sha256::digest(der.as_bytes())))
    }

    /// Checks a base64 ASN.1 DER signature over `message`.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> Result<()> {
        let raw = b64()
            .decode(signature_b64.trim())
            .map_err(|_| Error::BadSignature)?;
        let sig = DerSignature::try_from(raw.as_slice()).map_err(|_| Error::BadSignature)?;
        self.key
            .verify(message, &sig)
            .map_err(|_| Error::BadSignature)
    }
}

fn pem(label: &str, body: &[u8]) -> String {
    let text = b64().encode(body);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push('\n');
    }
    out + &format!("-----END {label}-----\n")
}

fn unpem(text: &str, labels: &[&str]) -> Option<Vec<u8>> {
    for label in labels {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        if let Some(start) = text.find(&begin) {
            let rest = &text[start + begin.len()..];
            let stop = rest.find(&end)?;
            let b: String = rest[..stop]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            return b64().decode(b).ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_cannot_ask_for_unbounded_scrypt_work() {
        let sealed = KeyPair::generate()
            .unwrap()
            .to_encrypted_pem(b"pw")
            .unwrap();
        let body = unpem(&sealed, &[LABEL]).unwrap();
        let mut doc: Value = serde_json::from_slice(&body).unwrap();
        for (n, r, p) in [
            (1u64 << 20, 1u64 << 24, 1u64),
            (1024, 8, 1 << 26),
            (1 << 20, 64, 1),
        ] {
            doc["kdf"]["params"] = json!({"N": n, "r": r, "p": p});
            let hostile = pem(LABEL, &serde_json::to_vec(&doc).unwrap());
            let err = KeyPair::from_encrypted_pem(&hostile, b"pw").err().unwrap();
            assert!(err.to_string().contains("scrypt cost"), "{err}");
        }
    }

    #[test]
    fn a_sealed_key_opens_with_its_password_only_and_signs() {
        let k = KeyPair::generate().unwrap();
        let pem = k.to_encrypted_pem(b"secret").unwrap();
        assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
        assert!(matches!(
            KeyPair::from_encrypted_pem(&pem, b"wrong"),
            Err(Error::WrongPassword)
        ));
        let opened = KeyPair::from_encrypted_pem(&pem, b"secret").unwrap();
        let sig = opened.sign(b"payload");
        let public = PublicKey::from_pem(&k.public().to_pem().unwrap()).unwrap();
        public.verify(b"payload", &sig).unwrap();
        assert!(public.verify(b"payload!", &sig).is_err());
    }
}
