//! `/var/lib/dpkg/status.d/<name>` records, which scanners (syft, trivy, grype) read.
//!
//! Each record is the package's control file; its md5sums file sits beside it with every path
//! rewritten the way the files were placed (merged-/usr), unlike Google's images.

use std::collections::BTreeMap;

use debian::deb::Control;
use oci::layer::Meta;

use super::Tree;

/// Writes the records of one package into the tier.
pub fn add_records(
    tree: &mut Tree,
    name: &str,
    control: &Control,
    placed: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let mut text = control.control.trim_end().to_string();
    text.push('\n');
    tree.put_file(
        &format!("var/lib/dpkg/status.d/{name}"),
        text.into_bytes(),
        Meta::root(0o644),
    )?;
    if let Some(md5sums) = &control.md5sums {
        let rewritten = rewrite_md5sums(md5sums, placed);
        tree.put_file(
            &format!("var/lib/dpkg/status.d/{name}.md5sums"),
            rewritten.into_bytes(),
            Meta::root(0o644),
        )?;
    }
    Ok(())
}

/// Writes the records of a package of which only `placed` files were taken: its md5sums list
/// only those files.
pub fn add_partial_records(
    tree: &mut Tree,
    name: &str,
    control: &Control,
    placed: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let mut control = control.clone();
    control.md5sums = control.md5sums.map(|m| {
        let mut kept = String::new();
        for l in m.lines().filter(|l| {
            l.split_once("  ")
                .is_some_and(|(_, p)| placed.contains_key(p.trim_start_matches("./")))
        }) {
            kept.push_str(l);
            kept.push('\n');
        }
        kept
    });
    add_records(tree, name, &control, placed)
}

/// Rewrites the paths of an md5sums file (`<hash>  <path>`) to where the files were placed.
pub fn rewrite_md5sums(md5sums: &str, placed: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(md5sums.len());
    for line in md5sums.lines() {
        match line.split_once("  ") {
            Some((hash, path)) => {
                let key = path.trim_start_matches("./").trim_start_matches('/');
                let new = placed.get(key).map_or(key, String::as_str);
                out.push_str(hash);
                out.push_str("  ");
                out.push_str(new);
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5sums_follow_usrmerge() {
        let placed = BTreeMap::from([(
            "lib/x86_64-linux-gnu/libc.so.6".to_string(),
            "usr/lib/x86_64-linux-gnu/libc.so.6".to_string(),
        )]);
        let out = rewrite_md5sums(
            "abc  lib/x86_64-linux-gnu/libc.so.6\ndef  usr/share/doc/x\n",
            &placed,
        );
        assert_eq!(
            out,
            "abc  usr/lib/x86_64-linux-gnu/libc.so.6\ndef  usr/share/doc/x\n"
        );
    }
}
