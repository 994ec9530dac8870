//! From a plan to layers: which packages and generated files go in each layer, building a
//! layer's tree, and the layer cache.
//!
//! A layer is cached under a key made of every input that shapes its bytes (packages by hash,
//! generated content, the layers below it, compression, epoch), so a warm rebuild only writes
//! JSON and a child image reuses its parent's layer blobs byte for byte. Each cache entry also
//! keeps the layer's [`LayerIndex`], which `ld.so.cache` and the closure check read.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use debian::index::Package;
use oci::layer::{Compression, LayerBlob, LayerWriter, Meta};
use oci::layout::LayoutWriter;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache::Cache;
use crate::debs::Debs;
use crate::plan::Plan;
use crate::rootfs::effect::Effect;
use crate::rootfs::view::{ImageView, LayerIndex};
use crate::rootfs::{self, Tree};

mod cached;
mod units;

use cached::{cached, store};
pub use units::units;

/// How packages are grouped into layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layering {
    /// One layer per tier: static, then what base adds, then what cc adds.
    #[default]
    Tier,
    /// One layer per package.
    Package,
}

/// A file system entry an application unit adds (paths without the leading `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GenEntry {
    Dir(String, Meta),
    File(String, Vec<u8>, Meta),
    /// A file of the build host, streamed into the layer.
    Host(String, PathBuf, Meta),
    Symlink(String, String, Meta),
}

/// One layer to build: its label, packages, and generated content.
#[derive(Debug, Clone, Default)]
pub struct Unit {
    /// Entries added as they are (application files, accounts).
    pub entries: Vec<GenEntry>,
    /// Whether the layer may be taken from / stored in the layer cache (not for host files,
    /// whose content the key cannot see cheaply).
    pub uncached: bool,
    pub label: String,
    pub packages: Vec<Package>,
    /// Packages of which only the listed paths are taken.
    pub partial: Vec<(Package, Vec<String>)>,
    /// What maintainer scripts would have done, made after the packages, in order (each
    /// effect says what it adds and what its part of the layer key is).
    pub effects: Vec<Arc<dyn Effect>>,
    /// Regenerate `/etc/ld.so.cache` for everything up to this layer.
    pub ldcache: bool,
    /// Its entries may not replace a file or link a lower layer holds (an upstream archive,
    /// like a package: it adds to the image, never overwrites `/etc/passwd` or the CA bundle).
    pub adds_only: bool,
    /// Entries made only when the layer is not in the cache (an archive unpacked), and what
    /// names their content in the layer key (the archive's SHA-256 and how it is unpacked).
    pub lazy: Option<LazyEntries>,
}

impl Unit {
    /// The names of its effects, in order.
    pub fn effect_names(&self) -> Vec<&'static str> {
        self.effects.iter().map(|e| e.name()).collect()
    }
}

/// Entries made on demand, with a guard that keeps their files (a temporary directory) until
/// the layer is written.
#[derive(Clone)]
pub struct LazyEntries {
    /// Everything that shapes the entries' bytes.
    pub key: String,
    #[allow(clippy::type_complexity)]
    pub make: std::sync::Arc<
        dyn Fn() -> anyhow::Result<(Vec<GenEntry>, Box<dyn std::any::Any + Send>)> + Send + Sync,
    >,
}

impl std::fmt::Debug for LazyEntries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyEntries")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Everything besides the unit that a layer's bytes depend on.
pub struct LayerInputs<'a> {
    pub plan: &'a Plan,
    pub debs: &'a Debs<'a>,
    pub merged_usr: bool,
    pub release: (u32, &'a str),
    pub compression: Compression,
    pub epoch: u64,
}

/// The version of the bytes this module and the rootfs effects write for the same inputs: part
/// of every layer's cache key, so a change of those bytes must move it, or a warm cache would
/// hand out layers of the old shape. The hermetic test `layer_bytes_move_with_their_version`
/// (`tests/hermetic.rs`) fails when the bytes change and this does not.
pub const FORMAT: u32 = 9;

impl rootfs::effect::Inputs for LayerInputs<'_> {
    fn deb(&self, package: &Package) -> anyhow::Result<PathBuf> {
        self.debs.path(package)
    }

    fn release(&self) -> (u32, &str) {
        self.release
    }

    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn ca_certificates(&self) -> &Package {
        &self.plan.ca_certificates
    }

    fn busybox(&self) -> Option<&Package> {
        self.plan.busybox.as_ref()
    }
}

