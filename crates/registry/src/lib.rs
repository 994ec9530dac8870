//! A client of the OCI distribution protocol: references, credentials (Docker's and
//! containers' files, credential helpers), the authentication challenge, retries, and pushing
//! and pulling images with every digest checked.
//!
//! A crate of its own because its dependencies (HTTP, TLS, auth) are heavy and its border is
//! clean: it knows images only as `oci` reads and writes them, and nothing of Debian or of the
//! product.

pub mod client;
pub mod credentials;
pub mod error;
pub mod pull;
pub mod push;
pub mod reference;
pub mod referrers;
pub mod secrets;

pub use client::{Client, Options};
pub use error::{Error, Result};
pub use reference::Reference;
