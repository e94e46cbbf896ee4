//! Opening a session folder for export: the manifest, the station profile it
//! was recorded with, labels and the transcript; the stream cursors are
//! `tacit_session::streams` (re-exported here).

use std::path::{Path, PathBuf};

use tacit_schema::labels::Annotations;
use tacit_schema::{SessionManifest, StationProfile, StreamInfo, StreamKind};
use tacit_session::{labels, layout, transcript, SessionDir};

use crate::error::DatasetError;

pub use tacit_session::streams::{Batches, Frame, FrameCursor, SensorBatch, SensorCursor};

/// A transcript segment in session time.
#[derive(Clone, Debug, PartialEq)]
pub struct Commentary {
    /// Start, ns.
    pub start_ns: i64,
    /// End, ns.
    pub end_ns: i64,
    /// Text (the trainer's correction where there is one).
    pub text: String,
    /// `segment_id` in `transcript.parquet`.
    pub segment_id: Option<u32>,
}

/// One session, opened for export.
pub struct Session {
    /// The folder.
    pub dir: PathBuf,
    /// `session.json`.
    pub manifest: SessionManifest,
    /// `station.toml` as recorded.
    pub profile: StationProfile,
    /// `annotations.json` (empty when unlabeled).
    pub labels: Annotations,
    /// Transcript segments, time-sorted (empty when not transcribed).
    pub commentary: Vec<Commentary>,
}

impl Session {
    /// Opens a session; refuses one that is still recording or was
    /// interrupted and not recovered.
    pub fn open(dir: &Path) -> Result<Self, DatasetError> {
        let session = SessionDir::open(dir)?;
        session.require_finished()?;
        let profile = session.profile()?;
        let manifest = session.into_manifest();
        for stream in &manifest.streams {
            for f in &stream.files {
                if !tacit_session::file::exists(&dir.join(f)) {
                    return Err(DatasetError::session(
                        format!(
                            "{} stream {}: {f} is missing (the session is incomplete); restore the file, or leave the session out",
                            stream.kind.name(),
                            stream.name
                        ),
                        dir,
                    ));
                }
            }
        }
        // Every stream the profile declares must be in the manifest.
        let declared = profile
            .cameras
            .iter()
            .map(|c| (StreamKind::Camera, &c.name))
            .chain(profile.microphone.iter().map(|m| (StreamKind::Audio, &m.name)))
            .chain(profile.sensors.iter().map(|x| (StreamKind::Sensor, &x.name)));
        for (kind, name) in declared {
            if !manifest.streams.iter().any(|s| s.kind == kind && &s.name == name) {
                return Err(DatasetError::session(
                    format!("{} {name} is in the station profile but the session has no such stream; leave the session out", kind.name()),
                    dir,
                ));
            }
        }
        let labels = labels::load(dir).map_err(|e| DatasetError::session(e.to_string(), dir))?;
        let mut commentary = read_commentary(&dir.join(layout::TRANSCRIPT))?;
        // A trainer's correction replaces the machine text (it was made on
        // this transcript if the segment still starts where it did).
        for c in &mut commentary {
            if let Some(text) = c.segment_id.and_then(|id| labels.edited_text(id, c.start_ns)) {
                c.text = text.trim().to_string();
            }
        }
        Ok(Self { dir: dir.to_path_buf(), manifest, profile, labels, commentary })
    }

    /// Streams of one kind, in manifest order.
    pub fn streams(&self, kind: StreamKind) -> impl Iterator<Item = &StreamInfo> {
        self.manifest.streams.iter().filter(move |s| s.kind == kind)
    }

    /// The labels of a tier that count (not rejected).
    pub fn counted(&self, tier: &str) -> Vec<&tacit_schema::labels::LabelSegment> {
        self.labels.labels.iter().filter(|l| l.status != tacit_schema::labels::ReviewStatus::Rejected && l.tier == tier).collect()
    }

    /// The task text: the session's, else the station name.
    pub fn task(&self) -> String {
        if self.manifest.task.trim().is_empty() {
            format!("work at {}", self.manifest.station)
        } else {
            self.manifest.task.clone()
        }
    }
}

/// A column of a record batch read from `path`, of Arrow type `T`.
pub(crate) fn column<'a, T: 'static>(b: &'a arrow_array::RecordBatch, name: &str, path: &Path) -> Result<&'a T, DatasetError> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| DatasetError::session(format!("column {name} is missing or of the wrong type"), path))
}

fn read_commentary(path: &Path) -> Result<Vec<Commentary>, DatasetError> {
    let segments = transcript::read_if_any(path)?.unwrap_or_default();
    let mut out: Vec<Commentary> = segments
        .into_iter()
        .map(|s| Commentary { start_ns: s.start_ns, end_ns: s.end_ns, text: s.text.trim().to_string(), segment_id: Some(s.segment_id) })
        .collect();
    out.sort_by_key(|c| c.start_ns);
    Ok(out)
}
