//! An upstream archive unpacked under the path policy (no `..`, no absolute paths, nothing
//! written through a link, links resolving inside), into a tree cached under its digest, and
//! that tree read back as layer entries.

#[allow(clippy::wildcard_imports)]
use super::*;

/// The archive unpacked (filtered, stripped) into a directory of this build, removed when
/// the build is done. Not kept between builds: a tree on disk could be changed behind our
/// back, while the archive itself is hash-checked on every read. Directories a killed build
/// left are swept first.
pub(super) fn unpacked(
    cache_root: &Path,
    a: &ArchiveSpec,
    archive: &Path,
    file: &str,
) -> anyhow::Result<tempfile::TempDir> {
    // Trees earlier versions kept between builds (no longer trusted or used).
    let old = cache_root.join("archives-v1");
    if old.is_dir() {
        let _ = fs_err::remove_dir_all(&old);
    }
    let root = cache_root.join("archives-v2");
    fs_err::create_dir_all(&root)?;
    let tmp = crate::files::work_dir(&root, ".unpack")?;
    let reader = decompress(archive, file)?;
    unpack(reader, a, tmp.path())?;
    links_resolve_inside(tmp.path())?;
    anyhow::ensure!(
        walkdir::WalkDir::new(tmp.path())
            .min_depth(1)
            .into_iter()
            .next()
            .is_some(),
        "nothing is left after strip_components and include/exclude"
    );
    Ok(tmp)
}

fn decompress(archive: &Path, file: &str) -> anyhow::Result<Box<dyn Read>> {
    let f = std::io::BufReader::new(fs_err::File::open(archive)?);
    Ok(if file.ends_with(".tar.xz") || file.ends_with(".txz") {
        Box::new(liblzma::read::XzDecoder::new(f))
    } else if file.ends_with(".tar.gz") || file.ends_with(".tgz") {
        Box::new(flate2::read::GzDecoder::new(f))
    } else if file.ends_with(".tar.zst") {
        Box::new(zstd::stream::read::Decoder::new(f)?)
    } else if file.ends_with(".tar") {
        Box::new(f)
    } else {
        bail!("not a tar archive this tool reads (.tar, .tar.gz, .tar.xz, .tar.zst)")
    })
}

/// Unpacks entry by entry, judging each path before anything is written.
fn unpack(reader: Box<dyn Read>, a: &ArchiveSpec, into: &Path) -> anyhow::Result<()> {
    let include = crate::app::copy::globs(&a.include).map_err(anyhow::Error::msg)?;
    let exclude = crate::app::copy::globs(&a.exclude).map_err(anyhow::Error::msg)?;
    let mut tar = tar::Archive::new(reader);
    let mut total = 0u64;
    for entry in tar.entries()? {
        let mut entry = entry?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).to_string();
        let parts: Vec<&str> = raw
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .collect();
        if raw.starts_with('/') || parts.contains(&"..") {
            bail!("entry {raw:?} leaves the archive's tree");
        }
        if parts.len() <= a.strip_components {
            continue;
        }
        let rel = parts[a.strip_components..].join("/");
        let wanted = (a.include.is_empty() || include.is_match(&rel)) && !exclude.is_match(&rel);
        let kind = entry.header().entry_type();
        // What `include` leaves out is not made at all, directories included (their parents
        // are made for the files that are taken).
        if !wanted {
            continue;
        }
        let target = into.join(&rel);
        // Never through a link: an earlier entry may have made an ancestor a symlink.
        through_no_link(into, &rel)?;
        if let Some(parent) = target.parent() {
            fs_err::create_dir_all(parent)?;
        }
        if fs_err::symlink_metadata(&target).is_ok() && !kind.is_dir() {
            bail!("entry {raw:?} comes twice");
        }
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                total += entry.size();
                anyhow::ensure!(
                    total <= MAX_UNPACKED,
                    "unpacks to more than {MAX_UNPACKED} bytes"
                );
                let mode = entry.header().mode().unwrap_or(0o644) & 0o755;
                let mut out = fs_err::File::create(&target)?;
                std::io::copy(&mut entry, &mut out)?;
                fs_err::set_permissions(
                    &target,
                    std::os::unix::fs::PermissionsExt::from_mode(mode),
                )?;
            }
            tar::EntryType::Directory => fs_err::create_dir_all(&target)?,
            tar::EntryType::Symlink => {
                let link = entry
                    .link_name()?
                    .context("a symlink without a target")?
                    .to_string_lossy()
                    .to_string();
                anyhow::ensure!(
                    stays_inside(&rel, &link),
                    "symlink {rel} → {link} leaves the archive's tree"
                );
                std::os::unix::fs::symlink(&link, &target)?;
            }
            other => {
                bail!("entry {raw:?} is a {other:?}, which an image does not take from an archive")
            }
        }
    }
    Ok(())
}

