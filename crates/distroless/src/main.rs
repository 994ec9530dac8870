//! The `distroless` binary: parse arguments, turn them into one typed request, call the
//! library, print. The only place in the workspace that writes to stdout or stderr.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cli;

use std::process::ExitCode;

use clap::Parser;

use cli::args::{Cli, Command};

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Build(args) => cli::build::run(args),
        Command::Lock(args) => cli::lock::run(args),
        Command::Debug(args) => cli::debug::run(args),
        Command::Needs(args) => cli::needs::run(args),
        Command::List { json } => cli::list::run(*json),
    }
}

fn main() -> ExitCode {
    // Ctrl-C or SIGTERM: remove the staging directory of an output being written (a killed
    // download's partial cache file is swept by the next run).
    let _ = ctrlc::set_handler(|| {
        oci::layout::remove_staging();
        eprintln!("interrupted");
        std::process::exit(130);
    });
    match run() {
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
            match cli::hints::hint(&e) {
                Some(hint) => eprintln!("error: {e:#} ({hint})"),
                None => eprintln!("error: {e:#}"),
            }
            ExitCode::FAILURE
        }
    }
}
