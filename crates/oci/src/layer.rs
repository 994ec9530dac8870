//! Deterministic tar writer → compressed blob, with digest and diff_id in one pass.
//!
//! Bytes flow tar → (SHA256 of the tar = diff_id) → gzip/zstd → (SHA256 + size = digest) →
//! temporary file in `blobs/sha256`, renamed to its digest when finished. Every header is
//! built here: numeric owners, empty user and group names, the caller's mtime, no atime or
//! ctime, GNU long-name records when a path needs them. The gzip header carries no name and
//! mtime 0, and only the zlib-rs backend is enabled, because another backend writes other
//! bytes and so other digests (a golden-digest test guards this).

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Layer compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Gzip,
    Zstd,
}

impl Compression {
    /// The OCI media type of a layer compressed this way.
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }
}

/// Ownership and permissions of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

impl Meta {
    /// Root-owned with the given mode.
    pub fn root(mode: u32) -> Self {
        Meta {
            mode,
            uid: 0,
            gid: 0,
        }
    }
}

/// A finished layer blob.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerBlob {
    /// `sha256:<hex>` of the compressed bytes.
    pub digest: String,
    /// Compressed size.
    pub size: u64,
    /// `sha256:<hex>` of the uncompressed tar.
    pub diff_id: String,
    pub media_type: String,
}

/// Counts and hashes what passes through.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            count: 0,
        }
    }
}

enum Encoder<W: Write> {
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
        }
    }
}

impl<W: Write> Encoder<W> {
    fn new(inner: W, compression: Compression) -> io::Result<Self> {
        Ok(match compression {
            Compression::Gzip => Encoder::Gzip(
                flate2::GzBuilder::new()
                    .mtime(0)
                    .operating_system(255)
                    .write(inner, flate2::Compression::new(6)),
            ),
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(inner, 3)?),
        })
    }
    fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

type Pipeline = tar::Builder<Hashing<Encoder<Hashing<io::BufWriter<tempfile::NamedTempFile>>>>>;

/// Writes one layer. Callers add entries in the order they want them in the tar.
pub struct LayerWriter {
    tar: Pipeline,
    blobs: PathBuf,
    compression: Compression,
    mtime: u64,
}

impl LayerWriter {
    /// Starts a layer whose blob will land in `blobs` (an OCI `blobs/sha256` directory).
    pub fn new(blobs: &Path, compression: Compression, mtime: u64) -> Result<Self> {
        let tmp = crate::staging::public_tempfile(blobs)?;
        let file = Hashing::new(io::BufWriter::with_capacity(1 << 20, tmp));
        let enc = Encoder::new(file, compression).map_err(|e| Error::io(blobs, e))?;
        let mut tar = tar::Builder::new(Hashing::new(enc));
        tar.follow_symlinks(false);
        Ok(LayerWriter {
            tar,
            blobs: blobs.to_path_buf(),
            compression,
            mtime,
        })
    }

    fn header(&self, kind: tar::EntryType, meta: Meta, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(meta.mode & 0o7777);
        h.set_uid(meta.uid);
        h.set_gid(meta.gid);
        h.set_mtime(self.mtime);
        h.set_size(size);
        h
    }

    fn fail(path: &str, e: &io::Error) -> Error {
        Error::Entry {
            path: path.to_string(),
            reason: e.to_string(),
        }
    }

    /// Adds a directory (`path` without trailing slash).
    pub fn dir(&mut self, path: &str, meta: Meta) -> Result<()> {
        let mut h = self.header(tar::EntryType::Directory, meta, 0);
        self.tar
            .append_data(&mut h, format!("{path}/"), io::empty())
            .map_err(|e| Self::fail(path, &e))
    }

