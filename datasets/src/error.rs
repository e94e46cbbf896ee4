//! Errors of the datasets crate: what went wrong, where, and what to do.

use std::path::{Path, PathBuf};

/// Anything that can stop an export or a validation.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
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
    /// A session (or one of its files) cannot be read as tacit wrote it.
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
    /// The site store refused or could not be reached (Delta tables on `s3://`).
    #[error(transparent)]
    Remote(#[from] tacit_session::store::StoreError),
    /// The export was asked for something it cannot do.
    #[error("{0}")]
    Options(String),
    /// The user cancelled the export; nothing was written.
    #[error("export cancelled; nothing was written")]
    Cancelled,
    /// Arrow or Parquet failed while writing.
    #[error("{message}: {}", path.display())]
    Write {
        /// What failed.
        message: String,
        /// The file.
        path: PathBuf,
    },
}

impl DatasetError {
    /// Wraps an I/O error.
    pub fn io(action: &'static str, path: &Path, cause: std::io::Error) -> Self {
        Self::Io { action, path: path.to_path_buf(), cause }
    }

    /// A session problem.
    pub fn session(message: impl Into<String>, path: &Path) -> Self {
        Self::Session { message: message.into(), path: path.to_path_buf() }
    }

    /// A write problem.
    pub fn write(message: impl std::fmt::Display, path: &Path) -> Self {
        Self::Write { message: message.to_string(), path: path.to_path_buf() }
    }
}
