//! The session folder and the library: the one place that reads and
//! writes sessions.
//!
//! - [`layout`]: every file name of the folder;
//! - [`SessionDir`]: a session opened with the format-version check, the one
//!   rule for sessions still recording ([`SessionDir::require_finished`]),
//!   the profile as recorded, and [`SessionDir::update_manifest`], the
//!   manifest's read-modify-write under a lock;
//! - [`labels`]: annotations IO and the label-id allocator ([`labels::add`]
//!   numbers new labels under the lock); [`import`]: labels from CSV and
//!   ELAN ([`elan`]) files;
//! - [`transcript`]: `transcript.parquet`'s writer and reader; [`audio`]:
//!   the microphones' WAV files, read (transcription, waveform, export,
//!   playback);
//! - [`ipc`]: the one message walk over the Arrow IPC stream files (the
//!   readable part of a torn file, decoding, repair), [`seek`]: random
//!   access by time into camera and sensor streams, built on it, and
//!   [`streams`]: the raw streams read in order (export);
//! - [`Library`]: the sessions of a library folder; [`store`]: the site
//!   store (S3-compatible) and `tacit push` into it;
//! - [`SessionLock`] and [`write_atomic`], the recorder's lock and the
//!   crash-safe replace every small file goes through.
//!
//! Everything above this crate (capture, transcribe, datasets, the app)
//! reaches session files through it, so a second backend (the site's
//! object store) can sit behind the same calls.

pub mod atomic;
pub mod audio;
#[cfg(feature = "test-support")]
pub mod builder;
pub mod dir;
pub mod elan;
pub mod error;
pub mod file;
pub mod import;
pub mod ipc;
pub mod labels;
pub mod layout;
pub mod library;
pub mod lock;
pub mod seek;
pub mod store;
pub mod streams;
pub mod transcript;

pub use atomic::{write_atomic, Staging};
pub use dir::{replace_manifest, set_reviewed, SessionDir};
pub use error::SessionError;
pub use file::SessionFile;
pub use library::{Library, SessionFilter};
pub use lock::{is_recording, SessionLock};
