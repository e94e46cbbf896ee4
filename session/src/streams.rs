//! Sequential readers of a session's raw streams: record batches of a
//! stream's segments in order ([`Batches`]), camera frames in time order
//! ([`FrameCursor`], JPEG bytes shared with the batch, not copied), sensor
//! rows by channel ([`SensorCursor`]); one record batch in memory at a time.
//! Random access by time is [`crate::seek`].

use std::io::BufReader;
use std::path::{Path, PathBuf};

use arrow_array::{Array, BinaryArray, Float64Array, Int64Array, RecordBatch, UInt32Array};
use arrow_ipc::reader::StreamReader;
use tacit_schema::StreamInfo;

use crate::error::SessionError;

/// Record batches of a stream's `.arrows` segments, in order (rejects left out).
pub struct Batches {
    files: Vec<PathBuf>,
    next_file: usize,
    reader: Option<StreamReader<BufReader<crate::SessionFile>>>,
    /// With [`Batches::in_time_order`]: the last `t_ns` seen and the rows so far.
    order: Option<(i64, u64)>,
}

impl Batches {
    /// Opens the stream's segments lazily.
    pub fn new(dir: &Path, stream: &StreamInfo) -> Self {
        let files = stream.files.iter().filter(|f| f.ends_with(".arrows") && !f.contains(".rejects.")).map(|f| dir.join(f)).collect();
        Self { files, next_file: 0, reader: None, order: None }
    }

    /// Checks that `t_ns` never goes back, across batches and segments (the
    /// recorder writes every camera and sensor stream in time order): a time
    /// that does is a damaged file, reported with its row.
    pub fn in_time_order(mut self) -> Self {
        self.order = Some((i64::MIN, 0));
        self
    }

    fn check_order(&mut self, b: &RecordBatch) -> Result<(), SessionError> {
        let Some((mut last, mut rows)) = self.order else { return Ok(()) };
        let Some(t) = b.column_by_name("t_ns").and_then(|c| c.as_any().downcast_ref::<Int64Array>()) else {
            return Ok(());
        };
        for (i, &v) in t.values().iter().enumerate() {
            if v < last {
                let row = rows + i as u64;
                return Err(SessionError::invalid(
                    format!("row {row}: t_ns goes back from {last} to {v}, which a recording never writes: the file is damaged"),
                    &self.current_file(),
                ));
            }
            last = v;
        }
        rows += t.len() as u64;
        self.order = Some((last, rows));
        Ok(())
    }

    /// The segment read last (for errors).
    fn current_file(&self) -> PathBuf {
        self.files.get(self.next_file.saturating_sub(1)).cloned().unwrap_or_default()
    }

    /// The next batch, or `None` after the last segment.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<RecordBatch>, SessionError> {
        loop {
            if let Some(r) = self.reader.as_mut() {
                match crate::ipc::next_batch(r) {
                    Some(Ok(b)) => {
                        self.check_order(&b)?;
                        return Ok(Some(b));
                    }
                    Some(Err(e)) => return Err(arrow_error(e, &self.current_file(), "damaged Arrow stream")),
                    None => self.reader = None,
                }
            }
            let Some(path) = self.files.get(self.next_file).cloned() else { return Ok(None) };
            self.next_file += 1;
            let f = crate::SessionFile::open(&path)?;
            let r =
                crate::ipc::open_reader(BufReader::with_capacity(1 << 20, f)).map_err(|e| arrow_error(e, &path, "not an Arrow stream"))?;
            self.reader = Some(r);
        }
    }
}

/// A read that failed: the disk's or the store's own error as such, a
/// damaged file as `what` with the way out.
fn arrow_error(e: arrow_schema::ArrowError, path: &Path, what: &str) -> SessionError {
    match e {
        arrow_schema::ArrowError::IoError(_, cause) => SessionError::io("read", path, cause),
        e => SessionError::invalid(format!("{what} ({e}); run `tacit recover` on the session"), path),
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
        Self { batches: Batches::new(dir, stream).in_time_order(), batch: None, row: 0, name: stream.name.clone() }
    }

    /// The next frame, or `None` at the end.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, SessionError> {
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
                        let path = self.batches.current_file();
                        return Err(SessionError::invalid(format!("camera {} has no t_ns/width/height/data columns", self.name), &path));
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
        Self { batches: Batches::new(dir, stream).in_time_order(), channels }
    }

    /// The next batch as (times, per-channel columns); `None` at the end.
    pub fn next_batch(&mut self) -> Result<Option<SensorBatch>, SessionError> {
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
