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
use crate::session::{Batches, Session};
use crate::split::{self, group_key, Existing, SplitSpec, Unit};
use crate::write::{
    check_out, commit, dir_size, json_bytes, move_into, open_sessions, replace_file, skip, temp_beside, BackgroundWriter, Closing,
};
use crate::ExportReport;
use tacit_session::audio::Wav;
use tacit_session::Staging;

mod card;
mod files;
mod rows;
mod schema;
pub mod validate;

use card::card;
use files::write_batch;
pub(crate) use rows::write_session;
use schema::blob_fields;
pub use schema::table_schema;
pub(crate) use schema::{table_props, table_props_builder};

/// `tacit.json`'s `format_version`.
pub const FORMAT_VERSION: u32 = 1;
/// A row group closes past this many bytes in memory…
pub(crate) const ROW_GROUP_BYTES: usize = 64 << 20;
/// …or rows.
const ROW_GROUP_ROWS: usize = 1 << 20;
/// A new part file starts past this size.
const PART_BYTES: usize = 512 << 20;

/// Where one table's rows go: a Parquet part file of the folder format, or a
/// Delta table's writer.
pub(crate) trait TableSink {
    /// The schema every batch must have.
    fn schema(&self) -> SchemaRef;
    /// Writes one batch.
    fn write(&mut self, batch: &RecordBatch) -> Result<(), DatasetError>;
}

/// The sinks of every table of one export.
pub(crate) trait Sinks {
    /// The sink of table `name`.
    fn get(&mut self, name: &str) -> Result<&mut dyn TableSink, DatasetError>;
}

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

impl EpisodeEntry {
    /// The entry of session `s`, from its manifest and labels.
    pub(crate) fn of(s: &Session, episode_index: u64, split: String, group: String, batch: u32) -> Self {
        let m = &s.manifest;
        Self {
            episode_index,
            session_id: m.id.clone(),
            split,
            group,
            batch,
            station: m.station.clone(),
            operator: m.operator.clone(),
            task: m.task.clone(),
            started_at_utc: m.started_at_utc.clone(),
            duration_ns: m.duration_ns,
            transcript_model: m.transcript.as_ref().map(|t| t.model.clone()),
            transcript_model_sha256: m.transcript.as_ref().map(|t| t.model_sha256.clone()),
            language: m.transcript.as_ref().map(|t| t.detected_language.clone()),
            labels: s.labels.labels.len() as u64,
        }
    }
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
    if let Some(m) = &existing {
        same_split(m, opts)?;
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
    let usable = fitting(&opened, &layout, existing.is_some(), opts, progress, &mut report)?;
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
    // On any error below, `tmp` is removed as it drops.
    let files = write_batch(tmp.path(), &usable, &splits, &units, &mut manifest, batch, progress)?;
    place_output(tmp, opts, &manifest, &files, existing.is_some())?;
    report.episodes = usable.len();
    report.frames = files.iter().filter(|f| f.table.starts_with("frames-")).map(|f| f.rows).sum();
    report.bytes = dir_size(&opts.out);
    Ok(report)
}

/// On append, the split asked for (if any) must be the dataset's own.
fn same_split(m: &DatasetManifest, opts: &TacitOptions) -> Result<(), DatasetError> {
    if let Some(asked) = &opts.split {
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
    Ok(())
}

/// The sessions whose streams match the dataset's layout; the others are
/// skipped (or, appending with `--strict`, refused).
fn fitting<'s>(
    opened: &'s [Session],
    layout: &TableLayout,
    appending: bool,
    opts: &TacitOptions,
    progress: &dyn Progress,
    report: &mut ExportReport,
) -> Result<Vec<&'s Session>, DatasetError> {
    let mut usable = Vec::new();
    for s in opened {
        let this = TableLayout::of(s);
        if &this != layout {
            let why = format!(
                "its streams ({}) differ from the dataset's ({}); export it to another dataset",
                this.describe(),
                layout.describe()
            );
            if appending && opts.strict {
                return Err(DatasetError::Options(format!(
                    "{} cannot take session {}: schema mismatch — {why}",
                    opts.out.display(),
                    s.manifest.id
                )));
            }
            skip(s, &why, opts.strict, progress, report)?;
        } else {
            usable.push(s);
        }
    }
    Ok(usable)
}

/// A fresh export: the manifest and card into `tmp`, then `tmp` renamed to
/// the dataset. An append: each new file moved in, then the manifest and card replaced.
fn place_output(
    tmp: Staging,
    opts: &TacitOptions,
    manifest: &DatasetManifest,
    files: &[FileEntry],
    appending: bool,
) -> Result<(), DatasetError> {
    let name = opts.out.file_name().and_then(|n| n.to_str()).unwrap_or("dataset").to_string();
    let write_meta = |root: &Path, m: &DatasetManifest| -> Result<(), DatasetError> {
        let j = serde_json::to_value(m).map_err(|e| DatasetError::write(e, root))?;
        replace_file(&root.join("tacit.json"), &json_bytes(&j, root)?)?;
        replace_file(&root.join("README.md"), card(m, &name).as_bytes())
    };
    if !appending {
        write_meta(tmp.path(), manifest)?;
        commit(tmp, &opts.out)?;
    } else {
        // New files first (each a rename), then the manifest and card.
        for f in files {
            move_into(&tmp.path().join(&f.path), &opts.out.join(&f.path))?;
        }
        drop(tmp);
        write_meta(&opts.out, manifest)?;
    }
    Ok(())
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
