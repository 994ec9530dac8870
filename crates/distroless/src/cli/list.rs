//! `distroless list`: the catalog.

use std::io::Write;

use distroless::model::{Arch, Catalog, RELEASES};

/// Runs `distroless list`.
pub(crate) fn run(json: bool) -> anyhow::Result<()> {
    let catalog = Catalog::embedded()?;
    let mut out = std::io::stdout().lock();
    let arches: Vec<&str> = Arch::published().map(Arch::debian).collect();
    if json {
        super::print_json(&mut out, &catalog.listing())?;
        return Ok(());
    }
    writeln!(
        out,
        "{:15} {:12} {:8} {:32} DESCRIPTION",
        "IMAGE", "FROM", "DEBIAN", "RUNTIME"
    )?;
    for r in catalog.recipes() {
        let debs: Vec<String> = RELEASES
            .iter()
            .filter(|d| r.supports(d.number))
            .map(|d| d.number.to_string())
            .collect();
        // Which language runtime, and where it comes from (its packages: --json).
        let runtime = r.runtime.as_ref().map_or_else(
            || "-".to_string(),
            |rt| {
                format!(
                    "{} ({})",
                    rt.name,
                    rt.origin.as_deref().unwrap_or("Debian archive")
                )
            },
        );
        writeln!(
            out,
            "{:15} {:12} {:8} {:32} {}",
            r.name,
            r.from.as_deref().unwrap_or("-"),
            debs.join(","),
            runtime,
            r.description
        )?;
    }
    writeln!(out, "\ntags: latest, nonroot, debug, debug-nonroot")?;
    writeln!(
        out,
        "without -debianN: Debian 13, or the only release an image exists for (java17: 12)"
    )?;
    writeln!(out, "architectures: {}", arches.join(", "))?;
    // The sources the catalog names no host or key for: the command line gives them.
    for r in catalog.recipes() {
        let mut flags: Vec<String> = Vec::new();
        for a in r.archives.iter().filter(|a| a.mirror.is_none()) {
            flags.push(format!("--archive-mirror {}=URL", a.name));
            if a.checksums_key.is_none() && a.sha256.is_empty() {
                flags.push(format!("--archive-key {}=FILE", a.name));
            }
        }
        for repo in &r.repositories {
            if let Some(n) = &repo.name {
                flags.push(format!("--repository {n}=URL --repository-key {n}=FILE"));
            }
        }
        if !flags.is_empty() {
            writeln!(out, "{} needs {}", r.name, flags.join(" "))?;
        }
    }
    Ok(())
}
