//! Delta Lake tables: `tacit export --format delta --out DIR|s3://bucket/prefix`.
//!
//! ```text
//! OUT/
//!   _tacit_delta.json             format, split spec, audio chunk length (written once, put-if-absent)
//!   README.md                     dataset card (rewritten after each export)
//!   episodes/_delta_log/…         one Delta table per tacit table, partitioned by station and date
//!   frames-<camera>/  sensors-<sensor>/  audio/  commentary/  words/  labels/  events/
//! ```
//!
//! The rows are those of the folder format (`tables`), written by the same
//! code through a [`Sinks`](crate::tables::Sinks) of Delta writers (delta-rs
//! without DataFusion), with three changes: no `episode_index` (exporters on
//! many stations cannot agree on one; `session_id` is the key), `station`
//! and `date` partition columns, and `split` on every row.
//!
//! Per session and table, one commit that carries a Delta transaction
//! identifier (`txn`, appId `tacit:<session id>`). A table whose snapshot
//! already holds that appId has the session: a re-run, or a retry after a
//! crash, skips it, and two exporters racing on one session conflict in the
//! commit (delta-rs's conflict checker) so that only one lands. `episodes`
//! is committed last: a session is listed there only when its other tables
//! have it. Commits are atomic by put-if-absent of the log entry (S3
//! conditional writes; a link on a local disk), with no lock service;
//! conflicts are retried with jittered backoff. A new sensor channel adds a
//! nullable column (schema evolution) instead of failing. Tables checkpoint
//! every 10 commits (`delta.checkpointInterval`, Spark's default).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{new_null_array, Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use deltalake_core::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake_core::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake_core::kernel::{Action, Add, StructType, Transaction};
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::writer::{DeltaWriter, RecordBatchWriter};
use deltalake_core::{DeltaTable, DeltaTableError, TableProperty};
use object_store::ObjectStoreExt as _;
use serde::{Deserialize, Serialize};
use tacit_schema::{Progress, StreamKind};
use tacit_session::store::StoreOptions;

use crate::error::DatasetError;
use crate::session::Session;
use crate::split::{self, group_key, SplitSpec};
use crate::tables::{table_schema, write_session, EpisodeEntry, Sinks, TableLayout, TableSink};
use crate::write::open_sessions;
use crate::ExportReport;

mod card;
mod check;
mod target;

pub use check::{inspect_delta, rows_per_session, validate_delta, DeltaSummary, TableSummary};
pub use target::Target;

use target::delta_error;

/// The file at the root that marks a tacit Delta dataset.
pub const MARKER: &str = "_tacit_delta.json";
/// Its `format_version`.
pub const FORMAT_VERSION: u32 = 1;
/// The partition columns of every table.
pub const PARTITION_BY: [&str; 2] = ["station", "date"];
/// Commits between checkpoints.
const CHECKPOINT_INTERVAL: &str = "10";
/// Attempts at one commit before the export gives up (each after a backoff).
const ATTEMPTS: u32 = 40;
/// Data files roll past this size.
const TARGET_FILE_BYTES: u64 = 512 << 20;

/// What to export and where.
#[derive(Clone, Debug, Default)]
pub struct DeltaOptions {
    /// A folder, or `s3://bucket/prefix` on the site store.
    pub out: String,
    /// How to reach the store (for `s3://`).
    pub store: StoreOptions,
    /// Fail on the first unreadable session instead of skipping it.
    pub strict: bool,
    /// Splits; `None` = the dataset's own (or all `train` for a new one).
    pub split: Option<SplitSpec>,
    /// Seconds of audio per row of the `audio` table.
    pub audio_chunk_s: u32,
}

/// `_tacit_delta.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeltaDataset {
    /// `tacit-delta`.
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// How sessions are split (by a hash of the group: see [`split::by_hash`]).
    pub split: SplitSpec,
    /// Seconds of audio per `audio` row.
    pub audio_chunk_s: u32,
    /// Partition columns of every table.
    pub partition_by: Vec<String>,
}

