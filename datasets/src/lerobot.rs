//! The LeRobot v3.0 exporter (`shared/specs/lerobot-v3.md`): one episode per
//! session, frames on a constant fps grid, cameras as `image` features (the
//! JPEG bytes as recorded), sensors resampled into `observation.state` and
//! `action` (see [`crate::resample`]), the commentary segment and the label
//! of each tier active at each frame as strings, tasks, episodes and stats.
//!
//! The dataset is written into a temporary folder beside `out` and renamed
//! into place only when complete; an existing dataset at `out` is replaced
//! only with `replace` and only after the new one is complete.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{BinaryBuilder, FixedSizeListBuilder, Float32Builder, StringBuilder};
use arrow_array::{Array, ArrayRef, Float32Array, Int64Array, LargeStringArray, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde_json::{json, Value};
use tacit_schema::labels::ReviewStatus;
use tacit_schema::{ChannelRole, Progress, StreamKind};

use crate::error::DatasetError;
use crate::resample::{covering, WindowMean};
use crate::session::{FrameCursor, SensorCursor, Session};
use crate::split::{self, GroupBy, SplitSpec, Unit};
use crate::stats::Stats;
use crate::video::{VideoCodec, VideoWriter};
use crate::write::{
    check_out, commit, dir_size, files_under, open_sessions, parquet_file, seal, skip, temp_beside, write_json, BackgroundWriter,
};

/// Rows per record batch handed to the Parquet writer.
const BATCH_ROWS: usize = 64;
/// A row group closes at an episode's end or when its image bytes pass this.
const ROW_GROUP_BYTES: usize = 64 << 20;
/// A new MP4 starts (at an episode boundary) past this size (info.json `video_files_size_in_mb`).
const VIDEO_FILE_BYTES: u64 = 200 << 20;
/// A new data file starts (at an episode boundary) past this size.
const DATA_FILE_BYTES: u64 = 100 << 20;
/// Frames per episode decoded for image statistics.
const IMAGE_STAT_FRAMES: usize = 8;

/// What to export and how.
#[derive(Clone, Debug)]
pub struct LeRobotOptions {
    /// The dataset folder to create.
    pub out: PathBuf,
    /// Frame rate of the grid (default: the first camera's).
    pub fps: Option<u32>,
    /// `robot_type` in info.json (default: the station name).
    pub robot_type: Option<String>,
    /// Fail on the first unreadable session instead of skipping it.
    pub strict: bool,
    /// Replace an existing dataset at `out` (after the new one is complete).
    pub replace: bool,
    /// How sessions are split (default: all in `train`).
    pub split: SplitSpec,
    /// What an episode is.
    pub episodes: EpisodeUnit,
    /// Re-encode camera frames at width × height (default: as recorded, untouched).
    pub image_size: Option<(u32, u32)>,
    /// Cameras as `video` features (MP4 through ffmpeg) instead of images.
    pub video: Option<VideoCodec>,
    /// Add the sessions an existing dataset at `out` does not have yet.
    pub append: bool,
    /// `split` was asked for (on append it must equal the dataset's).
    pub split_given: bool,
}

/// What an export did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ExportReport {
    /// The dataset folder.
    pub out: PathBuf,
    /// Episodes written.
    pub episodes: usize,
    /// Frames written.
    pub frames: u64,
    /// Bytes of all files.
    pub bytes: u64,
    /// Sessions skipped, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Frames at which a camera had no new frame and the previous one was repeated.
    pub repeated_frames: u64,
    /// Sessions left out on append because the dataset has them already.
    pub already: u64,
}

/// The features every episode must share (from the first session).
#[derive(Clone, Debug, PartialEq)]
struct Layout {
    fps: u32,
    cameras: Vec<(String, u32, u32)>,
    /// (sensor stream, channel) per component.
    state: Vec<(String, String)>,
    action: Vec<(String, String)>,
    tiers: Vec<String>,
    /// Frames re-encoded at this size (`--image-size`), else as recorded.
    resize: Option<(u32, u32)>,
    /// Cameras as video features.
    video: Option<VideoCodec>,
}

impl Layout {
    fn of(s: &Session, fps: Option<u32>, resize: Option<(u32, u32)>, video: Option<VideoCodec>) -> Self {
        let p = &s.profile;
        let cameras = p
            .cameras
            .iter()
            .map(|c| match resize {
                Some((w, h)) => (c.name.clone(), w, h),
                None => (c.name.clone(), c.width, c.height),
            })
            .collect();
        let mut state = Vec::new();
        let mut action = Vec::new();
        for sensor in &p.sensors {
            for ch in &sensor.channels {
                let slot = (sensor.name.clone(), ch.name.clone());
                match ch.role {
                    ChannelRole::Action => action.push(slot),
                    _ => state.push(slot),
                }
            }
        }
        let fps = fps.or_else(|| p.cameras.first().map(|c| c.fps)).unwrap_or(30).max(1);
        Self { fps, cameras, state, action, tiers: p.labels.tier_names(), resize, video }
    }

    fn names(v: &[(String, String)]) -> Vec<String> {
        v.iter().map(|(s, c)| format!("{s}.{c}")).collect()
    }
}

fn vector_type(n: usize) -> DataType {
    DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, true)), n as i32)
}

fn image_fields() -> Fields {
    Fields::from(vec![Field::new("bytes", DataType::Binary, true), Field::new("path", DataType::Utf8, true)])
}

