//! A family of catalog images (a matrix file, or the whole catalog) built in one process and
//! published at once. One archive client and cache serve every image, so each index is read,
//! each package fetched and each layer built once, whatever number of images share it; every
//! image lands in one OCI layout under `REPOSITORY:TAG` (its SBOMs and provenance in
//! `OUT.evidence/`), then in a registry: every image's blobs and manifests first, every tag
//! last, so no tag of the family names an image before the whole family is there.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use oci::read::ForeignImage;
use registry::push::{Outgoing, Seen};
use registry::{Client, Reference};

use super::push::Sent;
use super::signed::{Image, sign_and_attest};
use crate::app::upstream::Upstream;
use crate::attest::Evidence;
use crate::model::matrix::Job;
use crate::model::{Arch, Base, Catalog, Destination, Upstreams};
use crate::plan::Source;
use crate::request::{Arches, BuildOptions, BuildRequest, MatrixPlace, Target};

/// An image left out of `--all`, and why (the sources it needs).
#[derive(Debug, serde::Serialize)]
pub struct Skipped {
    pub image: String,
    pub why: String,
}

/// One image of the family as built (and pushed).
#[derive(Debug, serde::Serialize)]
pub struct Row {
    pub reference: String,
    pub digest: String,
    pub arches: Vec<String>,
    pub layers: usize,
    pub seconds: f64,
    /// Where it was pushed, if it was.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pushed: Vec<String>,
    /// Pushed, and its tags named it already: nothing was sent.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub current: bool,
    /// Its SBOMs and provenance, in memory (what signing attests).
    #[serde(skip)]
    pub evidence: Option<Evidence>,
}

/// What every image of a family is built with.
pub struct Family<'a> {
    pub catalog: &'a Catalog,
    /// Empty: every architecture each release offers.
    pub arches: &'a [Arch],
    pub upstreams: &'a Upstreams,
    pub options: &'a BuildOptions,
    /// Replace the output layout instead of keeping its other tags.
    pub replace: bool,
}

impl Family<'_> {
    /// Builds every job with one `Source`, each into a private layout beside `out`, then
    /// joins them into `out` once (a growing shared layout would be re-linked by every image).
    pub fn build(&self, source: &Source<'_>, jobs: &[Job], out: &Path) -> anyhow::Result<Vec<Row>> {
        let parent = (out.parent())
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs_err::create_dir_all(parent)?;
        Destination::Layout(out.to_path_buf()).check()?;
        let parts_dir = crate::files::work_dir(parent, ".distroless-matrix")?;
        // Evidence is written beside each part, and moved beside the output with it.
        let staged = parts_dir.path().join("evidence");
        fs_err::create_dir_all(&staged)?;
        let mut rows = Vec::new();
        let mut parts = Vec::new();
        for (i, job) in jobs.iter().enumerate() {
            let part = parts_dir.path().join(i.to_string());
            let started = Instant::now();
            let req = self.request(job, &part, &staged);
            let summary = crate::build::build(source, self.catalog, &req)
                .map_err(|e| e.context(job.reference()))?;
            rows.push(Row {
                reference: job.reference(),
                digest: summary.digest,
                arches: summary.manifests.iter().map(|m| m.arch.clone()).collect(),
                layers: (summary.manifests.iter())
                    .map(|m| m.layers)
                    .max()
                    .unwrap_or(0),
                seconds: started.elapsed().as_secs_f64(),
                pushed: Vec::new(),
                current: false,
                evidence: summary.evidence,
            });
            parts.push(part);
        }
        crate::output::join_layouts(&parts, out, self.replace)?;
        let evidence = evidence_dir(out);
        if self.replace && evidence.is_dir() {
            fs_err::remove_dir_all(&evidence)?;
        }
        fs_err::create_dir_all(&evidence)?;
        for e in fs_err::read_dir(&staged)? {
            let e = e?;
            fs_err::rename(e.path(), evidence.join(e.file_name()))?;
        }
        Ok(rows)
    }

    /// The request of one image: built whole into its own part, named `REPOSITORY:TAG`, its
    /// evidence in the family's evidence directory.
    fn request(&self, job: &Job, part: &Path, evidence: &Path) -> BuildRequest {
        BuildRequest {
            target: Target {
                base: Base::Catalog(job.image.clone()),
                app: None,
                arches: if self.arches.is_empty() {
                    Arches::AllOffered
                } else {
                    Arches::Listed(self.arches.to_vec())
                },
                lock: None,
                upstreams: self.upstreams.clone(),
            },
            destination: Destination::Layout(part.to_path_buf()),
            options: self.options.clone(),
            replace: true,
            dry_run: false,
            matrix: Some(MatrixPlace {
                repository: job.repository.clone(),
                evidence: evidence.join(evidence_name(job)),
            }),
        }
    }
}

