//! `/etc/ssl/certs/ca-certificates.crt` from the `ca-certificates` package's certificates.
//!
//! Debian builds the bundle in a maintainer script (`update-ca-certificates`); we concatenate
//! every `.crt` under `/usr/share/ca-certificates` in path order instead. The package itself is
//! not installed.

use std::path::Path;

use anyhow::Context;
use debian::deb::{self, Kind};

/// Path of the bundle in the image.
pub const BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// Builds the bundle from a `ca-certificates` `.deb`.
pub fn bundle_from_deb(deb_path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for (_, mut pem) in certs_from_deb(deb_path)? {
        if !pem.ends_with(b"\n") {
            pem.push(b'\n');
        }
        out.extend_from_slice(&pem);
    }
    Ok(out)
}

/// Every certificate of a `ca-certificates` `.deb`: (path in the package, PEM), in path order.
pub fn certs_from_deb(deb_path: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut certs: Vec<(String, Vec<u8>)> = Vec::new();
    deb::read_data(deb_path, "ca-certificates", |entry, reader| {
        if entry.kind == Kind::File
            && entry.path.starts_with("usr/share/ca-certificates/")
            && entry.path.ends_with(".crt")
        {
            let mut bytes = Vec::with_capacity(usize::try_from(entry.size).unwrap_or(0));
            reader.read_to_end(&mut bytes)?;
            certs.push((entry.path.clone(), bytes));
        }
        Ok(())
    })
    .context("reading ca-certificates")?;
    certs.sort();
    anyhow::ensure!(
        !certs.is_empty(),
        "ca-certificates: no certificates under /usr/share/ca-certificates"
    );
    Ok(certs)
}
