//! cosign's "simple signing" of an image: a JSON payload naming the repository and the
//! manifest digest, signed, stored as the one layer of an OCI manifest tagged
//! `sha256-<hex>.sig` in the image's repository, with the signature in the layer's
//! `dev.cosignproject.cosign/signature` annotation.

use serde_json::{Value, json};

use crate::keys::KeyPair;

/// The layer media type of a simple-signing payload.
pub const PAYLOAD_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The annotation holding the signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";

/// The payload cosign signs for `repository` (`host/repo`) at `digest` (`sha256:…`).
pub fn payload(repository: &str, digest: &str) -> Vec<u8> {
    json!({
        "critical": {
            "identity": {"docker-reference": repository},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    })
    .to_string()
    .into_bytes()
}

/// The tag cosign looks for the signatures of `digest` under.
pub fn tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

/// The signature artifact of an image: its blobs (payload, config) and its manifest.
pub struct Artifact {
    pub blobs: Vec<Vec<u8>>,
    pub manifest: Vec<u8>,
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Signs an image digest for a repository: the artifact to push under [`tag`].
pub fn sign(key: &KeyPair, repository: &str, digest: &str) -> Artifact {
    let payload = payload(repository, digest);
    let signature = key.sign(&payload);
    let payload_digest = sha256(&payload);
    let config = json!({
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [payload_digest]},
    })
    .to_string()
    .into_bytes();
    let manifest: Value = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(&config),
            "size": config.len(),
        },
        "layers": [{
            "mediaType": PAYLOAD_TYPE,
            "digest": payload_digest,
            "size": payload.len(),
            "annotations": {SIGNATURE_ANNOTATION: signature},
        }],
    });
    Artifact {
        blobs: vec![payload, config],
        manifest: manifest.to_string().into_bytes(),
    }
}