/// The jobs whose sources beyond Debian are all given (with `all`, the others are skipped and
/// returned with the sources they need; a matrix that names such an image fails).
pub fn runnable(
    catalog: &Catalog,
    jobs: Vec<Job>,
    upstreams: &Upstreams,
    arches: &[Arch],
    all: bool,
) -> anyhow::Result<(Vec<Job>, Vec<Skipped>)> {
    // Sources depend on the image alone, not its release or tag: checked once per image.
    let mut ready: std::collections::BTreeMap<String, bool> = std::collections::BTreeMap::new();
    let mut keep = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    for job in jobs {
        let name = &job.image.name;
        if !ready.contains_key(name) {
            let chain = catalog.chain(name)?;
            let checked = Upstream::prepare(&chain, None, upstreams)
                .and_then(|u| arches.iter().try_for_each(|&a| u.check(a, upstreams)));
            let ok = match checked {
                Ok(()) => true,
                Err(e) if all => {
                    skipped.push(Skipped {
                        image: name.clone(),
                        why: format!("{e:#}"),
                    });
                    false
                }
                Err(e) => return Err(e.context(job.reference())),
            };
            ready.insert(name.clone(), ok);
        }
        if ready[name] {
            keep.push(job);
        }
    }
    Ok((keep, skipped))
}

/// `OUT.evidence`: where a family's SBOMs and provenance go.
pub fn evidence_dir(out: &Path) -> PathBuf {
    PathBuf::from(format!("{}.evidence", out.display()))
}

/// `distroless_static-debian12_latest`: the stem of an image's evidence files.
pub fn evidence_name(job: &Job) -> String {
    format!("{}_{}", job.repository.replace('/', "_"), job.tag)
}

/// With `arch_tags`, each platform's manifest is also tagged `TAG-ARCH` (as OCI names the
/// architecture): those references of a job.
pub fn arch_references(job: &Job, arches: &[Arch], arch_tags: bool) -> Vec<String> {
    (arches.iter())
        .filter(|_| arch_tags)
        .map(|a| format!("{}-{}", job.reference(), a.platform().architecture))
        .collect()
}

/// `PREFIX/REPOSITORY:TAG` of a job.
pub fn target_of(prefix: &str, job: &Job) -> anyhow::Result<Reference> {
    Ok(Reference::parse(&format!(
        "{}/{}",
        prefix.trim_end_matches('/'),
        job.reference()
    ))?)
}

/// A registry error, named after the image it concerns.
fn about(job: &Job) -> impl Fn(registry::Error) -> anyhow::Error + '_ {
    move |e| anyhow::Error::new(e).context(job.reference())
}

/// Pushes every image of the layout `out` to `PREFIX/REPOSITORY:TAG`: every image's blobs and
/// manifests under their digests first (unless its tag names it already: one HEAD), then every
/// tag. A blob shared by many images is sent once (later images find it in the registry).
pub fn push(
    client: &Client,
    seen: &Seen,
    (out, prefix): (&Path, &str),
    jobs: &[Job],
    rows: &mut [Row],
    arch_tags: bool,
) -> anyhow::Result<Sent> {
    let images: Vec<ForeignImage> = (jobs.iter())
        .map(|j| ForeignImage::open(out, Some(&j.reference())))
        .collect::<Result<_, _>>()?;
    let targets: Vec<Reference> = (jobs.iter())
        .map(|j| target_of(prefix, j))
        .collect::<anyhow::Result<_>>()?;
    let mut outgoing = Vec::new();
    for ((job, image), target) in jobs.iter().zip(&images).zip(&targets) {
        let o = Outgoing::new(client, image).map_err(about(job))?;
        let current = !arch_tags && o.all_current(client, &[target]).map_err(about(job))?;
        if !current {
            o.send_content(client, seen, target).map_err(about(job))?;
        }
        outgoing.push((o, current));
    }
    for (((job, row), (o, current)), target) in (jobs.iter().zip(rows.iter_mut()))
        .zip(&outgoing)
        .zip(&targets)
    {
        let pushed = if *current {
            o.as_they_are(&[target])
        } else {
            o.put_tags(client, &[target], arch_tags)
                .map_err(about(job))?
        };
        row.pushed = pushed.into_iter().map(|p| p.reference).collect();
        row.current = *current;
    }
    Ok(Sent::of(client))
}

/// What a publish would change for one image.
#[derive(Debug, serde::Serialize)]
pub struct Change {
    pub reference: String,
    /// `new` (the registry has no such tag), `changed` (it names another image) or
    /// `unchanged`.
    pub status: &'static str,
    pub was: Option<String>,
    pub digest: String,
}

