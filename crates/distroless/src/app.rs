//! Application images: a recipe's `copy`, `users`, `groups`, `ca_certificates` and runtime
//! settings on top of a base (a catalog image, or `auto`).
//!
//! Everything a recipe names is checked before anything is downloaded: copied paths must
//! exist, owners and the user must be in the image's accounts, modes must be octal. Errors
//! name the recipe file, the line and the key.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::bail;
use globset::{Glob, GlobSet, GlobSetBuilder};
use oci::layer::Meta;

use crate::catalog::{Catalog, DebianRelease, ImageRef};
use crate::layers::GenEntry;
use crate::recipe::{CopySpec, Recipe, line_of};
use crate::rootfs::skeleton::{GROUP, NONROOT_ID, PASSWD};

/// A recipe with where it came from, for relative paths and error locations.
#[derive(Debug, Clone)]
pub struct AppSpec {
    pub recipe: Recipe,
    /// Shown in errors: the recipe file, or `command line`.
    pub file: String,
    pub text: String,
    /// Relative `src` and certificate paths start here.
    pub dir: PathBuf,
}

/// What an application image starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Catalog(ImageRef),
    /// The smallest image that runs the copied ELF programs.
    Auto(DebianRelease),
}

/// The image's `/etc/passwd` and `/etc/group`, with the recipe's additions.
#[derive(Debug, Clone)]
pub struct Accounts {
    pub passwd: String,
    pub group: String,
}

impl AppSpec {
    /// An error located at `key` (inside the `nth` `[[table]]` if given).
    pub fn error(
        &self,
        table: Option<(&str, usize)>,
        key: &str,
        message: impl std::fmt::Display,
    ) -> anyhow::Error {
        if self.text.is_empty() {
            return anyhow::anyhow!("{}: {key}: {message}", self.file);
        }
        let line = line_of(&self.text, table, key);
        let shown = match table {
            Some((t, n)) => format!("{t}[{n}].{key}"),
            None => key.to_string(),
        };
        anyhow::anyhow!("{}:{line}: {shown}: {message}", self.file)
    }

    /// The base image of the recipe.
    pub fn base(&self, catalog: &Catalog) -> anyhow::Result<Base> {
        let from = self.recipe.from.as_deref().unwrap_or("static");
        if from == "auto" {
            let n = self.recipe.debian.unwrap_or(13);
            let release =
                DebianRelease::from_number(n).map_err(|e| self.error(None, "debian", e))?;
            return Ok(Base::Auto(release));
        }
        ImageRef::parse(from, catalog)
            .map(Base::Catalog)
            .map_err(|e| self.error(None, "from", e))
    }

    /// Accounts of a catalog-based image plus the recipe's users and groups.
    pub fn accounts(&self) -> anyhow::Result<Accounts> {
        self.accounts_on(&Accounts {
            passwd: PASSWD.to_string(),
            group: GROUP.to_string(),
        })
    }

    /// A base's accounts plus the recipe's users and groups.
    pub fn accounts_on(&self, base: &Accounts) -> anyhow::Result<Accounts> {
        let mut passwd = base.passwd.clone();
        let mut group = base.group.clone();
        let field = |l: &str, n: usize| l.split(':').nth(n).unwrap_or("").to_string();
        let mut gids: Vec<u32> = group
            .lines()
            .filter_map(|l| field(l, 2).parse().ok())
            .collect();
        let mut names: Vec<String> = group.lines().map(|l| field(l, 0)).collect();
        for (i, g) in self.recipe.groups.iter().enumerate() {
            if names.contains(&g.name) || gids.contains(&g.gid) {
                return Err(self.error(
                    Some(("groups", i)),
                    "name",
                    format!("group {} (gid {}) already exists", g.name, g.gid),
                ));
            }
            let _ = writeln!(group, "{}:x:{}:", g.name, g.gid);
            names.push(g.name.clone());
            gids.push(g.gid);
        }
        for (i, u) in self.recipe.users.iter().enumerate() {
            if passwd.lines().any(|l| {
                l.split(':').next() == Some(&u.name)
                    || l.split(':').nth(2) == Some(&u.uid.to_string())
            }) {
                return Err(self.error(
                    Some(("users", i)),
                    "name",
                    format!("user {} (uid {}) already exists", u.name, u.uid),
                ));
            }
            let gid = u.gid.unwrap_or(u.uid);
            let home = u
                .home
                .clone()
                .unwrap_or_else(|| format!("/home/{}", u.name));
            let _ = writeln!(
                passwd,
                "{}:x:{}:{gid}:{}:{home}:/sbin/nologin",
                u.name, u.uid, u.name
            );
            if !gids.contains(&gid) {
                let _ = writeln!(group, "{}:x:{gid}:", u.name);
                gids.push(gid);
            }
        }
        Ok(Accounts { passwd, group })
    }
}

impl Accounts {
    fn uid_of(&self, name: &str) -> Option<(u32, u32)> {
        self.passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name))
                .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
        })
    }

    fn gid_of(&self, name: &str) -> Option<u32> {
        self.group.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| f.get(2)?.parse().ok())?
        })
    }

    /// `uid:gid`, `user:group`, `uid` or `user` → numeric ids.
    pub fn owner(&self, text: &str) -> Result<(u32, u32), String> {
        let (u, g) = match text.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (text, None),
        };
        let (uid, primary) = match u.parse::<u32>() {
            Ok(n) => (n, n),
            Err(_) => self
                .uid_of(u)
                .ok_or_else(|| format!("user {u:?} is not in the image's /etc/passwd"))?,
        };
        let gid = match g {
            None => primary,
            Some(g) => match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) => self
                    .gid_of(g)
                    .ok_or_else(|| format!("group {g:?} is not in the image's /etc/group"))?,
            },
        };
        Ok((uid, gid))
    }
}