#[derive(Serialize, Deserialize)]
struct CachedLayer {
    blob: LayerBlob,
    index: LayerIndex,
}

fn layer_key(inputs: &LayerInputs<'_>, unit: &Unit, below: &[String]) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    h.update(format!("format {FORMAT}\n"));
    h.update(format!(
        "{:?} {} {} {:?} {}\n",
        inputs.compression, inputs.epoch, inputs.merged_usr, inputs.release, inputs.plan.arch
    ));
    for d in below {
        h.update(format!("below {d}\n"));
    }
    for p in &unit.packages {
        h.update(format!("pkg {} {}\n", p.name, p.sha256));
    }
    for (p, paths) in &unit.partial {
        h.update(format!("partial {} {} {paths:?}\n", p.name, p.sha256));
    }
    if let Some(lazy) = &unit.lazy {
        h.update(format!("lazy {}\n", lazy.key));
    }
    for e in &unit.effects {
        h.update(format!("effect {} {}\n", e.name(), e.key(inputs)?));
    }
    h.update(format!("ldcache {}\n", unit.ldcache));
    Ok(hex::encode(h.finalize()))
}

/// A layer that was built or taken from the cache.
pub struct BuiltLayer {
    pub blob: LayerBlob,
    pub index: LayerIndex,
    /// Taken from the layer cache rather than built now.
    pub cached: bool,
}

/// A layer taken from a cache, or made and ready to write: its tree is complete and its index
/// known, so the layer above can be prepared while this one is compressed.
pub enum Prepared {
    /// From the local cache or the shared repository, with its key.
    Known(BuiltLayer, String),
    Pending(PendingLayer),
}

/// A layer whose tree is made and whose index is known, not yet written.
pub struct PendingLayer {
    tree: Tree,
    pub index: LayerIndex,
    key: String,
    /// Made of host files: neither taken from nor stored in a cache, and named to the layers
    /// above by its diff_id (its key cannot see the files' bytes).
    pub uncached: bool,
    compression: Compression,
    epoch: u64,
    /// Keeps lazily made files (an unpacked archive) until the layer is written.
    _guard: Option<Box<dyn std::any::Any + Send>>,
}

impl PendingLayer {
    /// What names this layer in the keys of the layers above: its key (everything that shapes
    /// its bytes), so they can be keyed before it is compressed.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Compresses the layer into the layout and keeps it in the caches.
    pub fn write(mut self, cache: &Cache, layout: &LayoutWriter) -> anyhow::Result<BuiltLayer> {
        let mut writer = LayerWriter::new(&layout.blobs(), self.compression, self.epoch)?;
        self.tree.write_layer(&mut writer)?;
        let blob = writer.finish()?;
        if !self.uncached {
            store(cache, layout, &self.key, &blob, &self.index)?;
        }
        Ok(BuiltLayer {
            blob,
            index: self.index,
            cached: false,
        })
    }
}

