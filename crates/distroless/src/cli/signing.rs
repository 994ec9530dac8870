//! `distroless sign`, `attest` and `verify`, and the signing step of `build --sign`: an image
//! in a registry or an OCI layout on disk, its digests, the key, and where artifacts go.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use distroless::attest::verify::{self, LayoutStore, RegistryStore, Store};
use distroless::attest::{self, Attachment, Place, Target};
use oci::read::ForeignImage;
use registry::{Client, Reference};
use sign::statement::Predicate;

use super::args::{AttestArgs, RegistryArgs, SignArgs, VerifyArgs};

/// An image to sign, attest or verify.
pub(crate) enum Image {
    Registry {
        client: std::rc::Rc<Client>,
        reference: Reference,
    },
    Layout {
        dir: PathBuf,
        tag: Option<String>,
    },
}

impl Image {
    /// A directory that is an OCI layout (`DIR` or `DIR:TAG`), else a registry reference.
    pub(crate) fn open(text: &str, args: &RegistryArgs) -> anyhow::Result<Self> {
        let disk = distroless::model::DiskImage::parse(text, Path::new(""));
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
            client: std::rc::Rc::new(super::registry::client(args)?),
            reference: Reference::parse(text)?,
        })
    }

    /// The repository statements name: a registry's `HOST/REPO`; none for a layout (the
    /// build's own names are kept).
    pub(crate) fn registry_name(&self) -> Option<String> {
        matches!(self, Image::Registry { .. }).then(|| self.repository())
    }

    /// The repository signatures name (`HOST/REPO`, or the layout's path).
    pub(crate) fn repository(&self) -> String {
        match self {
            Image::Registry { reference, .. } => {
                format!("{}/{}", reference.registry, reference.repository)
            }
            Image::Layout { dir, .. } => dir.display().to_string(),
        }
    }

    /// The digest tags name, then every platform manifest of an index.
    pub(crate) fn targets(&self) -> anyhow::Result<Vec<Target>> {
        match self {
            Image::Registry { client, reference } => {
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
            Image::Layout { dir, tag } => {
                let image = ForeignImage::open(dir, tag.as_deref())?;
                let blob_target = |b: &oci::read::BlobRef| Target {
                    media_type: b.media_type.clone(),
                    digest: b.digest.to_string(),
                    size: b.size,
                };
                let mut out: Vec<Target> = image.index_blob.iter().map(blob_target).collect();
                out.extend(
                    image
                        .manifests
                        .iter()
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
        }
    }

    /// Stores artifacts beside the image: tags and referrers in a registry; referrers only in
    /// a layout (its tags name images).
    pub(crate) fn store(&self, attachments: &[Attachment]) -> anyhow::Result<()> {
        match self {
            Image::Registry { client, reference } => {
                for a in attachments {
                    match &a.place {
                        Place::Tag(tag) => {
                            let there =
                                registry::referrers::manifest_if_any(client, reference, tag)?;
                            let merged =
                                there.map(|(old, _, _)| sign::storage::merge(&old, &a.artifact));
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
                            registry::referrers::push(
                                client,
                                reference,
                                &a.artifact.blobs,
                                &a.artifact.manifest,
                            )?;
                        }
                    }
                }
                Ok(())
            }
            Image::Layout { dir, .. } => {
                let items: Vec<_> = attachments
                    .iter()
                    .filter(|a| a.place == Place::Referrer)
                    .map(|a| (a.artifact.blobs.clone(), a.artifact.manifest.clone()))
                    .collect();
                Ok(oci::layout::add_artifacts(dir, &items)?)
            }
        }
    }

    fn store_for_reading(&self) -> Box<dyn Store + '_> {
        match self {
            Image::Registry { client, reference } => Box::new(RegistryStore { client, reference }),
            Image::Layout { dir, .. } => Box::new(LayoutStore { dir }),
        }
    }
}

/// Opens a private key: the password from `$DISTROLESS_PASSWORD` or standard input.
pub(crate) fn private_key(path: &Path) -> anyhow::Result<sign::KeyPair> {
    let text = String::from_utf8(distroless::files::read_regular(path, 64 << 10)?)
        .map_err(|_| anyhow::anyhow!("{}: not a key", path.display()))?;
    let password = super::keys::password(false)?;
    sign::KeyPair::from_encrypted_pem(&text, &password).map_err(|e| {
        if password.is_empty() && matches!(e, sign::Error::WrongPassword) {
            anyhow::anyhow!(
                "{}: {e}; no password was given (set $DISTROLESS_PASSWORD or give it on standard input)",
                path.display()
            )
        } else {
            anyhow::anyhow!("{}: {e}", path.display())
        }
    })
}

fn public_key(path: &Path) -> anyhow::Result<sign::PublicKey> {
    let text = String::from_utf8(distroless::files::read_regular(path, 64 << 10)?)
        .map_err(|_| anyhow::anyhow!("{}: not a public key", path.display()))?;
    sign::PublicKey::from_pem(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Signs an image (and, with `evidence`, attests it): returns what was stored.
pub(crate) fn sign_and_attest(
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

/// The key of `build --sign`, opened before anything is built (a wrong password fails in a
/// second, not after the build); refused when there is nowhere to put signatures.
pub(crate) fn build_key(
    key: Option<&Path>,
    push: bool,
    layout: bool,
) -> anyhow::Result<Option<sign::KeyPair>> {
    let Some(key) = key else {
        return Ok(None);
    };
    anyhow::ensure!(
        push || layout,
        "--sign writes signatures into an OCI layout or a registry: write a layout (-o DIR) or add --push"
    );
    private_key(key).map(Some)
}

/// Attesting with `--sbom none` attests the provenance alone: said, since `verify
/// --attestation spdx` will then fail.
pub(crate) fn warn_without_sboms(attests: bool, sbom: super::args::SbomArg) {
    if attests && sbom == super::args::SbomArg::None {
        eprintln!("warning: --sbom none: only the provenance is attested (no SBOM to attest)");
    }
}

/// Signs and attests what `build --push` pushed, in every repository it went to.
pub(crate) fn sign_pushed(
    refs: &[Reference],
    args: &RegistryArgs,
    key: &sign::KeyPair,
    evidence: &attest::Evidence,
) -> anyhow::Result<Vec<String>> {
    // One client for every repository (its connections and tokens shared).
    let client = std::rc::Rc::new(super::registry::client(args)?);
    let mut lines = Vec::new();
    for r in super::registry::repositories(refs) {
        let image = Image::Registry {
            client: std::rc::Rc::clone(&client),
            reference: r.clone(),
        };
        lines.extend(sign_and_attest(&image, key, true, Some(evidence))?);
    }
    Ok(lines)
}

fn print_lines(lines: &[String]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for l in lines {
        writeln!(out, "{l}")?;
    }
    Ok(())
}

/// Runs `distroless sign`.
pub(crate) fn sign(args: &SignArgs) -> anyhow::Result<()> {
    let image = Image::open(&args.reference, &args.registry)?;
    let key = private_key(&args.key)?;
    print_lines(&sign_and_attest(&image, &key, true, None)?)
}

/// Runs `distroless attest`.
pub(crate) fn attest(args: &AttestArgs) -> anyhow::Result<()> {
    let image = Image::open(&args.reference, &args.registry)?;
    let from = match (&args.from, &image) {
        (Some(f), _) => f.clone(),
        (None, Image::Layout { dir, .. }) => dir.clone(),
        (None, Image::Registry { .. }) => anyhow::bail!(
            "--from OUTPUT: the build output whose SBOMs and provenance to attest (a registry keeps neither)"
        ),
    };
    let evidence = attest::load(&from)?;
    let key = private_key(&args.key)?;
    print_lines(&sign_and_attest(&image, &key, false, Some(&evidence))?)
}

/// Runs `distroless verify`: exit 1 (an error) on anything missing or wrong.
pub(crate) fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let image = Image::open(&args.reference, &args.registry)?;
    let key = public_key(&args.key)?;
    let targets = image.targets()?;
    let repository = image.repository();
    let manifests: Vec<String> = targets[1..].iter().map(|t| t.digest.clone()).collect();
    let wanted: Vec<Predicate> = args.attestation.iter().map(|a| a.predicate()).collect();
    let store = image.store_for_reading();
    let ask = verify::Ask {
        key: &key,
        repository: args.match_repository.then_some(repository.as_str()),
        top: &targets[0].digest,
        manifests: &manifests,
        wanted: &wanted,
    };
    let verified = verify::verify(store.as_ref(), &ask)
        .with_context(|| format!("{repository}: verification failed"))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = serde_json::json!({"image": repository, "digest": targets[0].digest, "verified": verified});
        super::print_json(&mut out, &doc)?;
        return Ok(());
    }
    writeln!(out, "verified {repository}@{}", targets[0].digest)?;
    for v in &verified {
        let what = if v.subject == targets[0].digest {
            "image".to_string()
        } else {
            abbreviate(&v.subject)
        };
        writeln!(out, "  {:<10} {what:<20} {}", v.kind, abbreviate(&v.from))?;
    }
    Ok(())
}

/// Long digests cut to their first 12 hex digits, for lines people read (`--json` keeps them
/// whole).
fn abbreviate(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("sha256") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let hex_start = "sha256:".len();
        let hex: String = from
            .chars()
            .skip(hex_start)
            .take_while(char::is_ascii_hexdigit)
            .collect();
        if hex.len() == 64 {
            out.push_str(&from[..hex_start + 12]);
            out.push('…');
            rest = &from[hex_start + 64..];
        } else {
            out.push_str(&from[..hex_start.min(from.len())]);
            rest = &from[hex_start.min(from.len())..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn digests_are_shortened_for_reading() {
        let d = "ab".repeat(32);
        assert_eq!(
            super::abbreviate(&format!("sha256-{d}.sig and sha256:{d}")),
            "sha256-abababababab….sig and sha256:abababababab…"
        );
        assert_eq!(super::abbreviate("sha256:zz"), "sha256:zz");
    }
}
