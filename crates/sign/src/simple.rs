//! cosign's "simple signing" of an image: a JSON payload naming the repository and the
//! manifest digest, signed, stored as the one layer of an OCI manifest tagged
//! `sha256-<hex>.sig` in the image's repository, with the signature in the layer's
//! `dev.cosignproject.cosign/signature` annotation.

use serde_json::{Value, json};

use crate::keys::KeyPair;

/// The layer media type of a simple-signing payload.
pub const PAYLOAD_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub use crate::storage::SIGNATURE_ANNOTATION;

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

/// Checks a signed simple-signing payload: it must be cosign's kind, name `digest`, and (when
/// `repository` is given) that repository.
pub fn check_payload(bytes: &[u8], digest: &str, repository: Option<&str>) -> crate::Result<()> {
    let bad = |m: String| crate::Error::Envelope(m);
    let v: Value =
        serde_json::from_slice(bytes).map_err(|_| bad("the signed payload is not JSON".into()))?;
    let critical = &v["critical"];
    if critical["type"] != "cosign container image signature" {
        return Err(bad(format!("signed payload of type {}", critical["type"])));
    }
    let signed = critical["image"]["docker-manifest-digest"]
        .as_str()
        .unwrap_or_default();
    if signed != digest {
        return Err(bad(format!("the signature is for {signed}, not {digest}")));
    }
    if let Some(want) = repository {
        let named = critical["identity"]["docker-reference"]
            .as_str()
            .unwrap_or_default();
        if named != want {
            return Err(bad(format!(
                "the signature names repository {named:?}, not {want}"
            )));
        }
    }
    Ok(())
}

/// The tag cosign looks for the signatures of `digest` under.
pub fn tag(digest: &str) -> String {
    format!("{}.sig", digest.replace(':', "-"))
}

pub use crate::storage::Artifact;
use crate::storage::sha256;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_checked_for_digest_and_repository() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let p = payload("127.0.0.1:5000/team/x", &d);
        check_payload(&p, &d, None).unwrap();
        check_payload(&p, &d, Some("127.0.0.1:5000/team/x")).unwrap();
        assert!(check_payload(&p, &d, Some("127.0.0.1:5000/team/y")).is_err());
        assert!(check_payload(&p, &format!("sha256:{}", "cd".repeat(32)), None).is_err());
        assert!(check_payload(b"[]", &d, None).is_err());
    }
}
