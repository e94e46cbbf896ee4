//! tacit's own table format: everything at native rate, one table per kind.
//!
//! ```text
//! OUT/
//!   README.md                         dataset card: YAML configs + splits, provenance
//!   tacit.json                        layout, split spec, episodes, every data file with its rows
//!   episodes/<split>-<batch>-<part>.parquet
//!   frames-<camera>/…                 one row per recorded frame (JPEG in the HF Image struct)
//!   sensors-<sensor>/…                one row per reading, one Float64 column per channel
//!   audio/…                           WAV chunks (HF Audio struct) with sample rate and times
//!   commentary/…  words/…             transcript segments and words
//!   labels/…      events/…            annotations (all statuses) and recorder events
//! ```
//!
//! zstd Parquet (image bytes stored as they are: no compression, no
//! dictionary), sorted by (episode, time), row groups closed at 64 MiB or
//! 1 M rows, and the `huggingface` schema metadata so `datasets` decodes
//! images and audio. Splits are files: `<table>/<split>-*.parquet`.
//!
//! A fresh export is written into a temporary folder and renamed into place.
//! `append` writes only new sessions as a new batch of files (`-<batch>-`),
//! then replaces `tacit.json` and `README.md`; no data file is rewritten.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, ListArray, RecordBatch, StringArray, StructArray, UInt16Array,
    UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tacit_schema::{Progress, StreamKind};

use crate::error::DatasetError;
use crate::lerobot::group_key;
use crate::session::{Batches, Session};
use crate::split::{self, Existing, SplitSpec, Unit};
use crate::write::{check_out, commit, dir_size, json_bytes, open_sessions, replace_file, skip, temp_beside, BackgroundWriter, Closing};
use crate::ExportReport;

/// `tacit.json`'s `format_version`.
pub const FORMAT_VERSION: u32 = 1;
/// A row group closes past this many bytes in memory…
const ROW_GROUP_BYTES: usize = 64 << 20;
/// …or rows.
const ROW_GROUP_ROWS: usize = 1 << 20;
/// A new part file starts past this size.
const PART_BYTES: usize = 512 << 20;

/// What to export and how.
#[derive(Clone, Debug)]
pub struct TacitOptions {
    /// The dataset folder.
    pub out: PathBuf,
    /// Fail on the first unreadable or mismatched session instead of skipping it.
    pub strict: bool,
    /// Replace an existing dataset (after the new one is complete).
    pub replace: bool,
    /// Add sessions that are not in the dataset yet.
    pub append: bool,
    /// How sessions are split; `None` = all in `train`, or on append the dataset's own.
    pub split: Option<SplitSpec>,
    /// Seconds of audio per row of the `audio` table.
    pub audio_chunk_s: u32,
}

/// The streams every session of a dataset must have (they fix the tables' schemas).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableLayout {
    /// Camera names.
    pub cameras: Vec<String>,
    /// Sensor name → channel names.
    pub sensors: Vec<(String, Vec<String>)>,
    /// Microphone names.
    pub microphones: Vec<String>,
}

impl TableLayout {
    /// The layout of a session, from the profile it was recorded with.
    pub fn of(s: &Session) -> Self {
        let p = &s.profile;
        Self {
            cameras: p.cameras.iter().map(|c| c.name.clone()).collect(),
            sensors: p.sensors.iter().map(|x| (x.name.clone(), x.channels.iter().map(|c| c.name.clone()).collect())).collect(),
            microphones: p.microphone.iter().map(|m| m.name.clone()).collect(),
        }
    }

    /// The table names in dataset order.
    pub fn tables(&self) -> Vec<String> {
        let mut t = vec!["episodes".to_string()];
        t.extend(self.cameras.iter().map(|c| format!("frames-{c}")));
        t.extend(self.sensors.iter().map(|(s, _)| format!("sensors-{s}")));
        t.extend(["audio", "commentary", "words", "labels", "events"].map(String::from));
        t
    }

    fn describe(&self) -> String {
        let sensors: Vec<String> = self.sensors.iter().map(|(s, c)| format!("{s}({})", c.join(","))).collect();
        format!("cameras [{}], sensors [{}], microphones [{}]", self.cameras.join(", "), sensors.join(", "), self.microphones.join(", "))
    }
}

/// One episode (session) in `tacit.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpisodeEntry {
    /// Row index in the episodes table, from 0.
    pub episode_index: u64,
    /// Session id.
    pub session_id: String,
    /// Split name.
    pub split: String,
    /// Group key used for splitting.
    pub group: String,
    /// Export batch (0 = first export, then one per append).
    pub batch: u32,
    /// Station.
    pub station: String,
    /// Operator pseudonym.
    pub operator: String,
    /// Task text.
    pub task: String,
    /// RFC 3339 UTC.
    pub started_at_utc: String,
    /// Recorded time, ns.
    pub duration_ns: i64,
    /// Transcription model (name), if transcribed.
    pub transcript_model: Option<String>,
    /// SHA-256 of that model.
    pub transcript_model_sha256: Option<String>,
    /// Language of the transcript.
    pub language: Option<String>,
    /// Labels (all statuses).
    pub labels: u64,
}

/// One data file in `tacit.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Table name (`frames-front`).
    pub table: String,
    /// Split.
    pub split: String,
    /// Export batch.
    pub batch: u32,
    /// Path relative to the dataset root.
    pub path: String,
    /// Rows.
    pub rows: u64,
    /// Bytes.
    pub bytes: u64,
}

