//! Random access into a session's Arrow IPC streams, for review: which frame
//! is at time t, its JPEG bytes, and sensor rows in a time range — without
//! reading the rest of the file.
//!
//! ```text
//! cam-<n>.<k>.arrows ──scan message headers──► FrameIndex (t_ns per frame, where its bytes are)
//!                                              └─ frame(i) ─► one pread of the JPEG
//! sensor-<n>.arrows ──scan message headers──► SensorIndex (per batch: time span, buffer places)
//!                                              └─ sample(from, to, n) ─► a few rows per batch
//! ```
//!
//! An IPC stream is a sequence of messages (continuation marker, metadata
//! length, flatbuffer metadata, body). The metadata says where each column's
//! buffers lie in the body, so opening a session reads only the metadata and
//! the `t_ns` buffers of camera batches: a one-hour session opens in well
//! under a second (docs/performance.md). Uncompressed streams only (what
//! `capture` writes); a torn tail ends the index where the last whole
//! message ends ([`ipc::messages`], the one message walk).

use std::path::{Path, PathBuf};

use arrow_schema::DataType;
use tacit_schema::StreamInfo;

use crate::error::SessionError;
use crate::file::SessionFile;
use crate::ipc::{self, Loc};

/// One record batch of a stream file: its rows and the places of its buffers.
#[derive(Clone, Debug)]
struct BatchLoc {
    file: u32,
    rows: u32,
    /// Per column: (validity, values) or (validity, offsets, values).
    buffers: Vec<Loc>,
    /// Per column: whether it has nulls.
    nulls: Vec<bool>,
    /// `t_ns` as the store's review index gave it (empty: read from the file).
    t_ns: Vec<i64>,
    /// A camera batch's JPEG offsets from the review index (empty: read them).
    data_offsets: Vec<i32>,
}

/// How many buffers each column of a flat schema has in IPC.
fn buffer_counts(types: &[DataType]) -> Result<Vec<usize>, String> {
    types
        .iter()
        .map(|t| match t {
            DataType::Utf8 | DataType::Binary => Ok(3),
            t if t.is_primitive() => Ok(2),
            other => Err(format!("column type {other} is not supported for seeking")),
        })
        .collect()
}

/// The record batches of one stream file ([`ipc::messages`]), checked against
/// the columns the stream must have.
fn scan_file(path: &Path, file_no: u32, types: &[DataType], out: &mut Vec<BatchLoc>) -> Result<(), SessionError> {
    let counts = buffer_counts(types).map_err(|m| SessionError::invalid(m, path))?;
    let total_buffers: usize = counts.iter().sum();
    for batch in ipc::messages(path)?.batches {
        if batch.compressed {
            return Err(SessionError::invalid("compressed Arrow IPC batches cannot be seeked; this is not a file tacit recorded", path));
        }
        if batch.buffers.len() != total_buffers || batch.nulls.len() != types.len() {
            return Err(SessionError::invalid(
                format!("a record batch has {} buffers for {} columns; expected {total_buffers}", batch.buffers.len(), batch.nulls.len()),
                path,
            ));
        }
        out.push(BatchLoc {
            file: file_no,
            rows: batch.rows,
            buffers: batch.buffers,
            nulls: batch.nulls,
            t_ns: batch.t_ns,
            data_offsets: batch.data_offsets,
        });
    }
    Ok(())
}

/// First buffer index of each column.
fn first_buffers(types: &[DataType]) -> Vec<usize> {
    let counts = buffer_counts(types).unwrap_or_default();
    let mut at = 0;
    counts
        .iter()
        .map(|c| {
            let here = at;
            at += c;
            here
        })
        .collect()
}

fn read_at(files: &[(PathBuf, SessionFile)], file: u32, pos: u64, len: u64) -> Result<Vec<u8>, SessionError> {
    let (path, f) = &files[file as usize];
    let mut buf = vec![0u8; len as usize];
    f.read_exact_at(&mut buf, pos).map_err(|e| SessionError::io("read", path, e))?;
    Ok(buf)
}

fn open_files(dir: &Path, stream: &StreamInfo, ext: &str) -> Result<Vec<(PathBuf, SessionFile)>, SessionError> {
    stream
        .files
        .iter()
        .filter(|f| f.ends_with(ext))
        .map(|f| {
            let p = dir.join(f);
            let file = SessionFile::open(&p)?;
            Ok((p, file))
        })
        .collect()
}

