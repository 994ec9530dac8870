//! distroless: build distroless container images straight from Debian packages.
//!
//! The library holds everything the `distroless` binary does, so that tests can drive each
//! stage alone: recipes and the catalog, the plan (indexes and resolution), the root
//! filesystem effects, and the build that ties them to OCI output.

pub mod app;
pub mod auto;
pub mod build;
pub mod catalog;
pub mod cli;
pub mod commands;
pub mod debug;
pub mod external;
pub mod foreign;
pub mod layers;
pub mod license;
pub mod lock;
pub mod plan;
pub mod platform;
pub mod prepare;
pub mod progress;
pub mod recipe;
pub mod rootfs;
pub mod sbom;