/// `tacit.json`: what the dataset holds and how it was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DatasetManifest {
    /// `tacit`.
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Version of the tacit that wrote it last.
    pub tacit_version: String,
    /// Split spec.
    pub split: SplitSpec,
    /// Seconds of audio per `audio` row.
    pub audio_chunk_s: u32,
    /// Tables' layout.
    pub layout: TableLayout,
    /// Tables in order.
    pub tables: Vec<String>,
    /// Episodes in index order.
    pub episodes: Vec<EpisodeEntry>,
    /// Every data file.
    pub files: Vec<FileEntry>,
}

impl DatasetManifest {
    /// Reads `tacit.json` of a dataset.
    pub fn read(root: &Path) -> Result<Self, DatasetError> {
        let path = root.join("tacit.json");
        let text = std::fs::read_to_string(&path).map_err(|e| DatasetError::io("read", &path, e))?;
        let m: Self = serde_json::from_str(&text)
            .map_err(|e| DatasetError::session(format!("tacit.json is not a tacit dataset manifest ({e})"), &path))?;
        if m.format != "tacit" || m.format_version != FORMAT_VERSION {
            return Err(DatasetError::session(
                format!("format {} version {} is not one this tacit reads (tacit, {FORMAT_VERSION})", m.format, m.format_version),
                &path,
            ));
        }
        Ok(m)
    }
}

