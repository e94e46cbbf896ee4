//! The two advisory locks of a session folder (flock: the kernel drops
//! the locks of a process that dies, so a crash never leaves one held).

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

use crate::layout::{ANNOTATIONS_LOCK, MANIFEST_LOCK, PUSH_LOCK, RECORDING_LOCK};
use crate::SessionError;

/// The recorder's exclusive lock on `session.lock`, held for the whole
/// recording and released when dropped or when the process dies.
#[derive(Debug)]
pub struct SessionLock {
    _file: File,
}

impl SessionLock {
    /// Takes the lock; fails at once if another process holds it.
    pub fn acquire(dir: &Path) -> Result<Self, SessionError> {
        let path = dir.join(RECORDING_LOCK);
        let file = open(&path)?;
        if flock(&file, libc::LOCK_EX | libc::LOCK_NB) != 0 {
            return Err(SessionError::Locked(path));
        }
        Ok(Self { _file: file })
    }
}

/// The lock of the one `tacit push` sending a session (`.push.lock`).
#[derive(Debug)]
pub(crate) struct PushLock {
    _file: File,
}

impl PushLock {
    /// Takes the lock, or `None` when another push holds it.
    pub(crate) fn try_acquire(dir: &Path) -> Result<Option<Self>, SessionError> {
        let file = open(&dir.join(PUSH_LOCK))?;
        if flock(&file, libc::LOCK_EX | libc::LOCK_NB) != 0 {
            return Ok(None);
        }
        Ok(Some(Self { _file: file }))
    }
}

/// True while a live process holds the session's recording lock.
pub fn is_recording(dir: &Path) -> bool {
    let Ok(file) = OpenOptions::new().read(true).open(dir.join(RECORDING_LOCK)) else {
        return false;
    };
    if flock(&file, libc::LOCK_SH | libc::LOCK_NB) == 0 {
        flock(&file, libc::LOCK_UN);
        false
    } else {
        true
    }
}

/// The lock around one read-modify-write of a session file (blocking: the
/// holder is done within milliseconds): `session.json.lock` for the
/// manifest, `annotations.json.lock` for the annotations.
pub(crate) struct UpdateLock {
    _file: File,
}

impl UpdateLock {
    /// The manifest's.
    pub(crate) fn manifest(dir: &Path) -> Result<Self, SessionError> {
        Self::acquire(dir, MANIFEST_LOCK)
    }

    /// The annotations'.
    pub(crate) fn annotations(dir: &Path) -> Result<Self, SessionError> {
        Self::acquire(dir, ANNOTATIONS_LOCK)
    }

    fn acquire(dir: &Path, name: &str) -> Result<Self, SessionError> {
        let path = dir.join(name);
        let file = open(&path)?;
        loop {
            if flock(&file, libc::LOCK_EX) == 0 {
                return Ok(Self { _file: file });
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(SessionError::io("lock", &path, e));
            }
        }
    }
}

fn open(path: &Path) -> Result<File, SessionError> {
    OpenOptions::new().create(true).truncate(false).write(true).open(path).map_err(|e| SessionError::io("create", path, e))
}

fn flock(file: &File, op: libc::c_int) -> libc::c_int {
    // SAFETY: flock on a file descriptor this process owns and keeps open
    // for the call; no memory is touched.
    unsafe { libc::flock(file.as_raw_fd(), op) }
}
