//! # northstar-cli
//!
//! The `northstar` command-line tool: record, query, tail, verify, compact and plot stored
//! telemetry, ingest criterion results, detect regressions, and run `northstar demo`.
//! The binary is a thin `main` over [`run`]. The library's public part is what the
//! integration tests and the fuzz targets call ([`run`], [`json`], [`output`]); the commands,
//! the clap definition, plots, tables and time parsing are crate-private.
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

/// Like `print!`, but to the tool's fallible standard output: evaluates to a
/// [`CliResult`](crate::CliResult), an error when the write fails (use it with `?`).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

/// Like `println!`, but to the tool's fallible standard output: evaluates to a
/// [`CliResult`](crate::CliResult), an error when the write fails (use it with `?`).
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Like `eprintln!`, but never panics when standard error cannot be written.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::output::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) mod cli;
pub(crate) mod commands;
pub(crate) mod error;
pub(crate) mod escape;
pub mod json;
pub mod output;
pub(crate) mod plot;
pub(crate) mod progress;
pub(crate) mod table;
pub(crate) mod timespec;

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
    // Flush whatever is still buffered, so a failure of the last write is reported too.
    let result =
        commands::dispatch(cli.command).and_then(|code| output::flush_stdout().map(|()| code));
    match result {
        Ok(code) => code,
        // The reader of a pipe went away (`northstar stats | head -1`): nothing more to say,
        // and nobody to say it to.
        Err(e) if e.is_closed_pipe() => EXIT_OK,
        Err(e) => {
            note!("northstar: {e}");
            e.exit_code()
        }
    }
}

/// Prints clap's outcome: help and version to stdout with status 0; a usage error as one
/// line naming the problem, with status 2.
fn usage_error(e: &clap::Error) -> i32 {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            match output::write_stdout(format_args!("{}", e.render()))
                .and_then(|()| output::flush_stdout())
            {
                Ok(()) => EXIT_OK,
                Err(e) if e.is_closed_pipe() => EXIT_OK,
                Err(e) => {
                    note!("northstar: {e}");
                    e.exit_code()
                }
            }
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            output::write_stderr(format_args!("{}", e.render()));
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
            note!(
                "northstar: {} (see northstar --help)",
                output::escape_text(first)
            );
            EXIT_USAGE
        }
    }
}
