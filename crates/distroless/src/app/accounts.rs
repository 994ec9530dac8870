//! The image's accounts (`/etc/passwd`, `/etc/group`) with a recipe's users and groups added,
//! and owner names resolved against them.

use std::fmt::Write as _;

use oci::layer::Meta;

use super::AppSpec;
use crate::layers::GenEntry;
use crate::rootfs::skeleton::{GROUP, PASSWD};

/// The image's `/etc/passwd` and `/etc/group`, with the recipe's additions.
#[derive(Debug, Clone)]
pub struct Accounts {
    pub passwd: String,
    pub group: String,
}

/// An account name as `useradd` accepts it: letters, digits, `_`, `.`, `-` (not first), at
/// most 32; never `:` or a newline, which would write another line into passwd or group.
fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !name.starts_with(['-', '.'])
}

/// Whether a home directory is a place of its own: absolute, plain components, and not a
/// directory the system needs (making it 0700 and the user's would break the image).
fn home_ok(home: &str) -> bool {
    const SYSTEM: &[&str] = &[
        "", "bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "run", "sbin",
        "sys", "tmp", "usr", "var", "home", "busybox",
    ];
    let Some(rest) = home.strip_prefix('/') else {
        return false;
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let plain = parts.iter().all(|p| {
        !p.is_empty()
            && *p != "."
            && *p != ".."
            && p.bytes().all(|b| b.is_ascii_graphic() && b != b':')
    });
    let system_tree = [
        "etc", "usr", "bin", "sbin", "lib", "lib64", "dev", "proc", "sys", "boot",
    ]
    .contains(&parts[0]);
    plain && !system_tree && !(parts.len() == 1 && SYSTEM.contains(&parts[0]))
}

impl AppSpec {
    /// Checks the recipe's users and groups before they are written into passwd and group.
    fn check_accounts(&self, group_ids: &[u32]) -> anyhow::Result<()> {
        for (i, g) in self.recipe.groups.iter().enumerate() {
            if !name_ok(&g.name) {
                return Err(self.error(
                    Some(("groups", i)),
                    "name",
                    format!("{:?} is not a group name (letters, digits, _ . -)", g.name),
                ));
            }
        }
        for (i, u) in self.recipe.users.iter().enumerate() {
            let at = Some(("users", i));
            if !name_ok(&u.name) {
                return Err(self.error(
                    at,
                    "name",
                    format!("{:?} is not a user name (letters, digits, _ . -)", u.name),
                ));
            }
            if u.uid == u32::MAX {
                return Err(self.error(at, "uid", "4294967295 is the reserved \"no user\" id"));
            }
            if let Some(h) = &u.home
                && !home_ok(h)
            {
                return Err(self.error(
                    at,
                    "home",
                    format!("{h:?} is not a home directory (absolute, plain, outside /etc, /usr and other system directories)"),
                ));
            }
            if let Some(gid) = u.gid
                && gid != u.uid
                && !group_ids.contains(&gid)
                && !self.recipe.groups.iter().any(|g| g.gid == gid)
            {
                return Err(self.error(
                    at,
                    "gid",
                    format!("group {gid} is not in the image's /etc/group (add it in [[groups]])"),
                ));
            }
        }
        Ok(())
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
        self.check_accounts(&gids)?;
        for (i, g) in self.recipe.groups.iter().enumerate() {
            if names.contains(&g.name) {
                return Err(self.error(
                    Some(("groups", i)),
                    "name",
                    format!("group {} already exists", g.name),
                ));
            }
            if gids.contains(&g.gid) {
                return Err(self.error(
                    Some(("groups", i)),
                    "gid",
                    format!("gid {} is taken already", g.gid),
                ));
            }
            let _ = writeln!(group, "{}:x:{}:", g.name, g.gid);
            names.push(g.name.clone());
            gids.push(g.gid);
        }
        for (i, u) in self.recipe.users.iter().enumerate() {
            if passwd.lines().any(|l| l.split(':').next() == Some(&u.name)) {
                return Err(self.error(
                    Some(("users", i)),
                    "name",
                    format!("user {} already exists", u.name),
                ));
            }
            if passwd
                .lines()
                .any(|l| l.split(':').nth(2) == Some(&u.uid.to_string()))
            {
                return Err(self.error(
                    Some(("users", i)),
                    "uid",
                    format!("uid {} is taken already", u.uid),
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

#[cfg(test)]
mod tests {

    use super::*;

    #[test]
    fn names_and_homes_that_would_break_passwd_or_the_image_are_refused() {
        for bad in ["evil\nroot2::0:0::/:/bin/sh", "a:b", "", "-x", "a b"] {
            assert!(!name_ok(bad), "{bad:?}");
        }
        assert!(name_ok("app_1.svc-x"));
        for bad in [
            "/",
            "/etc",
            "/etc/passwd",
            "/usr/bin",
            "relative",
            "/a/../b",
            "/home",
            "/a//b",
            "/tmp",
        ] {
            assert!(!home_ok(bad), "{bad:?}");
        }
        for good in [
            "/home/app",
            "/srv/app",
            "/var/lib/app",
            "/nonexistent",
            "/opt/app",
        ] {
            assert!(home_ok(good), "{good:?}");
        }
        let spec = AppSpec::for_test(
            "[[users]]\nname = \"app\"\nuid = 1000\ngid = 7777\n",
            std::path::Path::new("."),
        );
        let e = spec.accounts().unwrap_err().to_string();
        assert!(e.contains("group 7777 is not in the image"), "{e}");
    }

    #[test]
    fn owners_resolve_names() {
        let spec = AppSpec::for_test(
            "[[users]]\nname = \"app\"\nuid = 1000\n",
            std::path::Path::new("."),
        );
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