/// Exports sessions as a tacit-format dataset (or appends the new ones).
pub fn export(sessions: &[PathBuf], opts: &TacitOptions, progress: &dyn Progress) -> Result<ExportReport, DatasetError> {
    check_out(&opts.out, opts.replace, opts.append)?;
    let mut report = ExportReport { out: opts.out.clone(), ..ExportReport::default() };
    let existing = if opts.append && opts.out.exists() { Some(DatasetManifest::read(&opts.out)?) } else { None };
    if let (Some(m), Some(asked)) = (&existing, &opts.split) {
        if asked.parts != m.split.parts || asked.group_by != m.split.group_by || asked.seed != m.split.seed {
            return Err(DatasetError::Options(format!(
                "{} is split {} by {} (seed {}); appending with another split would mix them: pass the same --split/--group-by/--seed, or none",
                opts.out.display(),
                m.split.describe(),
                m.split.group_by.name(),
                m.split.seed
            )));
        }
    }
    let mut opened = open_sessions(sessions, opts.strict, progress, &mut report)?;
    opened.sort_by(|a, b| a.manifest.id.cmp(&b.manifest.id));
    if let Some(m) = &existing {
        let have: BTreeSet<&str> = m.episodes.iter().map(|e| e.session_id.as_str()).collect();
        let before = opened.len();
        opened.retain(|s| !have.contains(s.manifest.id.as_str()));
        report.already = (before - opened.len()) as u64;
    }
    let layout = match (&existing, opened.first()) {
        (Some(m), _) => m.layout.clone(),
        (None, Some(first)) => TableLayout::of(first),
        (None, None) => return Err(DatasetError::Options("no session to export (none given, or all were skipped)".into())),
    };
    let mut usable = Vec::new();
    for s in &opened {
        let this = TableLayout::of(s);
        if this != layout {
            let why = format!(
                "its streams ({}) differ from the dataset's ({}); export it to another dataset",
                this.describe(),
                layout.describe()
            );
            if existing.is_some() && opts.strict {
                return Err(DatasetError::Options(format!(
                    "{} cannot take session {}: schema mismatch — {why}",
                    opts.out.display(),
                    s.manifest.id
                )));
            }
            skip(s, &why, opts.strict, progress, &mut report)?;
        } else {
            usable.push(s);
        }
    }
    if usable.is_empty() {
        if existing.is_some() {
            let why = if report.skipped.is_empty() {
                "every session is in the dataset already"
            } else {
                "no new session fits it (see the warnings)"
            };
            progress.message(&format!("{}: {why}; nothing to add", opts.out.display()));
            report.bytes = dir_size(&opts.out);
            return Ok(report);
        }
        return Err(DatasetError::Options("no session could be exported (see the warnings)".into()));
    }
    let spec = existing.as_ref().map(|m| m.split.clone()).or_else(|| opts.split.clone()).unwrap_or_default();
    let mut manifest = existing.clone().unwrap_or_else(|| DatasetManifest {
        format: "tacit".into(),
        format_version: FORMAT_VERSION,
        tacit_version: env!("CARGO_PKG_VERSION").into(),
        split: spec.clone(),
        audio_chunk_s: opts.audio_chunk_s.max(1),
        tables: layout.tables(),
        layout: layout.clone(),
        episodes: Vec::new(),
        files: Vec::new(),
    });
    manifest.tacit_version = env!("CARGO_PKG_VERSION").into();
    let batch = manifest.episodes.iter().map(|e| e.batch + 1).max().unwrap_or(0);
    // Splits: groups already in the dataset keep theirs.
    let mut known = Existing::default();
    for e in &manifest.episodes {
        known.groups.insert(e.group.clone(), e.split.clone());
        *known.weight.entry(e.split.clone()).or_default() += e.duration_ns;
    }
    let units: Vec<Unit> = usable.iter().map(|s| Unit { group: group_key(s, spec.group_by), weight: s.manifest.duration_ns }).collect();
    let splits = split::assign(&spec, &units, &known);

    let tmp = temp_beside(&opts.out, if existing.is_some() { "append" } else { "tmp" })?;
    let result = write_batch(&tmp, &usable, &splits, &units, &mut manifest, batch, progress);
    let files = match result {
        Ok(f) => f,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let name = opts.out.file_name().and_then(|n| n.to_str()).unwrap_or("dataset").to_string();
    let write_meta = |root: &Path, m: &DatasetManifest| -> Result<(), DatasetError> {
        let j = serde_json::to_value(m).map_err(|e| DatasetError::write(e, root))?;
        replace_file(&root.join("tacit.json"), &json_bytes(&j, root)?)?;
        replace_file(&root.join("README.md"), card(m, &name).as_bytes())
    };
    if existing.is_none() {
        write_meta(&tmp, &manifest)?;
        commit(&tmp, &opts.out)?;
    } else {
        // New files first (each a rename), then the manifest and card.
        for f in &files {
            let from = tmp.join(&f.path);
            let to = opts.out.join(&f.path);
            if let Some(d) = to.parent() {
                std::fs::create_dir_all(d).map_err(|e| DatasetError::io("create", d, e))?;
            }
            std::fs::rename(&from, &to).map_err(|e| DatasetError::io("move into the dataset", &to, e))?;
        }
        let _ = std::fs::remove_dir_all(&tmp);
        write_meta(&opts.out, &manifest)?;
    }
    report.episodes = usable.len();
    report.frames = files.iter().filter(|f| f.table.starts_with("frames-")).map(|f| f.rows).sum();
    report.bytes = dir_size(&opts.out);
    Ok(report)
}

/// Writes one batch of sessions into `root`; adds episodes and files to the manifest.
fn write_batch(
    root: &Path,
    sessions: &[&Session],
    splits: &[String],
    units: &[Unit],
    manifest: &mut DatasetManifest,
    batch: u32,
    progress: &dyn Progress,
) -> Result<Vec<FileEntry>, DatasetError> {
    let layout = manifest.layout.clone();
    let total: u64 = sessions.iter().map(|s| s.streams(StreamKind::Camera).map(|c| c.count).sum::<u64>()).sum();
    progress.start("exporting", total);
    let mut new_files = Vec::new();
    let mut next_episode = manifest.episodes.len() as u64;
    let spec = manifest.split.clone();
    for (split_name, _) in &spec.parts {
        let members: Vec<usize> = (0..sessions.len()).filter(|&i| &splits[i] == split_name).collect();
        if members.is_empty() {
            continue;
        }
        let mut tables = Tables::new(root, &layout, split_name, batch)?;
        for i in members {
            let s = sessions[i];
            let entry = EpisodeEntry {
                episode_index: next_episode,
                session_id: s.manifest.id.clone(),
                split: split_name.clone(),
                group: units[i].group.clone(),
                batch,
                station: s.manifest.station.clone(),
                operator: s.manifest.operator.clone(),
                task: s.manifest.task.clone(),
                started_at_utc: s.manifest.started_at_utc.clone(),
                duration_ns: s.manifest.duration_ns,
                transcript_model: s.manifest.transcript.as_ref().map(|t| t.model.clone()),
                transcript_model_sha256: s.manifest.transcript.as_ref().map(|t| t.model_sha256.clone()),
                language: s.manifest.transcript.as_ref().map(|t| t.detected_language.clone()),
                labels: s.labels.labels.len() as u64,
            };
            write_session(s, &entry, &layout, manifest.audio_chunk_s, &mut tables, progress)?;
            manifest.episodes.push(entry);
            next_episode += 1;
        }
        new_files.extend(tables.finish()?);
    }
    progress.finish();
    manifest.files.extend(new_files.iter().cloned());
    Ok(new_files)
}

/// A table's files for one split and batch, rolling to a new part past [`PART_BYTES`].
struct TableFiles {
    name: String,
    schema: SchemaRef,
    props: WriterProperties,
    root: PathBuf,
    split: String,
    batch: u32,
    part: u32,
    /// The open part: its writer thread, path, rows, and batches since the size was last asked.
    writer: Option<(BackgroundWriter, String, u64, u32)>,
    /// Parts sealing in the background.
    closing: Vec<(Closing, FileEntry)>,
    done: Vec<FileEntry>,
}

impl TableFiles {
    fn rel(&self) -> String {
        format!("{}/{}-{:03}-{:03}.parquet", self.name, self.split, self.batch, self.part)
    }

    fn open(&mut self) -> Result<(), DatasetError> {
        let rel = self.rel();
        let w = BackgroundWriter::create(&self.root.join(&rel), self.schema.clone(), self.props.clone(), Some(ROW_GROUP_BYTES))?;
        self.writer = Some((w, rel, 0, 0));
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), DatasetError> {
        if self.writer.is_none() {
            self.open()?;
        }
        let Some((w, _, rows, since)) = self.writer.as_mut() else { return Ok(()) };
        *rows += batch.num_rows() as u64;
        w.write(batch.clone())?;
        *since += 1;
        // Asking the size waits for the queue: do it now and then.
        if *since >= 16 {
            *since = 0;
            if w.bytes_written()? > PART_BYTES {
                self.close()?;
                self.part += 1;
            }
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), DatasetError> {
        if let Some((w, rel, rows, _)) = self.writer.take() {
            let entry = FileEntry { table: self.name.clone(), split: self.split.clone(), batch: self.batch, path: rel, rows, bytes: 0 };
            self.closing.push((w.close(), entry));
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<FileEntry>, DatasetError> {
        if self.done.is_empty() && self.writer.is_none() {
            self.open()?; // every split has every table, even with no rows
        }
        self.close()?;
        for (c, mut entry) in std::mem::take(&mut self.closing) {
            c.wait()?;
            entry.bytes = std::fs::metadata(self.root.join(&entry.path)).map(|m| m.len()).unwrap_or(0);
            self.done.push(entry);
        }
        Ok(self.done)
    }
}

/// The writers of one split and batch.
struct Tables {
    files: BTreeMap<String, TableFiles>,
}

impl Tables {
    fn new(root: &Path, layout: &TableLayout, split: &str, batch: u32) -> Result<Self, DatasetError> {
        let mut files = BTreeMap::new();
        for name in layout.tables() {
            let schema = table_schema(&name, layout)?;
            let props = table_props(&schema);
            files.insert(
                name.clone(),
                TableFiles {
                    name,
                    schema,
                    props,
                    root: root.to_path_buf(),
                    split: split.into(),
                    batch,
                    part: 0,
                    writer: None,
                    closing: Vec::new(),
                    done: Vec::new(),
                },
            );
        }
        Ok(Self { files })
    }

    fn get(&mut self, name: &str) -> Result<&mut TableFiles, DatasetError> {
        self.files.get_mut(name).ok_or_else(|| DatasetError::Options(format!("no table {name}")))
    }

    fn finish(self) -> Result<Vec<FileEntry>, DatasetError> {
        let mut out = Vec::new();
        for (_, t) in self.files {
            out.extend(t.finish()?);
        }
        Ok(out)
    }
}

fn f(name: &str, t: DataType, nullable: bool) -> Field {
    Field::new(name, t, nullable)
}

fn blob_fields() -> Fields {
    Fields::from(vec![f("bytes", DataType::Binary, true), f("path", DataType::Utf8, true)])
}

fn keys() -> Vec<Field> {
    vec![f("episode_index", DataType::Int64, false), f("session_id", DataType::Utf8, false)]
}

/// The Arrow schema of a table (with its Hugging Face features as metadata).
pub fn table_schema(name: &str, layout: &TableLayout) -> Result<SchemaRef, DatasetError> {
    let mut fields = keys();
    let timed = [f("t_ns", DataType::Int64, false), f("timestamp", DataType::Float64, false)];
    match name {
        "episodes" => {
            fields.extend([
                f("split", DataType::Utf8, false),
                f("station", DataType::Utf8, false),
                f("site", DataType::Utf8, false),
                f("operator", DataType::Utf8, false),
                f("task", DataType::Utf8, false),
                f("started_at_utc", DataType::Utf8, false),
                f("duration_ns", DataType::Int64, false),
                f("duration_s", DataType::Float64, false),
                f("status", DataType::Utf8, false),
                f("transcribed", DataType::Boolean, false),
                f("reviewed", DataType::Boolean, false),
                f("transcript_model", DataType::Utf8, true),
                f("language", DataType::Utf8, true),
                f("labels", DataType::Int64, false),
            ]);
        }
        "audio" => fields.extend([
            f("stream", DataType::Utf8, false),
            f("chunk_index", DataType::Int64, false),
            f("sample_index", DataType::UInt64, false),
            f("samples", DataType::UInt64, false),
            f("start_ns", DataType::Int64, false),
            f("end_ns", DataType::Int64, false),
            f("sample_rate", DataType::UInt32, false),
            f("channels", DataType::UInt16, false),
            f("audio", DataType::Struct(blob_fields()), true),
        ]),
        "commentary" => fields.extend([
            f("segment_id", DataType::UInt32, false),
            f("start_ns", DataType::Int64, false),
            f("end_ns", DataType::Int64, false),
            f("text", DataType::Utf8, false),
            f("language", DataType::Utf8, false),
            f("avg_logprob", DataType::Float32, false),
            f("no_speech_prob", DataType::Float32, false),
        ]),
        "words" => fields.extend([
            f("segment_id", DataType::UInt32, false),
            f("word_index", DataType::UInt32, false),
            f("start_ns", DataType::Int64, false),
            f("end_ns", DataType::Int64, false),
            f("word", DataType::Utf8, false),
            f("probability", DataType::Float32, false),
        ]),
        "labels" => fields.extend([
            f("label_id", DataType::Utf8, false),
            f("tier", DataType::Utf8, false),
            f("value", DataType::Utf8, false),
            f("start_ns", DataType::Int64, false),
            f("end_ns", DataType::Int64, false),
            f("author", DataType::Utf8, false),
            f("status", DataType::Utf8, false),
            f("created_at_utc", DataType::Utf8, false),
            f("updated_at_utc", DataType::Utf8, false),
        ]),
        "events" => {
            fields.extend(timed);
            fields.extend([f("kind", DataType::Utf8, false), f("label", DataType::Utf8, false), f("source", DataType::Utf8, false)]);
        }
        n if n.starts_with("frames-") => {
            fields.extend(timed);
            fields.extend([
                f("seq", DataType::UInt64, false),
                f("width", DataType::UInt32, false),
                f("height", DataType::UInt32, false),
                f("image", DataType::Struct(blob_fields()), true),
            ]);
        }
        n if n.starts_with("sensors-") => {
            let sensor = &n["sensors-".len()..];
            let Some((_, chans)) = layout.sensors.iter().find(|(s, _)| s == sensor) else {
                return Err(DatasetError::Options(format!("no sensor {sensor} in the layout")));
            };
            fields.extend(timed);
            fields.push(f("device_ts_ns", DataType::Int64, true));
            fields.extend(chans.iter().map(|c| f(c, DataType::Float64, true)));
        }
        other => return Err(DatasetError::Options(format!("unknown table {other}"))),
    }
    let mut hf = serde_json::Map::new();
    for fl in &fields {
        let v = match (fl.name().as_str(), fl.data_type()) {
            ("image", DataType::Struct(_)) => json!({"_type": "Image"}),
            ("audio", DataType::Struct(_)) => json!({"_type": "Audio"}),
            (_, t) => json!({"dtype": hf_dtype(t), "_type": "Value"}),
        };
        hf.insert(fl.name().clone(), v);
    }
    let meta = json!({"info": {"features": hf}}).to_string();
    Ok(Arc::new(Schema::new(fields).with_metadata([("huggingface".to_string(), meta)].into_iter().collect())))
}

fn hf_dtype(t: &DataType) -> &'static str {
    match t {
        DataType::Int64 => "int64",
        DataType::UInt64 => "uint64",
        DataType::UInt32 => "uint32",
        DataType::UInt16 => "uint16",
        DataType::Float64 => "float64",
        DataType::Float32 => "float32",
        DataType::Boolean => "bool",
        _ => "string",
    }
}

fn table_props(schema: &Schema) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("tacit {}", env!("CARGO_PKG_VERSION")));
    for fl in schema.fields() {
        if let DataType::Struct(_) = fl.data_type() {
            let col = ColumnPath::new(vec![fl.name().clone(), "bytes".into()]);
            b = b.set_column_dictionary_enabled(col.clone(), false);
            if fl.name() == "image" {
                // JPEG is incompressible: store it as it is.
                b = b.set_column_compression(col, Compression::UNCOMPRESSED);
            }
        }
    }
    b.build()
}

fn repeat_i64(v: i64, n: usize) -> ArrayRef {
    Arc::new(Int64Array::from_value(v, n))
}

fn repeat_str(v: &str, n: usize) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, n)))
}

