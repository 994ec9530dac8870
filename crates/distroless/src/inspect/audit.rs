//! The police: rules an image must pass (a default policy, or a TOML policy file), each finding
//! naming the rule, the file and the layer that brought it. Shells are found by name and by
//! content (busybox's signature survives a rename); a `:debug` image passes the shell rule only
//! with the explicit `allow_busybox`.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Value, json};

use super::fs::{Filesystem, Kind, LayerFacts};
use super::packages;
use crate::model::Arch;
use crate::rootfs::view::{ImageView, LayerIndex};

pub use crate::model::policy::{Policy, RULES};

/// How much a finding weighs: an error fails the audit, a warning is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

/// One broken rule.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub level: Level,
    pub message: String,
    /// The file, if the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The layer that brought the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<String>,
}

const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox",
];
const PACKAGE_MANAGERS: &[&str] = &[
    "dpkg",
    "dpkg-deb",
    "apt",
    "apt-get",
    "apt-cache",
    "rpm",
    "yum",
    "dnf",
    "microdnf",
    "apk",
    "pip",
    "pip3",
];

/// What the audit looks at.
pub struct Subject<'a> {
    pub fs: &'a Filesystem,
    pub layers: &'a [LayerFacts],
    pub config: &'a Value,
    pub platform: &'a str,
    /// Seconds since the epoch (for certificate expiry).
    pub now: i64,
}

/// Runs every rule the policy keeps.
pub fn audit(s: &Subject<'_>, policy: &Policy) -> Vec<Finding> {
    let mut a = Auditor {
        s,
        policy,
        out: Vec::new(),
    };
    a.files();
    a.settings_and_contents();
    a.out
}

/// The audit under way: what it looks at, and what it found.
struct Auditor<'a> {
    s: &'a Subject<'a>,
    policy: &'a Policy,
    out: Vec<Finding>,
}

