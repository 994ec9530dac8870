//! Publishing as people read it: what a push sent, what a verification found.

use std::io::Write;

use registry::push::Pushed;

use crate::attest::verify::Verified;
use crate::publish::push::Sent;

/// One line per reference pushed (`REF@DIGEST`), then what was sent.
pub fn pushed(out: &mut impl Write, pushed: &[Pushed], sent: &Sent) -> anyhow::Result<()> {
    for p in pushed {
        writeln!(out, "pushed {}@{}", p.reference, p.digest)?;
    }
    let n = sent.blobs_sent;
    writeln!(
        out,
        "  {n} blob{} sent ({:.2} MiB), {} already there, {} mounted",
        if n == 1 { "" } else { "s" },
        sent.bytes_sent as f64 / 1_048_576.0,
        sent.blobs_skipped,
        sent.blobs_mounted
    )?;
    Ok(())
}

/// What a verification found: the image, then each signature or attestation and where it is.
pub fn verified(
    out: &mut impl Write,
    repository: &str,
    top: &str,
    verified: &[Verified],
) -> anyhow::Result<()> {
    writeln!(out, "verified {repository}@{top}")?;
    for v in verified {
        let what = if v.subject == top {
            "image".to_string()
        } else {
            abbreviate(&v.subject)
        };
        writeln!(out, "  {:<10} {what:<20} {}", v.kind, abbreviate(&v.from))?;
    }
    Ok(())
}

/// Long digests cut to their first 12 hex digits, for lines people read (`--json` keeps them
/// whole).
fn abbreviate(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("sha256") {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        let hex_start = "sha256:".len();
        let hex: String = from
            .chars()
            .skip(hex_start)
            .take_while(char::is_ascii_hexdigit)
            .collect();
        if hex.len() == 64 {
            out.push_str(&from[..hex_start + 12]);
            out.push('…');
            rest = &from[hex_start + 64..];
        } else {
            out.push_str(&from[..hex_start.min(from.len())]);
            rest = &from[hex_start.min(from.len())..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn digests_are_shortened_for_reading() {
        let d = "ab".repeat(32);
        assert_eq!(
            super::abbreviate(&format!("sha256-{d}.sig and sha256:{d}")),
            "sha256-abababababab….sig and sha256:abababababab…"
        );
        assert_eq!(super::abbreviate("sha256:zz"), "sha256:zz");
    }
}