fn timestamps(t: &Int64Array) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(t.values().iter().map(|v| *v as f64 / 1e9)))
}

fn column<'a, T: 'static>(b: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a T, DatasetError> {
    b.column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| DatasetError::session(format!("column {name} is missing or of the wrong type"), path))
}

fn emit(t: &mut TableFiles, columns: Vec<ArrayRef>, at: &Path) -> Result<(), DatasetError> {
    let batch = RecordBatch::try_new(t.schema.clone(), columns).map_err(|e| DatasetError::write(e, at))?;
    t.write(&batch)
}

fn write_session(
    s: &Session,
    e: &EpisodeEntry,
    layout: &TableLayout,
    audio_chunk_s: u32,
    tables: &mut Tables,
    progress: &dyn Progress,
) -> Result<(), DatasetError> {
    let ep = e.episode_index as i64;
    let sid = e.session_id.as_str();
    let m = &s.manifest;
    // episodes
    {
        let t = tables.get("episodes")?;
        let cols: Vec<ArrayRef> = vec![
            repeat_i64(ep, 1),
            repeat_str(sid, 1),
            repeat_str(&e.split, 1),
            repeat_str(&m.station, 1),
            repeat_str(&m.site, 1),
            repeat_str(&m.operator, 1),
            repeat_str(&m.task, 1),
            repeat_str(&m.started_at_utc, 1),
            repeat_i64(m.duration_ns, 1),
            Arc::new(Float64Array::from(vec![m.duration_ns as f64 / 1e9])),
            repeat_str(m.status.name(), 1),
            Arc::new(BooleanArray::from(vec![m.transcribed])),
            Arc::new(BooleanArray::from(vec![m.reviewed])),
            Arc::new(StringArray::from(vec![e.transcript_model.clone()])),
            Arc::new(StringArray::from(vec![e.language.clone()])),
            repeat_i64(e.labels as i64, 1),
        ];
        emit(t, cols, &s.dir)?;
    }
    // frames: the recorded columns are reused as they are (no copy of JPEG bytes).
    for cam in &layout.cameras {
        let Some(info) = s.streams(StreamKind::Camera).find(|x| &x.name == cam) else {
            return Err(DatasetError::session(format!("camera {cam} is in the profile but not in the session"), &s.dir));
        };
        let mut src = Batches::new(&s.dir, info);
        let t = tables.get(&format!("frames-{cam}"))?;
        while let Some(b) = src.next()? {
            let n = b.num_rows();
            let tn = column::<Int64Array>(&b, "t_ns", &s.dir)?;
            let seq = column::<UInt64Array>(&b, "seq", &s.dir)?;
            let data = column::<BinaryArray>(&b, "data", &s.dir)?;
            let mut paths = StringBuilder::with_capacity(n, n * 32);
            for v in seq.values() {
                paths.append_value(format!("{sid}/{cam}/{v:08}.jpg"));
            }
            let image = StructArray::try_new(blob_fields(), vec![Arc::new(data.clone()), Arc::new(paths.finish())], None)
                .map_err(|e| DatasetError::write(e, &s.dir))?;
            let cols: Vec<ArrayRef> = vec![
                repeat_i64(ep, n),
                repeat_str(sid, n),
                Arc::new(tn.clone()),
                timestamps(tn),
                Arc::new(seq.clone()),
                Arc::new(column::<UInt32Array>(&b, "width", &s.dir)?.clone()),
                Arc::new(column::<UInt32Array>(&b, "height", &s.dir)?.clone()),
                Arc::new(image),
            ];
            emit(t, cols, &s.dir)?;
            progress.advance(n as u64);
            if progress.cancelled() {
                return Err(DatasetError::Cancelled);
            }
        }
    }
    // sensors at native rate
    for (sensor, chans) in &layout.sensors {
        let Some(info) = s.streams(StreamKind::Sensor).find(|x| &x.name == sensor) else {
            return Err(DatasetError::session(format!("sensor {sensor} is in the profile but not in the session"), &s.dir));
        };
        let mut src = Batches::new(&s.dir, info);
        let t = tables.get(&format!("sensors-{sensor}"))?;
        while let Some(b) = src.next()? {
            let n = b.num_rows();
            let tn = column::<Int64Array>(&b, "t_ns", &s.dir)?;
            let dev: ArrayRef = match b.column_by_name("device_ts_ns") {
                Some(c) if c.data_type() == &DataType::Int64 => c.clone(),
                _ => Arc::new(Int64Array::new_null(n)),
            };
            let mut cols: Vec<ArrayRef> = vec![repeat_i64(ep, n), repeat_str(sid, n), Arc::new(tn.clone()), timestamps(tn), dev];
            for c in chans {
                cols.push(match b.column_by_name(c) {
                    Some(a) if a.data_type() == &DataType::Float64 => a.clone(),
                    _ => Arc::new(Float64Array::new_null(n)),
                });
            }
            emit(t, cols, &s.dir)?;
        }
    }
    write_audio(s, ep, sid, layout, audio_chunk_s, tables.get("audio")?)?;
    write_transcript(s, ep, sid, tables)?;
    // labels (every status: this is the full record; filter on `status`)
    {
        let l = &s.labels.labels;
        let n = l.len();
        let strs =
            |g: &dyn Fn(&tacit_schema::LabelSegment) -> &str| -> ArrayRef { Arc::new(StringArray::from_iter_values(l.iter().map(g))) };
        let cols: Vec<ArrayRef> = vec![
            repeat_i64(ep, n),
            repeat_str(sid, n),
            strs(&|x| x.id.as_str()),
            strs(&|x| x.tier.as_str()),
            strs(&|x| x.value.as_str()),
            Arc::new(Int64Array::from_iter_values(l.iter().map(|x| x.start_ns))),
            Arc::new(Int64Array::from_iter_values(l.iter().map(|x| x.end_ns))),
            strs(&|x| x.author.as_str()),
            strs(&|x| x.status.as_str()),
            strs(&|x| x.created_at_utc.as_str()),
            strs(&|x| x.updated_at_utc.as_str()),
        ];
        emit(tables.get("labels")?, cols, &s.dir)?;
    }
    // events
    if let Some(info) = s.streams(StreamKind::Events).next() {
        let mut src = Batches::new(&s.dir, info);
        let t = tables.get("events")?;
        while let Some(b) = src.next()? {
            let n = b.num_rows();
            let tn = column::<Int64Array>(&b, "t_ns", &s.dir)?;
            let cols: Vec<ArrayRef> = vec![
                repeat_i64(ep, n),
                repeat_str(sid, n),
                Arc::new(tn.clone()),
                timestamps(tn),
                Arc::new(column::<StringArray>(&b, "kind", &s.dir)?.clone()),
                Arc::new(column::<StringArray>(&b, "label", &s.dir)?.clone()),
                Arc::new(column::<StringArray>(&b, "source", &s.dir)?.clone()),
            ];
            emit(t, cols, &s.dir)?;
        }
    }
    Ok(())
}

