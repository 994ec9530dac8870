//! An audit policy: which rules run and their settings, read from a TOML file. Plain data, so a
//! build request can carry one; the rules themselves run in `inspect::audit`.

use serde::Deserialize;

/// A policy: which rules run, and their settings. Every rule is on by default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Rules switched off by name (`no-shell`, `ca-bundle`, …).
    pub skip: Vec<String>,
    /// Allow busybox below `/busybox/` (the debug variants).
    pub allow_busybox: bool,
    /// The most bytes of files the image may hold.
    pub max_bytes: Option<u64>,
    /// The most compressed bytes of layers.
    pub max_compressed_bytes: Option<u64>,
    /// Packages the image must not hold.
    pub forbidden_packages: Vec<String>,
    /// If set, the only packages the image may hold.
    pub allowed_packages: Option<Vec<String>>,
    /// Fail on expired certificates in the CA bundle (by default they are one warning).
    pub expired_certificates_fail: bool,
    /// Accept the expired certificates the release's own bundle carries (no finding at all):
    /// Debian ships roots past their date, which validate nothing.
    pub accept_expired_certificates: bool,
    /// Fail on an image that runs as root (by default a warning: the catalog's `latest`
    /// tags do).
    pub require_non_root: bool,
}

impl Policy {
    /// Reads a policy file.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let bytes = crate::files::read_regular(path, 1 << 20)?;
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("{}: not UTF-8 text", path.display()))?;
        let policy: Policy = toml::from_str(&text).map_err(|e| {
            let line = e
                .span()
                .map_or(0, |s| text[..s.start].lines().count().max(1));
            let message = e.message().trim().replace('\n', ", ");
            anyhow::anyhow!("{}: line {line}: {message}", path.display())
        })?;
        if let Some(unknown) = policy
            .skip
            .iter()
            .find(|r| !RULES.iter().any(|(id, _)| id == r))
        {
            let known: Vec<&str> = RULES.iter().map(|(id, _)| *id).collect();
            anyhow::bail!(
                "{}: skip: {unknown:?} is not a rule (rules: {})",
                path.display(),
                known.join(", ")
            );
        }
        Ok(policy)
    }
}

/// The rules, with what each checks (SARIF's rule descriptions).
pub const RULES: &[(&str, &str)] = &[
    (
        "no-shell",
        "no shell, by name or by content (busybox's signature)",
    ),
    (
        "no-package-manager",
        "no package manager (dpkg, apt, rpm, apk, pip …)",
    ),
    (
        "non-root-user",
        "the image runs as a non-root user that exists in /etc/passwd",
    ),
    ("no-setuid", "no setuid or setgid file"),
    (
        "no-world-writable",
        "no world-writable directory without the sticky bit",
    ),
    (
        "root-owned-system",
        "system directories hold only root-owned files",
    ),
    (
        "ca-bundle",
        "a CA bundle whose every certificate parses and is unexpired",
    ),
    ("tzdata", "time zone data is present"),
    (
        "closure",
        "every ELF file's interpreter and libraries are present",
    ),
    (
        "no-secrets",
        "no private keys, .env files, cloud credentials or .git directories",
    ),
    ("size-budget", "the image is within its size budget"),
    (
        "packages",
        "no forbidden package, and only allowed ones when a list is given",
    ),
];