/// (info.json features, Arrow schema of data files with the Hugging Face features in its metadata).
fn features(l: &Layout) -> (serde_json::Map<String, Value>, SchemaRef) {
    let mut info = serde_json::Map::new();
    let mut hf = serde_json::Map::new();
    let mut fields = Vec::new();
    for (name, w, h) in &l.cameras {
        let key = format!("observation.images.{name}");
        if let Some(codec) = l.video {
            // Not a data column: the frames are in videos/<key>/….
            info.insert(
                key,
                json!({"dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"], "info": {
                    "video.height": h, "video.width": w, "video.codec": codec.name(), "video.pix_fmt": "yuv420p",
                    "video.is_depth_map": false, "video.fps": l.fps, "video.channels": 3, "has_audio": false}}),
            );
            continue;
        }
        info.insert(key.clone(), json!({"dtype": "image", "shape": [h, w, 3], "names": ["height", "width", "channels"]}));
        hf.insert(key.clone(), json!({"_type": "Image"}));
        fields.push(Field::new(key, DataType::Struct(image_fields()), true));
    }
    for (key, comps) in [("observation.state", &l.state), ("action", &l.action)] {
        if comps.is_empty() {
            continue;
        }
        info.insert(key.into(), json!({"dtype": "float32", "shape": [comps.len()], "names": Layout::names(comps)}));
        // LeRobot reads shape [1] as a plain scalar column, not a list of one.
        if comps.len() == 1 {
            hf.insert(key.into(), json!({"dtype": "float32", "_type": "Value"}));
            fields.push(Field::new(key, DataType::Float32, false));
        } else {
            hf.insert(key.into(), json!({"feature": {"dtype": "float32", "_type": "Value"}, "length": comps.len(), "_type": "List"}));
            fields.push(Field::new(key, vector_type(comps.len()), false));
        }
    }
    let strings = std::iter::once("commentary".to_string()).chain(l.tiers.iter().map(|t| format!("label.{}", t.replace('/', "_"))));
    for key in strings {
        info.insert(key.clone(), json!({"dtype": "string", "shape": [1], "names": null}));
        hf.insert(key.clone(), json!({"dtype": "string", "_type": "Value"}));
        fields.push(Field::new(key, DataType::Utf8, false));
    }
    for (key, dtype, arrow) in [
        ("timestamp", "float32", DataType::Float32),
        ("frame_index", "int64", DataType::Int64),
        ("episode_index", "int64", DataType::Int64),
        ("index", "int64", DataType::Int64),
        ("task_index", "int64", DataType::Int64),
    ] {
        info.insert(key.into(), json!({"dtype": dtype, "shape": [1], "names": null}));
        hf.insert(key.into(), json!({"dtype": dtype, "_type": "Value"}));
        fields.push(Field::new(key, arrow, false));
    }
    let meta = json!({"info": {"features": hf.clone()}}).to_string();
    let schema = Schema::new(fields).with_metadata([("huggingface".to_string(), meta)].into_iter().collect());
    (info, Arc::new(schema))
}

fn data_props(l: &Layout) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(true)
        .set_max_row_group_row_count(Some(usize::MAX))
        .set_created_by(format!("tacit {}", env!("CARGO_PKG_VERSION")));
    // JPEG bytes are incompressible and unique: no dictionary, no compression.
    for (name, _, _) in l.cameras.iter().filter(|_| l.video.is_none()) {
        let col = ColumnPath::new(vec![format!("observation.images.{name}"), "bytes".into()]);
        b = b.set_column_dictionary_enabled(col.clone(), false).set_column_compression(col, Compression::UNCOMPRESSED);
    }
    b.build()
}

/// Per-episode row of meta/episodes.
struct EpisodeRow {
    index: usize,
    task: String,
    length: u64,
    file_index: usize,
    from: u64,
    stats: BTreeMap<String, Stats>,
    session: String,
    split: String,
    from_ns: i64,
    step: Option<String>,
    /// Per camera (video only): file index, from and to timestamp in the MP4.
    videos: Vec<(usize, f64, f64)>,
    group: String,
    session_duration_ns: i64,
}

/// One episode to write: a session (from 0) or a labeled step of it.
struct Spec {
    unit: usize,
    t0: i64,
    n: usize,
    task: String,
    step: Option<String>,
}

/// What an episode is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EpisodeUnit {
    /// One episode per session.
    #[default]
    Session,
    /// One episode per `step` label (not rejected) of each session; the task is the step's value.
    Step,
}

/// The group a session belongs to for splitting.
pub(crate) fn group_key(s: &Session, by: GroupBy) -> String {
    match by {
        GroupBy::Session => s.manifest.id.clone(),
        GroupBy::Operator => s.manifest.operator.clone(),
        GroupBy::Station => s.manifest.station.clone(),
    }
}

/// What an existing dataset already holds (empty for a fresh export).
#[derive(Default)]
struct Base {
    tasks: Vec<String>,
    episodes: usize,
    frames: u64,
    data_file: usize,
    episodes_file: usize,
    video_file: usize,
    stats: BTreeMap<String, Stats>,
    ranges: Vec<(String, usize, usize)>,
    provenance: Vec<Value>,
    known: split::Existing,
    sessions: std::collections::BTreeSet<String>,
    features: Option<Value>,
    robot_type: Option<String>,
    fps: Option<u32>,
    spec: Option<SplitSpec>,
}

/// Next free `file-NNN` index in a folder.
fn next_file(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.strip_prefix("file-")?.split('.').next()?.parse::<usize>().ok())
                .map(|i| i + 1)
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0)
}