impl Auditor<'_> {
    fn on(&self, rule: &str) -> bool {
        !self.policy.skip.iter().any(|r| r == rule)
    }

    /// Records a finding (an error) about `path`, naming the layer that brought it.
    fn push(&mut self, rule: &'static str, message: String, path: Option<&str>) -> &mut Finding {
        let layer = path
            .and_then(|p| self.s.fs.nodes.get(p))
            .and_then(|n| self.s.layers.get(n.layer))
            .map(|l| l.digest.clone());
        self.out.push(Finding {
            rule,
            level: Level::Error,
            message,
            path: path.map(|p| format!("/{p}")),
            layer,
        });
        self.out.last_mut().expect("just pushed")
    }

    /// The rules about single files.
    fn files(&mut self) {
        let (s, policy) = (self.s, self.policy);
        if self.on("no-shell") {
            let mut found = Vec::new();
            shells(s, policy, &mut |m, p| found.push((m, p.to_string())));
            for (m, p) in found {
                self.push("no-shell", m, Some(&p));
            }
        }
        for (path, n) in &s.fs.nodes {
            let name = path.rsplit('/').next().unwrap_or(path);
            // busybox's applets (`/busybox/dpkg`) are busybox, allowed with it.
            let applet = policy.allow_busybox && path.starts_with("busybox/");
            if self.on("no-package-manager")
                && n.kind != Kind::Dir
                && PACKAGE_MANAGERS.contains(&name)
                && !applet
            {
                self.push(
                    "no-package-manager",
                    format!("/{path} is a package manager"),
                    Some(path),
                );
            }
            let file = matches!(n.kind, Kind::File | Kind::Hardlink);
            if self.on("no-setuid") && file && n.mode & 0o6000 != 0 {
                let m = format!("/{path} is setuid or setgid ({:04o})", n.mode);
                self.push("no-setuid", m, Some(path));
            }
            // File capabilities give a program privileges as setuid does.
            if self.on("no-setuid") && file && n.xattrs.contains_key("security.capability") {
                let m = format!("/{path} has file capabilities (security.capability)");
                self.push("no-setuid", m, Some(path));
            }
            if self.on("no-world-writable")
                && n.kind == Kind::Dir
                && n.mode & 0o002 != 0
                && n.mode & 0o1000 == 0
            {
                let m = format!("/{path} is world-writable without the sticky bit");
                self.push("no-world-writable", m, Some(path));
            }
            let system = ["bin/", "sbin/", "usr/", "lib", "etc/"]
                .iter()
                .any(|d| path.starts_with(d));
            if self.on("root-owned-system") && system && n.uid != 0 {
                let m = format!("/{path} is owned by uid {}", n.uid);
                self.push("root-owned-system", m, Some(path));
            }
            if self.on("no-secrets")
                && let Some(why) = secret(path, n.kind)
            {
                self.push("no-secrets", format!("/{path}: {why}"), Some(path));
            }
        }
        if self.on("no-secrets") {
            for p in &s.fs.private_keys {
                self.push("no-secrets", format!("/{p} holds a private key"), Some(p));
            }
        }
    }

    /// The rules about the image as a whole.
    fn settings_and_contents(&mut self) {
        let (s, policy) = (self.s, self.policy);
        if self.on("non-root-user")
            && let Some(m) = super::users::root_user(
                s.config,
                s.fs.small.get("etc/passwd").map_or(&[][..], Vec::as_slice),
            )
        {
            let f = self.push("non-root-user", m, None);
            // The catalog's `latest` tags run as root by design: a warning unless required.
            if !policy.require_non_root {
                f.level = Level::Warning;
            }
        }
        if self.on("ca-bundle") {
            let problems = ca_bundle(s).into_iter();
            for (m, p, expired) in
                problems.filter(|(_, _, e)| !(*e && policy.accept_expired_certificates))
            {
                let f = self.push("ca-bundle", m, p);
                // Debian still ships roots past their date (they validate nothing): reported,
                // and failing only when the policy says so.
                if expired && !policy.expired_certificates_fail {
                    f.level = Level::Warning;
                }
            }
        }
        let zones = ["usr/share/zoneinfo/UTC", "usr/share/zoneinfo/Etc/UTC"];
        if self.on("tzdata") && !zones.iter().any(|p| s.fs.nodes.contains_key(*p)) {
            self.push(
                "tzdata",
                "no time zone data (/usr/share/zoneinfo/UTC)".into(),
                None,
            );
        }
        if self.on("closure") {
            for m in closure(s) {
                let path = m.file.clone();
                self.push("closure", m.to_string(), Some(&path));
            }
        }
        if self.on("size-budget") {
            let mut found = Vec::new();
            size_budget(s, policy, &mut |m| found.push(m));
            for m in found {
                self.push("size-budget", m, None);
            }
        }
        if self.on("packages") {
            for (name, v) in packages::versions(s.fs) {
                let forbidden = policy.forbidden_packages.contains(&name);
                let unlisted = policy
                    .allowed_packages
                    .as_ref()
                    .is_some_and(|a| !a.contains(&name));
                if forbidden || unlisted {
                    let why = if forbidden {
                        "forbidden"
                    } else {
                        "not in allowed_packages"
                    };
                    self.push("packages", format!("package {name} {v} is {why}"), None);
                }
            }
        }
    }
}

