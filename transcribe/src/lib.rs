//! Transcription of a session's commentary with Whisper (whisper.cpp through
//! whisper-rs), word-timed in session time.
//!
//! ```text
//! mic-<name>.wav ─► resample to 16 kHz ─► VAD ─► whisper ─► words/segments ─► transcript.parquet
//!                                                   ▲
//!                          models/*.bin (ggml) ◄── model import (CTranslate2 → ggml)
//! ```
//!
//! Not built yet: this crate is planned by the Transcribe issue and holds no
//! code today. It may depend on `tacit-schema` only.
