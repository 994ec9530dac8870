//! What the layers of an image we did not build hold: paths, symlinks, and the few files an
//! application layer must agree with (`/etc/passwd`, `/etc/group`, the CA bundle). Layers are
//! read from the verified copies in the layout being written. GNU long names and PAX headers
//! are read here, capped, rather than by the tar crate, which would hold whatever size such a
//! header claims (a 135 KB zstd layer can claim 4 GiB).

use std::io::Read;

use anyhow::Context;
use oci::layout::LayoutWriter;
use oci::read::{ForeignManifest, LayerCompression};

use crate::rootfs::view::{ImageView, LayerIndex};

/// The most we read of a base's `/etc/passwd`, `/etc/group` or CA bundle.
const MAX_BASE_FILE: u64 = 8 << 20;
/// The longest GNU long name or PAX header we read.
const MAX_TAR_HEADER: u64 = 64 << 10;

/// The few files of a base an application layer must agree with.
#[derive(Default)]
pub struct BaseFiles {
    pub passwd: Option<String>,
    pub group: Option<String>,
    pub bundle: Option<String>,
}

/// Reads a base's file system facts from its layer tars, as copied (and verified) into the
/// layout being written.
pub fn index_layers(
    layout: &LayoutWriter,
    sm: &ForeignManifest,
) -> anyhow::Result<(ImageView, BaseFiles)> {
    let mut view = ImageView::default();
    let mut files = BaseFiles::default();
    for blob in &sm.layers {
        let f = fs_err::File::open(layout.blob_path(&blob.digest))?;
        let reader: Box<dyn Read> = match blob.layer_compression()? {
            LayerCompression::Gzip => Box::new(flate2::read::GzDecoder::new(f)),
            LayerCompression::Zstd => Box::new(zstd::stream::read::Decoder::new(f)?),
            LayerCompression::None => Box::new(f),
        };
        let what = format!("layer {}", blob.digest);
        let index = index_layer(reader, &mut files).with_context(|| what.clone())?;
        view.push(&index);
    }
    Ok((view, files))
}

/// One entry of a layer tar, as the walker gives it (long names and PAX paths applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    /// Without `./` or a leading `/`; never holding `..`.
    pub path: String,
    pub kind: tar::EntryType,
    pub link: Option<String>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
}

/// Walks a layer tar, calling `each` with every entry and a reader of its body. GNU long
/// names and PAX headers are read here, capped, rather than by the tar crate.
pub fn walk_layer(
    reader: impl Read,
    mut each: impl FnMut(&TarEntry, &mut dyn Read) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut tar = tar::Archive::new(reader);
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    for e in tar.entries().context("not a tar stream")?.raw(true) {
        let mut e = e.context("not a tar stream")?;
        let kind = e.header().entry_type();
        match kind {
            tar::EntryType::GNULongName | tar::EntryType::GNULongLink | tar::EntryType::XHeader => {
                let body = capped_header(&mut e)?;
                match kind {
                    tar::EntryType::GNULongName => long_name = Some(trim_nul(body)),
                    tar::EntryType::GNULongLink => long_link = Some(trim_nul(body)),
                    _ => {
                        for (key, value) in pax_records(&body) {
                            match key {
                                b"path" => long_name = Some(value.to_vec()),
                                b"linkpath" => long_link = Some(value.to_vec()),
                                // A sparse file names its real path elsewhere and stores its
                                // data in pieces: refused rather than misread.
                                k if k.starts_with(b"GNU.sparse.") => {
                                    anyhow::bail!("sparse file entries are not supported");
                                }
                                _ => {}
                            }
                        }
                    }
                }
                continue;
            }
            tar::EntryType::XGlobalHeader => {
                capped_header(&mut e)?;
                continue;
            }
            tar::EntryType::GNUSparse => anyhow::bail!("sparse file entries are not supported"),
            _ => {}
        }
        let raw = long_name.take().unwrap_or_else(|| e.path_bytes().to_vec());
        let link = long_link
            .take()
            .or_else(|| e.link_name_bytes().map(|l| l.to_vec()))
            .map(|l| String::from_utf8_lossy(&l).to_string());
        let h = e.header();
        let entry = TarEntry {
            path: entry_path(&String::from_utf8_lossy(&raw))?,
            kind,
            link,
            mode: h.mode().unwrap_or(0),
            uid: h.uid().unwrap_or(0),
            gid: h.gid().unwrap_or(0),
            size: h.size().unwrap_or(0),
        };
        each(&entry, &mut e)?;
    }
    Ok(())
}

