//! The session folder and the library: the one place that reads and
//! writes sessions.
//!
//! - [`layout`]: every file name of the folder;
//! - [`SessionDir`]: a session opened with the format-version check, the one
//!   rule for sessions still recording ([`SessionDir::require_finished`]),
//!   the profile as recorded, and [`SessionDir::update_manifest`], the
//!   manifest's read-modify-write under a lock;
//! - [`labels`]: annotations IO and the label-id allocator;
//! - [`transcript`]: `transcript.parquet`'s writer and reader;
//! - [`Library`]: the sessions of a library folder;
//! - [`SessionLock`] and [`write_atomic`], the recorder's lock and the
//!   crash-safe replace every small file goes through.
//!
//! Everything above this crate (capture, transcribe, datasets, the app)
//! reaches session files through it, so a second backend (the site's
//! object store) can sit behind the same calls.

pub mod atomic;
pub mod dir;
pub mod error;
pub mod labels;
pub mod layout;
pub mod library;
pub mod lock;
pub mod transcript;

pub use atomic::write_atomic;
pub use dir::{replace_manifest, SessionDir};
pub use error::SessionError;
pub use library::Library;
pub use lock::{is_recording, SessionLock};
