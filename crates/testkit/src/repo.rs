//! A signed Debian repository built on disk: pool, Packages (.xz, .gz), Release, InRelease.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::deb::DebBuilder;

/// A throw-away OpenPGP signing key in its own GnuPG home.
pub struct SignKey {
    home: tempfile::TempDir,
    /// The exported public key (binary), for `--keyring`.
    pub public: PathBuf,
}

impl SignKey {
    /// The process-wide test key (generated once; ed25519 is fast).
    pub fn shared() -> &'static SignKey {
        static KEY: OnceLock<SignKey> = OnceLock::new();
        KEY.get_or_init(|| SignKey::generate("Distroless Test Archive <archive@example.invalid>"))
    }

    /// Generates a new key.
    pub fn generate(uid: &str) -> SignKey {
        let home = tempfile::tempdir().expect("gnupg home");
        let gpg = |args: &[&str]| {
            let out = gpg_in(home.path())
                .args(args)
                .output()
                .expect("gpg must be installed for tests");
            assert!(
                out.status.success(),
                "gpg {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        gpg(&["--quick-gen-key", uid, "ed25519", "sign", "never"]);
        let public = home.path().join("public.gpg");
        let bytes = gpg(&["--export", uid]);
        fs_err::write(&public, bytes).expect("write public key");
        stop_agent(home.path());
        SignKey { home, public }
    }

    /// Clear-signs `text` with SHA-256.
    pub fn clearsign(&self, text: &str) -> Vec<u8> {
        let mut child = gpg_in(self.home.path())
            .args(["--digest-algo", "SHA256", "--clearsign"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("gpg");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("gpg clearsign");
        stop_agent(self.home.path());
        assert!(out.status.success());
        out.stdout
    }
}

impl Drop for SignKey {
    fn drop(&mut self) {
        stop_agent(self.home.path());
    }
}

/// gpg starts an agent per home on first use and leaves it running: stop it, so the tests
/// leave no process behind (it starts again on the next use).
fn stop_agent(home: &Path) {
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", home)
        .args(["--kill", "gpg-agent"])
        .output();
}

/// `gpg` in batch mode with an empty passphrase, in a private home.
fn gpg_in(home: &Path) -> Command {
    let mut cmd = Command::new("gpg");
    cmd.env("GNUPGHOME", home).args([
        "--batch",
        "--quiet",
        "--no-permission-warning",
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
    ]);
    cmd
}

/// A repository being assembled; publish it with [`Repo::publish`].
pub struct Repo {
    dir: tempfile::TempDir,
    suites: BTreeMap<String, Vec<DebBuilder>>,
}

impl Default for Repo {
    fn default() -> Self {
        Self::new()
    }
}

impl Repo {
    /// An empty repository in a temporary directory.
    pub fn new() -> Self {
        Repo {
            dir: tempfile::tempdir().expect("repo dir"),
            suites: BTreeMap::new(),
        }
    }

    /// The repository's root directory.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `file://` URL of the repository.
    pub fn file_url(&self) -> String {
        format!("file://{}/", self.dir.path().display())
    }

    /// Adds a package to a suite.
    pub fn add(&mut self, suite: &str, deb: DebBuilder) -> &mut Self {
        self.suites.entry(suite.into()).or_default().push(deb);
        self
    }

    /// Makes sure a suite exists even if it has no packages.
    pub fn suite(&mut self, suite: &str) -> &mut Self {
        self.suites.entry(suite.into()).or_default();
        self
    }

    /// Writes pool, indexes and signed InRelease files for every suite.
    pub fn publish(&self, arch: &str, valid_until: Option<&str>, key: &SignKey) {
        self.publish_arches(&[arch], valid_until, key);
    }

    /// Like [`Repo::publish`] for several architectures: every package that is not
    /// `Architecture: all` is published once per architecture.
    pub fn publish_arches(&self, arches: &[&str], valid_until: Option<&str>, key: &SignKey) {
        for suite in self.suites.keys() {
            self.publish_suite(suite, arches, valid_until, key);
        }
    }

    /// Publishes (again) one suite for these architectures only: an update suite that has
    /// dropped an architecture, as Debian's `bookworm-security` has s390x.
    pub fn publish_suite(
        &self,
        suite: &str,
        arches: &[&str],
        valid_until: Option<&str>,
        key: &SignKey,
    ) {
        let debs = self.suites.get(suite).cloned().unwrap_or_default();
        let dist = self.root().join("dists").join(suite);
        let mut release = format!(
            "Origin: Test\nLabel: Test\nSuite: {suite}\nVersion: 13.1\nCodename: {suite}\n\
             Date: Sat, 10 May 2025 09:00:00 UTC\n"
        );
        if let Some(v) = valid_until {
            release.push_str(&format!("Valid-Until: {v}\n"));
        }
        release.push_str(&format!(
            "Architectures: {}\nComponents: main\nSHA256:\n",
            arches.join(" ")
        ));
        for arch in arches {
            let debs: Vec<DebBuilder> = debs
                .iter()
                .map(|d| {
                    let mut d = d.clone();
                    if d.arch != "all" {
                        d.arch = (*arch).to_string();
                    }
                    d
                })
                .collect();
            release.push_str(&self.publish_index(suite, arch, &debs));
        }
        fs_err::create_dir_all(&dist).expect("dist dir");
        fs_err::write(dist.join("Release"), &release).expect("Release");
        fs_err::write(dist.join("InRelease"), key.clearsign(&release)).expect("InRelease");
    }

    /// Writes the pool files and `Packages` indexes of one suite and architecture; returns
    /// their `SHA256` lines for the Release file.
    fn publish_index(&self, suite: &str, arch: &str, debs: &[DebBuilder]) -> String {
        {
            let mut packages = String::new();
            for deb in debs {
                let bytes = deb.build();
                let rel = format!(
                    "pool/main/{suite}/{}_{}_{}.deb",
                    deb.name, deb.version, deb.arch
                );
                let path = self.root().join(&rel);
                fs_err::create_dir_all(path.parent().expect("parent")).expect("pool dir");
                fs_err::write(&path, &bytes).expect("write deb");
                packages.push_str(&deb.control());
                packages.push_str(&format!(
                    "Filename: {rel}\nSize: {}\nSHA256: {}\n\n",
                    bytes.len(),
                    hex::encode(Sha256::digest(&bytes))
                ));
            }
            let bin = self
                .root()
                .join("dists")
                .join(suite)
                .join(format!("main/binary-{arch}"));
            fs_err::create_dir_all(&bin).expect("dist dir");
            let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
            xz.write_all(packages.as_bytes()).expect("xz");
            let xz = xz.finish().expect("xz");
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(packages.as_bytes()).expect("gz");
            let gz = gz.finish().expect("gz");
            let mut lines = String::new();
            for (name, body) in [
                ("Packages", packages.as_bytes().to_vec()),
                ("Packages.xz", xz),
                ("Packages.gz", gz),
            ] {
                fs_err::write(bin.join(name), &body).expect("write index");
                lines.push_str(&format!(
                    " {} {} main/binary-{arch}/{name}\n",
                    hex::encode(Sha256::digest(&body)),
                    body.len()
                ));
            }
            lines
        }
    }
}