/// The "config diff" of a publish: every image against what its tag names in the registry
/// now. Nothing is sent.
pub fn changes(
    client: &Client,
    prefix: &str,
    jobs: &[Job],
    rows: &[Row],
) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    for (job, row) in jobs.iter().zip(rows) {
        let target = target_of(prefix, job)?;
        let (status, was) = match registry::pull::resolve(client, &target) {
            Ok(d) if d.to_string() == row.digest => ("unchanged", Some(d.to_string())),
            Ok(d) => ("changed", Some(d.to_string())),
            Err(registry::Error::NotFound { .. }) => ("new", None),
            Err(e) => return Err(anyhow::Error::new(e).context(job.reference())),
        };
        out.push(Change {
            reference: target.to_string(),
            status,
            was,
            digest: row.digest.clone(),
        });
    }
    Ok(out)
}

/// How a family's images are signed and attested.
pub struct Signing {
    pub key: sign::KeyPair,
    pub sign: bool,
    pub attest: bool,
}

impl Signing {
    /// Signs and attests every image where it went: in the registry (after every tag is
    /// there) and in the layout kept on disk. Returns how many artifacts were stored.
    pub fn apply(
        &self,
        client: &Rc<Client>,
        (layout, prefix): (Option<&Path>, Option<&str>),
        jobs: &[Job],
        rows: &[Row],
    ) -> anyhow::Result<usize> {
        let mut stored = 0;
        for (job, row) in jobs.iter().zip(rows) {
            let evidence = row.evidence.as_ref().filter(|_| self.attest);
            let mut places = Vec::new();
            if let Some(prefix) = prefix {
                let reference = target_of(prefix, job)?;
                // An image the registry had already, signed already, is not signed again
                // (each run would add another signature and attestation to it).
                if !(row.current && self.already_there(client, &reference, &row.digest)) {
                    places.push(Image::Registry {
                        client: Rc::clone(client),
                        reference,
                    });
                }
            }
            if let Some(dir) = layout {
                places.push(Image::Layout {
                    dir: dir.to_path_buf(),
                    tag: Some(job.reference()),
                });
            }
            for image in &places {
                stored += sign_and_attest(image, &self.key, self.sign, evidence)
                    .map_err(|e| e.context(job.reference()))?
                    .len();
            }
        }
        Ok(stored)
    }

    /// Whether the registry holds, for this image, a signature this key made (and, when
    /// attesting, a provenance attestation): a new key or a damaged signature is signed again.
    fn already_there(&self, client: &Client, r: &Reference, digest: &str) -> bool {
        use crate::attest::verify::{Ask, RegistryStore, verify};
        if !self.sign {
            // Attestations alone are made again (nothing to check them against cheaply).
            return false;
        }
        let public = self.key.public();
        let wanted = if self.attest {
            vec![sign::statement::Predicate::Slsa]
        } else {
            Vec::new()
        };
        let ask = Ask {
            key: &public,
            repository: None,
            top: digest,
            manifests: &[],
            wanted: &wanted,
        };
        verify(
            &RegistryStore {
                client,
                reference: r,
            },
            &ask,
        )
        .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(image: &str, repository: &str, tag: &str) -> Job {
        let catalog = Catalog::embedded().unwrap();
        Job {
            image: crate::model::ImageRef::parse(image, &catalog).unwrap(),
            repository: repository.to_string(),
            tag: tag.to_string(),
        }
    }

    #[test]
    fn images_are_named_under_the_prefix_and_their_evidence_by_repository_and_tag() {
        let j = job("static-debian12", "distroless/static-debian12", "nonroot");
        assert_eq!(
            target_of("127.0.0.1:5000/mirror/", &j).unwrap().to_string(),
            "127.0.0.1:5000/mirror/distroless/static-debian12:nonroot"
        );
        assert_eq!(evidence_name(&j), "distroless_static-debian12_nonroot");
        assert_eq!(
            evidence_dir(Path::new("out/family")),
            Path::new("out/family.evidence")
        );
    }

    #[test]
    fn a_family_request_builds_each_image_whole_into_its_own_part() {
        let catalog = Catalog::embedded().unwrap();
        let options = BuildOptions::default();
        let family = Family {
            catalog: &catalog,
            arches: &[],
            upstreams: &Upstreams::default(),
            options: &options,
            replace: false,
        };
        let j = job("cc-debian13", "distroless/cc-debian13", "latest");
        let req = family.request(&j, Path::new("/p/0"), Path::new("/p/evidence"));
        assert!(req.replace && !req.dry_run);
        assert_eq!(req.target.arches, Arches::AllOffered);
        let place = req.matrix.unwrap();
        assert_eq!(place.repository, "distroless/cc-debian13");
        assert_eq!(
            place.evidence,
            Path::new("/p/evidence/distroless_cc-debian13_latest")
        );
    }
}
