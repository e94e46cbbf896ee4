//! The app's persisted settings: one serde struct in one JSON file
//! (`<config>/tacit/app.json`), replaced atomically on change. Window size and
//! position are kept by eframe itself.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::i18n::Lang;

/// Which place the window shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Place {
    /// Every session.
    #[default]
    Library,
    /// The technician's screen.
    Record,
    /// The trainer's screen.
    Review,
    /// Sessions → dataset.
    Export,
}

/// Library table column to sort by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortKey {
    /// Start time.
    #[default]
    Date,
    /// Station name.
    Station,
    /// Operator.
    Operator,
    /// Task.
    Task,
    /// Length.
    Duration,
    /// Status.
    Status,
}

/// Everything the app remembers between runs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The library folder.
    pub library: PathBuf,
    /// UI language.
    pub lang: Lang,
    /// The place shown last.
    pub place: Place,
    /// Library sort column and direction.
    pub sort: SortKey,
    /// Newest / largest first.
    pub sort_descending: bool,
    /// Library filter text.
    pub filter: String,
    /// Last station profile recorded with (file name in `stations/`).
    pub station: String,
    /// Last operator pseudonym.
    pub operator: String,
    /// Last task.
    pub task: String,
    /// Export: `lerobot` or `tacit`.
    pub export_format: String,
    /// Export: frames per second (LeRobot; 0 = the first camera's).
    pub export_fps: u32,
    /// Export: only sessions marked reviewed.
    pub export_reviewed_only: bool,
    /// Export: splits, e.g. `train=0.8,val=0.2` (empty = all train).
    pub export_split: String,
    /// Export: the dataset folder.
    pub export_out: PathBuf,
    /// Export: replace an existing dataset.
    pub export_replace: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            library: crate::default_library(),
            lang: Lang::from_env(),
            place: Place::Library,
            sort: SortKey::Date,
            sort_descending: true,
            filter: String::new(),
            station: String::new(),
            operator: String::new(),
            task: String::new(),
            export_format: "lerobot".into(),
            export_fps: 0,
            export_reviewed_only: false,
            export_split: String::new(),
            export_out: dirs::home_dir().unwrap_or_else(std::env::temp_dir).join("tacit-dataset"),
            export_replace: false,
        }
    }
}

impl Settings {
    /// `<config dir>/tacit/app.json`.
    pub fn default_path() -> PathBuf {
        dirs::config_dir().unwrap_or_else(std::env::temp_dir).join("tacit").join("app.json")
    }

    /// Reads the settings; defaults when the file is missing, and defaults
    /// with a warning when it is damaged (the damaged file is kept aside).
    pub fn load(path: &Path) -> Self {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                let aside = path.with_extension("json.bad");
                tracing::warn!("settings {} are not readable ({e}); using defaults, old file kept as {}", path.display(), aside.display());
                let _ = std::fs::rename(path, aside);
                Self::default()
            }),
            Err(_) => Self::default(),
        }
    }

    /// Writes the settings atomically (temp file, then rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        tacit_session::write_atomic(path, text.as_bytes()).map_err(std::io::Error::other)
    }
}

/// The `settings` thread: writes the newest settings handed to it (older
/// ones still queued are skipped), so the UI thread never waits on the disk.
pub struct Saver {
    tx: Option<crossbeam_channel::Sender<String>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Saver {
    /// Starts the thread writing to `path`.
    pub fn start(path: PathBuf) -> std::io::Result<Self> {
        let (tx, rx) = crossbeam_channel::bounded::<String>(8);
        let thread = std::thread::Builder::new().name("settings".into()).spawn(move || {
            while let Ok(mut json) = rx.recv() {
                while let Ok(newer) = rx.try_recv() {
                    json = newer;
                }
                if let Some(dir) = path.parent() {
                    let _ = std::fs::create_dir_all(dir);
                }
                if let Err(e) = tacit_session::write_atomic(&path, json.as_bytes()) {
                    tracing::warn!("cannot save settings to {}: {e}", path.display());
                }
            }
        })?;
        Ok(Self { tx: Some(tx), thread: Some(thread) })
    }

    /// Queues the settings (pretty JSON, as `Settings::save` writes it) to be written; false when the queue is
    /// full (the caller tries again later).
    pub fn save(&self, json: String) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.try_send(json).is_ok())
    }

    /// Writes `json` last and waits until everything queued is on disk (on exit).
    pub fn finish(&mut self, json: String) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(json);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_survive_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tacit/app.json");
        let mut s = Settings::load(&path);
        s.lang = Lang::Ko;
        s.library = dir.path().join("lib");
        s.sort = SortKey::Operator;
        s.save(&path).unwrap();
        let back = Settings::load(&path);
        assert_eq!(back.lang, Lang::Ko);
        assert_eq!(back.library, dir.path().join("lib"));
        assert_eq!(back.sort, SortKey::Operator);
        std::fs::write(&path, "{ torn").unwrap();
        let d = Settings::load(&path);
        assert_eq!(d.sort, SortKey::Date);
        assert!(path.with_extension("json.bad").is_file());
    }
}