/// Takes a layer from the caches, or makes its tree and index (not yet compressed); `None`
/// when the unit turned out to hold nothing.
pub fn prepare_layer(
    inputs: &LayerInputs<'_>,
    cache: &Cache,
    layout: &LayoutWriter,
    unit: &Unit,
    view: &ImageView,
    below: &[String],
) -> anyhow::Result<Option<Prepared>> {
    let key = layer_key(inputs, unit, below)?;
    if !unit.uncached
        && let Some(hit) = cached(cache, layout, &key, (view, inputs.compression))?
    {
        return Ok(Some(Prepared::Known(hit, key)));
    }
    let below_links: BTreeSet<String> = view.index.symlinks.keys().cloned().collect();
    let mut tree = Tree::new(inputs.merged_usr, below_links)?;
    fill(inputs, cache, unit, &mut tree)?;
    no_conflicts_below(&tree, view)?;
    // Made now that the cache has missed; the guard keeps their files until the layer is out.
    let (made, guard) = match &unit.lazy {
        Some(lazy) => {
            let (entries, guard) = (lazy.make)()?;
            (entries, Some(guard))
        }
        None => (Vec::new(), None),
    };
    // A directory the image has keeps its owner and mode (`/home/nonroot` 65532 0700, `/tmp`
    // 1777): what adds to an image only adds.
    let entries: Vec<&GenEntry> = (unit.entries.iter().chain(&made))
        .filter(|e| match e {
            GenEntry::Dir(p, _) if unit.adds_only => {
                !matches!(view.resolve(p), crate::rootfs::view::Resolved::Dir(_))
            }
            _ => true,
        })
        .collect();
    if unit.adds_only {
        nothing_replaced(&entries, view)?;
    }
    add_generated(&entries, view, &mut tree)?;
    let mut index = tree.index()?;
    if unit.ldcache {
        let mut with = view.clone();
        with.push(&index);
        if with.has_glibc() {
            let entries = rootfs::ldcache::entries(&with, inputs.plan.arch);
            tree.put_file(
                "etc/ld.so.cache",
                rootfs::ldcache::serialise(&entries, inputs.plan.arch.big_endian()),
                Meta::root(0o644),
            )?;
            index.files.insert("etc/ld.so.cache".into());
        }
    }
    if tree.is_empty() {
        // A generated-files unit with nothing to generate adds no layer.
        return Ok(None);
    }
    Ok(Some(Prepared::Pending(PendingLayer {
        tree,
        index,
        key,
        uncached: unit.uncached,
        compression: inputs.compression,
        epoch: inputs.epoch,
        _guard: guard,
    })))
}

/// A package may not replace what a lower layer holds: a file, a link, or a directory by
/// something that is not one (dpkg refuses such conflicts; here a layer would silently win,
/// over a library or a status.d record) — whatever archive, repository or file it came from.
fn no_conflicts_below(tree: &Tree, view: &ImageView) -> anyhow::Result<()> {
    for (path, package, is_dir) in tree.package_paths() {
        let below_file = view.index.files.contains(path) || view.index.symlinks.contains_key(path);
        if !is_dir && below_file {
            anyhow::bail!("{package}: ships /{path}, which a lower layer already has");
        }
        if !is_dir && view.index.dirs.contains(path) {
            anyhow::bail!("{package}: ships /{path}, which is a directory in a lower layer");
        }
    }
    Ok(())
}

/// Fails when a generated file or link would land on one a lower layer holds.
fn nothing_replaced(entries: &[&GenEntry], view: &ImageView) -> anyhow::Result<()> {
    for g in entries {
        let (GenEntry::File(p, ..) | GenEntry::Host(p, ..) | GenEntry::Symlink(p, ..)) = g else {
            continue;
        };
        let landed = land(view, p)?;
        if view.index.files.contains(&landed) || view.index.symlinks.contains_key(&landed) {
            anyhow::bail!(
                "/{p} is already in the image (a lower layer has it); it may not be replaced"
            );
        }
    }
    Ok(())
}

/// Where a path lands when its parent directories are followed through the image's own
/// symlinks (copying to `/lib/x` on a merged-/usr image writes `/usr/lib/x`). A parent that
/// is a file in the image is refused: writing below it would turn the file (a CA bundle, a
/// program) into a directory.
/// Where a path an application names lands in the image: through the image's directory links
/// (`bin/app` is `usr/bin/app` on a merged-/usr image). Paths that cannot land stay as given
/// (the layer refuses them when it is built).
pub fn landed(view: &ImageView, path: &str) -> String {
    land(view, path).unwrap_or_else(|_| path.to_string())
}

fn land(view: &ImageView, path: &str) -> anyhow::Result<String> {
    let Some((parent, name)) = path.rsplit_once('/') else {
        return Ok(path.to_string());
    };
    let mut cur = parent;
    loop {
        if let crate::rootfs::view::Resolved::File(_) = view.resolve(cur) {
            anyhow::bail!("/{path}: /{cur} is a file in the image, not a directory");
        }
        match cur.rsplit_once('/') {
            Some((up, _)) => cur = up,
            None => break,
        }
    }
    Ok(match view.resolve(parent) {
        crate::rootfs::view::Resolved::Dir(real) if !real.is_empty() => format!("{real}/{name}"),
        // Through a link to a directory nothing made yet: where the link leads.
        crate::rootfs::view::Resolved::Missing => match view.real_path(parent) {
            Some(real) if !real.is_empty() => format!("{real}/{name}"),
            _ => path.to_string(),
        },
        crate::rootfs::view::Resolved::File(_) | crate::rootfs::view::Resolved::Dir(_) => {
            path.to_string()
        }
    })
}

