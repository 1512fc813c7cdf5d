//! A progress bar on standard error, drawn only when it is a terminal (quiet when piped, so
//! scripts and tests see clean output).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// A progress bar; does nothing when standard error is not a terminal.
pub struct Progress {
    enabled: bool,
    label: String,
    total: u64,
    last_draw: Option<Instant>,
}

impl Progress {
    /// A bar for `total` units of work.
    pub fn new(label: &str, total: u64) -> Self {
        Self {
            enabled: std::io::stderr().is_terminal(),
            label: label.to_string(),
            total: total.max(1),
            last_draw: None,
        }
    }

    /// Moves the bar to `pos` (redrawn at most ten times a second).
    pub fn set(&mut self, pos: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self
            .last_draw
            .is_some_and(|t| now - t < Duration::from_millis(100))
            && pos < self.total
        {
            return;
        }
        self.last_draw = Some(now);
        let pos = pos.min(self.total);
        let width = 30;
        let filled = (pos * width / self.total) as usize;
        let bar: String = "#".repeat(filled) + &"-".repeat(width as usize - filled);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{} [{bar}] {:>3}%",
            self.label,
            pos * 100 / self.total
        );
        let _ = err.flush();
    }

    /// Erases the bar.
    pub fn finish(&mut self) {
        if self.enabled && self.last_draw.is_some() {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{}\r", " ".repeat(self.label.len() + 40));
            let _ = err.flush();
        }
        self.last_draw = None;
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
