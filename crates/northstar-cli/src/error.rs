//! The tool's errors and the exit code each one maps to.
//!
//! Exit codes: 0 success, 1 a finding (damage found by `verify`, a regression at or above
//! `--fail-on`), 2 bad usage or bad input. Every error prints as one line naming the problem.

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
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the underlying message: newlines would split the message that
        // scripts grep for.
        let msg = match self {
            Self::Usage(m) | Self::Finding(m) => m,
        };
        f.write_str(&msg.replace('\n', " "))
    }
}

impl std::error::Error for CliError {}

/// Result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;
