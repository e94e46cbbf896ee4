//! The LeRobot v3.0 exporter (`shared/specs/lerobot-v3.md`): one episode per
//! session, frames on a constant fps grid, cameras as `image` features (the
//! JPEG bytes as recorded), sensors resampled into `observation.state` and
//! `action` (see [`crate::resample`]), the commentary segment and the label
//! of each tier active at each frame as strings, LeRobot's language columns
//! (see [`language`]), tasks, episodes and stats. Each episode is one row
//! group up to [`IMAGE_GROUP_BYTES`] of a camera; image pages past 64 MiB
//! of a column chunk spill to a temporary file until it closes, so memory
//! stays flat in episode length.
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
use crate::split::{self, group_key, GroupBy, SplitSpec, Unit};
use crate::stats::Stats;
use crate::video::{VideoCodec, VideoWriter};
mod base;
mod dataset;
mod episode;
mod features;
mod jpeg;
mod language;
mod meta;
pub mod validate;

pub use crate::report::ExportReport;
use crate::write::{
    check_out, commit, dir_size, files_under, move_into, open_sessions, parquet_file, seal, skip, temp_beside, write_json, BackgroundWriter,
};
use base::Base;
use dataset::DatasetTarget;
use episode::{frames_in, frames_of};
use features::{data_props, features, image_fields};
use jpeg::jpeg_channel_means;
pub use jpeg::resize_jpeg;
use meta::{write_episodes, write_tasks};

/// Rows per record batch handed to the Parquet writer.
const BATCH_ROWS: usize = 64;
/// Most JPEG bytes of one camera in one row group: an episode with more goes
/// on in further row groups (pyarrow reads a nested binary column chunk only
/// up to 2 GiB; a 10-minute 1280×720 episode, 2.5 GB a camera, failed in
/// `datasets` and pyarrow's `read_table`).
pub(crate) const IMAGE_GROUP_BYTES: usize = 1 << 30;

/// A camera's image column (`observation.images.<camera>`), by its top-level name.
pub(crate) fn is_image_column(name: &str) -> bool {
    name.starts_with("observation.images.")
}
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
    /// Where each language row came from (`meta/tacit.json`).
    language: Vec<Value>,
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
    for (key, comps) in [("observation.state", &layout.state), ("action", &layout.action)] {
        if comps.len() == 1 {
            progress.message(&format!(
                "warning: {key} has one channel ({}): it is written as LeRobot writes a one-element feature (a scalar), and LeRobot 0.6.1's ACT policy cannot train on that; give the station a second {} channel to train them (see docs/formats.md)",
                Layout::names(comps).join(""),
                if key == "action" { "action" } else { "state" }
            ));
        }
    }
    let robot_type = opts.robot_type.clone().or(base.robot_type.clone()).unwrap_or_else(|| first.manifest.station.clone());
    let tmp = temp_beside(&opts.out, if appending { "append" } else { "tmp" })?;
    // On any error below, `tmp` is removed as it drops.
    let target = DatasetTarget { root: tmp.path(), layout: &layout, robot_type: &robot_type, spec: &spec, base: &base, opts };
    target.write(&fitting, progress, &mut report)?;
    if appending {
        // New data, video and episode files first; then the metadata, info.json last.
        let root = tmp.path();
        let mut files = files_under(root, None);
        files.sort_by_key(|p| {
            (p.starts_with(root.join("meta")) && !p.starts_with(root.join("meta/episodes")), p.ends_with("meta/info.json"))
        });
        for from in files {
            let rel = from.strip_prefix(root).unwrap_or(&from);
            move_into(&from, &opts.out.join(rel))?;
        }
    } else {
        commit(tmp, &opts.out)?;
    }
    report.bytes = dir_size(&opts.out);
    Ok(report)
}
