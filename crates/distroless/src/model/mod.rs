//! The product's domain values, each with one home: architectures, Debian releases, recipes,
//! the catalog and references to it, what an image starts from, where it goes, and the lock.
//! Plain data and parsing only: nothing here fetches, builds or prints.

pub mod arch;
pub mod base;
pub mod catalog;
pub mod destination;
pub mod lock;
pub mod matrix;
pub mod policy;
pub mod recipe;
pub mod release;
pub mod upstream;

pub use arch::Arch;
pub use base::{Base, DiskImage};
pub use catalog::{Catalog, ImageRef, Variant};
pub use destination::Destination;
pub use release::{DebianRelease, RELEASES};
pub use upstream::Upstreams;

/// Default `PATH` of every image.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Whether `name` is an image name as registries and engines take it: at most 128 bytes of
/// components of lowercase letters, digits and `.`, `_`, `-` (starting and ending with a letter
/// or digit), separated by `/`.
pub fn image_name_ok(name: &str) -> bool {
    let component_ok = |c: &str| {
        c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && c.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && c.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric())
    };
    name.len() <= 128 && name.split('/').all(component_ok)
}
