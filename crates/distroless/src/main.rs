//! The `distroless` binary: parse arguments, call the library, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use distroless::cli::{Cli, Command};
use distroless::commands;

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Build(args) => commands::build_command(args),
        Command::Lock(args) => commands::lock_command(args),
        Command::Debug(args) => commands::debug_command(args),
        Command::Needs(args) => commands::needs_command(args),
        Command::List { json } => commands::list_command(*json),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