/// What an export to Delta did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DeltaReport {
    /// Sessions, frames and skips, as for the folder formats (`already`:
    /// sessions every table had).
    pub export: ExportReport,
    /// Commits made (one per session per table, plus schema changes).
    pub commits: u64,
    /// Retries inside delta-rs's commit loop (a newer version appeared).
    pub retries: u64,
    /// Commits that conflicted and were redone after a backoff.
    pub conflicts: u64,
    /// Tables that gained columns.
    pub schema_changes: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Per table: sessions found committed already (by their txn id), so not written again.
    pub tables_already: u64,
}

/// Exports sessions into the Delta tables at `opts.out`.
pub fn export(sessions: &[PathBuf], opts: &DeltaOptions, progress: &dyn Progress) -> Result<DeltaReport, DatasetError> {
    let target = Target::open(&opts.out, &opts.store)?;
    let meta = dataset(&target, opts)?;
    let mut report =
        DeltaReport { export: ExportReport { out: PathBuf::from(target.shown()), ..ExportReport::default() }, ..Default::default() };
    let mut opened = open_sessions(sessions, opts.strict, progress, &mut report.export)?;
    opened.sort_by(|a, b| a.manifest.id.cmp(&b.manifest.id));
    if opened.is_empty() {
        return Err(DatasetError::Options("no session to export (none given, or all were skipped)".into()));
    }
    let total: u64 = opened.iter().map(|s| s.streams(StreamKind::Camera).map(|c| c.count).sum::<u64>()).sum();
    progress.start("exporting to Delta", total);
    for s in &opened {
        match export_session(&target, &meta, s, progress, &mut report) {
            Ok(true) => report.export.episodes += 1,
            Ok(false) => report.export.already += 1,
            Err(e @ (DatasetError::Session { .. } | DatasetError::Store(_))) if !opts.strict => {
                progress.message(&format!("warning: skipping {}: {e}", s.dir.display()));
                report.export.skipped.push((s.dir.display().to_string(), e.to_string()));
            }
            Err(e) => {
                progress.finish();
                return Err(e);
            }
        }
    }
    progress.finish();
    let summary = check::summarize(&target)?;
    card::write(&target, &summary)?;
    report.export.bytes = summary.tables.iter().map(|t| t.bytes).sum();
    Ok(report)
}

/// The dataset's `_tacit_delta.json`: read, or written by the first exporter.
fn dataset(target: &Target, opts: &DeltaOptions) -> Result<DeltaDataset, DatasetError> {
    let fresh = DeltaDataset {
        format: "tacit-delta".into(),
        format_version: FORMAT_VERSION,
        split: opts.split.clone().unwrap_or_default(),
        audio_chunk_s: opts.audio_chunk_s.max(1),
        partition_by: PARTITION_BY.map(String::from).to_vec(),
    };
    let existing = match read_marker(target)? {
        Some(m) => m,
        None => {
            let bytes = serde_json::to_vec_pretty(&fresh).map_err(|e| DatasetError::Options(e.to_string()))?;
            if target.create(MARKER, bytes)? {
                return Ok(fresh);
            }
            // Another exporter was first: theirs holds.
            read_marker(target)?
                .ok_or_else(|| DatasetError::Options(format!("{}/{MARKER} vanished while being created", target.shown())))?
        }
    };
    if let Some(asked) = &opts.split {
        if asked != &existing.split {
            return Err(DatasetError::Options(format!(
                "{} is split {} by {} (seed {}); exporting with another split would mix them: pass the same --split/--group-by/--seed, or none",
                target.shown(),
                existing.split.describe(),
                existing.split.group_by.name(),
                existing.split.seed
            )));
        }
    }
    Ok(existing)
}

