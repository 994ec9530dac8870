//! The one finish step of every build, whatever its base (a catalog image, `auto`, an image on
//! disk or from a registry): the tagged index, the audit of the staged image, `--dry-run`, the
//! evidence (SBOMs and provenance) made and kept in memory, and the destination written whole.
//!
//! Everything before this step only adds blobs to a staging layout; everything a user or a
//! later step (signing, pushing) sees is decided here, once.

use oci::layout::LayoutWriter;
use oci_spec::image::ImageIndex;

use crate::attest::{Evidence, provenance};
use crate::image::assemble::ArchImage;
use crate::image::{index_digest, tagged_index};
use crate::model::Destination;
use crate::output::{self, BuildSummary, DockerImage};
use crate::request::BuildRequest;

/// What the finish step needs besides the images: names, tags and the build's record.
pub struct Finish<'a> {
    pub req: &'a BuildRequest,
    /// The image's repository name: layout refs (`NAME:TAG`), docker `RepoTags`, provenance
    /// subjects.
    pub name: String,
    /// The tags, computed once by [`crate::request::Target::tags`].
    pub tags: Vec<String>,
    /// The image as the summary names it, and what it stands on.
    pub shown: String,
    pub base: Option<String>,
    pub record: Record,
}

/// What the build learnt on the way that the output records: the inputs fetched (for the
/// provenance), the base image it stands on, when it began, and the `--explain` lines.
pub struct Record {
    pub materials: Vec<provenance::Material>,
    /// The base as the provenance names it (an application's catalog image or image on disk).
    pub base: Option<String>,
    pub started: std::time::SystemTime,
    pub explain: Vec<String>,
}

/// Where a build stages its layout: beside the destination (renamed into place at the end),
/// or for a dry run in a private scratch directory removed with it. `build::run` has checked
/// the destination already.
pub fn staging(
    req: &BuildRequest,
) -> anyhow::Result<(LayoutWriter, Option<oci::staging::Scratch>)> {
    if req.dry_run {
        let scratch = oci::staging::private_scratch()?;
        let layout = LayoutWriter::new(&scratch.0.path().join("image"))?;
        return Ok((layout, Some(scratch)));
    }
    Ok((LayoutWriter::new(req.destination.path())?, None))
}

/// Finishes a build: index, audit, evidence, destination (nothing is written with
/// `--dry-run`, and the staged layout is dropped).
pub fn finish(
    layout: LayoutWriter,
    built: Vec<ArchImage>,
    f: Finish<'_>,
) -> anyhow::Result<BuildSummary> {
    let req = f.req;
    anyhow::ensure!(
        built.len() == 1 || !matches!(req.destination, Destination::DockerArchive(_)),
        "{}: a docker-archive holds one architecture and this image has {}: pick one",
        req.destination.path().display(),
        built.len()
    );
    let refs = match &req.matrix {
        Some(m) => (f.tags.iter())
            .map(|t| format!("{}:{t}", m.repository))
            .collect(),
        None => req.destination.ref_names(&f.name, &f.tags),
    };
    let manifests = (built.iter())
        .map(|b| (b.manifest.clone(), Some(b.platform.clone())))
        .collect();
    let top = tagged_index(&layout, manifests, &refs, req.destination.kept(req.replace))?;
    let index_digest = index_digest(&top)?;
    if let Some(policy) = &req.options.audit {
        audit_staged(&layout, &top, &f.tags, policy)?;
    }
    let top_digest = (top.manifests().first())
        .map(|d| d.digest().to_string())
        .unwrap_or_default();
    let evidence = evidence(&f, &built, &top_digest)?;
    let docker = match built.as_slice() {
        [one] => Some(DockerImage {
            repo_tags: f.tags.iter().map(|t| format!("{}:{t}", f.name)).collect(),
            ..one.docker.clone()
        }),
        _ => None,
    };
    let mut summary = BuildSummary {
        image: f.shown,
        base: f.base,
        output: req.destination.path().to_path_buf(),
        format: req.destination.format(),
        tags: f.tags,
        digest: top_digest,
        index_digest,
        manifests: built.into_iter().map(|b| b.summary).collect(),
        sboms: Vec::new(),
        provenance: None,
        explain: f.record.explain,
        dry_run: req.dry_run,
        evidence: None,
    };
    if req.dry_run {
        // The staged layout is dropped (and removed) here: nothing reaches the destination.
        drop(layout);
        summary.output = std::path::PathBuf::new();
        summary.evidence = Some(evidence.evidence);
        return Ok(summary);
    }
    write(layout, &top, req, docker.as_ref(), &evidence)?;
    summary.sboms = evidence.sboms.iter().map(|(p, _)| p.clone()).collect();
    summary.provenance = Some(evidence.provenance.0.clone());
    summary.evidence = Some(evidence.evidence);
    Ok(summary)
}

