//! SBOMs for every build: SPDX 2.3 JSON and CycloneDX 1.6 JSON.
//!
//! Our own serde-free `serde_json::Value` documents: the SBOM crates stop at CycloneDX 1.5 and
//! stamp random serial numbers and the wall-clock time, while ours must be reproducible (the
//! serial number and namespace derive from the content, the time from `SOURCE_DATE_EPOCH`).
//! Package facts (maintainer, license) are read from each `.deb` once and cached by its hash.

use std::collections::BTreeMap;
use std::io::Read;

mod facts;
pub mod license;
mod spdx;

pub use facts::{PackageFacts, facts, remember_facts};
use spdx::missing_note;
pub use spdx::spdx;

use debian::deb::{self, Kind};
use debian::index::Package;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cache::{Cache, Record};
use crate::debs::Debs;
use crate::model::recipe::ArchiveRecord;
use crate::plan::Plan;

/// Which SBOM formats to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SbomFormats {
    Spdx,
    CycloneDx,
    #[default]
    Both,
    None,
}

/// Percent-encodes a purl component (everything but unreserved characters).
fn purl_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The package URL of a Debian package.
pub fn purl(pkg: &Package, arch: &str, release: u32) -> String {
    purl_from(pkg, arch, release, &[])
}

/// The package URL of a package, naming the third-party repository (one of `repositories`)
/// it came from; a local `.deb` belongs to no distribution.
fn purl_from(pkg: &Package, arch: &str, release: u32, repositories: &[String]) -> String {
    let arch = if pkg.architecture == "all" {
        "all"
    } else {
        arch
    };
    let (name, version) = (purl_encode(&pkg.name), purl_encode(&pkg.version));
    if pkg.suite == debian::archive::LOCAL_SUITE {
        return format!("pkg:deb/{name}@{version}?arch={arch}");
    }
    let mut out = format!("pkg:deb/debian/{name}@{version}?arch={arch}&distro=debian-{release}");
    if repositories.contains(&pkg.mirror) {
        out.push_str("&repository_url=");
        out.push_str(&purl_encode(&debian::sources::redact_userinfo(&pkg.mirror)));
    }
    out
}

/// The package URL of an upstream archive.
fn archive_purl(a: &ArchiveRecord) -> String {
    format!(
        "pkg:generic/{}@{}?download_url={}",
        purl_encode(&a.name),
        purl_encode(&a.version),
        purl_encode(&a.url)
    )
}

/// One package as the SBOM lists it.
pub struct Entry<'a> {
    pub package: &'a Package,
    pub facts: PackageFacts,
    /// For packages of which only some files are in the image: those files.
    pub partial: Option<Vec<String>>,
}

/// A file an application recipe copied into the image, with its digests (SPDX 2.3 requires
/// SHA-1 for files; SHA-256 is what anyone checks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopiedFile {
    /// The path in the image, with a leading `/`.
    pub path: String,
    /// The path the recipe asked for, when the image's links put the file elsewhere (`/bin/x`
    /// lands at `/usr/bin/x` on a merged-/usr image).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asked: Option<String>,
    pub size: u64,
    pub sha256: String,
    #[serde(skip)]
    pub sha1: String,
}

/// Everything an SBOM describes.
pub struct Subject<'a> {
    pub image: &'a str,
    pub arch: &'a str,
    pub release: u32,
    pub manifest_digest: &'a str,
    pub created: String,
    pub entries: Vec<Entry<'a>>,
    /// The application's own files.
    pub files: &'a [CopiedFile],
    /// Update suites the packages were resolved without.
    pub missing_suites: &'a [String],
    /// Third-party repositories packages may come from (named in their purls).
    pub repositories: &'a [String],
    /// Upstream archives unpacked into the image.
    pub archives: &'a [ArchiveRecord],
}

/// What the SBOMs of one image are about besides its packages: its name (the application's,
/// or the catalog image's), its manifest, its copied files and its time.
pub struct About<'a> {
    pub image: &'a str,
    pub manifest_digest: &'a str,
    pub files: &'a [CopiedFile],
    pub epoch: u64,
    pub archives: &'a [ArchiveRecord],
}

fn file_ref(path: &str) -> String {
    format!(
        "SPDXRef-File-{}",
        hex::encode(&Sha256::digest(path.as_bytes())[..8])
    )
}

fn spdx_ref(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let h = hex::encode(&Sha256::digest(name.as_bytes())[..4]);
    format!("SPDXRef-deb-{clean}-{h}")
}

fn content_id(subject: &Subject<'_>) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "{} {} {}\n",
        subject.image, subject.arch, subject.manifest_digest
    ));
    for e in &subject.entries {
        h.update(format!("{} {}\n", e.package.name, e.package.sha256));
    }
    for f in subject.files {
        h.update(format!("{} {}\n", f.path, f.sha256));
    }
    hex::encode(h.finalize())
}

