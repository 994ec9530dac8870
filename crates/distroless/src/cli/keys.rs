//! `distroless keygen`: a key pair in cosign's formats. The password comes from
//! `$DISTROLESS_PASSWORD` or standard input and is never printed.

use std::io::Read;
use std::path::Path;

use anyhow::Context;

/// The password for a key: `$DISTROLESS_PASSWORD` (empty is unset); else asked for on the
/// terminal without echo (twice for a new key) when standard input is one; else read from
/// standard input (a trailing newline dropped; an empty password is read as empty).
pub(crate) fn password(new_key: bool) -> anyhow::Result<Vec<u8>> {
    use std::io::IsTerminal as _;
    if let Some(p) = std::env::var_os(super::env::PASSWORD).filter(|p| !p.is_empty()) {
        return Ok(p.into_encoded_bytes());
    }
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Enter password for private key: ")
            .context("reading the key's password from the terminal")?;
        if new_key {
            let again = rpassword::prompt_password("Enter password for private key again: ")
                .context("reading the key's password from the terminal")?;
            anyhow::ensure!(first == again, "the two passwords differ; nothing written");
        }
        return Ok(first.into_bytes());
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
        // symlink_metadata: a dangling symlink is "there" too, and never written through.
        anyhow::ensure!(
            fs_err::symlink_metadata(f).is_err(),
            "{}: exists; not replaced",
            f.display()
        );
    }
    let password = password(true)?;
    anyhow::ensure!(
        !password.is_empty(),
        "an empty password would leave the key open; give one in $DISTROLESS_PASSWORD or on standard input"
    );
    let pair = sign::KeyPair::generate()?;
    let sealed = pair.to_encrypted_pem(&password)?;
    fs_err::create_dir_all(dir)?;
    let written = distroless::files::create_new(&key, sealed.as_bytes(), 0o600).and_then(|()| {
        distroless::files::create_new(&public, pair.public().to_pem()?.as_bytes(), 0o644)
    });
    if let Err(e) = written {
        // Both or neither: a key without its public half would block the next keygen.
        for f in [&key, &public] {
            let _ = fs_err::remove_file(f);
        }
        return Err(e);
    }
    println!(
        "wrote {} (encrypted) and {}",
        key.display(),
        public.display()
    );
    Ok(())
}
