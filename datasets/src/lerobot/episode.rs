//! One episode: frames on the fps grid, cameras and sensors resampled onto it,
//! commentary and labels joined at each frame.

use super::*;

use crate::session::Frame;

use super::language::Language;

/// Frames of a session's episode: the grid `k / fps` inside its duration.
pub(super) fn frames_of(s: &Session, fps: f64) -> usize {
    frames_in(s.manifest.duration_ns, fps as u32)
}

/// Whole frames at `fps` in `ns` nanoseconds (integer arithmetic: 0.7 s at 10 fps is 7).
pub(super) fn frames_in(ns: i64, fps: u32) -> usize {
    (i128::from(ns.max(0)) * i128::from(fps) / 1_000_000_000) as usize
}

/// Where an episode goes: its index, task, first global frame index, and
/// its frames `t0 + k / fps` for `k < n`.
pub(super) struct EpisodePlace {
    pub(super) episode: usize,
    pub(super) task_index: usize,
    pub(super) first_index: u64,
    pub(super) t0: i64,
    pub(super) n: usize,
}

impl EpisodePlace {
    /// Session time of frame `k` at `fps`.
    pub(super) fn grid(&self, fps: u32, k: usize) -> i64 {
        self.t0 + (k as f64 * (1e9 / f64::from(fps))).round() as i64
    }
}

/// The `timestamp` column's value at frame `k` (episode time, s).
pub(super) fn frame_stamp(k: usize, fps: u32) -> f32 {
    (k as f64 / f64::from(fps)) as f32
}

/// Half a frame at `fps`, ns: a point belongs to the frame whose window
/// `[t − half, t + half)` holds it.
pub(super) fn half_frame(fps: u32) -> i64 {
    (5e8 / f64::from(fps)).round() as i64
}

/// What episodes are written into: the data file's writer, the MP4 writers
/// (video features), and the export's progress and report.
pub(super) struct EpisodeWriter<'a> {
    pub(super) layout: &'a Layout,
    pub(super) schema: SchemaRef,
    pub(super) data: BackgroundWriter,
    pub(super) videos: Vec<VideoWriter>,
    pub(super) progress: &'a dyn Progress,
    pub(super) report: &'a mut ExportReport,
}

/// One camera's place while frames are picked for the grid.
struct CameraPick {
    cursor: FrameCursor,
    now: Frame,
    next: Option<Frame>,
    /// Time of the frame picked last (a repeat is counted).
    last_pick: Option<i64>,
    /// The picked frame re-encoded (`--image-size`), kept for repeats.
    resized: Vec<u8>,
    /// Channel means of a few frames, for the image statistics.
    samples: Vec<f64>,
}

impl CameraPick {
    fn open(s: &Session, name: &str) -> Result<Self, DatasetError> {
        let Some(info) = s.streams(StreamKind::Camera).find(|x| x.name == name) else {
            return Err(DatasetError::session(format!("camera {name} is in the profile but not in the session"), &s.dir));
        };
        let mut cursor = FrameCursor::new(&s.dir, info);
        let Some(now) = cursor.next_frame()? else {
            return Err(DatasetError::session(format!("camera {name} recorded no frames"), &s.dir));
        };
        let next = cursor.next_frame()?;
        Ok(Self { cursor, now, next, last_pick: None, resized: Vec::new(), samples: Vec::new() })
    }

    /// Moves to the frame nearest `t` (advancing while the next one is at
    /// least as close); says whether it differs from the last pick.
    fn pick(&mut self, t: i64) -> Result<bool, DatasetError> {
        while let Some(nx) = self.next.as_ref() {
            if (nx.t_ns - t).abs() <= (self.now.t_ns - t).abs() {
                if let Some(nx) = self.next.take() {
                    self.now = nx;
                }
                self.next = self.cursor.next_frame()?;
            } else {
                break;
            }
        }
        let fresh = self.last_pick != Some(self.now.t_ns);
        self.last_pick = Some(self.now.t_ns);
        Ok(fresh)
    }

    /// The picked frame's JPEG as the dataset stores it.
    fn bytes(&mut self, resize: Option<(u32, u32)>, fresh: bool, dir: &Path) -> Result<&[u8], DatasetError> {
        match resize {
            Some((w, h)) => {
                if fresh {
                    let t = self.now.t_ns;
                    self.resized = resize_jpeg(self.now.data(), w, h)
                        .map_err(|e| DatasetError::session(format!("camera frame at {t} ns cannot be resized: {e}"), dir))?;
                }
                Ok(&self.resized)
            }
            None => Ok(self.now.data()),
        }
    }
}

