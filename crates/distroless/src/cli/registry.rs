//! `distroless push`, `pull`, `login`, `logout`, and the push of `build --push`: flags into a
//! registry client, images on disk opened with every digest checked, results printed.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::Ordering;

use anyhow::Context;
use distroless::cache::Cache;
use distroless::image::tagged_index;
use distroless::model::{Destination, DiskImage};
use distroless::output::{self, DockerImage};
use oci::layout::LayoutWriter;
use oci::read::ForeignImage;
use oci_spec::image::MediaType;
use registry::credentials::{self, Credential};
use registry::pull::PlatformFilter;
use registry::push::{Pushed, Seen};
use registry::{Client, Options, Reference};

use super::args::{FormatArg, LoginArgs, PullArgs, PushArgs, RegistryArgs};

/// A registry client as the flags say.
pub(crate) fn client(args: &RegistryArgs) -> anyhow::Result<Client> {
    Ok(Client::new(options(args)?)?)
}

/// The client options the flags give.
fn options(args: &RegistryArgs) -> anyhow::Result<Options> {
    anyhow::ensure!(args.jobs >= 1, "--jobs must be at least 1");
    Ok(Options {
        insecure: args.insecure,
        ca_file: args.ca_file.clone(),
        jobs: args.jobs,
        attempts: args.attempts.max(1),
        max_bytes: args.max_image_bytes,
        chunk_size: args.chunk_size,
        ..Options::default()
    })
}

/// The client of a shared cache repository: as the flags say, but one attempt per request,
/// ten idle seconds and thirty in all, so a repository that fails, does not answer or
/// trickles costs seconds (it is then left alone for the run) rather than the retries a push
/// deserves.
pub(crate) fn client_for_cache(args: &RegistryArgs) -> anyhow::Result<Client> {
    Ok(Client::new(Options {
        attempts: 1,
        idle_timeout: std::time::Duration::from_secs(10),
        deadline: Some(std::time::Duration::from_secs(30)),
        ..options(args)?
    })?)
}

/// Runs `distroless push`.
pub(crate) fn push(args: &PushArgs) -> anyhow::Result<()> {
    let disk = DiskImage::parse(&args.source, Path::new(""));
    let image = ForeignImage::open(&disk.path, disk.tag.as_deref())?;
    let mut refs = args
        .refs
        .iter()
        .map(|r| Reference::parse(r))
        .collect::<Result<Vec<_>, _>>()?;
    for t in &args.tag {
        anyhow::ensure!(registry::reference::tag_ok(t), "--tag {t:?}: not a tag");
        refs.push(refs[0].with_tag(t));
    }
    let client = client(&args.registry)?;
    let cache = args.cache_dir.clone().unwrap_or_else(Cache::default_dir);
    // Read (and check) the layout's signatures before anything is sent: a damaged one stops
    // the push before any tag names the image.
    let referrers = layout_referrers(&disk.path, &image)?;
    let pushed = push_image(&client, &image, &refs, args.arch_tags, &cache)?;
    let carried = carry_referrers(&client, &referrers, &refs)?;
    print_pushed(&client, &pushed, args.json, None)?;
    if carried > 0 && !args.json {
        println!("  {carried} signature/attestation referrer(s) carried along");
    }
    Ok(())
}

/// Signature and attestation artifacts (blobs, manifest) a layout holds for an image.
type Artifacts = Vec<(Vec<Vec<u8>>, Vec<u8>)>;

/// The referrers an OCI layout holds for `image` (signatures and attestations `--sign` wrote
/// into it), read whole and digest-checked; at most 256 MiB in all.
pub(crate) fn layout_referrers(dir: &Path, image: &ForeignImage) -> anyhow::Result<Artifacts> {
    use distroless::attest::verify::{LayoutStore, Store};
    const LIMIT: u64 = 256 << 20;
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let store = LayoutStore { dir };
    let subjects = image.index_blob.iter().chain(
        image
            .manifests
            .iter()
            .filter_map(|m| m.manifest_blob.as_ref()),
    );
    let mut artifacts = Vec::new();
    let mut total = 0u64;
    for s in subjects {
        for d in store.referrers(&s.digest)? {
            let digest: oci::digest::Digest = d["digest"]
                .as_str()
                .and_then(|x| x.parse().ok())
                .context("index.json: a referrer without a digest")?;
            let manifest = store
                .manifest(&digest.to_string())?
                .with_context(|| format!("referrer {digest}: its manifest is missing"))?;
            let doc: serde_json::Value = serde_json::from_slice(&manifest)
                .with_context(|| format!("referrer {digest}: not JSON"))?;
            let mut blobs = Vec::new();
            let parts = std::iter::once(&doc["config"])
                .chain(doc["layers"].as_array().into_iter().flatten());
            for b in parts {
                let bd: oci::digest::Digest = b["digest"]
                    .as_str()
                    .and_then(|x| x.parse().ok())
                    .with_context(|| format!("referrer {digest}: a blob without a digest"))?;
                if blobs
                    .iter()
                    .any(|x: &Vec<u8>| oci::digest::Digest::sha256_of(x) == bd)
                {
                    continue;
                }
                let bytes = store.blob(&bd, LIMIT - total)?;
                total += bytes.len() as u64;
                blobs.push(bytes);
            }
            artifacts.push((blobs, manifest));
        }
    }
    Ok(artifacts)
}

