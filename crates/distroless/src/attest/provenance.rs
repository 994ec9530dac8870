//! SLSA provenance v1 for a build: what went in (every `.deb` with its URL and SHA-256, the
//! signed InRelease files they were listed in and their dates, the recipe and its digest, the
//! files copied into the image, the image built upon), how it was asked for (the command
//! line, with secrets left out), and what came out (the image's digests as subjects, the SBOMs
//! as byproducts naming the manifest each describes). Written beside the output as an
//! unsigned in-toto statement; `attest` signs it.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sign::statement::{Predicate, Statement, Subject};

use crate::plan::Plan;

/// The builder's identity in provenance (a URI naming this tool, not a host).
pub const BUILDER_ID: &str = "pkg:generic/distroless";
/// What `buildType` says: builds of this tool, this version of the format.
pub const BUILD_TYPE: &str = "urn:distroless:build:v1";

/// One input of a build (an in-toto ResourceDescriptor).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Material {
    pub name: String,
    pub uri: String,
    pub sha256: String,
    pub annotations: BTreeMap<String, String>,
}

impl Material {
    fn to_json(&self) -> Value {
        let mut v = json!({"name": self.name});
        if !self.uri.is_empty() {
            v["uri"] = json!(self.uri);
        }
        if !self.sha256.is_empty() {
            v["digest"] = json!({"sha256": self.sha256});
        }
        if !self.annotations.is_empty() {
            v["annotations"] = json!(self.annotations);
        }
        v
    }
}

/// The packages (and the InRelease files that listed them) a plan fetched.
pub fn from_plan(plan: &Plan, debug: bool) -> anyhow::Result<Vec<Material>> {
    let mut out = Vec::new();
    for p in plan.wanted(debug)? {
        let mirror = debian::sources::redact_userinfo(p.mirror.trim_end_matches('/'));
        out.push(Material {
            name: format!(
                "pkg:deb/debian/{}@{}?arch={}",
                p.name, p.version, p.architecture
            ),
            uri: if mirror.is_empty() {
                String::new()
            } else {
                format!("{mirror}/{}", p.filename)
            },
            sha256: p.sha256.clone(),
            annotations: BTreeMap::new(),
        });
        if !mirror.is_empty() && !p.suite.is_empty() {
            let mut annotations = BTreeMap::new();
            annotations.insert("suite".to_string(), p.suite.clone());
            if !p.suite.contains('-') {
                annotations.insert("date".to_string(), plan.release_date.clone());
            }
            out.push(Material {
                name: format!("InRelease of {}", p.suite),
                uri: format!("{mirror}/dists/{}/InRelease", p.suite),
                sha256: String::new(),
                annotations,
            });
        }
    }
    Ok(out)
}

/// Upstream archives unpacked into the image.
pub fn from_archives(archives: &[crate::app::archives::ArchiveRecord]) -> Vec<Material> {
    archives
        .iter()
        .map(|a| Material {
            name: format!("pkg:generic/{}@{}", a.name, a.version),
            uri: a.url.clone(),
            sha256: a.sha256.clone(),
            annotations: [("unpackedTo".to_string(), a.dest.clone())].into(),
        })
        .collect()
}

/// Files copied into the image, by their path in it and their digest.
pub fn from_files(files: &[crate::sbom::CopiedFile]) -> Vec<Material> {
    files
        .iter()
        .map(|f| Material {
            name: format!("file:{}", f.path),
            uri: String::new(),
            sha256: f.sha256.clone(),
            annotations: [("copiedTo".to_string(), f.path.clone())].into(),
        })
        .collect()
}

/// One SBOM written beside the output, and the manifest it describes.
#[derive(Debug, Clone)]
pub struct Byproduct {
    /// The file name (beside the provenance).
    pub file: String,
    pub sha256: String,
    pub media_type: &'static str,
    pub arch: String,
    /// The platform manifest it describes.
    pub subject: String,
}

impl Byproduct {
    /// The SBOM `doc`, written at `path`, describing the manifest `subject`.
    pub fn of(path: &std::path::Path, doc: &crate::sbom::Sbom, subject: &str) -> Self {
        Byproduct {
            file: path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
            sha256: sha256_hex(&doc.bytes),
            media_type: if doc.kind.starts_with("spdx") {
                "application/spdx+json"
            } else {
                "application/vnd.cyclonedx+json"
            },
            arch: doc.arch.clone(),
            subject: subject.to_string(),
        }
    }
}

/// What the statement is about and how the build was asked for.
pub struct Build<'a> {
    pub image: &'a str,
    /// The digest tags name (index or manifest), then every platform manifest (arch, digest).
    pub top: &'a str,
    pub manifests: Vec<(String, String)>,
    pub recipe: Option<(&'a str, &'a str)>,
    pub base: Option<&'a str>,
    pub request: &'a crate::request::BuildRequest,
    pub started: std::time::SystemTime,
}

