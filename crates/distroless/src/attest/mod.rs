//! Signatures and attestations for an image, made with the user's key and stored the ways
//! cosign stores them: simple-signing `.sig` tags and sigstore bundles as OCI 1.1 referrers
//! for signatures; `.att` tags of DSSE envelopes and bundles as referrers for in-toto
//! statements (SPDX, CycloneDX, SLSA provenance). What is attached comes from the files a
//! build wrote beside its output, each checked against the digests the provenance records.
//! This module makes artifacts and judges them; sending them anywhere is the caller's.

pub mod provenance;
pub mod verify;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;
use sign::KeyPair;
use sign::dsse::{Envelope, IN_TOTO};
use sign::statement::{Predicate, Statement, Subject};
use sign::storage::{Artifact, SubjectDescriptor};

/// An image (index or manifest) something is attached to.
#[derive(Debug, Clone)]
pub struct Target {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

impl Target {
    fn descriptor(&self) -> SubjectDescriptor {
        SubjectDescriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
        }
    }
}

/// Where an artifact goes beside the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Under a tag of the image's repository (`sha256-<hex>.sig`, `.att`).
    Tag(String),
    /// As a referrer of its subject.
    Referrer,
}

/// One artifact to store, and what it is (for messages).
pub struct Attachment {
    pub subject: String,
    pub place: Place,
    pub what: String,
    pub artifact: Artifact,
}

/// Signatures of every target: the simple-signing `.sig` form and a sigstore bundle referrer.
pub fn signatures(
    key: &KeyPair,
    repository: &str,
    targets: &[Target],
) -> anyhow::Result<Vec<Attachment>> {
    let mut out = Vec::new();
    for t in targets {
        out.push(Attachment {
            subject: t.digest.clone(),
            place: Place::Tag(sign::simple::tag(&t.digest)),
            what: "signature (simple signing)".into(),
            artifact: sign::simple::sign(key, repository, &t.digest),
        });
        let statement = Statement::new(
            vec![Subject::oci("", &t.digest)],
            Predicate::CosignSign,
            serde_json::json!({}),
        );
        let env = Envelope::sign(key, IN_TOTO, &statement.to_json());
        let bundle = sign::bundle::wrap(key, &env)?;
        out.push(Attachment {
            subject: t.digest.clone(),
            place: Place::Referrer,
            what: "signature (sigstore bundle)".into(),
            artifact: sign::storage::referrer(&bundle, Predicate::CosignSign, &t.descriptor()),
        });
    }
    Ok(out)
}

/// Attestations: every statement signed into an envelope, attached to each target it is
/// about, once in the target's `.att` tag (all its envelopes together) and once as a bundle
/// referrer per statement.
pub fn attestations(
    key: &KeyPair,
    statements: &[Statement],
    targets: &[Target],
) -> anyhow::Result<Vec<Attachment>> {
    let mut out = Vec::new();
    for t in targets {
        let mut envelopes = Vec::new();
        for s in statements.iter().filter(|s| s.about(&t.digest)) {
            let predicate = Predicate::from_uri(&s.predicate_type)
                .with_context(|| format!("unknown predicate type {}", s.predicate_type))?;
            let env = Envelope::sign(key, IN_TOTO, &s.to_json());
            let bundle = sign::bundle::wrap(key, &env)?;
            out.push(Attachment {
                subject: t.digest.clone(),
                place: Place::Referrer,
                what: format!("{} attestation (sigstore bundle)", predicate.name()),
                artifact: sign::storage::referrer(&bundle, predicate, &t.descriptor()),
            });
            envelopes.push((predicate, env.to_json()));
        }
        if !envelopes.is_empty() {
            out.push(Attachment {
                subject: t.digest.clone(),
                place: Place::Tag(sign::storage::attestation_tag(&t.digest)),
                what: format!("{} attestation(s) (DSSE)", envelopes.len()),
                artifact: sign::storage::attestations(&envelopes),
            });
        }
    }
    Ok(out)
}

/// What a build wrote beside its output: the provenance statement, and the SBOM documents
/// it names (each checked against the digest the provenance recorded). A build hands its own
/// over in memory ([`Evidence::of_build`]); `attest --from` reads one from disk ([`load`]).
#[derive(Debug, Clone)]
pub struct Evidence {
    pub provenance: Statement,
    pub sboms: Vec<Sbom>,
    pub file: PathBuf,
}

/// One SBOM document and the platform manifest it describes.
#[derive(Debug, Clone)]
pub struct Sbom {
    pub predicate: Predicate,
    pub document: Value,
    pub describes: String,
}

pub use crate::model::destination::provenance_path;

