//! `tacit inspect` and `tacit validate` on a Delta dataset: what each table
//! holds (from the log, without reading data), and every defect — a data
//! file missing or of the wrong size, a session with rows in a table but no
//! `episodes` row, a session listed twice.

use std::collections::{BTreeMap, BTreeSet};

use arrow_array::{Array, StringArray};
use deltalake_core::DeltaTable;
use futures::TryStreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
#[allow(deprecated)] // ParquetObjectReader: its replacement (arrow-rs#10308) is not released in parquet 59
use parquet::arrow::async_reader::{ParquetObjectReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::ProjectionMask;
use serde::Serialize;
use tacit_session::store::StoreOptions;

use super::target::{delta_error, Target};
use super::{read_marker, DeltaDataset, MARKER, PARTITION_BY};
use crate::error::DatasetError;
use crate::report::{Defect, Validation};

/// One table, from its log.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TableSummary {
    /// Table name (`frames-front`).
    pub name: String,
    /// Newest version.
    pub version: i64,
    /// Data files.
    pub files: u64,
    /// Rows (from the files' statistics).
    pub rows: u64,
    /// Bytes of the data files.
    pub bytes: u64,
    /// Columns in order.
    pub columns: Vec<String>,
    /// Partition columns.
    pub partition_by: Vec<String>,
    /// Stations (partition values) and their rows.
    pub stations: BTreeMap<String, u64>,
}

/// A Delta dataset, from its marker and its tables' logs.
#[derive(Clone, Debug, Serialize)]
pub struct DeltaSummary {
    /// Where it is.
    pub at: String,
    /// `_tacit_delta.json`.
    pub dataset: DeltaDataset,
    /// Every table.
    pub tables: Vec<TableSummary>,
    /// Sessions (rows of `episodes`) per split.
    pub splits: BTreeMap<String, u64>,
    /// Sessions in `episodes`.
    pub episodes: u64,
}

/// What the dataset at `out` holds.
pub fn inspect_delta(out: &str, store: &StoreOptions) -> Result<DeltaSummary, DatasetError> {
    let target = Target::open_existing(out, store)?;
    summarize(&target)
}

pub(crate) fn summarize(target: &Target) -> Result<DeltaSummary, DatasetError> {
    let dataset = read_marker(target)?
        .ok_or_else(|| DatasetError::Options(format!("{} has no {MARKER}: not a tacit Delta dataset", target.shown())))?;
    let mut tables = Vec::new();
    let mut eps = Vec::new();
    for name in target.tables()? {
        let (t, exists) = target.block_on(target.table(&name))?;
        if exists {
            tables.push(table_summary(&name, &t)?);
            if name == "episodes" {
                eps = episode_rows(target, &t)?;
            }
        }
    }
    let mut splits = BTreeMap::new();
    for (_, split) in &eps {
        *splits.entry(split.clone()).or_default() += 1;
    }
    Ok(DeltaSummary { at: target.shown().to_string(), dataset, tables, splits, episodes: eps.len() as u64 })
}

fn table_summary(name: &str, t: &DeltaTable) -> Result<TableSummary, DatasetError> {
    let state = t.snapshot().map_err(|e| delta_error(name, &e))?;
    let mut s = TableSummary {
        name: name.to_string(),
        version: state.version() as i64,
        columns: state.schema().fields().map(|f| f.name().clone()).collect(),
        partition_by: state.metadata().partition_columns().to_vec(),
        ..TableSummary::default()
    };
    for f in state.log_data().iter() {
        let rows = f.num_records().unwrap_or(0) as u64;
        s.files += 1;
        s.rows += rows;
        s.bytes += f.size().max(0) as u64;
        let station = f.partition_values_map().get("station").cloned().flatten().unwrap_or_default();
        *s.stations.entry(station).or_default() += rows;
    }
    Ok(s)
}

/// `(session_id, split)` of each row of `episodes`.
type EpisodeRows = Vec<(String, String)>;

/// The `episodes` table as loaded (`None` when there is none yet) and
/// `(session_id, split)` of each of its rows, in file order.
fn episodes_table(target: &Target) -> Result<(Option<DeltaTable>, EpisodeRows), DatasetError> {
    let (t, exists) = target.block_on(target.table("episodes"))?;
    if !exists {
        return Ok((None, Vec::new()));
    }
    let rows = episode_rows(target, &t)?;
    Ok((Some(t), rows))
}

/// `(session_id, split)` of every row of the loaded `episodes` table.
fn episode_rows(target: &Target, t: &DeltaTable) -> Result<EpisodeRows, DatasetError> {
    let cols = read_strings(target, t, "episodes", &["session_id", "split"])?;
    Ok(cols.into_iter().map(|mut v| (std::mem::take(&mut v[0]), std::mem::take(&mut v[1]))).collect())
}

/// The string columns `names` of every row of a table (only those columns are read).
fn read_strings(target: &Target, t: &DeltaTable, table: &str, names: &[&str]) -> Result<Vec<Vec<String>>, DatasetError> {
    let state = t.snapshot().map_err(|e| delta_error(table, &e))?;
    let store = t.object_store();
    let mut out = Vec::new();
    for f in state.log_data().iter() {
        let path = f.object_store_path();
        let size = f.size().max(0) as u64;
        let rows = target.block_on(read_file_strings(store.clone(), path.clone(), size, names)).map_err(|e| {
            DatasetError::Options(format!(
                "Delta table {table}: data file {path} cannot be read ({e}); run `tacit validate` for the details"
            ))
        })?;
        out.extend(rows);
    }
    Ok(out)
}