fn i64s(bytes: &[u8]) -> impl Iterator<Item = i64> + '_ {
    bytes.chunks_exact(8).map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
}

/// Every frame of a camera stream: its time and where its JPEG lies.
pub struct FrameIndex {
    files: Vec<(PathBuf, SessionFile)>,
    batches: Vec<BatchLoc>,
    /// Session time of each frame, in file order.
    t_ns: Vec<i64>,
    /// (batch, row in batch) of each frame.
    at: Vec<(u32, u32)>,
    width: u32,
    height: u32,
    /// First buffer index of the `data` column.
    data: usize,
}

impl FrameIndex {
    /// Scans a camera stream's files (message headers and the `t_ns` buffers only).
    pub fn open(dir: &Path, stream: &StreamInfo) -> Result<Self, SessionError> {
        let types: Vec<DataType> = tacit_schema::tables::camera_schema().fields().iter().map(|f| f.data_type().clone()).collect();
        let files = open_files(dir, stream, ".arrows")?;
        let mut batches = Vec::new();
        for (i, (p, _)) in files.iter().enumerate() {
            scan_file(p, i as u32, &types, &mut batches)?;
        }
        let first = first_buffers(&types);
        let mut t_ns = Vec::new();
        let mut at = Vec::new();
        for (b, loc) in batches.iter_mut().enumerate() {
            if loc.t_ns.len() == loc.rows as usize {
                t_ns.append(&mut loc.t_ns);
            } else {
                let values = loc.buffers[first[0] + 1];
                let bytes = read_at(&files, loc.file, values.pos, u64::from(loc.rows) * 8)?;
                t_ns.extend(i64s(&bytes));
            }
            at.extend((0..loc.rows).map(|r| (b as u32, r)));
        }
        let dim = |key: &str| stream.details.get(key).and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        Ok(Self { files, batches, t_ns, at, width: dim("width"), height: dim("height"), data: first[6] })
    }

    /// Frames in the stream.
    pub fn len(&self) -> usize {
        self.t_ns.len()
    }

    /// No frames at all.
    pub fn is_empty(&self) -> bool {
        self.t_ns.is_empty()
    }

    /// Session time of frame `i`.
    pub fn t_ns(&self, i: usize) -> Option<i64> {
        self.t_ns.get(i).copied()
    }

    /// The frame on screen at `t_ns`: the last one at or before it (the first
    /// frame before the stream starts).
    pub fn at_time(&self, t_ns: i64) -> Option<usize> {
        if self.t_ns.is_empty() {
            return None;
        }
        Some(self.t_ns.partition_point(|&t| t <= t_ns).saturating_sub(1))
    }

    /// Width and height the profile declared (0 when unknown).
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// Bytes this index keeps in memory (grows by 16 bytes per frame).
    pub fn memory_bytes(&self) -> usize {
        self.t_ns.capacity() * 8 + self.at.capacity() * 8 + self.batches.capacity() * (std::mem::size_of::<BatchLoc>() + 16 * 17)
    }

    /// The JPEG bytes of frame `i` (two small reads: its offsets, then its bytes).
    pub fn frame(&self, i: usize) -> Result<Vec<u8>, SessionError> {
        let Some(&(b, r)) = self.at.get(i) else {
            let path = self.files.first().map_or_else(PathBuf::new, |(p, _)| p.clone());
            return Err(SessionError::invalid(format!("frame {i} is past the end ({} frames)", self.len()), &path));
        };
        let loc = &self.batches[b as usize];
        let (offsets, values) = (loc.buffers[self.data + 1], loc.buffers[self.data + 2]);
        let (start, end) = match (loc.data_offsets.get(r as usize), loc.data_offsets.get(r as usize + 1)) {
            (Some(&a), Some(&b)) => (a.max(0) as u64, b.max(0) as u64),
            _ => {
                let o = read_at(&self.files, loc.file, offsets.pos + u64::from(r) * 4, 8)?;
                (i32::from_le_bytes([o[0], o[1], o[2], o[3]]).max(0) as u64, i32::from_le_bytes([o[4], o[5], o[6], o[7]]).max(0) as u64)
            }
        };
        if end < start || end > values.len {
            let (path, _) = &self.files[loc.file as usize];
            return Err(SessionError::invalid(format!("frame {i} has offsets {start}..{end} outside its batch"), path));
        }
        read_at(&self.files, loc.file, values.pos + start, end - start)
    }
}