/// Session time of an audio sample index, through the stream's sync fit.
fn audio_ns(info: &tacit_schema::StreamInfo, sample: u64, rate: u32) -> i64 {
    let device_ns = (i128::from(sample) * 1_000_000_000 / i128::from(rate.max(1))) as i64;
    match info.sync.as_ref().and_then(|f| f.map(device_ns)) {
        Some(t) => t.round() as i64,
        None => info.first_t_ns.unwrap_or(0) + device_ns,
    }
}

fn write_audio(s: &Session, ep: i64, sid: &str, layout: &TableLayout, chunk_s: u32, t: &mut TableFiles) -> Result<(), DatasetError> {
    for mic in &layout.microphones {
        let Some(info) = s.streams(StreamKind::Audio).find(|x| &x.name == mic) else {
            return Err(DatasetError::session(format!("microphone {mic} is in the profile but not in the session"), &s.dir));
        };
        let Some(file) = info.files.iter().find(|f| f.ends_with(".wav")) else {
            return Err(DatasetError::session(format!("microphone {mic} has no WAV file"), &s.dir));
        };
        let path = s.dir.join(file);
        let bad = |e: &dyn std::fmt::Display| DatasetError::session(format!("{e}; run `tacit recover` on the session"), &path);
        let mut reader = hound::WavReader::open(&path).map_err(|e| bad(&e))?;
        let spec = reader.spec();
        if spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
            return Err(bad(&"the WAV is not 16-bit PCM as tacit records it"));
        }
        let per_chunk = u64::from(spec.sample_rate) * u64::from(chunk_s.max(1)) * u64::from(spec.channels);
        let mut samples = reader.samples::<i16>();
        let mut chunk_index = 0i64;
        let mut first: u64 = 0;
        loop {
            let mut buf: Vec<i16> = Vec::with_capacity(per_chunk as usize);
            for v in samples.by_ref().take(per_chunk as usize) {
                buf.push(v.map_err(|e| bad(&e))?);
            }
            if buf.is_empty() {
                break;
            }
            let frames = (buf.len() / usize::from(spec.channels.max(1))) as u64;
            let mut wav = Cursor::new(Vec::with_capacity(buf.len() * 2 + 44));
            {
                let mut w = hound::WavWriter::new(&mut wav, spec).map_err(|e| DatasetError::write(e, &path))?;
                let mut w16 = w.get_i16_writer(buf.len() as u32);
                for v in &buf {
                    w16.write_sample(*v);
                }
                w16.flush().map_err(|e| DatasetError::write(e, &path))?;
                w.finalize().map_err(|e| DatasetError::write(e, &path))?;
            }
            let audio = StructArray::try_new(
                blob_fields(),
                vec![
                    Arc::new(BinaryArray::from_vec(vec![wav.get_ref().as_slice()])),
                    Arc::new(StringArray::from(vec![format!("{sid}/{mic}-{chunk_index:04}.wav")])),
                ],
                None,
            )
            .map_err(|e| DatasetError::write(e, &path))?;
            let cols: Vec<ArrayRef> = vec![
                repeat_i64(ep, 1),
                repeat_str(sid, 1),
                repeat_str(mic, 1),
                repeat_i64(chunk_index, 1),
                Arc::new(UInt64Array::from(vec![first])),
                Arc::new(UInt64Array::from(vec![frames])),
                repeat_i64(audio_ns(info, first, spec.sample_rate), 1),
                repeat_i64(audio_ns(info, first + frames, spec.sample_rate), 1),
                Arc::new(UInt32Array::from(vec![spec.sample_rate])),
                Arc::new(UInt16Array::from(vec![spec.channels])),
                Arc::new(audio),
            ];
            emit(t, cols, &s.dir)?;
            first += frames;
            chunk_index += 1;
        }
    }
    Ok(())
}

