//! The Delta dataset's card, `README.md`: what is there and how to read it.
//! Rewritten after every export from the tables' logs (many exporters may
//! rewrite it; each writes the state it saw, in one request).

use std::fmt::Write as _;

use super::check::DeltaSummary;
use super::target::Target;
use crate::error::DatasetError;

/// Writes `README.md` at the dataset's root, from its summary.
pub(crate) fn write(target: &Target, s: &DeltaSummary) -> Result<(), DatasetError> {
    let meta = &s.dataset;
    let mut b = String::new();
    let stations: std::collections::BTreeSet<&String> = s.tables.iter().flat_map(|t| t.stations.keys()).collect();
    let _ = writeln!(b, "# tacit Delta Lake tables\n");
    let _ = writeln!(
        b,
        "Written by tacit {}. {} sessions from {} station(s); split {} by {} (seed {}), each group placed by a hash of its key so that every exporter agrees without coordination.\n",
        env!("CARGO_PKG_VERSION"),
        s.episodes,
        stations.len(),
        meta.split.describe(),
        meta.split.group_by.name(),
        meta.split.seed
    );
    let splits: Vec<String> = s.splits.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let _ = writeln!(b, "Sessions per split: {}.\n", if splits.is_empty() { "none".to_string() } else { splits.join(", ") });
    b += "Every table is partitioned by `station` and `date` (the session's UTC start day) and keyed by `session_id`; `split` is on every row. ";
    b += "A session appears in `episodes` only after its rows are in every other table. Times are `t_ns` / `start_ns` / `end_ns` on the session clock (ns).\n\n";
    b += "| table | rows | files | version |\n|---|---|---|---|\n";
    for t in &s.tables {
        let _ = writeln!(b, "| {} | {} | {} | {} |", t.name, t.rows, t.files, t.version);
    }
    b += "\n## Reading\n\nRead through the Delta log (the table's current files), never by globbing the folders:\n\n";
    b += "```python\nimport deltalake, polars as pl, duckdb\nepisodes = deltalake.DeltaTable(\"<root>/episodes\").to_pyarrow_table()\nsensors = pl.scan_delta(\"<root>/sensors-<name>\").filter(pl.col(\"station\") == \"bay-1\").collect()\n";
    b += "duckdb.sql(\"SELECT station, count(*) FROM delta_scan('<root>/labels') GROUP BY station\")\n```\n\n";
    b += "Spark: `spark.read.format(\"delta\").load(\"<root>/frames-<camera>\")`; Daft: `daft.read_deltalake(\"<root>/words\")`.\n";
    target.replace("README.md", b.into_bytes())
}
