//! `tacit sessions`, `inspect`, `recover` and `devices` output.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;
use tacit_capture::devices::DeviceList;
use tacit_schema::time::format_ns;
use tacit_schema::SessionManifest;
use tacit_session::store::{Store, StoreUrl};
use tacit_session::{Library, SessionDir};

pub fn list(library: &crate::LibraryArg, as_json: bool) -> Result<ExitCode> {
    if let Some(url) = library.store_url() {
        return list_store(&url, &library.store, as_json);
    }
    let lib = Library::at(library.path());
    let mut rows = Vec::new();
    for dir in lib.session_dirs()? {
        match SessionDir::open(&dir).map(SessionDir::into_manifest) {
            Ok(m) => rows.push((dir, m)),
            Err(e) => eprintln!("warning: skipping {}: {e}", dir.display()),
        }
    }
    for dir in lib.folders_without_manifest() {
        eprintln!("warning: skipping {}: it has no session.json (damaged, or not a tacit session)", dir.display());
    }
    if as_json {
        let out: Vec<_> = rows
            .iter()
            .map(|(dir, m)| {
                json!({
                    "id": m.id, "path": dir, "station": m.station, "operator": m.operator, "task": m.task,
                    "started_at_utc": m.started_at_utc, "status": m.status, "duration_ns": m.duration_ns,
                    "transcribed": m.transcribed, "reviewed": m.reviewed,
                })
            })
            .collect();
        crate::out::json(&out)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        println!("No sessions in {} (record one with `tacit demo` or `tacit record`).", lib.sessions_dir().display());
        return Ok(ExitCode::SUCCESS);
    }
    print_rows(rows.iter().map(|(_, m)| m));
    Ok(ExitCode::SUCCESS)
}

