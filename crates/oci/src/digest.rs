//! Content digests as typed values: `sha256:` + 64 lowercase hex, or `sha512:` + 128.
//!
//! A digest read from an image we did not build is hostile text: it is parsed here before
//! anything uses it, and a blob's path is built from the parsed algorithm and hex, never by
//! joining the text to a directory. Verification streams: [`Verifier`] hashes what passes
//! through it and says at the end whether size and digest match.

use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

use crate::error::{Error, Result};

/// A registered digest algorithm we can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }
}

/// A parsed, checked content digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// The digest of bytes, as SHA-256.
    pub fn sha256_of(bytes: &[u8]) -> Digest {
        Digest {
            algorithm: Algorithm::Sha256,
            hex: hex::encode(Sha256::digest(bytes)),
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Where the blob lives in an OCI layout rooted at `root`: `blobs/<algorithm>/<hex>`.
    pub fn blob_path(&self, root: &Path) -> PathBuf {
        root.join("blobs")
            .join(self.algorithm.name())
            .join(&self.hex)
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::Digest {
            digest: shown(text),
            reason: why.to_string(),
        };
        let (alg, hex) = text
            .split_once(':')
            .ok_or_else(|| bad("not ALGORITHM:HEX"))?;
        let algorithm = match alg {
            "sha256" => Algorithm::Sha256,
            "sha512" => Algorithm::Sha512,
            _ => return Err(bad("unsupported algorithm (sha256 and sha512 are)")),
        };
        if hex.len() != algorithm.hex_len()
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad(&format!(
                "{} lowercase hex digits expected",
                algorithm.hex_len()
            )));
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_string(),
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.name(), self.hex)
    }
}

/// Hostile text shown in an error: quoted, escaped and cut short, so it can never forge a line
/// of output or dump a file.
pub fn shown(text: &str) -> String {
    let cut: String = text.chars().take(80).collect();
    if cut.len() < text.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

/// Hashes what is read through it (or written into it) and checks size and digest at the end.
pub struct Verifier<R> {
    inner: R,
    hasher: Hasher,
    seen: u64,
    expected: Digest,
    size: u64,
}

impl<R> Verifier<R> {
    /// Expects exactly `size` bytes with this digest.
    pub fn new(inner: R, expected: &Digest, size: u64) -> Self {
        let hasher = match expected.algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        };
        Verifier {
            inner,
            hasher,
            seen: 0,
            expected: expected.clone(),
            size,
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        self.seen += bytes.len() as u64;
        match &mut self.hasher {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// Whether what passed so far matches, without giving up the reader (for a stream handed
    /// to someone else, checked when it ends).
    pub fn check(&self, what: &str) -> Result<()> {
        let copy = Verifier {
            inner: (),
            hasher: match &self.hasher {
                Hasher::Sha256(h) => Hasher::Sha256(h.clone()),
                Hasher::Sha512(h) => Hasher::Sha512(h.clone()),
            },
            seen: self.seen,
            expected: self.expected.clone(),
            size: self.size,
        };
        copy.finish(what)
    }

    /// Whether what passed matched; `what` names the blob in the error.
    pub fn finish(self, what: &str) -> Result<R> {
        if self.seen != self.size {
            return Err(Error::Blob {
                what: what.to_string(),
                reason: format!(
                    "size mismatch: the descriptor says {} bytes, the blob has {}",
                    self.size, self.seen
                ),
            });
        }
        let hex = match self.hasher {
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
        };
        if hex != self.expected.hex {
            return Err(Error::Blob {
                what: what.to_string(),
                reason: format!("digest mismatch: expected {}", self.expected),
            });
        }
        Ok(self.inner)
    }
}

impl<R: Read> Read for Verifier<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Never read (or hash) past the declared size: a blob longer than its descriptor fails.
        let room = self.size.saturating_add(1).saturating_sub(self.seen);
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.update(&buf[..n]);
        Ok(n)
    }
}

impl<W: Write> Write for Verifier<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_well_formed_digests() {
        let good = format!("sha256:{}", "a".repeat(64));
        let d: Digest = good.parse().unwrap();
        assert_eq!(d.to_string(), good);
        assert_eq!(
            d.blob_path(Path::new("/l")),
            Path::new("/l/blobs/sha256").join("a".repeat(64))
        );
        for bad in [
            "sha256:../../../../x".to_string(),
            format!("sha256:{}", "A".repeat(64)),
            format!("sha256:{}", "a".repeat(63)),
            format!("md5:{}", "a".repeat(32)),
            "a".repeat(64),
            format!("sha512:{}", "a".repeat(64)),
        ] {
            let e = bad.parse::<Digest>().unwrap_err().to_string();
            assert!(e.starts_with("digest \""), "{e}");
        }
        assert!(
            format!("sha512:{}", "0".repeat(128))
                .parse::<Digest>()
                .is_ok()
        );
    }

    #[test]
    fn verifier_checks_size_and_digest() {
        let d = Digest::sha256_of(b"hello");
        let mut out = Vec::new();
        let mut v = Verifier::new(&b"hello"[..], &d, 5);
        std::io::copy(&mut v, &mut out).unwrap();
        v.finish("blob").unwrap();
        let mut v = Verifier::new(&b"hello!"[..], &d, 5);
        std::io::copy(&mut v, &mut std::io::sink()).unwrap();
        assert!(
            v.finish("blob")
                .unwrap_err()
                .to_string()
                .contains("size mismatch")
        );
        let mut v = Verifier::new(&b"hellO"[..], &d, 5);
        std::io::copy(&mut v, &mut std::io::sink()).unwrap();
        assert!(
            v.finish("blob")
                .unwrap_err()
                .to_string()
                .contains("digest mismatch")
        );
    }

    #[test]
    fn hostile_text_is_quoted_and_cut() {
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
        assert!(shown(&"x".repeat(500)).len() < 100);
    }
}