/// `_tacit_delta.json` of the dataset at `target`, if there is one.
pub fn read_marker(target: &Target) -> Result<Option<DeltaDataset>, DatasetError> {
    let Some(bytes) = target.read(MARKER)? else { return Ok(None) };
    let m: DeltaDataset = serde_json::from_slice(&bytes)
        .map_err(|e| DatasetError::Options(format!("{}/{MARKER} is not a tacit Delta dataset marker ({e})", target.shown())))?;
    if m.format != "tacit-delta" || m.format_version != FORMAT_VERSION {
        return Err(DatasetError::Options(format!(
            "{}/{MARKER}: format {} version {} is not one this tacit writes (tacit-delta, {FORMAT_VERSION})",
            target.shown(),
            m.format,
            m.format_version
        )));
    }
    Ok(Some(m))
}

/// The transaction identifier of a session's commits.
pub fn app_id(session_id: &str) -> String {
    format!("tacit:{session_id}")
}

/// One session into every table that does not have it yet; `false` if all had it.
fn export_session(
    target: &Target,
    meta: &DeltaDataset,
    s: &Session,
    progress: &dyn Progress,
    report: &mut DeltaReport,
) -> Result<bool, DatasetError> {
    let m = &s.manifest;
    let app = app_id(&m.id);
    let layout = TableLayout::of(s);
    let group = group_key(s, meta.split.group_by);
    let split = split::by_hash(&meta.split, &group);
    let date = m.started_at_utc.get(..10).filter(|d| d.len() == 10).unwrap_or("unknown").to_string();
    let fill = Fill { station: m.station.clone(), date, split: split.clone() };
    let mut sinks = DeltaSinks { tables: BTreeMap::new() };
    for name in layout.tables() {
        let schema = table_schema(&name, &layout)?;
        let slot = match target.block_on(open_sink(target, &name, schema.clone(), &app, &fill, report))? {
            Some(w) => Slot::Write(Box::new(w)),
            None => {
                report.tables_already += 1;
                Slot::Have(Discard(schema))
            }
        };
        sinks.tables.insert(name, slot);
    }
    if sinks.tables.values().all(|s| matches!(s, Slot::Have(_))) {
        progress.message(&format!("{}: in every table already", m.id));
        return Ok(false);
    }
    // No episode index in Delta tables (the column is dropped): 0 here.
    let entry = EpisodeEntry::of(s, 0, split, group, 0);
    write_session(s, &entry, &layout, meta.audio_chunk_s, &mut sinks, progress)?;
    report.export.frames += sinks.frames();
    // `episodes` last: a session listed there is in every table.
    let mut order: Vec<String> = sinks.tables.keys().filter(|n| *n != "episodes").cloned().collect();
    order.push("episodes".into());
    for name in order {
        if let Some(Slot::Write(sink)) = sinks.tables.remove(&name) {
            target.block_on(sink.commit(&app, report))?;
        }
    }
    Ok(true)
}

/// The constant columns a Delta row gets from its session.
#[derive(Clone, Debug)]
struct Fill {
    station: String,
    date: String,
    split: String,
}

/// The Delta schema of a tacit table: no `episode_index`; `split`,
/// `station` and `date` added where the table lacks them; unsigned
/// integers widened to signed ones (Delta has none).
fn delta_schema(tacit: &Schema) -> SchemaRef {
    let mut fields: Vec<Field> = Vec::new();
    for f in tacit.fields() {
        if f.name() == "episode_index" {
            continue;
        }
        let t = match f.data_type() {
            DataType::UInt64 | DataType::UInt32 => DataType::Int64,
            DataType::UInt16 => DataType::Int32,
            t => t.clone(),
        };
        fields.push(Field::new(f.name(), t, f.is_nullable()));
    }
    for extra in ["split", "station", "date"] {
        if !fields.iter().any(|f| f.name() == extra) {
            fields.push(Field::new(extra, DataType::Utf8, false));
        }
    }
    Arc::new(Schema::new(fields))
}

