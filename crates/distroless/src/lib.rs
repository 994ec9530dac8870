//! distroless: build distroless container images straight from Debian packages.
//!
//! The library holds everything the `distroless` binary does, in the order the data flows:
//! a typed [`request`] (recipe and flags merged by the binary), the domain [`model`], the
//! [`plan`] (verified indexes and resolution), the [`debs`] it needs, what an application adds
//! ([`app`]), the root file system effects ([`rootfs`]) built into [`layers`], the [`image`]
//! JSON around them, [`sbom`]s, and the [`output`]; [`foreign`] extends images we did not
//! build, and [`build`] only orchestrates. See ARCHITECTURE.md for the map and the rules.
//! Nothing in the library prints: it reports through [`report::Reporter`].

pub mod app;
pub mod attest;
pub mod build;
pub mod cache;
pub mod debs;
pub mod files;
pub mod finish;
pub mod foreign;
pub mod image;
pub mod inspect;
pub mod layers;
pub mod model;
pub mod output;
pub mod plan;
pub mod publish;
pub mod render;
pub mod report;
pub mod request;
pub mod rootfs;
pub mod sbom;
