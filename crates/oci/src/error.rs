//! The one error type of the `oci` crate; every variant names the path or blob it is about.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while writing an image.
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
    #[error("layer entry {path:?}: {reason}")]
    Entry { path: String, reason: String },
    #[error("OCI metadata: {0}")]
    Spec(String),
    #[error("{path}: {reason}")]
    Layout { path: PathBuf, reason: String },
    /// A digest that is not a registered algorithm and its hex.
    #[error("digest {digest}: {reason}")]
    Digest { digest: String, reason: String },
    /// A blob of an image we did not build failed a check.
    #[error("{what}: {reason}")]
    Blob { what: String, reason: String },
    /// An image we did not build is malformed or unsafe.
    #[error("{image}: {reason}")]
    Foreign { image: String, reason: String },
}

impl Error {
    /// Wraps an io error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<oci_spec::OciSpecError> for Error {
    fn from(e: oci_spec::OciSpecError) -> Self {
        Error::Spec(e.to_string())
    }
}
