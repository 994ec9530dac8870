//! Layer tars read back: every entry with GNU long names and PAX paths applied, and the index
//! of a layer rebuilt from its bytes alone (for a layer this process did not build: one a
//! shared cache repository names).
//!
//! Tar headers are read by `oci::untar`, the one reader of tars we did not write.

use std::collections::BTreeMap;
use std::io::Read;

pub use oci::untar::Kind;

use super::elf;
use super::view::LayerIndex;

/// One entry of a layer tar, as the walker gives it (long names and PAX paths applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TarEntry {
    /// Without `./` or a leading `/`; never holding `..`.
    pub path: String,
    pub kind: Kind,
    pub link: Option<String>,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// Its name, as written, began with `/`.
    pub absolute: bool,
    /// Its PAX header carried records besides names, owners and times (extended
    /// attributes, file capabilities among them).
    pub pax_other: bool,
    /// The extended attributes it sets, names and values (`security.capability` among them).
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// A device's major and minor numbers.
    pub device: (u64, u64),
}

/// Walks a layer tar, calling `each` with every entry and a reader of its body. Headers are
/// read by `oci::untar`, exactly as runtimes' Go reader reads them or refused; names are then
/// made relative, and `..` refused.
pub fn walk_layer(
    reader: impl Read,
    mut each: impl FnMut(&TarEntry, &mut dyn Read) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    oci::untar::walk(reader, |h: &oci::untar::Header, body: &mut dyn Read| {
        let link = matches!(h.kind, Kind::Symlink | Kind::HardLink).then(|| h.link.clone());
        let entry = TarEntry {
            absolute: h.name.starts_with('/'),
            pax_other: h.pax_other,
            xattrs: h.xattrs.clone(),
            device: h.device,
            path: entry_path(&h.name)?,
            kind: h.kind,
            link,
            mode: h.mode,
            uid: h.uid,
            gid: h.gid,
            size: h.size,
        };
        each(&entry, body)
    })
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

/// Rebuilds a layer's index from its tar bytes, and its diff_id (the SHA-256 of those bytes):
/// paths, symlinks, every ELF file's facts and the `ld.so.conf` files, as `Tree::index` made
/// them when the layer was built. A shared cache says which blob a key names and nothing else
/// is taken from it: everything the build reads about the layer comes from here.
///
/// Only what this tool writes is accepted, since such a layer claims to be one it built:
/// relative names, each once, no whiteouts, directories, regular files, symlinks and hard
/// links to files earlier in the layer, nothing below a symlink of the layer or of the layers
/// under it (`below`), nothing but zeros after the end of the archive, and at most `limit`
/// bytes of tar.
pub fn index_of_layer(
    tar: impl Read,
    below: &BTreeMap<String, String>,
    limit: u64,
) -> anyhow::Result<(LayerIndex, String)> {
    let mut hashed = Tally::new(tar.take(limit + 1));
    let mut index = LayerIndex::default();
    walk_layer(&mut hashed, |e, body| {
        as_this_tool_writes(e, &index, below)?;
        if e.kind == Kind::File {
            read_facts(e, body, &mut index)?;
        }
        note_entry(&mut index, e)
    })?;
    // The end-of-archive blocks (and anything after them) are part of the diff_id; a runtime
    // would not unpack what follows them, so only zeros may.
    let mut rest = vec![0u8; 64 << 10];
    loop {
        let n = hashed.read(&mut rest)?;
        if n == 0 {
            break;
        }
        anyhow::ensure!(
            rest[..n].iter().all(|&b| b == 0),
            "data after the end of the tar archive"
        );
    }
    anyhow::ensure!(
        hashed.so_far() <= limit,
        "the layer expands to more than {limit} bytes"
    );
    Ok((index, hashed.digest()))
}

/// Puts an entry in a layer's index: a directory, a symlink and its target, or a file (a hard
/// link shares its target's ELF facts, which come earlier in the layer).
pub fn note_entry(index: &mut LayerIndex, e: &TarEntry) -> anyhow::Result<()> {
    match e.kind {
        Kind::Dir => {
            index.dirs.insert(e.path.clone());
        }
        Kind::Symlink => {
            (index.symlinks).insert(e.path.clone(), e.link.clone().unwrap_or_default());
        }
        Kind::HardLink => {
            let target = entry_path(e.link.as_deref().unwrap_or_default())?;
            if let Some(info) = index.elfs.get(&target).cloned() {
                index.elfs.insert(e.path.clone(), info);
            }
            index.files.insert(e.path.clone());
        }
        _ => {
            index.files.insert(e.path.clone());
        }
    }
    Ok(())
}

/// Refuses an entry this tool would never have written.
fn as_this_tool_writes(
    e: &TarEntry,
    index: &LayerIndex,
    below: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let at = || format!("/{}", oci::digest::shown(&e.path));
    anyhow::ensure!(!e.absolute, "{}: an absolute name", at());
    anyhow::ensure!(
        !e.path.chars().any(char::is_control),
        "{}: a name with control characters",
        at()
    );
    anyhow::ensure!(
        !e.pax_other,
        "{}: extended attributes or other PAX records",
        at()
    );
    anyhow::ensure!(!e.path.is_empty(), "an entry without a name");
    let name = e.path.rsplit('/').next().unwrap_or_default();
    anyhow::ensure!(!name.starts_with(".wh."), "{}: a whiteout", at());
    let seen = index.files.contains(&e.path)
        || index.dirs.contains(&e.path)
        || index.symlinks.contains_key(&e.path);
    anyhow::ensure!(!seen, "{}: named twice", at());
    let mut cur = e.path.as_str();
    while let Some((parent, _)) = cur.rsplit_once('/') {
        anyhow::ensure!(
            !index.symlinks.contains_key(parent) && !below.contains_key(parent),
            "{}: below the symlink /{parent}",
            at()
        );
        cur = parent;
    }
    match e.kind {
        Kind::Dir | Kind::File | Kind::Symlink => Ok(()),
        Kind::HardLink => {
            let target = e.link.as_deref().unwrap_or_default();
            anyhow::ensure!(
                !target.starts_with('/') && index.files.contains(&entry_path(target)?),
                "{}: a hard link to {}, not a file earlier in the layer",
                at(),
                oci::digest::shown(target)
            );
            Ok(())
        }
        other => anyhow::bail!("{}: an entry of type {other:?}", at()),
    }
}

/// The ELF facts or `ld.so.conf` text of a regular file, as the tree records them.
fn read_facts(e: &TarEntry, body: &mut dyn Read, index: &mut LayerIndex) -> anyhow::Result<()> {
    let is_conf = e.path == "etc/ld.so.conf" || e.path.starts_with("etc/ld.so.conf.d/");
    if is_conf {
        let bytes = read_capped(body, elf::MAX_ELF, &format!("/{}", e.path))?;
        (index.configs).insert(e.path.clone(), String::from_utf8_lossy(&bytes).to_string());
        return Ok(());
    }
    if e.size < 64 {
        return Ok(());
    }
    let mut head = [0u8; 4];
    body.read_exact(&mut head)?;
    if !elf::is_elf(&head) {
        return Ok(());
    }
    if e.size > elf::MAX_ELF {
        return Err(elf::too_large(&e.path, e.size));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(e.size).unwrap_or(0));
    bytes.extend_from_slice(&head);
    body.take(e.size - 4).read_to_end(&mut bytes)?;
    if let Some(info) = elf::parse(&bytes) {
        index.elfs.insert(e.path.clone(), info);
    }
    Ok(())
}

/// Hashes (SHA-256) and counts what is read through it: a layer's diff_id and size.
pub struct Tally<R> {
    pub inner: R,
    hasher: sha2::Sha256,
    read: u64,
}

impl<R> Tally<R> {
    pub fn new(inner: R) -> Self {
        Tally {
            inner,
            hasher: sha2::Sha256::default(),
            read: 0,
        }
    }

    /// The bytes read so far.
    pub fn so_far(&self) -> u64 {
        self.read
    }

    /// `sha256:HEX` of what was read.
    pub fn digest(self) -> String {
        format!(
            "sha256:{}",
            hex::encode(sha2::Digest::finalize(self.hasher))
        )
    }
}

impl<R: Read> Read for Tally<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hasher, &buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rootfs::Tree;
    use oci::layer::{Compression, LayerWriter, Meta};

    /// The smallest ELF file goblin reads: a 64-bit header with no sections.
    fn tiny_elf() -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2; // 64-bit
        b[5] = 1; // little-endian
        b[6] = 1; // version
        b[16] = 2; // ET_EXEC
        b[18] = 62; // x86-64
        b[20] = 1;
        b[52] = 64; // header size
        b
    }

    #[test]
    fn an_index_read_back_equals_the_one_the_tree_made() {
        let dir = tempfile::tempdir().unwrap();
        let mut tree = Tree::new(false, std::collections::BTreeSet::default()).unwrap();
        tree.put_dir("etc/ld.so.conf.d", Meta::root(0o755)).unwrap();
        tree.put_file(
            "etc/ld.so.conf.d/x.conf",
            b"/opt/lib\n".to_vec(),
            Meta::root(0o644),
        )
        .unwrap();
        tree.put_file("usr/bin/prog", tiny_elf(), Meta::root(0o755))
            .unwrap();
        tree.put_file("usr/share/doc/readme", vec![b'x'; 100], Meta::root(0o644))
            .unwrap();
        tree.put_symlink("usr/bin/alias", "prog").unwrap();
        let built = tree.index().unwrap();
        let mut w = LayerWriter::new(dir.path(), Compression::Gzip, 0).unwrap();
        tree.write_layer(&mut w).unwrap();
        let blob = w.finish().unwrap();
        let path = dir.path().join(blob.digest.trim_start_matches("sha256:"));
        let tar = flate2::read::GzDecoder::new(fs_err::File::open(path).unwrap());
        let (index, diff_id) = index_of_layer(tar, &BTreeMap::new(), 1 << 30).unwrap();
        assert_eq!(index, built);
        assert_eq!(diff_id, blob.diff_id);
        assert!(index.configs.contains_key("etc/ld.so.conf.d/x.conf"));
        assert!(index.elfs.contains_key("usr/bin/prog"), "{:?}", index.elfs);
    }

    /// A tar of entries given as (type, name, body), each header as `tweak` leaves it, with
    /// the end-of-archive blocks (hostile layers for the readers' tests).
    pub(crate) fn raw_tar(
        entries: &[(tar::EntryType, &[u8], &[u8])],
        tweak: impl Fn(&mut [u8; 512]),
    ) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, name, body) in entries {
            let mut h = tar::Header::new_gnu();
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
            h.set_entry_type(*kind);
            h.set_size(body.len() as u64);
            h.set_mode(0o644);
            let mut bytes = *h.as_bytes();
            tweak(&mut bytes);
            let mut h = tar::Header::from_byte_slice(&bytes).clone();
            h.set_cksum();
            out.extend_from_slice(h.as_bytes());
            out.extend_from_slice(body);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.extend_from_slice(&[0; 1024]);
        out
    }

    fn refused(tar: &[u8]) -> String {
        let e = index_of_layer(tar, &BTreeMap::new(), 1 << 20).unwrap_err();
        format!("{e:#}")
    }

    #[test]
    fn star_headers_and_a_gnu_name_with_a_pax_path_are_refused() {
        // What Go reads as /etc/passwd, the `tar` crate read as /.00000000000/etc/passwd; a GNU
        // long name followed by a PAX path was the PAX path to us and the long name to Go.
        for (case, why) in [
            ("star-times", "STAR"),
            (
                "gnu-longname-then-pax-path",
                "both a GNU long name and a PAX path",
            ),
            ("symlink-with-size", "with a size"),
        ] {
            let tar = testkit::rawtar::case(case);
            assert!(refused(&tar).contains(why), "{case}: {}", refused(&tar));
        }
    }

    #[test]
    fn tar_headers_that_unpack_two_ways_are_refused() {
        use tar::EntryType::{Regular, XGlobalHeader, XHeader};
        // A PAX size runtimes would follow, over the header's that tar readers step over.
        let pax = b"10 size=0\n";
        let t = raw_tar(
            &[(XHeader, b"pax", pax), (Regular, b"etc/decoy", b"x")],
            |_| {},
        );
        assert!(refused(&t).contains("PAX size"), "{}", refused(&t));
        // A global header whose records some tools apply to every later entry.
        let g = b"17 path=etc/evil\n";
        let t = raw_tar(
            &[(XGlobalHeader, b"g", g), (Regular, b"etc/a", b"")],
            |_| {},
        );
        assert!(refused(&t).contains("global PAX"), "{}", refused(&t));
        // Data in a GNU header where a ustar reader finds a name prefix.
        let t = raw_tar(&[(Regular, b"passwd-x", b"")], |b| {
            b[345..348].copy_from_slice(b"etc");
        });
        assert!(refused(&t).contains("name prefix"), "{}", refused(&t));
        // Extended attributes (file capabilities).
        let x = b"40 SCHILY.xattr.security.capability=abc\n";
        let t = raw_tar(
            &[(XHeader, b"pax", x), (Regular, b"usr/bin/x", b"")],
            |_| {},
        );
        assert!(
            refused(&t).contains("extended attributes"),
            "{}",
            refused(&t)
        );
        // A PAX owner is taken as runtimes take it.
        let o = b"13 uid=65532\n";
        let t = raw_tar(&[(XHeader, b"pax", o), (Regular, b"etc/u", b"")], |_| {});
        let mut uid = 0;
        walk_layer(t.as_slice(), |e, _| {
            uid = e.uid;
            Ok(())
        })
        .unwrap();
        assert_eq!(uid, 65532);
    }
}
