//! The one reader of a session's Arrow IPC *stream* files at the message
//! level: where every message of a file lies, where its readable part ends
//! (a recorder that died leaves a torn tail), and whether the writer ended it.
//!
//! ```text
//! file ──messages()──► Messages { schema, record batches (rows, buffer places), good_len, finished }
//!   ├─ scan(on_batch) ─► every whole batch decoded (arrow-rs), in order; ScanReport
//!   ├─ repair()       ─► torn tail cut at good_len, end-of-stream marker written
//!   └─ seek           ─► FrameIndex / SensorIndex read single buffers by place
//! ```
//!
//! An IPC stream is a sequence of messages: a continuation marker
//! (`0xFFFFFFFF`, absent in pre-1.0 streams), the metadata length, the
//! flatbuffer metadata and the body. A message counts only when its metadata
//! and body lie wholly in the file; the first must be the schema.

use std::fs::OpenOptions;
use std::io::{BufReader, Read, Write};
use std::path::Path;

use crate::file::SessionFile;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_schema::ArrowError;

use crate::error::SessionError;

/// End-of-stream marker of the IPC stream format (continuation + zero length).
pub const END_OF_STREAM: [u8; 8] = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];

/// Where some bytes lie in a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Loc {
    /// Byte position in the file.
    pub pos: u64,
    /// Byte length.
    pub len: u64,
}

/// One record-batch message: its place, rows and the places of its buffers.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BatchMessage {
    /// Where the message starts (its continuation marker).
    pub start: u64,
    /// Where it ends (after its body).
    pub end: u64,
    /// Rows in the batch.
    pub rows: u32,
    /// The body is compressed (buffers cannot be read in place).
    pub compressed: bool,
    /// Every buffer of every column, in schema order, as places in the file.
    pub buffers: Vec<Loc>,
    /// Per field node: whether it has nulls.
    pub nulls: Vec<bool>,
    /// The batch's `t_ns` (its first column) when the walk came from the
    /// site store's review index: every row for a camera segment, the first
    /// and last row otherwise; empty from a walk of the file itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub t_ns: Vec<i64>,
    /// A camera batch's JPEG offsets (rows + 1) from the store's review
    /// index, so a frame is one read of its bytes; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_offsets: Vec<i32>,
}

/// What the message walk of one file found.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Messages {
    /// The record batches whose message is whole, in file order.
    pub batches: Vec<BatchMessage>,
    /// Byte length of the readable prefix: the schema and every whole message
    /// after it (0 without a readable schema).
    pub good_len: u64,
    /// File length on disk.
    pub file_len: u64,
    /// The file ends with the end-of-stream marker right after `good_len`
    /// bytes of whole messages: its writer finished it.
    pub finished: bool,
    /// Why the walk stopped before the end of the file, if it did.
    pub error: Option<String>,
}

fn read_u32(f: &SessionFile, pos: u64, path: &Path) -> Result<u32, SessionError> {
    let mut word = [0u8; 4];
    f.read_exact_at(&mut word, pos).map_err(|e| SessionError::io("read", path, e))?;
    Ok(u32::from_le_bytes(word))
}