#[allow(deprecated)] // ParquetObjectReader, as above: ranged reads of the footer and the columns asked for
async fn read_file_strings(
    store: std::sync::Arc<dyn ObjectStore>,
    path: object_store::path::Path,
    size: u64,
    names: &[&str],
) -> Result<Vec<Vec<String>>, String> {
    let reader = ParquetObjectReader::new(store, path).with_file_size(size);
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await.map_err(|e| e.to_string())?;
    let schema = builder.schema().clone();
    let mut idx = Vec::new();
    for n in names {
        idx.push(schema.index_of(n).map_err(|_| format!("no column {n}"))?);
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), idx.iter().copied());
    let stream = builder.with_projection(mask).build().map_err(|e| e.to_string())?;
    let batches: Vec<_> = stream.try_collect().await.map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for b in batches {
        let cols: Vec<&StringArray> = names
            .iter()
            .map(|n| b.column_by_name(n).and_then(|c| c.as_any().downcast_ref::<StringArray>()))
            .collect::<Option<_>>()
            .ok_or_else(|| "a column is not text".to_string())?;
        for i in 0..b.num_rows() {
            out.push(cols.iter().map(|c| if c.is_null(i) { String::new() } else { c.value(i).to_string() }).collect());
        }
    }
    Ok(out)
}

/// Rows per session in `table` (its `session_id` column read, nothing else).
pub fn rows_per_session(out: &str, store: &StoreOptions, table: &str) -> Result<BTreeMap<String, u64>, DatasetError> {
    let target = Target::open_existing(out, store)?;
    let (t, exists) = target.block_on(target.table(table))?;
    let mut counts = BTreeMap::new();
    if exists {
        for mut r in read_strings(&target, &t, table, &["session_id"])? {
            *counts.entry(r.pop().unwrap_or_default()).or_default() += 1;
        }
    }
    Ok(counts)
}

/// Every defect of the Delta dataset at `out`.
pub fn validate_delta(out: &str, store: &StoreOptions) -> Validation {
    let mut v = Validation::default();
    let defect = |v: &mut Validation, file: &str, message: String| v.defects.push(Defect { file: file.to_string(), row: None, message });
    let target = match Target::open_existing(out, store) {
        Ok(t) => t,
        Err(e) => {
            defect(&mut v, "", e.to_string());
            return v;
        }
    };
    match read_marker(&target) {
        Ok(Some(_)) => {}
        Ok(None) => defect(&mut v, MARKER, "missing: not a tacit Delta dataset".into()),
        Err(e) => defect(&mut v, MARKER, e.to_string()),
    }
    let names = match target.tables() {
        Ok(n) => n,
        Err(e) => {
            defect(&mut v, "", e.to_string());
            return v;
        }
    };
    if !names.iter().any(|n| n == "episodes") {
        defect(&mut v, "episodes", "no episodes table".into());
        return v;
    }
    let (mut loaded, eps) = match episodes_table(&target) {
        Ok(e) => e,
        Err(e) => {
            defect(&mut v, "episodes", e.to_string());
            return v;
        }
    };
    v.episodes = eps.len() as u64;
    let mut listed = BTreeSet::new();
    for (sid, _) in &eps {
        if !listed.insert(sid.clone()) {
            defect(&mut v, "episodes", format!("session {sid} is listed twice"));
        }
    }
    for name in &names {
        // episodes as loaded above: its log is read once.
        let preloaded = if name == "episodes" { loaded.take() } else { None };
        check_table(&target, name, preloaded, &listed, &mut v);
    }
    v
}

fn check_table(target: &Target, name: &str, preloaded: Option<DeltaTable>, listed: &BTreeSet<String>, v: &mut Validation) {
    let mut defect = |file: String, message: String| v.defects.push(Defect { file, row: None, message });
    let loaded = match preloaded {
        Some(t) => Ok((t, true)),
        None => target.block_on(target.table(name)),
    };
    let t = match loaded {
        Ok((t, true)) => t,
        Ok((_, false)) => return defect(name.into(), "has a _delta_log but no readable version".into()),
        Err(e) => return defect(name.into(), e.to_string()),
    };
    let Ok(state) = t.snapshot() else { return defect(name.into(), "no snapshot".into()) };
    if state.metadata().partition_columns() != PARTITION_BY.map(String::from).as_slice() {
        defect(name.into(), format!("partitioned by {:?}, not {:?}", state.metadata().partition_columns(), PARTITION_BY));
    }
    let store = t.object_store();
    let mut frames = 0u64;
    for f in state.log_data().iter() {
        let path = f.object_store_path();
        let file = format!("{name}/{path}");
        match target.block_on(store.head(&path)) {
            Ok(meta) if meta.size == f.size().max(0) as u64 => {}
            Ok(meta) => defect(file, format!("{} bytes, but the log says {}", meta.size, f.size())),
            Err(object_store::Error::NotFound { .. }) => defect(file, "missing: the log lists it but the store does not have it".into()),
            Err(e) => defect(file, format!("cannot be checked: {e}")),
        }
        frames += f.num_records().unwrap_or(0) as u64;
    }
    if name.starts_with("frames-") {
        v.frames += frames;
    }
    if name == "episodes" {
        return;
    }
    match read_strings(target, &t, name, &["session_id"]) {
        Ok(rows) => {
            let sessions: BTreeSet<String> = rows.into_iter().filter_map(|mut r| r.pop()).collect();
            for sid in sessions.difference(listed) {
                defect(
                    name.into(),
                    format!("session {sid} has rows here but no row in episodes: its export stopped part-way; run the export again to finish it"),
                );
            }
        }
        Err(e) => defect(name.into(), e.to_string()),
    }
}
