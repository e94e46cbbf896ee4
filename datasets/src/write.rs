//! What both exporters share: opening the sessions (skip or refuse broken
//! ones), JSON and Parquet files that are fsynced before they count, and the
//! commit that renames a finished dataset into place.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::SchemaRef;
use parquet::arrow::arrow_writer::{ArrowWriterOptions, InMemoryPageStore, PageKey, PageStore, PageStoreArgs, PageStoreFactory};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use serde_json::Value;
use tacit_schema::Progress;
use tacit_session::Staging;

use crate::error::DatasetError;
use crate::session::Session;
use crate::ExportReport;

/// Opens every session; a broken one is skipped with a warning (recorded in
/// the report) or, with `strict`, ends the export.
pub(crate) fn open_sessions(
    dirs: &[PathBuf],
    strict: bool,
    progress: &dyn Progress,
    report: &mut ExportReport,
) -> Result<Vec<Session>, DatasetError> {
    let mut opened = Vec::new();
    for dir in dirs {
        match Session::open(dir) {
            Ok(s) => opened.push(s),
            Err(e) if !strict => {
                progress.message(&format!("warning: skipping {}: {e}", dir.display()));
                report.skipped.push((dir.display().to_string(), e.to_string()));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(opened)
}

/// Skips (or with `strict` refuses) a session that cannot join the dataset.
pub(crate) fn skip(s: &Session, why: &str, strict: bool, progress: &dyn Progress, report: &mut ExportReport) -> Result<(), DatasetError> {
    if strict {
        return Err(DatasetError::session(why, &s.dir));
    }
    progress.message(&format!("warning: skipping {}: {why}", s.dir.display()));
    report.skipped.push((s.dir.display().to_string(), why.to_string()));
    Ok(())
}

/// A temporary folder beside `out` (same file system, so rename is atomic),
/// removed unless committed.
pub(crate) fn temp_beside(out: &Path, what: &str) -> Result<Staging, DatasetError> {
    Ok(Staging::new(beside(out, what)?))
}

/// `.<name>.<what>-<pid>` beside `out` (its parent created, nothing there).
fn beside(out: &Path, what: &str) -> Result<PathBuf, DatasetError> {
    let name = out.file_name().and_then(|n| n.to_str()).unwrap_or("dataset").to_string();
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| DatasetError::io("create", parent, e))?;
    let tmp = parent.join(format!(".{name}.{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(tmp)
}

/// Moves one new file of an append into the dataset (its folders created):
/// a rename, so a reader sees the whole file or none of it.
pub(crate) fn move_into(from: &Path, to: &Path) -> Result<(), DatasetError> {
    if let Some(d) = to.parent() {
        std::fs::create_dir_all(d).map_err(|e| DatasetError::io("create", d, e))?;
    }
    std::fs::rename(from, to).map_err(|e| DatasetError::io("move into the dataset", to, e))
}

/// Renames the finished dataset `tmp` to `out`; an old dataset at `out`
/// moves aside only now and is removed after. If the rename fails, the old
/// dataset is put back and `tmp` is removed.
pub(crate) fn commit(tmp: Staging, out: &Path) -> Result<(), DatasetError> {
    let old = beside(out, "old")?;
    if out.exists() {
        std::fs::rename(out, &old).map_err(|e| DatasetError::io("move aside", out, e))?;
    }
    if let Err(e) = std::fs::rename(tmp.path(), out) {
        if old.exists() {
            let _ = std::fs::rename(&old, out);
        }
        return Err(DatasetError::io("rename into place", out, e));
    }
    tmp.keep();
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

/// Refuses an existing `out` unless asked to replace or append.
pub(crate) fn check_out(out: &Path, replace: bool, append: bool) -> Result<(), DatasetError> {
    if replace && append {
        return Err(DatasetError::Options("--replace and --append exclude each other: rebuild the dataset, or add to it".into()));
    }
    if out.exists() && !replace && !append {
        return Err(DatasetError::Options(format!(
            "{} exists already; choose another --out, pass --append to add new sessions to it, or --replace to rebuild it (the old one stays until the new one is complete)",
            out.display()
        )));
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temp file, fsync and rename.
pub(crate) fn replace_file(path: &Path, bytes: &[u8]) -> Result<(), DatasetError> {
    Ok(tacit_session::write_atomic(path, bytes)?)
}

/// JSON with 4-space indent and a final newline.
pub(crate) fn json_bytes(v: &Value, path: &Path) -> Result<Vec<u8>, DatasetError> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    serde::Serialize::serialize(v, &mut ser).map_err(|e| DatasetError::write(e, path))?;
    buf.push(b'\n');
    Ok(buf)
}

/// Writes JSON (4-space indent) and fsyncs it.
pub(crate) fn write_json(path: &Path, v: &Value) -> Result<(), DatasetError> {
    let buf = json_bytes(v, path)?;
    let mut f = std::fs::File::create(path).map_err(|e| DatasetError::io("create", path, e))?;
    std::io::Write::write_all(&mut f, &buf).map_err(|e| DatasetError::io("write", path, e))?;
    f.sync_all().map_err(|e| DatasetError::io("sync", path, e))
}

/// Creates a Parquet file (and its folder).
pub(crate) fn parquet_file(path: &Path, schema: SchemaRef, props: WriterProperties) -> Result<ArrowWriter<std::fs::File>, DatasetError> {
    parquet_file_spilling(path, schema, props, None)
}

/// Creates a Parquet file whose image pages (columns `observation.images.*`)
/// wait for the end of their row group in unnamed temporary files in
/// `spill`, not in memory: a row group may then be as large as an episode.
fn parquet_file_spilling(
    path: &Path,
    schema: SchemaRef,
    props: WriterProperties,
    spill: Option<&Path>,
) -> Result<ArrowWriter<std::fs::File>, DatasetError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| DatasetError::io("create", dir, e))?;
    }
    let f = std::fs::File::create(path).map_err(|e| DatasetError::io("create", path, e))?;
    let mut options = ArrowWriterOptions::new().with_properties(props);
    if let Some(dir) = spill {
        options = options.with_page_store_factory(Arc::new(SpillImages { dir: dir.to_path_buf() }));
    }
    ArrowWriter::try_new_with_options(f, schema, options).map_err(|e| DatasetError::write(e, path))
}

/// Keeps the finished pages of image columns past their first 64 MiB in
/// temporary files (one per column chunk, unlinked from the start: nothing
/// is left behind, even after a kill) and every other column's in memory.
#[derive(Debug)]
struct SpillImages {
    dir: PathBuf,
}

impl PageStoreFactory for SpillImages {
    fn create(&self, args: &PageStoreArgs<'_>) -> parquet::errors::Result<Box<dyn PageStore>> {
        let path = args.column_descriptor().path();
        if !path.parts().first().is_some_and(|p| crate::lerobot::is_image_column(p)) {
            return Ok(Box::new(InMemoryPageStore::default()));
        }
        Ok(Box::new(FilePages { dir: self.dir.clone(), file: None, end: 0, resident: 0, pages: Vec::new() }))
    }
}

/// Pages kept in memory up to [`SPILL_AFTER`] bytes of a column chunk, then
/// appended to a file; each is read back once, in order, when its row group
/// closes. Short episodes so cost no file I/O.
struct FilePages {
    dir: PathBuf,
    file: Option<std::fs::File>,
    end: u64,
    resident: usize,
    pages: Vec<Page>,
}

enum Page {
    Memory(bytes::Bytes),
    File(u64, usize),
    Taken,
}

/// Bytes of a column chunk kept in memory before its pages go to a file.
const SPILL_AFTER: usize = 64 << 20;

impl PageStore for FilePages {
    fn put(&mut self, value: bytes::Bytes) -> parquet::errors::Result<PageKey> {
        use std::os::unix::fs::FileExt;
        if self.file.is_none() && self.resident + value.len() <= SPILL_AFTER {
            self.resident += value.len();
            self.pages.push(Page::Memory(value));
        } else {
            let file = match self.file.take() {
                Some(f) => f,
                None => tempfile::tempfile_in(&self.dir).map_err(|e| {
                    parquet::errors::ParquetError::General(format!("cannot create a temporary file in {}: {e}", self.dir.display()))
                })?,
            };
            let written = file.write_all_at(&value, self.end);
            self.file = Some(file);
            written.map_err(spill_error)?;
            self.pages.push(Page::File(self.end, value.len()));
            self.end += value.len() as u64;
        }
        Ok(PageKey::new(self.pages.len() as u64 - 1))
    }

    fn take(&mut self, key: PageKey) -> parquet::errors::Result<bytes::Bytes> {
        use std::os::unix::fs::FileExt;
        let page = self.pages.get_mut(key.get() as usize).map(|p| std::mem::replace(p, Page::Taken));
        match page {
            Some(Page::Memory(b)) => {
                self.resident -= b.len();
                Ok(b)
            }
            Some(Page::File(at, len)) => {
                let mut buf = vec![0u8; len];
                let Some(file) = &self.file else {
                    return Err(parquet::errors::ParquetError::General("the temporary page file is gone".into()));
                };
                file.read_exact_at(&mut buf, at).map_err(spill_error)?;
                Ok(buf.into())
            }
            _ => Err(parquet::errors::ParquetError::General(format!("no page {} to take", key.get()))),
        }
    }

    fn memory_size(&self) -> usize {
        self.resident
    }
}

fn spill_error(e: std::io::Error) -> parquet::errors::ParquetError {
    parquet::errors::ParquetError::General(format!("temporary page file: {e}"))
}

/// Writes the footer and fsyncs, so the dataset is on disk before it is
/// renamed into place.
pub(crate) fn seal(w: ArrowWriter<std::fs::File>, path: &Path) -> Result<(), DatasetError> {
    let f = w.into_inner().map_err(|e| DatasetError::write(e, path))?;
    f.sync_all().map_err(|e| DatasetError::io("sync", path, e))
}

/// Every file under a folder (recursively), sorted; with `ext`, only those
/// with that extension.
pub(crate) fn files_under(dir: &Path, ext: Option<&str>) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(files_under(&p, ext));
            } else if ext.is_none_or(|x| p.extension().is_some_and(|have| have == x)) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Bytes of every file under a folder.
pub fn dir_size(p: &Path) -> u64 {
    files_under(p, None).iter().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)).sum()
}

