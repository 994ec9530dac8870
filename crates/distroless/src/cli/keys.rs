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
