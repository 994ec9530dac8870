//! Reading a `.deb` as a stream: control fields, md5sums and data entries.
//!
//! A `.deb` is an `ar` archive holding `debian-binary`, `control.tar.{gz,xz,zst}` and
//! `data.tar.{gz,xz,zst}`. Nothing is extracted to disk: the data entries are handed to a
//! callback one by one, already path-checked. This module must never let through an absolute
//! path, a `..` component, an entry below one of the package's own symlinks, a hard link to a
//! file the package did not ship first, or a device node.

use std::collections::HashSet;
use std::io::{BufReader, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// Cap on the decompressed size of `data.tar`, against decompression bombs.
pub const MAX_MEMBER_SIZE: u64 = 8 << 30;
/// Cap on the decompressed size of `control.tar` (Debian's largest are a few hundred KiB).
pub const MAX_CONTROL_MEMBER: u64 = 64 << 20;
/// Cap on the `control` file (dpkg's own records are a few KiB).
pub const MAX_CONTROL_FILE: u64 = 1 << 20;
/// Cap on `md5sums` (one line per file; the largest packages have a few MiB).
pub const MAX_MD5SUMS: u64 = 32 << 20;
/// The longest path component the file systems under an image accept.
const MAX_COMPONENT: usize = 255;

/// The control part of a package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Control {
    /// The `control` file, as shipped.
    pub control: String,
    /// The `md5sums` file, if the package has one.
    pub md5sums: Option<String>,
}

/// What kind of filesystem object a data entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink(String),
    /// A hard link to an earlier regular file of the same package (normalised path).
    Hardlink(String),
}

/// One entry of `data.tar`, with a normalised relative path (`usr/bin/x`, no `./`, no `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
}

/// Reads the control member of a `.deb`.
pub fn read_control(path: &Path, name: &str) -> Result<Control> {
    let mut control = Control::default();
    let mut found = false;
    with_member(path, name, "control.tar", MAX_CONTROL_MEMBER, |reader| {
        found = true;
        let mut archive = tar::Archive::new(reader);
        for entry in archive
            .entries()
            .map_err(|e| Error::deb(name, format!("control.tar: {e}")))?
        {
            let mut entry = entry.map_err(|e| Error::deb(name, format!("control.tar: {e}")))?;
            let p = entry
                .path()
                .map_err(|e| Error::deb(name, e.to_string()))?
                .to_string_lossy()
                .to_string();
            let (target, limit) = match p.trim_start_matches("./") {
                "control" => (&mut control.control, MAX_CONTROL_FILE),
                "md5sums" => (control.md5sums.get_or_insert_with(String::new), MAX_MD5SUMS),
                _ => continue,
            };
            if entry.size() > limit {
                return Err(Error::deb(
                    name,
                    format!("control.tar/{p} exceeds the {limit}-byte limit"),
                ));
            }
            (&mut entry)
                .take(limit)
                .read_to_string(target)
                .map_err(|e| Error::deb(name, format!("control.tar/{p}: {e}")))?;
        }
        Ok(())
    })?;
    if !found || control.control.is_empty() {
        return Err(Error::deb(name, "no control file in control.tar"));
    }
    Ok(control)
}