/// What the writer thread is asked to do.
enum Job {
    Write(arrow_array::RecordBatch),
    Flush,
    Size(std::sync::mpsc::SyncSender<usize>),
}

/// A Parquet file written on its own thread: the caller prepares the next
/// batches (reading the session, building columns) while this thread
/// encodes and writes the previous ones, so the two cores overlap. The
/// channel holds at most [`BackgroundWriter::QUEUE`] batches, so memory stays
/// bounded; errors come back on the next call. The thread also writes the
/// footer and fsyncs, so a finished file can be sealed while the next one is
/// being written ([`BackgroundWriter::close`]).
pub(crate) struct BackgroundWriter {
    path: PathBuf,
    tx: Option<std::sync::mpsc::SyncSender<Job>>,
    thread: Option<std::thread::JoinHandle<Result<(), DatasetError>>>,
}

impl BackgroundWriter {
    /// Batches waiting to be encoded.
    const QUEUE: usize = 2;

    /// Creates the file and starts its thread; with `row_group_bytes`, the
    /// thread closes a row group whenever that much is buffered; with
    /// `spill`, image pages wait for their row group's end in temporary
    /// files there (see [`parquet_file_spilling`]).
    pub(crate) fn create(
        path: &Path,
        schema: SchemaRef,
        props: WriterProperties,
        row_group_bytes: Option<usize>,
        spill: Option<&Path>,
    ) -> Result<Self, DatasetError> {
        let mut w = parquet_file_spilling(path, schema, props, spill)?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(Self::QUEUE);
        let p = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("parquet-writer".into())
            .spawn(move || {
                for job in rx {
                    match job {
                        Job::Write(b) => {
                            w.write(&b).map_err(|e| DatasetError::write(e, &p))?;
                            if row_group_bytes.is_some_and(|limit| w.in_progress_size() > limit) {
                                w.flush().map_err(|e| DatasetError::write(e, &p))?;
                            }
                        }
                        Job::Flush => w.flush().map_err(|e| DatasetError::write(e, &p))?,
                        Job::Size(reply) => {
                            let _ = reply.send(w.bytes_written());
                        }
                    }
                }
                seal(w, &p)
            })
            .map_err(|e| DatasetError::io("start a writer thread for", path, e))?;
        Ok(Self { path: path.to_path_buf(), tx: Some(tx), thread: Some(thread) })
    }