/// Sensor channels resampled onto the grid: per vector (`observation.state`,
/// `action`), `n × components` values (window means, held over gaps).
fn resample_sensors(s: &Session, layout: &Layout, t0: i64, n: usize) -> Result<Vec<Vec<f32>>, DatasetError> {
    let fps = f64::from(layout.fps);
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
    Ok(vectors)
}

/// The state and action columns of rows `k..k + rows` (a scalar column for
/// one component, a fixed-size list otherwise).
fn vector_columns(layout: &Layout, vectors: &[Vec<f32>], k: usize, rows: usize) -> Vec<ArrayRef> {
    let mut columns: Vec<ArrayRef> = Vec::new();
    for (vi, comps) in [&layout.state, &layout.action].into_iter().enumerate() {
        let c = comps.len();
        if c == 0 {
            continue;
        }
        if c == 1 {
            let col: Float32Array = (0..rows).map(|r| vectors[vi][k + r]).collect();
            columns.push(Arc::new(col));
            continue;
        }
        let mut fl = FixedSizeListBuilder::new(Float32Builder::new(), c as i32).with_field(Field::new("item", DataType::Float32, true));
        for r in 0..rows {
            fl.values().append_slice(&vectors[vi][(k + r) * c..(k + r + 1) * c]);
            fl.append(true);
        }
        columns.push(Arc::new(fl.finish()));
    }
    columns
}

/// The commentary and one column per label tier: the text active at each frame.
fn text_columns(s: &Session, layout: &Layout, p: &EpisodePlace, rows: std::ops::Range<usize>) -> Vec<ArrayRef> {
    let half = half_frame(layout.fps);
    let grid = |k: usize| p.grid(layout.fps, k);
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut text = StringBuilder::new();
    for r in rows.clone() {
        let at = covering(&s.commentary, grid(r), half, |c| (c.start_ns, c.end_ns));
        text.append_value(at.map(|i| s.commentary[i].text.as_str()).unwrap_or(""));
    }
    columns.push(Arc::new(text.finish()));
    for tier in &layout.tiers {
        let on = s.counted(tier);
        let mut b = StringBuilder::new();
        for r in rows.clone() {
            b.append_value(covering(&on, grid(r), half, |l| (l.start_ns, l.end_ns)).map(|i| on[i].value.as_str()).unwrap_or(""));
        }
        columns.push(Arc::new(b.finish()));
    }
    columns
}

/// `timestamp`, `frame_index`, `episode_index`, `index`, `task_index` of rows `k..k + rows`.
fn index_columns(p: &EpisodePlace, fps: u32, k: usize, rows: usize) -> [ArrayRef; 5] {
    let ts: Float32Array = (0..rows).map(|r| frame_stamp(k + r, fps)).collect();
    let fi: Int64Array = (0..rows).map(|r| (k + r) as i64).collect();
    let ei: Int64Array = std::iter::repeat_n(p.episode as i64, rows).collect();
    let gi: Int64Array = (0..rows).map(|r| (p.first_index + (k + r) as u64) as i64).collect();
    let ti: Int64Array = std::iter::repeat_n(p.task_index as i64, rows).collect();
    [Arc::new(ts), Arc::new(fi), Arc::new(ei), Arc::new(gi), Arc::new(ti)]
}

