//! `[[copy]]` entries and extra CA certificates: host files checked and turned into layer
//! entries, before anything is downloaded.

use std::path::Path;

use globset::{Glob, GlobSet, GlobSetBuilder};
use oci::layer::Meta;

use super::{Accounts, AppSpec};
use crate::layers::GenEntry;
use crate::model::recipe::CopySpec;

/// Parses an octal mode such as `"0755"`.
pub fn parse_mode(text: &str) -> Option<u32> {
    let t = text.trim_start_matches("0o");
    (!t.is_empty() && t.len() <= 5)
        .then(|| u32::from_str_radix(t, 8).ok())
        .flatten()
        .filter(|m| *m <= 0o7777)
}

pub(crate) fn globs(patterns: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|e| format!("bad pattern {p:?}: {e}"))?);
    }
    b.build().map_err(|e| e.to_string())
}

/// A copy's `dest`: absolute, no `..`, no control characters, no part over 255 bytes.
fn check_dest(spec: &AppSpec, i: usize, dest: &str) -> anyhow::Result<()> {
    let at = Some(("copy", i));
    if !dest.starts_with('/') {
        return Err(spec.error(
            at,
            "dest",
            format!("{dest:?} must be an absolute path in the image"),
        ));
    }
    if dest.split('/').any(|part| part == ".." || part.len() > 255)
        || dest.chars().any(char::is_control)
    {
        return Err(spec.error(
            at,
            "dest",
            format!("{dest:?} must not contain `..`, control characters or parts over 255 bytes"),
        ));
    }
    Ok(())
}

/// The entries one `[[copy]]` adds, checked against the host and the accounts.
pub fn copy_entries(
    spec: &AppSpec,
    i: usize,
    c: &CopySpec,
    accounts: &Accounts,
) -> anyhow::Result<Vec<GenEntry>> {
    let at = Some(("copy", i));
    if c.src.is_empty() {
        return Err(spec.error(at, "src", "is empty"));
    }
    let src = spec.source(at, "src", &c.src)?;
    let meta = fs_err::symlink_metadata(&src)
        .map_err(|_| spec.error(at, "src", format!("{} does not exist", src.display())))?;
    check_dest(spec, i, &c.dest)?;
    let (uid, gid) = match &c.owner {
        Some(o) => accounts.owner(o).map_err(|e| spec.error(at, "owner", e))?,
        None => (0, 0),
    };
    let mode = match &c.mode {
        Some(m) => Some(parse_mode(m).ok_or_else(|| {
            spec.error(
                at,
                "mode",
                format!("{m:?} is not an octal mode like \"0755\""),
            )
        })?),
        None => None,
    };
    let exclude = globs(&c.exclude).map_err(|e| spec.error(at, "exclude", e))?;
    let dest = c
        .dest
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_string();
    let owner = |m: u32| Meta {
        mode: m,
        uid: u64::from(uid),
        gid: u64::from(gid),
    };
    let mut out = Vec::new();
    if !meta.is_dir() {
        let name = src
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let dest = match (c.dest.ends_with('/'), dest.is_empty()) {
            (true, true) => name,
            (true, false) => format!("{dest}/{name}"),
            (false, _) => dest,
        };
        out.push(entry(&src, &dest, &meta, mode, owner).map_err(|e| spec.error(at, "src", e))?);
        return Ok(out);
    }
    if !dest.is_empty() {
        out.push(GenEntry::Dir(dest.clone(), owner(0o755)));
    }
    let mut walk = walkdir::WalkDir::new(&src)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter();
    while let Some(item) = walk.next() {
        let item = item.map_err(|e| spec.error(at, "src", e))?;
        let rel = item
            .path()
            .strip_prefix(&src)
            .unwrap_or(item.path())
            .to_string_lossy()
            .to_string();
        if exclude.is_match(&rel) {
            if item.file_type().is_dir() {
                walk.skip_current_dir();
            }
            continue;
        }
        let target = if dest.is_empty() {
            rel.clone()
        } else {
            format!("{dest}/{rel}")
        };
        let m = item
            .path()
            .symlink_metadata()
            .map_err(|e| spec.error(at, "src", e))?;
        out.push(
            entry(item.path(), &target, &m, mode, owner).map_err(|e| spec.error(at, "src", e))?,
        );
    }
    Ok(out)
}

fn entry(
    host: &Path,
    dest: &str,
    meta: &std::fs::Metadata,
    mode: Option<u32>,
    owner: impl Fn(u32) -> Meta,
) -> Result<GenEntry, String> {
    use std::os::unix::fs::PermissionsExt;
    let ft = meta.file_type();
    if ft.is_symlink() {
        // Kept as a link, never followed: its target is just text in the image.
        let target = fs_err::read_link(host).map_err(|e| e.to_string())?;
        Ok(GenEntry::Symlink(
            dest.to_string(),
            target.to_string_lossy().to_string(),
            owner(0o777),
        ))
    } else if ft.is_dir() {
        Ok(GenEntry::Dir(dest.to_string(), owner(0o755)))
    } else if ft.is_file() {
        let m = mode.unwrap_or(meta.permissions().mode() & 0o7777);
        Ok(GenEntry::Host(
            dest.to_string(),
            host.to_path_buf(),
            owner(m),
        ))
    } else {
        Err(format!(
            "{} is not a regular file, directory or symlink",
            host.display()
        ))
    }
}

/// The largest extra certificate file we read.
const MAX_CERTIFICATES: u64 = 16 << 20;

/// The extra CA certificates of a recipe: (file name, PEM bytes), each checked.
pub fn extra_certificates(spec: &AppSpec) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for path in &spec.recipe.ca_certificates {
        let full = spec.source(None, "ca_certificates", path)?;
        let bytes = super::read_regular(&full, MAX_CERTIFICATES)
            .map_err(|e| spec.error(None, "ca_certificates", e))?;
        let ders = crate::rootfs::javacerts::pem_to_der(&String::from_utf8_lossy(&bytes))
            .map_err(|e| spec.error(None, "ca_certificates", format!("{}: {e}", full.display())))?;
        if ders.is_empty() {
            return Err(spec.error(
                None,
                "ca_certificates",
                format!("{}: no PEM certificate in it", full.display()),
            ));
        }
        out.push((
            format!(
                "usr/local/share/ca-certificates/{}",
                Path::new(path)
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default()
            ),
            bytes,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0755"), Some(0o755));
        assert_eq!(parse_mode("4755"), Some(0o4755));
        assert_eq!(parse_mode("rwx"), None);
        assert_eq!(parse_mode("99999"), None);
    }
}
