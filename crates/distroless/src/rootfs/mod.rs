//! What maintainer scripts would have done, produced directly.
//!
//! Distroless images never run package scripts. The few effects that matter (accounts,
//! nsswitch, os-release, directories, the CA bundle, dpkg's package records, merged-/usr
//! links, busybox applet links) are generated here from data, deterministically. Those a layer
//! adds after its packages are [`effect::Effect`]s, one file each, each with its part of the
//! layer's cache key.

pub mod busybox;
pub mod cacerts;
pub mod closure;
pub mod dpkg;
pub mod effect;
pub mod elf;
pub mod javacerts;
pub mod ldcache;
pub mod read_back;
pub mod skeleton;
pub mod tier_files;
pub mod tree;
pub mod view;

pub use tree::Tree;
