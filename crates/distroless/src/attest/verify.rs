//! Judging an image's signatures and attestations with a public key. Strict on purpose: every
//! signature and attestation found beside the image must verify with the key and be about
//! the digest it is attached to, so a tampered or foreign artifact is reported, not
//! outvoted by a good one; at least one signature of the image is required, and one
//! attestation of each kind asked for.

use oci::digest::Digest;
use serde_json::Value;
use sign::PublicKey;
use sign::dsse::{Envelope, IN_TOTO};
use sign::statement::{Predicate, Statement};

use anyhow::{Context, bail};

/// Signature payloads, envelopes and bundles are small; SBOM envelopes can be megabytes.
const MAX_ARTIFACT: u64 = 64 << 20;
const MAX_MANIFEST: u64 = 4 << 20;

/// Where an image's artifacts are read from (a registry, an OCI layout).
pub trait Store {
    /// A manifest by tag or digest, or nothing when there is none.
    fn manifest(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// A blob, checked against its digest.
    fn blob(&self, digest: &Digest, limit: u64) -> anyhow::Result<Vec<u8>>;
    /// The descriptors of the referrers of `subject`.
    fn referrers(&self, subject: &Digest) -> anyhow::Result<Vec<Value>>;
}

/// What to verify.
pub struct Ask<'a> {
    pub key: &'a PublicKey,
    /// When set, simple-signing payloads must name this repository.
    pub repository: Option<&'a str>,
    /// The digest tags name, then the platform manifests of an index.
    pub top: &'a str,
    pub manifests: &'a [String],
    pub wanted: &'a [Predicate],
}

/// One thing verified.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    pub subject: String,
    pub kind: String,
    pub from: String,
    /// A signature whose payload names the repository (`--match-repository`); bundles name
    /// none.
    pub names_repository: bool,
}

/// Verifies everything found beside the image; the list of what verified, or the first
/// problem as one line naming the artifact.
pub fn verify(store: &dyn Store, ask: &Ask<'_>) -> anyhow::Result<Vec<Verified>> {
    let mut out = Vec::new();
    let targets = std::iter::once(ask.top).chain(ask.manifests.iter().map(String::as_str));
    for t in targets {
        let subject: Digest = t.parse().with_context(|| format!("{t}: not a digest"))?;
        let before = out.len();
        simple_signatures(store, ask, &subject, &mut out)?;
        referrers(store, ask, &subject, &mut out)?;
        attestation_tag(store, ask, &subject, &mut out)?;
        let signed = out[before..].iter().any(|v: &Verified| {
            v.kind == "signature" && (ask.repository.is_none() || v.names_repository)
        });
        if t == ask.top && !signed {
            match ask.repository {
                Some(repo) => bail!(
                    "{t}: no signature made with this key that names {repo} (--match-repository needs a .sig signature; sigstore bundles name no repository)"
                ),
                None => {
                    bail!("{t}: no signature made with this key (sign it with `distroless sign`)")
                }
            }
        }
    }
    for p in ask.wanted {
        if !out
            .iter()
            .any(|v| v.subject == ask.top && v.kind == p.name())
        {
            bail!("{}: no {} attestation", ask.top, p.name());
        }
    }
    Ok(out)
}

/// The layers of the manifest a `.sig`/`.att` tag names (none when there is no such tag),
/// each checked to be of `media_type` and read with its blob: `(where, layer, bytes)`.
fn tag_layers(
    store: &dyn Store,
    tag: &str,
    (what, media_type, limit): (&str, &str, u64),
) -> anyhow::Result<Vec<(String, Value, Vec<u8>)>> {
    let Some(bytes) = store
        .manifest(tag)
        .map_err(|e| anyhow::anyhow!("{tag}: {e:#}"))?
    else {
        return Ok(Vec::new());
    };
    let found = layers(&json(&bytes, tag)?);
    if found.is_empty() {
        bail!("{tag}: not {what} manifest (no layers)");
    }
    let mut out = Vec::new();
    for (i, layer) in found.into_iter().enumerate() {
        let at = format!("{tag}, layer {}", i + 1);
        if layer["mediaType"] != media_type {
            bail!(
                "{at}: a layer of type {}, not {media_type}",
                layer["mediaType"]
            );
        }
        let bytes = blob(store, &descriptor_digest(&layer, &at)?, limit, &at)?;
        out.push((at, layer, bytes));
    }
    Ok(out)
}

