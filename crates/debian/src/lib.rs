//! Debian archive client.
//!
//! Everything this crate does is about Debian archives: finding the mirror the host uses,
//! verifying signed `InRelease` files, parsing `Packages` indexes, resolving dependencies,
//! fetching `.deb` files into a content-addressed cache and reading them as streams.
//! It never knows about container images: the `oci` crate and the product sit above it.

pub mod ar;
pub mod archive;
pub mod deb;
pub mod error;
pub mod fetch;
pub mod index;
pub mod release;
pub mod resolve;
pub mod sources;
pub mod version;

pub use error::{Error, Result};
