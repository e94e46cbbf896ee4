//! `tacit bench delta`: (1) the Delta export of one generated session
//! against the folder export (`--format tacit`) of the same session, in the
//! same run, alternating; (2) N exporter processes appending N different
//! sessions to one Delta table root at once: wall time, commits, retries,
//! conflicts redone, and rows lost and duplicated (both must be 0), counted
//! per session from the tables against the sessions' own stream counts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Instant;

use anyhow::{bail, Result};
use serde_json::{json, Value};
use tacit_schema::StreamKind;
use tacit_session::store::StoreOptions;

use crate::bench_export::{generate, timed_export};

/// Options of `tacit bench delta`.
#[derive(clap::Args)]
pub struct Options {
    /// Length of the session of the export comparison, minutes (0: skip it).
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// Camera size of that session (default 1280x720, two cameras at 30 fps).
    #[arg(long, value_parser = crate::bench::parse_size)]
    size: Option<(u32, u32)>,
    /// Rounds of the export comparison (tacit tables and Delta alternate).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Exporter processes appending at once (0: skip).
    #[arg(long, default_value_t = 20)]
    appenders: usize,
    /// Seconds of each appender's session (one 320x240 camera at 30 fps, 16 ch × 10 kHz).
    #[arg(long, default_value_t = 30)]
    appender_seconds: u32,
    /// Folder to work in (default: the current one).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep what was generated.
    #[arg(long)]
    keep: bool,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

pub fn run(o: &Options) -> Result<ExitCode> {
    let base = o.dir.clone().unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| std::env::temp_dir()));
    let root = base.join(format!("tacit-bench-delta-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    let exe = std::env::current_exe()?;
    let mut report = json!({});
    if o.minutes > 0.0 {
        report["export"] = export_vs_folder(&exe, &root, o)?;
    }
    if o.appenders > 0 {
        report["appenders"] = appenders(&exe, &root, o)?;
    }
    if !o.keep {
        let _ = std::fs::remove_dir_all(&root);
    }
    if o.json {
        crate::out::json(&report)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Delta export against the folder export of the same session, alternating.
fn export_vs_folder(exe: &Path, root: &Path, o: &Options) -> Result<Value> {
    let seconds = (o.minutes * 60.0).round() as u32;
    let lib = root.join("lib-one");
    let (w, h) = o.size.unwrap_or((1280, 720));
    crate::out::say!("generating a {seconds} s session (2 cameras {w}×{h} at 30 fps, 16 ch × 10 kHz)…");
    generate(&lib, &format!("20261203-000000-delta{seconds}"), seconds, 20, 2, o.size)?;
    let _ = std::process::Command::new("sync").status();
    let mut rows = Vec::new();
    for round in 0..o.rounds.max(1) {
        let folder = root.join(format!("tables-{round}"));
        let delta = root.join(format!("delta-{round}"));
        let order: [(&str, &Path); 2] =
            if round % 2 == 0 { [("tacit", &folder), ("delta", &delta)] } else { [("delta", &delta), ("tacit", &folder)] };
        let mut got = BTreeMap::new();
        for (format, out) in order {
            let (secs, peak_kb) = timed_export(exe, &lib, out, &["--format", format])?;
            let bytes = tacit_datasets::dir_size(out);
            crate::out::say!(
                "round {round}: {format} {secs:.2} s, {:.0} MB, peak RSS {:.0} MiB",
                bytes as f64 / 1e6,
                peak_kb as f64 / 1024.0
            );
            got.insert(format, (secs, bytes, peak_kb));
        }
        let (ts, tb, tk) = got["tacit"];
        let (ds, db, dk) = got["delta"];
        rows.push(json!({"round": round, "tables_s": ts, "tables_bytes": tb, "tables_peak_rss_mb": tk as f64 / 1024.0,
            "delta_s": ds, "delta_bytes": db, "delta_peak_rss_mb": dk as f64 / 1024.0, "delta_over_tables": ds / ts}));
        crate::out::say!("round {round}: Delta / tables = {:.2}", ds / ts);
        for out in [&folder, &delta] {
            let _ = std::fs::remove_dir_all(out);
        }
    }
    if !o.keep {
        let _ = std::fs::remove_dir_all(&lib);
    }
    Ok(json!({"seconds_of_session": seconds, "camera": format!("{w}x{h}"), "rounds": rows}))
}

/// Rows each session has in each stream table: camera frames and sensor readings.
fn expected_rows(lib: &Path) -> Result<BTreeMap<(String, String), u64>> {
    let mut out = BTreeMap::new();
    for dir in tacit_session::Library::at(lib).session_dirs()? {
        let m = tacit_session::SessionDir::open(&dir)?.into_manifest();
        for s in &m.streams {
            let table = match s.kind {
                StreamKind::Camera => format!("frames-{}", s.name),
                StreamKind::Sensor => format!("sensors-{}", s.name),
                _ => continue,
            };
            out.insert((table, m.id.clone()), s.count);
        }
    }
    Ok(out)
}

/// N exporters at once, one session each, into one table root.
fn appenders(exe: &Path, root: &Path, o: &Options) -> Result<Value> {
    let n = o.appenders;
    let lib = root.join("lib-many");
    crate::out::say!("generating {n} sessions of {} s (one 320×240 camera, 16 ch × 10 kHz)…", o.appender_seconds);
    let ids: Vec<String> = (0..n).map(|i| format!("20261203-{i:06}-appender")).collect();
    for id in &ids {
        generate(&lib, id, o.appender_seconds, 20, 1, Some((320, 240)))?;
    }
    let _ = std::process::Command::new("sync").status();
    let out = root.join("delta-many");
    let out_s = out.to_str().ok_or_else(|| anyhow::anyhow!("{} is not UTF-8", out.display()))?.to_string();
    let started = Instant::now();
    let children: Vec<std::process::Child> = ids
        .iter()
        .map(|id| {
            std::process::Command::new(exe)
                .args(["export", "--format", "delta", "--json", "--out", &out_s, "--library"])
                .arg(&lib)
                .args(["--session", id])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
        })
        .collect::<std::io::Result<_>>()?;
    let mut totals = BTreeMap::from([("commits", 0u64), ("retries", 0), ("conflicts", 0), ("checkpoints", 0), ("failed", 0)]);
    for c in children {
        let done = c.wait_with_output()?;
        if !done.status.success() {
            *totals.entry("failed").or_default() += 1;
            continue;
        }
        let v: Value = serde_json::from_slice(&done.stdout)?;
        for k in ["commits", "retries", "conflicts", "checkpoints"] {
            *totals.entry(k).or_default() += v[k].as_u64().unwrap_or(0);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let expected = expected_rows(&lib)?;
    let (mut lost, mut duplicated, mut rows) = (0u64, 0u64, 0u64);
    let tables: std::collections::BTreeSet<&String> = expected.keys().map(|(t, _)| t).collect();
    for table in tables {
        let got = tacit_datasets::delta::rows_per_session(&out_s, &StoreOptions::default(), table)?;
        for ((t, id), want) in &expected {
            if t != table {
                continue;
            }
            let have = got.get(id).copied().unwrap_or(0);
            lost += want.saturating_sub(have);
            duplicated += have.saturating_sub(*want);
            rows += have;
        }
    }
    let episodes = tacit_datasets::delta::rows_per_session(&out_s, &StoreOptions::default(), "episodes")?;
    crate::out::say!(
        "{n} appenders: {wall:.1} s wall, {} commits, {} retries in delta-rs, {} conflicts redone, {} checkpoints, {} failed; {} sessions in episodes; {rows} stream rows, {lost} lost, {duplicated} duplicated",
        totals["commits"],
        totals["retries"],
        totals["conflicts"],
        totals["checkpoints"],
        totals["failed"],
        episodes.len()
    );
    if !o.keep {
        let _ = std::fs::remove_dir_all(&lib);
    }
    if lost > 0 || duplicated > 0 || totals["failed"] > 0 || episodes.len() != n {
        bail!(
            "{n} appenders: {lost} rows lost, {duplicated} duplicated, {} exporters failed, {} of {n} sessions in episodes",
            totals["failed"],
            episodes.len()
        );
    }
    Ok(json!({"appenders": n, "session_seconds": o.appender_seconds, "wall_s": wall, "commits": totals["commits"],
        "retries": totals["retries"], "conflicts_redone": totals["conflicts"], "checkpoints": totals["checkpoints"],
        "stream_rows": rows, "rows_lost": lost, "rows_duplicated": duplicated, "sessions": episodes.len()}))
}