impl Base {
    /// Reads what `--append` must keep: totals, tasks, splits, stats, provenance.
    fn read(root: &Path) -> Result<Self, DatasetError> {
        let read_json = |rel: &str| -> Result<Value, DatasetError> {
            let p = root.join(rel);
            let t = std::fs::read_to_string(&p).map_err(|e| DatasetError::io("read", &p, e))?;
            serde_json::from_str(&t).map_err(|e| DatasetError::session(format!("not JSON ({e})"), &p))
        };
        let info = read_json("meta/info.json")?;
        let prov = read_json("meta/tacit.json").map_err(|_| {
            DatasetError::Options(format!(
                "{} has no meta/tacit.json (not written by this tacit): export again with --replace instead of --append",
                root.display()
            ))
        })?;
        let bad = |what: &str| DatasetError::session(format!("{what} is missing or malformed; run `tacit validate`"), &root.join("meta"));
        let mut ranges = Vec::new();
        for (name, r) in info["splits"].as_object().ok_or_else(|| bad("info.json splits"))? {
            let (a, b) = r.as_str().and_then(|r| r.split_once(':')).ok_or_else(|| bad("info.json splits"))?;
            ranges.push((name.clone(), a.parse().map_err(|_| bad("info.json splits"))?, b.parse().map_err(|_| bad("info.json splits"))?));
        }
        ranges.sort_by_key(|r: &(String, usize, usize)| r.1);
        let sp = &prov["split"];
        let spec = SplitSpec::parse(
            sp["spec"].as_str().ok_or_else(|| bad("meta/tacit.json split"))?,
            GroupBy::parse(sp["group_by"].as_str().unwrap_or("session"))?,
            sp["seed"].as_u64().unwrap_or(0),
        )?;
        let provenance = prov["episodes"].as_array().cloned().ok_or_else(|| bad("meta/tacit.json episodes"))?;
        let mut known = split::Existing::default();
        let mut sessions = std::collections::BTreeSet::new();
        for e in &provenance {
            let sid = e["session_id"].as_str().unwrap_or_default().to_string();
            let split = e["split"].as_str().unwrap_or_default().to_string();
            known.groups.insert(e["group"].as_str().unwrap_or(&sid).to_string(), split.clone());
            if sessions.insert(sid) {
                *known.weight.entry(split).or_default() += e["session_duration_ns"].as_i64().unwrap_or(0);
            }
        }
        let mut stats = BTreeMap::new();
        if let Some(m) = read_json("meta/stats.json")?.as_object() {
            for (k, v) in m {
                stats.insert(k.clone(), Stats::from_json(v).ok_or_else(|| bad("meta/stats.json"))?);
            }
        }
        let tasks_path = root.join("meta/tasks.parquet");
        let f = std::fs::File::open(&tasks_path).map_err(|e| DatasetError::io("open", &tasks_path, e))?;
        let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
            .and_then(|b| b.build())
            .map_err(|e| DatasetError::session(format!("unreadable ({e})"), &tasks_path))?;
        let mut tasks = Vec::new();
        for b in r {
            let b = b.map_err(|e| DatasetError::session(format!("damaged ({e})"), &tasks_path))?;
            let c = b.column_by_name("__index_level_0__").or_else(|| b.column_by_name("task")).ok_or_else(|| bad("tasks.parquet"))?;
            if let Some(a) = c.as_any().downcast_ref::<LargeStringArray>() {
                tasks.extend(a.iter().map(|t| t.unwrap_or_default().to_string()));
            } else if let Some(a) = c.as_any().downcast_ref::<arrow_array::StringArray>() {
                tasks.extend(a.iter().map(|t| t.unwrap_or_default().to_string()));
            }
        }
        let video_file = std::fs::read_dir(root.join("videos"))
            .map(|rd| rd.flatten().map(|e| next_file(&e.path().join("chunk-000"))).max().unwrap_or(0))
            .unwrap_or(0);
        Ok(Self {
            tasks,
            episodes: info["total_episodes"].as_u64().ok_or_else(|| bad("info.json total_episodes"))? as usize,
            frames: info["total_frames"].as_u64().ok_or_else(|| bad("info.json total_frames"))?,
            data_file: next_file(&root.join("data/chunk-000")),
            episodes_file: next_file(&root.join("meta/episodes/chunk-000")),
            video_file,
            stats,
            ranges,
            provenance,
            known,
            sessions,
            features: Some(info["features"].clone()),
            robot_type: info["robot_type"].as_str().map(String::from),
            fps: info["fps"].as_u64().map(|f| f as u32),
            spec: Some(spec),
        })
    }
}