/// The evidence of a build, with the files it is written to.
struct Staged {
    sboms: Vec<(std::path::PathBuf, Vec<u8>)>,
    provenance: (std::path::PathBuf, Vec<u8>),
    evidence: Evidence,
}

/// SBOMs (beside the output, or in a matrix's evidence directory) and the provenance that
/// names them, made in memory.
fn evidence(f: &Finish<'_>, built: &[ArchImage], top: &str) -> anyhow::Result<Staged> {
    let req = f.req;
    let place = match &req.matrix {
        Some(m) => Destination::Layout(m.evidence.clone()),
        None => req.destination.clone(),
    };
    let multi = built.len() > 1;
    let mut sboms = Vec::new();
    let mut byproducts = Vec::new();
    let mut documents = Vec::new();
    for b in built {
        for doc in &b.sboms {
            let path = place.sbom_path(&doc.arch, doc.kind, multi);
            byproducts.push(provenance::Byproduct::of(&path, doc, &b.summary.digest));
            documents.push((doc, b.summary.digest.clone()));
            sboms.push((path, doc.bytes.clone()));
        }
    }
    let mut materials = f.record.materials.clone();
    for b in built {
        materials.extend(provenance::from_files(&b.summary.files));
    }
    // A recipe given only as flags has no file: the command line records it.
    let recipe = (req.target.app.as_ref())
        .filter(|a| !a.text.is_empty())
        .map(|a| (a.file.clone(), provenance::sha256_hex(a.text.as_bytes())));
    let statement = provenance::statement(
        &provenance::Build {
            image: &f.name,
            top,
            manifests: (built.iter())
                .map(|b| (b.summary.arch.clone(), b.summary.digest.clone()))
                .collect(),
            recipe: recipe.as_ref().map(|(f, d)| (f.as_str(), d.as_str())),
            base: f.record.base.as_deref(),
            request: req,
            started: f.record.started,
        },
        &materials,
        &byproducts,
    );
    let path = place.provenance_path();
    let bytes = statement.to_json();
    let evidence = Evidence::of_build(statement, &documents, path.clone())?;
    Ok(Staged {
        sboms,
        provenance: (path, bytes),
        evidence,
    })
}

/// Writes the output and its evidence: SBOMs and provenance are staged under temporary names
/// first and renamed beside the image only once the image is in place, so a failed or
/// interrupted build leaves none of them.
fn write(
    layout: LayoutWriter,
    top: &ImageIndex,
    req: &BuildRequest,
    docker: Option<&DockerImage>,
    evidence: &Staged,
) -> anyhow::Result<()> {
    let mut staged = Vec::new();
    for (path, bytes) in &evidence.sboms {
        staged.push((crate::files::stage(path, bytes)?, path));
    }
    let (path, bytes) = &evidence.provenance;
    let provenance = crate::files::stage(path, bytes)?;
    output::finish(layout, top, &req.destination, docker)?;
    for (tmp, path) in staged {
        tmp.persist(path)?;
    }
    provenance.persist(path)?;
    Ok(())
}

/// Audits the image in the staging directory; a finding stops the build before anything is
/// written. Certificates are judged against the build's clock, not `SOURCE_DATE_EPOCH`.
fn audit_staged(
    layout: &LayoutWriter,
    top: &ImageIndex,
    tags: &[String],
    policy: &crate::inspect::audit::Policy,
) -> anyhow::Result<()> {
    let root = layout.staged(top)?;
    let image = oci::read::ForeignImage::open(root, tags.first().map(String::as_str))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let findings: Vec<_> = crate::inspect::audit::audit_image(
        &image,
        policy,
        now,
        crate::inspect::fs::Expansion::default(),
    )?
    .into_iter()
    .filter(|(_, f)| f.level == crate::inspect::audit::Level::Error)
    .collect();
    if findings.is_empty() {
        Ok(())
    } else {
        Err(crate::inspect::audit::AuditFailed(findings).into())
    }
}
