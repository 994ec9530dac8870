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
    let meta = match fs_err::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!("{}: no such file", path.display())
        }
        Err(e) => return Err(e.into()),
    };
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

/// A directory of this process's own work under `parent` (`PREFIX-PID-XXXX`, removed when
/// dropped), after sweeping those of processes that no longer run: a run killed before it
/// could clean up leaves nothing behind for long.
pub fn work_dir(parent: &Path, prefix: &str) -> anyhow::Result<tempfile::TempDir> {
    sweep_dead(parent, prefix);
    Ok(tempfile::Builder::new()
        .prefix(&format!("{prefix}-{}-", std::process::id()))
        .tempdir_in(parent)?)
}

/// Removes `PREFIX-PID-…` directories under `parent` whose process is gone. A symlink is
/// never followed: only a real directory is removed.
fn sweep_dead(parent: &Path, prefix: &str) {
    let Ok(entries) = fs_err::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let pid = name
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('-'))
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
            && e.file_type().is_ok_and(|t| t.is_dir())
        {
            let _ = fs_err::remove_dir_all(e.path());
        }
    }
}

/// Creates a file that must not exist yet (no symlink followed) with `mode`: a key is never
/// written over another, nor through a link an attacker left.
pub fn create_new(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("{}: cannot create", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("{}: cannot write", path.display()))
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

    #[test]
    fn work_dirs_of_dead_processes_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        // u32::MAX is no running process.
        let dead = dir.path().join(format!(".w-{}-x", u32::MAX));
        fs_err::create_dir_all(&dead).unwrap();
        let other = dir.path().join(".wx-1-x");
        fs_err::create_dir_all(&other).unwrap();
        let mine = work_dir(dir.path(), ".w").unwrap();
        assert!(!dead.exists() && other.exists());
        assert!(
            mine.path()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!(".w-{}-", std::process::id()))
        );
    }
}
