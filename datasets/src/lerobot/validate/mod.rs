//! `tacit validate`: checks a LeRobot v3.0 dataset against the spec and
//! reports every defect with its file and row.

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::{Array, Float32Array, Int64Array, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::lerobot::language::{EVENTS, PERSISTENT};
use crate::lerobot::{is_image_column, IMAGE_GROUP_BYTES};
use crate::report::{Defect, Validation};

mod language;

/// Most defects reported per kind of check (the rest are counted).
const PER_CHECK: usize = 20;

struct Sink<'a> {
    v: &'a mut Validation,
    root: &'a Path,
    counts: std::collections::HashMap<&'static str, usize>,
}

impl Sink<'_> {
    fn add(&mut self, check: &'static str, file: &Path, row: Option<u64>, message: String) {
        let n = self.counts.entry(check).or_default();
        *n += 1;
        if *n > PER_CHECK {
            self.v.more += 1;
            return;
        }
        let file = file.strip_prefix(self.root).unwrap_or(file).display().to_string();
        self.v.defects.push(Defect { file, row, message });
    }
}

fn read_parquet(path: &Path) -> Result<(arrow_schema::SchemaRef, Vec<RecordBatch>), String> {
    read_parquet_groups(path).map(|(schema, batches, _)| (schema, batches))
}

/// A data file read back: its schema, its rows (without the image columns),
/// and per row group its rows and the bytes of its largest image column chunk.
type ReadBack = (arrow_schema::SchemaRef, Vec<RecordBatch>, Vec<(i64, i64)>);

/// Reads a data file (see [`ReadBack`]).
fn read_parquet_groups(path: &Path) -> Result<ReadBack, String> {
    let f = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| format!("not a readable Parquet file: {e}"))?;
    let schema = b.schema().clone();
    let groups = b
        .metadata()
        .row_groups()
        .iter()
        .map(|g| {
            let images = g
                .columns()
                .iter()
                .filter(|c| c.column_path().parts().first().is_some_and(|p| is_image_column(p)))
                .map(|c| c.uncompressed_size())
                .max()
                .unwrap_or(0);
            (g.num_rows(), images)
        })
        .collect();
    // Every column is decoded (damage anywhere is found), a few rows at a
    // time; the image columns are dropped as they come, so memory does not
    // grow with the dataset.
    let keep: Vec<usize> = schema.fields().iter().enumerate().filter(|(_, f)| !is_image_column(f.name())).map(|(i, _)| i).collect();
    let r = b.with_batch_size(64).build().map_err(|e| e.to_string())?;
    let mut batches = Vec::new();
    for batch in r {
        let batch = batch.map_err(|e| format!("damaged Parquet data: {e}"))?;
        batches.push(batch.project(&keep).map_err(|e| e.to_string())?);
    }
    Ok((schema, batches, groups))
}

fn int_col(batches: &[RecordBatch], name: &str) -> Option<Vec<i64>> {
    let mut out = Vec::new();
    for b in batches {
        let c = b.column_by_name(name)?.as_any().downcast_ref::<Int64Array>()?;
        out.extend(c.iter().map(|v| v.unwrap_or(i64::MIN)));
    }
    Some(out)
}

fn float_col(batches: &[RecordBatch], name: &str) -> Option<Vec<f64>> {
    let mut out = Vec::new();
    for b in batches {
        let c = b.column_by_name(name)?.as_any().downcast_ref::<arrow_array::Float64Array>()?;
        out.extend(c.iter().map(|v| v.unwrap_or(f64::NAN)));
    }
    Some(out)
}

/// Frames of an MP4's first video stream, decoded by ffprobe (None without ffprobe).
fn count_video_frames(path: &Path) -> Option<u64> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .ok()?;
    if !out.status.success() {
        return Some(0);
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    crate::write::files_under(dir, Some("parquet"))
}

/// LeRobot's language columns.
const LANGUAGE: [&str; 2] = [PERSISTENT, EVENTS];

const DEFAULTS: [(&str, &str); 5] =
    [("timestamp", "float32"), ("frame_index", "int64"), ("episode_index", "int64"), ("index", "int64"), ("task_index", "int64")];

