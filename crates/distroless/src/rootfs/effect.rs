//! A rootfs effect: one thing a maintainer script would have done, made directly in the layer
//! that needs it. Each effect lives in its own file beside this one and says two things: what
//! it adds to a layer's tree ([`Effect::apply`]), and what the bytes it adds are made of
//! ([`Effect::key`], a line of the layer's cache key). A unit of `layers` carries a list of
//! them, applied in order after its packages; `layers` knows nothing of any one effect.
//!
//! Adding an effect: a file here with a type that implements [`Effect`], its `pub mod` in
//! `rootfs/mod.rs`, and the place in `layers/units.rs` that puts it in a unit. If it changes
//! the bytes of layers that exist, bump `layers::FORMAT`.

use std::path::PathBuf;

use debian::index::Package;

use super::Tree;

/// What an effect may read besides the tree: the plan's facts and its `.deb` files.
pub trait Inputs {
    /// The `.deb` of a package of the plan, in the cache, hash-checked.
    fn deb(&self, package: &Package) -> anyhow::Result<PathBuf>;
    /// The Debian release: its number and codename.
    fn release(&self) -> (u32, &str);
    /// `SOURCE_DATE_EPOCH`.
    fn epoch(&self) -> u64;
    /// The plan's `ca-certificates` package (the CA bundle's source).
    fn ca_certificates(&self) -> &Package;
    /// The plan's `busybox-static`, if its suites have one.
    fn busybox(&self) -> Option<&Package>;
}

/// One effect of a layer.
pub trait Effect: std::fmt::Debug + Send + Sync {
    /// Its name: in the layer key, and for tests and messages.
    fn name(&self) -> &'static str;
    /// Everything besides the unit's packages that shapes the bytes it adds (a package's
    /// hash, paths, link targets), as text for the layer's cache key.
    fn key(&self, inputs: &dyn Inputs) -> anyhow::Result<String>;
    /// Adds its entries to the tree of the layer being built.
    fn apply(&self, tree: &mut Tree, inputs: &dyn Inputs) -> anyhow::Result<()>;
}
