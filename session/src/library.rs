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
        // A session folder that lost its manifest: say so, not "no session".
        if let Some(dir) = [&in_lib, &as_path].into_iter().find(|d| d.is_dir() && looks_like_session(d)) {
            return Err(SessionError::invalid(
                "has no session.json (a recording writes it first): the folder is damaged or not a tacit session",
                dir,
            ));
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

    /// Folders in `sessions/` that hold a session's files but no
    /// `session.json` (damaged: a recording writes it first), for the
    /// listing to report instead of passing over them in silence.
    pub fn folders_without_manifest(&self) -> Vec<PathBuf> {
        let Ok(entries) = fs::read_dir(self.sessions_dir()) else { return Vec::new() };
        let mut dirs: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.is_dir() && !p.join(MANIFEST).is_file() && looks_like_session(p)).collect();
        dirs.sort();
        dirs
    }

    /// Every session, opened, oldest first; one that cannot be read comes
    /// as its error (the others are still listed).
    pub fn sessions(&self) -> Result<Vec<Result<SessionDir, SessionError>>, SessionError> {
        Ok(self.session_dirs()?.iter().map(|d| SessionDir::open(d)).collect())
    }

    /// The sessions asked for (ids or folders; none = every session), kept
    /// when they match `filter`. A session whose manifest cannot be read is
    /// kept, so the step that uses it reports why.
    pub fn select(&self, sessions: &[String], filter: &SessionFilter) -> Result<Vec<PathBuf>, SessionError> {
        let dirs: Vec<PathBuf> =
            if sessions.is_empty() { self.session_dirs()? } else { sessions.iter().map(|s| self.resolve(s)).collect::<Result<_, _>>()? };
        if filter.is_empty() {
            return Ok(dirs);
        }
        Ok(dirs.into_iter().filter(|d| SessionDir::open(d).map_or(true, |s| filter.matches(s.manifest()))).collect())
    }
}

/// `--where key=value` filters on sessions: station, operator, task, and
/// status (`complete`, `recovered`, … or `reviewed`); all must match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    terms: Vec<(String, String)>,
}

impl SessionFilter {
    /// The keys a filter knows.
    pub const KEYS: [&'static str; 4] = ["station", "operator", "task", "status"];

    /// Parses `key=value` terms; an unknown key or a term without `=` is refused.
    pub fn parse(terms: &[String]) -> Result<Self, String> {
        let mut out = Vec::new();
        for t in terms {
            let Some((k, v)) = t.split_once('=') else { return Err(format!("--where takes key=value (got {t:?})")) };
            if !Self::KEYS.contains(&k) {
                return Err(format!("--where knows station, operator, task and status (got {k:?})"));
            }
            out.push((k.to_string(), v.to_string()));
        }
        Ok(Self { terms: out })
    }

    /// No terms: everything matches.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Every term matches the session.
    pub fn matches(&self, m: &tacit_schema::SessionManifest) -> bool {
        self.terms.iter().all(|(k, v)| match k.as_str() {
            "station" => &m.station == v,
            "operator" => &m.operator == v,
            "task" => &m.task == v,
            "status" if v == "reviewed" => m.reviewed,
            "status" => serde_json::to_value(m.status).ok().and_then(|s| s.as_str().map(|s| s == v)).unwrap_or(false),
            _ => false,
        })
    }
}

/// A folder holding a session's files (its profile, or a stream) without
/// being one any more.
fn looks_like_session(dir: &Path) -> bool {
    dir.join(crate::layout::PROFILE).is_file()
        || fs::read_dir(dir).is_ok_and(|mut e| e.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".arrows"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_terms_are_checked_and_all_must_match() {
        let mut m: tacit_schema::SessionManifest = serde_json::from_value(serde_json::json!({
            "format_version": 1, "id": "s1", "station": "weld-01", "site": "", "operator": "op-7", "task": "butt joint",
            "consent": {"required": false, "confirmed": false}, "started_at_utc": "2026-12-01T00:00:00Z",
            "clock_anchor": {"t_ns": 0, "utc_unix_ns": 0}, "status": "complete",
            "duration_ns": 1, "streams": [], "tacit_version": "0"
        }))
        .unwrap();
        let f = |t: &[&str]| SessionFilter::parse(&t.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(f(&[]).unwrap().matches(&m));
        assert!(f(&["station=weld-01", "status=complete"]).unwrap().matches(&m));
        assert!(!f(&["station=weld-01", "operator=op-8"]).unwrap().matches(&m));
        assert!(!f(&["status=reviewed"]).unwrap().matches(&m));
        m.reviewed = true;
        assert!(f(&["status=reviewed", "task=butt joint"]).unwrap().matches(&m));
        assert!(f(&["shift=night"]).unwrap_err().contains("knows station"));
        assert!(f(&["station"]).unwrap_err().contains("key=value"));
    }
}