/// Pushes a layout's referrers to every reference's repository. Returns how many.
pub(crate) fn carry_referrers(
    client: &Client,
    artifacts: &Artifacts,
    refs: &[Reference],
) -> anyhow::Result<usize> {
    for r in repositories(refs) {
        for (blobs, manifest) in artifacts {
            registry::referrers::push(client, r, blobs, manifest)?;
        }
    }
    Ok(artifacts.len())
}

/// References, one per repository (signatures live beside the image in its repository,
/// whatever its tags).
pub(crate) fn repositories(refs: &[Reference]) -> Vec<&Reference> {
    let mut out: Vec<&Reference> = Vec::new();
    for r in refs {
        if !out
            .iter()
            .any(|x| x.registry == r.registry && x.repository == r.repository)
        {
            out.push(r);
        }
    }
    out
}

/// Pushes an image to every reference; where blobs were seen before is remembered in the
/// cache, so a blob pushed to one repository is mounted into the next.
pub(crate) fn push_image(
    client: &Client,
    image: &ForeignImage,
    refs: &[Reference],
    arch_tags: bool,
    cache: &Path,
) -> anyhow::Result<Vec<Pushed>> {
    Ok(registry::push::push(
        client,
        &seen(cache),
        image,
        refs,
        arch_tags,
    )?)
}

/// Where blobs were seen in registries, kept in the cache (a blob pushed to one repository is
/// mounted into the next, across runs).
pub(crate) fn seen(cache: &Path) -> Seen {
    Seen::persistent(&cache.join("registry-blobs-v1"))
}

/// One line per reference (`REF@DIGEST`), or JSON with what was sent (and the build, for
/// `build --push`).
pub(crate) fn print_pushed(
    client: &Client,
    pushed: &[Pushed],
    json: bool,
    build: Option<&distroless::output::BuildSummary>,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let c = &client.counters;
    if json {
        let doc = serde_json::json!({
            "build": build,
            "pushed": pushed,
            "blobs_sent": c.blobs_sent.load(Ordering::Relaxed),
            "blobs_skipped": c.blobs_skipped.load(Ordering::Relaxed),
            "blobs_mounted": c.blobs_mounted.load(Ordering::Relaxed),
            "bytes_sent": c.bytes_sent.load(Ordering::Relaxed),
            "requests": c.requests.load(Ordering::Relaxed),
        });
        super::print_json(&mut out, &doc)?;
        return Ok(());
    }
    for p in pushed {
        writeln!(out, "pushed {}@{}", p.reference, p.digest)?;
    }
    let sent = c.blobs_sent.load(Ordering::Relaxed);
    writeln!(
        out,
        "  {sent} blob{} sent ({:.2} MiB), {} already there, {} mounted",
        if sent == 1 { "" } else { "s" },
        c.bytes_sent.load(Ordering::Relaxed) as f64 / 1_048_576.0,
        c.blobs_skipped.load(Ordering::Relaxed),
        c.blobs_mounted.load(Ordering::Relaxed)
    )?;
    Ok(())
}

/// Runs `distroless pull`.
pub(crate) fn pull(args: &PullArgs) -> anyhow::Result<()> {
    let r = Reference::parse(&args.reference)?;
    let platform = args
        .platform
        .as_deref()
        .map(|p| {
            PlatformFilter::parse(p)
                .with_context(|| format!("--platform {p:?}: expected OS/ARCH[/VARIANT]"))
        })
        .transpose()?;
    let destination = Destination::from_path(args.output.clone(), args.format == FormatArg::Docker);
    let client = client(&args.registry)?;
    let digest = pull_into(&client, &r, &destination, platform.as_ref(), args.replace)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let doc = serde_json::json!({
            "reference": r.to_string(),
            "digest": digest,
            "output": args.output,
            "format": destination.format(),
            "bytes_received": client.counters.bytes_received.load(Ordering::Relaxed),
        });
        super::print_json(&mut out, &doc)?;
    } else {
        let shown = if r.digest.is_some() {
            r.to_string()
        } else {
            format!("{r}@{digest}")
        };
        writeln!(
            out,
            "pulled {shown} → {} ({})",
            args.output.display(),
            destination.format()
        )?;
    }
    Ok(())
}