fn write_transcript(s: &Session, ep: i64, sid: &str, tables: &mut Tables) -> Result<(), DatasetError> {
    let path = s.dir.join(tacit_session::layout::TRANSCRIPT);
    let Some(batches) = tacit_session::transcript::read_batches(&path)? else { return Ok(()) };
    let bad = |e: &dyn std::fmt::Display| {
        DatasetError::session(format!("transcript.parquet cannot be read ({e}); run `tacit transcribe` again"), &path)
    };
    for b in batches {
        let n = b.num_rows();
        let mut cols: Vec<ArrayRef> = vec![repeat_i64(ep, n), repeat_str(sid, n)];
        for name in ["segment_id", "start_ns", "end_ns", "text", "language", "avg_logprob", "no_speech_prob"] {
            cols.push(b.column_by_name(name).cloned().ok_or_else(|| bad(&format!("no column {name}")))?);
        }
        if !s.labels.transcript_edits.is_empty() {
            // The trainer's corrections replace the machine text (which stays in the session).
            let ids = column::<UInt32Array>(&b, "segment_id", &path)?;
            let starts = column::<Int64Array>(&b, "start_ns", &path)?;
            let texts = column::<StringArray>(&b, "text", &path)?;
            let edited: StringArray =
                (0..n).map(|i| Some(s.labels.edited_text(ids.value(i), starts.value(i)).unwrap_or(texts.value(i)))).collect();
            cols[5] = Arc::new(edited);
        }
        emit(tables.get("commentary")?, cols, &s.dir)?;
        let words = column::<ListArray>(&b, "words", &path)?;
        let items = words.values().as_any().downcast_ref::<StructArray>().ok_or_else(|| bad(&"words is not a list of structs"))?;
        let get = |name: &str| items.column_by_name(name).cloned().ok_or_else(|| bad(&format!("no word field {name}")));
        let m = items.len();
        let offsets = words.value_offsets();
        let mut word_index = Vec::with_capacity(m);
        for w in offsets.windows(2) {
            word_index.extend(0..(w[1] - w[0]) as u32);
        }
        let start = offsets.first().copied().unwrap_or(0) as usize;
        let end = offsets.last().copied().unwrap_or(0) as usize;
        let slice = |a: ArrayRef| a.slice(start, end - start);
        let cols: Vec<ArrayRef> = vec![
            repeat_i64(ep, end - start),
            repeat_str(sid, end - start),
            slice(get("segment_id")?),
            Arc::new(UInt32Array::from(word_index)),
            slice(get("start_ns")?),
            slice(get("end_ns")?),
            slice(get("word")?),
            slice(get("probability")?),
        ];
        emit(tables.get("words")?, cols, &s.dir)?;
    }
    Ok(())
}

