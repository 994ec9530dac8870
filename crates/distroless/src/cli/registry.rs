//! `distroless push`, `pull`, `login`, `logout`: flags into a registry client and calls of
//! [`distroless::publish`], results printed.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::Ordering;

use anyhow::Context;
use distroless::model::{Destination, DiskImage};
use distroless::publish::{login, pull, push};
use oci::read::ForeignImage;
use registry::credentials::{self, Credential};
use registry::pull::PlatformFilter;
use registry::push::Pushed;
use registry::{Client, Options, Reference};

use super::args::{LoginArgs, PullArgs, PushArgs, RegistryArgs};

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
    let cache = args.cache.path();
    // Read (and check) the layout's signatures before anything is sent: a damaged one stops
    // the push before any tag names the image.
    let referrers = push::layout_referrers(&disk.path, &image)?;
    let pushed = push::push_image(&client, &image, &refs, args.arch_tags, &cache)?;
    let carried = push::carry_referrers(&client, &referrers, &refs)?;
    print_pushed(&client, &pushed, args.json.on, None)?;
    if carried > 0 && !args.json.on {
        println!("  {carried} signature/attestation referrer(s) carried along");
    }
    Ok(())
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
    if json {
        let c = push::Sent::of(client);
        let doc = serde_json::json!({
            "build": build,
            "pushed": pushed,
            "blobs_sent": c.blobs_sent,
            "blobs_skipped": c.blobs_skipped,
            "blobs_mounted": c.blobs_mounted,
            "bytes_sent": c.bytes_sent,
            "requests": c.requests,
        });
        super::print_json(&mut out, &doc)?;
        return Ok(());
    }
    distroless::render::publish::pushed(&mut out, pushed, &push::Sent::of(client))
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
    let destination = Destination::from_path(args.output.clone(), args.format.into());
    let client = client(&args.registry)?;
    let digest = pull::pull_into(&client, &r, &destination, platform.as_ref(), args.replace)?;
    let mut out = std::io::stdout().lock();
    if args.json.on {
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

/// Opens an image named on the command line: on disk, or a registry reference pulled into
/// the cache first.
pub(crate) fn open_any(
    text: &str,
    args: &RegistryArgs,
    cache: &Path,
) -> anyhow::Result<ForeignImage> {
    pull::open_any(text, || client(args), cache)
}

/// Runs `distroless login`: the password (or token) is read from standard input, checked
/// against the registry, then stored where later runs read it first.
pub(crate) fn login(args: &LoginArgs) -> anyhow::Result<()> {
    let registry = login::registry_host(&args.registry)?;
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
    let credential = Credential::given(&args.username, &secret);
    let client = client(&args.registry_args)?.with_credential(&registry, credential.clone());
    distroless::publish::login::check(&client, &registry)?;
    let file = credentials::store(&registry, &credential)?;
    println!(
        "logged in to {registry} (credentials in {})",
        file.display()
    );
    Ok(())
}

/// Runs `distroless logout`.
pub(crate) fn logout(registry: &str) -> anyhow::Result<()> {
    let registry = login::registry_host(registry)?;
    let changed = credentials::erase(&registry)?;
    if changed.is_empty() {
        println!("no credentials were stored for {registry}");
    }
    for f in changed {
        println!("logged out of {registry} (removed from {})", f.display());
    }
    Ok(())
}