/// Fails when a directory on the way to `rel` (below `root`) is a symlink.
fn through_no_link(root: &Path, rel: &str) -> anyhow::Result<()> {
    let mut at = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for c in &parts[..parts.len().saturating_sub(1)] {
        at.push(c);
        if fs_err::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            bail!(
                "{rel} would be written through the symlink {}",
                at.strip_prefix(root).unwrap_or(&at).display()
            );
        }
    }
    Ok(())
}

/// After unpacking: every symlink, followed through the links before it, must land inside
/// the tree (a chain like `x → .`, `s → x/x/../..` passes each lexical check alone).
fn links_resolve_inside(root: &Path) -> anyhow::Result<()> {
    let real_root = fs_err::canonicalize(root)?;
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e?;
        if !e.path_is_symlink() {
            continue;
        }
        let rel = e.path().strip_prefix(root)?.display().to_string();
        let resolved = match fs_err::canonicalize(e.path()) {
            Ok(r) => r,
            // Dangling: judge where it points from its (real) directory.
            Err(_) => {
                let dir = fs_err::canonicalize(e.path().parent().unwrap_or(root))?;
                let target = fs_err::read_link(e.path())?;
                let mut out = dir;
                for c in target.components() {
                    match c {
                        std::path::Component::ParentDir => {
                            out.pop();
                        }
                        std::path::Component::Normal(n) => out.push(n),
                        _ => bail!("symlink {rel} points outside the archive's tree"),
                    }
                }
                out
            }
        };
        anyhow::ensure!(
            resolved.starts_with(&real_root),
            "symlink {rel} resolves outside the archive's tree"
        );
    }
    Ok(())
}

/// Whether a relative link at `path` pointing to `target` stays inside the tree.
pub(super) fn stays_inside(path: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return false;
    }
    // How deep below the root the link's directory is, then walked along the target.
    let mut depth = path.split('/').count().saturating_sub(1);
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." if depth == 0 => return false,
            ".." => depth -= 1,
            _ => depth += 1,
        }
    }
    true
}

/// The unpacked tree as layer entries under `dest`, in path order (files stream from disk).
pub(super) fn entries(tree: &Path, dest: &str) -> anyhow::Result<Vec<GenEntry>> {
    let dest = dest.trim_matches('/');
    // The directories down to `dest`, so the layer stands alone (parents before children).
    let mut out: Vec<GenEntry> = dest
        .split('/')
        .filter(|c| !c.is_empty())
        .scan(String::new(), |path, c| {
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(c);
            Some(GenEntry::Dir(path.clone(), Meta::root(0o755)))
        })
        .collect();
    for e in walkdir::WalkDir::new(tree).sort_by_file_name().min_depth(1) {
        let e = e?;
        let rel = e.path().strip_prefix(tree)?.to_string_lossy().to_string();
        let at = if dest.is_empty() {
            rel
        } else {
            format!("{dest}/{rel}")
        };
        let meta = fs_err::symlink_metadata(e.path())?;
        let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o755;
        if meta.file_type().is_symlink() {
            let target = fs_err::read_link(e.path())?.to_string_lossy().to_string();
            out.push(GenEntry::Symlink(at, target, Meta::root(0o777)));
        } else if meta.is_dir() {
            out.push(GenEntry::Dir(at, Meta::root(0o755)));
        } else {
            out.push(GenEntry::Host(at, e.path().to_path_buf(), Meta::root(mode)));
        }
    }
    Ok(out)
}
