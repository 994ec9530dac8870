//! in-toto statements: what an attestation says (a predicate of some type) about which
//! artifacts (subjects, by digest). Built here, and read back with every field checked before
//! anyone trusts the predicate.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// The statement type we write (v1); v0.1 is still read, since cosign writes it.
pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";

/// The predicate types this tool attests (and the names `--type` takes in cosign).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Predicate {
    /// SPDX 2.3 JSON (cosign `spdxjson`).
    Spdx,
    /// CycloneDX 1.6 JSON (cosign `cyclonedx`).
    CycloneDx,
    /// SLSA provenance v1 (cosign `slsaprovenance1`).
    Slsa,
    /// cosign's own "this image is signed" statement (new bundle format signatures).
    CosignSign,
}

impl Predicate {
    pub const ATTESTED: [Predicate; 3] = [Predicate::Spdx, Predicate::CycloneDx, Predicate::Slsa];

    /// The `predicateType` URI.
    pub fn uri(self) -> &'static str {
        match self {
            Predicate::Spdx => "https://spdx.dev/Document",
            Predicate::CycloneDx => "https://cyclonedx.org/bom",
            Predicate::Slsa => "https://slsa.dev/provenance/v1",
            Predicate::CosignSign => "https://sigstore.dev/cosign/sign/v1",
        }
    }

    /// The short name users type (`spdx`, `cyclonedx`, `slsa`).
    pub fn name(self) -> &'static str {
        match self {
            Predicate::Spdx => "spdx",
            Predicate::CycloneDx => "cyclonedx",
            Predicate::Slsa => "slsa",
            Predicate::CosignSign => "signature",
        }
    }

    pub fn from_uri(uri: &str) -> Option<Self> {
        [
            Predicate::Spdx,
            Predicate::CycloneDx,
            Predicate::Slsa,
            Predicate::CosignSign,
        ]
        .into_iter()
        .find(|p| p.uri() == uri)
    }
}

/// One artifact a statement is about.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Subject {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub digest: std::collections::BTreeMap<String, String>,
}

impl Subject {
    /// A subject named `name` with an OCI digest (`sha256:<hex>`).
    pub fn oci(name: &str, digest: &str) -> Self {
        let (alg, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
        Subject {
            name: name.to_string(),
            digest: [(alg.to_string(), hex.to_string())].into(),
        }
    }

    /// Whether this subject is the OCI digest `sha256:<hex>`.
    pub fn is(&self, digest: &str) -> bool {
        digest
            .split_once(':')
            .is_some_and(|(alg, hex)| self.digest.get(alg).is_some_and(|h| h == hex))
    }
}

/// A statement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub kind: String,
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: Value,
}

impl Statement {
    pub fn new(subject: Vec<Subject>, predicate: Predicate, body: Value) -> Self {
        Statement {
            kind: STATEMENT_V1.to_string(),
            subject,
            predicate_type: predicate.uri().to_string(),
            predicate: body,
        }
    }

    /// The statement as JSON (serde_json's maps are sorted: the bytes are stable).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Reads a statement, refusing any other `_type`, an empty subject list and a subject
    /// without a digest.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let s: Statement = serde_json::from_slice(bytes)
            .map_err(|e| Error::Envelope(format!("not an in-toto statement: {e}")))?;
        if s.kind != STATEMENT_V1 && s.kind != STATEMENT_V01 {
            return Err(Error::Envelope(format!("statement type {:?}", s.kind)));
        }
        if s.subject.is_empty() || s.subject.iter().any(|x| x.digest.is_empty()) {
            return Err(Error::Envelope(
                "a statement without subject digests".into(),
            ));
        }
        Ok(s)
    }

    /// Whether `digest` is one of the subjects.
    pub fn about(&self, digest: &str) -> bool {
        self.subject.iter().any(|s| s.is(digest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_round_trip_and_know_their_subjects() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let s = Statement::new(
            vec![Subject::oci("r/x", &d)],
            Predicate::Slsa,
            serde_json::json!({"x": 1}),
        );
        let back = Statement::from_json(&s.to_json()).unwrap();
        assert_eq!(back, s);
        assert!(back.about(&d));
        assert!(!back.about(&format!("sha256:{}", "cd".repeat(32))));
        assert_eq!(
            Predicate::from_uri(&back.predicate_type),
            Some(Predicate::Slsa)
        );
        let wrong = br#"{"_type":"x","subject":[{"digest":{"sha256":"ab"}}],"predicateType":"p","predicate":{}}"#;
        assert!(Statement::from_json(wrong).is_err());
        let empty = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"p","predicate":{}}"#;
        assert!(Statement::from_json(empty).is_err());
    }
}