/// Row groups in a LeRobot dataset's data files (their footers only).
pub fn data_row_groups(root: &Path) -> Result<usize, crate::DatasetError> {
    let mut n = 0;
    for file in files_under(&root.join("data")) {
        let f = File::open(&file).map_err(|e| crate::DatasetError::io("open", &file, e))?;
        let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| crate::DatasetError::write(e, &file))?;
        n += b.metadata().num_row_groups();
    }
    Ok(n)
}

/// Validates a LeRobot v3.0 dataset folder.
pub fn validate_lerobot(root: &Path) -> Validation {
    let mut v = Validation::default();
    let mut s = Sink { v: &mut v, root, counts: Default::default() };
    let info_path = root.join("meta/info.json");
    let Some(info) = check_info(&mut s, &info_path) else { return v };
    check_splits(&mut s, &info_path, &info);
    let fps = info["fps"].as_f64().unwrap_or(0.0);
    let features = check_features(&mut s, &info_path, &info);
    let n_tasks = check_tasks(&mut s, &root.join("meta/tasks.parquet"));
    let data = check_data(&mut s, root, &features, fps, n_tasks);
    let frames = data.next_index;
    if info["total_frames"].as_i64() != Some(frames) {
        s.add("info", &info_path, None, format!("total_frames is {}, the data has {frames}", info["total_frames"]));
    }
    if info["total_episodes"].as_i64() != Some(data.episodes.len() as i64) {
        s.add("info", &info_path, None, format!("total_episodes is {}, the data has {}", info["total_episodes"], data.episodes.len()));
    }
    let video_frames = check_episodes(&mut s, root, &features, fps, &data.episodes);
    check_videos(&mut s, root, &video_frames);
    check_stats(&mut s, &root.join("meta/stats.json"), &features);
    v.frames = frames.max(0) as u64;
    v.episodes = data.episodes.len() as u64;
    v
}

/// `meta/info.json`, its version and keys; `None` when it cannot be read.
fn check_info(s: &mut Sink<'_>, info_path: &Path) -> Option<Value> {
    let info: Value = match std::fs::read_to_string(info_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
    {
        Ok(i) => i,
        Err(e) => {
            s.add("info", info_path, None, format!("cannot read meta/info.json ({e}); is this a LeRobot v3.0 dataset?"));
            return None;
        }
    };
    if info["codebase_version"] != "v3.0" {
        s.add("info", info_path, None, format!("codebase_version is {}, not \"v3.0\"", info["codebase_version"]));
    }
    for key in ["robot_type", "total_episodes", "total_frames", "total_tasks", "chunks_size", "fps", "splits", "data_path", "features"] {
        if info.get(key).is_none() {
            s.add("info", info_path, None, format!("key {key:?} is missing"));
        }
    }
    Some(info)
}

/// Splits: "a:b" episode ranges, disjoint, covering every episode.
fn check_splits(s: &mut Sink<'_>, info_path: &Path, info: &Value) {
    if let Some(splits) = info["splits"].as_object() {
        let total = info["total_episodes"].as_u64().unwrap_or(0);
        let mut ranges = Vec::new();
        for (name, r) in splits {
            match r.as_str().and_then(|r| r.split_once(':')).and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?))) {
                Some((a, b)) if a <= b && b <= total => ranges.push((a, b)),
                _ => s.add("info", info_path, None, format!("split {name} is {r}, not a range \"start:end\" within 0:{total}")),
            }
        }
        ranges.sort();
        let mut next = 0;
        for (a, b) in &ranges {
            if *a != next {
                s.add("info", info_path, None, format!("splits leave a gap or overlap at episode {next} (next range starts at {a})"));
            }
            next = *b;
        }
        if next != total && !ranges.is_empty() {
            s.add("info", info_path, None, format!("splits end at episode {next}, total_episodes is {total}"));
        }
    }
}

