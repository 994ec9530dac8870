//! The debug variant's busybox: `/busybox/busybox` and one symlink per applet.
//!
//! The applet names come from the binary itself: Debian's busybox carries them as one sorted,
//! NUL-separated table that starts with `[` and `[[`, for every architecture, so reading it
//! needs no emulation and no hand-typed list.

use std::path::Path;

use anyhow::{Context, bail};
use debian::deb::{self, Kind};
use oci::layer::Meta;

use super::Tree;

/// Reads the applet table out of a busybox binary.
pub fn applets(binary: &[u8]) -> anyhow::Result<Vec<String>> {
    let needle = b"[\0[[\0";
    let Some(start) = binary.windows(needle.len()).position(|w| w == needle) else {
        bail!("busybox: no applet table found in the binary");
    };
    let mut names = Vec::new();
    for raw in binary[start..].split(|b| *b == 0) {
        if raw.is_empty() {
            break;
        }
        let ok = raw
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'[' | b']' | b'-' | b'_' | b'.'));
        if !ok {
            break;
        }
        names.push(String::from_utf8_lossy(raw).to_string());
    }
    // The table is sorted; stop at the first name that breaks the order (the next string
    // in the binary, not an applet).
    let sorted_len = names
        .windows(2)
        .position(|w| w[0] >= w[1])
        .map_or(names.len(), |i| i + 1);
    names.truncate(sorted_len);
    if names.len() < 50 {
        bail!("busybox: applet table has only {} names", names.len());
    }
    Ok(names)
}

/// Reads `/bin/busybox` out of Debian's `busybox-static` package.
pub fn binary_from_deb(deb_path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut found = None;
    deb::read_data(deb_path, "busybox-static", |entry, reader| {
        if entry.kind == Kind::File
            && (entry.path == "bin/busybox" || entry.path == "usr/bin/busybox")
        {
            let mut bytes = Vec::new();
            reader.read_to_end(&mut bytes)?;
            found = Some(bytes);
        }
        Ok(())
    })?;
    found.context("busybox-static: no /bin/busybox in the package")
}

/// Adds Debian's busybox from its `.deb`: the binary, the applet links, and a status.d record
/// whose md5sums point at `/busybox/busybox`, so scanners see the package.
pub fn add_package(tree: &mut Tree, deb_path: &Path, name: &str) -> anyhow::Result<usize> {
    let count = add(tree, binary_from_deb(deb_path)?)?;
    let mut control = debian::deb::read_control(deb_path, name)?;
    control.md5sums = control.md5sums.map(|m| {
        let mut kept = String::new();
        for line in m.lines().filter(|l| l.ends_with("bin/busybox")) {
            if let Some((hash, _)) = line.split_once("  ") {
                kept.push_str(hash);
                kept.push_str("  busybox/busybox\n");
            }
        }
        kept
    });
    super::dpkg::add_records(tree, name, &control, &std::collections::BTreeMap::new())?;
    Ok(count)
}

/// Adds `/busybox/busybox` and its applet links to a tier.
pub fn add(tree: &mut Tree, binary: Vec<u8>) -> anyhow::Result<usize> {
    let names = applets(&binary)?;
    tree.put_dir("busybox", Meta::root(0o755))?;
    tree.put_file("busybox/busybox", binary, Meta::root(0o755))?;
    for name in &names {
        if name != "busybox" {
            tree.put_symlink(&format!("busybox/{name}"), "/busybox/busybox")?;
        }
    }
    Ok(names.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_found_and_cut_at_the_end() {
        let mut bin = b"\x7fELF junk\0".to_vec();
        bin.extend_from_slice(b"[\0[[\0");
        let mut names: Vec<String> = (0..60).map(|i| format!("app{i:02}")).collect();
        names.sort();
        for n in &names {
            bin.extend_from_slice(n.as_bytes());
            bin.push(0);
        }
        bin.extend_from_slice(b"\0trailing\0");
        let got = applets(&bin).unwrap();
        assert_eq!(got.len(), 62);
        assert_eq!(got[0], "[");
        assert_eq!(got.last().unwrap(), "app59");
    }

    #[test]
    fn host_busybox_matches_its_own_list() {
        let path = std::path::Path::new("/bin/busybox");
        if !path.exists() {
            // Only a developer machine without busybox may skip; CI installs it.
            assert!(
                std::env::var_os("CI").is_none(),
                "/bin/busybox is required in CI"
            );
            return;
        }
        let bin = fs_err::read(path).unwrap();
        let ours = applets(&bin).unwrap();
        let out = std::process::Command::new(path)
            .arg("--list")
            .output()
            .unwrap();
        let mut theirs: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        theirs.sort();
        let mut ours_sorted = ours.clone();
        ours_sorted.sort();
        assert_eq!(ours_sorted, theirs);
    }
}

/// The debug variant's busybox: the newest Debian `busybox-static`, with one link per applet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busybox;

impl Busybox {
    fn package(inputs: &dyn super::effect::Inputs) -> anyhow::Result<&debian::index::Package> {
        inputs
            .busybox()
            .context("the suites have no busybox-static package")
    }
}

impl super::effect::Effect for Busybox {
    fn name(&self) -> &'static str {
        "busybox"
    }

    fn key(&self, inputs: &dyn super::effect::Inputs) -> anyhow::Result<String> {
        Ok(inputs
            .busybox()
            .map_or("", |b| b.sha256.as_str())
            .to_string())
    }

    fn apply(&self, tree: &mut Tree, inputs: &dyn super::effect::Inputs) -> anyhow::Result<()> {
        let bb = Self::package(inputs)?;
        add_package(tree, &inputs.deb(bb)?, &bb.name)?;
        Ok(())
    }
}
