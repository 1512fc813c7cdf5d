//! # northstar-cli
//!
//! The `northstar` command-line tool: record, query, tail, verify, compact and plot stored
//! telemetry, ingest criterion results, detect regressions, and run `northstar demo`.
//! The binary is a thin `main`; everything lives here so integration tests and the fuzz
//! target can call it.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod alloc_count;
pub mod cli;
pub mod commands;
pub mod error;
pub mod json;
pub mod kv;
pub mod output;
pub mod plot;
pub mod progress;
pub mod table;
pub mod timespec;
pub mod workload;

use clap::error::ErrorKind;
use clap::Parser;
use std::ffi::OsString;

pub use error::{CliError, CliResult, EXIT_FINDING, EXIT_OK, EXIT_USAGE};

/// Runs the tool with these arguments (the first is the program name) and returns the exit
/// status: 0 success, 1 a finding, 2 bad usage or bad input.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    match commands::dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("northstar: {e}");
            e.exit_code()
        }
    }
}

/// Prints clap's outcome: help and version to stdout with status 0; a usage error as one
/// line naming the problem, with status 2.
fn usage_error(e: &clap::Error) -> i32 {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            print!("{}", e.render());
            EXIT_OK
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprint!("{}", e.render());
            EXIT_USAGE
        }
        _ => {
            // clap's message may span lines (e.g. the list of missing arguments); keep what
            // names the problem, up to the usage and tips, on one line.
            let rendered = e.render().to_string();
            let parts: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .take_while(|l| !(l.starts_with("Usage:") || l.starts_with("For more information")))
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect();
            let joined = parts.join(" ");
            let first = if joined.is_empty() {
                "invalid arguments"
            } else {
                joined.as_str()
            };
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("northstar: {first} (see northstar --help)");
            EXIT_USAGE
        }
    }
}