/// The features: the five defaults last with their dtypes, names, dtype and shape.
fn check_features(s: &mut Sink<'_>, info_path: &Path, info: &Value) -> Vec<(String, Value)> {
    let features: Vec<(String, Value)> =
        info["features"].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default();
    // The language columns, where present, follow the defaults (as lerobot's annotation writer puts them).
    let names: Vec<&str> = features.iter().map(|(k, _)| k.as_str()).filter(|k| !LANGUAGE.contains(k)).collect();
    let tail: Vec<&str> = names.iter().rev().take(5).rev().copied().collect();
    if tail != DEFAULTS.iter().map(|d| d.0).collect::<Vec<_>>() {
        s.add(
            "info",
            info_path,
            None,
            format!("the last five features (before any language columns) must be timestamp, frame_index, episode_index, index, task_index; they are {tail:?}"),
        );
    }
    let all: Vec<&str> = features.iter().map(|(k, _)| k.as_str()).collect();
    if let Some(first) = all.iter().position(|k| LANGUAGE.contains(k)) {
        if all[first..].iter().any(|k| !LANGUAGE.contains(k)) {
            s.add("info", info_path, None, "language_persistent and language_events must come after every other feature".into());
        }
    }
    for (name, f) in features.iter().filter(|(k, _)| LANGUAGE.contains(&k.as_str())) {
        if f["dtype"] != "language" {
            s.add("info", info_path, None, format!("feature {name} must have dtype \"language\", has {}", f["dtype"]));
        }
    }
    for (name, dtype) in DEFAULTS {
        if let Some((_, f)) = features.iter().find(|(k, _)| k == name) {
            if f["dtype"] != dtype {
                s.add("info", info_path, None, format!("feature {name} must be {dtype}, is {}", f["dtype"]));
            }
        }
    }
    for (name, f) in &features {
        if name.contains('/') {
            s.add("info", info_path, None, format!("feature name {name:?} contains \"/\""));
        }
        if f.get("dtype").is_none() || f.get("shape").is_none() {
            s.add("info", info_path, None, format!("feature {name} lacks dtype or shape"));
        }
    }
    features
}

/// `meta/tasks.parquet`: pandas index metadata, contiguous `task_index`; returns the task count.
fn check_tasks(s: &mut Sink<'_>, tasks_path: &Path) -> usize {
    match read_parquet(tasks_path) {
        Err(e) => {
            s.add("tasks", tasks_path, None, e);
            0
        }
        Ok((schema, batches)) => {
            let pandas = schema.metadata().get("pandas").and_then(|p| serde_json::from_str::<Value>(p).ok());
            if pandas.as_ref().and_then(|p| p["index_columns"].as_array().map(|a| !a.is_empty())) != Some(true) {
                s.add(
                    "tasks",
                    tasks_path,
                    None,
                    "no pandas metadata naming the task text as the index: LeRobot would read tasks as integers".into(),
                );
            }
            let idx = int_col(&batches, "task_index").unwrap_or_default();
            for (i, t) in idx.iter().enumerate() {
                if *t != i as i64 {
                    s.add("tasks", tasks_path, Some(i as u64), format!("task_index {t}, expected {i}"));
                }
            }
            idx.len()
        }
    }
}

/// What the data files hold: the next global index and each episode's row range.
struct DataRows {
    next_index: i64,
    /// (episode, from, to).
    episodes: Vec<(i64, i64, i64)>,
}

