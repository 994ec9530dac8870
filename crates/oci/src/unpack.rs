//! oci-archives and docker-archives unpacked into a private temporary directory to be read
//! as layouts: directories and regular files only, every path checked to stay inside, the
//! tar read by `untar` as runtimes read it.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::digest::shown;
use crate::error::{Error, Result};
use crate::untar;

/// Why unpacking stopped: the tar itself, or writing what it holds.
enum Failed {
    Tar(untar::TarError),
    Other(Error),
}

impl From<untar::TarError> for Failed {
    fn from(e: untar::TarError) -> Self {
        Failed::Tar(e)
    }
}

/// Unpacks an archive into a private temporary directory: directories and regular files only,
/// every path checked to stay inside.
pub(crate) fn unpack(
    archive: &Path,
    name: &str,
) -> Result<(tempfile::TempDir, crate::staging::Registered)> {
    let bad = |reason: String| Error::Foreign {
        image: name.to_string(),
        reason,
    };
    // Private (0700), removed by the signal handler if the run is interrupted, and swept by
    // the next run if it is killed.
    let (dir, registered) = crate::staging::private_scratch()?;
    let file = fs_err::File::open(archive)?;
    let each = |h: &untar::Header, body: &mut dyn Read| -> Result<()> {
        if !matches!(h.kind, untar::Kind::Dir | untar::Kind::File) {
            // Links and devices are never needed to read an image: leave them out.
            return Ok(());
        }
        let Some(rel) = relative(&h.name) else {
            if h.name.trim_start_matches("./").is_empty() {
                return Ok(());
            }
            return Err(bad(format!(
                "archive entry {} leaves the archive",
                shown(&h.name)
            )));
        };
        let dest = dir.path().join(&rel);
        if h.kind == untar::Kind::Dir {
            fs_err::create_dir_all(&dest)?;
            return Ok(());
        }
        if let Some(parent) = dest.parent() {
            fs_err::create_dir_all(parent)?;
        }
        let mut f = fs_err::File::create(&dest)?;
        std::io::copy(body, &mut f)
            .map_err(|e| bad(format!("archive entry {}: {e}", shown(&h.name))))?;
        Ok(())
    };
    // Read as Go's reader (skopeo, Docker) reads it, or refused: never a second reading.
    untar::walk(file, |h: &untar::Header, body: &mut dyn Read| {
        each(h, body).map_err(Failed::Other)
    })
    .map_err(|e| match e {
        Failed::Tar(t) => bad(format!("not a tar archive as runtimes read one: {t}")),
        Failed::Other(other) => other,
    })?;
    Ok((dir, registered))
}

/// A relative path that stays inside its root: no absolute path, no `..`, not empty.
pub(crate) fn relative(text: &str) -> Option<PathBuf> {
    let p = Path::new(text);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}
