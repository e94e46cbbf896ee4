//! Draws library progress with indicatif on stderr (hidden when stderr is
//! not a terminal, and with `--quiet`; messages still print, warnings even
//! with `--quiet`).

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};
use tacit_schema::Progress;

/// Progress bars for the CLI.
pub struct CliProgress {
    bar: Mutex<Option<ProgressBar>>,
    tty: bool,
}

impl CliProgress {
    /// A bar on stderr.
    pub fn new() -> Self {
        Self { bar: Mutex::new(None), tty: std::io::stderr().is_terminal() && !crate::out::quiet() }
    }
}

impl Progress for CliProgress {
    fn start(&self, phase: &str, total: u64) {
        let bar = if !self.tty {
            crate::out::say!("{phase}…");
            ProgressBar::hidden()
        } else if total > 0 {
            let b = ProgressBar::new(total);
            // Downloads count bytes: show sizes and speed rather than units.
            let template = if phase == "downloading" || phase.starts_with("pushing") {
                "{msg:>14} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} (eta {eta})"
            } else {
                "{msg:>14} [{bar:40}] {percent:>3}% {elapsed_precise} (eta {eta})"
            };
            b.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
            b
        } else {
            ProgressBar::new_spinner()
        };
        bar.set_message(phase.to_string());
        if let Ok(mut b) = self.bar.lock() {
            *b = Some(bar);
        }
    }

    fn advance(&self, units: u64) {
        if let Ok(b) = self.bar.lock() {
            if let Some(b) = b.as_ref() {
                b.inc(units);
            }
        }
    }

    fn message(&self, text: &str) {
        match self.bar.lock().ok().and_then(|b| b.clone()) {
            Some(b) if self.tty => b.println(text),
            // Warnings print even with --quiet.
            _ if text.starts_with("warning") => eprintln!("{text}"),
            _ => crate::out::say!("{text}"),
        }
    }

    fn finish(&self) {
        if let Ok(mut b) = self.bar.lock() {
            if let Some(b) = b.take() {
                b.finish_and_clear();
            }
        }
    }
}