/// A sensor stream's batches: time span and buffer places, for sampling rows.
pub struct SensorIndex {
    files: Vec<(PathBuf, SessionFile)>,
    batches: Vec<BatchLoc>,
    /// (first, last) session time of each batch.
    spans: Vec<(i64, i64)>,
    channels: Vec<String>,
}

/// Rows sampled from a sensor stream.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SensorSample {
    /// Session time of each row.
    pub t_ns: Vec<i64>,
    /// Per channel, one value per row (NaN where the row had none; null in JSON).
    #[serde(with = "nan_as_null")]
    pub values: Vec<Vec<f32>>,
}

/// Rows of the whole stream in Review's overview plot.
pub const OVERVIEW_ROWS: usize = 4000;

/// `f32` NaN written as JSON `null` and read back (JSON has no NaN).
mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[Vec<f32>], s: S) -> Result<S::Ok, S::Error> {
        let opt: Vec<Vec<Option<f32>>> = v.iter().map(|c| c.iter().map(|x| (!x.is_nan()).then_some(*x)).collect()).collect();
        opt.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f32>>, D::Error> {
        let opt = Vec::<Vec<Option<f32>>>::deserialize(d)?;
        Ok(opt.into_iter().map(|c| c.into_iter().map(|x| x.unwrap_or(f32::NAN)).collect()).collect())
    }
}

impl SensorIndex {
    /// Scans a sensor stream's files (message headers and the first and last
    /// `t_ns` of each batch).
    pub fn open(dir: &Path, stream: &StreamInfo, channels: &[String]) -> Result<Self, SessionError> {
        let names: Vec<String> = channels.to_vec();
        let types: Vec<DataType> = tacit_schema::tables::sensor_schema(&names).fields().iter().map(|f| f.data_type().clone()).collect();
        let files: Vec<(PathBuf, SessionFile)> =
            open_files(dir, stream, ".arrows")?.into_iter().filter(|(p, _)| !p.to_string_lossy().ends_with(".rejects.arrows")).collect();
        let mut batches = Vec::new();
        for (i, (p, _)) in files.iter().enumerate() {
            scan_file(p, i as u32, &types, &mut batches)?;
        }
        batches.retain(|b| b.rows > 0);
        let mut spans = Vec::with_capacity(batches.len());
        for b in &mut batches {
            if let (Some(&first), Some(&last)) = (b.t_ns.first(), b.t_ns.last()) {
                spans.push((first, last));
                b.t_ns = Vec::new();
                continue;
            }
            let t = b.buffers[1];
            let first = read_at(&files, b.file, t.pos, 8)?;
            let last = read_at(&files, b.file, t.pos + (u64::from(b.rows) - 1) * 8, 8)?;
            spans.push((i64s(&first).next().unwrap_or(0), i64s(&last).next().unwrap_or(0)));
        }
        Ok(Self { files, batches, spans, channels: names })
    }

    /// Channel names.
    pub fn channels(&self) -> &[String] {
        &self.channels
    }

    /// First and last session time of the stream.
    pub fn span(&self) -> Option<(i64, i64)> {
        Some((self.spans.first()?.0, self.spans.last()?.1))
    }

