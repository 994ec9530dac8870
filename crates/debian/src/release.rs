//! `InRelease`: OpenPGP verification and the index hashes it vouches for.
//!
//! The `pgp` crate checks the mathematics of a signature; the policy is ours: the issuer must be
//! a key of the keyring with valid binding signatures, not revoked, valid at the signature's
//! creation time, and the signature must not use SHA-1 or MD5. The `Valid-Until` field is
//! enforced unless the caller explicitly allows expired releases (snapshot mirrors).
//! This module must never return release fields from text that was not verified.

use std::collections::BTreeMap;
use std::io::Cursor;

use chrono::{DateTime, Utc};
use pgp::composed::{CleartextSignedMessage, Deserializable, SignedPublicKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::KeyDetails;

use crate::error::{Error, Result};

/// The largest key file read (Debian's whole archive keyring is about 100 KiB).
const MAX_KEY_FILE: u64 = 8 << 20;

/// Debian's archive keys, embedded in the binary so that a build trusts nothing from the host.
const EMBEDDED_KEYS: &[(&str, &[u8])] = &[
    (
        "bullseye-stable",
        include_bytes!("../keys/debian-archive-bullseye-stable.gpg"),
    ),
    (
        "bullseye-automatic",
        include_bytes!("../keys/debian-archive-bullseye-automatic.gpg"),
    ),
    (
        "bullseye-security-automatic",
        include_bytes!("../keys/debian-archive-bullseye-security-automatic.gpg"),
    ),
    (
        "bookworm-stable",
        include_bytes!("../keys/debian-archive-bookworm-stable.gpg"),
    ),
    (
        "bookworm-automatic",
        include_bytes!("../keys/debian-archive-bookworm-automatic.gpg"),
    ),
    (
        "bookworm-security-automatic",
        include_bytes!("../keys/debian-archive-bookworm-security-automatic.gpg"),
    ),
    (
        "trixie-stable",
        include_bytes!("../keys/debian-archive-trixie-stable.gpg"),
    ),
    (
        "trixie-automatic",
        include_bytes!("../keys/debian-archive-trixie-automatic.gpg"),
    ),
    (
        "trixie-security-automatic",
        include_bytes!("../keys/debian-archive-trixie-security-automatic.gpg"),
    ),
];

/// The set of public keys trusted to sign `InRelease` files.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Debian's archive keys shipped with this binary.
    pub fn embedded() -> Result<Self> {
        let mut ring = Keyring::default();
        for (name, bytes) in EMBEDDED_KEYS {
            ring.add_bytes(&format!("embedded key {name}"), bytes)?;
        }
        Ok(ring)
    }

    /// Adds the keys of a binary or ASCII-armored key file.
    pub fn add_bytes(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        let bad = |e: pgp::errors::Error| Error::Release {
            file: name.to_string(),
            reason: format!("not an OpenPGP public key file: {e}"),
        };
        let parsed: Vec<SignedPublicKey> = if bytes.starts_with(b"-----BEGIN") {
            SignedPublicKey::from_armor_many(Cursor::new(bytes))
                .map_err(bad)?
                .0
                .collect::<std::result::Result<_, _>>()
                .map_err(bad)?
        } else {
            SignedPublicKey::from_bytes_many(Cursor::new(bytes))
                .map_err(bad)?
                .collect::<std::result::Result<_, _>>()
                .map_err(bad)?
        };
        if parsed.is_empty() {
            return Err(Error::Release {
                file: name.to_string(),
                reason: "contains no public key".to_string(),
            });
        }
        for mut key in parsed {
            // A primary key needs at least one valid self-certification; subkeys need a valid
            // binding. Third-party certifications (Debian cross-signs its keys) are ignored.
            if self_certified(&key) {
                key.public_subkeys.retain(|sub| {
                    !sub.signatures.is_empty() && sub.verify_bindings(&key.primary_key).is_ok()
                });
                self.keys.push(key);
            }
        }
        Ok(())
    }

    /// Adds the keys of a file on disk.
    pub fn add_file(&mut self, path: &std::path::Path) -> Result<()> {
        // A key file is small and regular: /dev/zero, a FIFO or a huge file is refused before
        // it is opened or read (opening a FIFO would wait for a writer forever).
        let shown = path.display().to_string();
        let refuse = |reason: &str| Error::Release {
            file: shown.clone(),
            reason: reason.to_string(),
        };
        let meta = fs_err::metadata(path)?;
        if !meta.is_file() {
            return Err(refuse("not a regular file"));
        }
        if meta.len() > MAX_KEY_FILE {
            return Err(refuse(&format!(
                "{} bytes; a key file is at most {MAX_KEY_FILE}",
                meta.len()
            )));
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut std::io::Read::take(fs_err::File::open(path)?, MAX_KEY_FILE + 1),
            &mut bytes,
        )
        .map_err(|e| refuse(&e.to_string()))?;
        if bytes.len() as u64 > MAX_KEY_FILE {
            return Err(refuse("grew while being read"));
        }
        self.add_bytes(&shown, &bytes)
    }

    /// Number of primary keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the keyring has no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The verified fields of a `Release` file that a build needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub suite: String,
    pub codename: String,
    pub version: String,
    pub date: String,
    pub valid_until: Option<String>,
    pub architectures: Vec<String>,
    /// The archive serves indexes under `by-hash/SHA256/<hash>` too (immune to mirror races).
    pub acquire_by_hash: bool,
    /// Index path (e.g. `main/binary-amd64/Packages.xz`) → (sha256, size).
    pub sha256: BTreeMap<String, (String, u64)>,
}

