//! What maintainer scripts would have done, produced directly.
//!
//! Distroless images never run package scripts. The few effects that matter (accounts,
//! nsswitch, os-release, directories, the CA bundle, dpkg's package records, merged-/usr
//! links, busybox applet links) are generated here from data, deterministically.

pub mod busybox;
pub mod cacerts;
pub mod dpkg;
pub mod skeleton;
pub mod tree;

pub use tree::Tree;
