//! `SourceArgs` (the flags every command that reads the archive shares) → the library's
//! `SourceSettings`, and the reporter that draws progress.

use std::io::IsTerminal;
use std::time::Duration;

use debian::fetch::Timeouts;

use distroless::cache::Cache;
use distroless::model::upstream::{UpstreamFlags, Upstreams};
use distroless::plan::SourceSettings;

use super::args::SourceArgs;
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
        cache_dir: args.cache_dir.clone().unwrap_or_else(Cache::default_dir),
        offline: args.offline,
        timeouts: Timeouts {
            idle: Duration::from_secs(args.http_timeout.max(1)),
            ..Timeouts::default()
        },
    })
}

/// Where the recipes' sources beyond Debian come from, as the flags and environment say.
pub(crate) fn upstreams(args: &SourceArgs) -> anyhow::Result<Upstreams> {
    Upstreams::read(&UpstreamFlags {
        archive_mirrors: args.archive_mirror.clone(),
        archive_keys: args.archive_key.clone(),
        repositories: args.repository.clone(),
        repository_keys: args.repository_key.clone(),
    })
}

/// Progress bars on a terminal unless quiet (or the output is JSON).
pub(crate) fn reporter(args: &SourceArgs, json: bool) -> BarReporter {
    BarReporter::new(!args.quiet && !json && std::io::stderr().is_terminal())
}