/// Parses an octal mode such as `"0755"`.
pub fn parse_mode(text: &str) -> Option<u32> {
    let t = text.trim_start_matches("0o");
    (!t.is_empty() && t.len() <= 5)
        .then(|| u32::from_str_radix(t, 8).ok())
        .flatten()
        .filter(|m| *m <= 0o7777)
}

fn globs(patterns: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|e| format!("bad pattern {p:?}: {e}"))?);
    }
    b.build().map_err(|e| e.to_string())
}

/// The entries one `[[copy]]` adds, checked against the host and the accounts.
pub fn copy_entries(
    spec: &AppSpec,
    i: usize,
    c: &CopySpec,
    accounts: &Accounts,
) -> anyhow::Result<Vec<GenEntry>> {
    let at = Some(("copy", i));
    let src = spec.dir.join(&c.src);
    let meta = fs_err::symlink_metadata(&src)
        .map_err(|_| spec.error(at, "src", format!("{} does not exist", src.display())))?;
    if !c.dest.starts_with('/') {
        return Err(spec.error(
            at,
            "dest",
            format!("{:?} must be an absolute path in the image", c.dest),
        ));
    }
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
        let dest = if c.dest.ends_with('/') {
            format!(
                "{dest}/{}",
                src.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default()
            )
        } else {
            dest
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

/// The extra CA certificates of a recipe: (file name, PEM bytes), each checked.
pub fn extra_certificates(spec: &AppSpec) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for path in &spec.recipe.ca_certificates {
        let full = spec.dir.join(path);
        let bytes = fs_err::read(&full).map_err(|_| {
            spec.error(
                None,
                "ca_certificates",
                format!("{} does not exist", full.display()),
            )
        })?;
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

/// The home directories of the recipe's users.
pub fn home_dirs(spec: &AppSpec) -> Vec<GenEntry> {
    spec.recipe
        .users
        .iter()
        .map(|u| {
            let home = u
                .home
                .clone()
                .unwrap_or_else(|| format!("/home/{}", u.name));
            GenEntry::Dir(
                home.trim_start_matches('/').to_string(),
                Meta {
                    mode: 0o700,
                    uid: u64::from(u.uid),
                    gid: u64::from(u.gid.unwrap_or(u.uid)),
                },
            )
        })
        .collect()
}

/// Parses a Docker-style duration (`30s`, `1m30s`, `500ms`, `2h`) into nanoseconds.
pub fn duration_ns(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut num = String::new();
    let mut chars = text.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            chars.next();
            unit = "ms".into();
        }
        let n: u64 = num.parse().ok()?;
        num.clear();
        let scale = match unit.as_str() {
            "h" => 3_600_000_000_000,
            "m" => 60_000_000_000,
            "s" => 1_000_000_000,
            "ms" => 1_000_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(scale)?)?;
        any = true;
    }
    (num.is_empty() && any).then_some(total)
}

/// Checks the `user` setting against the accounts; returns the config value.
pub fn user_setting(spec: &AppSpec, accounts: &Accounts) -> anyhow::Result<Option<String>> {
    let Some(user) = &spec.recipe.user else {
        return Ok(None);
    };
    let (u, _) = user.split_once(':').unwrap_or((user, ""));
    if u.parse::<u32>().is_err() {
        accounts
            .owner(user)
            .map_err(|e| spec.error(None, "user", e))?;
    }
    Ok(Some(user.clone()))
}

/// The nonroot uid as text, for defaults.
pub fn nonroot() -> String {
    NONROOT_ID.to_string()
}

/// Reads a recipe file.
pub fn load(path: &Path) -> anyhow::Result<AppSpec> {
    let text = fs_err::read_to_string(path)?;
    let file = path.display().to_string();
    let recipe = Recipe::parse(&file, &text)?;
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    Ok(AppSpec {
        recipe,
        file,
        text,
        dir,
    })
}

/// Fails when an application recipe uses catalog-only keys.
pub fn check_keys(spec: &AppSpec) -> anyhow::Result<()> {
    let r = &spec.recipe;
    if r.java_trust_store || !r.partial.is_empty() || !r.remove.is_empty() || r.releases.is_some() {
        bail!(
            "{}: java_trust_store, partial, remove and releases are for catalog recipes only",
            spec.file
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration_ns("30s"), Some(30_000_000_000));
        assert_eq!(duration_ns("1m30s"), Some(90_000_000_000));
        assert_eq!(duration_ns("500ms"), Some(500_000_000));
        assert_eq!(duration_ns("5"), None);
        assert_eq!(duration_ns("3x"), None);
    }

    #[test]
    fn modes() {
        assert_eq!(parse_mode("0755"), Some(0o755));
        assert_eq!(parse_mode("4755"), Some(0o4755));
        assert_eq!(parse_mode("rwx"), None);
        assert_eq!(parse_mode("99999"), None);
    }

    #[test]
    fn owners_resolve_names() {
        let spec = AppSpec {
            recipe: Recipe::parse("r", "[[users]]\nname = \"app\"\nuid = 1000\n").unwrap(),
            file: "r".into(),
            text: String::new(),
            dir: PathBuf::from("."),
        };
        let a = spec.accounts().unwrap();
        assert_eq!(a.owner("app").unwrap(), (1000, 1000));
        assert_eq!(a.owner("nonroot:staff").unwrap(), (65532, 50));
        assert_eq!(a.owner("12:34").unwrap(), (12, 34));
        assert!(a.owner("ghost").unwrap_err().contains("not in the image"));
        assert!(
            a.passwd
                .contains("app:x:1000:1000:app:/home/app:/sbin/nologin")
        );
    }
}