impl EpisodeWriter<'_> {
    /// Writes one episode of session `s` (its task, the session's markers) as
    /// one row group; returns its feature statistics and where its language
    /// rows came from.
    pub(super) fn write(
        &mut self,
        s: &Session,
        p: &EpisodePlace,
        task: &str,
        markers: &[(i64, String, String)],
    ) -> Result<(BTreeMap<String, Stats>, Vec<Value>), DatasetError> {
        let layout = self.layout;
        // Sensors first: small (frames × channels), resampled in one pass each.
        let vectors = resample_sensors(s, layout, p.t0, p.n)?;
        let mut cams = layout.cameras.iter().map(|(name, _, _)| CameraPick::open(s, name)).collect::<Result<Vec<_>, _>>()?;
        let language = Language::of(s, layout, p, task, markers);
        let mut k = 0;
        // Image bytes of each camera in the open row group.
        let mut group_bytes = vec![0usize; cams.len()];
        while k < p.n {
            let rows = BATCH_ROWS.min(p.n - k);
            let mut columns = Vec::new();
            let mut bytes = Vec::new();
            for (ci, cam) in cams.iter_mut().enumerate() {
                if let Some((col, b)) = self.camera_column(s, ci, cam, p, k..k + rows)? {
                    columns.push(col);
                    bytes.push(b);
                }
            }
            // An episode stays one row group unless a camera's column would
            // pass IMAGE_GROUP_BYTES (pyarrow, and so `datasets` and
            // LeRobotDataset, cannot read a nested binary column chunk over
            // 2 GiB): then it goes on in a new row group.
            if group_bytes.iter().zip(&bytes).any(|(have, add)| *have > 0 && have + add > IMAGE_GROUP_BYTES) {
                self.data.flush()?;
                group_bytes.iter_mut().for_each(|b| *b = 0);
            }
            group_bytes.iter_mut().zip(&bytes).for_each(|(have, add)| *have += add);
            columns.extend(vector_columns(layout, &vectors, k, rows));
            columns.extend(text_columns(s, layout, p, k..k + rows));
            columns.extend(index_columns(p, layout.fps, k, rows));
            columns.extend(language.columns(k..k + rows).map_err(|e| DatasetError::write(e, &s.dir))?);
            let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| DatasetError::write(e, &s.dir))?;
            self.data.write(batch)?;
            k += rows;
            self.progress.advance(rows as u64);
            if self.progress.cancelled() {
                return Err(DatasetError::Cancelled);
            }
        }
        // One row group per episode (LeRobot reads an episode as one row group).
        self.data.flush()?;
        let (persistent, events) = language.counts();
        self.report.language_rows += (persistent + events) as u64;
        Ok((episode_stats(layout, p, &vectors, cams.into_iter().map(|c| c.samples).collect()), language.sources))
    }

    /// One camera's frames for `rows`: to its MP4 (video
    /// features; no column), or an image column and its bytes.
    fn camera_column(
        &mut self,
        s: &Session,
        ci: usize,
        cam: &mut CameraPick,
        p: &EpisodePlace,
        rows: std::ops::Range<usize>,
    ) -> Result<Option<(ArrayRef, usize)>, DatasetError> {
        let sample_every = (p.n / IMAGE_STAT_FRAMES).max(1);
        let mut b = BinaryBuilder::new();
        let mut paths = StringBuilder::new();
        let mut total = 0;
        for k in rows {
            let fresh = cam.pick(p.grid(self.layout.fps, k))?;
            if !fresh {
                self.report.repeated_frames += 1;
            }
            let keep_sample = k % sample_every == 0 && cam.samples.len() < IMAGE_STAT_FRAMES * 3;
            let bytes = cam.bytes(self.layout.resize, fresh, &s.dir)?;
            let means = if keep_sample { jpeg_channel_means(bytes) } else { None };
            match self.videos.get_mut(ci) {
                Some(v) => v.push(bytes)?,
                None => {
                    b.append_value(bytes);
                    total += bytes.len();
                    paths.append_value(format!("frame-{:06}.jpg", p.first_index + k as u64));
                }
            }
            if let Some(m) = means {
                cam.samples.extend(m);
            }
        }
        if !self.videos.is_empty() {
            return Ok(None);
        }
        let arr = StructArray::try_new(image_fields(), vec![Arc::new(b.finish()), Arc::new(paths.finish())], None)
            .map_err(|e| DatasetError::write(e, &s.dir))?;
        Ok(Some((Arc::new(arr), total)))
    }
}

/// The episode's statistics per feature (images: from the sampled channel means).
fn episode_stats(layout: &Layout, p: &EpisodePlace, vectors: &[Vec<f32>], image_samples: Vec<Vec<f64>>) -> BTreeMap<String, Stats> {
    let (n, fps) = (p.n, f64::from(layout.fps));
    let mut values: BTreeMap<String, (Vec<f64>, usize, bool)> = BTreeMap::new();
    for (vi, (key, comps)) in [("observation.state", &layout.state), ("action", &layout.action)].into_iter().enumerate() {
        if !comps.is_empty() {
            values.insert(key.into(), (vectors[vi].iter().map(|v| f64::from(*v)).collect(), comps.len(), false));
        }
    }
    for ((name, _, _), samples) in layout.cameras.iter().zip(image_samples) {
        values.insert(format!("observation.images.{name}"), (samples, 3, true));
    }
    values.insert("timestamp".into(), ((0..n).map(|k| k as f64 / fps).collect(), 1, false));
    values.insert("frame_index".into(), ((0..n).map(|k| k as f64).collect(), 1, false));
    values.insert("episode_index".into(), (vec![p.episode as f64; n], 1, false));
    values.insert("index".into(), ((0..n).map(|k| (p.first_index + k as u64) as f64).collect(), 1, false));
    values.insert("task_index".into(), (vec![p.task_index as f64; n], 1, false));
    let mut out = BTreeMap::new();
    for (k, (v, c, image)) in values {
        let mut st = Stats::of(&v, c, image);
        if image {
            st.count = (v.len() / 3) as u64;
        }
        out.insert(k, st);
    }
    out
}