    /// About `max_rows` rows between `from_ns` and `to_ns`: every row when
    /// there are few; else, from evenly chosen batches, a short run of
    /// consecutive rows each. Reads only the rows it returns (a few small
    /// reads per batch), so a plot of an hour costs the same as of a minute.
    pub fn sample(&self, from_ns: i64, to_ns: i64, max_rows: usize) -> Result<SensorSample, SessionError> {
        let lo = self.spans.partition_point(|s| s.1 < from_ns);
        let hi = self.spans.partition_point(|s| s.0 <= to_ns);
        let mut out = SensorSample { t_ns: Vec::new(), values: vec![Vec::new(); self.channels.len()] };
        if lo >= hi || max_rows == 0 {
            return Ok(out);
        }
        let total_rows: u64 = self.batches[lo..hi].iter().map(|b| u64::from(b.rows)).sum();
        let every_row = total_rows <= max_rows as u64;
        let n_batches = hi - lo;
        let keep_batches = if every_row { n_batches } else { n_batches.min((max_rows / 8).max(1)) };
        let run = (max_rows / keep_batches).max(1) as u64;
        for k in 0..keep_batches {
            let b = lo + k * n_batches / keep_batches;
            let loc = &self.batches[b];
            let rows = u64::from(loc.rows);
            let (first, last) = self.spans[b];
            // Where the range starts inside this batch (rows are evenly timed enough to guess).
            let r0 = if every_row || first >= from_ns || last <= first {
                0
            } else {
                (((from_ns - first) as f64 / (last - first) as f64) * (rows - 1) as f64) as u64
            }
            .min(rows - 1);
            let r1 = if every_row { rows } else { (r0 + run).min(rows) };
            let n = (r1 - r0) as usize;
            let t_bytes = read_at(&self.files, loc.file, loc.buffers[1].pos + r0 * 8, (r1 - r0) * 8)?;
            let t: Vec<i64> = i64s(&t_bytes).collect();
            let picks: Vec<usize> = (0..n).filter(|&r| t[r] >= from_ns && t[r] <= to_ns).collect();
            out.t_ns.extend(picks.iter().map(|&r| t[r]));
            for c in 0..self.channels.len() {
                let col = 2 + c;
                let values = loc.buffers[col * 2 + 1];
                let bytes = read_at(&self.files, loc.file, values.pos + r0 * 8, (r1 - r0) * 8)?;
                // Validity bits of rows r0..r1 (whole bytes around them).
                let validity = if loc.nulls[col] {
                    let v = loc.buffers[col * 2];
                    let (b0, b1) = (r0 / 8, r1.div_ceil(8).min(v.len));
                    Some(read_at(&self.files, loc.file, v.pos + b0, b1.saturating_sub(b0))?)
                } else {
                    None
                };
                for &r in &picks {
                    let row = r0 as usize + r;
                    let bit = row - (r0 as usize / 8) * 8;
                    let valid = validity.as_ref().is_none_or(|v| v.get(bit / 8).is_some_and(|byte| byte >> (bit % 8) & 1 == 1));
                    let x = f64::from_le_bytes(bytes[r * 8..r * 8 + 8].try_into().unwrap_or([0; 8]));
                    out.values[c].push(if valid { x as f32 } else { f32::NAN });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, BinaryArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
    use std::sync::Arc;

    fn write_stream(path: &Path, batches: &[RecordBatch]) {
        let f = std::fs::File::create(path).unwrap();
        let mut w = arrow_ipc::writer::StreamWriter::try_new(f, &batches[0].schema()).unwrap();
        for b in batches {
            w.write(b).unwrap();
        }
        w.finish().unwrap();
    }

    fn stream(files: &[&str], details: serde_json::Value) -> StreamInfo {
        let mut s: StreamInfo = serde_json::from_value(serde_json::json!({
            "name": "x", "kind": "camera", "files": files, "rate_hz": 10.0, "count": 0, "drops": 0, "rejects": 0, "errors": 0, "offset_ns": 0,
        }))
        .unwrap();
        if let serde_json::Value::Object(m) = details {
            s.details = m;
        }
        s
    }

    #[test]
    fn frames_are_found_by_time_and_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let schema = tacit_schema::tables::camera_schema();
        let mut batches = Vec::new();
        let mut expect = Vec::new();
        for b in 0..3i64 {
            let n = 4 + b as usize;
            let t: Vec<i64> = (0..n as i64).map(|r| (b * 10 + r) * 100).collect();
            let data: Vec<Vec<u8>> = (0..n).map(|r| vec![b as u8; 10 + r * 3]).collect();
            expect.extend(t.iter().copied().zip(data.clone()));
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from(t)),
                Arc::new(Int64Array::from(vec![None::<i64>; n])),
                Arc::new(UInt64Array::from_iter_values(0..n as u64)),
                Arc::new(UInt32Array::from(vec![4; n])),
                Arc::new(UInt32Array::from(vec![2; n])),
                Arc::new(StringArray::from(vec!["jpeg"; n])),
                Arc::new(BinaryArray::from_iter_values(data.iter())),
            ];
            batches.push(RecordBatch::try_new(schema.clone(), cols).unwrap());
        }
        write_stream(&dir.path().join("cam-x.0.arrows"), &batches[..2]);
        write_stream(&dir.path().join("cam-x.1.arrows"), &batches[2..]);
        let idx =
            FrameIndex::open(dir.path(), &stream(&["cam-x.0.arrows", "cam-x.1.arrows"], serde_json::json!({"width": 4, "height": 2})))
                .unwrap();
        assert_eq!(idx.len(), expect.len());
        assert_eq!(idx.size(), (4, 2));
        for (i, (t, data)) in expect.iter().enumerate() {
            assert_eq!(idx.t_ns(i), Some(*t));
            assert_eq!(&idx.frame(i).unwrap(), data, "frame {i}");
            assert_eq!(idx.at_time(*t), Some(i));
            assert_eq!(idx.at_time(*t + 50), Some(i));
        }
        assert_eq!(idx.at_time(-5), Some(0));
        assert!(idx.frame(expect.len()).is_err());

        // A torn tail: the index ends at the last whole batch.
        let p = dir.path().join("cam-x.1.arrows");
        let len = std::fs::metadata(&p).unwrap().len();
        let f = std::fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.set_len(len - 20).unwrap();
        let idx = FrameIndex::open(dir.path(), &stream(&["cam-x.0.arrows", "cam-x.1.arrows"], serde_json::json!({}))).unwrap();
        assert_eq!(idx.len(), 9);
    }

    #[test]
    fn sensor_rows_sampled_in_a_range_with_nulls() {
        let dir = tempfile::tempdir().unwrap();
        let chans = vec!["a".to_string(), "b".to_string()];
        let schema = tacit_schema::tables::sensor_schema(&chans);
        let mut batches = Vec::new();
        for b in 0..10i64 {
            let t: Vec<i64> = (0..100).map(|r| (b * 100 + r) * 1_000).collect();
            let a: Vec<f64> = t.iter().map(|&t| t as f64 / 1000.0).collect();
            let bb: Vec<Option<f64>> = t.iter().map(|&t| if (t / 1000) % 7 == 0 { None } else { Some(-1.0) }).collect();
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from(t)),
                Arc::new(Int64Array::from(vec![None::<i64>; 100])),
                Arc::new(Float64Array::from(a)),
                Arc::new(Float64Array::from(bb)),
            ];
            batches.push(RecordBatch::try_new(schema.clone(), cols).unwrap());
        }
        write_stream(&dir.path().join("sensor-x.arrows"), &batches);
        let idx = SensorIndex::open(dir.path(), &stream(&["sensor-x.arrows"], serde_json::json!({})), &chans).unwrap();
        assert_eq!(idx.span(), Some((0, 999_000)));
        // Few rows: all of them.
        let s = idx.sample(150_000, 160_000, 1000).unwrap();
        assert_eq!(s.t_ns, (150..=160).map(|r| r * 1000).collect::<Vec<_>>());
        assert_eq!(s.values[0], (150..=160).map(|r| r as f32).collect::<Vec<_>>());
        assert!(s.values[1][4].is_nan()); // row 154 = 7 × 22
        assert_eq!(s.values[1][0], -1.0);
        // Many rows: about max_rows, spread over the range, each value its own.
        let s = idx.sample(0, 999_000, 80).unwrap();
        assert!(s.t_ns.len() >= 40 && s.t_ns.len() <= 100, "{}", s.t_ns.len());
        assert!(s.t_ns.windows(2).all(|w| w[0] < w[1]));
        assert!(*s.t_ns.last().unwrap() > 800_000);
        for (k, t) in s.t_ns.iter().enumerate() {
            assert_eq!(s.values[0][k], (*t / 1000) as f32);
            assert_eq!(s.values[1][k].is_nan(), (*t / 1000) % 7 == 0, "row {}", t / 1000);
        }
        // A range starting inside a batch: the run starts there, not at the batch start.
        let s = idx.sample(450_000, 999_000, 80).unwrap();
        assert!(s.t_ns[0] >= 450_000 && s.t_ns[0] < 460_000, "{}", s.t_ns[0]);
    }
}
