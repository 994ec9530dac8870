//! OCI image building blocks.
//!
//! Deterministic layer tars, image config, manifest and index, and the two on-disk forms
//! (OCI image layout directory, oci-archive). This crate never knows what a Debian package is:
//! it takes paths, modes and bytes.

pub mod error;
pub mod image;
pub mod layer;
pub mod layout;

pub use error::{Error, Result};