fn download(pkg: &Package) -> String {
    // A local (file://) mirror is no place anyone else can download from.
    if pkg.mirror.starts_with("http://") || pkg.mirror.starts_with("https://") {
        debian::sources::redact_userinfo(&format!("{}{}", pkg.mirror, pkg.filename))
    } else {
        "NOASSERTION".into()
    }
}

/// The application as an SPDX package of its copied files: analysed, so it carries the
/// verification code SPDX defines (SHA-1 over the sorted SHA-1s of its files).
fn app_package(subject: &Subject<'_>) -> Value {
    use sha1::Digest as _;
    let mut sums: Vec<&str> = subject.files.iter().map(|f| f.sha1.as_str()).collect();
    sums.sort_unstable();
    let code = hex::encode(sha1::Sha1::digest(sums.concat().as_bytes()));
    let (name, tag) = subject
        .image
        .split_once(':')
        .unwrap_or((subject.image, "latest"));
    json!({
        "SPDXID": "SPDXRef-App",
        "name": name,
        "versionInfo": tag,
        "downloadLocation": "NOASSERTION",
        "supplier": "NOASSERTION",
        "filesAnalyzed": true,
        "packageVerificationCode": {"packageVerificationCodeValue": code},
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "APPLICATION",
    })
}

/// The CycloneDX 1.6 document.
pub fn cyclonedx(subject: &Subject<'_>) -> Value {
    let id = content_id(subject);
    let serial = format!(
        "urn:uuid:{}-{}-5{}-8{}-{}",
        &id[0..8],
        &id[8..12],
        &id[13..16],
        &id[17..20],
        &id[20..32]
    );
    let (name, tag) = subject
        .image
        .split_once(':')
        .unwrap_or((subject.image, "latest"));
    let mut components = Vec::new();
    let mut depends = Vec::new();
    for e in &subject.entries {
        let p = e.package;
        let purl = purl_from(p, subject.arch, subject.release, subject.repositories);
        let mut c = json!({
            "type": "library",
            "bom-ref": purl,
            "name": p.name,
            "version": p.version,
            "purl": purl,
            "hashes": [{"alg": "SHA-256", "content": p.sha256}],
        });
        if let Some(m) = &e.facts.maintainer {
            c["supplier"] = json!({"name": m});
        }
        if let Some(names) = &e.facts.licenses {
            let set = names.iter().cloned().collect();
            c["licenses"] = json!([{"expression": license::expression(&set)}]);
        }
        if !p.mirror.is_empty() {
            c["externalReferences"] = json!([{"type": "distribution", "url": download(p)}]);
        }
        if let Some(files) = &e.partial {
            c["properties"] =
                json!([{"name": "distroless:partial-files", "value": files.join(" ")}]);
        }
        depends.push(json!(purl));
        components.push(c);
    }
    for a in subject.archives {
        let purl = archive_purl(a);
        components.push(json!({
            "type": "library",
            "bom-ref": purl,
            "name": a.name,
            "version": a.version,
            "purl": purl,
            "hashes": [{"alg": "SHA-256", "content": a.sha256}],
            "externalReferences": [{"type": "distribution", "url": a.url}],
        }));
        depends.push(json!(purl));
    }
    for f in subject.files {
        let r = format!("file:{}", f.path);
        components.push(json!({
            "type": "file",
            "bom-ref": r,
            "name": f.path,
            "hashes": [{"alg": "SHA-256", "content": f.sha256}],
        }));
        depends.push(json!(r));
    }
    let mut bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial,
        "version": 1,
        "metadata": {
            "timestamp": subject.created,
            "tools": {"components": [{"type": "application", "name": "distroless", "version": env!("CARGO_PKG_VERSION")}]},
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": name,
                "version": tag,
                "hashes": [{"alg": "SHA-256", "content": subject.manifest_digest.trim_start_matches("sha256:")}],
            },
        },
        "components": components,
        "dependencies": [{"ref": "image", "dependsOn": depends}],
    });
    let note = missing_note(subject);
    if !note.is_null() {
        bom["metadata"]["properties"] =
            json!([{"name": "distroless:missing-suites", "value": note}]);
    }
    bom
}

/// The entries of a plan: every installed package (and partial ones), sorted by name.
pub fn entries<'a>(
    plan: &'a Plan,
    cache: &Cache,
    debs: &Debs<'_>,
    busybox: bool,
) -> anyhow::Result<Vec<Entry<'a>>> {
    let mut out = Vec::new();
    for tier in &plan.tiers {
        for p in &tier.packages {
            out.push(Entry {
                package: p,
                facts: facts(cache, debs, p)?,
                partial: None,
            });
        }
        for (p, files) in &tier.partial {
            out.push(Entry {
                package: p,
                facts: facts(cache, debs, p)?,
                partial: Some(files.clone()),
            });
        }
    }
    // Every image has the CA bundle, built from this package, and its copyright and record.
    let ca = &plan.ca_certificates;
    out.push(Entry {
        package: ca,
        facts: facts(cache, debs, ca)?,
        partial: Some(vec![
            format!(
                "usr/share/ca-certificates/*.crt (as /{})",
                crate::rootfs::cacerts::BUNDLE
            ),
            crate::rootfs::cacerts::copyright_path(&ca.name),
        ]),
    });
    if busybox && let Some(b) = &plan.busybox {
        out.push(Entry {
            package: b,
            facts: facts(cache, debs, b)?,
            partial: Some(vec!["bin/busybox (as /busybox/busybox)".into()]),
        });
    }
    out.sort_by(|a, b| a.package.name.cmp(&b.package.name));
    Ok(out)
}

