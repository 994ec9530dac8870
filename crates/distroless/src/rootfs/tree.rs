//! An image tier's file tree: what one layer will hold, sorted, before it is written.
//!
//! Package contents are streamed out of each `.deb` into an unnamed spool file, and only the
//! headers stay in memory. The spool exists because a layer must list its entries sorted by
//! path across all of its packages, while each `.deb` can only be read front to back; it is
//! written and read sequentially once, so memory stays flat even for a JRE-sized package.
//! This module enforces the image-wide path rules: nothing is written below a symlink (of this
//! tier or an earlier one), and on merged-/usr releases package paths under `/bin`, `/lib`… are
//! moved under `/usr`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, bail};
use debian::deb::{self, Kind};
use oci::layer::{LayerWriter, Meta};

use super::elf;
use super::view::LayerIndex;

/// Top-level directories that are symlinks into `/usr` on a merged-/usr system.
pub const MERGED_DIRS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libx32", "libo32"];

/// Where a regular file's bytes are.
#[derive(Debug, Clone)]
enum Content {
    Spool {
        offset: u64,
        len: u64,
    },
    Inline(Vec<u8>),
    /// A file on the build host (copied application files), streamed when the layer is written.
    Host {
        path: std::path::PathBuf,
        len: u64,
    },
}

impl Content {
    fn len(&self) -> u64 {
        match self {
            Content::Spool { len, .. } | Content::Host { len, .. } => *len,
            Content::Inline(b) => b.len() as u64,
        }
    }
}

#[derive(Debug, Clone)]
enum NodeKind {
    Dir,
    File(Content),
    Symlink(String),
    Hardlink(String),
}

#[derive(Debug, Clone)]
struct Node {
    kind: NodeKind,
    meta: Meta,
    owner: String,
}

/// Files of one tier, keyed by normalised path (`usr/bin/x`).
pub struct Tree {
    nodes: BTreeMap<String, Node>,
    spool: std::fs::File,
    spool_len: u64,
    merged_usr: bool,
    /// Symlinks of earlier tiers, which this tier must not write through.
    outer_symlinks: BTreeSet<String>,
    /// Top-level directories rewritten into /usr by this tier.
    rewritten: BTreeSet<String>,
    /// The packages whose files this tier holds (owners that are packages, not generated).
    packages: BTreeSet<String>,
}

/// Moves `lib/x` to `usr/lib/x` on merged-/usr releases; other paths are unchanged.
pub fn usrmerge(path: &str) -> String {
    let top = path.split('/').next().unwrap_or("");
    if MERGED_DIRS.contains(&top) {
        format!("usr/{path}")
    } else {
        path.to_string()
    }
}

impl Tree {
    /// An empty tier above the given symlinks of earlier tiers.
    pub fn new(merged_usr: bool, outer_symlinks: BTreeSet<String>) -> anyhow::Result<Self> {
        Ok(Tree {
            nodes: BTreeMap::new(),
            spool: tempfile::tempfile().context("creating a spool file")?,
            spool_len: 0,
            merged_usr,
            outer_symlinks,
            rewritten: BTreeSet::new(),
            packages: BTreeSet::new(),
        })
    }

    /// The paths packages placed in this tier (path, package, whether a directory).
    pub fn package_paths(&self) -> impl Iterator<Item = (&str, &str, bool)> {
        self.nodes
            .iter()
            .filter(|(_, n)| self.packages.contains(&n.owner))
            .map(|(p, n)| {
                (
                    p.as_str(),
                    n.owner.as_str(),
                    matches!(n.kind, NodeKind::Dir),
                )
            })
    }