/// How strictly to treat the release's validity dates.
#[derive(Debug, Clone, Copy)]
pub struct ReleasePolicy {
    pub allow_expired: bool,
    pub now: DateTime<Utc>,
}

/// Verifies an `InRelease` file against the keyring and returns its fields.
pub fn verify_inrelease(
    file: &str,
    bytes: &[u8],
    keyring: &Keyring,
    policy: ReleasePolicy,
) -> Result<Release> {
    let text = verify_clearsigned(file, bytes, keyring)?;
    let release = parse_release(file, &text)?;
    check_validity(file, &release, policy)?;
    Ok(release)
}

/// Verifies any OpenPGP clear-signed text (an `InRelease`, a `SHASUMS256.txt.asc`) against
/// the keyring, with the same policy on keys and hashes, and returns the signed text.
pub fn verify_clearsigned(file: &str, bytes: &[u8], keyring: &Keyring) -> Result<String> {
    let sig_err = |reason: String| Error::Signature {
        file: file.to_string(),
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| sig_err("not UTF-8 text".into()))?;
    if !text
        .trim_start()
        .starts_with("-----BEGIN PGP SIGNED MESSAGE-----")
    {
        return Err(sig_err(
            "not an OpenPGP clear-signed message (no BEGIN PGP SIGNED MESSAGE line first)".into(),
        ));
    }
    let (msg, _) = CleartextSignedMessage::from_string(text).map_err(|e| {
        // The parser's message may quote the input (in decimal bytes): keep one short line.
        let text = e.to_string();
        let text = text
            .split(" input: [")
            .next()
            .unwrap_or("")
            .trim_end_matches(['(', '{', ' ']);
        let why: String = text.chars().take(160).collect();
        sig_err(format!("not an OpenPGP clear-signed message: {why}"))
    })?;
    let mut reasons = Vec::new();
    let mut verified = false;
    for sig in msg.signatures() {
        match check_signature(&msg, sig, keyring) {
            Ok(()) => verified = true,
            Err(reason) => reasons.push(reason),
        }
    }
    if !verified {
        if reasons.is_empty() {
            reasons.push("no signature".to_string());
        }
        return Err(sig_err(reasons.join("; ")));
    }
    Ok(msg.signed_text().replace("\r\n", "\n"))
}

