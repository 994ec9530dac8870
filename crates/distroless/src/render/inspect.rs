//! `inspect` and `diff` as people read them: a platform's numbers with bars, the merged file
//! system as `ls -l` shows it, what two images differ in. Text from an image (names, link
//! targets, environment) is escaped: it cannot draw on a terminal.

use std::io::Write;

use crate::inspect::audit::{Finding, Level};
use crate::inspect::diff::Diff;
use crate::inspect::{Filesystem, Kind, PlatformReport};

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / 1_048_576.0)
}

/// A bar of at most 20 cells for `part` of `whole`.
fn bar(part: u64, whole: u64) -> String {
    let cells = if whole == 0 {
        0
    } else {
        usize::try_from((part.saturating_mul(20)).div_ceil(whole))
            .unwrap_or(20)
            .min(20)
    };
    format!("{:<20}", "█".repeat(cells))
}

pub fn report(out: &mut impl Write, r: &PlatformReport) -> anyhow::Result<()> {
    writeln!(
        out,
        "{}: {} files, {} ({} compressed), {} wasted by later layers",
        r.platform,
        r.files,
        mib(r.bytes),
        mib(r.compressed),
        mib(r.wasted)
    )?;
    writeln!(out, "  layers:")?;
    let biggest = r.layers.iter().map(|l| l.uncompressed).max().unwrap_or(0);
    for (i, l) in r.layers.iter().enumerate() {
        writeln!(
            out,
            "  {i:>3} {} {:>11} {:>11} {}  {}",
            &l.digest[..19.min(l.digest.len())],
            mib(l.compressed),
            mib(l.uncompressed),
            bar(l.uncompressed, biggest),
            l.created_by.as_deref().unwrap_or("")
        )?;
    }
    let c = &r.config;
    writeln!(
        out,
        "  user {:?}, workdir {:?}, entrypoint {}, cmd {}",
        c.user, c.workdir, c.entrypoint, c.cmd
    )?;
    if !c.ports.is_empty() {
        writeln!(out, "  ports {}", c.ports.join(" "))?;
    }
    if !c.healthcheck.is_null() {
        writeln!(out, "  healthcheck {}", c.healthcheck["Test"])?;
    }
    for e in c.env.as_array().into_iter().flatten() {
        writeln!(out, "  env {}", escaped(e.as_str().unwrap_or("")))?;
    }
    if !c.labels.is_null() {
        writeln!(out, "  labels {}", c.labels)?;
    }
    if !c.volumes.is_empty() {
        writeln!(out, "  volumes {}", c.volumes.join(" "))?;
    }
    if !c.stop_signal.is_empty() {
        writeln!(out, "  stop signal {}", c.stop_signal)?;
    }
    if !r.packages.is_empty() {
        writeln!(out, "  packages ({}):", r.packages.len())?;
        let top = r.packages.first().map_or(0, |p| p.bytes);
        for p in &r.packages {
            writeln!(
                out,
                "    {:28} {:28} {:>11} {}",
                p.name,
                p.version,
                mib(p.bytes),
                bar(p.bytes, top)
            )?;
        }
    }
    writeln!(out, "  largest files:")?;
    for (path, size) in &r.largest {
        writeln!(out, "    {:>11}  {path}", mib(*size))?;
    }
    Ok(())
}

/// Text from an image as it is, unless it holds control characters (escape sequences, line
/// breaks): then quoted with them escaped, so a file name cannot draw on the terminal.
fn escaped(text: &str) -> String {
    if text.chars().any(char::is_control) {
        format!("{text:?}")
    } else {
        text.to_string()
    }
}

/// `rwxr-xr-x` with setuid, setgid and sticky shown as `ls` shows them.
fn mode_text(mode: u32) -> String {
    let mut s: Vec<char> = "rwxrwxrwx"
        .chars()
        .enumerate()
        .map(|(i, c)| if mode & (0o400 >> i) != 0 { c } else { '-' })
        .collect();
    if mode & 0o4000 != 0 {
        s[2] = if s[2] == 'x' { 's' } else { 'S' };
    }
    if mode & 0o2000 != 0 {
        s[5] = if s[5] == 'x' { 's' } else { 'S' };
    }
    if mode & 0o1000 != 0 {
        s[8] = if s[8] == 'x' { 't' } else { 'T' };
    }
    s.into_iter().collect()
}

