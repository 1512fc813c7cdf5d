//! One function per subcommand.

use crate::cli::Command;
use crate::error::{CliError, CliResult};

/// Runs a parsed command; returns its exit status.
pub fn dispatch(cmd: Command) -> CliResult<i32> {
    Err(CliError::usage(format!("{cmd:?}: not built yet")))
}
