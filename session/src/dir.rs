//! One session folder: the manifest read with the format-version check,
//! the one rule for sessions still being recorded, and the locked
//! read-modify-write of the manifest.

use std::path::{Path, PathBuf};

use tacit_schema::{SessionManifest, SessionStatus, StationProfile};

use crate::layout::{MANIFEST, PROFILE};
use crate::lock::{self, UpdateLock};
use crate::{write_atomic, SessionError};

/// A session folder, opened.
#[derive(Clone, Debug)]
pub struct SessionDir {
    path: PathBuf,
    manifest: SessionManifest,
}

impl SessionDir {
    /// Opens the session in `path`: reads `session.json` and refuses an
    /// unknown format version. A `recording` session that no live recorder
    /// holds is reported as `interrupted`.
    pub fn open(path: &Path) -> Result<Self, SessionError> {
        let mut manifest = read(path)?;
        if manifest.status == SessionStatus::Recording && !lock::is_recording(path) {
            manifest.status = SessionStatus::Interrupted;
        }
        Ok(Self { path: path.to_path_buf(), manifest })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file of the session (names in [`crate::layout`]).
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// The manifest as read (or as last updated through this value).
    pub fn manifest(&self) -> &SessionManifest {
        &self.manifest
    }

    /// The manifest, owned.
    pub fn into_manifest(self) -> SessionManifest {
        self.manifest
    }

    /// The session id.
    pub fn id(&self) -> &str {
        &self.manifest.id
    }

    /// The one rule for sessions not finished: a session still recording,
    /// or interrupted and not yet recovered, is refused by everything that
    /// reads its data or changes it (transcribe, label, review, export).
    pub fn require_finished(&self) -> Result<(), SessionError> {
        not_finished(&self.path, &self.manifest)
    }

    /// The station profile the session was recorded with.
    pub fn profile(&self) -> Result<StationProfile, SessionError> {
        let path = self.file(PROFILE);
        let text = std::fs::read_to_string(&path).map_err(|e| SessionError::io("read the session's station profile", &path, e))?;
        StationProfile::from_toml(&text).map_err(|e| SessionError::invalid(format!("the session's station profile: {e}"), &path))
    }

    /// Changes the manifest: under the session's manifest lock, reads the
    /// current `session.json` (what other processes changed meanwhile is
    /// kept), applies `change`, and replaces the file atomically. Refuses a
    /// session that is not finished. Returns what `change` returned.
    ///
    /// On a session checked out of the site store the change is made to the
    /// store's `session.json`, written back only over the version read
    /// (If-Match) and redone when another writer came first, so `change`
    /// may run more than once.
    pub fn update_manifest<T>(&mut self, mut change: impl FnMut(&mut SessionManifest) -> T) -> Result<T, SessionError> {
        if let Some(checkout) = crate::store::remote::checkout_of(&self.path) {
            let (manifest, out) = checkout.update_manifest(|m| {
                let finished = not_finished(&self.path, m);
                finished.map(|()| change(m))
            })?;
            self.manifest = manifest;
            return out;
        }
        let _lock = UpdateLock::manifest(&self.path)?;
        let mut manifest = read(&self.path)?;
        not_finished(&self.path, &manifest)?;
        let out = change(&mut manifest);
        write_atomic(&self.file(MANIFEST), manifest.to_json().as_bytes())?;
        self.manifest = manifest;
        Ok(out)
    }
}

/// Marks a finished session reviewed (or not): `tacit label review` and
/// Review's button, through [`SessionDir::update_manifest`].
pub fn set_reviewed(dir: &Path, reviewed: bool) -> Result<SessionManifest, SessionError> {
    let mut session = SessionDir::open(dir)?;
    session.require_finished()?;
    session.update_manifest(|m| m.reviewed = reviewed)?;
    Ok(session.into_manifest())
}

/// Replaces the manifest of a session as a whole, under the manifest lock:
/// for the recorder and `recover`, which own a session while they write it.
pub fn replace_manifest(dir: &Path, manifest: &SessionManifest) -> Result<(), SessionError> {
    if let Some(store) = crate::store::remote::store_of(dir) {
        return Err(SessionError::invalid(
            format!("a session in the site store ({store}) is recorded and recovered on its station, not here"),
            dir,
        ));
    }
    let _lock = UpdateLock::manifest(dir)?;
    write_atomic(&dir.join(MANIFEST), manifest.to_json().as_bytes())
}

fn read(dir: &Path) -> Result<SessionManifest, SessionError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => SessionError::invalid("not a tacit session (no session.json)", dir),
        _ => SessionError::io("read", &path, e),
    })?;
    SessionManifest::from_json(&text).map_err(|e| SessionError::invalid(e.to_string(), &path))
}