fn check_signature(
    msg: &CleartextSignedMessage,
    sig: &pgp::packet::Signature,
    keyring: &Keyring,
) -> std::result::Result<(), String> {
    let hash = sig.hash_alg();
    if matches!(hash, Some(HashAlgorithm::Sha1 | HashAlgorithm::Md5) | None) {
        let name = match hash {
            Some(HashAlgorithm::Sha1) => "SHA-1",
            Some(HashAlgorithm::Md5) => "MD5",
            _ => "none",
        };
        return Err(format!("signature uses the weak hash algorithm {name}"));
    }
    let created = sig
        .created()
        .ok_or_else(|| "signature has no creation time".to_string())?
        .as_secs();
    let fingerprints = sig.issuer_fingerprint();
    let key_ids = sig.issuer_key_id();
    let text = msg.signed_text();
    for key in &keyring.keys {
        if !key.details.revocation_signatures.is_empty() {
            continue;
        }
        let primary_expiry = key_expiry(key);
        let mut candidates: Vec<Candidate<'_>> = Vec::new();
        candidates.push((
            &key.primary_key,
            key.primary_key.created_at().as_secs(),
            primary_expiry,
            &key.primary_key,
        ));
        for sub in &key.public_subkeys {
            let expiry = sub
                .signatures
                .iter()
                .filter_map(|s| s.key_expiration_time().map(pgp::types::Duration::as_secs))
                .max()
                .filter(|d| *d != 0)
                .map(|d| sub.key.created_at().as_secs().saturating_add(d));
            candidates.push((&sub.key, sub.key.created_at().as_secs(), expiry, &sub.key));
        }
        for (details, key_created, expiry, verifier) in candidates {
            let fp = details.fingerprint();
            let id = details.legacy_key_id();
            let named = fingerprints.iter().any(|f| **f == fp) || key_ids.iter().any(|k| **k == id);
            if !named {
                continue;
            }
            if created < key_created {
                return Err(format!("signature predates key {fp}"));
            }
            if expiry.is_some_and(|e| created > e) || primary_expiry.is_some_and(|e| created > e) {
                return Err(format!("key {fp} had expired when the signature was made"));
            }
            return verifier
                .verify_text(sig, text.as_bytes())
                // The library's reason is a digest comparison in its own terms: say what it means.
                .map_err(|_| {
                    format!(
                        "bad signature by key {fp}: the signed text or the signature was changed"
                    )
                });
        }
    }
    let who: Vec<String> = fingerprints
        .iter()
        .map(ToString::to_string)
        .chain(
            key_ids
                .iter()
                .map(|k| format!("key id {}", hex::encode_upper(k.as_ref()))),
        )
        .collect();
    Err(format!("signed by unknown key {}", who.join(", ")))
}

/// A key that may have made a signature: details, creation, expiry, verifier.
type Candidate<'a> = (&'a dyn KeyDetails, u32, Option<u32>, &'a dyn Verify);

/// Object-safe wrapper so primary keys and subkeys can be tried alike.
trait Verify {
    fn verify_text(&self, sig: &pgp::packet::Signature, data: &[u8]) -> pgp::errors::Result<()>;
}

impl<T: pgp::types::VerifyingKey> Verify for T {
    fn verify_text(&self, sig: &pgp::packet::Signature, data: &[u8]) -> pgp::errors::Result<()> {
        sig.verify(self, data)
    }
}

/// Whether some user ID of the key carries a valid signature by the key itself.
fn self_certified(key: &SignedPublicKey) -> bool {
    let fp = key.primary_key.fingerprint();
    let id = key.primary_key.legacy_key_id();
    key.details.users.iter().any(|user| {
        user.signatures.iter().any(|sig| {
            let by_self = sig.issuer_fingerprint().iter().any(|f| **f == fp)
                || sig.issuer_key_id().iter().any(|k| **k == id);
            by_self
                && sig
                    .verify_certification(&key.primary_key, pgp::types::Tag::UserId, &user.id)
                    .is_ok()
        })
    })
}

/// Expiry of a primary key from its newest self-signature that states one.
fn key_expiry(key: &SignedPublicKey) -> Option<u32> {
    let created = key.primary_key.created_at().as_secs();
    key.details
        .users
        .iter()
        .flat_map(|u| u.signatures.iter())
        .chain(key.details.direct_signatures.iter())
        .filter_map(|s| Some((s.created()?.as_secs(), s.key_expiration_time()?.as_secs())))
        .max_by_key(|(t, _)| *t)
        .filter(|(_, d)| *d != 0)
        .map(|(_, d)| created.saturating_add(d))
}