/// Exports sessions (folders) as one LeRobot v3.0 dataset, or with `append`
/// adds the sessions it does not have yet.
pub fn export(sessions: &[PathBuf], opts: &LeRobotOptions, progress: &dyn Progress) -> Result<ExportReport, DatasetError> {
    check_out(&opts.out, opts.replace, opts.append)?;
    if let Some(codec) = opts.video {
        crate::video::check_ffmpeg(codec)?;
    }
    let mut report = ExportReport { out: opts.out.clone(), ..ExportReport::default() };
    let appending = opts.append && opts.out.exists();
    let base = if appending { Base::read(&opts.out)? } else { Base::default() };
    if let (Some(have), Some(asked)) = (base.fps, opts.fps) {
        if have != asked {
            return Err(DatasetError::Options(format!("{} is at {have} fps; append with --fps {have} or none", opts.out.display())));
        }
    }
    let spec = match (&base.spec, &opts.split_given) {
        (Some(have), true) if have.parts != opts.split.parts || have.group_by != opts.split.group_by || have.seed != opts.split.seed => {
            return Err(DatasetError::Options(format!(
                "{} is split {} by {} (seed {}); appending with another split would mix them: pass the same --split/--group-by/--seed, or none",
                opts.out.display(),
                have.describe(),
                have.group_by.name(),
                have.seed
            )));
        }
        (Some(have), _) => have.clone(),
        (None, _) => opts.split.clone(),
    };
    let mut opened = open_sessions(sessions, opts.strict, progress, &mut report)?;
    opened.sort_by(|a, b| a.manifest.id.cmp(&b.manifest.id));
    let before = opened.len();
    opened.retain(|s| !base.sessions.contains(&s.manifest.id));
    report.already = (before - opened.len()) as u64;
    let fps = opts.fps.or(base.fps);
    // On append, a session fits only if its features equal the dataset's.
    let mut fitting = Vec::new();
    for s in opened {
        let l = Layout::of(&s, fps, opts.image_size, opts.video);
        match &base.features {
            Some(have) if Value::Object(features(&l).0) != *have => {
                let names = |v: &Value| v.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default();
                let why = format!(
                    "schema mismatch: its features ({}) differ from the dataset's ({}); pass the same --fps/--image-size/--video as the first export, or export it to another dataset",
                    names(&Value::Object(features(&l).0)),
                    names(have)
                );
                if opts.strict {
                    return Err(DatasetError::Options(format!("{} cannot take session {}: {why}", opts.out.display(), s.manifest.id)));
                }
                skip(&s, &why, false, progress, &mut report)?;
            }
            _ => fitting.push(s),
        }
    }
    let Some(first) = fitting.first() else {
        if appending {
            progress.message(&format!("{}: no new session to add", opts.out.display()));
            report.bytes = dir_size(&opts.out);
            return Ok(report);
        }
        return Err(DatasetError::Options("no session to export (none given, or all were skipped)".into()));
    };
    let layout = Layout::of(first, fps, opts.image_size, opts.video);
    let robot_type = opts.robot_type.clone().or(base.robot_type.clone()).unwrap_or_else(|| first.manifest.station.clone());
    let tmp = temp_beside(&opts.out, if appending { "append" } else { "tmp" })?;
    let result = write_dataset(&tmp, &fitting, &layout, &robot_type, &spec, &base, opts, progress, &mut report);
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if appending {
        // New data, video and episode files first; then the metadata, info.json last.
        let mut files = files_under(&tmp, None);
        files
            .sort_by_key(|p| (p.starts_with(tmp.join("meta")) && !p.starts_with(tmp.join("meta/episodes")), p.ends_with("meta/info.json")));
        for from in files {
            let rel = from.strip_prefix(&tmp).unwrap_or(&from).to_path_buf();
            let to = opts.out.join(&rel);
            if let Some(d) = to.parent() {
                std::fs::create_dir_all(d).map_err(|e| DatasetError::io("create", d, e))?;
            }
            std::fs::rename(&from, &to).map_err(|e| DatasetError::io("move into the dataset", &to, e))?;
        }
        let _ = std::fs::remove_dir_all(&tmp);
    } else {
        commit(&tmp, &opts.out)?;
    }
    report.bytes = dir_size(&opts.out);
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn write_dataset(
    root: &Path,
    sessions: &[Session],
    layout: &Layout,
    robot_type: &str,
    spec: &SplitSpec,
    base: &Base,
    opts: &LeRobotOptions,
    progress: &dyn Progress,
    report: &mut ExportReport,
) -> Result<(), DatasetError> {
    let (info_features, schema) = features(layout);
    let fps = f64::from(layout.fps);
    let mut tasks: Vec<String> = base.tasks.clone();
    let mut episodes: Vec<EpisodeRow> = Vec::new();
    let mut file_index = base.data_file;
    let data_path = |i: usize| root.join(format!("data/chunk-000/file-{i:03}.parquet"));
    let mut closing = Vec::new();
    let mut writer = BackgroundWriter::create(&data_path(file_index), schema.clone(), data_props(layout), None)?;
    let mut videos: Vec<VideoWriter> = match layout.video {
        Some(codec) => layout
            .cameras
            .iter()
            .map(|(name, w, h)| {
                VideoWriter::new(root, &format!("observation.images.{name}"), layout.fps, (*w, *h), codec, VIDEO_FILE_BYTES)
            })
            .collect(),
        None => Vec::new(),
    };
    for v in &mut videos {
        v.file_index = base.video_file;
    }
    let mut index: u64 = base.frames;
    // Sessions that fit the layout, then their splits; episodes are ordered
    // by split so that each split is one contiguous range.
    let mut usable: Vec<&Session> = Vec::new();
    for s in sessions {
        let this = Layout::of(s, opts.fps, opts.image_size, opts.video);
        if this.cameras != layout.cameras || this.state != layout.state || this.action != layout.action || this.fps != layout.fps {
            skip(
                s,
                "its cameras or sensor channels differ from the first session's; export the two stations separately",
                opts.strict,
                progress,
                report,
            )?;
        } else if frames_of(s, fps) == 0 {
            skip(s, "shorter than one frame", opts.strict, progress, report)?;
        } else if let Some(c) = s.streams(StreamKind::Camera).find(|c| c.count == 0) {
            skip(s, &format!("camera {} recorded no frames", c.name), opts.strict, progress, report)?;
        } else {
            usable.push(s);
        }
    }
    let units: Vec<Unit> = usable.iter().map(|s| Unit { group: group_key(s, spec.group_by), weight: s.manifest.duration_ns }).collect();
    let splits = split::assign(spec, &units, &base.known);
    // Episodes: a whole session, or each labeled step of it.
    let mut specs: Vec<Spec> = Vec::new();
    for (i, s) in usable.iter().enumerate() {
        match opts.episodes {
            EpisodeUnit::Session => specs.push(Spec { unit: i, t0: 0, n: frames_of(s, fps), task: s.task(), step: None }),
            EpisodeUnit::Step => {
                let mut steps = 0;
                for l in s.labels.labels.iter().filter(|l| l.tier == "step" && l.status != ReviewStatus::Rejected && l.end_ns > l.start_ns)
                {
                    let n = frames_in(l.end_ns - l.start_ns, layout.fps);
                    if n == 0 {
                        progress.message(&format!("warning: step {:?} of {} is shorter than one frame; left out", l.value, s.manifest.id));
                        continue;
                    }
                    specs.push(Spec { unit: i, t0: l.start_ns, n, task: l.value.clone(), step: Some(l.id.clone()) });
                    steps += 1;
                }
                if steps == 0 {
                    progress.message(&format!("warning: {} has no step labels; no episode from it", s.manifest.id));
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..specs.len()).collect();
    order.sort_by_key(|&j| (spec.rank(&splits[specs[j].unit]), specs[j].unit, specs[j].t0));
    // LeRobot splits are contiguous episode ranges: new episodes must extend
    // the last range or open new ones.
    let mut ranges: Vec<(String, usize, usize)> = base.ranges.clone();
    for j in &order {
        let split = &splits[specs[*j].unit];
        let last = ranges.last().map(|r| &r.0);
        if last != Some(split) && ranges.iter().any(|r| &r.0 == split) {
            return Err(DatasetError::Options(format!(
                "appending would put {split} episodes after {} ones, and LeRobot splits are contiguous episode ranges; export again with --replace, or use --format tacit (splits by file)",
                last.map(String::as_str).unwrap_or("other")
            )));
        }
        match ranges.last_mut() {
            Some(r) if &r.0 == split => r.2 += 1,
            _ => {
                let at = ranges.last().map(|r| r.2).unwrap_or(0);
                ranges.push((split.clone(), at, at + 1));
            }
        }
    }
    let total_frames: u64 = specs.iter().map(|e| e.n as u64).sum();
    progress.start("exporting", total_frames);
    for j in order {
        let spec = &specs[j];
        let i = spec.unit;
        let s = usable[i];
        let n = spec.n;
        if writer.bytes_written()? as u64 > DATA_FILE_BYTES {
            // The full file seals (footer, fsync) while the next one fills.
            closing.push(writer.close());
            file_index += 1;
            writer = BackgroundWriter::create(&data_path(file_index), schema.clone(), data_props(layout), None)?;
        }
        let task = spec.task.clone();
        let task_index = match tasks.iter().position(|t| *t == task) {
            Some(t) => t,
            None => {
                tasks.push(task.clone());
                tasks.len() - 1
            }
        };
        let ep = base.episodes + episodes.len();
        let mut spans = Vec::new();
        for v in videos.iter_mut() {
            v.begin_episode()?;
            spans.push((v.file_index, v.frames_in_file as f64 / fps, (v.frames_in_file + n as u64) as f64 / fps));
        }
        match write_episode(s, layout, &schema, &mut writer, &mut videos, ep, task_index, index, spec.t0, n, progress, report) {
            Ok(stats) => {
                episodes.push(EpisodeRow {
                    index: ep,
                    task,
                    length: n as u64,
                    file_index,
                    from: index,
                    stats,
                    session: s.manifest.id.clone(),
                    split: splits[i].clone(),
                    from_ns: spec.t0,
                    group: units[i].group.clone(),
                    session_duration_ns: s.manifest.duration_ns,
                    videos: spans,
                    step: spec.step.clone(),
                });
                index += n as u64;
            }
            Err(e) => return Err(e),
        }
    }
    writer.seal()?;
    for c in closing {
        c.wait()?;
    }
    for v in videos.iter_mut() {
        v.finish()?;
    }
    progress.finish();
    if episodes.is_empty() {
        return Err(DatasetError::Options("no session could be exported (see the warnings)".into()));
    }
    write_tasks(&root.join("meta/tasks.parquet"), &tasks)?;
    let video_keys: Vec<String> =
        layout.cameras.iter().filter(|_| layout.video.is_some()).map(|(n, _, _)| format!("observation.images.{n}")).collect();
    let meta_file = base.episodes_file;
    write_episodes(&root.join(format!("meta/episodes/chunk-000/file-{meta_file:03}.parquet")), &episodes, &video_keys, meta_file)?;
    // Aggregate stats (with the dataset's so far, when appending).
    let mut stats = serde_json::Map::new();
    let keys: Vec<String> = episodes[0].stats.keys().cloned().collect();
    for k in keys {
        let parts: Vec<Stats> = base.stats.get(&k).into_iter().chain(episodes.iter().filter_map(|e| e.stats.get(&k))).cloned().collect();
        if let Some(agg) = Stats::aggregate(&parts) {
            stats.insert(k, agg.to_json());
        }
    }
    std::fs::create_dir_all(root.join("meta")).map_err(|e| DatasetError::io("create", root, e))?;
    write_json(&root.join("meta/stats.json"), &Value::Object(stats))?;
    let info = json!({
        "codebase_version": "v3.0",
        "robot_type": robot_type,
        "total_episodes": base.episodes + episodes.len(),
        "total_frames": index,
        "total_tasks": tasks.len(),
        "chunks_size": 1000,
        "data_files_size_in_mb": 100,
        "video_files_size_in_mb": 200,
        "fps": layout.fps,
        "splits": ranges.iter().map(|(name, a, b)| (name.clone(), json!(format!("{a}:{b}")))).collect::<serde_json::Map<_, _>>(),
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "video_path": layout.video.map(|_| "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"),
        "features": info_features,
    });
    write_json(&root.join("meta/info.json"), &info)?;
    let provenance = json!({
        "format": "lerobot",
        "tacit_version": env!("CARGO_PKG_VERSION"),
        "split": {"spec": spec.describe(), "group_by": spec.group_by.name(), "seed": spec.seed},
        "episodes": base.provenance.iter().cloned().chain(episodes.iter().map(|e| json!({
                "episode_index": e.index,
                "session_id": e.session,
                "group": e.group,
                "session_duration_ns": e.session_duration_ns,
                "split": e.split,
                "from_s": e.from_ns as f64 / 1e9,
                "step_label": e.step,
            }))).collect::<Vec<_>>(),
    });
    write_json(&root.join("meta/tacit.json"), &provenance)?;
    report.episodes = episodes.len();
    report.frames = index - base.frames;
    Ok(())
}

/// Frames of a session's episode: the grid `k / fps` inside its duration.
fn frames_of(s: &Session, fps: f64) -> usize {
    frames_in(s.manifest.duration_ns, fps as u32)
}

/// Whole frames at `fps` in `ns` nanoseconds (integer arithmetic: 0.7 s at 10 fps is 7).
fn frames_in(ns: i64, fps: u32) -> usize {
    (i128::from(ns.max(0)) * i128::from(fps) / 1_000_000_000) as usize
}

#[allow(clippy::too_many_arguments)]
fn write_episode(
    s: &Session,
    layout: &Layout,
    schema: &SchemaRef,
    writer: &mut BackgroundWriter,
    videos: &mut [VideoWriter],
    episode: usize,
    task_index: usize,
    first_index: u64,
    t0: i64,
    n: usize,
    progress: &dyn Progress,
    report: &mut ExportReport,
) -> Result<BTreeMap<String, Stats>, DatasetError> {
    let fps = f64::from(layout.fps);
    let period_ns = 1e9 / fps;
    let grid = |k: usize| t0 + (k as f64 * period_ns).round() as i64;
    let half = (period_ns / 2.0).round() as i64;
    // Sensors first: small (frames × channels), resampled in one pass each.
    let mut vectors = Vec::new();
    for comps in [&layout.state, &layout.action] {
        let mut acc = WindowMean::new(fps, n, comps.len());
        let mut by_stream: BTreeMap<&str, Vec<(usize, String)>> = BTreeMap::new();
        for (i, (stream, ch)) in comps.iter().enumerate() {
            by_stream.entry(stream.as_str()).or_default().push((i, ch.clone()));
        }
        for (stream, chans) in by_stream {
            let Some(info) = s.streams(StreamKind::Sensor).find(|x| x.name == stream) else {
                return Err(DatasetError::session(format!("sensor {stream} is in the profile but not in the session"), &s.dir));
            };
            let mut cur = SensorCursor::new(&s.dir, info, chans.iter().map(|(_, c)| c.clone()).collect());
            while let Some((t, cols)) = cur.next_batch()? {
                for (j, (comp, _)) in chans.iter().enumerate() {
                    let col = &cols[j];
                    for (r, t) in t.iter().enumerate() {
                        if col.is_valid(r) {
                            acc.add(*t - t0, *comp, col.value(r));
                        }
                    }
                }
            }
        }
        vectors.push(acc.finish());
    }
    let mut cams = Vec::new();
    for (name, _, _) in &layout.cameras {
        let Some(info) = s.streams(StreamKind::Camera).find(|x| &x.name == name) else {
            return Err(DatasetError::session(format!("camera {name} is in the profile but not in the session"), &s.dir));
        };
        let mut cur = FrameCursor::new(&s.dir, info);
        let Some(first) = cur.next_frame()? else {
            return Err(DatasetError::session(format!("camera {name} recorded no frames"), &s.dir));
        };
        let next = cur.next_frame()?;
        cams.push((cur, first, next, usize::MAX, Vec::new()));
    }
    let mut stat_values: BTreeMap<String, (Vec<f64>, usize, bool)> = BTreeMap::new();
    let mut image_samples: Vec<Vec<f64>> = vec![Vec::new(); cams.len()];
    let sample_every = (n / IMAGE_STAT_FRAMES).max(1);
    let mut k = 0;
    let mut group_bytes = 0usize;
    // Labels that count: not rejected.
    let live: Vec<_> = s.labels.labels.iter().filter(|l| l.status != ReviewStatus::Rejected).collect();
    while k < n {
        let rows = BATCH_ROWS.min(n - k);
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (ci, (cur, now, next, last_pick, resized)) in cams.iter_mut().enumerate() {
            let mut b = BinaryBuilder::new();
            let mut paths = StringBuilder::new();
            for r in 0..rows {
                let t = grid(k + r);
                // Nearest frame: advance while the next one is at least as close.
                while let Some(nx) = next.as_ref() {
                    if (nx.t_ns - t).abs() <= (now.t_ns - t).abs() {
                        *now = next.take().unwrap_or_else(|| now.clone());
                        *next = cur.next_frame()?;
                    } else {
                        break;
                    }
                }
                let pick = now.t_ns as usize;
                let fresh = pick != *last_pick;
                if !fresh {
                    report.repeated_frames += 1;
                }
                *last_pick = pick;
                let bytes: &[u8] = match layout.resize {
                    Some((w, h)) => {
                        if fresh {
                            *resized = resize_jpeg(now.data(), w, h).map_err(|e| {
                                DatasetError::session(format!("camera frame at {} ns cannot be resized: {e}", now.t_ns), &s.dir)
                            })?;
                        }
                        resized
                    }
                    None => now.data(),
                };
                match videos.get_mut(ci) {
                    Some(v) => v.push(bytes)?,
                    None => {
                        b.append_value(bytes);
                        group_bytes += bytes.len();
                        paths.append_value(format!("frame-{:06}.jpg", first_index + (k + r) as u64));
                    }
                }
                if (k + r) % sample_every == 0 && image_samples[ci].len() < IMAGE_STAT_FRAMES * 3 {
                    if let Some(m) = jpeg_channel_means(bytes) {
                        image_samples[ci].extend(m);
                    }
                }
            }
            if videos.is_empty() {
                let arr = StructArray::try_new(image_fields(), vec![Arc::new(b.finish()), Arc::new(paths.finish())], None)
                    .map_err(|e| DatasetError::write(e, &s.dir))?;
                columns.push(Arc::new(arr));
            }
        }
        for (vi, comps) in [&layout.state, &layout.action].into_iter().enumerate() {
            if comps.is_empty() {
                continue;
            }
            let c = comps.len();
            if c == 1 {
                let col: Float32Array = (0..rows).map(|r| vectors[vi][k + r]).collect();
                columns.push(Arc::new(col));
                continue;
            }
            let mut fl = FixedSizeListBuilder::new(Float32Builder::new(), c as i32).with_field(Field::new("item", DataType::Float32, true));
            for r in 0..rows {
                let row = &vectors[vi][(k + r) * c..(k + r + 1) * c];
                fl.values().append_slice(row);
                fl.append(true);
            }
            columns.push(Arc::new(fl.finish()));
        }
        let mut text = StringBuilder::new();
        for r in 0..rows {
            let t = grid(k + r);
            text.append_value(
                covering(&s.commentary, t, half, |c| (c.start_ns, c.end_ns)).map(|i| s.commentary[i].text.as_str()).unwrap_or(""),
            );
        }
        columns.push(Arc::new(text.finish()));
        for tier in &layout.tiers {
            let on: Vec<_> = live.iter().filter(|l| &l.tier == tier).collect();
            let mut b = StringBuilder::new();
            for r in 0..rows {
                let t = grid(k + r);
                b.append_value(covering(&on, t, half, |l| (l.start_ns, l.end_ns)).map(|i| on[i].value.as_str()).unwrap_or(""));
            }
            columns.push(Arc::new(b.finish()));
        }
        let ts: Float32Array = (0..rows).map(|r| ((k + r) as f64 / fps) as f32).collect();
        let fi: Int64Array = (0..rows).map(|r| (k + r) as i64).collect();
        let ei: Int64Array = std::iter::repeat_n(episode as i64, rows).collect();
        let gi: Int64Array = (0..rows).map(|r| (first_index + (k + r) as u64) as i64).collect();
        let ti: Int64Array = std::iter::repeat_n(task_index as i64, rows).collect();
        columns.extend([Arc::new(ts) as ArrayRef, Arc::new(fi), Arc::new(ei), Arc::new(gi), Arc::new(ti)]);
        let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| DatasetError::write(e, &s.dir))?;
        writer.write(batch)?;
        if group_bytes > ROW_GROUP_BYTES {
            writer.flush()?;
            group_bytes = 0;
        }
        k += rows;
        progress.advance(rows as u64);
        if progress.cancelled() {
            return Err(DatasetError::Cancelled);
        }
    }
    writer.flush()?;
    // Episode statistics.
    for (vi, (key, comps)) in [("observation.state", &layout.state), ("action", &layout.action)].into_iter().enumerate() {
        if !comps.is_empty() {
            stat_values.insert(key.into(), (vectors[vi].iter().map(|v| f64::from(*v)).collect(), comps.len(), false));
        }
    }
    for (ci, (name, _, _)) in layout.cameras.iter().enumerate() {
        stat_values.insert(format!("observation.images.{name}"), (std::mem::take(&mut image_samples[ci]), 3, true));
    }
    stat_values.insert("timestamp".into(), ((0..n).map(|k| k as f64 / fps).collect(), 1, false));
    stat_values.insert("frame_index".into(), ((0..n).map(|k| k as f64).collect(), 1, false));
    stat_values.insert("episode_index".into(), (vec![episode as f64; n], 1, false));
    stat_values.insert("index".into(), ((0..n).map(|k| (first_index + k as u64) as f64).collect(), 1, false));
    stat_values.insert("task_index".into(), (vec![task_index as f64; n], 1, false));
    let mut out = BTreeMap::new();
    for (k, (v, c, image)) in stat_values {
        let mut st = Stats::of(&v, c, image);
        if image {
            st.count = (v.len() / 3) as u64;
        }
        out.insert(k, st);
    }
    Ok(out)
}

/// JPEG quality of resized frames.
const RESIZE_QUALITY: u8 = 90;

/// Decodes a JPEG, resizes it to `w`×`h` (bilinear convolution, which
/// averages over the source area when shrinking) and encodes it again.
pub fn resize_jpeg(data: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    use fast_image_resize::images::{Image, ImageRef};
    use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), opts);
    let rgb = d.decode().map_err(|e| format!("not a decodable JPEG ({e})"))?;
    let (sw, sh) = d.dimensions().ok_or("JPEG without dimensions")?;
    let src = ImageRef::new(sw as u32, sh as u32, &rgb, PixelType::U8x3).map_err(|e| e.to_string())?;
    let mut dst = Image::new(w, h, PixelType::U8x3);
    let alg = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new().resize(&src, &mut dst, &alg).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity((w * h) as usize / 4);
    let (w16, h16) = (u16::try_from(w).map_err(|_| "width over 65535")?, u16::try_from(h).map_err(|_| "height over 65535")?);
    jpeg_encoder::Encoder::new(&mut out, RESIZE_QUALITY)
        .encode(dst.buffer(), w16, h16, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Mean of each colour channel (0..1) of a JPEG, over every 4th pixel.
fn jpeg_channel_means(data: &[u8]) -> Option<[f64; 3]> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), opts);
    let px = d.decode().ok()?;
    let mut sum = [0f64; 3];
    let mut n = 0f64;
    for p in px.chunks_exact(3).step_by(4) {
        for c in 0..3 {
            sum[c] += f64::from(p[c]);
        }
        n += 1.0;
    }
    (n > 0.0).then(|| sum.map(|s| s / n / 255.0))
}

