//! `from = "auto"`: the smallest image that runs the copied ELF programs.
//!
//! Each program's interpreter and `DT_NEEDED` libraries are looked up (RUNPATH with `$ORIGIN`,
//! then the default directories) in the file lists of candidate Debian packages: the cc chain
//! and the recipe's packages with their dependencies, plus packages whose names follow
//! Debian's library naming (`libfoo.so.N` → `libfooN`, `libfooNt64`, …) when a library is
//! still missing. Only the needed files are taken (with their symlink chains), transitively
//! for the libraries' own needs; the packages they came from get status.d records and are
//! marked partial in the SBOM. Every choice is kept as an explanation line for `--explain`.
//! A program without interpreter and needs (statically linked) adds nothing: it lands on
//! `static`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use debian::deb::{self, Kind};
use debian::index::Package;
use debian::resolve::{Universe, resolve};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::cache::{Cache, Record};
use crate::model::Arch;
use crate::plan::{Source, builtin_excludes};
use crate::rootfs::elf::{self, ElfInfo};
use crate::rootfs::tree::usrmerge;

/// One program to analyse: where it will be in the image, and where it is now.
#[derive(Debug, Clone)]
pub struct Program {
    pub image_path: String,
    pub host_path: PathBuf,
}

/// The outcome: which files of which packages, and why.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Needs {
    /// Package name → (package, original paths in the package).
    pub files: BTreeMap<String, (Package, BTreeSet<String>)>,
    /// `path ← package ← needed by /app (DT_NEEDED)` lines.
    pub explain: Vec<String>,
    /// Programs that need nothing (statically linked).
    pub static_programs: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum FileKind {
    File,
    Symlink(String),
}

/// One package's file list, by placed (merged-/usr) path.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FileList {
    /// placed path → (original path, kind)
    files: BTreeMap<String, (String, FileKind)>,
}

fn file_list(
    cache: &Cache,
    deb_path: &Path,
    pkg: &Package,
    merged: bool,
) -> anyhow::Result<FileList> {
    let key = format!("{}-{merged}", pkg.sha256);
    if let Some(l) = cache.read(Record::FileList, &key) {
        return Ok(l);
    }
    let mut files = BTreeMap::new();
    deb::read_data(deb_path, &pkg.name, |e, _| {
        let kind = match &e.kind {
            Kind::File | Kind::Hardlink(_) => FileKind::File,
            Kind::Symlink(t) => FileKind::Symlink(t.clone()),
            Kind::Dir => return Ok(()),
        };
        let placed = if merged {
            usrmerge(&e.path)
        } else {
            e.path.clone()
        };
        files.insert(placed, (e.path.clone(), kind));
        Ok(())
    })?;
    let list = FileList { files };
    cache.write(Record::FileList, &key, &list)?;
    Ok(list)
}

/// The ELF facts of one file of a package, read from the `.deb` once and then kept as a
/// cache record (each lookup would otherwise decompress the whole package again).
fn library_facts(
    cache: &Cache,
    deb_path: &Path,
    pkg: &Package,
    original: &str,
) -> anyhow::Result<Option<ElfInfo>> {
    let key = format!(
        "{}-{}",
        pkg.sha256,
        hex::encode(sha2::Sha256::digest(original.as_bytes()))
    );
    if let Some(facts) = cache.read::<Option<ElfInfo>>(Record::ElfFacts, &key) {
        return Ok(facts);
    }
    let facts = elf::parse(&read_member(deb_path, &pkg.name, original)?);
    cache.write(Record::ElfFacts, &key, &facts)?;
    Ok(facts)
}

fn read_member(deb_path: &Path, pkg: &str, original: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = None;
    deb::read_data(deb_path, pkg, |e, r| {
        if e.path == original && e.kind == Kind::File {
            let mut b = Vec::new();
            r.read_to_end(&mut b)?;
            out = Some(b);
        }
        Ok(())
    })?;
    out.with_context(|| format!("{pkg}: /{original} not found in the package"))
}

