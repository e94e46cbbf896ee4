//! `tacit validate` / `tacit inspect` for the tacit table format: every file
//! `tacit.json` lists is read to the end (a truncated or corrupted file is a
//! defect), its schema and row count must match, rows must belong to the
//! split's episodes in time order, and the card must declare every table.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{table_schema, DatasetManifest};
use crate::report::{Defect, Validation};

/// Most defects reported per file (the rest are counted).
const PER_FILE: usize = 10;

/// Validates a tacit-format dataset folder.
pub fn validate_tacit(root: &Path) -> Validation {
    let mut v = Validation::default();
    let add = |v: &mut Validation, file: &str, row: Option<u64>, message: String| {
        v.defects.push(Defect { file: file.to_string(), row, message });
    };
    let m = match DatasetManifest::read(root) {
        Ok(m) => m,
        Err(e) => {
            add(&mut v, "tacit.json", None, e.to_string());
            return v;
        }
    };
    v.episodes = m.episodes.len() as u64;
    for (i, e) in m.episodes.iter().enumerate() {
        if e.episode_index != i as u64 {
            add(
                &mut v,
                "tacit.json",
                Some(i as u64),
                format!("episode_index {} where {i} was expected (indices run 0, 1, 2, …)", e.episode_index),
            );
        }
    }
    let expected_tables = m.layout.tables();
    if m.tables != expected_tables {
        add(&mut v, "tacit.json", None, format!("tables {:?} do not match the layout's {:?}", m.tables, expected_tables));
    }
    // The card.
    match std::fs::read_to_string(root.join("README.md")) {
        Err(e) => add(&mut v, "README.md", None, format!("the dataset card is missing ({e})")),
        Ok(card) => {
            if !card.starts_with("---\n") || card[4..].find("\n---\n").is_none() {
                add(&mut v, "README.md", None, "no YAML front matter (--- … ---) at the top".into());
            }
            let splits: BTreeSet<&str> = m.episodes.iter().map(|e| e.split.as_str()).collect();
            for t in &m.tables {
                if !card.contains(&format!("- config_name: {t}\n")) {
                    add(&mut v, "README.md", None, format!("no config for table {t}"));
                }
                for s in &splits {
                    if !card.contains(&format!("path: {t}/{s}-*.parquet")) {
                        add(&mut v, "README.md", None, format!("config {t} does not list split {s}"));
                    }
                }
            }
        }
    }
    // Files on disk that tacit.json does not list (an interrupted append leaves these).
    let listed: BTreeSet<PathBuf> = m.files.iter().map(|f| root.join(&f.path)).collect();
    for t in &m.tables {
        for p in parquet_files(&root.join(t)) {
            if !listed.contains(&p) {
                let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                add(&mut v, &rel, None, "not listed in tacit.json (left by an interrupted append?); remove it or export again".into());
            }
        }
    }
    let by_index: BTreeMap<u64, (&str, &str)> =
        m.episodes.iter().map(|e| (e.episode_index, (e.session_id.as_str(), e.split.as_str()))).collect();
    let mut episode_rows: BTreeMap<u64, u64> = BTreeMap::new();
    for fe in &m.files {
        if !m.tables.contains(&fe.table) {
            add(&mut v, &fe.path, None, format!("table {} is not one of the dataset's", fe.table));
            continue;
        }
        let before = v.defects.len();
        let path = root.join(&fe.path);
        let rows = check_file(&m, fe, &path, &by_index, &mut episode_rows, &mut v);
        if let Some(rows) = rows {
            if rows != fe.rows {
                add(&mut v, &fe.path, None, format!("{rows} rows, tacit.json says {}", fe.rows));
            }
            if fe.table.starts_with("frames-") {
                v.frames += rows;
            }
        }
        let extra = v.defects.len() - before;
        if extra > PER_FILE {
            v.more += (extra - PER_FILE) as u64;
            v.defects.truncate(before + PER_FILE);
        }
    }
    for e in &m.episodes {
        match episode_rows.get(&e.episode_index) {
            Some(1) => {}
            Some(n) => {
                add(&mut v, "episodes", Some(e.episode_index), format!("episode {} has {n} rows in the episodes table", e.episode_index))
            }
            None => add(
                &mut v,
                "episodes",
                Some(e.episode_index),
                format!("episode {} ({}) has no row in the episodes table", e.episode_index, e.session_id),
            ),
        }
    }
    v
}

/// The column that orders a table's rows in time.
fn time_column(table: &str) -> &'static str {
    match table {
        // Words are in segment order, then word order.
        "episodes" | "words" => "",
        "audio" | "commentary" | "labels" => "start_ns",
        _ => "t_ns",
    }
}