fn write_tasks(path: &Path, tasks: &[String]) -> Result<(), DatasetError> {
    let pandas = json!({
        "index_columns": ["__index_level_0__"],
        "column_indexes": [{"name": null, "field_name": null, "pandas_type": "unicode", "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64", "metadata": null},
            {"name": null, "field_name": "__index_level_0__", "pandas_type": "unicode", "numpy_type": "object", "metadata": null}
        ],
        "creator": {"library": "tacit", "version": env!("CARGO_PKG_VERSION")},
        "pandas_version": "2.2.3"
    });
    let schema = Arc::new(
        Schema::new(vec![Field::new("task_index", DataType::Int64, false), Field::new("__index_level_0__", DataType::LargeUtf8, false)])
            .with_metadata([("pandas".to_string(), pandas.to_string())].into_iter().collect()),
    );
    let idx: Int64Array = (0..tasks.len() as i64).collect();
    let text = LargeStringArray::from_iter_values(tasks.iter());
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(idx), Arc::new(text)]).map_err(|e| DatasetError::write(e, path))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut w = parquet_file(path, schema, props)?;
    w.write(&batch).map_err(|e| DatasetError::write(e, path))?;
    seal(w, path)
}

fn list_of(inner: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", inner, true)))
}

fn write_episodes(path: &Path, episodes: &[EpisodeRow], video_keys: &[String], meta_file: usize) -> Result<(), DatasetError> {
    let mut fields = vec![
        Field::new("episode_index", DataType::Int64, false),
        Field::new("tasks", list_of(DataType::Utf8), false),
        Field::new("length", DataType::Int64, false),
        Field::new("data/chunk_index", DataType::Int64, false),
        Field::new("data/file_index", DataType::Int64, false),
        Field::new("dataset_from_index", DataType::Int64, false),
        Field::new("dataset_to_index", DataType::Int64, false),
    ];
    for key in video_keys {
        fields.push(Field::new(format!("videos/{key}/chunk_index"), DataType::Int64, false));
        fields.push(Field::new(format!("videos/{key}/file_index"), DataType::Int64, false));
        fields.push(Field::new(format!("videos/{key}/from_timestamp"), DataType::Float64, false));
        fields.push(Field::new(format!("videos/{key}/to_timestamp"), DataType::Float64, false));
    }
    let keys: Vec<String> = episodes[0].stats.keys().cloned().collect();
    for k in &keys {
        let image = k.starts_with("observation.images.");
        let value = if image { list_of(list_of(list_of(DataType::Float64))) } else { list_of(DataType::Float64) };
        for s in ["min", "max", "mean", "std"] {
            fields.push(Field::new(format!("stats/{k}/{s}"), value.clone(), true));
        }
        fields.push(Field::new(format!("stats/{k}/count"), list_of(DataType::Int64), true));
    }
    fields.push(Field::new("meta/episodes/chunk_index", DataType::Int64, false));
    fields.push(Field::new("meta/episodes/file_index", DataType::Int64, false));
    let schema = Arc::new(Schema::new(fields));
    let mut rows = Vec::new();
    for e in episodes {
        let mut m = serde_json::Map::new();
        m.insert("episode_index".into(), json!(e.index));
        m.insert("tasks".into(), json!([e.task]));
        m.insert("length".into(), json!(e.length));
        m.insert("data/chunk_index".into(), json!(0));
        m.insert("data/file_index".into(), json!(e.file_index));
        m.insert("dataset_from_index".into(), json!(e.from));
        m.insert("dataset_to_index".into(), json!(e.from + e.length));
        for (key, (file, from, to)) in video_keys.iter().zip(&e.videos) {
            m.insert(format!("videos/{key}/chunk_index"), json!(0));
            m.insert(format!("videos/{key}/file_index"), json!(file));
            m.insert(format!("videos/{key}/from_timestamp"), json!(from));
            m.insert(format!("videos/{key}/to_timestamp"), json!(to));
        }
        for k in &keys {
            if let Some(st) = e.stats.get(k) {
                let j = st.to_json();
                for s in ["min", "max", "mean", "std", "count"] {
                    m.insert(format!("stats/{k}/{s}"), j[s].clone());
                }
            }
        }
        m.insert("meta/episodes/chunk_index".into(), json!(0));
        m.insert("meta/episodes/file_index".into(), json!(meta_file));
        rows.push(Value::Object(m));
    }
    let mut dec = arrow_json::ReaderBuilder::new(schema.clone()).build_decoder().map_err(|e| DatasetError::write(e, path))?;
    dec.serialize(&rows).map_err(|e| DatasetError::write(e, path))?;
    let batch = dec.flush().map_err(|e| DatasetError::write(e, path))?.ok_or_else(|| DatasetError::write("no episode rows", path))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut w = parquet_file(path, schema, props)?;
    w.write(&batch).map_err(|e| DatasetError::write(e, path))?;
    seal(w, path)
}
