//! Every environment variable the binary reads, in one place: clap reads most of them as the
//! default of a flag (`env = env::MIRROR`); the rest are read here. The library reads none
//! (the cache's default directory follows `$XDG_CACHE_HOME`, as every tool's does).

pub(crate) const CACHE_DIR: &str = "DISTROLESS_CACHE_DIR";
pub(crate) const CACHE_REPO: &str = "DISTROLESS_CACHE_REPO";
pub(crate) const MIRROR: &str = "DISTROLESS_MIRROR";
pub(crate) const SECURITY_MIRROR: &str = "DISTROLESS_SECURITY_MIRROR";
pub(crate) const HTTP_TIMEOUT: &str = "DISTROLESS_HTTP_TIMEOUT";
pub(crate) const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";
/// `NAME=URL,…`: archive mirrors (as `--archive-mirror`).
pub(crate) const ARCHIVE_MIRROR: &str = "DISTROLESS_ARCHIVE_MIRROR";
/// `NAME=FILE,…`: archive checksum keys (as `--archive-key`).
pub(crate) const ARCHIVE_KEY: &str = "DISTROLESS_ARCHIVE_KEY";
/// `NAME=URL,…`: repositories (as `--repository`).
pub(crate) const REPOSITORY: &str = "DISTROLESS_REPOSITORY";
/// `NAME=FILE,…`: repository keys (as `--repository-key`).
pub(crate) const REPOSITORY_KEY: &str = "DISTROLESS_REPOSITORY_KEY";
/// The password of a private key (else it is read from standard input).
pub(crate) const PASSWORD: &str = "DISTROLESS_PASSWORD";

/// A variable's value (empty when unset or not UTF-8).
pub(crate) fn value(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}