/// Opens (creating or widening) table `name` for one session's rows;
/// `None` when the table has the session already.
async fn open_sink(
    target: &Target,
    name: &str,
    tacit: SchemaRef,
    app: &str,
    fill: &Fill,
    report: &mut DeltaReport,
) -> Result<Option<DeltaSink>, DatasetError> {
    let want = delta_schema(&tacit);
    let table = ready_table(target, name, &want, report).await?;
    if has_txn(&table, name, app).await? {
        return Ok(None);
    }
    let writer = RecordBatchWriter::for_table(&table)
        .map_err(|e| delta_error(name, &e))?
        // Row groups close at 64 MiB as in the folder format: without the
        // limit a camera's whole session waited in memory (6.8 GB peak for
        // 10 minutes of two 720p cameras, `tacit bench delta`).
        .with_writer_properties(
            crate::tables::table_props_builder(&tacit).set_max_row_group_bytes(Some(crate::tables::ROW_GROUP_BYTES)).build(),
        )
        .with_target_file_size(TARGET_FILE_BYTES);
    let schema = writer.arrow_schema();
    Ok(Some(DeltaSink {
        tacit,
        schema,
        writer,
        table,
        fill: fill.clone(),
        rows: 0,
        name: name.to_string(),
        io: target.handle(),
        local: target.local_table(name),
    }))
}

/// Table `name`, created if missing and widened to `want`'s columns; races
/// with other exporters doing the same are retried.
async fn ready_table(target: &Target, name: &str, want: &SchemaRef, report: &mut DeltaReport) -> Result<DeltaTable, DatasetError> {
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(backoff(attempt)).await;
        }
        let (table, exists) = target.table(name).await?;
        if !exists {
            let kernel: StructType =
                want.as_ref().try_into_kernel().map_err(|e| DatasetError::Options(format!("Delta table {name}: {e}")))?;
            let created = table
                .create()
                .with_table_name(name)
                .with_columns(kernel.fields().cloned())
                .with_partition_columns(PARTITION_BY)
                .with_configuration_property(TableProperty::CheckpointInterval, Some(CHECKPOINT_INTERVAL))
                .with_save_mode(SaveMode::Ignore)
                .await;
            match created {
                Ok(_) => report.commits += 1,
                Err(e) => last = e.to_string(), // another exporter created it: load theirs
            }
            continue;
        }
        let snapshot = table.snapshot().map_err(|e| delta_error(name, &e))?;
        let have = arrow_schema(snapshot.schema().as_ref(), name)?;
        let mut missing = Vec::new();
        for f in want.fields() {
            match have.field_with_name(f.name()) {
                Ok(h) if h.data_type() == f.data_type() => {}
                Ok(h) => {
                    return Err(DatasetError::Options(format!(
                        "Delta table {name}: column {} is {} in the table but {} in this session; export it to another dataset",
                        f.name(),
                        h.data_type(),
                        f.data_type()
                    )))
                }
                Err(_) => missing.push(Field::new(f.name(), f.data_type().clone(), true)),
            }
        }
        for h in have.fields() {
            if !h.is_nullable() && want.field_with_name(h.name()).is_err() {
                return Err(DatasetError::Options(format!(
                    "Delta table {name} needs column {} (not null), which this session does not have",
                    h.name()
                )));
            }
        }
        if missing.is_empty() {
            return Ok(table);
        }
        let add: StructType =
            (&Schema::new(missing)).try_into_kernel().map_err(|e| DatasetError::Options(format!("Delta table {name}: {e}")))?;
        match table.add_columns().with_fields(add.fields().cloned().collect::<Vec<_>>()).await {
            Ok(_) => {
                report.schema_changes += 1;
                report.commits += 1;
            }
            Err(e) => last = e.to_string(), // a concurrent change: look again
        }
    }
    Err(DatasetError::Options(format!("Delta table {name}: could not create or widen it after {ATTEMPTS} attempts ({last})")))
}

