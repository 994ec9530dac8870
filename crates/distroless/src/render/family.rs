//! A family (matrix) build as people read it: the images it would build, what a publish would
//! change, and the table of what was built, pushed and signed.

use std::io::Write;

use crate::model::Arch;
use crate::model::matrix::Job;
use crate::publish::family::{Change, Row, Skipped, arch_references};

/// The images left out, and why.
pub fn skipped(out: &mut impl Write, skipped: &[Skipped]) -> anyhow::Result<()> {
    for s in skipped {
        writeln!(out, "skipped {}: {}", s.image, s.why)?;
    }
    Ok(())
}

/// What a publish would change, image by image, and the count of each kind.
pub fn changes(
    out: &mut impl Write,
    changes: &[Change],
    skipped: &[Skipped],
) -> anyhow::Result<()> {
    for c in changes {
        let line = match (c.status, &c.was) {
            ("changed", Some(was)) => format!("{was} → {}", c.digest),
            _ => c.digest.clone(),
        };
        writeln!(out, "{:9} {} {line}", c.status, c.reference)?;
    }
    let count = |s: &str| changes.iter().filter(|c| c.status == s).count();
    writeln!(
        out,
        "{} new, {} changed, {} unchanged (nothing sent)",
        count("new"),
        count("changed"),
        count("unchanged")
    )?;
    self::skipped(out, skipped)?;
    Ok(())
}

/// The images a matrix would build (a dry run without a registry), each with its per-arch
/// tags when asked for.
pub fn jobs(
    out: &mut impl Write,
    jobs: &[Job],
    skipped: &[Skipped],
    (arches, arch_tags): (&[Arch], bool),
) -> anyhow::Result<()> {
    let arch_refs = |j: &Job| arch_references(j, arches, arch_tags);
    let shown: Vec<String> = arches.iter().map(ToString::to_string).collect();
    let shown = if shown.is_empty() {
        "every architecture each release offers".to_string()
    } else {
        shown.join(", ")
    };
    writeln!(out, "{} images, {shown}:", jobs.len())?;
    for j in jobs {
        let tags: Vec<String> = (arch_refs(j).iter())
            .filter_map(|r| r.rsplit_once(':').map(|(_, t)| t.to_string()))
            .collect();
        let also = if tags.is_empty() {
            String::new()
        } else {
            format!("  (and {})", tags.join(", "))
        };
        writeln!(out, "  {:48} {}{also}", j.reference(), j.image.canonical())?;
    }
    self::skipped(out, skipped)?;
    Ok(())
}

/// The table of a matrix build: each image's reference, architectures, layers, seconds and
/// digest, then totals, what the push sent and what was signed.
pub fn rows(
    out: &mut impl Write,
    rows: &[Row],
    skipped: &[Skipped],
    report: &serde_json::Value,
) -> anyhow::Result<()> {
    writeln!(
        out,
        "{:48} {:14} {:>6} {:>7}  DIGEST",
        "IMAGE", "ARCHES", "LAYERS", "SECONDS"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:48} {:14} {:>6} {:>7.2}  {}",
            r.reference,
            r.arches.join(","),
            r.layers,
            r.seconds,
            r.digest
        )?;
    }
    let total: f64 = rows.iter().map(|r| r.seconds).sum();
    let where_ = report["output"]
        .as_str()
        .map(|o| format!(" into {o}"))
        .unwrap_or_default();
    let plural = if rows.len() == 1 { "" } else { "s" };
    writeln!(
        out,
        "{} image{plural} in {:.2} s{where_}",
        rows.len(),
        total.max(0.0)
    )?;
    if rows.iter().any(|r| !r.pushed.is_empty()) {
        let n: usize = rows.iter().map(|r| r.pushed.len()).sum();
        let p = &report["push"];
        if rows.iter().all(|r| r.current) {
            writeln!(out, "nothing pushed: every tag already named its image")?;
        } else {
            writeln!(
                out,
                "pushed {n} references: {} blobs sent ({:.1} MB), {} mounted, {} already there",
                p["blobs_sent"],
                p["bytes_sent"].as_f64().unwrap_or(0.0) / 1e6,
                p["blobs_mounted"],
                p["blobs_skipped"]
            )?;
        }
    }
    if let Some(signed) = report.get("signed") {
        writeln!(
            out,
            "{} images {} ({} artifacts stored)",
            signed["images"],
            match (
                signed["signatures"].as_bool(),
                signed["attestations"].as_bool()
            ) {
                (Some(true), Some(true)) => "signed and attested",
                (Some(true), _) => "signed",
                _ => "attested",
            },
            signed["stored"]
        )?;
    }
    self::skipped(out, skipped)?;
    Ok(())
}
