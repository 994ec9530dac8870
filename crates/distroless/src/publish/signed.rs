//! An image to sign, attest or verify, in a registry or an OCI layout on disk: its digests,
//! and the store its signatures and attestations are written to and read from (the same
//! place for both, so what `sign` writes is what `verify` reads).

use std::path::{Path, PathBuf};
use std::rc::Rc;

use oci::read::ForeignImage;
use registry::{Client, Reference};

use crate::attest::verify::{LayoutStore, RegistryStore, Store};
use crate::attest::{self, Attachment, Place, Target};

/// An image to sign, attest or verify.
pub enum Image {
    Registry {
        client: Rc<Client>,
        reference: Reference,
    },
    Layout {
        dir: PathBuf,
        tag: Option<String>,
    },
}

impl Image {
    /// A directory that is an OCI layout (`DIR` or `DIR:TAG`), else a registry reference
    /// (the client is made only then).
    pub fn open(
        text: &str,
        client: impl FnOnce() -> anyhow::Result<Client>,
    ) -> anyhow::Result<Self> {
        let disk = crate::model::DiskImage::parse(text, Path::new(""));
        if disk.path.is_dir() {
            anyhow::ensure!(
                oci::layout::is_layout(&disk.path),
                "{}: not an OCI layout",
                disk.path.display()
            );
            return Ok(Image::Layout {
                dir: disk.path,
                tag: disk.tag,
            });
        }
        Ok(Image::Registry {
            client: Rc::new(client()?),
            reference: Reference::parse(text)?,
        })
    }

    /// The repository statements name: a registry's `HOST/REPO`; none for a layout (the
    /// build's own names are kept).
    pub fn registry_name(&self) -> Option<String> {
        matches!(self, Image::Registry { .. }).then(|| self.repository())
    }

    /// The repository signatures name (`HOST/REPO`, or the layout's path).
    pub fn repository(&self) -> String {
        match self {
            Image::Registry { reference, .. } => {
                format!("{}/{}", reference.registry, reference.repository)
            }
            Image::Layout { dir, .. } => dir.display().to_string(),
        }
    }

    /// The digest tags name, then every platform manifest of an index.
    pub fn targets(&self) -> anyhow::Result<Vec<Target>> {
        match self {
            Image::Registry { client, reference } => registry_targets(client, reference),
            Image::Layout { dir, tag } => layout_targets(dir, tag.as_deref()),
        }
    }

    /// Stores artifacts beside the image: tags and referrers in a registry; referrers only in
    /// a layout (its tags name images).
    pub fn store(&self, attachments: &[Attachment]) -> anyhow::Result<()> {
        match self {
            Image::Registry { client, reference } => {
                for a in attachments {
                    store_in_registry(client, reference, a)?;
                }
                Ok(())
            }
            Image::Layout { dir, .. } => {
                let items: Vec<_> = (attachments.iter())
                    .filter(|a| a.place == Place::Referrer)
                    .map(|a| (a.artifact.blobs.clone(), a.artifact.manifest.clone()))
                    .collect();
                Ok(oci::layout::add_artifacts(dir, &items)?)
            }
        }
    }

    /// The same place, read: what [`crate::attest::verify::verify`] judges.
    pub fn reader(&self) -> Box<dyn Store + '_> {
        match self {
            Image::Registry { client, reference } => Box::new(RegistryStore { client, reference }),
            Image::Layout { dir, .. } => Box::new(LayoutStore { dir }),
        }
    }
}

