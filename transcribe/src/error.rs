//! Errors of the transcribe crate. Paths go last in messages.

use std::path::PathBuf;

/// Anything that can go wrong importing a model or transcribing a session.
#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    /// A file operation failed.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        cause: std::io::Error,
    },
    /// A model file is malformed or cannot be represented.
    #[error("{message}: {}", path.display())]
    Model {
        /// What is wrong (naming the variable where there is one).
        message: String,
        /// The model file or folder.
        path: PathBuf,
    },
    /// A session cannot be transcribed as asked.
    #[error("{message}: {}", path.display())]
    Session {
        /// What is wrong and what to do.
        message: String,
        /// The session folder or file.
        path: PathBuf,
    },
    /// The session layer refused or failed (manifest, format version, a
    /// session still recording).
    #[error(transparent)]
    Store(#[from] tacit_session::SessionError),
    /// A download failed (offline, refused, truncated, wrong checksum).
    #[error("{0}")]
    Network(String),
    /// whisper.cpp failed.
    #[error("whisper: {0}")]
    Whisper(String),
    /// The transcription server cannot be used: refused by the site rule,
    /// unreachable after the retries, or it answered with an error.
    #[error("transcription server {url}: {message}")]
    Remote {
        /// The endpoint.
        url: String,
        /// What went wrong and what to do.
        message: String,
        /// Whether falling back to the local model is the right answer
        /// (unreachable, server errors) rather than a setting to fix
        /// (a URL outside the site).
        can_fall_back: bool,
    },
}

impl TranscribeError {
    /// Wraps an I/O error.
    pub fn io(action: &'static str, path: &std::path::Path, cause: std::io::Error) -> Self {
        Self::Io { action, path: path.to_path_buf(), cause }
    }

    /// A model problem.
    pub fn model(message: impl Into<String>, path: &std::path::Path) -> Self {
        Self::Model { message: message.into(), path: path.to_path_buf() }
    }
}