/// Debian package names that may hold `soname` (`libssl.so.3` → `libssl3`, `libssl3t64`, …).
fn guesses(universe: &Universe, soname: &str) -> Vec<String> {
    let Some((stem, version)) = soname.split_once(".so") else {
        return Vec::new();
    };
    let version = version.trim_start_matches('.');
    let base = stem.replace('_', "-").to_lowercase();
    let major = version.split('.').next().unwrap_or("");
    let mut out = Vec::new();
    let dash = if base.chars().last().is_some_and(|c| c.is_ascii_digit()) {
        "-"
    } else {
        ""
    };
    for suffix in ["", "t64", "a", "c2", "v5", "-0"] {
        for name in [
            format!("{base}{dash}{major}{suffix}"),
            format!("{base}{major}{suffix}"),
            format!("{base}-{major}{suffix}"),
        ] {
            if universe.get(&name).is_some() && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

struct Pool<'a> {
    source: &'a Source<'a>,
    universe: &'a Universe,
    merged: bool,
    packages: BTreeMap<String, Package>,
    lists: BTreeMap<String, FileList>,
    debs: BTreeMap<String, PathBuf>,
    /// placed path → package name (first package wins)
    owners: BTreeMap<String, String>,
}

impl Pool<'_> {
    /// Adds packages (with their dependency closure) to the pool and indexes their files.
    fn add(&mut self, roots: &[String]) -> anyhow::Result<()> {
        let resolution = resolve(self.universe, "auto", roots, &builtin_excludes())?;
        let new: Vec<Package> = resolution
            .packages
            .into_iter()
            .filter(|p| !self.packages.contains_key(&p.name))
            .collect();
        let refs: Vec<&Package> = new.iter().collect();
        let debs = self.source.archive.fetch(&refs)?;
        for p in new {
            let path = debs[&p.sha256].clone();
            let list = file_list(&self.source.cache, &path, &p, self.merged)?;
            for placed in list.files.keys() {
                self.owners
                    .entry(placed.clone())
                    .or_insert_with(|| p.name.clone());
            }
            self.lists.insert(p.name.clone(), list);
            self.debs.insert(p.sha256.clone(), path);
            self.packages.insert(p.name.clone(), p);
        }
        Ok(())
    }

    /// Follows a placed path through the pool's symlinks to a file: the chain of placed paths.
    fn chase(&self, path: &str) -> Option<Vec<String>> {
        let mut chain = Vec::new();
        let mut cur = path.trim_start_matches('/').to_string();
        for _ in 0..16 {
            if self.merged {
                cur = usrmerge(&cur);
            }
            let owner = self.owners.get(&cur)?;
            let (_, kind) = &self.lists[owner].files[&cur];
            chain.push(cur.clone());
            match kind {
                FileKind::File => return Some(chain),
                FileKind::Symlink(t) => {
                    let base = if t.starts_with('/') {
                        String::new()
                    } else {
                        cur.rsplit_once('/')
                            .map_or(String::new(), |(d, _)| d.to_string())
                    };
                    let mut parts: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
                    for seg in t.split('/') {
                        match seg {
                            "" | "." => {}
                            ".." => {
                                parts.pop();
                            }
                            s => parts.push(s),
                        }
                    }
                    cur = parts.join("/");
                }
            }
        }
        None
    }
}

/// Reads the ELF facts of a host program.
pub fn program_info(host: &Path) -> anyhow::Result<Option<ElfInfo>> {
    let meta =
        fs_err::metadata(host).map_err(|_| anyhow::anyhow!("{}: no such file", host.display()))?;
    anyhow::ensure!(meta.is_file(), "{}: not a regular file", host.display());
    let mut head = [0u8; 4];
    let n = std::io::Read::read(&mut fs_err::File::open(host)?, &mut head)?;
    if !elf::is_elf(&head[..n]) {
        return Ok(None);
    }
    if meta.len() > elf::MAX_ELF {
        return Err(elf::too_large(&host.display().to_string(), meta.len()));
    }
    Ok(elf::parse(&fs_err::read(host)?))
}

/// [`analyse`] through the cache: a warm rebuild of the same programs against the same
/// indexes reads neither the `Packages` indexes nor a `.deb`.
pub fn analyse_cached(
    source: &Source<'_>,
    release: crate::model::DebianRelease,
    arch: Arch,
    programs: &[Program],
    extra_roots: &[String],
) -> anyhow::Result<Needs> {
    let indexes = source.indexes(release.codename, arch.debian())?;
    let mut h = sha2::Sha256::new();
    h.update(format!("{arch}\n{}\n{extra_roots:?}\n", release.number));
    h.update(indexes.fingerprint());
    for p in programs {
        h.update(format!("{}\n", p.image_path));
        let mut f = fs_err::File::open(&p.host_path)?;
        std::io::copy(&mut f, &mut h)?;
    }
    let key = hex::encode(h.finalize());
    if let Some(needs) = source.cache.read::<Needs>(Record::AutoNeeds, &key) {
        return Ok(needs);
    }
    let universe = source.universe(&indexes)?;
    let needs = analyse(
        source,
        &universe,
        programs,
        arch,
        release.merged_usr(),
        extra_roots,
    )?;
    source.cache.write(Record::AutoNeeds, &key, &needs)?;
    Ok(needs)
}

/// Finds the package files the programs need.
pub fn analyse(
    source: &Source<'_>,
    universe: &Universe,
    programs: &[Program],
    arch: Arch,
    merged: bool,
    extra_roots: &[String],
) -> anyhow::Result<Needs> {
    let mut pool = Pool {
        source,
        universe,
        merged,
        packages: BTreeMap::new(),
        lists: BTreeMap::new(),
        debs: BTreeMap::new(),
        owners: BTreeMap::new(),
    };
    let mut roots: Vec<String> = ["libc6", "libgcc-s1", "libstdc++6", "zlib1g"]
        .iter()
        .map(|s| (*s).to_string())
        .collect();
    for ssl in ["libssl3t64", "libssl3"] {
        if universe.get(ssl).is_some() {
            roots.push(ssl.into());
            break;
        }
    }
    roots.retain(|r| universe.get(r).is_some());
    roots.extend(extra_roots.iter().cloned());
    pool.add(&roots)?;

    let defaults = arch.default_lib_dirs();
    let mut needs = Needs::default();
    // (needer image path, its ELF facts)
    let mut queue: Vec<(String, ElfInfo)> = Vec::new();
    for p in programs {
        match program_info(&p.host_path)? {
            // Refused (or warned about) with the copies, by `machine::check`.
            Some(info) if !arch.runs(info.machine, info.is_64) => {}
            Some(info) if info.interpreter.is_some() || !info.needed.is_empty() => {
                queue.push((p.image_path.clone(), info));
            }
            Some(_) => needs.static_programs.push(p.image_path.clone()),
            None => {}
        }
    }
    // Only the copied programs' own imports count: libstdc++ imports iconv_open for locale
    // facets every C++ program links but few use, and gconv is 8 MiB.
    let iconv_user = queue
        .iter()
        .find(|(_, info)| info.uses_iconv)
        .map(|(needer, _)| needer.clone());
    let mut done: BTreeSet<String> = BTreeSet::new();
    while let Some((needer, info)) = queue.pop() {
        let origin = needer.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        for (lib, why) in wants(&info) {
            if !done.insert(lib.clone()) {
                continue;
            }
            let chain = locate(&mut pool, universe, &lib, &info, &origin, &defaults)?;
            let Some(chain) = chain else {
                bail!(
                    "{needer} needs {lib} ({why}), which no Debian package of the suites provides; add the package with `packages = [...]`"
                );
            };
            let real = chain.last().context("empty chain")?.clone();
            take(
                &pool,
                &mut needs,
                &chain,
                &format!("needed by {needer} ({why})"),
            );
            let owner = &pool.owners[&real];
            let pkg = &pool.packages[owner];
            let original = pool.lists[owner].files[&real].0.clone();
            let Some(lib_info) =
                library_facts(&source.cache, &pool.debs[&pkg.sha256], pkg, &original)?
            else {
                continue;
            };
            if let Some(v) = elf::missing_versions(&info, &lib, &lib_info).first() {
                bail!("{}", elf::version_problem(&needer, v, &lib, &lib_info));
            }
            queue.push((format!("/{real}"), lib_info));
        }
    }
    if let Some(needer) = iconv_user {
        let libc = defaults
            .iter()
            .find_map(|d| pool.chase(&format!("{}/libc.so.6", d.trim_matches('/'))));
        if let Some(real) = libc.as_ref().and_then(|c| c.last()) {
            take_gconv(&pool, &mut needs, real, arch, &needer);
        }
    }
    Ok(needs)
}

/// What an ELF file makes the loader open: its interpreter and `DT_NEEDED` libraries, and
/// with glibc, `libgcc_s.so.1`, which glibc loads with `dlopen` to cancel threads and unwind
/// (Debian's libc6 depends on it for that reason).
fn wants(info: &ElfInfo) -> Vec<(String, String)> {
    let mut wants: Vec<(String, String)> = Vec::new();
    if let Some(i) = &info.interpreter {
        wants.push((i.clone(), format!("PT_INTERP {i}")));
    }
    for lib in &info.needed {
        wants.push((lib.clone(), format!("DT_NEEDED {lib}")));
        if lib == "libc.so.6" {
            wants.push((
                "libgcc_s.so.1".into(),
                "glibc loads libgcc_s.so.1 with dlopen to cancel threads and unwind".into(),
            ));
        }
    }
    wants
}

/// Takes the files of a symlink chain into the image, with an explanation line each.
fn take(pool: &Pool<'_>, needs: &mut Needs, chain: &[String], why: &str) {
    for placed in chain {
        let owner = pool.owners[placed].clone();
        let original = pool.lists[&owner].files[placed].0.clone();
        let pkg = pool.packages[&owner].clone();
        needs
            .files
            .entry(owner.clone())
            .or_insert_with(|| (pkg, BTreeSet::new()))
            .1
            .insert(original);
        needs.explain.push(format!("/{placed} ← {owner} ← {why}"));
    }
}

/// Takes glibc's gconv modules (from the package holding the C library at `libc`), which
/// `iconv_open` loads with `dlopen` by the name of the character set.
fn take_gconv(pool: &Pool<'_>, needs: &mut Needs, libc: &str, arch: Arch, needer: &str) {
    let Some(owner) = pool.owners.get(libc) else {
        return;
    };
    let prefix = format!("usr/lib/{}/gconv/", arch.triplet());
    let files: Vec<String> = pool.lists[owner]
        .files
        .range(prefix.clone()..)
        .take_while(|(p, _)| p.starts_with(&prefix))
        .map(|(_, (original, _))| original.clone())
        .collect();
    if files.is_empty() {
        return;
    }
    let n = files.len();
    let pkg = pool.packages[owner].clone();
    needs
        .files
        .entry(owner.clone())
        .or_insert_with(|| (pkg, BTreeSet::new()))
        .1
        .extend(files);
    needs.explain.push(format!(
        "/{prefix} ({n} files) ← {owner} ← iconv_open in {needer} loads them with dlopen"
    ));
}

fn locate(
    pool: &mut Pool<'_>,
    universe: &Universe,
    lib: &str,
    info: &ElfInfo,
    origin: &str,
    defaults: &[String],
) -> anyhow::Result<Option<Vec<String>>> {
    let candidates = |pool: &Pool<'_>| -> Option<Vec<String>> {
        if lib.contains('/') {
            return pool.chase(lib);
        }
        let expand = |r: &String| r.replace("${ORIGIN}", origin).replace("$ORIGIN", origin);
        info.runpath
            .iter()
            .map(expand)
            .chain(defaults.iter().cloned())
            .find_map(|d| pool.chase(&format!("{}/{lib}", d.trim_matches('/'))))
    };
    if let Some(c) = candidates(pool) {
        return Ok(Some(c));
    }
    let name = lib.rsplit('/').next().unwrap_or(lib);
    let guessed: Vec<String> = guesses(universe, name)
        .into_iter()
        .filter(|g| !pool.packages.contains_key(g))
        .collect();
    if guessed.is_empty() {
        return Ok(None);
    }
    pool.add(&guessed)?;
    Ok(candidates(pool))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::testing::package as pkg;

    #[test]
    fn library_name_guesses() {
        let u = Universe::new([vec![
            pkg("libssl3t64"),
            pkg("libpq5"),
            pkg("libfoo-2-0"),
            pkg("libgcc-s1"),
            pkg("libicu76"),
        ]]);
        assert_eq!(guesses(&u, "libssl.so.3"), ["libssl3t64"]);
        assert_eq!(guesses(&u, "libpq.so.5"), ["libpq5"]);
        assert_eq!(guesses(&u, "libgcc_s.so.1"), ["libgcc-s1"]);
        assert_eq!(guesses(&u, "libicuuc.so.76"), Vec::<String>::new());
    }
}
