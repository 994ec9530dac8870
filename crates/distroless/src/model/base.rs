//! What an image starts from: a catalog image, `auto`, or an image on disk that we did not
//! build (and, next, one in a registry).

use std::path::{Path, PathBuf};

use super::catalog::{Catalog, ImageRef};
use super::release::DebianRelease;

/// The base of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// A catalog image (`cc-debian13:nonroot`).
    Catalog(ImageRef),
    /// The smallest image that runs the copied ELF programs, on `static` of this release.
    Auto(DebianRelease),
    /// An OCI layout, oci-archive or docker-archive on disk.
    Disk(DiskImage),
}

/// An image on disk: an OCI layout directory (optionally one tag of it), an oci-archive or a
/// docker-archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskImage {
    pub path: PathBuf,
    /// The `org.opencontainers.image.ref.name` to take from a layout (its first image if none).
    pub tag: Option<String>,
    /// How the user wrote it, for annotations and messages.
    pub shown: String,
    /// The repository it was pulled from, for an image from a registry (`team/shop`).
    pub repository: Option<String>,
}

impl DiskImage {
    /// `DIR`, `DIR:TAG`, `FILE.tar`, resolved against `dir`; a `:TAG` suffix is taken only when
    /// the part before it exists.
    pub fn parse(text: &str, dir: &Path) -> Self {
        // `./base` in the current directory is `./base`, not `././base`.
        let dir = if dir == Path::new(".") {
            Path::new("")
        } else {
            dir
        };
        let (path, tag) = match text.rsplit_once(':') {
            Some((p, t)) if dir.join(p).exists() && !t.contains('/') => {
                (dir.join(p), Some(t.to_string()))
            }
            // A layout's ref name may hold `/` and `:` (`family:distroless/cc-debian13:debug`).
            _ => match text.split_once(':') {
                Some((p, t)) if oci::layout::is_layout(&dir.join(p)) => {
                    (dir.join(p), Some(t.to_string()))
                }
                _ => (dir.join(text), None),
            },
        };
        DiskImage {
            path,
            tag,
            shown: text.to_string(),
            repository: None,
        }
    }

    /// Whether a recipe's `from` names an image on disk rather than a catalog image: `./x`,
    /// `/x`, `x.tar`, or an existing path that is not a catalog name.
    pub fn is_named_by(from: &str, dir: &Path, catalog: &Catalog) -> bool {
        from != "auto"
            && (from.starts_with('.')
                || from.starts_with('/')
                || from.ends_with(".tar")
                || (dir.join(from).exists() && ImageRef::parse(from, catalog).is_err()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_tags() {
        let dir = tempfile::tempdir().unwrap();
        fs_err::create_dir(dir.path().join("layout")).unwrap();
        let d = DiskImage::parse("layout:1.0", dir.path());
        assert_eq!(d.path, dir.path().join("layout"));
        assert_eq!(d.tag.as_deref(), Some("1.0"));
        let d = DiskImage::parse("missing:1.0", dir.path());
        assert_eq!(d.tag, None);
        let c = Catalog::embedded().unwrap();
        assert!(DiskImage::is_named_by("./x", dir.path(), &c));
        assert!(DiskImage::is_named_by("x.tar", dir.path(), &c));
        assert!(DiskImage::is_named_by("layout", dir.path(), &c));
        assert!(!DiskImage::is_named_by("cc:nonroot", dir.path(), &c));
        assert!(!DiskImage::is_named_by("auto", dir.path(), &c));
    }
}