/// The data files: columns and metadata against the features, contiguous
/// `index` and `episode_index`, `frame_index` from 0, timestamps, task indexes.
fn check_data(s: &mut Sink<'_>, root: &Path, features: &[(String, Value)], fps: f64, n_tasks: usize) -> DataRows {
    let data_files = files_under(&root.join("data"));
    if data_files.is_empty() {
        s.add("data", &root.join("data"), None, "no data files".into());
    }
    let expected_cols: Vec<&str> = features.iter().filter(|(_, f)| f["dtype"] != "video").map(|(k, _)| k.as_str()).collect();
    let mut next_index = 0i64;
    let mut last_episode = -1i64;
    let mut last_frame = -1i64;
    let mut episode_rows: Vec<(i64, i64, i64)> = Vec::new(); // (episode, from, to)
    for file in &data_files {
        let (schema, batches, groups) = match read_parquet_groups(file) {
            Ok(x) => x,
            Err(e) => {
                s.add("data", file, None, e);
                continue;
            }
        };
        let cols: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        if cols != expected_cols {
            s.add("data", file, None, format!("columns {cols:?} differ from the features in info.json {expected_cols:?}"));
        }
        if !schema.metadata().contains_key("huggingface") {
            s.add("data", file, None, "no `huggingface` schema metadata: datasets will not decode images".into());
        }
        let (Some(index), Some(ep), Some(fr), Some(task)) = (
            int_col(&batches, "index"),
            int_col(&batches, "episode_index"),
            int_col(&batches, "frame_index"),
            int_col(&batches, "task_index"),
        ) else {
            s.add("data", file, None, "index, episode_index, frame_index or task_index missing or not int64".into());
            continue;
        };
        let ts: Vec<f32> = batches
            .iter()
            .filter_map(|b| b.column_by_name("timestamp")?.as_any().downcast_ref::<Float32Array>().map(|a| a.values().to_vec()))
            .flatten()
            .collect();
        for r in 0..index.len() {
            let row = Some(r as u64);
            if index[r] != next_index {
                s.add("index", file, row, format!("index {} where {next_index} was expected (must be global and contiguous)", index[r]));
            }
            next_index = index[r] + 1;
            if ep[r] != last_episode {
                if ep[r] != last_episode + 1 {
                    s.add("episode", file, row, format!("episode_index jumps from {last_episode} to {}", ep[r]));
                }
                if fr[r] != 0 {
                    s.add("frame", file, row, format!("episode {} starts at frame_index {}, not 0", ep[r], fr[r]));
                }
                episode_rows.push((ep[r], index[r], index[r] + 1));
            } else {
                if fr[r] != last_frame + 1 {
                    s.add("frame", file, row, format!("frame_index {} follows {last_frame}", fr[r]));
                }
                if let Some(e) = episode_rows.last_mut() {
                    e.2 = index[r] + 1;
                }
            }
            last_episode = ep[r];
            last_frame = fr[r];
            if let Some(t) = ts.get(r) {
                let want = fr[r] as f64 / fps.max(1e-9);
                if (f64::from(*t) - want).abs() > 1e-4 {
                    s.add("timestamp", file, row, format!("timestamp {t} is not frame_index / fps = {want:.6}"));
                }
            }
            if task[r] < 0 || task[r] as usize >= n_tasks.max(1) {
                s.add("task", file, row, format!("task_index {} is not a row of meta/tasks.parquet ({n_tasks} tasks)", task[r]));
            }
        }
        check_row_groups(s, file, &ep, &groups);
        let cameras: Vec<&str> =
            features.iter().filter(|(_, f)| f["dtype"] == "image" || f["dtype"] == "video").map(|(k, _)| k.as_str()).collect();
        language::check(s, file, &batches, &ep, &ts, &cameras);
    }
    DataRows { next_index, episodes: episode_rows }
}

/// One row group per episode: every row group holds exactly one episode,
/// and an episode goes on in a further row group only after one whose image
/// column passed half of [`IMAGE_GROUP_BYTES`] (tacit's writer splits at
/// it: pyarrow reads a nested binary column chunk only up to 2 GiB).
fn check_row_groups(s: &mut Sink<'_>, file: &Path, ep: &[i64], groups: &[(i64, i64)]) {
    let mut at = 0usize;
    for (g, (n, images)) in groups.iter().enumerate() {
        let n = *n as usize;
        let rows = &ep[at.min(ep.len())..(at + n).min(ep.len())];
        let (first, last) = (rows.first().copied(), rows.last().copied());
        if first != last {
            s.add(
                "row groups",
                file,
                Some(at as u64),
                format!(
                    "row group {g} holds episodes {} to {} (LeRobot keeps one episode per row group)",
                    first.unwrap_or(-1),
                    last.unwrap_or(-1)
                ),
            );
        } else if let Some(e) = first {
            let goes_on = ep.get(at + n) == Some(&e);
            if goes_on && (*images as usize) < IMAGE_GROUP_BYTES / 2 {
                s.add(
                    "row groups",
                    file,
                    Some(at as u64),
                    format!(
                        "episode {e} is split across row groups after {} MB of images (LeRobot keeps one episode per row group; tacit splits only past {} MB of a camera)",
                        images / 1_000_000,
                        IMAGE_GROUP_BYTES / 1_000_000
                    ),
                );
            }
        }
        at += n;
    }
}

