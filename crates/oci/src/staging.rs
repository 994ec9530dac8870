//! Where outputs are made before they exist: staging directories and partial files beside
//! the output, named after this process, renamed into place when complete.
//!
//! A killed run (SIGKILL) leaves them behind; the next run beside the same output sweeps
//! those of processes that no longer run (directories only when they carry our marker, so a
//! directory of the user's with a similar name is never touched). Ctrl-C and SIGTERM remove
//! them at once: everything being written is registered here, and [`remove_all`] is what
//! the binary's signal handler calls. Files are created 0666/0777 less the umask, like any
//! tool's output (tempfile's 0600/0700 would hide an image from a push job of another user).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// What this process is writing, for the signal handler.
static WRITING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The file every staging directory holds.
const MARKER: &str = ".distroless-staging";

/// A scratch directory and its registration: removed when dropped, or on a signal.
pub type Scratch = (tempfile::TempDir, Registered);

/// Keeps a path registered for removal on a signal while it lives.
#[must_use]
pub struct Registered(PathBuf);

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut paths) = WRITING.lock() {
            paths.retain(|p| p != &self.0);
        }
    }
}

/// Registers a path (a directory or a file) that a signal handler must remove.
pub fn register(path: &Path) -> Registered {
    if let Ok(mut paths) = WRITING.lock() {
        paths.push(path.to_path_buf());
    }
    Registered(path.to_path_buf())
}

/// Removes everything this process is writing (for a signal handler).
pub fn remove_all() {
    if let Ok(paths) = WRITING.lock() {
        for p in paths.iter() {
            if fs_err::remove_dir_all(p).is_err() {
                let _ = fs_err::remove_file(p);
            }
        }
    }
}

fn prefix(pid: u32) -> String {
    format!(".distroless-{pid}-")
}

fn refused(dir: &Path, what: &str, e: &std::io::Error) -> Error {
    Error::Layout {
        path: dir.to_path_buf(),
        // The OS's words without the temporary name `tempfile` appends.
        reason: format!(
            "cannot write a {what} in this directory for the output: {}",
            e.raw_os_error().map_or_else(
                || e.kind().to_string(),
                |n| std::io::Error::from_raw_os_error(n).to_string()
            )
        ),
    }
}

/// A temporary file created 0666 less the umask (layer blobs being written).
pub fn public_tempfile(dir: &Path) -> Result<tempfile::NamedTempFile> {
    public_file(tempfile::Builder::new(), dir)
}

fn public_file(mut b: tempfile::Builder<'_, '_>, dir: &Path) -> Result<tempfile::NamedTempFile> {
    b.permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(|e| refused(dir, "temporary file", &e))
}

/// A file beside an output (an archive, an SBOM) that becomes it by a rename.
pub struct Partial {
    file: tempfile::NamedTempFile,
    _registered: Registered,
}

impl Partial {
    /// Starts one in `parent`.
    pub fn new(parent: &Path) -> Result<Partial> {
        let mut b = tempfile::Builder::new();
        let name = format!("{}partial-", prefix(std::process::id()));
        b.prefix(&name);
        let file = public_file(b, parent)?;
        let registered = register(file.path());
        Ok(Partial {
            file,
            _registered: registered,
        })
    }

    /// Renames it into place.
    pub fn persist(self, dest: &Path) -> Result<()> {
        self.file
            .persist(dest)
            .map_err(|e| Error::io(dest, e.error))?;
        Ok(())
    }
}

impl Write for Partial {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// A scratch directory in the system's temporary directory (a build pushed without `-o`):
/// marked, registered for removal on a signal, and swept by the next run if this one is
/// killed, like a staging directory beside an output.
pub fn scratch() -> Result<Scratch> {
    directory(&std::env::temp_dir())
}

/// A staging directory beside an output (swept first of those dead processes left), marked
/// and registered.
pub(crate) fn directory(parent: &Path) -> Result<(tempfile::TempDir, Registered)> {
    directory_with_mode(parent, 0o777)
}

/// A private (0700) scratch directory in the system's temporary directory, for archives
/// unpacked to be read: swept like the others when a killed run leaves it.
pub fn private_scratch() -> Result<Scratch> {
    directory_with_mode(&std::env::temp_dir(), 0o700)
}

fn directory_with_mode(parent: &Path, mode: u32) -> Result<(tempfile::TempDir, Registered)> {
    sweep(parent);
    let tmp = tempfile::Builder::new()
        .prefix(&prefix(std::process::id()))
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempdir_in(parent)
        .map_err(|e| refused(parent, "staging directory", &e))?;
    let registered = register(tmp.path());
    fs_err::write(tmp.path().join(MARKER), b"")?;
    Ok((tmp, registered))
}

/// Removes the marker from a staging directory about to become the output.
pub(crate) fn unmark(dir: &Path) -> Result<()> {
    fs_err::remove_file(dir.join(MARKER))?;
    Ok(())
}

/// Removes what processes that no longer run left beside an output.
fn sweep(parent: &Path) {
    let Ok(entries) = fs_err::read_dir(parent) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix(".distroless-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let path = e.path();
        match fs_err::symlink_metadata(&path) {
            Ok(m) if m.is_dir() && path.join(MARKER).is_file() => {
                let _ = fs_err::remove_dir_all(&path);
            }
            Ok(m) if m.is_file() && name.contains("-partial-") => {
                let _ = fs_err::remove_file(&path);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_of_dead_processes_is_swept_and_ours_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let dead = dir.path().join(format!("{}abc", prefix(u32::MAX)));
        fs_err::create_dir_all(dead.join("blobs")).unwrap();
        fs_err::write(dead.join(MARKER), b"").unwrap();
        let dead_file = dir.path().join(format!("{}partial-x", prefix(u32::MAX)));
        fs_err::write(&dead_file, b"half").unwrap();
        let users = dir.path().join(format!("{}mydata", prefix(u32::MAX)));
        fs_err::create_dir_all(&users).unwrap();
        let (tmp, registered) = directory(dir.path()).unwrap();
        assert!(!dead.exists() && !dead_file.exists());
        assert!(
            users.exists(),
            "a directory without the marker is the user's"
        );
        assert!(WRITING.lock().unwrap().iter().any(|d| d == tmp.path()));
        let path = tmp.path().to_path_buf();
        drop(registered);
        drop(tmp);
        assert!(!path.exists());
        assert!(!WRITING.lock().unwrap().contains(&path));
    }

    #[test]
    fn partial_files_become_the_output_by_rename() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Partial::new(dir.path()).unwrap();
        p.write_all(b"x").unwrap();
        let dest = dir.path().join("out");
        p.persist(&dest).unwrap();
        assert_eq!(fs_err::read(&dest).unwrap(), b"x");
        assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
        let writing = WRITING.lock().unwrap();
        assert!(
            !writing.iter().any(|p| p.starts_with(dir.path())),
            "unregistered once persisted"
        );
    }
}