/// Table `name`'s Delta schema as an Arrow one.
fn arrow_schema(delta: &StructType, name: &str) -> Result<Schema, DatasetError> {
    use deltalake_core::kernel::engine::arrow_conversion::TryIntoArrow;
    delta.try_into_arrow().map_err(|e: arrow_schema::ArrowError| DatasetError::Options(format!("Delta table {name}: {e}")))
}

/// Whether the table's snapshot holds the session's transaction id.
async fn has_txn(table: &DeltaTable, name: &str, app: &str) -> Result<bool, DatasetError> {
    let snapshot = table.snapshot().map_err(|e| delta_error(name, &e))?;
    let v = snapshot.transaction_version(table.log_store().as_ref(), app).await.map_err(|e| delta_error(name, &e))?;
    Ok(v.is_some())
}

/// Jittered exponential backoff: 50 ms doubling to 2 s, ±50 %.
fn backoff(attempt: u32) -> Duration {
    let base = 50u64.saturating_mul(1 << attempt.min(6)).min(2000);
    Duration::from_millis(base / 2 + tacit_session::store::spread(base))
}

/// One table's writer for one session.
pub(crate) struct DeltaSink {
    tacit: SchemaRef,
    schema: SchemaRef,
    writer: RecordBatchWriter,
    table: DeltaTable,
    fill: Fill,
    rows: u64,
    name: String,
    io: tokio::runtime::Handle,
    /// The table's folder when it is on the local disk (files are fsynced).
    local: Option<PathBuf>,
}

impl DeltaSink {
    /// A tacit batch as a row batch of the Delta table (by column name;
    /// columns the session lacks are null).
    fn convert(&self, batch: &RecordBatch) -> Result<RecordBatch, DatasetError> {
        let n = batch.num_rows();
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for f in self.schema.fields() {
            let col: ArrayRef = match (batch.column_by_name(f.name()), f.name().as_str()) {
                (Some(c), _) if c.data_type() == f.data_type() => c.clone(),
                (Some(c), _) => arrow_cast::cast(c, f.data_type()).map_err(|e| self.error(e))?,
                (None, "split") => Arc::new(StringArray::from_iter_values(std::iter::repeat_n(self.fill.split.as_str(), n))),
                (None, "station") => Arc::new(StringArray::from_iter_values(std::iter::repeat_n(self.fill.station.as_str(), n))),
                (None, "date") => Arc::new(StringArray::from_iter_values(std::iter::repeat_n(self.fill.date.as_str(), n))),
                (None, _) => new_null_array(f.data_type(), n),
            };
            cols.push(col);
        }
        RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| self.error(e))
    }

    fn error(&self, e: impl std::fmt::Display) -> DatasetError {
        DatasetError::Options(format!("Delta table {}: {e}", self.name))
    }

    /// Seals the session's files and commits them with its transaction id.
    async fn commit(mut self, app: &str, report: &mut DeltaReport) -> Result<(), DatasetError> {
        let name = self.name.as_str();
        let adds: Vec<Add> = self.writer.flush().await.map_err(|e| delta_error(name, &e))?;
        // On a local disk the data files reach it before the commit that
        // lists them (a power cut never leaves the log naming lost bytes).
        // A fresh add's path is the file's own (the log stores it URL-encoded).
        if let Some(dir) = &self.local {
            let mut folders = std::collections::BTreeSet::new();
            for a in &adds {
                let file = dir.join(&a.path);
                sync_file(&file)?;
                folders.extend(file.parent().map(std::path::Path::to_path_buf));
            }
            for folder in &folders {
                sync_file(folder)?;
            }
        }
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                report.conflicts += 1;
                tokio::time::sleep(backoff(attempt)).await;
                self.table.update_state().await.map_err(|e| delta_error(name, &e))?;
                if has_txn(&self.table, name, app).await? {
                    // Another exporter committed this session first: our files
                    // are referenced by no commit, and only we know them.
                    let store = self.table.object_store();
                    for a in &adds {
                        // A fresh add's path is the object's own (the log stores it URL-encoded).
                        if let Ok(p) = object_store::path::Path::parse(&a.path) {
                            let _ = store.delete(&p).await;
                        }
                    }
                    report.tables_already += 1;
                    return Ok(());
                }
            }
            let props = CommitProperties::default().with_application_transaction(Transaction::new(app, 1)).with_max_retries(15);
            let op = DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: Some(PARTITION_BY.map(String::from).to_vec()),
                predicate: None,
            };
            let actions: Vec<Action> = adds.iter().cloned().map(Action::Add).collect();
            let snapshot = self.table.snapshot().map_err(|e| delta_error(name, &e))?;
            let done = CommitBuilder::from(props).with_actions(actions).build(Some(snapshot), self.table.log_store(), op).await;
            match done {
                Ok(f) => {
                    if let Some(dir) = &self.local {
                        let log = dir.join("_delta_log");
                        sync_file(&log.join(format!("{:020}.json", f.version)))?;
                        sync_file(&log)?;
                    }
                    report.commits += 1;
                    report.retries += f.metrics.num_retries;
                    report.checkpoints += u64::from(f.metrics.new_checkpoint_created);
                    return Ok(());
                }
                Err(e) if retryable(&e) => last = e.to_string(),
                Err(e) => return Err(delta_error(name, &e)),
            }
        }
        Err(DatasetError::Options(format!(
            "Delta table {name}: the commit of {app} kept conflicting after {ATTEMPTS} attempts ({last}); run the export again (it resumes)"
        )))
    }
}