/// `meta/episodes`: lengths and ranges against the data, and where each
/// episode's frames are in the MP4s; returns frames and end time per MP4.
fn check_episodes(
    s: &mut Sink<'_>,
    root: &Path,
    features: &[(String, Value)],
    fps: f64,
    episode_rows: &[(i64, i64, i64)],
) -> std::collections::BTreeMap<(String, i64), (u64, f64)> {
    let video_keys: Vec<String> = features.iter().filter(|(_, f)| f["dtype"] == "video").map(|(k, _)| k.clone()).collect();
    let mut video_frames: std::collections::BTreeMap<(String, i64), (u64, f64)> = Default::default();
    let ep_files = files_under(&root.join("meta/episodes"));
    let mut listed = Vec::new();
    for file in &ep_files {
        match read_parquet(file) {
            Err(e) => s.add("episodes", file, None, e),
            Ok((_, batches)) => {
                let (Some(e), Some(from), Some(to), Some(len)) = (
                    int_col(&batches, "episode_index"),
                    int_col(&batches, "dataset_from_index"),
                    int_col(&batches, "dataset_to_index"),
                    int_col(&batches, "length"),
                ) else {
                    s.add("episodes", file, None, "episode_index, dataset_from_index, dataset_to_index or length missing".into());
                    continue;
                };
                for r in 0..e.len() {
                    if to[r] - from[r] != len[r] {
                        s.add("episodes", file, Some(r as u64), format!("length {} but range {}..{}", len[r], from[r], to[r]));
                    }
                    listed.push((e[r], from[r], to[r]));
                }
                for key in &video_keys {
                    let (Some(fi), Some(a), Some(b)) = (
                        int_col(&batches, &format!("videos/{key}/file_index")),
                        float_col(&batches, &format!("videos/{key}/from_timestamp")),
                        float_col(&batches, &format!("videos/{key}/to_timestamp")),
                    ) else {
                        s.add("video", file, None, format!("videos/{key}/file_index, from_timestamp or to_timestamp missing"));
                        continue;
                    };
                    for r in 0..e.len() {
                        let want = len[r] as f64 / fps.max(1e-9);
                        if ((b[r] - a[r]) - want).abs() > 1e-4 {
                            s.add("video", file, Some(r as u64), format!("{key}: {}..{} s is not length / fps = {want:.6} s", a[r], b[r]));
                        }
                        let e_frames = video_frames.entry((key.clone(), fi[r])).or_insert((0, 0.0));
                        if (a[r] - e_frames.1).abs() > 1e-4 {
                            s.add(
                                "video",
                                file,
                                Some(r as u64),
                                format!("{key}: episode starts at {} s of its MP4, the previous one ended at {} s", a[r], e_frames.1),
                            );
                        }
                        e_frames.0 += len[r] as u64;
                        e_frames.1 = b[r];
                    }
                }
            }
        }
    }
    if !ep_files.is_empty() && listed != episode_rows {
        let first = listed.iter().zip(episode_rows.iter()).position(|(a, b)| a != b).unwrap_or(listed.len().min(episode_rows.len()));
        s.add(
            "episodes",
            ep_files.first().map(PathBuf::as_path).unwrap_or(root),
            Some(first as u64),
            format!("episode ranges {:?} disagree with the data {:?}", listed.get(first), episode_rows.get(first)),
        );
    } else if ep_files.is_empty() {
        s.add("episodes", &root.join("meta/episodes"), None, "no episodes table".into());
    }
    video_frames
}

/// Every MP4 the episodes point at exists and has their frames.
fn check_videos(s: &mut Sink<'_>, root: &Path, video_frames: &std::collections::BTreeMap<(String, i64), (u64, f64)>) {
    for ((key, fi), (frames, _)) in video_frames {
        let mp4 = root.join(format!("videos/{key}/chunk-000/file-{fi:03}.mp4"));
        if !mp4.is_file() {
            s.add("video", &mp4, None, "missing: the episodes table points here".into());
        } else if let Some(n) = count_video_frames(&mp4) {
            if n != *frames {
                s.add("video", &mp4, None, format!("{n} frames, the episodes in it have {frames}"));
            }
        }
    }
}

/// `meta/stats.json` has every feature but strings and language columns (LeRobot computes none for them).
fn check_stats(s: &mut Sink<'_>, stats_path: &Path, features: &[(String, Value)]) {
    match std::fs::read_to_string(stats_path).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok()) {
        None => s.add("stats", stats_path, None, "missing or not JSON".into()),
        Some(st) => {
            for (name, f) in features {
                if f["dtype"] != "string" && f["dtype"] != "language" && st.get(name).is_none() {
                    s.add("stats", stats_path, None, format!("no statistics for feature {name}"));
                }
            }
        }
    }
}

