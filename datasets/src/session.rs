//! Reading a session folder for export: the manifest, the station profile it
//! was recorded with, labels, the transcript, and streaming cursors over the
//! camera and sensor tables (one record batch in memory at a time).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use arrow_array::{Array, BinaryArray, Float64Array, Int64Array, RecordBatch, UInt32Array};
use arrow_ipc::reader::StreamReader;
use tacit_schema::labels::Annotations;
use tacit_schema::{SessionManifest, StationProfile, StreamInfo, StreamKind};
use tacit_session::{labels, layout, transcript, SessionDir};

use crate::error::DatasetError;

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
                if !dir.join(f).is_file() {
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

    /// The task text: the session's, else the station name.
    pub fn task(&self) -> String {
        if self.manifest.task.trim().is_empty() {
            format!("work at {}", self.manifest.station)
        } else {
            self.manifest.task.clone()
        }
    }
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

/// Record batches of a stream's `.arrows` segments, in order (rejects left out).
pub struct Batches {
    files: Vec<PathBuf>,
    next_file: usize,
    reader: Option<StreamReader<BufReader<File>>>,
}

impl Batches {
    /// Opens the stream's segments lazily.
    pub fn new(dir: &Path, stream: &StreamInfo) -> Self {
        let files = stream.files.iter().filter(|f| f.ends_with(".arrows") && !f.contains(".rejects.")).map(|f| dir.join(f)).collect();
        Self { files, next_file: 0, reader: None }
    }

    /// The next batch, or `None` after the last segment.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<RecordBatch>, DatasetError> {
        loop {
            if let Some(r) = self.reader.as_mut() {
                match r.next() {
                    Some(Ok(b)) => return Ok(Some(b)),
                    Some(Err(e)) => {
                        let path = self.files.get(self.next_file.saturating_sub(1)).cloned().unwrap_or_default();
                        return Err(DatasetError::session(
                            format!("damaged Arrow stream ({e}); run `tacit recover` on the session"),
                            &path,
                        ));
                    }
                    None => self.reader = None,
                }
            }
            let Some(path) = self.files.get(self.next_file).cloned() else { return Ok(None) };
            self.next_file += 1;
            let f = File::open(&path).map_err(|e| DatasetError::io("open", &path, e))?;
            let r = StreamReader::try_new(BufReader::with_capacity(1 << 20, f), None)
                .map_err(|e| DatasetError::session(format!("not an Arrow stream ({e})"), &path))?;
            self.reader = Some(r);
        }
    }
}

/// A camera frame.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Session time, ns.
    pub t_ns: i64,
    /// Width, px.
    pub width: u32,
    /// Height, px.
    pub height: u32,
    /// The batch's data column (shared, not copied) and this frame's row.
    column: BinaryArray,
    row: usize,
}

impl Frame {
    /// Encoded bytes (JPEG), borrowed from the record batch.
    pub fn data(&self) -> &[u8] {
        self.column.value(self.row)
    }
}

/// Reads a camera's frames in time order.
pub struct FrameCursor {
    batches: Batches,
    batch: Option<RecordBatch>,
    row: usize,
    name: String,
}

impl FrameCursor {
    /// Opens the camera stream.
    pub fn new(dir: &Path, stream: &StreamInfo) -> Self {
        Self { batches: Batches::new(dir, stream), batch: None, row: 0, name: stream.name.clone() }
    }

    /// The next frame, or `None` at the end.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, DatasetError> {
        loop {
            if let Some(b) = &self.batch {
                if self.row < b.num_rows() {
                    let i = self.row;
                    self.row += 1;
                    let col = |n: &str| b.column_by_name(n);
                    let (Some(t), Some(w), Some(h), Some(d)) = (
                        col("t_ns").and_then(|c| c.as_any().downcast_ref::<Int64Array>()),
                        col("width").and_then(|c| c.as_any().downcast_ref::<UInt32Array>()),
                        col("height").and_then(|c| c.as_any().downcast_ref::<UInt32Array>()),
                        col("data").and_then(|c| c.as_any().downcast_ref::<BinaryArray>()),
                    ) else {
                        return Err(DatasetError::Options(format!("camera {} has no t_ns/width/height/data columns", self.name)));
                    };
                    return Ok(Some(Frame { t_ns: t.value(i), width: w.value(i), height: h.value(i), column: d.clone(), row: i }));
                }
            }
            match self.batches.next()? {
                Some(b) => {
                    self.batch = Some(b);
                    self.row = 0;
                }
                None => return Ok(None),
            }
        }
    }
}

/// A batch of sensor rows: times and one column per asked channel.
pub type SensorBatch = (Vec<i64>, Vec<Float64Array>);

/// Reads a sensor's rows (time and the named channels) in time order.
pub struct SensorCursor {
    batches: Batches,
    channels: Vec<String>,
}

impl SensorCursor {
    /// Opens the sensor stream for these channel columns.
    pub fn new(dir: &Path, stream: &StreamInfo, channels: Vec<String>) -> Self {
        Self { batches: Batches::new(dir, stream), channels }
    }

    /// The next batch as (times, per-channel columns); `None` at the end.
    pub fn next_batch(&mut self) -> Result<Option<SensorBatch>, DatasetError> {
        let Some(b) = self.batches.next()? else { return Ok(None) };
        let t =
            b.column_by_name("t_ns").and_then(|c| c.as_any().downcast_ref::<Int64Array>()).map(|a| a.values().to_vec()).unwrap_or_default();
        let mut cols = Vec::new();
        for c in &self.channels {
            let col = b.column_by_name(c).and_then(|c| c.as_any().downcast_ref::<Float64Array>()).cloned();
            cols.push(col.unwrap_or_else(|| Float64Array::new_null(b.num_rows())));
        }
        Ok(Some((t, cols)))
    }
}
