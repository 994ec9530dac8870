//! The product's own small files. Read capped, and only when they are regular files (a recipe,
//! a lock, a certificate that is `/dev/zero` or a FIFO is refused, not read forever). Written
//! whole or not at all: through a temporary file in the same directory and a rename, so a
//! reader (or a killed run) sees the old content or the complete new content, never a part.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The directory a file lands in (`.` for a bare name).
fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `bytes` written under a temporary name beside `path`, for the caller to rename into place
/// once what it goes with (an image) is there: a failed build leaves neither.
pub fn stage(path: &Path, bytes: &[u8]) -> anyhow::Result<oci::staging::Partial> {
    let mut tmp = oci::staging::Partial::new(&dir_of(path))?;
    tmp.write_all(bytes)?;
    Ok(tmp)
}

/// Writes `bytes` to `path` atomically, creating its directory if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = dir_of(path);
    fs_err::create_dir_all(&dir)?;
    // 0666 less the umask, like any tool's output (tempfile's default is 0600).
    let mut tmp = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(&dir)
        .map_err(|e| {
            anyhow::anyhow!(
                "{}: cannot create a temporary file here: {}",
                dir.display(),
                e.kind()
            )
        })?;
    tmp.write_all(bytes)
        .with_context(|| format!("{}: write failed", path.display()))?;
    tmp.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("{}: cannot rename into place", path.display()))?;
    Ok(())
}

/// Reads a regular file of at most `limit` bytes (not a FIFO, a device or a directory).
pub fn read_regular(path: &Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let meta = fs_err::metadata(path)?;
    anyhow::ensure!(meta.is_file(), "{}: not a regular file", path.display());
    anyhow::ensure!(
        meta.len() <= limit,
        "{}: larger than the {limit}-byte limit",
        path.display()
    );
    let mut bytes = Vec::new();
    fs_err::File::open(path)?
        .take(limit + 1)
        .read_to_end(&mut bytes)?;
    anyhow::ensure!(
        bytes.len() as u64 <= limit,
        "{}: larger than the {limit}-byte limit",
        path.display()
    );
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/file");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs_err::read(&path).unwrap(), b"two");
        assert_eq!(fs_err::read_dir(dir.path().join("sub")).unwrap().count(), 1);
    }
}
