//! What changed between two images (a rebuild, a new release): per platform, Debian packages
//! added, removed and upgraded, files added, removed and changed (content digest, mode,
//! owners, link target) with the package that owns them, and runtime settings. Two images whose
//! layers and config are the same are equal without a layer being read.

use std::collections::BTreeMap;

use anyhow::Context;

use oci::read::{ForeignImage, ForeignManifest};
use serde::Serialize;
use serde_json::Value;

use super::fs::{self, Node};
use super::{packages, platform_of};

/// A file that differs.
#[derive(Debug, Clone, Serialize)]
pub struct FileChange {
    pub path: String,
    /// What differs: `content`, `mode`, `owner`, `link`, `kind`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub what: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// The old and new values of what differs (`0644 → 0755`, `0:0 → 1000:1000`, content
    /// digests shortened).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
}

/// A setting that differs.
#[derive(Debug, Clone, Serialize)]
pub struct SettingChange {
    pub key: String,
    pub old: Value,
    pub new: Value,
}

/// One platform's differences.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlatformDiff {
    pub platform: String,
    pub equal: bool,
    pub packages_added: Vec<(String, String)>,
    pub packages_removed: Vec<(String, String)>,
    /// (name, old version, new version)
    pub packages_changed: Vec<(String, String, String)>,
    pub files_added: Vec<FileChange>,
    pub files_removed: Vec<FileChange>,
    pub files_changed: Vec<FileChange>,
    pub settings: Vec<SettingChange>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub equal: bool,
    pub platforms: Vec<PlatformDiff>,
    /// Platforms only one image has.
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
}

/// Compares two images platform by platform.
pub fn diff(
    a: &ForeignImage,
    b: &ForeignImage,
    limits: super::fs::Expansion,
) -> anyhow::Result<Diff> {
    let by_platform = |i: &ForeignImage| -> BTreeMap<String, usize> {
        i.manifests
            .iter()
            .enumerate()
            .map(|(n, m)| (platform_of(m), n))
            .collect()
    };
    let (pa, pb) = (by_platform(a), by_platform(b));
    let mut platforms = Vec::new();
    for (platform, &ia) in &pa {
        if let Some(&ib) = pb.get(platform) {
            platforms.push(compare(
                platform,
                (a, &a.manifests[ia]),
                (b, &b.manifests[ib]),
                limits,
            )?);
        }
    }
    let only_in_a: Vec<String> = pa
        .keys()
        .filter(|p| !pb.contains_key(*p))
        .cloned()
        .collect();
    let only_in_b: Vec<String> = pb
        .keys()
        .filter(|p| !pa.contains_key(*p))
        .cloned()
        .collect();
    Ok(Diff {
        equal: only_in_a.is_empty() && only_in_b.is_empty() && platforms.iter().all(|p| p.equal),
        platforms,
        only_in_a,
        only_in_b,
    })
}

fn compare(
    platform: &str,
    (a, ma): (&ForeignImage, &ForeignManifest),
    (b, mb): (&ForeignImage, &ForeignManifest),
    limits: super::fs::Expansion,
) -> anyhow::Result<PlatformDiff> {
    let mut settings = settings(&ma.config, &mb.config);
    let (xa, xb) = (&ma.manifest["annotations"], &mb.manifest["annotations"]);
    if xa != xb {
        settings.push(SettingChange {
            key: "manifest annotations".into(),
            old: xa.clone(),
            new: xb.clone(),
        });
    }
    let same_layers = ma
        .layers
        .iter()
        .map(|l| &l.digest)
        .eq(mb.layers.iter().map(|l| &l.digest));
    if same_layers {
        // Same layer digests: the same files, once the blobs are checked against them
        // (hashing the compressed bytes; nothing is decompressed). Only settings can differ.
        for (image, m) in [(a, ma), (b, mb)] {
            for blob in &m.layers {
                let mut v = image.open_blob(blob)?;
                std::io::copy(&mut v, &mut std::io::sink())?;
                v.finish(&format!("{}: layer {}", image.name(), blob.digest))?;
            }
        }
        return Ok(PlatformDiff {
            platform: platform.to_string(),
            equal: settings.is_empty(),
            settings,
            ..PlatformDiff::default()
        });
    }
    // Which of the two images could not be read.
    let (fa, _) = fs::read(a, ma, limits).with_context(|| a.name().to_string())?;
    let (fb, _) = fs::read(b, mb, limits).with_context(|| b.name().to_string())?;
    let (va, vb) = (packages::versions(&fa), packages::versions(&fb));
    let mut d = PlatformDiff {
        platform: platform.to_string(),
        settings,
        ..PlatformDiff::default()
    };
    for (name, v) in &vb {
        match va.get(name) {
            None => d.packages_added.push((name.clone(), v.clone())),
            Some(old) if old != v => {
                d.packages_changed
                    .push((name.clone(), old.clone(), v.clone()));
            }
            _ => {}
        }
    }
    for (name, v) in &va {
        if !vb.contains_key(name) {
            d.packages_removed.push((name.clone(), v.clone()));
        }
    }
    let (oa, ob) = (packages::owners(&fa), packages::owners(&fb));
    let owner = |p: &str| ob.get(p).or_else(|| oa.get(p)).cloned();
    for (path, nb) in &fb.nodes {
        match fa.nodes.get(path) {
            None => d.files_added.push(FileChange {
                path: format!("/{path}"),
                what: Vec::new(),
                package: owner(path),
                changes: Vec::new(),
            }),
            Some(na) => {
                let what = differences(na, nb);
                if !what.is_empty() {
                    d.files_changed.push(FileChange {
                        path: format!("/{path}"),
                        changes: values(na, nb, &what),
                        what,
                        package: owner(path),
                    });
                }
            }
        }
    }
    for path in fa.nodes.keys().filter(|p| !fb.nodes.contains_key(*p)) {
        d.files_removed.push(FileChange {
            path: format!("/{path}"),
            what: Vec::new(),
            package: owner(path),
            changes: Vec::new(),
        });
    }
    d.equal = d.packages_added.is_empty()
        && d.packages_removed.is_empty()
        && d.packages_changed.is_empty()
        && d.files_added.is_empty()
        && d.files_removed.is_empty()
        && d.files_changed.is_empty()
        && d.settings.is_empty();
    Ok(d)
}