/// The unsigned provenance statement.
pub fn statement(build: &Build<'_>, materials: &[Material], byproducts: &[Byproduct]) -> Statement {
    let mut subjects = vec![Subject::oci(build.image, build.top)];
    for (_, d) in &build.manifests {
        if d != build.top {
            subjects.push(Subject::oci(build.image, d));
        }
    }
    let mut deps: Vec<Material> = materials.to_vec();
    deps.sort();
    deps.dedup();
    let req = build.request;
    let mut external = json!({
        "image": build.image,
        "arches": build.manifests.iter().map(|(a, _)| a).collect::<Vec<_>>(),
        "commandLine": req.options.invocation,
    });
    if let Some((file, sha)) = build.recipe {
        external["recipe"] = json!({"file": file, "digest": {"sha256": sha}});
    }
    if let Some(base) = build.base {
        external["base"] = json!(base);
    }
    let predicate = json!({
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "internalParameters": {
                "sourceDateEpoch": req.options.epoch,
                "compression": format!("{:?}", req.options.compression).to_lowercase(),
                "layering": format!("{:?}", req.options.layering).to_lowercase(),
            },
            "resolvedDependencies": deps.iter().map(Material::to_json).collect::<Vec<_>>(),
        },
        "runDetails": {
            "builder": {
                "id": BUILDER_ID,
                "version": {"distroless": env!("CARGO_PKG_VERSION")},
            },
            "metadata": {
                "startedOn": rfc3339(build.started),
                "finishedOn": rfc3339(std::time::SystemTime::now()),
            },
            "byproducts": byproducts.iter().map(|b| json!({
                "name": b.file,
                "digest": {"sha256": b.sha256},
                "mediaType": b.media_type,
                "annotations": {"arch": b.arch, "describes": b.subject},
            })).collect::<Vec<_>>(),
        },
    });
    Statement::new(subjects, Predicate::Slsa, predicate)
}

fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    oci::image::rfc3339(secs)
}

/// Words that mark a flag or an environment variable as holding a secret.
const SECRET: [&str; 6] = ["password", "passwd", "creds", "token", "secret", "key"];

fn secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SECRET.iter().any(|s| lower.contains(s))
}

/// The command line as provenance records it: values of flags that may carry secrets, and of
/// `--env NAME=VALUE` whose NAME looks like one, are replaced (a password never belongs in an
/// attestation anyone can read).
pub fn invocation(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let args = args
        .into_iter()
        .map(|a| debian::sources::redact_userinfo(&a));
    let mut out = Vec::new();
    let mut hide_next = false;
    let mut env_next = false;
    for a in args {
        if hide_next {
            out.push("<redacted>".into());
            hide_next = false;
            continue;
        }
        if env_next {
            out.push(redact_env(&a));
            env_next = false;
            continue;
        }
        let flag = a.starts_with("--");
        let (name, value) = a.split_once('=').unwrap_or((&a, ""));
        if flag && name == "--env" {
            if a.contains('=') {
                out.push(format!("--env={}", redact_env(value)));
            } else {
                env_next = true;
                out.push(a);
            }
        } else if flag && secret(name) && name != "--key" {
            if a.contains('=') {
                out.push(format!("{name}=<redacted>"));
            } else {
                hide_next = true;
                out.push(a);
            }
        } else {
            out.push(a);
        }
    }
    out
}

fn redact_env(pair: &str) -> String {
    match pair.split_once('=') {
        Some((name, _)) if secret(name) => format!("{name}=<redacted>"),
        _ => pair.to_string(),
    }
}

/// The SHA-256 of bytes, as hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    oci::digest::Digest::sha256_of(bytes).hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_off_the_recorded_command_line() {
        let args = [
            "distroless",
            "build",
            "--password",
            "hunter2",
            "--creds=a:b",
            "-o",
            "x",
        ]
        .map(String::from);
        let shown = invocation(args);
        assert_eq!(
            shown,
            [
                "distroless",
                "build",
                "--password",
                "<redacted>",
                "--creds=<redacted>",
                "-o",
                "x"
            ]
        );
    }

    #[test]
    fn a_plan_gives_debs_and_the_release_files_that_listed_them() {
        let plan = crate::plan::testing::plan(&[("static", &["base-files"])]);
        let m = from_plan(&plan, false).unwrap();
        assert!(
            m.iter()
                .any(|x| x.name.starts_with("pkg:deb/debian/") && x.sha256.len() == 64)
        );
    }
}
