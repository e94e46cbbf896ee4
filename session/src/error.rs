//! Errors of the session layer. Messages say what is wrong and what to do;
//! the path goes last.

use std::io;
use std::path::{Path, PathBuf};

/// A session folder or library that cannot be read or changed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A file operation failed.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// What we were doing (`read`, `replace`, `lock`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        cause: io::Error,
    },
    /// The folder is not a session this tacit can use (bad manifest,
    /// unknown format version, missing profile).
    #[error("{message}: {}", path.display())]
    Invalid {
        /// What is wrong and what to do.
        message: String,
        /// The session folder or file.
        path: PathBuf,
    },
    /// The session is still being recorded, or its recorder died; it is
    /// refused until it is stopped or recovered.
    #[error("session {id} {state}: {hint}: {}", path.display())]
    NotFinished {
        /// Session id.
        id: String,
        /// `is still recording` or `was interrupted`.
        state: &'static str,
        /// What to do.
        hint: &'static str,
        /// The session folder.
        path: PathBuf,
    },
    /// No such session in the library.
    #[error("no session {session:?} (give a session folder, or an id listed by `tacit sessions`) in library {}", library.display())]
    NotFound {
        /// What was asked for.
        session: String,
        /// The library searched.
        library: PathBuf,
    },
    /// The recording lock is held by another process.
    #[error("another tacit process is recording this session: {}", .0.display())]
    Locked(PathBuf),
}

impl SessionError {
    pub(crate) fn io(action: &'static str, path: &Path, cause: io::Error) -> Self {
        Self::Io { action, path: path.to_path_buf(), cause }
    }

    pub(crate) fn invalid(message: impl Into<String>, path: &Path) -> Self {
        Self::Invalid { message: message.into(), path: path.to_path_buf() }
    }

    /// The session or file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. } | Self::Invalid { path, .. } | Self::NotFinished { path, .. } | Self::Locked(path) => path,
            Self::NotFound { library, .. } => library,
        }
    }
}
