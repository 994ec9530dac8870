//! How signatures and attestations are stored beside an image, as cosign does it: the older
//! tag forms (`sha256-<hex>.att`: one layer per DSSE envelope) and OCI 1.1 referrers (an
//! artifact manifest holding one sigstore bundle, whose `subject` names the image).

use serde_json::{Value, json};

use crate::statement::Predicate;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// The DSSE envelope layer type of cosign's `.att` manifests.
pub const ENVELOPE_TYPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The layer annotation holding a signature (empty on `.att` layers: the envelope signs).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// OCI's empty descriptor: the config of an artifact manifest.
const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// An artifact to store: its blobs, and its manifest (an OCI image manifest).
pub struct Artifact {
    pub blobs: Vec<Vec<u8>>,
    pub manifest: Vec<u8>,
}

impl Artifact {
    pub const MEDIA_TYPE: &'static str = OCI_MANIFEST;
}

pub(crate) fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The tag cosign keeps the attestations of `digest` under.
pub fn attestation_tag(digest: &str) -> String {
    format!("{}.att", digest.replace(':', "-"))
}

/// cosign's `.att` manifest: one layer per envelope, each annotated with its predicate type.
pub fn attestations(envelopes: &[(Predicate, Vec<u8>)]) -> Artifact {
    let config = json!({
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": envelopes.iter().map(|(_, e)| sha256(e)).collect::<Vec<_>>()},
    })
    .to_string()
    .into_bytes();
    let layers: Vec<Value> = envelopes
        .iter()
        .map(|(p, e)| {
            json!({
                "mediaType": ENVELOPE_TYPE,
                "digest": sha256(e),
                "size": e.len(),
                "annotations": {
                    SIGNATURE_ANNOTATION: "",
                    "predicateType": p.uri(),
                },
            })
        })
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(&config),
            "size": config.len(),
        },
        "layers": layers,
    });
    let mut blobs: Vec<Vec<u8>> = envelopes.iter().map(|(_, e)| e.clone()).collect();
    blobs.push(config);
    Artifact {
        blobs,
        manifest: manifest.to_string().into_bytes(),
    }
}

/// `new`'s layers added to the manifest already under a `.sig` or `.att` tag (as cosign
/// appends: signing again, or by another key, keeps what was there), with a config naming
/// them all.
pub fn merge(existing: &[u8], new: &Artifact) -> Artifact {
    let old: Value = serde_json::from_slice(existing).unwrap_or_default();
    let mut fresh: Value = serde_json::from_slice(&new.manifest).unwrap_or_default();
    let mut layers: Vec<Value> = old["layers"].as_array().cloned().unwrap_or_default();
    for l in fresh["layers"].as_array().into_iter().flatten() {
        if !layers.iter().any(|x| x["digest"] == l["digest"]) {
            layers.push(l.clone());
        }
    }
    let config = config_of(&layers);
    let old_config = fresh["config"]["digest"].clone();
    let mut blobs: Vec<Vec<u8>> = new
        .blobs
        .iter()
        .filter(|b| old_config != sha256(b).as_str())
        .cloned()
        .collect();
    fresh["layers"] = Value::Array(layers);
    fresh["config"]["digest"] = sha256(&config).into();
    fresh["config"]["size"] = config.len().into();
    blobs.push(config);
    Artifact {
        blobs,
        manifest: fresh.to_string().into_bytes(),
    }
}

/// The config of a `.sig`/`.att` manifest: its layers as diff ids, as cosign writes it.
fn config_of(layers: &[Value]) -> Vec<u8> {
    json!({
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l["digest"].clone()).collect::<Vec<_>>()},
    })
    .to_string()
    .into_bytes()
}

/// The image a referrer is about: its manifest's media type, digest and size.
#[derive(Debug, Clone)]
pub struct SubjectDescriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
}

/// An OCI 1.1 referrer holding one sigstore bundle about `subject`.
pub fn referrer(bundle: &[u8], predicate: Predicate, subject: &SubjectDescriptor) -> Artifact {
    let empty = b"{}".to_vec();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": crate::bundle::MEDIA_TYPE,
        "config": {"mediaType": EMPTY_TYPE, "digest": sha256(&empty), "size": 2},
        "layers": [{
            "mediaType": crate::bundle::MEDIA_TYPE,
            "digest": sha256(bundle),
            "size": bundle.len(),
        }],
        "annotations": {
            "dev.sigstore.bundle.content": "dsse-envelope",
            "dev.sigstore.bundle.predicateType": predicate.uri(),
        },
        "subject": {"mediaType": subject.media_type, "digest": subject.digest, "size": subject.size},
    });
    Artifact {
        blobs: vec![bundle.to_vec(), empty],
        manifest: manifest.to_string().into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_name_every_blob_they_carry() {
        let env = b"{\"payload\":\"\"}".to_vec();
        let att = attestations(&[(Predicate::Slsa, env.clone())]);
        let m: Value = serde_json::from_slice(&att.manifest).unwrap();
        assert_eq!(m["layers"][0]["digest"], sha256(&env));
        assert_eq!(
            m["layers"][0]["annotations"]["predicateType"],
            Predicate::Slsa.uri()
        );
        assert_eq!(m["config"]["digest"], sha256(&att.blobs[1]));
        let subject = SubjectDescriptor {
            media_type: OCI_MANIFEST.into(),
            digest: sha256(b"x"),
            size: 1,
        };
        let r = referrer(b"bundle", Predicate::Spdx, &subject);
        let m: Value = serde_json::from_slice(&r.manifest).unwrap();
        assert_eq!(m["subject"]["digest"], sha256(b"x"));
        assert_eq!(m["config"]["digest"], sha256(b"{}"));
        assert_eq!(
            attestation_tag(&sha256(b"x")),
            format!("sha256-{}.att", &sha256(b"x")[7..])
        );
    }
}