/// fsync of a file or a folder.
fn sync_file(path: &std::path::Path) -> Result<(), DatasetError> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(|e| DatasetError::io("flush to disk", path, e))
}

/// A conflict with another writer, worth a fresh look and another try.
fn retryable(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(_)
                | TransactionError::MaxCommitAttempts(_)
                | TransactionError::VersionAlreadyExists(_)
        } | DeltaTableError::VersionAlreadyExists(_)
    )
}

/// The Delta writers of one session.
struct DeltaSinks {
    tables: BTreeMap<String, Slot>,
}

/// A table that takes the session's rows, or one that has them already.
enum Slot {
    Write(Box<DeltaSink>),
    Have(Discard),
}

impl DeltaSinks {
    fn frames(&self) -> u64 {
        self.tables
            .iter()
            .filter(|(n, _)| n.starts_with("frames-"))
            .map(|(_, s)| match s {
                Slot::Write(w) => w.rows,
                Slot::Have(_) => 0,
            })
            .sum()
    }
}

impl Sinks for DeltaSinks {
    fn get(&mut self, name: &str) -> Result<&mut dyn TableSink, DatasetError> {
        match self.tables.get_mut(name) {
            Some(Slot::Write(w)) => Ok(w.as_mut()),
            Some(Slot::Have(d)) => Ok(d),
            None => Err(DatasetError::Options(format!("no table {name}"))),
        }
    }
}

/// Where rows of a table that already has the session go.
struct Discard(SchemaRef);

impl TableSink for Discard {
    fn schema(&self) -> SchemaRef {
        self.0.clone()
    }

    fn write(&mut self, _batch: &RecordBatch) -> Result<(), DatasetError> {
        Ok(())
    }
}

impl TableSink for DeltaSink {
    fn schema(&self) -> SchemaRef {
        self.tacit.clone()
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), DatasetError> {
        let rows = self.convert(batch)?;
        self.rows += rows.num_rows() as u64;
        let handle = self.io.clone();
        handle.block_on(self.writer.write(rows)).map_err(|e| delta_error(&self.name, &e))
    }
}