/// Reads the evidence of a build: `from` is its output or its provenance file.
pub fn load(from: &Path) -> anyhow::Result<Evidence> {
    let file = provenance_path(from);
    let bytes = crate::files::read_regular(&file, 16 << 20).with_context(|| {
        format!(
            "{}: no provenance (it is written by `distroless build`)",
            file.display()
        )
    })?;
    let provenance =
        Statement::from_json(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    if provenance.predicate_type != Predicate::Slsa.uri() {
        bail!("{}: not a SLSA provenance statement", file.display());
    }
    let dir = file
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut sboms = Vec::new();
    let byproducts = provenance.predicate["runDetails"]["byproducts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for b in byproducts {
        let name = b["name"].as_str().unwrap_or_default();
        anyhow::ensure!(
            !name.is_empty() && !name.contains('/') && name != "..",
            "{}: a byproduct named {name:?} is not a file beside it",
            file.display()
        );
        let path = dir.join(name);
        anyhow::ensure!(
            fs_err::symlink_metadata(&path).is_ok_and(|m| m.is_file()),
            "{}: named by {}, but not a regular file beside it",
            path.display(),
            file.display()
        );
        let doc = crate::files::read_regular(&path, 256 << 20)
            .with_context(|| format!("{}: named by {}", path.display(), file.display()))?;
        let want = b["digest"]["sha256"].as_str().unwrap_or_default();
        anyhow::ensure!(
            provenance::sha256_hex(&doc) == want,
            "{}: changed since the build (its SHA-256 is not the one {} records)",
            path.display(),
            file.display()
        );
        let predicate = match b["mediaType"].as_str() {
            Some("application/spdx+json") => Predicate::Spdx,
            Some("application/vnd.cyclonedx+json") => Predicate::CycloneDx,
            other => bail!(
                "{}: byproduct {name} of unknown type {}",
                file.display(),
                other.unwrap_or("(none)")
            ),
        };
        let describes = b["annotations"]["describes"].as_str().unwrap_or_default();
        anyhow::ensure!(
            describes.parse::<oci::digest::Digest>().is_ok() && provenance.about(describes),
            "{}: byproduct {name} describes {describes:?}, not one of the build's images",
            file.display()
        );
        sboms.push(Sbom {
            predicate,
            document: serde_json::from_slice(&doc)
                .with_context(|| format!("{}: not JSON", path.display()))?,
            describes: b["annotations"]["describes"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        });
    }
    Ok(Evidence {
        provenance,
        sboms,
        file,
    })
}

impl Evidence {
    /// The evidence a build just made: its provenance and SBOM documents (each with the
    /// platform manifest it describes), and the file the provenance is (or would be) written to.
    pub fn of_build(
        provenance: Statement,
        documents: &[(&crate::sbom::Sbom, String)],
        file: PathBuf,
    ) -> anyhow::Result<Self> {
        let sboms = documents
            .iter()
            .map(|(doc, describes)| {
                Ok(Sbom {
                    predicate: if doc.kind.starts_with("spdx") {
                        Predicate::Spdx
                    } else {
                        Predicate::CycloneDx
                    },
                    document: serde_json::from_slice(&doc.bytes)
                        .with_context(|| format!("the {} SBOM for {}", doc.kind, doc.arch))?,
                    describes: describes.clone(),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Evidence {
            provenance,
            sboms,
            file,
        })
    }

    /// The statements to attest for an image whose tags name `top`: the provenance, and each
    /// SBOM about its platform manifest and the digest the build's tags named (so a verifier
    /// starting from the tag finds it, and a platform manifest gets only its own SBOMs).
    /// Subjects are renamed to `repository` when given (a registry's), else keep the build's
    /// names. Refused when the evidence is about another image.
    pub fn statements(
        &self,
        repository: Option<&str>,
        top: &str,
    ) -> anyhow::Result<Vec<Statement>> {
        if !self.provenance.about(top) {
            let recorded: Vec<String> = self
                .provenance
                .subject
                .iter()
                .filter_map(|s| s.digest.get("sha256").map(|h| format!("sha256:{h}")))
                .collect();
            bail!(
                "{}: this provenance is about {}, not {top}; attest the image this build made",
                self.file.display(),
                recorded.join(", ")
            );
        }
        let built_top = self
            .provenance
            .subject
            .first()
            .and_then(|s| s.digest.get("sha256"))
            .map(|h| format!("sha256:{h}"))
            .unwrap_or_default();
        let name = |s: &Subject| repository.map_or_else(|| s.name.clone(), str::to_string);
        let mut provenance = self.provenance.clone();
        for s in &mut provenance.subject {
            s.name = name(s);
        }
        let image_name = self
            .provenance
            .subject
            .first()
            .map(name)
            .unwrap_or_default();
        let mut out = vec![provenance];
        for sbom in &self.sboms {
            let mut subjects = vec![Subject::oci(&image_name, &sbom.describes)];
            if sbom.describes != built_top {
                subjects.push(Subject::oci(&image_name, &built_top));
            }
            out.push(Statement::new(
                subjects,
                sbom.predicate,
                sbom.document.clone(),
            ));
        }
        Ok(out)
    }
}
