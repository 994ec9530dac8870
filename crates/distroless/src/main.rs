//! The `distroless` binary: parse arguments, turn them into one typed request, call the
//! library, print. The only place in the workspace that writes to stdout or stderr.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::args::{Cli, Command};

fn run(cli: &Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Build(args) if args.matrix.is_some() || args.all => cli::matrix::run(args),
        Command::Build(args) => cli::build::run(args),
        Command::Lock(args) => cli::lock::run(args),
        Command::Debug(args) => cli::debug::run(args),
        Command::Needs(args) => cli::needs::run(args),
        Command::List { json } => cli::list::run(*json),
        Command::Push(args) => cli::registry::push(args),
        Command::Pull(args) => cli::registry::pull(args),
        Command::Login(args) => cli::registry::login(args),
        Command::Logout { registry } => cli::registry::logout(registry),
        Command::Inspect(args) => cli::inspect::inspect(args),
        Command::Diff(args) => cli::inspect::diff(args),
        Command::Audit(args) => cli::inspect::audit(args),
        Command::Keygen { output } => cli::keys::keygen(output),
        Command::Sign(args) => cli::signing::sign(args),
        Command::Attest(args) => cli::signing::attest(args),
        Command::Verify(args) => cli::signing::verify(args),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "distroless", &mut std::io::stdout());
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    // Ctrl-C or SIGTERM: remove the staging directory of an output being written (a killed
    // download's partial cache file is swept by the next run).
    let _ = ctrlc::set_handler(|| {
        oci::staging::remove_all();
        eprintln!("interrupted");
        std::process::exit(130);
    });
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `distroless list --json | head`: a closed pipe is the reader's choice, not an error.
            let broken_pipe = |c: &(dyn std::error::Error + 'static)| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                    || c.downcast_ref::<serde_json::Error>()
                        .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
            };
            if e.chain().any(broken_pipe) {
                return ExitCode::SUCCESS;
            }
            let text = cli::redact(&one_line(&format!("{e:#}")));
            match cli::hints::hint(&e) {
                Some(hint) => eprintln!("error: {text} ({hint})"),
                None => eprintln!("error: {text}"),
            }
            // `diff` and `audit` answer with 1 (images differ, a rule broke): an error that
            // kept them from answering is 2, as for diff(1), so CI can tell the two apart.
            if matches!(cli.command, Command::Diff(_) | Command::Audit(_)) {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// An error is one line, whatever text from outside it quotes (a program's interpreter path,
/// a package name from a flag): control characters are escaped, so nothing can forge another
/// line or drive the terminal, and a runaway message is cut.
fn one_line(text: &str) -> String {
    const MAX: usize = 4000;
    let mut out = String::new();
    for c in text.chars() {
        if out.len() >= MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn errors_cannot_forge_lines_or_escape_sequences() {
        assert_eq!(one_line("a\nerror: b\u{1b}[31m"), "a\\nerror: b\\u{1b}[31m");
        assert!(one_line(&"x".repeat(10_000)).chars().count() <= 4001);
    }
}
