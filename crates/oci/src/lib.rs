//! OCI image building blocks.
//!
//! Deterministic layer tars, image config, manifest and index, the on-disk forms (OCI image
//! layout directory, oci-archive, docker-archive), and a reader for images we did not build
//! that checks every digest, path and size before anything uses them. This crate never knows what a Debian package is:
//! it takes paths, modes and bytes.

pub mod digest;
pub mod error;
pub mod image;
pub mod layer;
pub mod layout;
pub mod read;
pub mod retag;
pub mod staging;
mod unpack;
pub mod untar;

pub use error::{Error, Result};
