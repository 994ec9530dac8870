//! Accounts, name service switch, os-release and the standard directories.

use oci::layer::Meta;

use super::Tree;

/// `/etc/passwd` of every distroless image: root, nobody and nonroot, none with a shell.
pub const PASSWD: &str = "root:x:0:0:root:/root:/sbin/nologin\n\
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n\
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n";

/// `/etc/group` of every distroless image.
pub const GROUP: &str = "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n";

/// Files first, then DNS for hosts, as glibc programs expect.
pub const NSSWITCH: &str = "passwd:         files\n\
group:          files\n\
shadow:         files\n\
gshadow:        files\n\
\n\
hosts:          files dns\n\
networks:       files\n\
\n\
protocols:      files\n\
services:       files\n\
ethers:         files\n\
rpc:            files\n";

/// The uid and gid of the `nonroot` user.
pub const NONROOT_ID: u64 = 65532;

/// `/usr/lib/os-release` for a Debian release (`12`, `bookworm`).
pub fn os_release(number: u32, codename: &str) -> String {
    format!(
        "PRETTY_NAME=\"Distroless\"\n\
         NAME=\"Debian GNU/Linux\"\n\
         ID=\"debian\"\n\
         VERSION_ID=\"{number}\"\n\
         VERSION=\"Debian GNU/Linux {number} ({codename})\"\n\
         VERSION_CODENAME={codename}\n\
         HOME_URL=\"https://github.com/GoogleContainerTools/distroless\"\n\
         SUPPORT_URL=\"https://github.com/GoogleContainerTools/distroless/blob/master/README.md\"\n\
         BUG_REPORT_URL=\"https://github.com/GoogleContainerTools/distroless/issues/new\"\n"
    )
}

/// Adds the generated skeleton files and directories to the first tier.
pub fn add(tree: &mut Tree, number: u32, codename: &str) -> anyhow::Result<()> {
    tree.put_file("etc/passwd", PASSWD.as_bytes().to_vec(), Meta::root(0o644))?;
    tree.put_file("etc/group", GROUP.as_bytes().to_vec(), Meta::root(0o644))?;
    tree.put_file(
        "etc/nsswitch.conf",
        NSSWITCH.as_bytes().to_vec(),
        Meta::root(0o644),
    )?;
    tree.put_file(
        "usr/lib/os-release",
        os_release(number, codename).into_bytes(),
        Meta::root(0o644),
    )?;
    tree.put_symlink("etc/os-release", "../usr/lib/os-release")?;
    tree.put_dir("tmp", Meta::root(0o1777))?;
    tree.put_dir("root", Meta::root(0o700))?;
    tree.put_dir("home", Meta::root(0o755))?;
    tree.put_dir(
        "home/nonroot",
        Meta {
            mode: 0o700,
            uid: NONROOT_ID,
            gid: NONROOT_ID,
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_have_no_shell() {
        assert!(PASSWD.lines().all(|l| l.ends_with(":/sbin/nologin")));
        assert_eq!(PASSWD.lines().count(), 3);
        assert!(GROUP.contains("nonroot:x:65532:"));
    }

    #[test]
    fn os_release_fields() {
        let t = os_release(13, "trixie");
        assert!(t.contains("PRETTY_NAME=\"Distroless\""));
        assert!(t.contains("VERSION_ID=\"13\""));
        assert!(t.contains("ID=\"debian\""));
    }
}

/// The skeleton as an effect of the image's first layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skeleton;

impl super::effect::Effect for Skeleton {
    fn name(&self) -> &'static str {
        "skeleton"
    }

    fn key(&self, inputs: &dyn super::effect::Inputs) -> anyhow::Result<String> {
        let (number, codename) = inputs.release();
        Ok(format!("{number} {codename}"))
    }

    fn apply(&self, tree: &mut Tree, inputs: &dyn super::effect::Inputs) -> anyhow::Result<()> {
        let (number, codename) = inputs.release();
        add(tree, number, codename)
    }
}
