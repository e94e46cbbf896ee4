//! Arrow IPC *stream* files: the recorder's rolling segment writer, which
//! flushes and syncs on demand. Reading them back (the good prefix of a torn
//! file, repair) is `tacit_session::ipc`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::SchemaRef;

use crate::error::CaptureError;

/// Counts bytes that pass through a writer.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// How segment files of one stream are named.
#[derive(Clone, Debug)]
pub struct SegmentNaming {
    /// File name stem (`cam-front`, `sensor-arc`, `events`).
    pub stem: String,
    /// Number the first segment too (`cam-front.0.arrows`); otherwise the
    /// first is `stem.arrows` and later ones `stem.1.arrows`, …
    pub number_first: bool,
}

impl SegmentNaming {
    /// File name of segment `index`.
    pub fn file_name(&self, index: u32) -> String {
        if index == 0 && !self.number_first {
            format!("{}.arrows", self.stem)
        } else {
            format!("{}.{index}.arrows", self.stem)
        }
    }
}

/// Writes batches to `stem.N.arrows` segments, starting a new one when the
/// current one passes `max_bytes`.
pub struct SegmentWriter {
    dir: PathBuf,
    naming: SegmentNaming,
    schema: SchemaRef,
    max_bytes: u64,
    index: u32,
    current: Option<StreamWriter<Counting<BufWriter<File>>>>,
    files: Vec<String>,
}

impl SegmentWriter {
    /// Creates the first segment now (so an empty stream still has a readable file).
    pub fn create(dir: &Path, naming: SegmentNaming, schema: SchemaRef, max_bytes: u64) -> Result<Self, CaptureError> {
        let mut w = Self { dir: dir.to_path_buf(), naming, schema, max_bytes, index: 0, current: None, files: Vec::new() };
        w.open_segment()?;
        Ok(w)
    }

    fn path(&self) -> PathBuf {
        self.dir.join(self.naming.file_name(self.index))
    }

    fn open_segment(&mut self) -> Result<(), CaptureError> {
        let path = self.path();
        let file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| CaptureError::io("create", &path, e))?;
        let counting = Counting { inner: BufWriter::with_capacity(1 << 20, file), bytes: 0 };
        let mut writer = StreamWriter::try_new(counting, &self.schema).map_err(|e| CaptureError::arrow("start", &path, e))?;
        writer.flush().map_err(|e| CaptureError::arrow("write", &path, e))?;
        self.files.push(self.naming.file_name(self.index));
        self.current = Some(writer);
        Ok(())
    }

    /// Appends a batch, rolling to a new segment first if this one is full.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), CaptureError> {
        let full = self.current.as_mut().is_some_and(|w| w.get_mut().bytes >= self.max_bytes);
        if full {
            self.finish_segment()?;
            self.index += 1;
            self.open_segment()?;
        }
        let path = self.path();
        let writer = self.current.as_mut().ok_or_else(|| CaptureError::Closed(path.clone()))?;
        writer.write(batch).map_err(|e| CaptureError::arrow("write", &path, e))
    }

    /// Pushes buffered bytes to the OS and, with `sync`, to the disk.
    pub fn flush(&mut self, sync: bool) -> Result<(), CaptureError> {
        let path = self.path();
        if let Some(w) = self.current.as_mut() {
            w.flush().map_err(|e| CaptureError::arrow("write", &path, e))?;
            if sync {
                w.get_mut().inner.get_ref().sync_data().map_err(|e| CaptureError::io("sync", &path, e))?;
            }
        }
        Ok(())
    }

    fn finish_segment(&mut self) -> Result<(), CaptureError> {
        let path = self.path();
        if let Some(mut w) = self.current.take() {
            w.finish().map_err(|e| CaptureError::arrow("finish", &path, e))?;
            w.get_mut().flush().map_err(|e| CaptureError::io("write", &path, e))?;
            w.get_mut().inner.get_ref().sync_data().map_err(|e| CaptureError::io("sync", &path, e))?;
        }
        Ok(())
    }

    /// Ends the stream (end-of-stream marker, sync) and returns its files.
    pub fn finish(mut self) -> Result<Vec<String>, CaptureError> {
        self.finish_segment()?;
        Ok(self.files)
    }

    /// Files written so far, relative to the session folder.
    pub fn files(&self) -> &[String] {
        &self.files
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch};
    use tacit_session::ipc::{repair, scan};

    use super::*;

    fn batch(start: i64, n: i64) -> RecordBatch {
        let schema = tacit_schema::tables::events_schema();
        let t = Int64Array::from_iter_values(start..start + n);
        let s = arrow_array::StringArray::from_iter_values((0..n).map(|i| format!("e{i}")));
        RecordBatch::try_new(schema, vec![Arc::new(t), Arc::new(s.clone()), Arc::new(s.clone()), Arc::new(s)]).unwrap()
    }

    #[test]
    fn rolls_segments_and_scans_back() {
        let dir = tempfile::tempdir().unwrap();
        let naming = SegmentNaming { stem: "x".into(), number_first: true };
        let mut w = SegmentWriter::create(dir.path(), naming, tacit_schema::tables::events_schema(), 2_000).unwrap();
        for i in 0..20 {
            w.write(&batch(i * 10, 10)).unwrap();
        }
        let files = w.finish().unwrap();
        assert!(files.len() > 1, "{files:?}");
        let mut rows = 0;
        let mut last = -1;
        for f in &files {
            let report = scan(&dir.path().join(f), |b| {
                let t = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                for v in t.values() {
                    assert!(*v > last);
                    last = *v;
                }
            })
            .unwrap();
            assert!(report.finished, "{f}: {report:?}");
            rows += report.rows;
        }
        assert_eq!(rows, 200);
    }

    #[test]
    fn torn_tail_is_cut_and_stream_ended() {
        let dir = tempfile::tempdir().unwrap();
        let naming = SegmentNaming { stem: "y".into(), number_first: false };
        let mut w = SegmentWriter::create(dir.path(), naming, tacit_schema::tables::events_schema(), u64::MAX).unwrap();
        for i in 0..5 {
            w.write(&batch(i * 10, 10)).unwrap();
        }
        w.flush(false).unwrap();
        let path = dir.path().join("y.arrows");
        let whole = std::fs::metadata(&path).unwrap().len();
        drop(w); // no end marker: like a crash
                 // Tear the last batch in half.
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(whole - 40).unwrap();
        let before = scan(&path, |_| {}).unwrap();
        assert_eq!(before.batches, 4);
        assert!(before.error.is_some() || !before.finished);
        let cut = repair(&path).unwrap();
        assert!(cut > 0);
        let after = scan(&path, |_| {}).unwrap();
        assert!(after.finished, "{after:?}");
        assert_eq!(after.rows, 40);
        assert_eq!(repair(&path).unwrap(), 0, "repair is idempotent");
    }
}
