//! Errors of the libraries say what went wrong; the flag that changes it is the binary's
//! business. This adds it at the end of the one error line.

use distroless::image::assemble::MissingLibraries;

/// The flag (or variable) that would change the outcome of an error, if any.
pub(crate) fn hint(e: &anyhow::Error) -> Option<&'static str> {
    e.chain().find_map(|c| {
        if c.downcast_ref::<MissingLibraries>().is_some() {
            return Some("use --allow-missing to build anyway");
        }
        match c.downcast_ref::<debian::Error>()? {
            debian::Error::Expired { .. } => {
                Some("use --allow-expired-release for snapshot mirrors")
            }
            debian::Error::Offline(_) => Some("run once without --offline"),
            debian::Error::Silent { cached: true, .. } => {
                Some("the cache holds this mirror's last answers: --offline builds from them")
            }
            debian::Error::NoMirror => {
                Some("pass a mirror with --mirror URL or DISTROLESS_MIRROR=URL")
            }
            _ => None,
        }
    })
}
