//! `distroless keygen`: a key pair in cosign's formats. The password comes from
//! `$DISTROLESS_PASSWORD` or standard input and is never printed.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::Context;

/// The password for a key: `$DISTROLESS_PASSWORD`, or standard input (a trailing newline
/// dropped).
pub(crate) fn password() -> anyhow::Result<Vec<u8>> {
    if let Some(p) = std::env::var_os("DISTROLESS_PASSWORD") {
        return Ok(p.into_encoded_bytes());
    }
    let mut text = String::new();
    std::io::stdin()
        .take(64 << 10)
        .read_to_string(&mut text)
        .context("reading the key's password from standard input")?;
    Ok(text.trim_end_matches(['\n', '\r']).as_bytes().to_vec())
}

/// Runs `distroless keygen`.
pub(crate) fn keygen(dir: &Path) -> anyhow::Result<()> {
    let (key, public) = (dir.join("cosign.key"), dir.join("cosign.pub"));
    for f in [&key, &public] {
        anyhow::ensure!(!f.exists(), "{}: exists; not replaced", f.display());
    }
    let password = password()?;
    anyhow::ensure!(
        !password.is_empty(),
        "an empty password would leave the key open; give one in $DISTROLESS_PASSWORD or on standard input"
    );
    let pair = sign::KeyPair::generate()?;
    let sealed = pair.to_encrypted_pem(&password)?;
    fs_err::create_dir_all(dir)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key)
        .with_context(|| format!("{}: cannot create", key.display()))?;
    std::io::Write::write_all(&mut f, sealed.as_bytes())?;
    fs_err::write(&public, pair.public().to_pem()?)?;
    println!(
        "wrote {} (encrypted) and {}",
        key.display(),
        public.display()
    );
    Ok(())
}

/// Runs `distroless sign`: the image's top digest and every platform manifest's, each signed
/// and pushed under cosign's `.sig` tag.
pub(crate) fn sign(args: &super::args::SignArgs) -> anyhow::Result<()> {
    let r = registry::Reference::parse(&args.reference)?;
    let text = String::from_utf8(distroless::files::read_regular(&args.key, 64 << 10)?)
        .map_err(|_| anyhow::anyhow!("{}: not a key", args.key.display()))?;
    let key = sign::KeyPair::from_encrypted_pem(&text, &password()?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.key.display()))?;
    let client = super::registry::client(&args.registry)?;
    let key_name = r.manifest_key();
    let (bytes, media, top) = registry::pull::manifest(&client, &r, &key_name)?;
    let mut digests = vec![top.to_string()];
    if media.contains("index") || media.contains("list") {
        let index: serde_json::Value = serde_json::from_slice(&bytes)?;
        digests.extend(
            index["manifests"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["digest"].as_str().map(str::to_string)),
        );
    }
    let repository = format!("{}/{}", r.registry, r.repository);
    for d in &digests {
        let artifact = sign::simple::sign(&key, &repository, d);
        registry::push::push_artifact(
            &client,
            &r,
            &artifact.blobs,
            &artifact.manifest,
            "application/vnd.oci.image.manifest.v1+json",
            &sign::simple::tag(d),
        )?;
        println!("signed {repository}@{d}");
    }
    Ok(())
}
