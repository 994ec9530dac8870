//! `distroless inspect` and `distroless diff`: images opened (pulled first when they live in a
//! registry), read by the library, and printed as tables with bars, a tree, or JSON.

use std::io::Write;

use distroless::inspect;

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
            print_tree(&mut out, &r.platform, &r.fs, below, args.json.on)?;
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
    if args.json.on {
        super::print_json(
            &mut out,
            &serde_json::json!({"image": args.image, "platforms": reports}),
        )?;
        return Ok(());
    }
    for r in &reports {
        distroless::render::inspect::report(&mut out, r)?;
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
    distroless::render::inspect::tree(out, platform, fs, below)
}

/// Runs `distroless diff`: exit status 1 when the images differ.
pub(crate) fn diff(args: &DiffArgs) -> anyhow::Result<()> {
    let cache = args.cache.path();
    let a = open_any(&args.a, &args.registry, &cache)?;
    let b = open_any(&args.b, &args.registry, &cache)?;
    let d = inspect::diff::diff(&a, &b, args.limits.limits())?;
    let mut out = std::io::stdout().lock();
    if args.json.on {
        super::print_json(&mut out, &d)?;
    } else {
        distroless::render::inspect::diff(&mut out, &d)?;
    }
    out.flush()?;
    if !d.equal {
        std::process::exit(1);
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
    match if args.json {
        ReportFormat::Json
    } else {
        args.format
    } {
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
            distroless::render::inspect::findings(&mut out, &args.image, &findings)?;
        }
    }
    out.flush()?;
    if failed {
        std::process::exit(1);
    }
    Ok(())
}