pub fn diff(out: &mut impl Write, d: &Diff) -> anyhow::Result<()> {
    if d.equal {
        writeln!(out, "equal")?;
        return Ok(());
    }
    for p in &d.only_in_a {
        writeln!(out, "{p}: only in the first image")?;
    }
    for p in &d.only_in_b {
        writeln!(out, "{p}: only in the second image")?;
    }
    for p in d.platforms.iter().filter(|p| !p.equal) {
        writeln!(out, "{}:", p.platform)?;
        for (n, v) in &p.packages_added {
            writeln!(out, "  + package {n} {v}")?;
        }
        for (n, v) in &p.packages_removed {
            writeln!(out, "  - package {n} {v}")?;
        }
        for (n, old, new) in &p.packages_changed {
            writeln!(out, "  ~ package {n} {old} → {new}")?;
        }
        let owned = |f: &crate::inspect::diff::FileChange| {
            f.package
                .as_ref()
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        };
        for f in &p.files_added {
            writeln!(out, "  + {}{}", escaped(&f.path), owned(f))?;
        }
        for f in &p.files_removed {
            writeln!(out, "  - {}{}", escaped(&f.path), owned(f))?;
        }
        for f in &p.files_changed {
            writeln!(
                out,
                "  ~ {}: {}{}",
                escaped(&f.path),
                f.changes.join("; "),
                owned(f)
            )?;
        }
        for s in &p.settings {
            writeln!(out, "  ~ config {}: {} → {}", s.key, s.old, s.new)?;
        }
    }
    Ok(())
}

/// The merged file system below `below` (`/` for all), one line per entry as `ls -l` shows
/// it; names from the image escaped.
pub fn tree(
    out: &mut impl Write,
    platform: &str,
    fs: &Filesystem,
    below: &str,
) -> anyhow::Result<()> {
    let prefix = below.trim_matches('/');
    let under = |p: &str| prefix.is_empty() || p == prefix || p.starts_with(&format!("{prefix}/"));
    writeln!(out, "{platform}:")?;
    for (p, n) in fs.nodes.iter().filter(|(p, _)| under(p)) {
        let t = match n.kind {
            Kind::Dir => 'd',
            Kind::Symlink => 'l',
            Kind::Hardlink => 'h',
            Kind::File => '-',
            Kind::Other => '?',
        };
        let link = n
            .link
            .as_ref()
            .map(|l| format!(" -> {l}"))
            .unwrap_or_default();
        let xattrs = if n.xattrs.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = n.xattrs.keys().map(String::as_str).collect();
            format!(" [{}]", names.join(", "))
        };
        let xattrs = match &n.device {
            Some(d) => format!(" ({d}){xattrs}"),
            None => xattrs,
        };
        // Names from the image are hostile text: escaped, never printed raw.
        let link = escaped(&format!("{link}{xattrs}"));
        writeln!(
            out,
            "{t}{} {:>5}:{:<5} {:>10}  {}{link}",
            mode_text(n.mode),
            n.uid,
            n.gid,
            n.size,
            escaped(&format!("/{p}"))
        )?;
    }
    Ok(())
}

/// An audit's findings, one line each (platform, rule, message, layer), then its verdict.
pub fn findings(
    out: &mut impl Write,
    image: &str,
    findings: &[(String, Finding)],
) -> anyhow::Result<()> {
    let failed = findings.iter().any(|(_, f)| f.level == Level::Error);
    for (p, f) in findings {
        let layer = f
            .layer
            .as_ref()
            .map(|l| format!(" [layer {}]", &l[..19.min(l.len())]))
            .unwrap_or_default();
        let level = if f.level == Level::Warning {
            "warning: "
        } else {
            ""
        };
        writeln!(out, "{p} {}: {level}{}{layer}", f.rule, f.message)?;
    }
    let errors = findings
        .iter()
        .filter(|(_, f)| f.level == Level::Error)
        .count();
    if failed {
        writeln!(
            out,
            "{}: failed ({errors} error{})",
            image,
            if errors == 1 { "" } else { "s" }
        )?;
    } else {
        writeln!(out, "{image}: passed")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_as_ls_shows_them() {
        assert_eq!(mode_text(0o755), "rwxr-xr-x");
        assert_eq!(mode_text(0o4755), "rwsr-xr-x");
        assert_eq!(mode_text(0o2644), "rw-r-Sr--");
        assert_eq!(mode_text(0o1777), "rwxrwxrwt");
    }

    #[test]
    fn names_from_an_image_cannot_draw_on_the_terminal() {
        assert_eq!(escaped("/etc/passwd"), "/etc/passwd");
        assert_eq!(escaped("/x\u{1b}[31m\nroot"), "\"/x\\u{1b}[31m\\nroot\"");
    }

    #[test]
    fn bars_are_at_most_twenty_cells() {
        assert_eq!(bar(1, 1).trim_end().chars().count(), 20);
        assert_eq!(bar(0, 0).trim_end(), "");
        assert_eq!(bar(1, 40).trim_end().chars().count(), 1);
    }
}
