//! The CLI's one printer. What a command produces (listings, ids, paths,
//! summaries) goes to stdout with `println!` or [`json`] (`--json`), so it
//! pipes; what it says to people while it works goes to stderr through
//! [`say!`](crate::out::say), and the global `--quiet` silences that and the
//! progress bars. Warnings and errors always print (stderr).

use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

/// `--quiet`: no notes, no progress.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// `--quiet` was given.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// A note for people on stderr, unless `--quiet`.
macro_rules! say {
    ($($arg:tt)*) => {
        if !$crate::out::quiet() {
            eprintln!($($arg)*);
        }
    };
}
pub(crate) use say;

/// A value as pretty JSON on stdout (`--json`).
pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
