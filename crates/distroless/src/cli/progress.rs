//! Progress bars for the terminal, behind the libraries' `Reporter` trait.

use debian::fetch::Reporter;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws a byte progress bar on stderr when it is a terminal and not quiet.
pub(crate) struct BarReporter {
    bar: ProgressBar,
    /// `-q`: advice is left unsaid (warnings are not).
    quiet: bool,
}

impl BarReporter {
    /// A reporter that draws only when `enabled`.
    pub(crate) fn new(enabled: bool, quiet: bool) -> Self {
        let bar = ProgressBar::hidden();
        if enabled {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        if let Ok(style) = ProgressStyle::with_template(
            "{msg:20} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        BarReporter { bar, quiet }
    }
}

impl Reporter for BarReporter {
    fn start(&self, label: &str, total: u64) {
        self.bar.reset();
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.set_message(label.to_string());
    }
    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
    fn warn(&self, message: &str) {
        let message = super::redact(message);
        self.bar.suspend(|| eprintln!("warning: {message}"));
    }
}

impl distroless::report::Reporter for BarReporter {
    fn advise(&self, message: &str) {
        if !self.quiet {
            self.warn(message);
        }
    }
}
