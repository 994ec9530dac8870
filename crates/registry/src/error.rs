//! Errors of the registry client. Each names the reference (or registry) and the problem in
//! one line; none carries a credential, a token or an `Authorization` header.

/// What went wrong talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Text that is not an image reference.
    #[error("{text:?}: not an image reference: {reason}")]
    Reference { text: String, reason: String },
    /// The registry answered, but not as the distribution spec says (or said no).
    #[error("{reference}: {message}")]
    Registry { reference: String, message: String },
    /// The registry has no such manifest or blob (HTTP 404).
    #[error("{reference}: {message}")]
    NotFound { reference: String, message: String },
    /// The registry wants credentials we do not have (or rejected the ones we sent).
    #[error("{reference}: {message}")]
    Unauthorized { reference: String, message: String },
    /// The network failed after every retry.
    #[error("{reference}: {message}")]
    Network { reference: String, message: String },
    /// Reading or writing local files, or a local image.
    #[error(transparent)]
    Oci(#[from] oci::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A credential store or helper failed.
    #[error("credentials: {0}")]
    Credentials(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn registry(reference: impl std::fmt::Display, message: impl Into<String>) -> Self {
        Error::Registry {
            reference: reference.to_string(),
            message: message.into(),
        }
    }
}
