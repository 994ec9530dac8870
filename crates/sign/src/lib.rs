//! Keys and signatures in cosign's formats, with no cosign binary: ECDSA P-256 key pairs, the
//! private key encrypted as cosign writes it (PKCS#8, sealed with NaCl secretbox under a key
//! derived by scrypt from a password, in an `ENCRYPTED SIGSTORE PRIVATE KEY` PEM block), the
//! public key as a `PUBLIC KEY` PEM block, and signatures as base64 ASN.1 DER over SHA-256.
//!
//! A crate of its own: its dependencies are cryptography, and its border is clean (bytes in,
//! bytes out; it knows nothing of images or registries).

pub mod bundle;
pub mod dsse;
pub mod keys;
pub mod simple;
pub mod statement;
pub mod storage;

pub use keys::{KeyPair, PublicKey};

/// What went wrong with a key or a signature. Never carries a password or key material.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Key(String),
    #[error("the password does not open this key (or the key is damaged)")]
    WrongPassword,
    #[error("{0}")]
    Envelope(String),
    #[error("the signature does not verify")]
    BadSignature,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
