//! Flags several commands share, each declared once: the cache, the archive and its sources,
//! registries, layer limits, the audit policy.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::cli::env;

/// `--json`: declared once, flattened into every command that can print JSON.
#[derive(Debug, Args, Clone, Copy, Default)]
pub(crate) struct JsonArgs {
    /// Print the result as JSON on stdout (for a build's dry run, its plan).
    #[arg(long = "json")]
    pub(crate) on: bool,
}

/// The cache directory: declared once, flattened into every command that reads or writes the
/// cache (`$DISTROLESS_CACHE_DIR`).
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct CacheArgs {
    /// Cache directory. Default: $XDG_CACHE_HOME/distroless or ~/.cache/distroless.
    #[arg(long = "cache-dir", env = env::CACHE_DIR, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
}

impl CacheArgs {
    /// The directory the flag or environment names, else the default.
    pub(crate) fn path(&self) -> PathBuf {
        self.dir
            .clone()
            .unwrap_or_else(distroless::cache::Cache::default_dir)
    }
}

/// How to talk to registries.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Registry")]
pub(crate) struct RegistryArgs {
    /// Allow plain HTTP for a registry that is not on this machine (loopback registries may
    /// always use it).
    #[arg(long)]
    pub(crate) insecure: bool,
    /// Trust these PEM certificates too (a registry with its own CA); HTTPS is then used even
    /// on loopback.
    #[arg(long, value_name = "FILE")]
    pub(crate) ca_file: Option<PathBuf>,
    /// Blobs sent or fetched at once.
    #[arg(long, default_value = "4", value_name = "N")]
    pub(crate) jobs: usize,
    /// Attempts per request (408, 429, 5xx, resets and timeouts are retried with backoff).
    #[arg(long, default_value = "6", value_name = "N")]
    pub(crate) attempts: u32,
    /// The largest image pushed or pulled, in bytes of blobs.
    #[arg(long, default_value = "17179869184", value_name = "BYTES")]
    pub(crate) max_image_bytes: u64,
    /// Send blobs in PATCH chunks of this many bytes (for registries that refuse large
    /// requests) instead of one PUT each.
    #[arg(long, value_name = "BYTES")]
    pub(crate) chunk_size: Option<u64>,
}

/// How far a layer may expand when `inspect`, `audit` and `diff` read it.
#[derive(Debug, Args, Clone, Copy)]
#[command(next_help_heading = "Layer limits")]
pub(crate) struct ExpansionArgs {
    /// A layer may hold this many times its compressed size (at least 64 MiB): a small layer
    /// of compressed zeros cannot keep the reader busy for hours.
    #[arg(long, value_name = "RATIO", default_value_t = 1024)]
    pub(crate) max_layer_ratio: u64,
    /// A layer may hold at most this many bytes of tar.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 30)]
    pub(crate) max_layer_bytes: u64,
}

impl ExpansionArgs {
    pub(crate) fn limits(self) -> distroless::inspect::fs::Expansion {
        distroless::inspect::fs::Expansion {
            ratio: self.max_layer_ratio,
            max_bytes: self.max_layer_bytes,
        }
    }
}

/// The audit's policy, as flags.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Audit")]
pub(crate) struct PolicyArgs {
    /// A TOML policy file (skip = [rules], allow_busybox, max_bytes, max_compressed_bytes,
    /// forbidden_packages, allowed_packages).
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,
    /// Allow busybox below /busybox/ (the debug variants).
    #[arg(long)]
    pub(crate) allow_busybox: bool,
    /// Fail (not just warn) when the image runs as root.
    #[arg(long)]
    pub(crate) require_non_root: bool,
}

/// How audit findings are printed.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub(crate) enum ReportFormat {
    Human,
    Json,
    Sarif,
}

#[derive(Debug, Args)]
pub(crate) struct SourceArgs {
    /// Debian mirror URL (http://, https:// or file://). Default: the host's apt sources.
    #[arg(long, env = env::MIRROR, value_name = "URL")]
    pub(crate) mirror: Option<String>,

    /// Debian security mirror URL. Default: the host's apt sources, or derived from --mirror.
    #[arg(long, env = env::SECURITY_MIRROR, value_name = "URL")]
    pub(crate) security_mirror: Option<String>,

    /// Extra OpenPGP key file (binary or armored) trusted to sign InRelease files.
    #[arg(long, value_name = "FILE")]
    pub(crate) keyring: Vec<PathBuf>,

    /// Trust only the --keyring files, not Debian's embedded archive keys.
    #[arg(long)]
    pub(crate) no_default_keyring: bool,

    /// Accept releases past their Valid-Until date (for snapshot mirrors).
    #[arg(long)]
    pub(crate) allow_expired_release: bool,

    #[command(flatten)]
    pub(crate) cache: CacheArgs,

    /// Give up on a download attempt when the mirror sends nothing for this long (each
    /// download is tried 6 times, with backoff).
    #[arg(
        long,
        env = env::HTTP_TIMEOUT,
        default_value = "30",
        value_name = "SECONDS"
    )]
    pub(crate) http_timeout: u64,

    /// Where archive NAME of a recipe (or of a catalog image: `node`) is fetched from:
    /// NAME=URL, filling `{mirror}` in its URLs (repeatable; also
    /// $DISTROLESS_ARCHIVE_MIRROR=NAME=URL,…).
    #[arg(long, value_name = "NAME=URL", help_heading = "Sources beyond Debian")]
    pub(crate) archive_mirror: Vec<String>,

    /// The OpenPGP key (armored or binary) archive NAME's checksum file must be signed with:
    /// NAME=FILE, e.g. node=nodejs-release-keys.asc (repeatable; also $DISTROLESS_ARCHIVE_KEY).
    #[arg(long, value_name = "NAME=FILE", help_heading = "Sources beyond Debian")]
    pub(crate) archive_key: Vec<String>,

    /// Where apt repository NAME of a recipe (or of a catalog image: `adoptium`) is:
    /// NAME=URL (repeatable; also $DISTROLESS_REPOSITORY).
    #[arg(long, value_name = "NAME=URL", help_heading = "Sources beyond Debian")]
    pub(crate) repository: Vec<String>,

    /// The only key repository NAME's InRelease may be signed with: NAME=FILE (repeatable;
    /// also $DISTROLESS_REPOSITORY_KEY).
    #[arg(long, value_name = "NAME=FILE", help_heading = "Sources beyond Debian")]
    pub(crate) repository_key: Vec<String>,

    /// Build from the cache alone; fail with the list of what is missing.
    #[arg(long)]
    pub(crate) offline: bool,

    /// No progress bars.
    #[arg(short, long)]
    pub(crate) quiet: bool,

    /// Timestamp (seconds since the epoch) for every file and the image config.
    #[arg(
        long,
        env = env::SOURCE_DATE_EPOCH,
        default_value = "0",
        value_name = "SECONDS"
    )]
    pub(crate) source_date_epoch: u64,
}