fn simple_signatures(
    store: &dyn Store,
    ask: &Ask<'_>,
    subject: &Digest,
    out: &mut Vec<Verified>,
) -> anyhow::Result<()> {
    let tag = sign::simple::tag(&subject.to_string());
    let kind = ("a signature", sign::simple::PAYLOAD_TYPE, MAX_MANIFEST);
    for (at, layer, payload) in tag_layers(store, &tag, kind)? {
        let sig = layer["annotations"][sign::simple::SIGNATURE_ANNOTATION]
            .as_str()
            .unwrap_or_default();
        ask.key.verify(&payload, sig).map_err(|_| {
            anyhow::anyhow!("{at}: the signature does not verify with this key (changed, or made with another key)")
        })?;
        sign::simple::check_payload(&payload, &subject.to_string(), ask.repository)
            .map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
        out.push(Verified {
            subject: subject.to_string(),
            kind: "signature".into(),
            from: format!("{tag} (simple signing)"),
            names_repository: ask.repository.is_some(),
        });
    }
    Ok(())
}

fn referrers(
    store: &dyn Store,
    ask: &Ask<'_>,
    subject: &Digest,
    out: &mut Vec<Verified>,
) -> anyhow::Result<()> {
    let listed = store
        .referrers(subject)
        .map_err(|e| anyhow::anyhow!("the referrers of {subject}: {e:#}"))?;
    for d in listed {
        let digest = descriptor_digest(&d, "a referrer")?;
        let at = format!("referrer {digest}");
        let listed = store
            .manifest(&digest.to_string())
            .map_err(|e| anyhow::anyhow!("{at}: {e:#}"))?;
        let Some(bytes) = listed else {
            bail!("{at}: listed, but the manifest is missing");
        };
        let manifest = json(&bytes, &at)?;
        if !is_sigstore(&manifest) {
            continue; // Some other tool's artifact: not ours to judge.
        }
        if manifest["subject"]["digest"] != subject.to_string().as_str() {
            bail!(
                "{at}: its subject is {}, not {subject}",
                manifest["subject"]["digest"]
            );
        }
        let all = layers(&manifest);
        if all.is_empty() {
            bail!("{at}: a sigstore artifact without a bundle");
        }
        for (i, layer) in all.iter().enumerate() {
            let at = format!("{at}, layer {}", i + 1);
            out.push(bundle_layer(store, ask, subject, &manifest, layer, &at)?);
        }
    }
    Ok(())
}

fn attestation_tag(
    store: &dyn Store,
    ask: &Ask<'_>,
    subject: &Digest,
    out: &mut Vec<Verified>,
) -> anyhow::Result<()> {
    let tag = sign::storage::attestation_tag(&subject.to_string());
    let kind = ("an attestation", sign::storage::ENVELOPE_TYPE, MAX_ARTIFACT);
    for (at, layer, bytes) in tag_layers(store, &tag, kind)? {
        let env = Envelope::from_json(&bytes).map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
        let statement = open(&env, ask, subject, &at)?;
        if let Some(a) = layer["annotations"]["predicateType"].as_str()
            && a != statement.predicate_type
        {
            bail!(
                "{at}: labelled {a}, but the signed statement is {}",
                statement.predicate_type
            );
        }
        out.push(found(subject, &statement, format!("{tag} (DSSE)")));
    }
    Ok(())
}

/// Whether a referrer claims to be sigstore's (by artifact type or by a bundle layer).
fn is_sigstore(manifest: &Value) -> bool {
    let bundle = |v: &Value| {
        v.as_str()
            .is_some_and(|m| m.starts_with("application/vnd.dev.sigstore.bundle"))
    };
    bundle(&manifest["artifactType"]) || layers(manifest).iter().any(|l| bundle(&l["mediaType"]))
}

/// One bundle layer of a referrer, verified.
fn bundle_layer(
    store: &dyn Store,
    ask: &Ask<'_>,
    subject: &Digest,
    manifest: &Value,
    layer: &Value,
    at: &str,
) -> anyhow::Result<Verified> {
    if !layer["mediaType"]
        .as_str()
        .is_some_and(|m| m.starts_with("application/vnd.dev.sigstore.bundle"))
    {
        bail!(
            "{at}: a layer of type {}, not a sigstore bundle",
            layer["mediaType"]
        );
    }
    let bundle = blob(store, &descriptor_digest(layer, at)?, MAX_ARTIFACT, at)?;
    let env = sign::bundle::unwrap(&bundle).map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
    let statement = open(&env, ask, subject, at)?;
    let annotated = manifest["annotations"]["dev.sigstore.bundle.predicateType"].as_str();
    if let Some(a) = annotated.filter(|a| *a != statement.predicate_type) {
        bail!(
            "{at}: labelled {a}, but the signed statement is {}",
            statement.predicate_type
        );
    }
    Ok(found(
        subject,
        &statement,
        format!("{at} (sigstore bundle)"),
    ))
}

