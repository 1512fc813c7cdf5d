//! The tool's errors and the exit code each one maps to.
//!
//! Exit codes: 0 success, 1 a finding (damage found by `verify`, a regression at or above
//! `--fail-on`), 2 bad usage or bad input, or output that could not be written (a full disk,
//! a closed terminal). A closed pipe (`northstar query | head -1`) is not an error: the command
//! stops quietly with status 0. Every error prints as one line naming the problem, with control
//! characters escaped ([`crate::escape::escape_text`]).

use std::fmt;

/// Exit status for success.
pub const EXIT_OK: i32 = 0;
/// Exit status for a finding: damage, or a regression at or above `--fail-on`.
pub const EXIT_FINDING: i32 = 1;
/// Exit status for bad usage or bad input.
pub const EXIT_USAGE: i32 = 2;

/// Why a command did not succeed.
#[derive(Debug)]
pub enum CliError {
    /// Bad arguments, a bad input file, or a data directory that cannot be used.
    Usage(String),
    /// The command ran and found something the user asked to be told about (exit 1).
    Finding(String),
    /// Standard output could not be written. A closed pipe ([`std::io::ErrorKind::BrokenPipe`])
    /// ends the command quietly with status 0; any other write error is reported (exit 2).
    Output(std::io::Error),
}

impl CliError {
    /// A bad-usage or bad-input error.
    pub fn usage(msg: impl Into<String>) -> Self {
        Self::Usage(msg.into())
    }

    /// The process exit status for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Usage(_) => EXIT_USAGE,
            Self::Finding(_) => EXIT_FINDING,
            Self::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
            Self::Output(_) => EXIT_USAGE,
        }
    }

    /// True for a closed pipe: the reader went away, so the command ends quietly.
    pub fn is_closed_pipe(&self) -> bool {
        matches!(self, Self::Output(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the underlying message: newlines would split the message that
        // scripts grep for; other control characters (from event text or file names quoted in
        // the message) are escaped so they never reach the terminal raw.
        let msg = match self {
            Self::Usage(m) | Self::Finding(m) => m,
            Self::Output(e) => return write!(f, "cannot write output: {e}"),
        };
        f.write_str(&crate::escape::escape_text(&msg.replace('\n', " ")))
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Output(e) => Some(e),
            _ => None,
        }
    }
}

/// Result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;