/// Pulls an image into a destination (tagged with the reference's tag, named after its
/// repository); returns the digest of what was written.
pub(crate) fn pull_into(
    client: &Client,
    r: &Reference,
    destination: &Destination,
    platform: Option<&PlatformFilter>,
    replace: bool,
) -> anyhow::Result<String> {
    destination.check()?;
    let layout = LayoutWriter::new(destination.path())?;
    let pulled = registry::pull::pull(client, r, &layout, platform)?;
    let desc = oci::image::descriptor(
        MediaType::from(pulled.media_type.as_str()),
        &pulled.digest.to_string(),
        pulled.size,
    )?;
    let platform = pulled.platform.as_ref().map(|p| oci::image::Platform {
        architecture: p["architecture"].as_str().unwrap_or_default().to_string(),
        variant: p["variant"].as_str().map(str::to_string),
    });
    let tags = [r.tag_or_latest().to_string()];
    let name = r.repository.clone();
    let top = tagged_index(
        &layout,
        vec![(desc, platform)],
        &destination.ref_names(&name, &tags),
        destination.kept(replace),
    )?;
    let docker = match pulled.manifests.as_slice() {
        [m] => Some(DockerImage {
            config: m.config.to_string(),
            layers: m.layers.iter().map(ToString::to_string).collect(),
            repo_tags: vec![format!("{}/{name}:{}", r.registry, tags[0])],
        }),
        _ => None,
    };
    output::finish(layout, &top, destination, docker.as_ref())?;
    Ok(pulled.digest.to_string())
}

/// A registry image in the cache, pulled once under its digest (a tag costs one manifest
/// request; a digest none); returns its layout.
pub(crate) fn cached_pull(
    client: &Client,
    r: &Reference,
    cache: &Path,
) -> anyhow::Result<std::path::PathBuf> {
    let digest = match &r.digest {
        Some(d) => d.clone(),
        None => registry::pull::resolve(client, r)?,
    };
    let root = cache
        .join("images-v1")
        .join(digest.to_string().replace(':', "-"));
    if !root.join("index.json").is_file() {
        let pinned = Reference {
            digest: Some(digest.clone()),
            ..r.clone()
        };
        let destination = Destination::from_path(root.clone(), false);
        pull_into(client, &pinned, &destination, None, true)?;
    }
    Ok(root)
}

/// Opens an image named on the command line: an OCI layout (`DIR` or `DIR:TAG`), an
/// oci-archive or docker-archive, or a registry reference (pulled into the cache first).
pub(crate) fn open_any(
    text: &str,
    args: &RegistryArgs,
    cache: &Path,
) -> anyhow::Result<ForeignImage> {
    let disk = DiskImage::parse(text, Path::new(""));
    if disk.path.exists() || text.starts_with('.') || text.starts_with('/') {
        return Ok(ForeignImage::open(&disk.path, disk.tag.as_deref())?);
    }
    let r = Reference::parse(text)
        .with_context(|| format!("{text}: no such file, and not a registry reference"))?;
    let root = cached_pull(&client(args)?, &r, cache)?;
    Ok(ForeignImage::open(&root, None)?)
}

/// Runs `distroless login`: the password (or token) is read from standard input, checked
/// against the registry, then stored where later runs read it first.
pub(crate) fn login(args: &LoginArgs) -> anyhow::Result<()> {
    let registry = registry_host(&args.registry)?;
    let mut secret = String::new();
    std::io::stdin()
        .take(64 << 10)
        .read_to_string(&mut secret)
        .context("reading the password from standard input")?;
    let secret = secret.trim_end_matches(['\n', '\r']).to_string();
    anyhow::ensure!(
        !secret.is_empty(),
        "no password on standard input (printf %s \"$PASSWORD\" | distroless login {registry} -u {})",
        args.username
    );
    let probe = Reference::parse(&format!("{registry}/probe"))?;
    let credential = Credential::given(&args.username, &secret);
    let client = client(&args.registry_args)?.with_credential(&registry, credential.clone());
    let base = client.base(&probe);
    let refused =
        || anyhow::anyhow!("{registry}: the registry refused this user name and password");
    let resp = match client.send(&probe, &[], || Ok(client.http().get(&base))) {
        Err(registry::Error::Unauthorized { .. }) => return Err(refused()),
        other => other?,
    };
    if resp.status().as_u16() == 401 {
        return Err(refused());
    }
    anyhow::ensure!(
        resp.status().is_success(),
        "{registry}: the registry answered HTTP {} to the login check",
        resp.status()
    );
    let file = credentials::store(&registry, &credential)?;
    println!(
        "logged in to {registry} (credentials in {})",
        file.display()
    );
    Ok(())
}

/// A registry as `login`/`logout` take it: `HOST[:PORT]`, not a URL or a reference.
fn registry_host(text: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        !text.contains("://") && !text.contains('/'),
        "{text:?}: give the registry as HOST[:PORT] (no scheme, no repository)"
    );
    Ok(Reference::parse(&format!("{text}/probe"))?.registry)
}

/// Runs `distroless logout`.
pub(crate) fn logout(registry: &str) -> anyhow::Result<()> {
    let registry = registry_host(registry)?;
    let changed = credentials::erase(&registry)?;
    if changed.is_empty() {
        println!("no credentials were stored for {registry}");
    }
    for f in changed {
        println!("logged out of {registry} (removed from {})", f.display());
    }
    Ok(())
}
