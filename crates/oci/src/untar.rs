//! The one tar reader for every image tar we did not write: layers of foreign images, cached
//! layers a shared repository names, and the outer oci-archive and docker-archive files. (A
//! `.deb`'s `data.tar` is re-written into a layer of ours, never handed to a runtime: its
//! reader is `debian::deb`.)
//!
//! Runtimes (Docker, containerd, Podman, umoci, crane) unpack layers with Go's `archive/tar`.
//! A report about a layer is only true if it sees the entries those runtimes see, so every
//! header field is read here exactly as Go's reader reads it, or the archive is refused. Forms
//! that tar readers disagree on are refused even where Go reads them one way: STAR headers
//! (Go takes a 131-byte name prefix, others 155), a GNU long name together with a PAX `path`
//! for one entry, two PAX headers for one entry, a PAX `size` unlike the header's, global PAX
//! records, sparse files, header-only entries (links, directories, devices) with a size, data
//! where a GNU header keeps times but ustar keeps a name prefix, numbers written in forms
//! some readers misparse, names that are not UTF-8.
//!
//! Written by hand because no crate reads tar as Go does: the `tar` crate differs on STAR
//! prefixes, on long names followed by PAX paths, on sizes of header-only entries and on
//! padded numbers. `tests/untar_differential.rs` holds a Go program built with `archive/tar`
//! and checks, on a kept corpus and on fuzzed archives, that whatever this reader accepts Go
//! reads identically.
//!
//! It never follows what it reads onto a file system: callers get names and bodies.

use std::io::Read;

use fields::{long_name, parse_block, pax_number, pax_records, pax_time, shown_flag};

/// The longest GNU long name or PAX header body we read (Go reads up to 1 MiB).
const MAX_META: u64 = 64 << 10;

const BLOCK: usize = 512;

/// What kind of entry a header describes (after Go's reading of the legacy `\0` type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    HardLink,
    Symlink,
    CharDevice,
    BlockDevice,
    Dir,
    Fifo,
}

impl Kind {
    /// The type flag Go reports for this kind.
    pub fn typeflag(self) -> u8 {
        match self {
            Kind::File => b'0',
            Kind::HardLink => b'1',
            Kind::Symlink => b'2',
            Kind::CharDevice => b'3',
            Kind::BlockDevice => b'4',
            Kind::Dir => b'5',
            Kind::Fifo => b'6',
        }
    }

    fn of(flag: u8) -> Option<Kind> {
        Some(match flag {
            b'0' => Kind::File,
            b'1' => Kind::HardLink,
            b'2' => Kind::Symlink,
            b'3' => Kind::CharDevice,
            b'4' => Kind::BlockDevice,
            b'5' => Kind::Dir,
            b'6' => Kind::Fifo,
            _ => return None,
        })
    }

    /// Go skips no body for these whatever the header's size says; other readers skip it.
    fn header_only(self) -> bool {
        !matches!(self, Kind::File)
    }
}

/// One entry, as Go's `archive/tar` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The entry's name as written (GNU long name, PAX `path` or ustar prefix applied).
    pub name: String,
    /// The link target of a hard or symbolic link, empty otherwise.
    pub link: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    /// The body's length (zero for every kind but files).
    pub size: u64,
    /// Its PAX header carried records besides names, owners, sizes and times (extended
    /// attributes, file capabilities among them).
    pub pax_other: bool,
    /// The extended attributes it sets (`SCHILY.xattr.NAME` records, which runtimes apply):
    /// their names and values, `security.capability` among them.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// A device's major and minor numbers (zero for every other kind).
    pub device: (u64, u64),
}

/// Why an archive was refused: which entry (1-based, counting only real entries), its name
/// where one was read, and what is wrong. It never quotes more than a shortened name.
#[derive(Debug, thiserror::Error)]
#[error("tar entry {entry}{}: {reason}", name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default())]
pub struct TarError {
    pub entry: usize,
    pub name: Option<String>,
    pub reason: String,
}

/// Walks a tar stream, calling `each` with every entry and a reader of exactly its body.
/// Stops at the end-of-archive blocks (or the end of the stream between entries, as Go does);
/// whatever follows them is left unread in `reader`.
pub fn walk<R: Read, E: From<TarError>>(
    mut reader: R,
    mut each: impl FnMut(&Header, &mut dyn Read) -> Result<(), E>,
) -> Result<(), E> {
    let mut walker = Walker {
        reader: &mut reader,
        entry: 1,
        meta: Meta::default(),
    };
    while let Some((header, flag)) = walker.next_block()? {
        if let Some(h) = walker.take(header, flag)? {
            let mut body = Body {
                inner: &mut *walker.reader,
                left: h.size,
            };
            each(&h, &mut body)?;
            let left = body.left;
            walker.skip(left, &h.name)?;
            if !walker.pad(h.size)? {
                break;
            }
            walker.entry += 1;
        }
    }
    Ok(())
}