fn add_generated(entries: &[&GenEntry], view: &ImageView, tree: &mut Tree) -> anyhow::Result<()> {
    for g in entries {
        // A file or link where the image has a directory would take the directory away
        // (a CA bundle's directory, `/bin` on a merged-/usr release).
        let (p, is_dir) = match g {
            GenEntry::Dir(p, _) => (p, true),
            GenEntry::File(p, ..) | GenEntry::Host(p, ..) | GenEntry::Symlink(p, ..) => (p, false),
        };
        let landed = land(view, p)?;
        if !is_dir && view.index.dirs.contains(&landed) {
            anyhow::bail!("/{p} would replace a directory of the image");
        }
        match g {
            // A directory the image has as a link to a directory (`bin` → `usr/bin`) is that
            // directory: the link stays.
            GenEntry::Dir(p, m) => match view.resolve(p) {
                crate::rootfs::view::Resolved::Dir(real) if real != *p => {
                    tree.put_dir(&real, *m)?;
                }
                _ => tree.put_dir(&land(view, p)?, *m)?,
            },
            GenEntry::File(p, bytes, m) => tree.put_file(&land(view, p)?, bytes.clone(), *m)?,
            GenEntry::Host(p, host, m) => tree.put_host_file(&land(view, p)?, host, *m)?,
            GenEntry::Symlink(p, t, m) => tree.put_symlink_owned(&land(view, p)?, t, *m)?,
        }
    }
    Ok(())
}

/// Builds an uncached layer of generated entries on top of `view` (for foreign bases).
pub fn build_generated(
    unit: &Unit,
    view: &ImageView,
    layout: &LayoutWriter,
    compression: Compression,
    epoch: u64,
) -> anyhow::Result<(LayerBlob, LayerIndex)> {
    let below_links: BTreeSet<String> = view.index.symlinks.keys().cloned().collect();
    let mut tree = Tree::new(false, below_links)?;
    add_generated(&unit.entries.iter().collect::<Vec<_>>(), view, &mut tree)?;
    let index = tree.index()?;
    let mut writer = LayerWriter::new(&layout.blobs(), compression, epoch)?;
    tree.write_layer(&mut writer)?;
    Ok((writer.finish()?, index))
}