/// Reads a whole file batch by batch; returns its rows, or None if it cannot be read.
fn check_file(
    m: &DatasetManifest,
    fe: &super::FileEntry,
    path: &Path,
    episodes: &BTreeMap<u64, (&str, &str)>,
    episode_rows: &mut BTreeMap<u64, u64>,
    v: &mut Validation,
) -> Option<u64> {
    let file = fe.path.as_str();
    let mut add = |row: Option<u64>, message: String| v.defects.push(Defect { file: file.to_string(), row, message });
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            add(None, format!("listed in tacit.json but cannot be opened: {e}"));
            return None;
        }
    };
    let builder = match ParquetRecordBatchReaderBuilder::try_new(f) {
        Ok(b) => b,
        Err(e) => {
            add(None, format!("not a readable Parquet file (truncated or corrupted?): {e}"));
            return None;
        }
    };
    let schema = builder.schema().clone();
    if let Ok(want) = table_schema(&fe.table, &m.layout) {
        let have: Vec<(String, String)> = schema.fields().iter().map(|f| (f.name().clone(), f.data_type().to_string())).collect();
        let need: Vec<(String, String)> = want.fields().iter().map(|f| (f.name().clone(), f.data_type().to_string())).collect();
        if have != need {
            add(None, format!("columns {have:?} differ from the {} table's {need:?}", fe.table));
        }
    }
    if !schema.metadata().contains_key("huggingface") {
        add(None, "no `huggingface` schema metadata (datasets would not decode images/audio)".into());
    }
    let reader = match builder.build() {
        Ok(r) => r,
        Err(e) => {
            add(None, format!("cannot read: {e}"));
            return None;
        }
    };
    let tcol = time_column(&fe.table);
    let mut rows: u64 = 0;
    let mut last: Option<(i64, i64)> = None;
    for batch in reader {
        let batch: RecordBatch = match batch {
            Ok(b) => b,
            Err(e) => {
                add(Some(rows), format!("damaged Parquet data after row {rows}: {e}"));
                return None;
            }
        };
        let ep = batch.column_by_name("episode_index").and_then(|c| c.as_any().downcast_ref::<Int64Array>());
        let sid = batch.column_by_name("session_id").and_then(|c| c.as_any().downcast_ref::<StringArray>());
        let t = batch.column_by_name(tcol).and_then(|c| c.as_any().downcast_ref::<Int64Array>());
        let (Some(ep), Some(sid)) = (ep, sid) else {
            add(None, "no episode_index / session_id columns".into());
            return None;
        };
        for r in 0..batch.num_rows() {
            let row = rows + r as u64;
            let e = ep.value(r);
            match episodes.get(&(e as u64)) {
                None => add(Some(row), format!("episode_index {e} is not an episode of the dataset")),
                Some((s, split)) => {
                    if sid.value(r) != *s {
                        add(Some(row), format!("session_id {} but episode {e} is session {s}", sid.value(r)));
                    }
                    if *split != fe.split {
                        add(Some(row), format!("episode {e} belongs to split {split}, not {}", fe.split));
                    }
                }
            }
            if fe.table == "episodes" {
                *episode_rows.entry(e as u64).or_default() += 1;
            }
            if let Some(t) = t {
                let now = (e, t.value(r));
                if let Some(prev) = last {
                    if now < prev {
                        add(Some(row), format!("rows are not sorted by (episode_index, {tcol}): {now:?} after {prev:?}"));
                    }
                }
                last = Some(now);
            }
        }
        rows += batch.num_rows() as u64;
    }
    Some(rows)
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "parquet")).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// What `tacit inspect` shows for a tacit-format dataset.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TacitSummary {
    /// `tacit 1`.
    pub format: String,
    /// Episodes.
    pub episodes: u64,
    /// Hours recorded.
    pub hours: f64,
    /// (split, episodes, hours).
    pub splits: Vec<(String, u64, f64)>,
    /// How splits were made.
    pub split_spec: String,
    /// (table, rows, bytes, files).
    pub tables: Vec<(String, u64, u64, u64)>,
    /// Tasks (distinct texts).
    pub tasks: Vec<String>,
    /// Stations.
    pub stations: Vec<String>,
    /// Label segments per (tier, value, status), from the labels table.
    pub labels: Vec<(String, String, String, u64)>,
}

/// Summarizes a tacit-format dataset (reads `tacit.json` and the labels table).
pub fn summarize_tacit(root: &Path) -> Result<TacitSummary, crate::DatasetError> {
    let m = DatasetManifest::read(root)?;
    let h = |eps: &mut dyn Iterator<Item = &super::EpisodeEntry>| eps.map(|e| e.duration_ns as f64).sum::<f64>() / 3.6e12;
    let mut s = TacitSummary {
        format: format!("{} {}", m.format, m.format_version),
        episodes: m.episodes.len() as u64,
        hours: h(&mut m.episodes.iter()),
        split_spec: format!("{} by {} (seed {})", m.split.describe(), m.split.group_by.name(), m.split.seed),
        ..TacitSummary::default()
    };
    for (name, _) in &m.split.parts {
        let n = m.episodes.iter().filter(|e| &e.split == name).count() as u64;
        if n > 0 {
            s.splits.push((name.clone(), n, h(&mut m.episodes.iter().filter(|e| &e.split == name))));
        }
    }
    for t in &m.tables {
        let files: Vec<_> = m.files.iter().filter(|f| &f.table == t).collect();
        s.tables.push((t.clone(), files.iter().map(|f| f.rows).sum(), files.iter().map(|f| f.bytes).sum(), files.len() as u64));
    }
    s.tasks = m.episodes.iter().map(|e| e.task.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    s.stations = m.episodes.iter().map(|e| e.station.clone()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut counts: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    for f in m.files.iter().filter(|f| f.table == "labels") {
        let path = root.join(&f.path);
        let file = File::open(&path).map_err(|e| crate::DatasetError::io("open", &path, e))?;
        let r = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| crate::DatasetError::session(format!("unreadable labels table ({e}); run `tacit validate`"), &path))?;
        for b in r {
            let b = b.map_err(|e| crate::DatasetError::session(format!("damaged labels table ({e})"), &path))?;
            let col = |n: &str| b.column_by_name(n).and_then(|c| c.as_any().downcast_ref::<StringArray>()).cloned();
            if let (Some(t), Some(v), Some(st)) = (col("tier"), col("value"), col("status")) {
                for i in 0..b.num_rows() {
                    *counts.entry((t.value(i).into(), v.value(i).into(), st.value(i).into())).or_default() += 1;
                }
            }
        }
    }
    s.labels = counts.into_iter().map(|((t, v, st), n)| (t, v, st, n)).collect();
    Ok(s)
}