/// Shells by name (any non-directory called like one) and busybox by its signature.
fn shells(s: &Subject<'_>, policy: &Policy, report: &mut dyn FnMut(String, &str)) {
    let allowed = |p: &str| policy.allow_busybox && p.starts_with("busybox/");
    let mut seen = BTreeSet::new();
    for (path, n) in &s.fs.nodes {
        let name = path.rsplit('/').next().unwrap_or(path);
        if n.kind != Kind::Dir && SHELLS.contains(&name) && !allowed(path) {
            seen.insert(path.clone());
            report(format!("/{path} is a shell"), path);
        }
    }
    for path in &s.fs.busybox {
        if !allowed(path) && !seen.contains(path) {
            report(
                format!("/{path} is a shell (busybox or bash, by its signature)"),
                path,
            );
        }
    }
    // A hard link to a shell is the shell under another name.
    for (path, n) in &s.fs.nodes {
        let target = n.link.as_deref().unwrap_or("").trim_start_matches('/');
        if n.kind == Kind::Hardlink
            && !allowed(path)
            && !seen.contains(path)
            && (s.fs.busybox.contains(target)
                || SHELLS.contains(&target.rsplit('/').next().unwrap_or("")))
        {
            report(
                format!("/{path} is a hard link to the shell /{target}"),
                path,
            );
        }
    }
}

/// Why a path looks like a secret, if it does.
fn secret(path: &str, kind: Kind) -> Option<&'static str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if path.split('/').any(|c| c == ".git") {
        // Reported once, at the directory (or at the first file when it has no entry).
        let first = path.split('/').position(|c| c == ".git").unwrap_or(0);
        let depth = path.split('/').count() - 1;
        return (kind == Kind::Dir && first == depth || kind != Kind::Dir && first + 1 == depth)
            .then_some("a .git directory");
    }
    if kind == Kind::Dir {
        return None;
    }
    if name == ".env" || name.starts_with(".env.") {
        return Some("an environment file");
    }
    if ["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"].contains(&name) {
        return Some("an SSH private key file");
    }
    let cloud = [
        ".aws/credentials",
        ".docker/config.json",
        ".config/gcloud/credentials.db",
        ".config/gcloud/application_default_credentials.json",
        ".azure/accessTokens.json",
        ".kube/config",
    ];
    if cloud.iter().any(|c| path.ends_with(c))
        || [".netrc", ".npmrc", ".pypirc", ".git-credentials"].contains(&name)
    {
        return Some("a credentials file");
    }
    None
}

/// Problems of the CA bundle: missing, or certificates that do not parse or have expired
/// (the last field).
fn ca_bundle(s: &Subject<'_>) -> Vec<(String, Option<&'static str>, bool)> {
    const BUNDLE: &str = crate::rootfs::cacerts::BUNDLE;
    let Some(bytes) = s.fs.small.get(BUNDLE) else {
        return vec![(format!("no CA bundle at /{BUNDLE}"), None, false)];
    };
    let mut out = Vec::new();
    let mut count = 0;
    let mut expired = Vec::new();
    for pem in x509_parser::pem::Pem::iter_from_buffer(bytes) {
        count += 1;
        let parsed = pem.ok().and_then(|p| {
            let der = p.contents;
            x509_parser::parse_x509_certificate(&der)
                .ok()
                .map(|(_, c)| (c.validity().not_after.timestamp(), c.subject().to_string()))
        });
        match parsed {
            None => out.push((
                format!("certificate {count} of the CA bundle does not parse"),
                Some(BUNDLE),
                false,
            )),
            Some((until, subject)) if until < s.now => expired.push(format!("{count}: {subject}")),
            Some(_) => {}
        }
    }
    // Said once, with a count: a release's bundle may carry several roots past their date.
    if !expired.is_empty() {
        let n = expired.len();
        out.push((
            format!(
                "{n} certificate{} of the CA bundle expired ({})",
                if n == 1 { "" } else { "s" },
                expired.join("; ")
            ),
            Some(BUNDLE),
            true,
        ));
    }
    if count == 0 {
        out.push((
            "the CA bundle holds no certificate".into(),
            Some(BUNDLE),
            false,
        ));
    }
    out
}