fn fill(
    inputs: &LayerInputs<'_>,
    cache: &Cache,
    unit: &Unit,
    tree: &mut Tree,
) -> anyhow::Result<()> {
    for p in &unit.packages {
        let deb = inputs.debs.path(p)?;
        let control = debian::deb::read_control(&deb, &p.name)?;
        let placed = tree.add_deb(&deb, &p.name)?;
        rootfs::dpkg::add_records(tree, &p.name, &control, &placed)?;
        // The SBOMs' facts, while the package is unpacked (else read from it a second time).
        crate::sbom::remember_facts(cache, p, &control, tree)?;
    }
    for (p, paths) in &unit.partial {
        let deb = inputs.debs.path(p)?;
        let control = debian::deb::read_control(&deb, &p.name)?;
        let placed = tree.add_deb_filtered(&deb, &p.name, Some(paths))?;
        rootfs::dpkg::add_partial_records(tree, &p.name, &control, &placed)?;
    }
    for e in &unit.effects {
        e.apply(tree, inputs)
            .map_err(|err| err.context(format!("{} of layer `{}`", e.name(), unit.label)))?;
    }
    tree.add_merge_links()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Catalog;
    use crate::model::recipe::Recipe;
    use crate::plan::testing;

    fn chain() -> (Catalog, crate::plan::Plan) {
        let plan = testing::plan(&[
            ("static", &["base-files", "tzdata"]),
            ("base-nossl", &["libc6"]),
        ]);
        (Catalog::embedded().unwrap(), plan)
    }

    #[test]
    fn one_layer_per_tier_with_the_skeleton_first_and_busybox_last() {
        let (catalog, plan) = chain();
        let recipes = catalog.chain("base-nossl").unwrap();
        let u = units(&plan, &recipes, Layering::Tier, true, Vec::new());
        let labels: Vec<&str> = u.iter().map(|u| u.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "distroless static tier: base-files tzdata",
                "distroless base-nossl tier: libc6",
                "distroless debug: busybox"
            ]
        );
        assert_eq!(u[0].effect_names(), ["skeleton", "ca-bundle"]);
        assert!(u[1].effect_names().is_empty());
        assert_eq!(u[2].effect_names(), ["busybox"]);
        assert!(u[0].ldcache && u[1].ldcache && !u[2].ldcache);
    }

    #[test]
    fn one_layer_per_package_plus_generated_files() {
        let (catalog, plan) = chain();
        let recipes = catalog.chain("base-nossl").unwrap();
        let u = units(&plan, &recipes, Layering::Package, false, Vec::new());
        let labels: Vec<&str> = u.iter().map(|u| u.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "distroless package: base-files 1.0-1",
                "distroless package: tzdata 1.0-1",
                "distroless skeleton: accounts, os-release, CA bundle",
                "distroless static generated files",
                "distroless package: libc6 1.0-1",
                "distroless base-nossl generated files",
            ]
        );
    }

    #[test]
    fn with_one_layer_per_package_removals_happen_where_the_file_is() {
        let (catalog, plan) = chain();
        let mut recipes: Vec<Recipe> = catalog
            .chain("base-nossl")
            .unwrap()
            .into_iter()
            .cloned()
            .collect();
        recipes[0].remove = vec!["/usr/share/zoneinfo/right".into()];
        let refs: Vec<&Recipe> = recipes.iter().collect();
        let u = units(&plan, &refs, Layering::Package, false, Vec::new());
        let tz = u.iter().find(|u| u.label.contains("tzdata")).unwrap();
        assert_eq!(
            format!("{:?}", tz.effects),
            r#"[Removals { paths: ["/usr/share/zoneinfo/right"], if_present: true }]"#
        );
        let generated = u
            .iter()
            .find(|u| u.label == "distroless static generated files")
            .unwrap();
        assert!(!generated.effect_names().contains(&"remove"));
    }

    #[test]
    fn the_layer_key_sees_every_input() {
        let (catalog, plan) = chain();
        let recipes = catalog.chain("base-nossl").unwrap();
        let u = units(&plan, &recipes, Layering::Tier, false, Vec::new());
        let dir = tempfile::tempdir().unwrap();
        let settings = crate::plan::SourceSettings {
            mirror: Some("file:///nowhere/".into()),
            cache_dir: dir.path().to_path_buf(),
            ..Default::default()
        };
        let source = crate::plan::Source::open(&settings, &testing::Quiet).unwrap();
        let debs = Debs::new(&source, Vec::new(), None).unwrap();
        let inputs = |compression, epoch| LayerInputs {
            plan: &plan,
            debs: &debs,
            merged_usr: true,
            release: (13, "trixie"),
            compression,
            epoch,
        };
        let key =
            |c, e, unit: &Unit, below: &[String]| layer_key(&inputs(c, e), unit, below).unwrap();
        let base = key(Compression::Gzip, 0, &u[0], &[]);
        assert_eq!(base, key(Compression::Gzip, 0, &u[0], &[]));
        assert_ne!(base, key(Compression::Zstd, 0, &u[0], &[]));
        assert_ne!(base, key(Compression::Gzip, 1, &u[0], &[]));
        assert_ne!(base, key(Compression::Gzip, 0, &u[1], &[]));
        assert_ne!(base, key(Compression::Gzip, 0, &u[0], &["sha256:x".into()]));
        // Each effect keys itself: its name and what it is made of.
        let mut linked = u[1].clone();
        let links = |to: &str| {
            crate::rootfs::tier_files::Symlinks([("/a".to_string(), to.to_string())].into())
        };
        linked.effects.push(Arc::new(links("b")));
        let with_b = key(Compression::Gzip, 0, &linked, &[]);
        assert_ne!(key(Compression::Gzip, 0, &u[1], &[]), with_b);
        linked.effects[0] = Arc::new(links("c"));
        assert_ne!(with_b, key(Compression::Gzip, 0, &linked, &[]));
    }
}
