//! An image's merged file system, read from its layer tars in order: whiteouts applied, every
//! regular file hashed while it streams (SHA-256, for `diff`), bytes overwritten or deleted by
//! a later layer counted as wasted, and the few facts the audit needs gathered on the way
//! (small configuration files, ELF facts, signatures of busybox and private keys). Every layer
//! is checked against its digest as it is read; nothing is unpacked to disk.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use anyhow::Context;
use oci::read::{ForeignImage, ForeignManifest};
use oci::untar::Kind as TarKind;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::rootfs::elf::{self, ElfInfo};
use crate::rootfs::read_back::{Tally, TarEntry, read_capped, walk_layer};

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Other,
}

/// One path of the merged file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// SHA-256 of a regular file's content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The layer (0 = the bottom one) that put it there.
    pub layer: usize,
    /// The extended attributes it carries, names and hex values (`security.capability`:
    /// file capabilities).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub xattrs: BTreeMap<String, String>,
    /// What a node of kind `Other` is: `char MAJOR:MINOR`, `block MAJOR:MINOR` or `fifo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

/// One layer's facts.
#[derive(Debug, Clone, Serialize)]
pub struct LayerFacts {
    pub digest: String,
    pub compressed: u64,
    pub uncompressed: u64,
    /// The config's history entry for it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    pub files: usize,
    /// Debian packages whose status.d record this layer brings.
    pub packages: Vec<String>,
}

/// The merged file system and what was learnt reading it.
#[derive(Debug, Default)]
pub struct Filesystem {
    pub nodes: BTreeMap<String, Node>,
    /// Contents of small files worth reading (accounts, os-release, status.d, the CA bundle).
    pub small: BTreeMap<String, Vec<u8>>,
    /// ELF facts of regular files (for the closure check).
    pub elfs: BTreeMap<String, ElfInfo>,
    /// Files carrying busybox's signature, whatever their name.
    pub busybox: BTreeSet<String>,
    /// Files holding a PEM private key.
    pub private_keys: BTreeSet<String>,
    /// Bytes spent on paths more than one layer wrote, or a later layer deleted: every copy,
    /// the final one included, as dive counts them.
    pub wasted: u64,
    /// Paths a later layer wrote again (their final copy counts as wasted too).
    rewritten: BTreeSet<String>,
}

/// The most of a small file kept (the CA bundle is the largest, about 200 KiB).
const MAX_SMALL: u64 = 8 << 20;
/// The most entries an image's layers may hold together (each costs a few hundred bytes of
/// memory; the largest catalog image has about 5,000).
const MAX_ENTRIES: usize = 1_000_000;

fn is_small_file(path: &str) -> bool {
    matches!(
        path,
        "etc/passwd" | "etc/group" | "etc/os-release" | "usr/lib/os-release" | "etc/nsswitch.conf"
    ) || path == crate::rootfs::cacerts::BUNDLE
        || path.starts_with("var/lib/dpkg/status.d/")
        || path == "var/lib/dpkg/status"
        || path == "etc/ld.so.conf"
        || path.starts_with("etc/ld.so.conf.d/")
}

/// How far a layer of an image we did not build may expand when read: a small compressed
/// layer can hold gigabytes of zeros (263 KB of zstd held 8 GiB and kept `inspect` busy for
/// 70 s). A layer may hold `ratio` times its compressed size (but at least 64 MiB), and never
/// more than `max_bytes`.
#[derive(Debug, Clone, Copy)]
pub struct Expansion {
    pub ratio: u64,
    pub max_bytes: u64,
}

impl Default for Expansion {
    fn default() -> Self {
        Expansion {
            ratio: 1024,
            max_bytes: 16 << 30,
        }
    }
}

/// The smallest cap the ratio gives (a tiny layer of a few headers compresses very well).
const MIN_RATIO_CAP: u64 = 64 << 20;

impl Expansion {
    /// The most bytes of tar a layer of `compressed` bytes may hold, and why (which flag
    /// raises it).
    pub fn limit(self, compressed: u64) -> (u64, String) {
        let by_ratio = compressed.saturating_mul(self.ratio).max(MIN_RATIO_CAP);
        if by_ratio <= self.max_bytes {
            let why = format!(
                "{} times its {compressed} compressed bytes, at least {MIN_RATIO_CAP}: \
                 raise --max-layer-ratio",
                self.ratio
            );
            (by_ratio, why)
        } else {
            (self.max_bytes, "raise --max-layer-bytes".to_string())
        }
    }
}