/// How two versions of a path differ.
fn differences(a: &Node, b: &Node) -> Vec<&'static str> {
    let mut out = Vec::new();
    if a.kind != b.kind {
        out.push("kind");
    }
    if a.sha256 != b.sha256 {
        out.push("content");
    }
    if a.mode != b.mode {
        out.push("mode");
    }
    if (a.uid, a.gid) != (b.uid, b.gid) {
        out.push("owner");
    }
    if a.link != b.link {
        out.push("link");
    }
    if a.xattrs != b.xattrs {
        out.push("attributes");
    }
    if a.device != b.device {
        out.push("device");
    }
    out
}

/// The old and new values of each attribute that differs.
fn values(a: &Node, b: &Node, what: &[&str]) -> Vec<String> {
    let short = |d: &Option<String>| {
        d.as_deref()
            .map_or("-".to_string(), |d| d[..12.min(d.len())].to_string())
    };
    what.iter()
        .map(|w| match *w {
            "kind" => format!("kind {:?} → {:?}", a.kind, b.kind),
            "content" => format!(
                "content {} → {} ({} → {} bytes)",
                short(&a.sha256),
                short(&b.sha256),
                a.size,
                b.size
            ),
            "mode" => format!("mode {:04o} → {:04o}", a.mode, b.mode),
            "owner" => format!("owner {}:{} → {}:{}", a.uid, a.gid, b.uid, b.gid),
            "attributes" => format!(
                "attributes [{}] → [{}]",
                a.xattrs.keys().cloned().collect::<Vec<_>>().join(", "),
                b.xattrs.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            "device" => format!(
                "device {} → {}",
                a.device.as_deref().unwrap_or("-"),
                b.device.as_deref().unwrap_or("-")
            ),
            _ => format!(
                "link {} → {}",
                a.link.as_deref().unwrap_or("-"),
                b.link.as_deref().unwrap_or("-")
            ),
        })
        .collect()
}

/// The runtime settings that differ (`config.*`, plus the platform fields). A setting that is
/// absent equals its empty default (`AttachStderr: false`, `Cmd: null`, `Labels: {}`: what
/// Docker writes and we leave out), and `Env` is compared one variable at a time
/// (`Env.LOG_LEVEL: null → "info"`), not as a whole list.
fn settings(a: &Value, b: &Value) -> Vec<SettingChange> {
    let mut out = Vec::new();
    let empty = serde_json::Map::new();
    let ca = a["config"].as_object().unwrap_or(&empty);
    let cb = b["config"].as_object().unwrap_or(&empty);
    let mut keys: Vec<&String> = ca.keys().chain(cb.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (x, y) = (
            ca.get(k).unwrap_or(&Value::Null),
            cb.get(k).unwrap_or(&Value::Null),
        );
        if k == "Env" {
            out.extend(env_changes(x, y));
        } else if x != y && !(is_default(x) && is_default(y)) {
            out.push(SettingChange {
                key: k.clone(),
                old: x.clone(),
                new: y.clone(),
            });
        }
    }
    out
}

/// Absent, or the empty value an engine writes for "not set".
fn is_default(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Number(_) | Value::Bool(true) => false,
    }
}

/// `Env` compared variable by variable.
fn env_changes(a: &Value, b: &Value) -> Vec<SettingChange> {
    let vars = |v: &Value| -> std::collections::BTreeMap<String, String> {
        (v.as_array().into_iter().flatten())
            .filter_map(Value::as_str)
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (e.to_string(), String::new()),
            })
            .collect()
    };
    let (x, y) = (vars(a), vars(b));
    let mut names: Vec<&String> = x.keys().chain(y.keys()).collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter(|n| x.get(*n) != y.get(*n))
        .map(|n| SettingChange {
            key: format!("Env.{n}"),
            old: x.get(n).map_or(Value::Null, |v| Value::String(v.clone())),
            new: y.get(n).map_or(Value::Null, |v| Value::String(v.clone())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn absent_settings_equal_their_defaults_and_env_is_told_by_variable() {
        let ours = json!({"config": {"Env": ["PATH=/bin", "A=1"], "User": "65532"}});
        let docker = json!({"config": {
            "AttachStderr": false, "Tty": false, "Cmd": null, "Labels": {}, "Domainname": "",
            "Env": ["PATH=/bin", "A=2", "LOG_LEVEL=info"], "User": "65532"
        }});
        let changes: Vec<String> = settings(&ours, &docker)
            .iter()
            .map(|c| format!("{}: {} → {}", c.key, c.old, c.new))
            .collect();
        assert_eq!(
            changes,
            [r#"Env.A: "1" → "2""#, r#"Env.LOG_LEVEL: null → "info""#]
        );
        let root = json!({"config": {"User": ""}});
        assert!(settings(&ours, &root).iter().any(|c| c.key == "User"));
    }
}