    fn send(&mut self, job: Job) -> Result<(), DatasetError> {
        let sent = self.tx.as_ref().map(|tx| tx.send(job).is_ok()).unwrap_or(false);
        if sent {
            return Ok(());
        }
        // The thread stopped: its error says why.
        Err(self.join().err().unwrap_or_else(|| DatasetError::write("the writer thread stopped", &self.path)))
    }

    fn join(&mut self) -> Result<(), DatasetError> {
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(DatasetError::write("the writer thread panicked", &self.path)),
            None => Err(DatasetError::write("the file was already closed", &self.path)),
        }
    }

    /// Queues a batch.
    pub(crate) fn write(&mut self, batch: arrow_array::RecordBatch) -> Result<(), DatasetError> {
        self.send(Job::Write(batch))
    }

    /// Closes the current row group (after the queued batches).
    pub(crate) fn flush(&mut self) -> Result<(), DatasetError> {
        self.send(Job::Flush)
    }

    /// Bytes written so far (waits for the queue).
    pub(crate) fn bytes_written(&mut self) -> Result<usize, DatasetError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.send(Job::Size(tx))?;
        rx.recv().map_err(|_| self.join().err().unwrap_or_else(|| DatasetError::write("the writer thread stopped", &self.path)))
    }

    /// Writes the footer, fsyncs and waits.
    pub(crate) fn seal(mut self) -> Result<(), DatasetError> {
        self.join()
    }

    /// Lets the thread finish (footer, fsync) in the background; seal the
    /// returned handle later with [`Closing::wait`].
    pub(crate) fn close(mut self) -> Closing {
        self.tx = None;
        Closing { path: self.path.clone(), thread: self.thread.take() }
    }
}

/// A file whose thread is writing its footer and fsyncing.
pub(crate) struct Closing {
    path: PathBuf,
    thread: Option<std::thread::JoinHandle<Result<(), DatasetError>>>,
}

impl Closing {
    /// Waits until the file is on disk.
    pub(crate) fn wait(mut self) -> Result<(), DatasetError> {
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(DatasetError::write("the writer thread panicked", &self.path)),
            None => Ok(()),
        }
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