/// The dataset card: YAML front matter with one config per table and its
/// splits, then provenance for people.
fn card(m: &DatasetManifest, name: &str) -> String {
    let mut splits: Vec<&str> = Vec::new();
    for (s, _) in &m.split.parts {
        if m.episodes.iter().any(|e| &e.split == s) {
            splits.push(s);
        }
    }
    let langs: BTreeSet<&str> = m.episodes.iter().filter_map(|e| e.language.as_deref()).filter(|l| !l.is_empty() && *l != "auto").collect();
    let mut y = String::from("---\n");
    y += &format!("pretty_name: {}\n", yaml_str(name));
    y += "license: other\n";
    if !langs.is_empty() {
        y += "language:\n";
        for l in &langs {
            y += &format!("- {l}\n");
        }
    }
    y += "task_categories:\n- robotics\ntags:\n- tacit\n- skilled-work\n- commentary\nconfigs:\n";
    for t in &m.tables {
        y += &format!("- config_name: {t}\n");
        if t == "episodes" {
            y += "  default: true\n";
        }
        y += "  data_files:\n";
        for s in &splits {
            y += &format!("  - split: {s}\n    path: {t}/{s}-*.parquet\n");
        }
    }
    y += "---\n\n";
    let mut b = y;
    b += &format!("# {name}\n\n");
    b += "Recordings of skilled work — cameras, the worker's spoken commentary, process sensors — on one clock, \
          exported by tacit in its own table format: every stream at its native rate.\n\n";
    let hours: f64 = m.episodes.iter().map(|e| e.duration_ns as f64).sum::<f64>() / 3.6e12;
    b += &format!("{} episodes (one per recorded session), {:.2} h recorded.\n\n", m.episodes.len(), hours);
    b += "## Tables\n\n| config | one row per | rows |\n|---|---|---|\n";
    for t in &m.tables {
        let rows: u64 = m.files.iter().filter(|f| &f.table == t).map(|f| f.rows).sum();
        let what = match t.as_str() {
            "episodes" => "session (station, operator, task, split, status)".to_string(),
            "audio" => format!("{} s of a microphone (WAV bytes, sample rate)", m.audio_chunk_s),
            "commentary" => "transcript segment".into(),
            "words" => "transcript word with its time".into(),
            "labels" => "label segment of a trainer (all review statuses)".into(),
            "events" => "recorder event (start, stop, marker, device error)".into(),
            x => match (x.strip_prefix("frames-"), x.strip_prefix("sensors-")) {
                (Some(cam), _) => format!("frame of camera `{cam}` (JPEG as recorded)"),
                (_, Some(sensor)) => format!("reading of sensor `{sensor}` (one column per channel)"),
                _ => x.to_string(),
            },
        };
        b += &format!("| `{t}` | {what} | {rows} |\n");
    }
    b += "\nTimes are `t_ns`/`start_ns`/`end_ns`: nanoseconds since the session's start (its own clock); \
          `timestamp` is the same in seconds. Join tables on `episode_index` (or `session_id`) and time.\n\n";
    b += "## Splits\n\n";
    b += &format!(
        "By session, never by frame: `{}`, grouped by {}, seed {}. A group never spans two splits.\n\n| split | episodes | hours |\n|---|---|---|\n",
        m.split.describe(),
        m.split.group_by.name(),
        m.split.seed
    );
    for s in &splits {
        let eps: Vec<&EpisodeEntry> = m.episodes.iter().filter(|e| e.split == *s).collect();
        b += &format!("| {s} | {} | {:.3} |\n", eps.len(), eps.iter().map(|e| e.duration_ns as f64).sum::<f64>() / 3.6e12);
    }
    b += "\n## Provenance\n\n";
    let stations: BTreeSet<&str> = m.episodes.iter().map(|e| e.station.as_str()).collect();
    b += &format!("- Stations: {}\n", stations.into_iter().collect::<Vec<_>>().join(", "));
    let operators: BTreeSet<&str> = m.episodes.iter().map(|e| e.operator.as_str()).collect();
    b += &format!("- Operators: {} (pseudonyms)\n", operators.len());
    let models: BTreeSet<(String, String)> = m
        .episodes
        .iter()
        .filter_map(|e| Some((e.transcript_model.clone()?, e.transcript_model_sha256.clone().unwrap_or_default())))
        .collect();
    if models.is_empty() {
        b += "- Transcription: none\n";
    }
    for (model, sha) in &models {
        b += &format!("- Transcribed locally with Whisper `{model}` (ggml, SHA-256 `{}`)\n", sha.get(..16).unwrap_or(sha));
    }
    let batches = m.episodes.iter().map(|e| e.batch).max().unwrap_or(0) + 1;
    b += &format!(
        "- Export: tacit {}, format `tacit` v{}, {} batch(es) (each `--append` adds one; data files are never rewritten), audio in {} s chunks\n\n",
        m.tacit_version, m.format_version, batches, m.audio_chunk_s
    );
    b += "| episode | session | station | operator | task | minutes | split |\n|---|---|---|---|---|---|---|\n";
    for e in &m.episodes {
        b += &format!(
            "| {} | {} | {} | {} | {} | {:.2} | {} |\n",
            e.episode_index,
            e.session_id,
            e.station,
            e.operator,
            e.task.replace('|', "\\|"),
            e.duration_ns as f64 / 6e10,
            e.split
        );
    }
    b += "\n## Loading\n\n```python\nfrom datasets import load_dataset\nepisodes = load_dataset(\"path/to/this/folder\", \"episodes\")\n";
    if let Some(c) = m.layout.cameras.first() {
        b += &format!("frames = load_dataset(\"path/to/this/folder\", \"frames-{c}\", split=\"{}\")\n", splits.first().unwrap_or(&"train"));
    }
    b += "```\n\n```sql\n-- DuckDB\nSELECT tier, value, count(*) FROM 'labels/*.parquet' GROUP BY ALL;\n```\n";
    b
}

fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Rows per table (summing `tacit.json`).
pub fn rows_per_table(m: &DatasetManifest) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for f in &m.files {
        *out.entry(f.table.clone()).or_default() += f.rows;
    }
    out
}

/// `tacit.json` as a JSON value (for `inspect --json`).
pub fn manifest_json(m: &DatasetManifest) -> Value {
    serde_json::to_value(m).unwrap_or(Value::Null)
}
