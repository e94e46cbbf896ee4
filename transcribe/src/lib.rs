//! Transcription of a session's commentary with Whisper (whisper.cpp through
//! whisper-rs, or CTranslate2 through ct2rs with the `ctranslate2` feature),
//! word-timed in session time, and the model importer.
//!
//! ```text
//! mic-<name>.wav ─► resample to 16 kHz ─► VAD ─► whisper ─► words/segments ─► transcript.parquet
//!                                                   ▲
//!                          models/*.bin (ggml) ◄── import (CTranslate2 → ggml)
//! ```

pub mod audio;
pub mod ct2;
#[cfg(feature = "ctranslate2")]
pub mod ctranslate;
pub mod engine;
pub mod error;
pub mod fetch;
pub mod fixture;
pub mod import;
pub mod mel;
pub mod models;
pub mod numbers;
pub mod remote;
pub mod session;
pub mod tokenizer;
pub mod vad;
pub mod vocab;

pub use error::TranscribeError;
pub use import::{import, ImportReport};
pub use session::{transcribe_session, TranscribeOptions, TranscribeSummary};