/// A reader that fails once more than `left` bytes came through it.
struct Capped<R> {
    inner: R,
    left: u64,
    limit: (u64, String),
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(format!(
                "expands past {} bytes ({})",
                self.limit.0, self.limit.1
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Reads one platform's layers into its merged file system and per-layer facts.
pub fn read(
    image: &ForeignImage,
    m: &ForeignManifest,
    limits: Expansion,
) -> anyhow::Result<(Filesystem, Vec<LayerFacts>)> {
    let history: Vec<Option<String>> = m.config["history"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|h| h["empty_layer"].as_bool() != Some(true))
        .map(|h| h["created_by"].as_str().map(str::to_string))
        .collect();
    let mut fs = Filesystem::default();
    let mut facts = Vec::new();
    for (i, blob) in m.layers.iter().enumerate() {
        let verified = image.open_blob(blob)?;
        let mut counted = Counted {
            inner: verified,
            bytes: 0,
        };
        let what = format!("layer {}", blob.digest);
        let (files, packages, uncompressed) = {
            let limit = limits.limit(blob.size);
            let reader = Capped {
                inner: blob.layer_compression()?.tar_stream(&mut counted)?,
                left: limit.0,
                limit,
            };
            let mut un = Tally::new(reader);
            let (files, packages) =
                read_layer(&mut un, i, &mut fs).with_context(|| what.clone())?;
            // Drain what the tar reader left (padding), so the digests cover the whole blob.
            std::io::copy(&mut un, &mut std::io::sink()).with_context(|| what.clone())?;
            // The config's diff_id must name what the layer holds (runtimes check it).
            let uncompressed = un.so_far();
            let diff_id = un.digest();
            let said = m.config["rootfs"]["diff_ids"][i].as_str().unwrap_or("");
            anyhow::ensure!(
                said == diff_id,
                "{what}: its content is {diff_id}, but the config's diff_id says {}",
                oci::digest::shown(said)
            );
            (files, packages, uncompressed)
        };
        std::io::copy(&mut counted, &mut std::io::sink())?;
        counted.inner.finish(&what)?;
        facts.push(LayerFacts {
            digest: blob.digest.to_string(),
            compressed: blob.size,
            uncompressed,
            created_by: history.get(i).cloned().flatten(),
            files,
            packages,
        });
    }
    let finals: u64 = fs
        .rewritten
        .iter()
        .filter_map(|p| fs.nodes.get(p))
        .filter(|n| n.kind == Kind::File)
        .map(|n| n.size)
        .sum();
    fs.wasted += finals;
    Ok((fs, facts))
}

/// Applies one layer to the file system; returns how many entries it had and which packages'
/// records it brought.
fn read_layer(
    reader: impl Read,
    layer: usize,
    fs: &mut Filesystem,
) -> anyhow::Result<(usize, Vec<String>)> {
    let mut count = 0;
    let mut packages = Vec::new();
    walk_layer(reader, |e, body| {
        count += 1;
        anyhow::ensure!(
            fs.nodes.len() < MAX_ENTRIES,
            "more than {MAX_ENTRIES} entries; not read further"
        );
        let (dir, name) = e.path.rsplit_once('/').unwrap_or(("", e.path.as_str()));
        if name.starts_with(".wh.") {
            // A whiteout below an earlier layer's symlink is read two ways too (`add` checks
            // every other entry as it lands it).
            land(fs, &e.path, layer)?;
        }
        if name == ".wh..wh..opq" {
            remove_below(fs, dir, layer);
            return Ok(());
        }
        if let Some(target) = name.strip_prefix(".wh.") {
            let gone = if dir.is_empty() {
                target.to_string()
            } else {
                format!("{dir}/{target}")
            };
            remove(fs, &gone);
            return Ok(());
        }
        if let Some(pkg) = e.path.strip_prefix("var/lib/dpkg/status.d/")
            && !pkg.contains('.')
            && !pkg.contains('/')
        {
            packages.push(pkg.to_string());
        }
        add(fs, e, body, layer)
    })?;
    Ok((count, packages))
}

/// Removes a path and everything below it (a whiteout).
fn remove(fs: &mut Filesystem, path: &str) {
    if let Some(old) = fs.nodes.remove(path)
        && old.kind == Kind::File
    {
        fs.wasted += old.size;
    }
    // What was read of it goes with it (a whited-out /etc/passwd is no passwd).
    fs.small.remove(path);
    fs.elfs.remove(path);
    fs.busybox.remove(path);
    fs.private_keys.remove(path);
    remove_below(fs, path, usize::MAX);
}

/// Removes everything below a directory that a lower layer put there (an opaque whiteout).
fn remove_below(fs: &mut Filesystem, dir: &str, layer: usize) {
    let prefix = if dir.is_empty() {
        String::new()
    } else {
        format!("{dir}/")
    };
    let gone: Vec<String> = fs
        .nodes
        .range(prefix.clone()..)
        .take_while(|(p, _)| p.starts_with(&prefix))
        .filter(|(_, n)| n.layer < layer)
        .map(|(p, _)| p.clone())
        .collect();
    for p in gone {
        if let Some(old) = fs.nodes.remove(&p)
            && old.kind == Kind::File
        {
            fs.wasted += old.size;
        }
        fs.small.remove(&p);
        fs.elfs.remove(&p);
        fs.busybox.remove(&p);
        fs.private_keys.remove(&p);
    }
}

/// Where a path lands when its parent directories are followed through the symlinks of its
/// own layer, as a runtime unpacking the layer would write it (`x/etc/passwd` with `x -> /`
/// is `/etc/passwd`). `..` stops at the root; a loop is left as it is.
///
/// A path below a symlink of an earlier layer is refused: overlay runtimes (Docker's overlay2,
/// containerd's overlayfs) unpack each layer into a directory of its own, where the link is
/// not there, so the path becomes a new directory shadowing the link; runtimes that unpack
/// every layer into one tree (umoci) follow the link. The two see different files.
fn land(fs: &Filesystem, path: &str, layer: usize) -> anyhow::Result<String> {
    let Some((parent, name)) = path.rsplit_once('/') else {
        return Ok(path.to_string());
    };
    let mut pending: Vec<String> = parent.split('/').rev().map(str::to_string).collect();
    let mut done: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = pending.pop() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        done.push(c);
        let here = done.join("/");
        if let Some(Node {
            kind: Kind::Symlink,
            link: Some(target),
            layer: from,
            ..
        }) = fs.nodes.get(&here)
        {
            anyhow::ensure!(
                *from == layer,
                "/{}: below /{here}, a symlink of an earlier layer (overlay runtimes make a \
                 directory there, others follow the link: they would see different files)",
                oci::digest::shown(path)
            );
            hops += 1;
            if hops > 40 {
                return Ok(path.to_string());
            }
            done.pop();
            if target.starts_with('/') {
                done.clear();
            }
            pending.extend(target.split('/').rev().map(str::to_string));
        }
    }
    Ok(if done.is_empty() {
        name.to_string()
    } else {
        format!("{}/{name}", done.join("/"))
    })
}

fn add(fs: &mut Filesystem, e: &TarEntry, body: &mut dyn Read, layer: usize) -> anyhow::Result<()> {
    let landed = land(fs, &e.path, layer)?;
    let e = &TarEntry {
        path: landed,
        ..e.clone()
    };
    let kind = match e.kind {
        TarKind::File => Kind::File,
        TarKind::Dir => Kind::Dir,
        TarKind::Symlink => Kind::Symlink,
        TarKind::HardLink => Kind::Hardlink,
        TarKind::CharDevice | TarKind::BlockDevice | TarKind::Fifo => Kind::Other,
    };
    if let Some(old) = fs.nodes.get(&e.path)
        && old.kind == Kind::File
        && kind != Kind::Dir
    {
        fs.wasted += old.size;
        fs.rewritten.insert(e.path.clone());
    }
    fs.small.remove(&e.path);
    fs.elfs.remove(&e.path);
    fs.busybox.remove(&e.path);
    fs.private_keys.remove(&e.path);
    let sha256 = if kind == Kind::File {
        Some(scan(fs, &e.path, e.size, body)?)
    } else {
        None
    };
    let node = Node {
        kind,
        mode: e.mode & 0o7777,
        uid: e.uid,
        gid: e.gid,
        size: if kind == Kind::File { e.size } else { 0 },
        link: e.link.clone(),
        sha256,
        layer,
        xattrs: (e.xattrs.iter())
            .map(|(k, v)| (k.clone(), hex::encode(v)))
            .collect(),
        device: match e.kind {
            TarKind::CharDevice => Some(format!("char {}:{}", e.device.0, e.device.1)),
            TarKind::BlockDevice => Some(format!("block {}:{}", e.device.0, e.device.1)),
            TarKind::Fifo => Some("fifo".to_string()),
            _ => None,
        },
    };
    if kind != Kind::Dir {
        // Anything else replaces what was below the path (a symlink over /etc hides the old
        // /etc/passwd: runtimes remove the directory, overlay hides it).
        remove_below(fs, &e.path, usize::MAX);
    }
    let mut node = node;
    if kind == Kind::Hardlink {
        share_inode(fs, &mut node, &e.path);
    }
    // A directory entry keeps what an earlier layer put below it.
    fs.nodes.insert(e.path.clone(), node);
    Ok(())
}

/// A hard link and its target are one inode. Runtimes differ on whether the link's mode,
/// owner and attributes reach it (some chmod the link's path, some do not), so each side
/// takes the worst of both: the setuid and setgid bits and the attributes of either. The
/// link takes its target's content and what was read of it, so that it is audited and
/// compared as the file it is, also once the target's name is whited out.
fn share_inode(fs: &mut Filesystem, link: &mut Node, path: &str) {
    let target = normal(link.link.as_deref().unwrap_or_default());
    let Some(t) = fs.nodes.get_mut(&target) else {
        return;
    };
    t.mode |= link.mode & 0o6000;
    link.mode |= t.mode & 0o6000;
    for (k, v) in &link.xattrs {
        t.xattrs.entry(k.clone()).or_insert_with(|| v.clone());
    }
    for (k, v) in &t.xattrs {
        link.xattrs.entry(k.clone()).or_insert_with(|| v.clone());
    }
    link.sha256.clone_from(&t.sha256);
    link.size = t.size;
    let path = path.to_string();
    if let Some(b) = fs.small.get(&target).cloned() {
        fs.small.insert(path.clone(), b);
    }
    if let Some(i) = fs.elfs.get(&target).cloned() {
        fs.elfs.insert(path.clone(), i);
    }
    if fs.busybox.contains(&target) {
        fs.busybox.insert(path.clone());
    }
    if fs.private_keys.contains(&target) {
        fs.private_keys.insert(path);
    }
}

/// A tar link target as a path of the tree (`./a//b` is `a/b`).
fn normal(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    parts.join("/")
}

/// Hashes a file's content and gathers what the audit needs from it.
fn scan(fs: &mut Filesystem, path: &str, size: u64, body: &mut dyn Read) -> anyhow::Result<String> {
    if is_small_file(path) && size <= MAX_SMALL {
        let bytes = read_capped(body, MAX_SMALL, &format!("/{path}"))?;
        fs.small.insert(path.to_string(), bytes.clone());
        if private_key(&bytes) {
            fs.private_keys.insert(path.to_string());
        }
        return Ok(hex::encode(Sha256::digest(&bytes)));
    }
    let mut h = Sha256::new();
    let mut head = [0u8; 4];
    let mut first = true;
    let mut elf_bytes: Option<Vec<u8>> = None;
    let mut tail: Vec<u8> = Vec::new();
    let (mut busybox, mut key) = (false, false);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = body.read(&mut buf)?;
        if n == 0 {
            break;
        }
        let chunk = &buf[..n];
        h.update(chunk);
        if first {
            head[..n.min(4)].copy_from_slice(&chunk[..n.min(4)]);
            if elf::is_elf(&head) && size <= elf::MAX_ELF {
                elf_bytes = Some(Vec::with_capacity(usize::try_from(size).unwrap_or(0)));
            }
            first = false;
        }
        if let Some(b) = &mut elf_bytes {
            b.extend_from_slice(chunk);
        }
        // Signatures may straddle two reads: look at the end of the last one too.
        let mut window = std::mem::take(&mut tail);
        window.extend_from_slice(chunk);
        busybox |= contains(&window, b"BusyBox v1.") || contains(&window, b"GNU bash, version");
        // Programs and libraries quote PEM markers (a PEM parser does): only other files count.
        key |= elf_bytes.is_none() && private_key(&window);
        let keep = window.len().min(64);
        tail = window[window.len() - keep..].to_vec();
    }
    if busybox {
        fs.busybox.insert(path.to_string());
    }
    if key {
        fs.private_keys.insert(path.to_string());
    }
    if let Some(info) = elf_bytes.as_deref().and_then(elf::parse) {
        fs.elfs.insert(path.to_string(), info);
    }
    Ok(hex::encode(h.finalize()))
}

/// A PEM private key: `-----BEGIN … PRIVATE KEY-----` on a line of its own.
fn private_key(bytes: &[u8]) -> bool {
    let marker = b"-----BEGIN ";
    memchr::memmem::find_iter(bytes, marker).any(|i| {
        let rest = &bytes[i + marker.len()..bytes.len().min(i + marker.len() + 48)];
        // PEM readers take `\r\n` line ends and trailing blanks.
        rest.split(|&b| b == b'\n')
            .next()
            .is_some_and(|line| line.trim_ascii_end().ends_with(b"PRIVATE KEY-----"))
    })
}

/// (memchr's searcher: every byte of every file of an image passes here.)
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}
