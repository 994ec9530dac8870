//! `/etc/ssl/certs/java/cacerts`: the CA bundle as a Java KeyStore (JKS) of trusted entries.
//!
//! Debian builds it with a Java program in `ca-certificates-java`'s maintainer script; we
//! write the JKS format directly (big-endian records, then a SHA-1 over the password, the
//! constant "Mighty Aphrodite" and the records), with the usual password `changeit`. Every JRE
//! reads JKS for its default trust store. Written by hand: no crate writes JKS, and the format
//! is a page long.

use anyhow::{Context, bail};
use base64::Engine as _;
use sha1::{Digest, Sha1};

/// Where the JRE's `lib/security/cacerts` symlink points on Debian.
pub const PATH: &str = "etc/ssl/certs/java/cacerts";

/// The conventional trust store password.
pub const PASSWORD: &str = "changeit";

/// DER bytes of every certificate in a PEM text.
pub fn pem_to_der(pem: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in pem.lines() {
        let line = line.trim();
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            let b64 = body.take().context("END CERTIFICATE without BEGIN")?;
            out.push(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .context("bad base64 in certificate")?,
            );
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    if body.is_some() {
        bail!("certificate without END line");
    }
    Ok(out)
}

/// Java's `DataOutput.writeUTF`: a length, then "modified UTF-8" of the UTF-16 units.
fn put_utf(out: &mut Vec<u8>, s: &str) -> anyhow::Result<()> {
    let mut bytes = Vec::with_capacity(s.len());
    for unit in s.encode_utf16() {
        let [hi, lo] = unit.to_be_bytes();
        match unit {
            0x0001..=0x007f => bytes.push(lo),
            0x0000 | 0x0080..=0x07ff => {
                bytes.push(0xc0 | (hi << 2) | (lo >> 6));
                bytes.push(0x80 | (lo & 0x3f));
            }
            _ => {
                bytes.push(0xe0 | (hi >> 4));
                bytes.push(0x80 | ((hi & 0x0f) << 2) | (lo >> 6));
                bytes.push(0x80 | (lo & 0x3f));
            }
        }
    }
    out.extend_from_slice(&u16::try_from(bytes.len())?.to_be_bytes());
    out.extend_from_slice(&bytes);
    Ok(())
}

/// Writes a JKS keystore holding `(alias, DER)` trusted certificates, created at `epoch`.
pub fn jks(certs: &[(String, Vec<u8>)], epoch: u64) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xFEED_FEEDu32.to_be_bytes());
    out.extend_from_slice(&2u32.to_be_bytes());
    out.extend_from_slice(&u32::try_from(certs.len())?.to_be_bytes());
    for (alias, der) in certs {
        out.extend_from_slice(&2u32.to_be_bytes()); // trusted certificate entry
        put_utf(&mut out, &alias.to_lowercase())?;
        out.extend_from_slice(&(epoch.saturating_mul(1000)).to_be_bytes());
        put_utf(&mut out, "X.509")?;
        out.extend_from_slice(&u32::try_from(der.len())?.to_be_bytes());
        out.extend_from_slice(der);
    }
    let mut h = Sha1::new();
    for unit in PASSWORD.encode_utf16() {
        h.update(unit.to_be_bytes());
    }
    h.update(b"Mighty Aphrodite");
    h.update(&out);
    out.extend_from_slice(&h.finalize());
    Ok(out)
}

/// The trust store for the certificates of `ca-certificates` (path in the package, PEM).
pub fn trust_store(certs: &[(String, Vec<u8>)], epoch: u64) -> anyhow::Result<Vec<u8>> {
    let mut entries = Vec::new();
    for (path, pem) in certs {
        let name = path
            .rsplit('/')
            .next()
            .unwrap_or(path)
            .trim_end_matches(".crt");
        let ders = pem_to_der(&String::from_utf8_lossy(pem)).with_context(|| path.clone())?;
        for (i, der) in ders.into_iter().enumerate() {
            let alias = if i == 0 {
                format!("debian:{name}.pem")
            } else {
                format!("debian:{name}.pem-{i}")
            };
            entries.push((alias.to_lowercase(), der));
        }
    }
    entries.sort();
    jks(&entries, epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modified_utf8_matches_java() {
        let mut out = Vec::new();
        put_utf(&mut out, "aő\u{0}€").unwrap();
        assert_eq!(out, [0, 8, b'a', 0xc5, 0x91, 0xc0, 0x80, 0xe2, 0x82, 0xac]);
    }

    #[test]
    fn keytool_reads_our_store() {
        let keytool = std::path::Path::new("/usr/bin/keytool");
        let bundle = std::path::Path::new("/etc/ssl/certs/ca-certificates.crt");
        if !keytool.exists() || !bundle.exists() {
            // Only a developer machine without a JDK may skip; CI installs one.
            assert!(
                std::env::var_os("CI").is_none(),
                "keytool and the host CA bundle are required in CI"
            );
            return;
        }
        let pem = fs_err::read(bundle).unwrap();
        let n = pem_to_der(&String::from_utf8_lossy(&pem)).unwrap().len();
        let store = trust_store(
            &[("usr/share/ca-certificates/host/bundle.crt".into(), pem)],
            0,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cacerts");
        fs_err::write(&path, store).unwrap();
        let out = std::process::Command::new(keytool)
            .args([
                "-list",
                "-storetype",
                "JKS",
                "-storepass",
                PASSWORD,
                "-keystore",
            ])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        assert!(text.contains(&format!("contains {n} entries")), "{text}");
    }
}

/// The Java trust store, made from the CA bundle's certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JavaTrustStore;

impl super::effect::Effect for JavaTrustStore {
    fn name(&self) -> &'static str {
        "java-trust-store"
    }

    fn key(&self, inputs: &dyn super::effect::Inputs) -> anyhow::Result<String> {
        Ok(format!(
            "ca {} epoch {}",
            inputs.ca_certificates().sha256,
            inputs.epoch()
        ))
    }

    fn apply(
        &self,
        tree: &mut super::Tree,
        inputs: &dyn super::effect::Inputs,
    ) -> anyhow::Result<()> {
        let deb = inputs.deb(inputs.ca_certificates())?;
        let certs = super::cacerts::certs_from_deb(&deb)?;
        let store = trust_store(&certs, inputs.epoch())?;
        tree.put_file(PATH, store, oci::layer::Meta::root(0o644))?;
        Ok(())
    }
}
