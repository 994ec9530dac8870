//! What maintainer scripts would have done, produced directly.
//!
//! Distroless images never run package scripts. The few effects that matter (accounts,
//! nsswitch, os-release, directories, the CA bundle, dpkg's package records, merged-/usr
//! links, busybox applet links) are generated here from data, deterministically.

pub mod busybox;
pub mod cacerts;
pub mod closure;
pub mod dpkg;
pub mod elf;
pub mod javacerts;
pub mod ldcache;
pub mod read_back;
pub mod skeleton;
pub mod tree;
pub mod view;

pub use tree::Tree;
