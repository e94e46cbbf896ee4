//! Writing the dataset: episodes in order across data, video and meta files,
//! then `info.json`, stats, tasks and the episode index.

use super::*;

use super::episode::{EpisodePlace, EpisodeWriter};

/// One export into a dataset folder: where, the features every episode
/// shares, and what an existing dataset holds already (`--append`).
pub(super) struct DatasetTarget<'a> {
    pub(super) root: &'a Path,
    pub(super) layout: &'a Layout,
    pub(super) robot_type: &'a str,
    pub(super) spec: &'a SplitSpec,
    pub(super) base: &'a Base,
    pub(super) opts: &'a LeRobotOptions,
}

/// The episodes to write: the sessions that fit, their split units and
/// splits, each episode's spec, and the order they are written in.
struct EpisodePlan<'s> {
    usable: Vec<&'s Session>,
    units: Vec<Unit>,
    splits: Vec<String>,
    specs: Vec<Spec>,
    order: Vec<usize>,
}

/// What the episodes came to, for the meta files.
struct Written {
    tasks: Vec<String>,
    episodes: Vec<EpisodeRow>,
    ranges: Vec<(String, usize, usize)>,
    /// The next global frame index (= total frames).
    index: u64,
}

impl DatasetTarget<'_> {
    /// Writes the sessions that fit as episodes, then the meta files.
    pub(super) fn write(&self, sessions: &[Session], progress: &dyn Progress, report: &mut ExportReport) -> Result<(), DatasetError> {
        let usable = self.usable(sessions, progress, report)?;
        let units: Vec<Unit> =
            usable.iter().map(|s| Unit { group: group_key(s, self.spec.group_by), weight: s.manifest.duration_ns }).collect();
        let splits = split::assign(self.spec, &units, &self.base.known);
        let specs = self.episode_specs(&usable, progress);
        let mut order: Vec<usize> = (0..specs.len()).collect();
        order.sort_by_key(|&j| (self.spec.rank(&splits[specs[j].unit]), specs[j].unit, specs[j].t0));
        let ranges = self.split_ranges(&order, &specs, &splits)?;
        let plan = EpisodePlan { usable, units, splits, specs, order };
        let (info_features, schema) = features(self.layout);
        let written = self.write_data(&plan, ranges, &schema, progress, report)?;
        if written.episodes.is_empty() {
            return Err(DatasetError::Options("no session could be exported (see the warnings)".into()));
        }
        self.write_meta(&written, info_features)?;
        report.episodes = written.episodes.len();
        report.frames = written.index - self.base.frames;
        Ok(())
    }

    /// The sessions that fit the layout and have frames; the rest are skipped
    /// (or, with `--strict`, refused).
    fn usable<'s>(
        &self,
        sessions: &'s [Session],
        progress: &dyn Progress,
        report: &mut ExportReport,
    ) -> Result<Vec<&'s Session>, DatasetError> {
        let (layout, opts) = (self.layout, self.opts);
        let mut usable = Vec::new();
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
            } else if frames_of(s, f64::from(layout.fps)) == 0 {
                skip(s, "shorter than one frame", opts.strict, progress, report)?;
            } else if let Some(c) = s.streams(StreamKind::Camera).find(|c| c.count == 0) {
                skip(s, &format!("camera {} recorded no frames", c.name), opts.strict, progress, report)?;
            } else {
                usable.push(s);
            }
        }
        Ok(usable)
    }

    /// Episodes: a whole session, or each labeled step of it (not rejected).
    fn episode_specs(&self, usable: &[&Session], progress: &dyn Progress) -> Vec<Spec> {
        let fps = self.layout.fps;
        let mut specs: Vec<Spec> = Vec::new();
        for (i, s) in usable.iter().enumerate() {
            match self.opts.episodes {
                EpisodeUnit::Session => specs.push(Spec { unit: i, t0: 0, n: frames_of(s, f64::from(fps)), task: s.task(), step: None }),
                EpisodeUnit::Step => {
                    let mut steps = 0;
                    for l in
                        s.labels.labels.iter().filter(|l| l.tier == "step" && l.status != ReviewStatus::Rejected && l.end_ns > l.start_ns)
                    {
                        let n = frames_in(l.end_ns - l.start_ns, fps);
                        if n == 0 {
                            progress
                                .message(&format!("warning: step {:?} of {} is shorter than one frame; left out", l.value, s.manifest.id));
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
        specs
    }

    /// The splits as contiguous episode ranges: new episodes extend the last
    /// range or open new ones (LeRobot's splits are ranges).
    fn split_ranges(&self, order: &[usize], specs: &[Spec], splits: &[String]) -> Result<Vec<(String, usize, usize)>, DatasetError> {
        let mut ranges: Vec<(String, usize, usize)> = self.base.ranges.clone();
        for j in order {
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
        Ok(ranges)
    }

    /// The data files and MP4s, episode by episode in split order; a data
    /// file past 100 MB seals in the background while the next one fills.
    fn write_data(
        &self,
        plan: &EpisodePlan<'_>,
        ranges: Vec<(String, usize, usize)>,
        schema: &SchemaRef,
        progress: &dyn Progress,
        report: &mut ExportReport,
    ) -> Result<Written, DatasetError> {
        let (root, layout, base) = (self.root, self.layout, self.base);
        let EpisodePlan { usable, units, splits, specs, order } = plan;
        let fps = f64::from(layout.fps);
        let data_path = |i: usize| root.join(format!("data/chunk-000/file-{i:03}.parquet"));
        let mut file_index = base.data_file;
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
        let data = BackgroundWriter::create(&data_path(file_index), schema.clone(), data_props(layout), None, Some(root))?;
        let mut out = EpisodeWriter { layout, schema: schema.clone(), data, videos, progress, report };
        let mut closing = Vec::new();
        let mut written = Written { tasks: base.tasks.clone(), episodes: Vec::new(), ranges, index: base.frames };
        progress.start("exporting", specs.iter().map(|e| e.n as u64).sum());
        // The markers of the session being written (read once per session).
        let mut markers: (usize, Vec<(i64, String, String)>) = (usize::MAX, Vec::new());
        for &j in order.iter() {
            let spec = &specs[j];
            let (i, n) = (spec.unit, spec.n);
            if out.data.bytes_written()? as u64 > DATA_FILE_BYTES {
                file_index += 1;
                let next = BackgroundWriter::create(&data_path(file_index), schema.clone(), data_props(layout), None, Some(root))?;
                closing.push(std::mem::replace(&mut out.data, next).close());
            }
            let task_index = match written.tasks.iter().position(|t| *t == spec.task) {
                Some(t) => t,
                None => {
                    written.tasks.push(spec.task.clone());
                    written.tasks.len() - 1
                }
            };
            let ep = base.episodes + written.episodes.len();
            let mut spans = Vec::new();
            for v in &mut out.videos {
                v.begin_episode()?;
                spans.push((v.file_index, v.frames_in_file as f64 / fps, (v.frames_in_file + n as u64) as f64 / fps));
            }
            let place = EpisodePlace { episode: ep, task_index, first_index: written.index, t0: spec.t0, n };
            if markers.0 != i {
                markers = (i, language::markers(usable[i])?);
            }
            let (stats, language) = out.write(usable[i], &place, &spec.task, &markers.1)?;
            written.episodes.push(EpisodeRow {
                index: ep,
                task: spec.task.clone(),
                length: n as u64,
                file_index,
                from: written.index,
                stats,
                session: usable[i].manifest.id.clone(),
                split: splits[i].clone(),
                from_ns: spec.t0,
                group: units[i].group.clone(),
                session_duration_ns: usable[i].manifest.duration_ns,
                videos: spans,
                step: spec.step.clone(),
                language,
            });
            written.index += n as u64;
        }
        out.data.seal()?;
        for c in closing {
            c.wait()?;
        }
        for v in &mut out.videos {
            v.finish()?;
        }
        progress.finish();
        Ok(written)
    }

    /// Tasks, the episode index, aggregated stats, `info.json` and tacit's provenance.
    fn write_meta(&self, w: &Written, info_features: serde_json::Map<String, Value>) -> Result<(), DatasetError> {
        let (root, layout, base) = (self.root, self.layout, self.base);
        write_tasks(&root.join("meta/tasks.parquet"), &w.tasks)?;
        let video_keys: Vec<String> =
            layout.cameras.iter().filter(|_| layout.video.is_some()).map(|(n, _, _)| format!("observation.images.{n}")).collect();
        let meta_file = base.episodes_file;
        write_episodes(&root.join(format!("meta/episodes/chunk-000/file-{meta_file:03}.parquet")), &w.episodes, &video_keys, meta_file)?;
        // Aggregate stats (with the dataset's so far, when appending).
        let mut stats = serde_json::Map::new();
        let keys: Vec<String> = w.episodes.first().map(|e| e.stats.keys().cloned().collect()).unwrap_or_default();
        for k in keys {
            let parts: Vec<Stats> =
                base.stats.get(&k).into_iter().chain(w.episodes.iter().filter_map(|e| e.stats.get(&k))).cloned().collect();
            if let Some(agg) = Stats::aggregate(&parts) {
                stats.insert(k, agg.to_json());
            }
        }
        std::fs::create_dir_all(root.join("meta")).map_err(|e| DatasetError::io("create", root, e))?;
        write_json(&root.join("meta/stats.json"), &Value::Object(stats))?;
        let info = json!({
            "codebase_version": "v3.0",
            "robot_type": self.robot_type,
            "total_episodes": base.episodes + w.episodes.len(),
            "total_frames": w.index,
            "total_tasks": w.tasks.len(),
            "chunks_size": 1000,
            "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 200,
            "fps": layout.fps,
            "splits": w.ranges.iter().map(|(name, a, b)| (name.clone(), json!(format!("{a}:{b}")))).collect::<serde_json::Map<_, _>>(),
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": layout.video.map(|_| "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"),
            "features": info_features,
            "tools": language::tools(),
        });
        write_json(&root.join("meta/info.json"), &info)?;
        let spec = self.spec;
        let provenance = json!({
            "format": "lerobot",
            "tacit_version": env!("CARGO_PKG_VERSION"),
            "split": {"spec": spec.describe(), "group_by": spec.group_by.name(), "seed": spec.seed},
            "episodes": base.provenance.iter().cloned().chain(w.episodes.iter().map(|e| json!({
                    "episode_index": e.index,
                    "session_id": e.session,
                    "group": e.group,
                    "session_duration_ns": e.session_duration_ns,
                    "split": e.split,
                    "from_s": e.from_ns as f64 / 1e9,
                    "step_label": e.step,
                    "language": e.language,
                }))).collect::<Vec<_>>(),
        });
        write_json(&root.join("meta/tacit.json"), &provenance)
    }
}
