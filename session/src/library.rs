//! A library folder: `sessions/<id>/` folders and `stations/*.toml` profiles.

use std::fs;
use std::path::{Path, PathBuf};

use crate::layout::MANIFEST;
use crate::{SessionDir, SessionError};

/// A library folder.
#[derive(Clone, Debug)]
pub struct Library {
    root: PathBuf,
}

impl Library {
    /// A library at `root` (nothing is read or created).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Creates the folders if missing.
    pub fn create(root: impl Into<PathBuf>) -> Result<Self, SessionError> {
        let lib = Self::at(root);
        for dir in [lib.sessions_dir(), lib.stations_dir()] {
            fs::create_dir_all(&dir).map_err(|e| SessionError::io("create", &dir, e))?;
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
    pub fn new_session_dir(&self, started: chrono::DateTime<chrono::Utc>, station: &str) -> Result<(String, PathBuf), SessionError> {
        let sessions = self.sessions_dir();
        fs::create_dir_all(&sessions).map_err(|e| SessionError::io("create", &sessions, e))?;
        let base = format!("{}-{}", started.format("%Y%m%d-%H%M%S"), station);
        for n in 0..1000 {
            let id = if n == 0 { base.clone() } else { format!("{base}-{n}") };
            let dir = sessions.join(&id);
            match fs::create_dir(&dir) {
                Ok(()) => return Ok((id, dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(SessionError::io("create", &dir, e)),
            }
        }
        Err(SessionError::invalid("too many sessions with the same start second", &sessions))
    }

    /// Finds a session by folder path or by id in this library.
    pub fn resolve(&self, session: &str) -> Result<PathBuf, SessionError> {
        let as_path = PathBuf::from(session);
        if as_path.join(MANIFEST).is_file() {
            return Ok(as_path);
        }
        let in_lib = self.sessions_dir().join(session);
        if in_lib.join(MANIFEST).is_file() {
            return Ok(in_lib);
        }
        Err(SessionError::NotFound { session: session.to_string(), library: self.root.clone() })
    }

    /// Finds and opens a session by folder path or id.
    pub fn open(&self, session: &str) -> Result<SessionDir, SessionError> {
        SessionDir::open(&self.resolve(session)?)
    }

    /// Every session folder with a manifest, oldest first (ids sort by time).
    pub fn session_dirs(&self) -> Result<Vec<PathBuf>, SessionError> {
        let sessions = self.sessions_dir();
        let entries = match fs::read_dir(&sessions) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(SessionError::io("list", &sessions, e)),
        };
        let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join(MANIFEST).is_file()).collect();
        dirs.sort();
        Ok(dirs)
    }

    /// Every session, opened, oldest first; one that cannot be read comes
    /// as its error (the others are still listed).
    pub fn sessions(&self) -> Result<Vec<Result<SessionDir, SessionError>>, SessionError> {
        Ok(self.session_dirs()?.iter().map(|d| SessionDir::open(d)).collect())
    }
}