/// One SBOM document to write next to the output.
pub struct Sbom {
    /// File name suffix: `spdx.json` or `cdx.json`.
    pub kind: &'static str,
    pub arch: String,
    pub bytes: Vec<u8>,
}

/// The SBOM documents of one architecture's image.
pub fn documents(
    formats: SbomFormats,
    plan: &Plan,
    (cache, debs): (&Cache, &Debs<'_>),
    debug: bool,
    about: &About<'_>,
) -> anyhow::Result<Vec<Sbom>> {
    if formats == SbomFormats::None {
        return Ok(Vec::new());
    }
    let subject = Subject {
        image: about.image,
        arch: plan.arch.debian(),
        release: plan.release,
        manifest_digest: about.manifest_digest,
        created: oci::image::rfc3339(about.epoch),
        entries: entries(plan, cache, debs, debug)?,
        files: about.files,
        missing_suites: &plan.missing_suites,
        repositories: &plan.repositories,
        archives: about.archives,
    };
    let mut out = Vec::new();
    if matches!(formats, SbomFormats::Spdx | SbomFormats::Both) {
        out.push(Sbom {
            kind: "spdx.json",
            arch: plan.arch.to_string(),
            bytes: serde_json::to_vec_pretty(&spdx(&subject))?,
        });
    }
    if matches!(formats, SbomFormats::CycloneDx | SbomFormats::Both) {
        out.push(Sbom {
            kind: "cdx.json",
            arch: plan.arch.to_string(),
            bytes: serde_json::to_vec_pretty(&cyclonedx(&subject))?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testing;

    fn subject(packages: &[Package]) -> Subject<'_> {
        Subject {
            image: "cc-debian13:latest",
            arch: "arm64",
            release: 13,
            manifest_digest: "sha256:abc",
            created: oci::image::rfc3339(0),
            entries: packages
                .iter()
                .map(|p| Entry {
                    package: p,
                    facts: PackageFacts {
                        maintainer: Some("GNU Libc Maintainers <x@example.invalid>".into()),
                        licenses: Some(vec!["GPL-2+".into(), "Odd-License".into()]),
                    },
                    partial: (p.name == "libc-bin").then(|| vec!["sbin/ldconfig".into()]),
                })
                .collect(),
            files: &[],
            missing_suites: &[],
            repositories: &[],
            archives: &[],
        }
    }

    #[test]
    fn documents_say_which_update_suites_were_missing() {
        let p = testing::package("libc6");
        let missing = vec!["bookworm-security".to_string()];
        let s = Subject {
            missing_suites: &missing,
            ..subject(std::slice::from_ref(&p))
        };
        assert!(
            spdx(&s)["comment"]
                .as_str()
                .unwrap()
                .contains("bookworm-security")
        );
        let cdx = cyclonedx(&s);
        assert_eq!(
            cdx["metadata"]["properties"][0]["name"],
            "distroless:missing-suites"
        );
        assert!(
            spdx(&subject(std::slice::from_ref(&p)))
                .get("comment")
                .is_none()
        );
    }

    #[test]
    fn purls_encode_and_name_the_distro() {
        let mut p = testing::package("libstdc++6");
        p.version = "14.2.0-19".into();
        assert_eq!(
            purl(&p, "arm64", 13),
            "pkg:deb/debian/libstdc%2B%2B6@14.2.0-19?arch=arm64&distro=debian-13"
        );
        p.architecture = "all".into();
        assert!(purl(&p, "arm64", 13).contains("arch=all"));
    }

    #[test]
    fn documents_are_reproducible_and_mark_partial_packages() {
        let pkgs = [testing::package("libc6"), testing::package("libc-bin")];
        let s = subject(&pkgs);
        assert_eq!(spdx(&s), spdx(&subject(&pkgs)));
        let doc = spdx(&s);
        assert_eq!(doc["packages"].as_array().unwrap().len(), 3);
        assert!(
            doc["packages"][2]["comment"]
                .as_str()
                .unwrap()
                .contains("sbin/ldconfig")
        );
        assert_eq!(
            doc["hasExtractedLicensingInfos"][0]["licenseId"],
            "LicenseRef-Odd-License"
        );
        let cdx = cyclonedx(&s);
        assert_eq!(
            cdx["serialNumber"],
            cyclonedx(&subject(&pkgs))["serialNumber"]
        );
        assert_eq!(
            cdx["components"][1]["properties"][0]["value"],
            "sbin/ldconfig"
        );
        assert_eq!(cdx["metadata"]["component"]["version"], "latest");
    }
}
