//! What the layers of an image we did not build hold: paths, symlinks, and the few files an
//! application layer must agree with (`/etc/passwd`, `/etc/group`, the CA bundle). Layers are
//! read from the verified copies in the layout being written, through the capped tar walker
//! of `rootfs::read_back`.

use std::io::Read;

use anyhow::Context;
use oci::layout::LayoutWriter;
use oci::read::ForeignManifest;

use crate::rootfs::read_back::{Kind, TarEntry, note_entry, read_capped, walk_layer};
use crate::rootfs::view::{ImageView, LayerIndex};

/// The most we read of a base's `/etc/passwd`, `/etc/group` or CA bundle.
const MAX_BASE_FILE: u64 = 8 << 20;

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
        let reader = blob.layer_compression()?.tar_stream(f)?;
        let what = format!("layer {}", blob.digest);
        let index = index_layer_above(reader, &mut files, &view.index.symlinks)
            .with_context(|| what.clone())?;
        view.push(&index);
    }
    Ok((view, files))
}

/// The paths, symlinks and the few base files of one layer tar.
pub fn index_layer(reader: impl Read, files: &mut BaseFiles) -> anyhow::Result<LayerIndex> {
    index_layer_above(reader, files, &std::collections::BTreeMap::new())
}

/// [`index_layer`] for a layer above others whose symlinks are `below`. An entry below a
/// symlink, of this layer or a lower one, is refused: runtimes land it in different places
/// (overlay ones make a directory, others follow the link), and the base files read here
/// must be the ones a container sees.
fn index_layer_above(
    reader: impl Read,
    files: &mut BaseFiles,
    below: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<LayerIndex> {
    let mut index = LayerIndex::default();
    walk_layer(reader, |e, body| {
        let mut cur = e.path.as_str();
        while let Some((parent, _)) = cur.rsplit_once('/') {
            anyhow::ensure!(
                !index.symlinks.contains_key(parent) && !below.contains_key(parent),
                "/{}: below the symlink /{parent} (runtimes would land it in different places)",
                oci::digest::shown(&e.path)
            );
            cur = parent;
        }
        forget_base_files(e, files);
        if e.kind == Kind::File {
            keep_base_file(&e.path, body, files)?;
        }
        note_entry(&mut index, e)
    })?;
    Ok(index)
}

/// Forgets the base files an entry takes away, as runtimes apply it: a whiteout of one (or
/// of a directory above it, or an opaque one), or anything but a directory at a directory
/// above one, or anything but a regular file at its own path (a hard link's target is not
/// read here: the file is then taken as absent).
fn forget_base_files(e: &TarEntry, files: &mut BaseFiles) {
    let (dir, name) = e.path.rsplit_once('/').unwrap_or(("", e.path.as_str()));
    let under = |root: &str, path: &str| {
        root.is_empty() || path == root || path.starts_with(&format!("{root}/"))
    };
    let gone = |path: &str| -> bool {
        if name == ".wh..wh..opq" {
            return under(dir, path);
        }
        if let Some(target) = name.strip_prefix(".wh.") {
            let target = if dir.is_empty() {
                target.to_string()
            } else {
                format!("{dir}/{target}")
            };
            return under(&target, path);
        }
        (e.kind != Kind::Dir && path.starts_with(&format!("{}/", e.path)))
            || (e.kind != Kind::File && path == e.path)
    };
    for (path, slot) in [
        ("etc/passwd", &mut files.passwd),
        ("etc/group", &mut files.group),
        (crate::rootfs::cacerts::BUNDLE, &mut files.bundle),
    ] {
        if gone(path) {
            *slot = None;
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(tar::EntryType, &[u8], &[u8])]) -> Vec<u8> {
        crate::rootfs::read_back::tests::raw_tar(entries, |_| {})
    }

    #[test]
    fn base_files_taken_away_are_forgotten() {
        use tar::EntryType::{Regular, Symlink};
        let passwd = b"root:x:0:0::/:/x\n";
        for (second, name) in [
            (Regular, &b"etc/.wh.passwd"[..]),
            (Regular, b"etc/.wh..wh..opq"),
            (Regular, b".wh.etc"),
            (Symlink, b"etc/passwd"),
        ] {
            let mut files = BaseFiles::default();
            let t = tar_with(&[(Regular, b"etc/passwd", passwd)]);
            index_layer(t.as_slice(), &mut files).unwrap();
            assert!(files.passwd.is_some());
            let t = tar_with(&[(second, name, b"")]);
            index_layer(t.as_slice(), &mut files).unwrap();
            assert!(files.passwd.is_none(), "{}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn entries_below_a_symlink_are_refused() {
        let mut t = tar_with(&[(tar::EntryType::Symlink, b"x", b"")]);
        t.truncate(t.len() - 1024);
        let mut more = tar_with(&[(
            tar::EntryType::Regular,
            b"x/etc/passwd",
            b"root:x:0:0::/:/x\n",
        )]);
        t.append(&mut more);
        let e = index_layer(t.as_slice(), &mut BaseFiles::default()).unwrap_err();
        assert!(format!("{e:#}").contains("below the symlink /x"), "{e:#}");
        let lower = std::collections::BTreeMap::from([("etc".to_string(), "/".to_string())]);
        let t = tar_with(&[(tar::EntryType::Regular, b"etc/passwd", b"")]);
        let e = index_layer_above(t.as_slice(), &mut BaseFiles::default(), &lower).unwrap_err();
        assert!(format!("{e:#}").contains("below the symlink /etc"), "{e:#}");
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
        assert!(format!("{e:#}").contains("long name of"), "{e:#}");
    }
}