fn registry_targets(client: &Client, reference: &Reference) -> anyhow::Result<Vec<Target>> {
    let (bytes, media, top) =
        registry::pull::manifest(client, reference, &reference.manifest_key())?;
    let mut out = vec![Target {
        media_type: media.clone(),
        digest: top.to_string(),
        size: bytes.len() as u64,
    }];
    if media.contains("index") || media.contains("list") {
        let index: serde_json::Value = serde_json::from_slice(&bytes)?;
        for m in index["manifests"].as_array().into_iter().flatten() {
            out.push(Target {
                media_type: m["mediaType"].as_str().unwrap_or_default().to_string(),
                digest: m["digest"].as_str().unwrap_or_default().to_string(),
                size: m["size"].as_u64().unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

fn layout_targets(dir: &Path, tag: Option<&str>) -> anyhow::Result<Vec<Target>> {
    let image = ForeignImage::open(dir, tag)?;
    let blob_target = |b: &oci::read::BlobRef| Target {
        media_type: b.media_type.clone(),
        digest: b.digest.to_string(),
        size: b.size,
    };
    let mut out: Vec<Target> = image.index_blob.iter().map(blob_target).collect();
    out.extend(
        (image.manifests.iter())
            .filter_map(|m| m.manifest_blob.as_ref())
            .map(blob_target),
    );
    anyhow::ensure!(
        !out.is_empty(),
        "{}: no image manifest to sign",
        dir.display()
    );
    Ok(out)
}

/// One artifact stored in a registry: under its tag (merged with what the tag holds, as
/// cosign does), or as a referrer of its subject.
fn store_in_registry(client: &Client, reference: &Reference, a: &Attachment) -> anyhow::Result<()> {
    match &a.place {
        Place::Tag(tag) => {
            let there = registry::referrers::manifest_if_any(client, reference, tag)?;
            let merged = there.map(|(old, _, _)| sign::storage::merge(&old, &a.artifact));
            let artifact = merged.as_ref().unwrap_or(&a.artifact);
            registry::push::push_artifact(
                client,
                reference,
                &artifact.blobs,
                &artifact.manifest,
                sign::storage::Artifact::MEDIA_TYPE,
                tag,
            )?;
        }
        Place::Referrer => {
            registry::referrers::push(client, reference, &a.artifact.blobs, &a.artifact.manifest)?;
        }
    }
    Ok(())
}

/// A public key file (cosign's PEM).
pub fn public_key(path: &Path) -> anyhow::Result<sign::PublicKey> {
    let text = String::from_utf8(crate::files::read_regular(path, 64 << 10)?)
        .map_err(|_| anyhow::anyhow!("{}: not a public key", path.display()))?;
    sign::PublicKey::from_pem(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Signs an image (and, with `evidence`, attests it): returns what was stored, one line each.
pub fn sign_and_attest(
    image: &Image,
    key: &sign::KeyPair,
    sign: bool,
    evidence: Option<&attest::Evidence>,
) -> anyhow::Result<Vec<String>> {
    let targets = image.targets()?;
    let repository = image.repository();
    let mut all = Vec::new();
    if sign {
        all.extend(attest::signatures(key, &repository, &targets)?);
    }
    if let Some(e) = evidence {
        let statements = e.statements(image.registry_name().as_deref(), &targets[0].digest)?;
        all.extend(attest::attestations(key, &statements, &targets)?);
    }
    image.store(&all)?;
    let layout = matches!(image, Image::Layout { .. });
    Ok(all
        .iter()
        .filter(|a| !layout || a.place == Place::Referrer)
        .map(|a| format!("{}@{}: {}", repository, a.subject, a.what))
        .collect())
}

/// Signs and attests what a build pushed, in every repository it went to (one client for all,
/// its connections and tokens shared).
pub fn sign_pushed(
    client: &Rc<Client>,
    refs: &[Reference],
    key: &sign::KeyPair,
    evidence: &attest::Evidence,
) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for r in super::push::repositories(refs) {
        let image = Image::Registry {
            client: Rc::clone(client),
            reference: r.clone(),
        };
        lines.extend(sign_and_attest(&image, key, true, Some(evidence))?);
    }
    Ok(lines)
}

/// Verifies an image's signatures and attestations with `key`: what was verified, or why not.
pub fn verify(
    image: &Image,
    key: &sign::PublicKey,
    match_repository: bool,
    wanted: &[sign::statement::Predicate],
) -> anyhow::Result<(Vec<Target>, Vec<crate::attest::verify::Verified>)> {
    let targets = image.targets()?;
    let repository = image.repository();
    let manifests: Vec<String> = targets[1..].iter().map(|t| t.digest.clone()).collect();
    let store = image.reader();
    let ask = crate::attest::verify::Ask {
        key,
        repository: match_repository.then_some(repository.as_str()),
        top: &targets[0].digest,
        manifests: &manifests,
        wanted,
    };
    let verified = crate::attest::verify::verify(store.as_ref(), &ask)
        .map_err(|e| e.context(format!("{repository}: verification failed")))?;
    Ok((targets, verified))
}
