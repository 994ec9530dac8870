//! A read-only view of the whole image's file system, merged from per-layer indexes.
//!
//! Each layer records its paths, symlinks, ELF facts and the few small configuration files
//! generators need (`/etc/ld.so.conf*`). Merging them in layer order gives the file system a
//! container would see, without unpacking anything.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::elf::ElfInfo;

/// Files of one layer that later generators and checks need.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerIndex {
    pub dirs: BTreeSet<String>,
    pub files: BTreeSet<String>,
    pub symlinks: BTreeMap<String, String>,
    pub elfs: BTreeMap<String, ElfInfo>,
    /// Contents of `etc/ld.so.conf` and `etc/ld.so.conf.d/*`.
    pub configs: BTreeMap<String, String>,
}

/// The merged file system of an image.
#[derive(Debug, Clone, Default)]
pub struct ImageView {
    pub index: LayerIndex,
}

/// What a path is after following symlinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    File(String),
    Dir(String),
    Missing,
}

/// Whether a sorted set holds a path below `prefix` (which ends in `/`).
fn starts_under(set: &BTreeSet<String>, prefix: &str) -> bool {
    set.range(prefix.to_string()..)
        .next()
        .is_some_and(|p| p.starts_with(prefix))
}

impl ImageView {
    /// Whether the image has glibc (and so wants an `ld.so.cache`).
    pub fn has_glibc(&self) -> bool {
        self.index.elfs.values().any(|e| {
            e.soname
                .as_deref()
                .is_some_and(|s| s.starts_with("libc.so."))
        })
    }

    /// Adds a layer on top.
    pub fn push(&mut self, layer: &LayerIndex) {
        let i = &mut self.index;
        for p in layer.dirs.iter().chain(&layer.files) {
            i.symlinks.remove(p);
        }
        for p in layer.symlinks.keys().chain(&layer.files) {
            i.dirs.remove(p);
        }
        for p in layer.symlinks.keys().chain(&layer.dirs) {
            i.files.remove(p);
            i.elfs.remove(p);
        }
        i.dirs.extend(layer.dirs.iter().cloned());
        i.files.extend(layer.files.iter().cloned());
        i.symlinks.extend(layer.symlinks.clone());
        i.elfs.extend(layer.elfs.clone());
        i.configs.extend(layer.configs.clone());
    }

    /// The path with every link of the image followed, whether or not what it leads to exists
    /// yet (a copy to `/bin/x` on a merged-/usr image whose `/usr/bin` no package made);
    /// `None` on a link loop.
    pub fn real_path(&self, path: &str) -> Option<String> {
        self.walk(path, false)
    }

    /// Follows symlinks (absolute and relative) inside the image; paths are without a leading `/`.
    pub fn resolve(&self, path: &str) -> Resolved {
        match self.walk(path, true) {
            None => Resolved::Missing,
            Some(real) if self.index.files.contains(&real) => Resolved::File(real),
            Some(real) => Resolved::Dir(real),
        }
    }

    /// Walks `path` component by component, following every link (at most 40): the real path,
    /// or `None` on a loop or, when `must_exist`, at the first component the image lacks.
    fn walk(&self, path: &str, must_exist: bool) -> Option<String> {
        let words = |p: &str| -> Vec<String> {
            (p.split('/').rev())
                .filter(|s| !s.is_empty() && *s != ".")
                .map(str::to_string)
                .collect()
        };
        let mut pending = words(path);
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(part) = pending.pop() {
            if part == ".." {
                cur.pop();
                continue;
            }
            cur.push(part);
            let joined = cur.join("/");
            if let Some(target) = self.index.symlinks.get(&joined) {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                cur.pop();
                if target.starts_with('/') {
                    cur.clear();
                }
                pending.extend(words(target));
            } else if must_exist && !self.exists(&joined) {
                return None;
            }
        }
        Some(cur.join("/"))
    }

    /// Whether the image has `path` (not a link): a file, a directory, or a directory implied
    /// by deeper paths.
    fn exists(&self, path: &str) -> bool {
        if self.index.dirs.contains(path) || self.index.files.contains(path) {
            return true;
        }
        let prefix = format!("{path}/");
        starts_under(&self.index.files, &prefix)
            || starts_under(&self.index.dirs, &prefix)
            || (self.index.symlinks.range(prefix.clone()..).next())
                .is_some_and(|(p, _)| p.starts_with(&prefix))
    }

    /// Entries directly inside a directory (files and symlinks), by name.
    pub fn list(&self, dir: &str) -> Vec<String> {
        let prefix = format!("{dir}/");
        let direct = |p: &&String| p.starts_with(&prefix) && !p[prefix.len()..].contains('/');
        let mut out: Vec<String> = self
            .index
            .files
            .range(prefix.clone()..)
            .take_while(|p| p.starts_with(&prefix))
            .filter(direct)
            .chain(
                self.index
                    .symlinks
                    .range(prefix.clone()..)
                    .map(|(k, _)| k)
                    .take_while(|p| p.starts_with(&prefix))
                    .filter(direct),
            )
            .map(|p| p[prefix.len()..].to_string())
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_merged_usr_links() {
        let mut l = LayerIndex::default();
        l.symlinks.insert("lib".into(), "usr/lib".into());
        l.symlinks.insert(
            "usr/lib/x86_64-linux-gnu/libz.so.1".into(),
            "libz.so.1.3".into(),
        );
        l.symlinks
            .insert("lib64/ld.so".into(), "/lib/x86_64-linux-gnu/ld.so.2".into());
        l.files
            .insert("usr/lib/x86_64-linux-gnu/libz.so.1.3".into());
        l.files.insert("usr/lib/x86_64-linux-gnu/ld.so.2".into());
        let mut v = ImageView::default();
        v.push(&l);
        assert_eq!(
            v.resolve("lib/x86_64-linux-gnu/libz.so.1"),
            Resolved::File("usr/lib/x86_64-linux-gnu/libz.so.1.3".into())
        );
        assert_eq!(
            v.resolve("lib64/ld.so"),
            Resolved::File("usr/lib/x86_64-linux-gnu/ld.so.2".into())
        );
        assert_eq!(
            v.resolve("lib/x86_64-linux-gnu"),
            Resolved::Dir("usr/lib/x86_64-linux-gnu".into())
        );
        assert_eq!(v.resolve("lib/nope.so"), Resolved::Missing);
        // Where a path would be, through the links, even when nothing is there yet.
        assert_eq!(
            v.real_path("lib/new/dir").as_deref(),
            Some("usr/lib/new/dir")
        );
        assert_eq!(v.real_path("etc").as_deref(), Some("etc"));
        let mut looped = LayerIndex::default();
        looped.symlinks.insert("a".into(), "b".into());
        looped.symlinks.insert("b".into(), "a".into());
        v.push(&looped);
        assert_eq!(v.real_path("a/x"), None);
        assert_eq!(
            v.list("usr/lib/x86_64-linux-gnu"),
            ["ld.so.2", "libz.so.1", "libz.so.1.3"]
        );
    }
}
