//! The SPDX 2.3 document of one image: its packages, files and relationships.

#[allow(clippy::wildcard_imports)]
use super::*;

/// One Debian package as an SPDX package; license names SPDX does not know are collected in
/// `refs` (id → name).
fn spdx_package(
    e: &Entry<'_>,
    subject: &Subject<'_>,
    refs: &mut BTreeMap<String, String>,
) -> Value {
    let p = e.package;
    let declared = match &e.facts.licenses {
        Some(names) => {
            let set = names.iter().cloned().collect();
            for n in names {
                let id = license::spdx_id(n);
                if id.starts_with("LicenseRef-") {
                    refs.insert(id, n.clone());
                }
            }
            license::expression(&set)
        }
        None => "NOASSERTION".into(),
    };
    let mut pkg = json!({
        "SPDXID": spdx_ref(&p.name),
        "name": p.name,
        "versionInfo": p.version,
        "supplier": e.facts.maintainer.as_ref().map_or_else(|| "NOASSERTION".to_string(), |m| format!("Organization: {m}")),
        "downloadLocation": download(p),
        "filesAnalyzed": false,
        "checksums": [{"algorithm": "SHA256", "checksumValue": p.sha256}],
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": declared,
        "copyrightText": "NOASSERTION",
        "primaryPackagePurpose": "LIBRARY",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl_from(p, subject.arch, subject.release, subject.repositories),
        }],
    });
    if let Some(files) = &e.partial {
        pkg["comment"] = json!(format!(
            "partial: only these files of the package are in the image: {}",
            files.join(", ")
        ));
    }
    pkg
}

/// What the documents say about update suites the resolution went without.
pub(super) fn missing_note(subject: &Subject<'_>) -> Value {
    if subject.missing_suites.is_empty() {
        return Value::Null;
    }
    json!(format!(
        "resolved without {} (not published for {})",
        subject.missing_suites.join(", "),
        subject.arch
    ))
}

/// An upstream archive as an SPDX package, and its id.
fn archive_package(i: usize, a: &ArchiveRecord) -> (Value, String) {
    let id = format!("SPDXRef-Archive-{i}");
    let package = json!({
        "SPDXID": id,
        "name": a.name,
        "versionInfo": a.version,
        "downloadLocation": a.url,
        "filesAnalyzed": false,
        "supplier": "NOASSERTION",
        "checksums": [{"algorithm": "SHA256", "checksumValue": a.sha256}],
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": archive_purl(a),
        }],
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "comment": format!("upstream archive, unpacked at {}", a.dest),
    });
    (package, id)
}

/// The SPDX 2.3 document.
pub fn spdx(subject: &Subject<'_>) -> Value {
    let id = content_id(subject);
    let mut packages = vec![json!({
        "SPDXID": "SPDXRef-Image",
        "name": subject.image,
        "versionInfo": subject.manifest_digest,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "CONTAINER",
        "supplier": "NOASSERTION",
    })];
    let mut relationships = vec![json!({
        "spdxElementId": "SPDXRef-DOCUMENT",
        "relationshipType": "DESCRIBES",
        "relatedSpdxElement": "SPDXRef-Image",
    })];
    let mut refs: BTreeMap<String, String> = BTreeMap::new();
    for e in &subject.entries {
        packages.push(spdx_package(e, subject, &mut refs));
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": spdx_ref(&e.package.name),
        }));
    }
    for (i, a) in subject.archives.iter().enumerate() {
        let (package, id) = archive_package(i, a);
        packages.push(package);
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": id,
        }));
    }
    if !subject.files.is_empty() {
        packages.push(app_package(subject));
        relationships.push(json!({
            "spdxElementId": "SPDXRef-Image",
            "relationshipType": "CONTAINS",
            "relatedSpdxElement": "SPDXRef-App",
        }));
    }
    let files: Vec<Value> = subject
        .files
        .iter()
        .map(|f| {
            relationships.push(json!({
                "spdxElementId": "SPDXRef-App",
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": file_ref(&f.path),
            }));
            json!({
                "SPDXID": file_ref(&f.path),
                "fileName": format!(".{}", f.path),
                "checksums": [
                    {"algorithm": "SHA1", "checksumValue": f.sha1},
                    {"algorithm": "SHA256", "checksumValue": f.sha256},
                ],
                "licenseConcluded": "NOASSERTION",
                "copyrightText": "NOASSERTION",
            })
        })
        .collect();
    let mut doc = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{} ({})", subject.image, subject.arch),
        "documentNamespace": format!("https://spdx.org/spdxdocs/distroless-{id}"),
        "creationInfo": {
            "created": subject.created,
            "creators": [format!("Tool: distroless-{}", env!("CARGO_PKG_VERSION"))],
        },
        "documentDescribes": ["SPDXRef-Image"],
        "packages": packages,
        "relationships": relationships,
    });
    if !files.is_empty() {
        doc["files"] = Value::Array(files);
    }
    let note = missing_note(subject);
    if !note.is_null() {
        doc["comment"] = note;
    }
    if !refs.is_empty() {
        doc["hasExtractedLicensingInfos"] = refs
            .into_iter()
            .map(|(id, name)| json!({
                "licenseId": id,
                "name": name,
                "extractedText": format!("The Debian license \"{name}\"; see the package's /usr/share/doc/*/copyright"),
            }))
            .collect();
    }
    doc
}