/// Opens an envelope with the key and checks its statement is about `subject`.
fn open(env: &Envelope, ask: &Ask<'_>, subject: &Digest, at: &str) -> anyhow::Result<Statement> {
    let payload = env.open(ask.key, IN_TOTO).map_err(|e| match e {
        sign::Error::BadSignature => anyhow::anyhow!(
            "{at}: the envelope's signature does not verify with this key (changed, or made with another key)"
        ),
        other => anyhow::anyhow!("{at}: {other}"),
    })?;
    let statement = Statement::from_json(&payload).map_err(|e| anyhow::anyhow!("{at}: {e}"))?;
    if !statement.about(&subject.to_string()) {
        bail!("{at}: the signed statement is about other digests than {subject}");
    }
    Ok(statement)
}

fn found(subject: &Digest, statement: &Statement, from: String) -> Verified {
    let kind = Predicate::from_uri(&statement.predicate_type).map_or_else(
        || statement.predicate_type.clone(),
        |p| p.name().to_string(),
    );
    Verified {
        subject: subject.to_string(),
        kind,
        from,
        names_repository: false,
    }
}

/// A blob of an artifact, its failures naming the artifact.
fn blob(store: &dyn Store, digest: &Digest, limit: u64, at: &str) -> anyhow::Result<Vec<u8>> {
    store
        .blob(digest, limit)
        .map_err(|e| anyhow::anyhow!("{at}: blob {digest}: {e:#}"))
}

fn json(bytes: &[u8], at: &str) -> anyhow::Result<Value> {
    serde_json::from_slice(bytes).map_err(|_| anyhow::anyhow!("{at}: the manifest is not JSON"))
}

fn layers(manifest: &Value) -> Vec<Value> {
    manifest["layers"].as_array().cloned().unwrap_or_default()
}

fn descriptor_digest(d: &Value, at: &str) -> anyhow::Result<Digest> {
    d["digest"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("{at}: a descriptor without a valid digest"))
}

/// A registry as a [`Store`].
pub struct RegistryStore<'a> {
    pub client: &'a registry::Client,
    pub reference: &'a registry::Reference,
}

impl Store for RegistryStore<'_> {
    fn manifest(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(registry::referrers::manifest_if_any(self.client, self.reference, key)?.map(|m| m.0))
    }

    fn blob(&self, digest: &Digest, limit: u64) -> anyhow::Result<Vec<u8>> {
        Ok(registry::referrers::blob(
            self.client,
            self.reference,
            digest,
            limit,
        )?)
    }

    fn referrers(&self, subject: &Digest) -> anyhow::Result<Vec<Value>> {
        Ok(registry::referrers::list(
            self.client,
            self.reference,
            subject,
        )?)
    }
}

/// An OCI layout as a [`Store`]: referrers are the manifests its `index.json` lists whose
/// `subject` names the image.
pub struct LayoutStore<'a> {
    pub dir: &'a std::path::Path,
}

impl LayoutStore<'_> {
    fn index(&self) -> anyhow::Result<Vec<Value>> {
        let bytes = crate::files::read_regular(&self.dir.join("index.json"), MAX_MANIFEST)?;
        let v: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: index.json is not JSON", self.dir.display()))?;
        Ok(v["manifests"].as_array().cloned().unwrap_or_default())
    }
}

impl Store for LayoutStore<'_> {
    fn manifest(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let digest = match key.parse::<Digest>() {
            Ok(d) => d,
            Err(_) => {
                let tagged = self
                    .index()?
                    .into_iter()
                    .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == key);
                match tagged {
                    Some(m) => descriptor_digest(&m, key)?,
                    None => return Ok(None),
                }
            }
        };
        if !digest.blob_path(self.dir).exists() {
            return Ok(None);
        }
        self.blob(&digest, MAX_MANIFEST).map(Some)
    }

    fn blob(&self, digest: &Digest, limit: u64) -> anyhow::Result<Vec<u8>> {
        let path = digest.blob_path(self.dir);
        anyhow::ensure!(
            path.exists(),
            "{}: blob {digest} is missing from the layout",
            self.dir.display()
        );
        let bytes = crate::files::read_regular(&path, limit)?;
        anyhow::ensure!(
            Digest::sha256_of(&bytes) == *digest,
            "{}: blob {digest} does not match its digest",
            self.dir.display()
        );
        Ok(bytes)
    }

    fn referrers(&self, subject: &Digest) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        for m in self.index()? {
            let Ok(d) = descriptor_digest(&m, "index.json") else {
                continue;
            };
            if m["annotations"]["org.opencontainers.image.ref.name"].is_string() {
                continue;
            }
            let Some(bytes) = self.manifest(&d.to_string())? else {
                bail!(
                    "{}: index.json lists {d}, whose blob is missing",
                    self.dir.display()
                );
            };
            let doc: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            if doc["subject"]["digest"] == subject.to_string().as_str() {
                out.push(m);
            }
        }
        Ok(out)
    }
}
