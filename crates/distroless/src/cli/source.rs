//! `SourceArgs` (the flags every command that reads the archive shares) → the library's
//! `SourceSettings`, and the reporter that draws progress.

use std::io::IsTerminal;
use std::time::Duration;

use debian::fetch::Timeouts;

use distroless::cache::remote::Remote;
use distroless::model::upstream::Upstreams;
use distroless::plan::SourceSettings;

use super::args::{BuildArgs, SourceArgs};
use super::progress::BarReporter;

/// The settings the flags and environment give.
pub(crate) fn settings(args: &SourceArgs) -> anyhow::Result<SourceSettings> {
    anyhow::ensure!(
        !(args.no_default_keyring && args.keyring.is_empty()),
        "no trusted keys: --no-default-keyring needs --keyring FILE"
    );
    Ok(SourceSettings {
        mirror: args.mirror.clone(),
        security_mirror: args.security_mirror.clone(),
        keyrings: args.keyring.clone(),
        no_default_keyring: args.no_default_keyring,
        allow_expired_release: args.allow_expired_release,
        cache_dir: args.cache.path(),
        offline: args.offline,
        timeouts: Timeouts {
            idle: Duration::from_secs(args.http_timeout.max(1)),
            ..Timeouts::default()
        },
        cache_repo: None,
    })
}

/// The settings of a build: the source flags' and the shared cache repository (`--cache-repo`).
pub(crate) fn build_settings(args: &BuildArgs) -> anyhow::Result<SourceSettings> {
    let mut s = settings(&args.source)?;
    // An empty value (`DISTROLESS_CACHE_REPO=` in CI) means none; offline, the network is
    // not used at all.
    if let Some(repo) = args
        .cache_repo
        .as_deref()
        .filter(|r| !r.is_empty() && !s.offline)
    {
        // One attempt, ten idle seconds: a cache that does not answer must not hold the build.
        let client = super::registry::client_for_cache(&args.registry)?;
        let seen = distroless::publish::push::seen(&s.cache_dir);
        let remote = Remote::new(client, repo, seen, args.dry_run)?;
        s.cache_repo = Some(std::sync::Arc::new(remote));
    }
    Ok(s)
}

/// What the shared cache repository did, on stderr (stdout may be JSON): a failure always,
/// the counts unless quiet.
pub(crate) fn report_cache_repo(settings: &SourceSettings, quiet: bool) {
    let Some(r) = &settings.cache_repo else {
        return;
    };
    if let Some(failure) = r.failure() {
        let text = super::redact(&format!("cache repository {}: {failure}", r.name()));
        eprintln!("warning: {text}");
    }
    if !quiet {
        let s = r.stats();
        eprintln!(
            "cache repository {}: {} found, {} not found, {} stored, {:.1} MB of layers fetched",
            r.name(),
            s.hits,
            s.misses,
            s.stored,
            s.layer_bytes_fetched as f64 / 1e6
        );
    }
}

/// Where the recipes' sources beyond Debian come from, as the flags and environment say.
pub(crate) fn upstreams(args: &SourceArgs) -> anyhow::Result<Upstreams> {
    super::upstreams::read(args)
}

/// Progress bars on a terminal unless quiet (or the output is JSON).
pub(crate) fn reporter(args: &SourceArgs, json: bool) -> BarReporter {
    BarReporter::new(
        !args.quiet && !json && std::io::stderr().is_terminal(),
        args.quiet,
    )
}
