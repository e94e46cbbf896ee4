//! Errors of the capture crate. Paths go last in messages.

use std::io;
use std::path::{Path, PathBuf};

/// Anything that can go wrong while recording, reading or recovering a session.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// A file operation failed.
    #[error("cannot {action} {}: {cause}", path.display())]
    Io {
        /// What we were doing (`create`, `write`, `sync`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        cause: io::Error,
    },
    /// The disk (or quota) is full.
    #[error("disk full while writing {}: {cause}", path.display())]
    DiskFull {
        /// The file being written.
        path: PathBuf,
        /// The OS error (ENOSPC / EDQUOT).
        cause: io::Error,
    },
    /// Arrow could not encode or decode.
    #[error("cannot {action} Arrow stream {}: {cause}", path.display())]
    Arrow {
        /// What we were doing.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The Arrow error.
        cause: arrow_schema::ArrowError,
    },
    /// A writer was used after it was finished.
    #[error("stream already closed: {}", .0.display())]
    Closed(PathBuf),
    /// A device could not be opened or read.
    #[error("{device}: {message}")]
    Device {
        /// Device as named in the profile (`camera front (/dev/video0)`).
        device: String,
        /// What failed and what to check.
        message: String,
    },
    /// The session folder or manifest is not usable.
    #[error("{message}: {}", path.display())]
    Session {
        /// What is wrong and what to do.
        message: String,
        /// The session folder or file.
        path: PathBuf,
    },
    /// The session layer refused or failed (library, manifest, lock).
    #[error(transparent)]
    Store(#[from] tacit_session::SessionError),
    /// The profile asks for something this build cannot do.
    #[error("{0}")]
    Unsupported(String),
}

impl CaptureError {
    /// Wraps an I/O error, recognising a full disk.
    pub fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        if is_disk_full(&source) {
            Self::DiskFull { path: path.to_path_buf(), cause: source }
        } else {
            Self::Io { action, path: path.to_path_buf(), cause: source }
        }
    }

    /// Wraps an Arrow error, recognising a full disk underneath.
    pub fn arrow(action: &'static str, path: &Path, source: arrow_schema::ArrowError) -> Self {
        if let arrow_schema::ArrowError::IoError(_, e) = &source {
            if is_disk_full(e) {
                return Self::DiskFull { path: path.to_path_buf(), cause: io::Error::new(e.kind(), e.to_string()) };
            }
        }
        Self::Arrow { action, path: path.to_path_buf(), cause: source }
    }

    /// A session-level problem.
    pub fn session(message: impl Into<String>, path: &Path) -> Self {
        Self::Session { message: message.into(), path: path.to_path_buf() }
    }

    /// True for ENOSPC / EDQUOT.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::DiskFull { .. })
    }
}

fn is_disk_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
        || e.kind() == io::ErrorKind::StorageFull
        || e.to_string().contains("No space left on device")
}
