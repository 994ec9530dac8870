//! `distroless inspect` and `distroless diff`: images opened (pulled first when they live in a
//! registry), read by the library, and printed as tables with bars, a tree, or JSON.

use std::io::Write;

use distroless::inspect::{self, Kind, PlatformReport};

use distroless::inspect::audit::{self, Level, Policy};

use super::args::{AuditArgs, DiffArgs, InspectArgs, PolicyArgs, ReportFormat};
use super::registry::open_any;

/// Runs `distroless inspect`.
pub(crate) fn inspect(args: &InspectArgs) -> anyhow::Result<()> {
    let cache = args.cache.path();
    let image = open_any(&args.image, &args.registry, &cache)?;
    let mut reports = Vec::new();
    let mut out = std::io::stdout().lock();
    let all = inspect::read(&image, args.limits.limits())?;
    let names: Vec<String> = all.iter().map(|r| r.platform.clone()).collect();
    for r in all {
        // `linux/arm64` picks `linux/arm64/v8`.
        if args
            .platform
            .as_ref()
            .is_some_and(|p| *p != r.platform && !r.platform.starts_with(&format!("{p}/")))
        {
            continue;
        }
        if let Some(below) = &args.tree {
            print_tree(&mut out, &r.platform, &r.fs, below, args.json)?;
            continue;
        }
        reports.push(inspect::report(&r.platform, &r.fs, &r.layers, &r.config));
    }
    anyhow::ensure!(
        args.tree.is_some() || !reports.is_empty(),
        "{}: no platform {} (it has {})",
        args.image,
        args.platform.as_deref().unwrap_or(""),
        names.join(", ")
    );
    if args.tree.is_some() {
        return Ok(());
    }
    if args.json {
        super::print_json(
            &mut out,
            &serde_json::json!({"image": args.image, "platforms": reports}),
        )?;
        return Ok(());
    }
    for r in &reports {
        print_report(&mut out, r)?;
    }
    Ok(())
}

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

fn print_report(out: &mut impl Write, r: &PlatformReport) -> anyhow::Result<()> {
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

fn print_tree(
    out: &mut impl Write,
    platform: &str,
    fs: &inspect::Filesystem,
    below: &str,
    json: bool,
) -> anyhow::Result<()> {
    let prefix = below.trim_matches('/');
    let under = |p: &str| prefix.is_empty() || p == prefix || p.starts_with(&format!("{prefix}/"));
    if json {
        let nodes: Vec<_> = fs
            .nodes
            .iter()
            .filter(|(p, _)| under(p))
            .map(|(p, n)| serde_json::json!({"path": format!("/{p}"), "node": n}))
            .collect();
        let doc = serde_json::json!({"platform": platform, "files": nodes});
        return super::print_json(out, &doc);
    }
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

/// Runs `distroless diff`: exit status 1 when the images differ.
pub(crate) fn diff(args: &DiffArgs) -> anyhow::Result<()> {
    let cache = args.cache.path();
    let a = open_any(&args.a, &args.registry, &cache)?;
    let b = open_any(&args.b, &args.registry, &cache)?;
    let d = inspect::diff::diff(&a, &b, args.limits.limits())?;
    let mut out = std::io::stdout().lock();
    if args.json {
        super::print_json(&mut out, &d)?;
    } else {
        print_diff(&mut out, &d)?;
    }
    out.flush()?;
    if !d.equal {
        std::process::exit(1);
    }
    Ok(())
}

fn print_diff(out: &mut impl Write, d: &inspect::diff::Diff) -> anyhow::Result<()> {
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
        let owned = |f: &inspect::diff::FileChange| {
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

/// The policy the flags (and the policy file) give.
pub(crate) fn policy(args: &PolicyArgs) -> anyhow::Result<Policy> {
    let mut p = match &args.policy {
        Some(f) => Policy::load(f)?,
        None => Policy::default(),
    };
    p.allow_busybox |= args.allow_busybox;
    p.require_non_root |= args.require_non_root;
    Ok(p)
}

/// Runs `distroless audit`: exit status 1 when any rule is broken.
pub(crate) fn audit(args: &AuditArgs) -> anyhow::Result<()> {
    let cache = args.cache.path();
    let policy = policy(&args.policy)?;
    let image = open_any(&args.image, &args.registry, &cache)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let findings = audit::audit_image(&image, &policy, now, args.limits.limits())?;
    let failed = findings.iter().any(|(_, f)| f.level == Level::Error);
    let mut out = std::io::stdout().lock();
    match args.format {
        ReportFormat::Sarif => {
            super::print_json(&mut out, &audit::sarif(&args.image, &findings))?;
        }
        ReportFormat::Json => {
            let list: Vec<_> = findings
                .iter()
                .map(|(p, f)| serde_json::json!({"platform": p, "finding": f}))
                .collect();
            super::print_json(
                &mut out,
                &serde_json::json!({"image": args.image, "passed": !failed, "findings": list}),
            )?;
        }
        ReportFormat::Human => {
            for (p, f) in &findings {
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
                    args.image,
                    if errors == 1 { "" } else { "s" }
                )?;
            } else {
                writeln!(out, "{}: passed", args.image)?;
            }
        }
    }
    out.flush()?;
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