/// `tacit sessions --library s3://…`: the sessions whose manifest is in the store.
fn list_store(url: &str, store: &crate::push::StoreArgs, as_json: bool) -> Result<ExitCode> {
    let client = Store::connect(&StoreUrl::parse(url)?, &store.options(None))?;
    let found = client.sessions()?;
    for (id, why) in &found.unreadable {
        eprintln!("warning: skipping {url}/sessions/{id}: session.json cannot be read ({why})");
    }
    if as_json {
        let out: Vec<_> = found
            .sessions
            .iter()
            .map(|m| {
                json!({
                    "id": m.id, "path": format!("{url}/sessions/{}", m.id), "station": m.station, "operator": m.operator, "task": m.task,
                    "started_at_utc": m.started_at_utc, "status": m.status, "duration_ns": m.duration_ns,
                    "transcribed": m.transcribed, "reviewed": m.reviewed,
                })
            })
            .collect();
        crate::out::json(&json!({"sessions": out, "incomplete": found.incomplete}))?;
        return Ok(ExitCode::SUCCESS);
    }
    if found.sessions.is_empty() {
        println!("No sessions in {url} (send them with `tacit push --to {url}`).");
    } else {
        print_rows(found.sessions.iter());
    }
    if !found.incomplete.is_empty() {
        println!("{} session(s) still arriving (no session.json yet): {}", found.incomplete.len(), found.incomplete.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// The sessions table.
fn print_rows<'m>(rows: impl Iterator<Item = &'m SessionManifest>) {
    println!("{:<32} {:<12} {:<12} {:>12}  {:<28} task", "id", "status", "operator", "duration", "started (UTC)");
    for m in rows {
        println!(
            "{:<32} {:<12} {:<12} {:>12}  {:<28} {}",
            m.id,
            m.status.name(),
            m.operator,
            format_ns(m.duration_ns),
            m.started_at_utc.get(..19).unwrap_or(&m.started_at_utc),
            m.task
        );
    }
}

pub fn inspect(library: &crate::LibraryArg, session: &str, as_json: bool) -> Result<ExitCode> {
    let as_path = Path::new(session);
    if crate::export::is_delta(as_path) {
        return inspect_delta(session, &library.store, as_json);
    }
    if as_path.join("meta/info.json").is_file() || as_path.join("tacit.json").is_file() {
        return inspect_dataset(as_path, as_json);
    }
    let dir = library.open()?.resolve(session)?;
    let m = SessionDir::open(&dir).map(SessionDir::into_manifest)?;
    if as_json {
        let mut value = serde_json::to_value(&m)?;
        value["path"] = json!(dir);
        if let Some(store) = tacit_session::store::remote::store_of(&dir) {
            value["store"] = json!(store);
        }
        crate::out::json(&value)?;
    } else {
        print_manifest(&m, &dir);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn recover(root: &Path, session: &str, as_json: bool) -> Result<ExitCode> {
    let dir = Library::at(root).resolve(session)?;
    let report = tacit_capture::recover(&dir).with_context(|| format!("cannot recover {}", dir.display()))?;
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "id": report.manifest.id, "status": report.manifest.status, "already_complete": report.already_complete,
                "cut": report.cut, "wav_repaired": report.wav_repaired, "warnings": report.warnings,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if report.already_complete {
        println!("Session {} is {}; nothing to recover.", report.manifest.id, report.manifest.status.name());
        return Ok(ExitCode::SUCCESS);
    }
    for (file, bytes) in &report.cut {
        println!("cut {bytes} bytes of torn tail from {file}");
    }
    for file in &report.wav_repaired {
        println!("rewrote WAV header of {file}");
    }
    for w in &report.warnings {
        println!("warning: {w}");
    }
    println!("Recovered:");
    print_manifest(&report.manifest, &dir);
    Ok(ExitCode::SUCCESS)
}

pub fn print_manifest(m: &SessionManifest, dir: &Path) {
    println!("session   {}", m.id);
    match tacit_session::store::remote::store_of(dir) {
        Some(store) => println!("store     {store} (checked out in {})", dir.display()),
        None => println!("folder    {}", dir.display()),
    }
    println!(
        "status    {}{}{}",
        m.status.name(),
        if m.transcribed { ", transcribed" } else { "" },
        if m.reviewed { ", reviewed" } else { "" }
    );
    println!("station   {} {}", m.station, if m.site.is_empty() { String::new() } else { format!("({})", m.site) });
    println!("operator  {}   task: {}", m.operator, m.task);
    println!("started   {}   duration {}", m.started_at_utc, format_ns(m.duration_ns));
    if !m.stop_reason.is_empty() {
        println!("stopped   {}", m.stop_reason);
    }
    println!(
        "{:<10} {:<7} {:>10} {:>9} {:>11} {:>11} {:>7} {:>7}  sync",
        "stream", "kind", "count", "rate", "first", "last", "drops", "errors"
    );
    for s in &m.streams {
        let sync = s
            .sync
            .as_ref()
            .and_then(|f| {
                f.pieces
                    .first()
                    .map(|p| format!("{} piece(s), drift {:+.1} ppm, jitter {:.2} ms", f.pieces.len(), p.drift_ppm, p.residual_ns / 1e6))
            })
            .unwrap_or_default();
        println!(
            "{:<10} {:<7} {:>10} {:>9} {:>11} {:>11} {:>7} {:>7}  {}",
            s.name,
            s.kind.name(),
            s.count,
            if s.rate_hz > 0.0 { format!("{}", s.rate_hz) } else { "-".into() },
            s.first_t_ns.map(format_ns).unwrap_or_else(|| "-".into()),
            s.last_t_ns.map(format_ns).unwrap_or_else(|| "-".into()),
            s.drops,
            s.errors,
            sync
        );
    }
}

pub fn print_devices(list: &DeviceList) {
    println!("Cameras:");
    if list.cameras.is_empty() {
        println!("  none found");
    }
    for c in &list.cameras {
        println!("  device = {:?}   {}", c.device, c.name);
        for f in &c.formats {
            println!("      {f}");
        }
        if let Some(e) = &c.error {
            println!("      (formats unavailable: {e})");
        }
    }
    println!("Audio inputs:");
    if list.audio_inputs.is_empty() {
        println!("  none found");
    }
    for a in &list.audio_inputs {
        println!("  device = {:?}   {}", a.device, a.name);
        for c in &a.configs {
            println!("      {c}");
        }
    }
    println!("Serial ports:");
    if list.serial_ports.is_empty() {
        println!("  none found");
    }
    for s in &list.serial_ports {
        println!("  port = {:?}   {}", s.port, s.kind);
    }
    for e in &list.errors {
        println!("note: {e}");
    }
}

/// `tacit inspect DATASET`: episodes, frames, features, sizes, label counts.
/// `tacit inspect` on Delta tables: each table's version, files, rows and stations.
fn inspect_delta(at: &str, store: &crate::push::StoreArgs, as_json: bool) -> Result<ExitCode> {
    let s = tacit_datasets::delta::inspect_delta(at, &store.options(None))?;
    if as_json {
        crate::out::json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    let splits: Vec<String> = s.splits.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("{} — Delta tables (tacit), {} sessions ({})", s.at, s.episodes, splits.join(", "));
    println!(
        "split {} by {}, seed {}; partitioned by {}",
        s.dataset.split.describe(),
        s.dataset.split.group_by.name(),
        s.dataset.split.seed,
        s.dataset.partition_by.join(", ")
    );
    println!("\n  {:<24} {:>8} {:>6} {:>12} {:>10}  stations", "table", "version", "files", "rows", "MB");
    for t in &s.tables {
        let stations: Vec<String> = t.stations.keys().cloned().collect();
        println!("  {:<24} {:>8} {:>6} {:>12} {:>10.1}  {}", t.name, t.version, t.files, t.rows, t.bytes as f64 / 1e6, stations.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect_dataset(dir: &Path, as_json: bool) -> Result<ExitCode> {
    if tacit_datasets::DatasetFormat::detect(dir)? == tacit_datasets::DatasetFormat::Tables {
        return inspect_tacit(dir, as_json);
    }
    let s = tacit_datasets::summarize_lerobot(dir)?;
    if as_json {
        crate::out::json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    let total: u64 = s.files.iter().map(|f| f.1).sum();
    println!("{} — {} ({}), {} fps", dir.display(), s.format, s.robot_type, s.fps);
    println!(
        "{} episodes, {} frames ({:.1} s), {:.1} MB in {} files",
        s.episodes,
        s.frames,
        s.frames as f64 / s.fps.max(1e-9),
        total as f64 / 1e6,
        s.files.len()
    );
    println!("\ntasks:");
    for (i, t) in s.tasks.iter().enumerate() {
        println!("  {i:>3}  {t}");
    }
    println!("\nfeatures:");
    for (name, dtype, shape) in &s.features {
        println!("  {name:<32} {dtype:<8} {shape:?}");
    }
    if !s.label_frames.is_empty() {
        println!("\nlabeled frames:");
        for (tier, value, n) in &s.label_frames {
            println!("  {tier:<10} {value:<24} {n:>8}");
        }
    }
    println!("\nfiles:");
    for (f, b) in &s.files {
        println!("  {f:<48} {:>10.1} MB", *b as f64 / 1e6);
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect_tacit(dir: &Path, as_json: bool) -> Result<ExitCode> {
    let s = tacit_datasets::summarize_tacit(dir)?;
    if as_json {
        crate::out::json(&s)?;
        return Ok(ExitCode::SUCCESS);
    }
    let bytes: u64 = s.tables.iter().map(|t| t.2).sum();
    println!("{} — {} tables (native rate), stations: {}", dir.display(), s.format, s.stations.join(", "));
    println!("{} episodes, {:.2} h recorded, {:.1} MB", s.episodes, s.hours, bytes as f64 / 1e6);
    println!("\nsplits ({}):", s.split_spec);
    for (name, n, h) in &s.splits {
        println!("  {name:<10} {n:>5} episodes {h:>8.3} h");
    }
    println!("\ntables:");
    for (name, rows, b, files) in &s.tables {
        println!("  {name:<24} {rows:>10} rows {:>10.1} MB in {files} files", *b as f64 / 1e6);
    }
    println!("\ntasks:");
    for t in &s.tasks {
        println!("  {t}");
    }
    if !s.labels.is_empty() {
        println!("\nlabel segments:");
        for (tier, value, status, n) in &s.labels {
            println!("  {tier:<10} {value:<24} {status:<9} {n:>6}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