/// The paths, symlinks and the few base files of one layer tar.
pub fn index_layer(reader: impl Read, files: &mut BaseFiles) -> anyhow::Result<LayerIndex> {
    let mut index = LayerIndex::default();
    walk_layer(reader, |e, body| {
        match e.kind {
            tar::EntryType::Directory => {
                index.dirs.insert(e.path.clone());
            }
            tar::EntryType::Symlink => {
                index
                    .symlinks
                    .insert(e.path.clone(), e.link.clone().unwrap_or_default());
            }
            _ => {
                keep_base_file(&e.path, body, files)?;
                index.files.insert(e.path.clone());
            }
        }
        Ok(())
    })?;
    Ok(index)
}

/// Reads an entry's body, refusing one over `limit` bytes; `what` names it in the error.
pub fn read_capped(e: &mut dyn Read, limit: u64, what: &str) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    e.take(limit + 1).read_to_end(&mut body)?;
    anyhow::ensure!(
        body.len() as u64 <= limit,
        "{what} exceeds the {limit}-byte limit"
    );
    Ok(body)
}

/// Reads a long-name or PAX header entry's body.
fn capped_header(e: &mut dyn Read) -> anyhow::Result<Vec<u8>> {
    read_capped(e, MAX_TAR_HEADER, "a long-name or PAX header")
}

fn trim_nul(mut bytes: Vec<u8>) -> Vec<u8> {
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    bytes
}

/// PAX records: `LENGTH KEY=VALUE\n` each (malformed ones end the list).
fn pax_records(body: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let Some(space) = rest.iter().position(|&b| b == b' ') else {
            break;
        };
        let Some(len) = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|l| l.parse::<usize>().ok())
        else {
            break;
        };
        if len <= space + 1 || len > rest.len() {
            break;
        }
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            out.push((&record[..eq], &record[eq + 1..]));
        }
        rest = &rest[len..];
    }
    out
}

/// Keeps `/etc/passwd`, `/etc/group` and the CA bundle of a base (capped).
fn keep_base_file(path: &str, e: &mut dyn Read, files: &mut BaseFiles) -> anyhow::Result<()> {
    let slot = match path {
        "etc/passwd" => &mut files.passwd,
        "etc/group" => &mut files.group,
        crate::rootfs::cacerts::BUNDLE => &mut files.bundle,
        _ => return Ok(()),
    };
    let bytes = read_capped(e, MAX_BASE_FILE, &format!("/{path}"))?;
    *slot = Some(String::from_utf8_lossy(&bytes).to_string());
    Ok(())
}

/// A layer entry's path without `./` or a leading `/`; `..` is refused.
fn entry_path(raw: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        !raw.split('/').any(|c| c == ".."),
        "entry {} contains `..`",
        oci::digest::shown(raw)
    );
    // `etc/./passwd` and `etc//passwd` are `etc/passwd` to every runtime: name them so.
    let parts: Vec<&str> = raw
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(tar::EntryType, &[u8], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, name, body) in entries {
            let mut h = tar::Header::new_gnu();
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
            h.set_entry_type(*kind);
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(body);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.extend_from_slice(&[0; 1024]);
        out
    }

    #[test]
    fn long_names_and_pax_paths_are_read_and_capped() {
        let long = format!("{}/passwd", "d".repeat(150));
        let pax = b"19 path=etc/passwd\n";
        let t = tar_with(&[
            (
                tar::EntryType::GNULongName,
                b"././@LongLink",
                long.as_bytes(),
            ),
            (tar::EntryType::Regular, b"short", b"x"),
            (tar::EntryType::XHeader, b"pax", &pax[..]),
            (
                tar::EntryType::Regular,
                b"other",
                b"root:x:0:0::/:/sbin/nologin\n",
            ),
        ]);
        let mut files = BaseFiles::default();
        let index = index_layer(t.as_slice(), &mut files).unwrap();
        assert!(index.files.contains(&long));
        assert!(files.passwd.unwrap().starts_with("root:x:0:0"));
        let huge = vec![b'a'; (64 << 10) + 10];
        let t = tar_with(&[
            (tar::EntryType::GNULongName, b"././@LongLink", &huge),
            (tar::EntryType::Regular, b"x", b""),
        ]);
        let e = index_layer(t.as_slice(), &mut BaseFiles::default()).unwrap_err();
        assert!(format!("{e:#}").contains("exceeds"), "{e:#}");
    }
}