fn not_finished(dir: &Path, m: &SessionManifest) -> Result<(), SessionError> {
    let (state, hint) = match m.status {
        SessionStatus::Recording if lock::is_recording(dir) => ("is still recording", "stop the recording first"),
        SessionStatus::Recording | SessionStatus::Interrupted => ("was interrupted", "run `tacit recover` on it first"),
        SessionStatus::Complete | SessionStatus::Recovered => return Ok(()),
    };
    Err(SessionError::NotFinished { id: m.id.clone(), state, hint, path: dir.to_path_buf() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SessionLock;
    use tacit_schema::manifest::{ClockAnchor, Consent};

    fn manifest(status: SessionStatus) -> SessionManifest {
        SessionManifest {
            format_version: tacit_schema::FORMAT_VERSION,
            id: "20261201-120000-bench-1".into(),
            station: "bench-1".into(),
            site: String::new(),
            operator: "op-7".into(),
            task: "root pass".into(),
            consent: Consent::default(),
            started_at_utc: "2026-12-01T12:00:00Z".into(),
            clock_anchor: ClockAnchor { t_ns: 0, utc_unix_ns: 0 },
            status,
            transcribed: false,
            reviewed: false,
            duration_ns: 1_000_000_000,
            stop_reason: "duration".into(),
            streams: Vec::new(),
            transcript: None,
            tacit_version: "0.1.0".into(),
        }
    }

    fn session(status: SessionStatus) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        replace_manifest(dir.path(), &manifest(status)).unwrap();
        dir
    }

    #[test]
    fn two_processes_updating_the_manifest_keep_each_others_changes() {
        let dir = session(SessionStatus::Complete);
        // Two writers, each with its own SessionDir opened before the other
        // wrote (as `tacit transcribe` and `tacit label review` are), each
        // changing its own field many times.
        std::thread::scope(|s| {
            for who in 0..2 {
                let path = dir.path();
                std::thread::Builder::new()
                    .name(format!("writer-{who}"))
                    .spawn_scoped(s, move || {
                        let mut d = SessionDir::open(path).unwrap();
                        for i in 0..200 {
                            d.update_manifest(|m| match who {
                                0 => m.stop_reason = format!("n{i}"),
                                _ => m.task = format!("t{i}"),
                            })
                            .unwrap();
                        }
                    })
                    .unwrap();
            }
        });
        let m = SessionDir::open(dir.path()).unwrap().manifest().clone();
        assert_eq!((m.stop_reason.as_str(), m.task.as_str()), ("n199", "t199"));
        // A value opened before those writes still updates the latest file.
        let mut stale = SessionDir::open(dir.path()).unwrap();
        SessionDir::open(dir.path()).unwrap().update_manifest(|m| m.reviewed = true).unwrap();
        stale.update_manifest(|m| m.transcribed = true).unwrap();
        let m = SessionDir::open(dir.path()).unwrap().manifest().clone();
        assert!(m.reviewed && m.transcribed);
    }

    #[test]
    fn unknown_versions_and_unfinished_sessions_are_refused_with_what_to_do() {
        let dir = session(SessionStatus::Complete);
        let path = dir.path().join(MANIFEST);
        let text = std::fs::read_to_string(&path).unwrap().replace("\"format_version\": 1", "\"format_version\": 9");
        std::fs::write(&path, text).unwrap();
        let e = SessionDir::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("format version 9 is not supported") && e.contains("upgrade tacit"), "{e}");

        let e = SessionDir::open(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(e.contains("not a tacit session"), "{e}");

        // `recording` with no recorder holding the lock: interrupted.
        let dir = session(SessionStatus::Recording);
        let mut d = SessionDir::open(dir.path()).unwrap();
        assert_eq!(d.manifest().status, SessionStatus::Interrupted);
        let e = d.require_finished().unwrap_err().to_string();
        assert!(e.contains("was interrupted") && e.contains("tacit recover"), "{e}");
        assert!(d.update_manifest(|m| m.reviewed = true).is_err());
        // With the recorder's lock held: still recording.
        let lock = SessionLock::acquire(dir.path()).unwrap();
        assert!(SessionLock::acquire(dir.path()).is_err());
        let d = SessionDir::open(dir.path()).unwrap();
        assert_eq!(d.manifest().status, SessionStatus::Recording);
        let e = d.require_finished().unwrap_err().to_string();
        assert!(e.contains("is still recording"), "{e}");
        drop(lock);
        assert!(!crate::is_recording(dir.path()));
        assert!(!SessionDir::open(dir.path()).unwrap().manifest().reviewed);
    }
}