    /// Whether a path exists in this tier.
    pub fn contains(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tier is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Maps a package path to where it lands in the image.
    pub fn place(&mut self, path: &str, is_merge_link: bool) -> String {
        if !self.merged_usr || is_merge_link {
            return path.to_string();
        }
        let placed = usrmerge(path);
        if placed != path {
            self.rewritten
                .insert(path.split('/').next().unwrap_or("").to_string());
        }
        placed
    }

    fn check_not_through_symlink(&self, owner: &str, path: &str) -> anyhow::Result<()> {
        let mut cur = path;
        while let Some((parent, _)) = cur.rsplit_once('/') {
            let ours = self
                .nodes
                .get(parent)
                .is_some_and(|n| matches!(n.kind, NodeKind::Symlink(_)));
            if ours || self.outer_symlinks.contains(parent) {
                bail!("{owner}: entry /{path} would be written through the symlink /{parent}");
            }
            cur = parent;
        }
        Ok(())
    }

    fn insert(&mut self, path: String, node: Node) -> anyhow::Result<()> {
        self.check_not_through_symlink(&node.owner, &path)?;
        match (self.nodes.get(&path), &node.kind) {
            // A directory shipped by several packages is one directory; the first keeps its mode.
            (Some(existing), NodeKind::Dir) if matches!(existing.kind, NodeKind::Dir) => {}
            (Some(existing), _) if matches!(existing.kind, NodeKind::Dir) => {
                bail!(
                    "{}: /{path} is a directory from {} and cannot be replaced by a file",
                    node.owner,
                    existing.owner
                );
            }
            _ => {
                self.nodes.insert(path, node);
            }
        }
        Ok(())
    }

    /// Adds every data entry of a `.deb`; returns the placed path of each original path.
    pub fn add_deb(
        &mut self,
        deb_path: &Path,
        package: &str,
    ) -> anyhow::Result<BTreeMap<String, String>> {
        self.add_deb_filtered(deb_path, package, None)
    }

    /// Adds the data entries of a `.deb` that lie at or under one of `only` (original or
    /// merged-/usr paths); everything when `only` is `None`.
    pub fn add_deb_filtered(
        &mut self,
        deb_path: &Path,
        package: &str,
        only: Option<&[String]>,
    ) -> anyhow::Result<BTreeMap<String, String>> {
        let mut placed_paths = BTreeMap::new();
        self.packages.insert(package.to_string());
        let wanted = |p: &str| {
            only.is_none_or(|list| {
                list.iter().any(|w| {
                    let w = w.trim_matches('/');
                    p == w || p.starts_with(&format!("{w}/"))
                })
            })
        };
        deb::read_data(deb_path, package, |entry, reader| {
            if !wanted(&entry.path) && !wanted(&usrmerge(&entry.path)) {
                return Ok(());
            }
            let is_merge_link = matches!(&entry.kind, Kind::Symlink(t)
                if MERGED_DIRS.contains(&entry.path.as_str()) && t.trim_start_matches('/') == format!("usr/{}", entry.path));
            let path = self.place(&entry.path, is_merge_link);
            let meta = Meta {
                mode: entry.mode,
                uid: entry.uid,
                gid: entry.gid,
            };
            let kind = match &entry.kind {
                Kind::Dir => NodeKind::Dir,
                Kind::Symlink(t) => NodeKind::Symlink(t.clone()),
                Kind::Hardlink(t) => NodeKind::Hardlink(self.place(t, false)),
                Kind::File => {
                    let offset = self.spool_len;
                    let n =
                        std::io::copy(reader, &mut SpoolWriter(&mut self.spool)).map_err(|e| {
                            debian::Error::deb(package, format!("reading /{}: {e}", entry.path))
                        })?;
                    if n != entry.size {
                        return Err(debian::Error::deb(
                            package,
                            format!("/{} is truncated", entry.path),
                        ));
                    }
                    self.spool_len += n;
                    NodeKind::File(Content::Spool { offset, len: n })
                }
            };
            // Two packages shipping one file is a conflict dpkg refuses: one would silently
            // replace the other's file (a library, a status.d record).
            if !matches!(kind, NodeKind::Dir)
                && let Some(existing) = self.nodes.get(&path)
                && existing.owner != package
                && self.packages.contains(&existing.owner)
            {
                return Err(debian::Error::deb(
                    package,
                    format!("ships /{path}, which {} ships too", existing.owner),
                ));
            }
            placed_paths.insert(entry.path.clone(), path.clone());
            self.insert(
                path,
                Node {
                    kind,
                    meta,
                    owner: package.to_string(),
                },
            )
            .map_err(|e| debian::Error::deb(package, format!("{e:#}")))
        })?;
        Ok(placed_paths)
    }

    /// Removes a path (and what is below it) from the tier; returns whether it was there.
    pub fn remove(&mut self, path: &str) -> bool {
        let prefix = format!("{path}/");
        let before = self.nodes.len();
        self.nodes
            .retain(|p, _| p != path && !p.starts_with(&prefix));
        self.nodes.len() != before
    }

    /// Adds a generated regular file, replacing whatever a package put there.
    pub fn put_file(&mut self, path: &str, bytes: Vec<u8>, meta: Meta) -> anyhow::Result<()> {
        self.check_not_through_symlink("generated", path)?;
        self.nodes.insert(
            path.to_string(),
            Node {
                kind: NodeKind::File(Content::Inline(bytes)),
                meta,
                owner: "generated".into(),
            },
        );
        Ok(())
    }

    /// Adds a file from the build host, read only when the layer is written.
    pub fn put_host_file(&mut self, path: &str, host: &Path, meta: Meta) -> anyhow::Result<()> {
        self.check_not_through_symlink(&host.display().to_string(), path)?;
        let len = fs_err::metadata(host)?.len();
        self.nodes.insert(
            path.to_string(),
            Node {
                kind: NodeKind::File(Content::Host {
                    path: host.to_path_buf(),
                    len,
                }),
                meta,
                owner: host.display().to_string(),
            },
        );
        Ok(())
    }

    /// Adds a symlink with an owner.
    pub fn put_symlink_owned(
        &mut self,
        path: &str,
        target: &str,
        meta: Meta,
    ) -> anyhow::Result<()> {
        self.put_symlink(path, target)?;
        if let Some(n) = self.nodes.get_mut(path) {
            n.meta = meta;
        }
        Ok(())
    }

    /// Adds (or re-modes) a generated directory.
    pub fn put_dir(&mut self, path: &str, meta: Meta) -> anyhow::Result<()> {
        self.check_not_through_symlink("generated", path)?;
        self.nodes.insert(
            path.to_string(),
            Node {
                kind: NodeKind::Dir,
                meta,
                owner: "generated".into(),
            },
        );
        Ok(())
    }

    /// Adds a generated symlink, replacing whatever a package put there.
    pub fn put_symlink(&mut self, path: &str, target: &str) -> anyhow::Result<()> {
        self.check_not_through_symlink("generated", path)?;
        self.nodes.insert(
            path.to_string(),
            Node {
                kind: NodeKind::Symlink(target.to_string()),
                meta: Meta::root(0o777),
                owner: "generated".into(),
            },
        );
        Ok(())
    }

    /// On merged-/usr releases, adds `/lib64 → usr/lib64` and friends for every top-level
    /// directory this tier moved, unless a lower tier or a package already made the link.
    pub fn add_merge_links(&mut self) -> anyhow::Result<()> {
        for dir in self.rewritten.clone() {
            if !self.nodes.contains_key(&dir) && !self.outer_symlinks.contains(&dir) {
                self.put_symlink(&dir, &format!("usr/{dir}"))?;
            }
        }
        Ok(())
    }

    /// What later generators and checks need to know about this tier: paths, symlinks, ELF
    /// facts (read from the spool) and the `ld.so.conf` files.
    pub fn index(&mut self) -> anyhow::Result<LayerIndex> {
        let mut index = LayerIndex::default();
        let entries: Vec<(String, NodeKind)> = self
            .nodes
            .iter()
            .map(|(p, n)| (p.clone(), n.kind.clone()))
            .collect();
        for (path, kind) in entries {
            let mut cur = path.as_str();
            while let Some((parent, _)) = cur.rsplit_once('/') {
                if !self.nodes.contains_key(parent) {
                    index.dirs.insert(parent.to_string());
                }
                cur = parent;
            }
            match kind {
                NodeKind::Dir => {
                    index.dirs.insert(path);
                }
                NodeKind::Symlink(t) => {
                    index.symlinks.insert(path, t);
                }
                NodeKind::Hardlink(target) => {
                    if let Some(elf) = index.elfs.get(&target).cloned() {
                        index.elfs.insert(path.clone(), elf);
                    }
                    index.files.insert(path);
                }
                NodeKind::File(content) => {
                    let is_conf = path == "etc/ld.so.conf" || path.starts_with("etc/ld.so.conf.d/");
                    if is_conf || self.head_is_elf(&content)? {
                        let len = content.len();
                        if len > elf::MAX_ELF {
                            return Err(elf::too_large(&path, len));
                        }
                        let bytes = self.content(&content)?;
                        if is_conf {
                            index
                                .configs
                                .insert(path.clone(), String::from_utf8_lossy(&bytes).to_string());
                        } else if let Some(info) = elf::parse(&bytes) {
                            index.elfs.insert(path.clone(), info);
                        }
                    }
                    index.files.insert(path);
                }
            }
        }
        Ok(index)
    }

    fn head_is_elf(&mut self, c: &Content) -> anyhow::Result<bool> {
        Ok(match c {
            Content::Inline(b) => elf::is_elf(b),
            Content::Host { path, len } => {
                let mut head = [0u8; 4];
                *len >= 64
                    && fs_err::File::open(path)?.read_exact(&mut head).is_ok()
                    && elf::is_elf(&head)
            }
            Content::Spool { offset, len } => {
                if *len < 64 {
                    return Ok(false);
                }
                let mut head = [0u8; 4];
                self.spool.seek(SeekFrom::Start(*offset))?;
                self.spool.read_exact(&mut head)?;
                elf::is_elf(&head)
            }
        })
    }

    /// The first `limit` bytes of a regular file of the tree (not through links); `None`
    /// when the path is not one.
    pub fn file_head(&mut self, path: &str, limit: u64) -> anyhow::Result<Option<Vec<u8>>> {
        let Some(NodeKind::File(c)) = self.nodes.get(path).map(|n| n.kind.clone()) else {
            return Ok(None);
        };
        let mut bytes = self.content(&c)?;
        bytes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(Some(bytes))
    }

    fn content(&mut self, c: &Content) -> anyhow::Result<Vec<u8>> {
        Ok(match c {
            Content::Inline(b) => b.clone(),
            Content::Host { path, .. } => fs_err::read(path)?,
            Content::Spool { offset, len } => {
                self.spool.seek(SeekFrom::Start(*offset))?;
                let mut out = Vec::with_capacity(usize::try_from(*len).unwrap_or(0));
                (&self.spool).take(*len).read_to_end(&mut out)?;
                out
            }
        })
    }

    /// Writes the tier, sorted, with implied parent directories, into a layer.
    pub fn write_layer(&mut self, layer: &mut LayerWriter) -> anyhow::Result<()> {
        let mut written: BTreeSet<String> = BTreeSet::new();
        let paths: Vec<String> = self.nodes.keys().cloned().collect();
        for path in paths {
            // Implied parents first, as root-owned 0755 directories.
            let mut parents = Vec::new();
            let mut cur = path.as_str();
            while let Some((parent, _)) = cur.rsplit_once('/') {
                if !self.nodes.contains_key(parent) && !written.contains(parent) {
                    parents.push(parent.to_string());
                }
                cur = parent;
            }
            for p in parents.into_iter().rev() {
                if !self.outer_symlinks.contains(&p) {
                    layer.dir(&p, Meta::root(0o755))?;
                }
                written.insert(p);
            }
            let node = self.nodes[&path].clone();
            match &node.kind {
                NodeKind::Dir => layer.dir(&path, node.meta)?,
                NodeKind::Symlink(t) => layer.symlink(&path, t, node.meta)?,
                NodeKind::File(c) => self.write_content(layer, &path, node.meta, c)?,
                NodeKind::Hardlink(target) => {
                    if written.contains(target) {
                        layer.hardlink(&path, target, node.meta)?;
                    } else {
                        // The target sorts after the link; a tar link must point backwards,
                        // so this entry carries its own copy of the bytes.
                        let Some(NodeKind::File(c)) =
                            self.nodes.get(target).map(|n| n.kind.clone())
                        else {
                            bail!(
                                "{}: hard link /{path} points to /{target}, which is not a file",
                                node.owner
                            );
                        };
                        self.write_content(layer, &path, node.meta, &c)?;
                    }
                }
            }
            written.insert(path);
        }
        Ok(())
    }

    fn write_content(
        &mut self,
        layer: &mut LayerWriter,
        path: &str,
        meta: Meta,
        c: &Content,
    ) -> anyhow::Result<()> {
        match c {
            Content::Inline(bytes) => {
                layer.file(path, meta, bytes.len() as u64, &mut bytes.as_slice())?;
            }
            Content::Host { path: host, len } => {
                let mut f = fs_err::File::open(host)?;
                layer.file(path, meta, *len, &mut f)?;
            }
            Content::Spool { offset, len } => {
                self.spool.seek(SeekFrom::Start(*offset))?;
                let mut r = (&self.spool).take(*len);
                layer.file(path, meta, *len, &mut r)?;
            }
        }
        Ok(())
    }
}

/// Appends to the spool, whatever position a read left the file at.
struct SpoolWriter<'a>(&'a mut std::fs::File);

impl Write for SpoolWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.seek(SeekFrom::End(0))?;
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usrmerge_moves_top_level_dirs_only() {
        assert_eq!(
            usrmerge("lib64/ld-linux-x86-64.so.2"),
            "usr/lib64/ld-linux-x86-64.so.2"
        );
        assert_eq!(usrmerge("bin"), "usr/bin");
        assert_eq!(usrmerge("etc/passwd"), "etc/passwd");
        assert_eq!(usrmerge("library/x"), "library/x");
    }

    #[test]
    fn generated_files_cannot_go_through_symlinks() {
        let mut t = Tree::new(false, BTreeSet::from(["etc/ssl".to_string()])).unwrap();
        assert!(t.put_file("etc/ssl/x", vec![], Meta::root(0o644)).is_err());
        t.put_symlink("a", "b").unwrap();
        let err = t
            .put_file("a/c", vec![], Meta::root(0o644))
            .unwrap_err()
            .to_string();
        assert!(err.contains("through the symlink /a"), "{err}");
    }
}