/// A header block as Go's `readHeader` reads it, before extensions apply.
struct Block {
    name: String,
    link: String,
    size: u64,
    mode: u32,
    uid: u64,
    gid: u64,
    device: (u64, u64),
}

/// What meta entries (PAX headers, GNU long names) said of the next real entry.
#[derive(Default)]
struct Meta {
    pax: Option<Vec<(String, Vec<u8>)>>,
    long_name: Option<String>,
    long_link: Option<String>,
}

struct Walker<'r, R> {
    reader: &'r mut R,
    entry: usize,
    meta: Meta,
}

impl<R: Read> Walker<'_, R> {
    fn fail(&self, name: Option<&str>, reason: impl Into<String>) -> TarError {
        TarError {
            entry: self.entry,
            name: name.map(crate::digest::shown),
            reason: reason.into(),
        }
    }

    /// Reads the next header block; `None` at the end of the archive.
    fn next_block(&mut self) -> Result<Option<(Block, u8)>, TarError> {
        let mut b = [0u8; BLOCK];
        if !self.read_block(&mut b)? {
            return Ok(None);
        }
        if b.iter().all(|&x| x == 0) {
            // Go: a zero block then the end, or two zero blocks, end the archive; a zero block
            // followed by anything else is an error.
            if self.read_block(&mut b)? && b.iter().any(|&x| x != 0) {
                return Err(self.fail(None, "a zero block followed by a header"));
            }
            return Ok(None);
        }
        let block = parse_block(&b).map_err(|r| self.fail(None, r))?;
        Ok(Some((block, b[156])))
    }

    /// Fills `b`; false when the stream ended before its first byte.
    fn read_block(&mut self, b: &mut [u8; BLOCK]) -> Result<bool, TarError> {
        let mut got = 0;
        while got < BLOCK {
            match self.reader.read(&mut b[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail(None, format!("reading the archive: {e}"))),
            }
        }
        match got {
            0 => Ok(false),
            BLOCK => Ok(true),
            _ => Err(self.fail(None, "the archive ends inside a header")),
        }
    }

    /// Applies a header block: a meta entry is remembered (`None`), a real one returned.
    fn take(&mut self, block: Block, flag: u8) -> Result<Option<Header>, TarError> {
        match flag {
            b'x' | b'g' | b'L' | b'K' => {
                let body = self.meta_body(block.size)?;
                self.pad(block.size)?;
                self.remember(flag, &body)?;
                Ok(None)
            }
            b'S' => Err(self.fail(Some(&block.name), "a sparse file")),
            _ => self.entry(block, flag).map(Some),
        }
    }

    fn remember(&mut self, flag: u8, body: &[u8]) -> Result<(), TarError> {
        match flag {
            b'x' => {
                if self.meta.pax.is_some() {
                    return Err(self.fail(None, "two PAX headers for one entry"));
                }
                let records = pax_records(body).map_err(|r| self.fail(None, r))?;
                self.meta.pax = Some(records);
            }
            b'g' => {
                // Go hands it to the caller and runtimes skip it; other tools apply its records
                // to every later entry. An empty one is harmless, unless it comes between an
                // entry and its extensions, which Go then forgets.
                let pending = self.meta.pax.is_some()
                    || self.meta.long_name.is_some()
                    || self.meta.long_link.is_some();
                if pending {
                    return Err(self.fail(None, "a global PAX header inside an entry's extensions"));
                }
                let records = pax_records(body).map_err(|r| self.fail(None, r))?;
                if !records.is_empty() {
                    return Err(self.fail(None, "a global PAX header with records"));
                }
            }
            _ => {
                let name = long_name(body).map_err(|r| self.fail(None, r))?;
                let slot = if flag == b'L' {
                    &mut self.meta.long_name
                } else {
                    &mut self.meta.long_link
                };
                if slot.is_some() {
                    return Err(self.fail(None, "two GNU long names of one kind for one entry"));
                }
                *slot = Some(name);
            }
        }
        Ok(())
    }

    /// A real entry: the meta entries before it applied, as Go applies them.
    fn entry(&mut self, block: Block, flag: u8) -> Result<Header, TarError> {
        let meta = std::mem::take(&mut self.meta);
        let mut h = Header {
            name: block.name,
            link: block.link,
            kind: Kind::File,
            mode: block.mode,
            uid: block.uid,
            gid: block.gid,
            size: block.size,
            pax_other: false,
            xattrs: Vec::new(),
            device: block.device,
        };
        let (mut pax_path, mut pax_link) = (false, false);
        for (key, value) in meta.pax.unwrap_or_default() {
            // Go keeps the header's value where a record is empty.
            if value.is_empty() {
                continue;
            }
            let text = |what: &str| {
                String::from_utf8(value.clone()).map_err(|_| {
                    self.fail(Some(&h.name), format!("a PAX {what} that is not UTF-8"))
                })
            };
            match key.as_str() {
                "path" => (h.name, pax_path) = (text("path")?, true),
                "linkpath" => (h.link, pax_link) = (text("linkpath")?, true),
                "size" => {
                    let size = pax_number(&value).ok_or_else(|| {
                        self.fail(Some(&h.name), "a PAX size that is not a number")
                    })?;
                    if size != block.size {
                        return Err(self.fail(
                            Some(&h.name),
                            format!(
                                "a PAX size ({size}) that differs from the header's ({})",
                                block.size
                            ),
                        ));
                    }
                }
                "uid" | "gid" => {
                    let id = pax_number(&value).ok_or_else(|| {
                        self.fail(Some(&h.name), format!("a PAX {key} that is not a number"))
                    })?;
                    if key == "uid" { h.uid = id } else { h.gid = id }
                }
                "mtime" | "atime" | "ctime" => {
                    if !pax_time(&value) {
                        return Err(
                            self.fail(Some(&h.name), format!("a PAX {key} that is not a time"))
                        );
                    }
                }
                "uname" | "gname" => {}
                k if k.starts_with("GNU.sparse.") => {
                    return Err(self.fail(Some(&h.name), "a sparse file"));
                }
                k => {
                    if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                        h.xattrs.push((name.to_string(), value.clone()));
                    }
                    h.pax_other = true;
                }
            }
        }
        if let Some(name) = meta.long_name {
            if pax_path {
                return Err(self.fail(Some(&name), "both a GNU long name and a PAX path"));
            }
            h.name = name;
        }
        if let Some(link) = meta.long_link {
            if pax_link {
                return Err(self.fail(Some(&h.name), "both a GNU long link and a PAX linkpath"));
            }
            h.link = link;
        }
        h.kind = match flag {
            0 if h.name.ends_with('/') => Kind::Dir,
            0 => Kind::File,
            f => Kind::of(f).ok_or_else(|| {
                self.fail(Some(&h.name), format!("an entry of type {}", shown_flag(f)))
            })?,
        };
        if h.kind.header_only() && h.size != 0 {
            return Err(self.fail(
                Some(&h.name),
                format!("a {:?} entry with a size ({})", h.kind, h.size),
            ));
        }
        if h.name.is_empty() {
            return Err(self.fail(None, "an entry without a name"));
        }
        Ok(h)
    }

    /// Reads a meta entry's body (a PAX header or a GNU long name), capped.
    fn meta_body(&mut self, size: u64) -> Result<Vec<u8>, TarError> {
        if size > MAX_META {
            return Err(self.fail(None, format!("a PAX header or long name of {size} bytes")));
        }
        let mut body = Vec::new();
        (&mut *self.reader)
            .take(size)
            .read_to_end(&mut body)
            .map_err(|e| self.fail(None, format!("reading the archive: {e}")))?;
        if body.len() as u64 != size {
            return Err(self.fail(None, "the archive ends inside an entry"));
        }
        Ok(body)
    }

    /// Skips what the caller left of a body; the stream must hold it all.
    fn skip(&mut self, left: u64, name: &str) -> Result<(), TarError> {
        let copied = std::io::copy(&mut (&mut *self.reader).take(left), &mut std::io::sink())
            .map_err(|e| self.fail(Some(name), format!("reading the archive: {e}")))?;
        if copied != left {
            return Err(self.fail(Some(name), "the archive ends inside an entry"));
        }
        Ok(())
    }

    /// Reads the padding after a body of `size` bytes; false when the stream ended inside it
    /// (Go ends the archive there without an error).
    fn pad(&mut self, size: u64) -> Result<bool, TarError> {
        let pad = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        let read = std::io::copy(&mut (&mut *self.reader).take(pad), &mut std::io::sink())
            .map_err(|e| self.fail(None, format!("reading the archive: {e}")))?;
        Ok(read == pad)
    }
}

/// A body reader that stops at the entry's size and fails if the stream ends first.
struct Body<'r, R> {
    inner: &'r mut R,
    left: u64,
}

impl<R: Read> Read for Body<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = usize::try_from(self.left)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the archive ends inside an entry",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

mod fields;

#[cfg(test)]
mod tests;