/// Streams every data entry of a `.deb` to `visit`, with its contents for regular files.
pub fn read_data<F>(path: &Path, name: &str, mut visit: F) -> Result<()>
where
    F: FnMut(&Entry, &mut dyn Read) -> Result<()>,
{
    let mut found = false;
    with_member(path, name, "data.tar", MAX_MEMBER_SIZE, |reader| {
        found = true;
        let mut checker = PathChecker::default();
        let mut archive = tar::Archive::new(reader);
        let entries = archive
            .entries()
            .map_err(|e| Error::deb(name, format!("data.tar: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| Error::deb(name, format!("data.tar: {e}")))?;
            let Some(item) = checker.check(name, &entry)? else {
                continue;
            };
            visit(&item, &mut entry)?;
        }
        Ok(())
    })?;
    if !found {
        return Err(Error::deb(name, "no data.tar member"));
    }
    Ok(())
}

/// Finds the `ar` member whose name starts with `prefix` and hands its decompressed stream on.
fn with_member<F>(
    path: &Path,
    name: &str,
    prefix: &str,
    limit: u64,
    mut use_member: F,
) -> Result<()>
where
    F: FnMut(&mut dyn Read) -> Result<()>,
{
    let file = fs_err::File::open(path)?;
    let mut ar = crate::ar::Reader::new(BufReader::new(file));
    let mut first = true;
    loop {
        let member = ar
            .next_member()
            .map_err(|e| Error::deb(name, format!("not a valid .deb (ar): {e}")))?;
        let Some(member) = member else { break };
        let id = member.name.clone();
        if first && id != "debian-binary" {
            return Err(Error::deb(
                name,
                format!("first member is {id:?}, not debian-binary"),
            ));
        }
        first = false;
        let Some(ext) = id.strip_prefix(prefix) else {
            continue;
        };
        let limited = ar.member_data(&member).take(MAX_MEMBER_SIZE);
        let mut reader: Box<dyn Read> = match ext {
            ".gz" => Box::new(flate2::read::GzDecoder::new(limited)),
            ".xz" => Box::new(liblzma::read::XzDecoder::new(limited)),
            ".zst" => Box::new(
                zstd::stream::read::Decoder::new(limited)
                    .map_err(|e| Error::deb(name, e.to_string()))?,
            ),
            "" => Box::new(limited),
            other => {
                return Err(Error::deb(
                    name,
                    format!("unsupported compression {prefix}{other}"),
                ));
            }
        };
        let mut capped = Capped {
            inner: &mut reader,
            left: limit,
            what: format!("{prefix}{ext}"),
        };
        return use_member(&mut capped);
    }
    if first {
        return Err(Error::deb(name, "empty or truncated .deb"));
    }
    Ok(())
}

/// A decompressed stream that fails (rather than ending early) past its limit, so a bomb is
/// reported as one, not as a truncated archive.
struct Capped<'a> {
    inner: &'a mut dyn Read,
    left: u64,
    what: String,
}

impl Read for Capped<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(format!(
                "{} exceeds the limit on decompressed size",
                self.what
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Normalises a tar path: strips `./` and trailing `/`; rejects absolute paths and `..`.
pub fn normalise(name: &str, raw: &str) -> Result<String> {
    if raw.starts_with('/') {
        return Err(Error::deb(
            name,
            format!("absolute path {raw:?} in data.tar"),
        ));
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(Error::deb(
                    name,
                    format!("path {raw:?} in data.tar contains `..`"),
                ));
            }
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

/// Per-package path policy: tracks symlinks and regular files seen so far.
#[derive(Default)]
struct PathChecker {
    symlinks: HashSet<String>,
    files: HashSet<String>,
    /// Every path so far, and whether it was a directory.
    seen: std::collections::HashMap<String, bool>,
}

/// Whether an entry is a sparse file: GNU's own type, or the PAX form, which tar readers that
/// do not expand it show as `…/GNUSparseFile.N/name`.
fn is_sparse(path: &str, kind: tar::EntryType) -> bool {
    kind == tar::EntryType::GNUSparse || path.split('/').any(|c| c.starts_with("GNUSparseFile."))
}

/// What a tar entry type is, in words.
fn kind_name(kind: tar::EntryType) -> String {
    match kind {
        tar::EntryType::Char => "character device".into(),
        tar::EntryType::Block => "block device".into(),
        tar::EntryType::Fifo => "FIFO".into(),
        tar::EntryType::GNUSparse => "sparse file".into(),
        other => format!("tar entry of type {:?}", char::from(other.as_byte())),
    }
}

/// A long path, cut for an error message.
fn shorten(path: &str) -> String {
    if path.len() > 120 {
        format!("{}…", &path[..path.floor_char_boundary(120)])
    } else {
        path.to_string()
    }
}

impl PathChecker {
    fn check<R: Read>(&mut self, name: &str, entry: &tar::Entry<'_, R>) -> Result<Option<Entry>> {
        let raw = entry.path_bytes();
        let raw = String::from_utf8(raw.to_vec())
            .map_err(|_| Error::deb(name, "non-UTF-8 path in data.tar"))?;
        let path = normalise(name, &raw)?;
        if path.is_empty() {
            return Ok(None);
        }
        if path.split('/').any(|c| c.len() > MAX_COMPONENT) {
            return Err(Error::deb(
                name,
                format!(
                    "entry {:?} has a path component over {MAX_COMPONENT} bytes",
                    shorten(&path)
                ),
            ));
        }
        if is_sparse(&path, entry.header().entry_type()) {
            return Err(Error::deb(
                name,
                format!("entry {path:?} is a sparse file (unsupported)"),
            ));
        }
        let mut ancestor = path.as_str();
        while let Some((parent, _)) = ancestor.rsplit_once('/') {
            if self.symlinks.contains(parent) {
                return Err(Error::deb(
                    name,
                    format!("entry {path:?} would be written through the symlink {parent:?}"),
                ));
            }
            ancestor = parent;
        }
        let header = entry.header();
        let link = || -> Result<String> {
            let l = entry
                .link_name_bytes()
                .ok_or_else(|| Error::deb(name, format!("link {path:?} has no target")))?;
            String::from_utf8(l.to_vec()).map_err(|_| Error::deb(name, "non-UTF-8 link target"))
        };
        let kind = match header.entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => Kind::File,
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink(link()?),
            tar::EntryType::Link => {
                let target = normalise(name, &link()?)?;
                if !self.files.contains(&target) {
                    return Err(Error::deb(
                        name,
                        format!(
                            "hard link {path:?} points to {target:?}, which is not an earlier file of the package"
                        ),
                    ));
                }
                Kind::Hardlink(target)
            }
            other => {
                return Err(Error::deb(
                    name,
                    format!(
                        "entry {path:?} is a {}, which images do not hold",
                        kind_name(other)
                    ),
                ));
            }
        };
        // A path may appear twice only as a directory both times: a file replaced by a
        // directory (or the reverse) is as ambiguous as dpkg finds it.
        let is_dir = kind == Kind::Dir;
        if let Some(was_dir) = self.seen.insert(path.clone(), is_dir)
            && !(was_dir && is_dir)
        {
            return Err(Error::deb(name, format!("entry {path:?} appears twice")));
        }
        match &kind {
            Kind::Symlink(_) => {
                self.symlinks.insert(path.clone());
            }
            Kind::File => {
                self.files.insert(path.clone());
            }
            _ => {}
        }
        let mode = header.mode().map_err(|e| Error::deb(name, e.to_string()))? & 0o7777;
        Ok(Some(Entry {
            size: if kind == Kind::File {
                header.size().unwrap_or(0)
            } else {
                0
            },
            uid: header.uid().unwrap_or(0),
            gid: header.gid().unwrap_or(0),
            path,
            kind,
            mode,
        }))
    }
}

/// The `Package` field of a control file (used to cross-check the index).
pub fn control_field<'a>(control: &'a str, field: &str) -> Option<&'a str> {
    control.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k == field).then(|| v.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_paths() {
        assert_eq!(normalise("p", "./usr/bin/").unwrap(), "usr/bin");
        assert!(normalise("p", "/etc/passwd").is_err());
        assert!(normalise("p", "./usr/../../etc").is_err());
        assert_eq!(normalise("p", "./").unwrap(), "");
    }

    #[test]
    fn control_fields() {
        let c = "Package: tzdata\nVersion: 2025b-4\n";
        assert_eq!(control_field(c, "Version"), Some("2025b-4"));
        assert_eq!(control_field(c, "Depends"), None);
    }
}
