//! The session store: a library folder holding `sessions/<id>/` folders and
//! `stations/*.toml` profiles, atomic manifest writes, and the lock that tells
//! a live recording from an interrupted one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use tacit_schema::{SessionManifest, SessionStatus};

use crate::error::CaptureError;

/// Name of the manifest inside a session folder.
pub const MANIFEST: &str = "session.json";
/// Lock file held (flock) by the recorder for the whole recording.
pub const LOCK: &str = "session.lock";
/// Space set aside at start so the final manifest (or `recover`) can still be
/// written when the disk fills up during recording.
pub const RESERVE: &str = "session.reserve";
/// Size of the reserve.
pub const RESERVE_BYTES: usize = 256 << 10;

/// Writes the reserve file (real blocks, synced).
pub fn create_reserve(dir: &Path) -> Result<(), CaptureError> {
    let path = dir.join(RESERVE);
    let mut f = File::create(&path).map_err(|e| CaptureError::io("create", &path, e))?;
    f.write_all(&vec![0u8; RESERVE_BYTES]).map_err(|e| CaptureError::io("write", &path, e))?;
    f.sync_all().map_err(|e| CaptureError::io("sync", &path, e))
}

/// Gives the reserve back to the file system (no error if it is gone).
pub fn release_reserve(dir: &Path) {
    let _ = fs::remove_file(dir.join(RESERVE));
}

/// A library folder.
#[derive(Clone, Debug)]
pub struct Library {
    root: PathBuf,
}

impl Library {
    /// Opens (without creating) a library at `root`.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates the folders if missing.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self, CaptureError> {
        let lib = Self::at(root);
        for dir in [lib.sessions_dir(), lib.stations_dir()] {
            fs::create_dir_all(&dir).map_err(|e| CaptureError::io("create", &dir, e))?;
        }
        Ok(lib)
    }

    /// The library folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/sessions`.
    pub fn sessions_dir(&self) -> PathBuf {
        self.root.join("sessions")
    }

    /// `<root>/stations`.
    pub fn stations_dir(&self) -> PathBuf {
        self.root.join("stations")
    }

    /// Creates a new, empty session folder named from the start time and station.
    pub fn new_session_dir(&self, started: chrono::DateTime<chrono::Utc>, station: &str) -> Result<(String, PathBuf), CaptureError> {
        let sessions = self.sessions_dir();
        fs::create_dir_all(&sessions).map_err(|e| CaptureError::io("create", &sessions, e))?;
        let base = format!("{}-{}", started.format("%Y%m%d-%H%M%S"), station);
        for n in 0..1000 {
            let id = if n == 0 { base.clone() } else { format!("{base}-{n}") };
            let dir = sessions.join(&id);
            match fs::create_dir(&dir) {
                Ok(()) => return Ok((id, dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(CaptureError::io("create", &dir, e)),
            }
        }
        Err(CaptureError::session("too many sessions with the same start second", &sessions))
    }

    /// Finds a session by folder path or by id in this library.
    pub fn resolve(&self, session: &str) -> Result<PathBuf, CaptureError> {
        let as_path = PathBuf::from(session);
        if as_path.join(MANIFEST).is_file() {
            return Ok(as_path);
        }
        let in_lib = self.sessions_dir().join(session);
        if in_lib.join(MANIFEST).is_file() {
            return Ok(in_lib);
        }
        Err(CaptureError::session(
            format!("no session {session:?} (give a session folder, or an id listed by `tacit sessions`) in library"),
            self.root(),
        ))
    }

    /// Every session folder with a manifest, oldest first (ids sort by time).
    pub fn session_dirs(&self) -> Result<Vec<PathBuf>, CaptureError> {
        let sessions = self.sessions_dir();
        let entries = match fs::read_dir(&sessions) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(CaptureError::io("list", &sessions, e)),
        };
        let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join(MANIFEST).is_file()).collect();
        dirs.sort();
        Ok(dirs)
    }
}

/// Reads a manifest and reports `interrupted` for a session still marked
/// `recording` that no live recorder holds.
pub fn read_manifest(dir: &Path) -> Result<SessionManifest, CaptureError> {
    let path = dir.join(MANIFEST);
    let text = fs::read_to_string(&path).map_err(|e| CaptureError::io("read", &path, e))?;
    let mut manifest = SessionManifest::from_json(&text).map_err(|e| CaptureError::session(e.to_string(), &path))?;
    if manifest.status == SessionStatus::Recording && !is_locked(dir) {
        manifest.status = SessionStatus::Interrupted;
    }
    Ok(manifest)
}

/// Replaces the manifest atomically: temp file, fsync, rename, fsync folder.
pub fn write_manifest(dir: &Path, manifest: &SessionManifest) -> Result<(), CaptureError> {
    write_atomic(&dir.join(MANIFEST), manifest.to_json().as_bytes())
}

/// Atomic replace of a small file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CaptureError> {
    tacit_schema::manifest::write_atomic(path, bytes).map_err(|e| CaptureError::io("replace", path, e))
}

/// An exclusive advisory lock on `session.lock`, released when dropped or
/// when the process dies (the kernel drops flocks of dead processes).
#[derive(Debug)]
pub struct SessionLock {
    _file: File,
}

impl SessionLock {
    /// Takes the lock; fails if another process holds it.
    pub fn acquire(dir: &Path) -> Result<Self, CaptureError> {
        let path = dir.join(LOCK);
        let file =
            OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| CaptureError::io("create", &path, e))?;
        // SAFETY: flock on a file descriptor we own; no memory is touched.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(CaptureError::session("another tacit process is recording this session", &path));
        }
        Ok(Self { _file: file })
    }
}

/// True while a live process holds the session's lock.
pub fn is_locked(dir: &Path) -> bool {
    let path = dir.join(LOCK);
    let Ok(file) = OpenOptions::new().read(true).open(&path) else {
        return false;
    };
    // SAFETY: as above; we release at once if we got it.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if rc == 0 {
        // SAFETY: as above.
        unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_UN) };
        false
    } else {
        true
    }
}

/// Free bytes on the file system holding `path` (None if it cannot be read).
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}
