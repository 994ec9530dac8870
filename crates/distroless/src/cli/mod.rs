//! The command line: clap types ([`args`]), one module per subcommand that turns its
//! arguments into a typed request, calls the library and prints, the progress bars, and the
//! hints that name flags in errors. Private to the binary.

pub(crate) mod args;
pub(crate) mod build;
pub(crate) mod debug;
pub(crate) mod env;
pub(crate) mod hints;
pub(crate) mod inspect;
pub(crate) mod keys;
pub(crate) mod list;
pub(crate) mod lock;
pub(crate) mod matrix;
pub(crate) mod needs;
pub(crate) mod progress;
pub(crate) mod registry;
pub(crate) mod signing;
pub(crate) mod source;
pub(crate) mod upstreams;

/// Writes a JSON document and a newline, with the password of any URL or image reference in
/// it redacted: the one way the binary prints JSON, so no secret reaches `--json` output.
pub(crate) fn print_json(
    out: &mut impl std::io::Write,
    value: &impl serde::Serialize,
) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    writeln!(out, "{}", redact(&text))?;
    Ok(())
}

/// `text` with every password of a URL or reference in it, and every registry secret this
/// process holds (passwords, their Basic encoding, tokens), replaced by `<redacted>`: what the
/// binary prints passes here.
pub(crate) fn redact(text: &str) -> String {
    ::registry::secrets::scrub(&debian::sources::redact_userinfo(text))
}
