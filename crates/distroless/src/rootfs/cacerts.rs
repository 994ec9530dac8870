//! `/etc/ssl/certs/ca-certificates.crt` from the `ca-certificates` package's certificates.
//!
//! Debian builds the bundle in a maintainer script (`update-ca-certificates`); we concatenate
//! every `.crt` under `/usr/share/ca-certificates` in path order instead. The package's
//! programs are not installed; its copyright file and status.d record are (as in the published
//! images).

use std::path::Path;

use anyhow::Context;
use debian::deb::{self, Kind};

/// Path of the bundle in the image.
pub const BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// The one file of the package itself that images carry: its copyright.
pub fn copyright_path(package: &str) -> String {
    format!("usr/share/doc/{package}/copyright")
}

/// Builds the bundle from a `ca-certificates` `.deb`.
pub fn bundle_from_deb(deb_path: &Path) -> anyhow::Result<Vec<u8>> {
    Ok(concatenate(&certs_from_deb(deb_path)?))
}

/// A bundle: every PEM in order, each ending in a newline.
pub fn concatenate(certs: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (_, pem) in certs {
        out.extend_from_slice(pem);
        if !pem.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
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

/// The CA bundle of the image's first layer, with the `ca-certificates` package's copyright
/// and status.d record (its programs stay out, but scanners and license checks must see where
/// the bundle came from).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaBundle;

impl super::effect::Effect for CaBundle {
    fn name(&self) -> &'static str {
        "ca-bundle"
    }

    fn key(&self, inputs: &dyn super::effect::Inputs) -> anyhow::Result<String> {
        Ok(inputs.ca_certificates().sha256.clone())
    }

    fn apply(
        &self,
        tree: &mut super::Tree,
        inputs: &dyn super::effect::Inputs,
    ) -> anyhow::Result<()> {
        let ca = inputs.ca_certificates();
        let deb = inputs.deb(ca)?;
        let bundle = bundle_from_deb(&deb)?;
        tree.put_file(BUNDLE, bundle, oci::layer::Meta::root(0o644))?;
        let control = deb::read_control(&deb, &ca.name)?;
        let copyright = vec![copyright_path(&ca.name)];
        let placed = tree.add_deb_filtered(&deb, &ca.name, Some(&copyright))?;
        super::dpkg::add_partial_records(tree, &ca.name, &control, &placed)?;
        Ok(())
    }
}