/// The closure check of the build, on any image.
fn closure(s: &Subject<'_>) -> Vec<crate::rootfs::closure::Missing> {
    let mut parts = s.platform.split('/').skip(1);
    let Some(arch) = parts
        .next()
        .and_then(|a| Arch::from_platform(a, parts.next()).ok())
    else {
        return Vec::new();
    };
    let mut index = LayerIndex::default();
    for (p, n) in &s.fs.nodes {
        match n.kind {
            Kind::Dir => {
                index.dirs.insert(p.clone());
            }
            Kind::Symlink => {
                index
                    .symlinks
                    .insert(p.clone(), n.link.clone().unwrap_or_default());
            }
            _ => {
                index.files.insert(p.clone());
            }
        }
    }
    index.elfs = s.fs.elfs.clone();
    for (p, b) in &s.fs.small {
        if p == "etc/ld.so.conf" || p.starts_with("etc/ld.so.conf.d/") {
            index
                .configs
                .insert(p.clone(), String::from_utf8_lossy(b).to_string());
        }
    }
    let mut view = ImageView::default();
    view.push(&index);
    crate::rootfs::closure::check_image(&view, arch)
}

fn size_budget(s: &Subject<'_>, policy: &Policy, report: &mut dyn FnMut(String)) {
    let bytes: u64 =
        s.fs.nodes
            .values()
            .filter(|n| n.kind == Kind::File)
            .map(|n| n.size)
            .sum();
    let compressed: u64 = s.layers.iter().map(|l| l.compressed).sum();
    if let Some(max) = policy.max_bytes.filter(|m| bytes > *m) {
        report(format!(
            "the image holds {bytes} bytes of files, over the budget of {max}"
        ));
    }
    if let Some(max) = policy.max_compressed_bytes.filter(|m| compressed > *m) {
        report(format!(
            "the image's layers are {compressed} bytes, over the budget of {max}"
        ));
    }
}

/// The findings as a SARIF 2.1.0 log (what code-scanning dashboards read); `image` names the
/// artifact.
pub fn sarif(image: &str, findings: &[(String, Finding)]) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|(id, text)| json!({"id": id, "shortDescription": {"text": text}}))
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|(platform, f)| {
            let uri = f.path.clone().unwrap_or_else(|| "/".into());
            let mut r = json!({
                "ruleId": f.rule,
                "level": match f.level { Level::Error => "error", Level::Warning => "warning" },
                "message": {"text": format!("{platform}: {}", f.message)},
                "locations": [{
                    "physicalLocation": {"artifactLocation": {"uri": uri.trim_start_matches('/')}},
                    "logicalLocations": [{"name": image, "kind": "module"}],
                }],
            });
            if let Some(l) = &f.layer {
                r["properties"] = json!({"layer": l, "platform": platform});
            }
            r
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": {"driver": {
                "name": "distroless",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

/// Audits every platform of an image; findings with their platform.
pub fn audit_image(
    image: &oci::read::ForeignImage,
    policy: &Policy,
    now: i64,
    limits: super::fs::Expansion,
) -> anyhow::Result<Vec<(String, Finding)>> {
    let mut out = Vec::new();
    for r in super::read(image, limits)? {
        let subject = Subject {
            fs: &r.fs,
            layers: &r.layers,
            config: &r.config,
            platform: &r.platform,
            now,
        };
        out.extend(
            audit(&subject, policy)
                .into_iter()
                .map(|f| (r.platform.clone(), f)),
        );
    }
    Ok(out)
}

/// A build stopped by its audit (`build --audit`): nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("audit: {} finding{}: {}", .0.len(), if .0.len() == 1 { "" } else { "s" }, summary(.0))]
pub struct AuditFailed(pub Vec<(String, Finding)>);

fn summary(findings: &[(String, Finding)]) -> String {
    let shown: Vec<String> = findings
        .iter()
        .take(5)
        .map(|(p, f)| format!("{p} {}: {}", f.rule, f.message))
        .collect();
    let more = findings.len().saturating_sub(5);
    if more > 0 {
        format!(
            "{}; and {more} more (run `distroless audit` on the image)",
            shown.join("; ")
        )
    } else {
        shown.join("; ")
    }
}