    /// Adds a regular file of exactly `size` bytes read from `data`.
    pub fn file(&mut self, path: &str, meta: Meta, size: u64, data: &mut dyn Read) -> Result<()> {
        let mut h = self.header(tar::EntryType::Regular, meta, size);
        let mut counted = data.take(size);
        self.tar
            .append_data(&mut h, path, &mut counted)
            .map_err(|e| Self::fail(path, &e))?;
        if counted.limit() != 0 {
            return Err(Error::Entry {
                path: path.to_string(),
                reason: format!("content ended {} bytes early", counted.limit()),
            });
        }
        Ok(())
    }

    /// Adds a symbolic link.
    pub fn symlink(&mut self, path: &str, target: &str, meta: Meta) -> Result<()> {
        let mut h = self.header(tar::EntryType::Symlink, meta, 0);
        self.tar
            .append_link(&mut h, path, target)
            .map_err(|e| Self::fail(path, &e))
    }

    /// Adds a hard link to an earlier entry of this layer.
    pub fn hardlink(&mut self, path: &str, target: &str, meta: Meta) -> Result<()> {
        let mut h = self.header(tar::EntryType::Link, meta, 0);
        self.tar
            .append_link(&mut h, path, target)
            .map_err(|e| Self::fail(path, &e))
    }

    /// Finishes the tar and the compressor and moves the blob under its digest.
    pub fn finish(self) -> Result<LayerBlob> {
        let blobs = self.blobs;
        let io_err = |e| Error::io(&blobs, e);
        let tar_hash = self.tar.into_inner().map_err(io_err)?;
        let diff_id = format!("sha256:{}", hex::encode(tar_hash.hasher.finalize()));
        let file = tar_hash.inner.finish().map_err(io_err)?;
        let digest_hex = hex::encode(file.hasher.finalize());
        let size = file.count;
        let tmp = file
            .inner
            .into_inner()
            .map_err(|e| io_err(e.into_error()))?;
        let dest = blobs.join(&digest_hex);
        tmp.persist(&dest).map_err(|e| Error::io(&dest, e.error))?;
        Ok(LayerBlob {
            digest: format!("sha256:{digest_hex}"),
            size,
            diff_id,
            media_type: self.compression.media_type().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed_layer(compression: Compression) -> LayerBlob {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LayerWriter::new(dir.path(), compression, 0).unwrap();
        w.dir("etc", Meta::root(0o755)).unwrap();
        let text = b"root:x:0:0:root:/root:/sbin/nologin\n";
        w.file(
            "etc/passwd",
            Meta::root(0o644),
            text.len() as u64,
            &mut &text[..],
        )
        .unwrap();
        w.symlink("etc/os-release", "../usr/lib/os-release", Meta::root(0o777))
            .unwrap();
        let long = format!("usr/share/{}/file", "x".repeat(120));
        w.file(
            &long,
            Meta {
                mode: 0o4755,
                uid: 1,
                gid: 2,
            },
            0,
            &mut io::empty(),
        )
        .unwrap();
        w.finish().unwrap()
    }

    /// Golden digests: if these change, every image digest changes. That happens when another
    /// flate2 backend or zstd version sneaks in; check `cargo tree -e features -i flate2`.
    #[test]
    fn golden_digests() {
        let gz = fixed_layer(Compression::Gzip);
        let zst = fixed_layer(Compression::Zstd);
        assert_eq!(gz.diff_id, zst.diff_id);
        assert_eq!(
            gz.diff_id,
            "sha256:ad7f7e709908ad1937fefa214b4fca0af2e2107d9c33297d8bdc7dd6f6c40d2e"
        );
        assert_eq!(
            gz.digest,
            "sha256:c93f179d325f2cc39469599699739061a8016e7f83af7de0dfdd6835c0248737"
        );
        assert_eq!(
            zst.digest,
            "sha256:dba20fae84abe8120896e5ba1d49312b50775e9af281d4a648881846e8342aa0"
        );
    }

    #[test]
    fn short_content_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LayerWriter::new(dir.path(), Compression::Gzip, 0).unwrap();
        let err = w
            .file("a", Meta::root(0o644), 10, &mut &b"abc"[..])
            .unwrap_err();
        assert!(err.to_string().contains("\"a\""), "{err}");
    }
}
