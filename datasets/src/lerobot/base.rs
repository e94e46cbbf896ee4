//! What an existing dataset holds, read back for `--append`.

use super::*;

/// What an existing dataset already holds (empty for a fresh export).
#[derive(Default)]
pub(super) struct Base {
    pub(super) tasks: Vec<String>,
    pub(super) episodes: usize,
    pub(super) frames: u64,
    pub(super) data_file: usize,
    pub(super) episodes_file: usize,
    pub(super) video_file: usize,
    pub(super) stats: BTreeMap<String, Stats>,
    pub(super) ranges: Vec<(String, usize, usize)>,
    pub(super) provenance: Vec<Value>,
    pub(super) known: split::Existing,
    pub(super) sessions: std::collections::BTreeSet<String>,
    pub(super) features: Option<Value>,
    pub(super) robot_type: Option<String>,
    pub(super) fps: Option<u32>,
    pub(super) spec: Option<SplitSpec>,
}

/// Next free `file-NNN` index in a folder.
pub(super) fn next_file(dir: &Path) -> usize {
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
    pub(super) fn read(root: &Path) -> Result<Self, DatasetError> {
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
