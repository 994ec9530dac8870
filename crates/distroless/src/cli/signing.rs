//! `distroless sign`, `attest` and `verify`, and the key of `build --sign`: flags and key files
//! (the password from the environment or standard input) into calls of
//! [`distroless::publish::signed`], and what they did printed.

use std::io::Write as _;
use std::path::Path;

use distroless::attest;
use distroless::publish::signed::{self, Image, sign_and_attest};
use sign::statement::Predicate;

use super::args::{AttestArgs, RegistryArgs, SignArgs, VerifyArgs};

/// The image a command names: a layout on disk, or a registry reference.
fn open(text: &str, args: &RegistryArgs) -> anyhow::Result<Image> {
    Image::open(text, || super::registry::client(args))
}

/// Opens a private key: the password from `$DISTROLESS_PASSWORD` or standard input.
pub(crate) fn private_key(path: &Path) -> anyhow::Result<sign::KeyPair> {
    let text = String::from_utf8(distroless::files::read_regular(path, 64 << 10)?)
        .map_err(|_| anyhow::anyhow!("{}: not a key", path.display()))?;
    let password = super::keys::password(false)?;
    sign::KeyPair::from_encrypted_pem(&text, &password).map_err(|e| {
        if password.is_empty() && matches!(e, sign::Error::WrongPassword) {
            anyhow::anyhow!(
                "{}: the key needs a password and none was given (set $DISTROLESS_PASSWORD, or give it on standard input)",
                path.display()
            )
        } else {
            anyhow::anyhow!("{}: {e}", path.display())
        }
    })
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

/// What was stored, one line each, or with `--json` `{"stored": [...]}`.
fn print_lines(lines: &[String], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        return super::print_json(&mut out, &serde_json::json!({ "stored": lines }));
    }
    for l in lines {
        writeln!(out, "{l}")?;
    }
    Ok(())
}

/// Runs `distroless sign`.
pub(crate) fn sign(args: &SignArgs) -> anyhow::Result<()> {
    let image = open(&args.reference, &args.registry)?;
    let key = private_key(&args.key)?;
    print_lines(&sign_and_attest(&image, &key, true, None)?, args.json.on)
}

/// Runs `distroless attest`.
pub(crate) fn attest(args: &AttestArgs) -> anyhow::Result<()> {
    let image = open(&args.reference, &args.registry)?;
    let from = match (&args.from, &image) {
        (Some(f), _) => f.clone(),
        (None, Image::Layout { dir, .. }) => dir.clone(),
        (None, Image::Registry { .. }) => anyhow::bail!(
            "--from OUTPUT: the build output whose SBOMs and provenance to attest (a registry keeps neither)"
        ),
    };
    let evidence = attest::load(&from)?;
    let key = private_key(&args.key)?;
    print_lines(
        &sign_and_attest(&image, &key, false, Some(&evidence))?,
        args.json.on,
    )
}

/// Runs `distroless verify`: exit 1 (an error) on anything missing or wrong.
pub(crate) fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let image = open(&args.reference, &args.registry)?;
    let key = signed::public_key(&args.key)?;
    let wanted: Vec<Predicate> = args.attestation.iter().map(|a| a.predicate()).collect();
    let (targets, verified) = signed::verify(&image, &key, args.match_repository, &wanted)?;
    let repository = image.repository();
    let mut out = std::io::stdout().lock();
    if args.json.on {
        let doc = serde_json::json!({"image": repository, "digest": targets[0].digest, "verified": verified});
        super::print_json(&mut out, &doc)?;
        return Ok(());
    }
    distroless::render::publish::verified(&mut out, &repository, &targets[0].digest, &verified)
}