/// Walks the messages of the IPC stream file at `path`, reading only their
/// metadata (a few hundred bytes each), never a body. A torn or unreadable
/// tail is not an error: the walk stops there and says why in `error`.
pub fn messages(path: &Path) -> Result<Messages, SessionError> {
    // A stream file of a store session: the walk the station made at push.
    if let Some(walk) = crate::store::remote::indexed_walk(path) {
        return Ok(walk);
    }
    let f = SessionFile::open(path)?;
    let file_len = f.len();
    let mut out = Messages { file_len, ..Messages::default() };
    let mut pos = 0u64;
    let mut meta = Vec::new();
    let mut first = true;
    loop {
        if pos == file_len {
            if !first && out.error.is_none() {
                // Whole messages up to EOF but no marker: readable, not finished.
                out.good_len = pos;
            }
            break;
        }
        if pos + 4 > file_len {
            out.error = Some(format!("the file ends inside a message header at byte {pos}"));
            break;
        }
        let mut prefix = 4;
        let mut len = read_u32(&f, pos, path)?;
        if len == 0xFFFF_FFFF {
            if pos + 8 > file_len {
                out.error = Some(format!("the file ends inside a message header at byte {pos}"));
                break;
            }
            len = read_u32(&f, pos + 4, path)?;
            prefix = 8;
        }
        if len == 0 {
            if first {
                out.error = Some("the stream ends before its schema".into());
            } else {
                out.finished = pos + prefix == file_len;
                if out.finished {
                    out.good_len = file_len;
                } else {
                    out.error = Some(format!("{} bytes follow the end-of-stream marker", file_len - pos - prefix));
                }
            }
            break;
        }
        let meta_start = pos + prefix;
        if meta_start + u64::from(len) > file_len {
            out.error = Some(format!("the file ends inside a message at byte {pos} (a torn tail)"));
            break;
        }
        meta.resize(len as usize, 0);
        f.read_exact_at(&mut meta, meta_start).map_err(|e| SessionError::io("read", path, e))?;
        let Ok(msg) = arrow_ipc::root_as_message(&meta) else {
            out.error = Some(format!("unreadable message metadata at byte {pos}"));
            break;
        };
        let body_start = meta_start + u64::from(len);
        let body_len = u64::try_from(msg.bodyLength()).unwrap_or(u64::MAX);
        let end = body_start.saturating_add(body_len);
        if end > file_len {
            out.error = Some(format!("the file ends inside the body of a message at byte {pos} (a torn tail)"));
            break;
        }
        if first && msg.header_as_schema().is_none() {
            out.error = Some("the first message is not a schema: this is not an Arrow IPC stream".into());
            break;
        }
        if let Some(rb) = msg.header_as_record_batch() {
            let (Some(bufs), Some(nodes)) = (rb.buffers(), rb.nodes()) else {
                out.error = Some(format!("a record batch at byte {pos} has no buffer list"));
                break;
            };
            let place = |offset: i64, length: i64| Loc {
                pos: body_start.saturating_add(u64::try_from(offset).unwrap_or(0)),
                len: u64::try_from(length).unwrap_or(0),
            };
            out.batches.push(BatchMessage {
                start: pos,
                end,
                rows: u32::try_from(rb.length()).unwrap_or(0),
                compressed: rb.compression().is_some(),
                buffers: bufs.iter().map(|b| place(b.offset(), b.length())).collect(),
                nulls: nodes.iter().map(|n| n.null_count() > 0).collect(),
                t_ns: Vec::new(),
                data_offsets: Vec::new(),
            });
        }
        first = false;
        pos = end;
        out.good_len = pos;
    }
    Ok(out)
}

/// What a scan of one IPC stream file found.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// Whole batches read.
    pub batches: u64,
    /// Rows in those batches.
    pub rows: u64,
    /// Byte length of the readable prefix (schema + whole batches).
    pub good_len: u64,
    /// File length on disk.
    pub file_len: u64,
    /// The end-of-stream marker was found (the writer finished cleanly).
    pub finished: bool,
    /// Why reading stopped early, if it did.
    pub error: Option<String>,
}

/// Decodes every whole batch of `path` in order, calling `on_batch` for each,
/// and reports where the readable part ends. A torn tail is not an error
/// here: it is reported in `error` with `good_len` < `file_len`. A batch
/// whose message is whole but does not decode ends the readable part just
/// before it.
pub fn scan(path: &Path, mut on_batch: impl FnMut(&RecordBatch)) -> Result<ScanReport, SessionError> {
    let walk = messages(path)?;
    let mut report = ScanReport {
        good_len: walk.good_len,
        file_len: walk.file_len,
        finished: walk.finished,
        error: walk.error,
        ..ScanReport::default()
    };
    if walk.good_len == 0 {
        report.error.get_or_insert_with(|| "no readable schema".into());
        return Ok(report);
    }
    let file = SessionFile::open(path)?;
    let prefix = BufReader::with_capacity(1 << 20, file).take(walk.good_len);
    let mut reader = match open_reader(prefix) {
        Ok(r) => r,
        Err(e) => {
            report.good_len = 0;
            report.finished = false;
            report.error = Some(format!("no readable schema: {e}"));
            return Ok(report);
        }
    };
    for at in &walk.batches {
        match next_batch(&mut reader) {
            Some(Ok(batch)) => {
                report.batches += 1;
                report.rows += batch.num_rows() as u64;
                on_batch(&batch);
            }
            Some(Err(e)) => {
                report.good_len = at.start;
                report.finished = false;
                report.error = Some(format!("the batch at byte {} does not decode: {e}", at.start));
                break;
            }
            None => {
                report.good_len = at.start;
                report.finished = false;
                report.error = Some(format!("the batch at byte {} could not be read", at.start));
                break;
            }
        }
    }
    Ok(report)
}

