//! A build as people read it: its summary, or a dry run's plans.

use std::io::Write;

use crate::output::BuildSummary;
use crate::plan::Plan;

/// A build's summary: what was built (or would be, in a dry run) and where, each platform's
/// numbers, the digest, the evidence files; with `explain`, why each library file is there.
pub fn summary(out: &mut impl Write, summary: &BuildSummary, explain: bool) -> anyhow::Result<()> {
    let on = summary
        .base
        .as_ref()
        .map(|b| format!(" on {b}"))
        .unwrap_or_default();
    if summary.dry_run {
        writeln!(
            out,
            "would build {}{on} ({}; dry run: nothing written)",
            summary.image, summary.format
        )?;
    } else if summary.output.as_os_str().is_empty() {
        writeln!(
            out,
            "built {}{on} ({}, for pushing)",
            summary.image, summary.format
        )?;
    } else {
        writeln!(
            out,
            "built {}{on} → {} ({})",
            summary.image,
            summary.output.display(),
            summary.format
        )?;
    }
    for m in &summary.manifests {
        let partly = if m.partial_packages.is_empty() {
            String::new()
        } else {
            format!(" (+{} partly)", m.partial_packages.len())
        };
        writeln!(
            out,
            "  {:8} {} packages{partly}, {} layer{}, {:.2} MiB compressed, manifest {}",
            m.arch,
            m.packages,
            m.layers,
            if m.layers == 1 { "" } else { "s" },
            m.compressed_size as f64 / 1_048_576.0,
            m.digest
        )?;
        if !m.partial_packages.is_empty() {
            let parts: Vec<String> = m
                .partial_packages
                .iter()
                .map(|(name, n)| format!("{name} ({n})"))
                .collect();
            writeln!(out, "           files from {}", parts.join(", "))?;
        }
        if !m.files.is_empty() {
            let bytes: u64 = m.files.iter().map(|f| f.size).sum();
            writeln!(
                out,
                "           {} copied file{} ({:.2} MiB); with digests in --json and the SBOMs",
                m.files.len(),
                if m.files.len() == 1 { "" } else { "s" },
                bytes as f64 / 1_048_576.0
            )?;
        }
        for f in m.files.iter().filter(|f| f.asked.is_some()) {
            let asked = f.asked.as_deref().unwrap_or_default();
            writeln!(
                out,
                "           {asked} is at {} (the image's directory links lead there)",
                f.path
            )?;
        }
    }
    writeln!(out, "  digest {}", summary.digest)?;
    for s in &summary.sboms {
        writeln!(out, "  sbom  {}", s.display())?;
    }
    if let Some(p) = &summary.provenance {
        writeln!(out, "  provenance {}", p.display())?;
    }
    if explain {
        for line in &summary.explain {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(())
}

/// The plans of a dry run as `--json` prints them: each plan, with its `explain` lines when
/// asked for.
pub fn plans_json(
    plans: &[(Plan, Vec<String>)],
    explain: bool,
) -> anyhow::Result<serde_json::Value> {
    let plans = (plans.iter())
        .map(|(p, lines)| {
            let mut v = serde_json::to_value(p)?;
            if explain {
                v["explain"] = serde_json::json!(lines);
            }
            Ok(v)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(serde_json::Value::Array(plans))
}

/// The plans of a dry run: each architecture's tiers with their packages, versions, sizes and
/// suites, the packages only some files are taken from, and the dependencies exclusions cut;
/// with `explain`, why each library file would be there.
pub fn plans(
    out: &mut impl Write,
    plans: &[(Plan, Vec<String>)],
    explain: bool,
) -> anyhow::Result<()> {
    for (p, lines) in plans {
        writeln!(
            out,
            "{} for {} (Debian {}, released {})",
            p.image, p.arch, p.debian_version, p.release_date
        )?;
        for tier in &p.tiers {
            writeln!(out, "  tier {}:", tier.name)?;
            for pkg in &tier.packages {
                writeln!(
                    out,
                    "    {:32} {:32} {:>8} KiB  {}",
                    pkg.name,
                    pkg.version,
                    pkg.size.div_ceil(1024),
                    pkg.suite
                )?;
            }
            for (pkg, only) in &tier.partial {
                let n = only.len();
                writeln!(
                    out,
                    "    {:32} {:32} {:>8} KiB  {} ({n} file{} of it)",
                    pkg.name,
                    pkg.version,
                    pkg.size.div_ceil(1024),
                    pkg.suite,
                    if n == 1 { "" } else { "s" }
                )?;
            }
        }
        if explain {
            for line in lines {
                writeln!(out, "  {line}")?;
            }
        }
        let broken: Vec<_> = p.tiers.iter().flat_map(|t| &t.broken).collect();
        if !broken.is_empty() {
            writeln!(out, "  dependencies cut by exclusions:")?;
            let mut seen = std::collections::BTreeSet::new();
            for b in broken {
                if seen.insert((&b.package, &b.dependency)) {
                    writeln!(out, "    {} → {}", b.package, b.dependency)?;
                }
            }
        }
    }
    Ok(())
}

/// What `needs` found: the static programs, then each package and the files taken from it (a
/// module directory is hundreds of files: counted, not listed), and why.
pub fn needs(
    out: &mut impl Write,
    needs: &crate::app::auto::Needs,
    release: u32,
    arch: crate::model::Arch,
) -> anyhow::Result<()> {
    for s in &needs.static_programs {
        writeln!(
            out,
            "{s}: statically linked: needs nothing, lands on static"
        )?;
    }
    if !needs.files.is_empty() {
        writeln!(out, "packages (Debian {release}, {arch}):")?;
        for (name, (pkg, files)) in &needs.files {
            let listed: Vec<String> = files.iter().map(|f| format!("/{f}")).collect();
            // A module directory (gconv) is hundreds of files: say how many, not which.
            let shown = if listed.len() > 12 {
                format!("{} … ({} files)", listed[..8].join(" "), listed.len())
            } else {
                listed.join(" ")
            };
            writeln!(out, "  {name} {}: {shown}", pkg.version)?;
        }
        writeln!(out, "why:")?;
        for line in &needs.explain {
            writeln!(out, "  {line}")?;
        }
    }
    Ok(())
}
