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

impl AppSpec {
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