/// The reader's next batch. arrow-rs 59 panics on some damaged buffer
/// layouts (a buffer's offset and length past the message, found by the
/// `ipc_tail` fuzz target) instead of returning an error; that panic is
/// caught here and returned as the error it should have been, so a damaged
/// file is reported, never a crash. The reader is not used after it.
pub(crate) fn next_batch<R: std::io::Read>(reader: &mut StreamReader<R>) -> Option<Result<RecordBatch, ArrowError>> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.next())) {
        Ok(next) => next,
        Err(panic) => Some(Err(ArrowError::IpcError(format!("a damaged batch ({})", panic_text(&*panic))))),
    }
}

/// A stream reader over `input`: its schema message decoded. arrow-rs 59
/// panics on some damaged schemas too (found by the `ipc_tail` fuzz
/// target); such a panic is returned as an error.
pub(crate) fn open_reader<R: std::io::Read>(input: R) -> Result<StreamReader<R>, ArrowError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || StreamReader::try_new(input, None)))
        .unwrap_or_else(|panic| Err(ArrowError::IpcError(format!("a damaged schema ({})", panic_text(&*panic)))))
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "no reason given".into())
}

/// Cuts a torn tail after the last whole batch and ends the stream properly.
/// Returns the bytes removed. A file without a readable schema is left alone.
pub fn repair(path: &Path) -> Result<u64, SessionError> {
    let report = scan(path, |_| {})?;
    if report.finished || report.good_len == 0 {
        return Ok(0);
    }
    let file = OpenOptions::new().write(true).open(path).map_err(|e| SessionError::io("open", path, e))?;
    file.set_len(report.good_len).map_err(|e| SessionError::io("truncate", path, e))?;
    let mut file = OpenOptions::new().append(true).open(path).map_err(|e| SessionError::io("open", path, e))?;
    file.write_all(&END_OF_STREAM).map_err(|e| SessionError::io("write", path, e))?;
    file.sync_all().map_err(|e| SessionError::io("sync", path, e))?;
    Ok(report.file_len - report.good_len)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;
    use std::sync::Arc;

    use arrow_array::{Int64Array, StringArray};
    use arrow_ipc::writer::StreamWriter;

    use super::*;

    fn batch(start: i64, n: i64) -> RecordBatch {
        let schema = tacit_schema::tables::events_schema();
        let t = Int64Array::from_iter_values(start..start + n);
        let s = StringArray::from_iter_values((0..n).map(|i| format!("e{i}")));
        RecordBatch::try_new(schema, vec![Arc::new(t), Arc::new(s.clone()), Arc::new(s.clone()), Arc::new(s)]).unwrap()
    }

    /// Writes `n` batches of 10 rows; `finish` writes the end marker.
    fn write(path: &Path, n: i64, finish: bool) -> u64 {
        let f = std::fs::File::create(path).unwrap();
        let mut w = StreamWriter::try_new(f, &tacit_schema::tables::events_schema()).unwrap();
        for i in 0..n {
            w.write(&batch(i * 10, 10)).unwrap();
        }
        if finish {
            w.finish().unwrap();
        } else {
            w.flush().unwrap();
        }
        drop(w);
        std::fs::metadata(path).unwrap().len()
    }

    #[test]
    fn a_finished_stream_reads_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.arrows");
        let len = write(&path, 5, true);
        let walk = messages(&path).unwrap();
        assert_eq!(walk.batches.len(), 5);
        assert!(walk.finished && walk.error.is_none(), "{walk:?}");
        assert_eq!((walk.good_len, walk.file_len), (len, len));
        assert!(walk.batches.iter().all(|b| b.rows == 10 && !b.compressed && b.nulls.len() == 4));
        assert!(walk.batches.windows(2).all(|w| w[0].end == w[1].start));
        let mut last = -1;
        let report = scan(&path, |b| {
            let t = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            for v in t.values() {
                assert!(*v > last);
                last = *v;
            }
        })
        .unwrap();
        assert_eq!((report.batches, report.rows), (5, 50));
        assert!(report.finished);
        assert_eq!(repair(&path).unwrap(), 0);
    }

    #[test]
    fn a_torn_tail_is_cut_at_the_last_whole_batch_and_ended() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("y.arrows");
        let whole = write(&path, 5, false); // no end marker: like a crash
        let walk = messages(&path).unwrap();
        assert!(!walk.finished && walk.error.is_none());
        assert_eq!(walk.good_len, whole, "whole messages up to EOF are readable");
        // Tear the last batch in half.
        OpenOptions::new().write(true).open(&path).unwrap().set_len(whole - 40).unwrap();
        let before = scan(&path, |_| {}).unwrap();
        assert_eq!(before.batches, 4);
        assert!(!before.finished);
        assert!(before.error.as_deref().is_some_and(|e| e.contains("torn")), "{before:?}");
        let cut = repair(&path).unwrap();
        assert_eq!(cut, whole - 40 - before.good_len);
        let after = scan(&path, |_| {}).unwrap();
        assert!(after.finished && after.error.is_none(), "{after:?}");
        assert_eq!(after.rows, 40);
        assert_eq!(repair(&path).unwrap(), 0, "repair is idempotent");
    }

    #[test]
    fn a_batch_that_does_not_decode_ends_the_readable_part() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("z.arrows");
        write(&path, 3, true);
        let walk = messages(&path).unwrap();
        // Overwrite the third batch's offsets buffer (the `kind` column) with garbage.
        let third = &walk.batches[2];
        let offsets = third.buffers[3];
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&vec![0xEE; offsets.len as usize], offsets.pos).unwrap();
        let report = scan(&path, |_| {}).unwrap();
        assert_eq!(report.batches, 2, "{report:?}");
        assert_eq!(report.good_len, third.start);
        assert!(!report.finished && report.error.is_some());
        assert!(repair(&path).unwrap() > 0);
        assert_eq!(scan(&path, |_| {}).unwrap().rows, 20);
    }

    #[test]
    fn not_a_stream_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.arrows");
        std::fs::write(&path, b"this is not arrow at all").unwrap();
        let report = scan(&path, |_| {}).unwrap();
        assert_eq!(report.good_len, 0);
        assert!(report.error.is_some());
        assert_eq!(repair(&path).unwrap(), 0);
        assert_eq!(std::fs::read(&path).unwrap(), b"this is not arrow at all");
        std::fs::write(&path, b"").unwrap();
        assert_eq!(messages(&path).unwrap().good_len, 0);
        assert!(scan(&path, |_| {}).unwrap().error.is_some());
    }

    #[test]
    fn a_batch_arrow_rs_panics_on_is_a_damaged_batch() {
        // Found by the ipc_tail fuzz target: arrow-rs 59 panics in
        // Buffer::slice_with_length on this events.arrows (a buffer past
        // the end of its message); scan reports it instead of crashing.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("events.arrows");
        for bytes in [
            &include_bytes!("../../fuzz/regressions/ipc_tail/crash-a5cf433059da0f44e393d0cff9b686e77c3e9d5e")[..],
            &include_bytes!("../../fuzz/regressions/ipc_tail/crash-97c265cad278972de1d8e6c78906aac93e54f5e8")[..],
            // A schema arrow-rs panics on (arrow-ipc's convert.rs).
            &include_bytes!("../../fuzz/regressions/ipc_tail/crash-8086152ad4e57c7e9ff73b3ec3d5b6815545866b")[..],
        ] {
            std::fs::write(&f, bytes).unwrap();
            let report = scan(&f, |_| {}).unwrap();
            assert!(report.error.as_deref().is_some_and(|e| e.contains("damaged")), "{report:?}");
            repair(&f).unwrap();
            // Ended after the last whole batch, or left alone when its schema does not decode.
            let after = scan(&f, |_| {}).unwrap();
            assert!(after.finished || after.good_len == 0, "{after:?}");
        }
    }
}
