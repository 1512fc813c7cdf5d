//! A progress bar on standard error (indicatif), drawn only when it is a terminal: quiet when
//! piped, so scripts and tests see clean output.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// A progress bar; does nothing when standard error is not a terminal.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar for `total` units of work.
    pub fn new(label: &str, total: u64) -> Self {
        let bar = if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total.max(1));
            // Redrawn at most ten times a second, as before.
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(10));
            if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {percent:>3}% {eta}")
            {
                bar.set_style(style.progress_chars("#>-"));
            }
            bar.set_message(label.to_string());
            bar
        } else {
            ProgressBar::hidden()
        };
        Self { bar }
    }

    /// Whether the bar is drawn (standard error is a terminal).
    #[cfg(test)]
    pub fn is_drawn(&self) -> bool {
        !self.bar.is_hidden()
    }

    /// Moves the bar to `pos`.
    pub fn set(&mut self, pos: u64) {
        self.bar.set_position(pos);
    }

    /// Erases the bar.
    pub fn finish(&mut self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hidden_when_standard_error_is_not_a_terminal() {
        use std::io::IsTerminal;
        let mut p = super::Progress::new("testing", 10);
        assert_eq!(p.is_drawn(), std::io::stderr().is_terminal());
        p.set(5);
        p.finish();
    }
}