/// What `tacit inspect DATASET` shows.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Summary {
    /// `lerobot v3.0`.
    pub format: String,
    /// `robot_type`.
    pub robot_type: String,
    /// Frames per second.
    pub fps: f64,
    /// Episodes.
    pub episodes: u64,
    /// Frames.
    pub frames: u64,
    /// Tasks (text).
    pub tasks: Vec<String>,
    /// Features: name, dtype, shape.
    pub features: Vec<(String, String, Vec<u64>)>,
    /// Files relative to the dataset, with bytes.
    pub files: Vec<(String, u64)>,
    /// Frames per label value, per tier: (tier, value, frames).
    pub label_frames: Vec<(String, String, u64)>,
}

/// Summarizes a LeRobot v3.0 dataset (reads only the label columns of the data).
pub fn summarize_lerobot(root: &Path) -> Result<Summary, crate::DatasetError> {
    let info_path = root.join("meta/info.json");
    let text = std::fs::read_to_string(&info_path).map_err(|e| crate::DatasetError::io("read", &info_path, e))?;
    let info: Value = serde_json::from_str(&text).map_err(|e| crate::DatasetError::session(format!("not JSON ({e})"), &info_path))?;
    let mut s = Summary {
        format: format!("lerobot {}", info["codebase_version"].as_str().unwrap_or("?")),
        robot_type: info["robot_type"].as_str().unwrap_or_default().to_string(),
        fps: info["fps"].as_f64().unwrap_or(0.0),
        episodes: info["total_episodes"].as_u64().unwrap_or(0),
        frames: info["total_frames"].as_u64().unwrap_or(0),
        ..Summary::default()
    };
    if let Some(m) = info["features"].as_object() {
        for (k, f) in m {
            let shape = f["shape"].as_array().map(|a| a.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
            s.features.push((k.clone(), f["dtype"].as_str().unwrap_or("?").to_string(), shape));
        }
    }
    if let Ok((_, batches)) = read_parquet(&root.join("meta/tasks.parquet")) {
        for b in &batches {
            if let Some(c) = b.column_by_name("__index_level_0__").or_else(|| b.column_by_name("task")) {
                if let Some(a) = c.as_any().downcast_ref::<arrow_array::LargeStringArray>() {
                    s.tasks.extend(a.iter().map(|t| t.unwrap_or_default().to_string()));
                } else if let Some(a) = c.as_any().downcast_ref::<arrow_array::StringArray>() {
                    s.tasks.extend(a.iter().map(|t| t.unwrap_or_default().to_string()));
                }
            }
        }
    }
    let mut all = files_under(root);
    all.extend(["meta/info.json", "meta/stats.json", "meta/tacit.json"].iter().map(|f| root.join(f)).filter(|p| p.is_file()));
    all.extend(crate::write::files_under(&root.join("videos"), Some("mp4")));
    all.sort();
    for f in &all {
        let bytes = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
        s.files.push((f.strip_prefix(root).unwrap_or(f).display().to_string(), bytes));
    }
    let mut counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for file in files_under(&root.join("data")) {
        let Ok(f) = File::open(&file) else { continue };
        let Ok(b) = ParquetRecordBatchReaderBuilder::try_new(f) else { continue };
        let wanted: Vec<usize> =
            b.schema().fields().iter().enumerate().filter(|(_, f)| f.name().starts_with("label.")).map(|(i, _)| i).collect();
        let mask = parquet::arrow::ProjectionMask::roots(b.parquet_schema(), wanted);
        let Ok(r) = b.with_projection(mask).build() else { continue };
        for batch in r.flatten() {
            for (i, field) in batch.schema().fields().iter().enumerate() {
                let tier = field.name().trim_start_matches("label.").to_string();
                if let Some(a) = batch.column(i).as_any().downcast_ref::<arrow_array::StringArray>() {
                    for v in a.iter().flatten().filter(|v| !v.is_empty()) {
                        *counts.entry((tier.clone(), v.to_string())).or_default() += 1;
                    }
                }
            }
        }
    }
    s.label_frames = counts.into_iter().map(|((t, v), n)| (t, v, n)).collect();
    Ok(s)
}
