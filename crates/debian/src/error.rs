//! The one error type of the `debian` crate.
//!
//! Every variant names the file, URL or package it is about, so that a user reading a single
//! line knows what failed and where.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while talking to a Debian archive.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    IoPlain(#[from] std::io::Error),
    #[error("{url}: {message}")]
    Http { url: String, message: String },
    #[error("{url}: not found")]
    NotFound { url: String },
    #[error("{file}: signature verification failed: {reason}")]
    Signature { file: String, reason: String },
    #[error("{file}: release expired at {valid_until}")]
    Expired { file: String, valid_until: String },
    #[error("{file}: {reason}")]
    Release { file: String, reason: String },
    #[error("{file}: hash mismatch: expected sha256 {expected}, got {actual}")]
    HashMismatch {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("{file}: size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        file: String,
        expected: u64,
        actual: u64,
    },
    #[error("{file}: {reason}")]
    Index { file: String, reason: String },
    #[error("{0}")]
    Resolve(String),
    #[error("{file}: {reason}")]
    Deb { file: String, reason: String },
    #[error("{0}")]
    Sources(String),
    /// The host's apt configuration names no Debian mirror.
    #[error("no Debian mirror found in /etc/apt/sources.list or /etc/apt/sources.list.d")]
    NoMirror,
    /// A host that never sent a byte this run, given up on after idle timeouts in a row.
    /// `cached`: the cache holds what an earlier run fetched from it (`--offline` may build).
    #[error("{host}: the mirror sent nothing ({reason}); it is down or stalled")]
    Silent {
        host: String,
        reason: String,
        cached: bool,
    },
    /// Something an offline run needed is not in the cache.
    #[error("offline: {0}")]
    Offline(String),
}

impl Error {
    /// Wraps an io error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A malformed or unsafe `.deb`.
    pub fn deb(file: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Deb {
            file: file.into(),
            reason: reason.into(),
        }
    }
}