fn check_validity(file: &str, release: &Release, policy: ReleasePolicy) -> Result<()> {
    // apt's "not valid yet": a release dated in the future is a replay of a forged clock or a
    // broken mirror (apt allows 10 s of clock skew, and so do we).
    let date = parse_date(&release.date).ok_or_else(|| Error::Release {
        file: file.to_string(),
        reason: format!("unreadable Date {:?}", release.date),
    })?;
    if date > policy.now + chrono::Duration::seconds(10) {
        return Err(Error::Release {
            file: file.to_string(),
            reason: format!("Date {} lies in the future (not valid yet)", release.date),
        });
    }
    let Some(valid_until) = &release.valid_until else {
        return Ok(());
    };
    let until = parse_date(valid_until).ok_or_else(|| Error::Release {
        file: file.to_string(),
        reason: format!("unreadable Valid-Until {valid_until:?}"),
    })?;
    if until < policy.now && !policy.allow_expired {
        return Err(Error::Expired {
            file: file.to_string(),
            valid_until: valid_until.clone(),
        });
    }
    Ok(())
}

/// Parses a Release date (`Sat, 10 May 2025 09:00:00 UTC`).
pub fn parse_date(text: &str) -> Option<DateTime<Utc>> {
    let normalised = text.trim().replace(" UTC", " +0000");
    DateTime::parse_from_rfc2822(&normalised)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// Parses the (already verified) text of a Release file.
pub fn parse_release(file: &str, text: &str) -> Result<Release> {
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(key) = &current {
                let v = fields.entry(key.clone()).or_default();
                v.push('\n');
                v.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            current = Some(k.to_string());
            fields.insert(k.to_string(), v.trim().to_string());
        }
    }
    let mut sha256 = BTreeMap::new();
    for line in fields.get("SHA256").map_or("", String::as_str).lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [hash, size, path] = parts[..] {
            let size = size.parse().map_err(|_| Error::Release {
                file: file.to_string(),
                reason: format!("bad size in SHA256 line {line:?}"),
            })?;
            sha256.insert(path.to_string(), (hash.to_ascii_lowercase(), size));
        }
    }
    if sha256.is_empty() {
        return Err(Error::Release {
            file: file.to_string(),
            reason: "no SHA256 index list".to_string(),
        });
    }
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    Ok(Release {
        suite: get("Suite"),
        codename: get("Codename"),
        version: get("Version"),
        date: get("Date"),
        valid_until: fields.get("Valid-Until").cloned(),
        acquire_by_hash: get("Acquire-By-Hash") == "yes",
        architectures: get("Architectures")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        sha256,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_keyring_loads() {
        let ring = Keyring::embedded().unwrap();
        assert!(ring.len() >= 9, "{}", ring.len());
    }

    #[test]
    fn parses_dates() {
        assert!(parse_date("Sat, 10 May 2025 09:00:00 UTC").is_some());
        assert!(parse_date("nonsense").is_none());
    }

    #[test]
    fn release_fields() {
        let text = "Suite: stable\nCodename: trixie\nVersion: 13.1\nDate: Sat, 10 May 2025 09:00:00 UTC\n\
                    Architectures: amd64 arm64\nSHA256:\n 0123 42 main/binary-amd64/Packages.xz\n";
        let r = parse_release("x", text).unwrap();
        assert_eq!(r.codename, "trixie");
        assert_eq!(r.sha256["main/binary-amd64/Packages.xz"].1, 42);
    }

    #[test]
    fn garbage_is_rejected() {
        let ring = Keyring::embedded().unwrap();
        let policy = ReleasePolicy {
            allow_expired: false,
            now: Utc::now(),
        };
        let err = verify_inrelease("InRelease", b"Suite: x\n", &ring, policy).unwrap_err();
        assert!(err.to_string().starts_with("InRelease: signature"), "{err}");
    }
}
