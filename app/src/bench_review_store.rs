//! `tacit bench review-store`: Review opening a session from the site store
//! on a trainer's PC, against opening the same session from the local disk,
//! in one run. A generated session (1 camera 1280×720 at 30 fps, 16 ch ×
//! 10 kHz, a 48 kHz microphone) is pushed (`tacit push`, which writes the
//! review index), then probed in its own process each time: local; from
//! the store with an empty cache; from the store again with the cache the
//! first store open left. Reports open and seek times and the bytes each
//! probe downloaded from the store (open and seeks).
//!
//! Run through scripts/bench-store review-store (it starts the S3 server).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// Options of `tacit bench review-store`.
#[derive(clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub server: crate::bench_push::Server,
    /// Minutes of session.
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// Random seeks per probe.
    #[arg(long, default_value_t = 100)]
    pub seeks: usize,
    /// Folder to generate the session in.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

fn probe(exe: &Path, args: &[&str], cache: Option<&Path>) -> Result<Value> {
    let mut c = Command::new(exe);
    c.args(["bench", "review-probe"]).args(args).stderr(Stdio::inherit());
    if let Some(dir) = cache {
        c.env("TACIT_CACHE_DIR", dir).env("TACIT_CACHE_MB", "100000");
    }
    let out = c.output().context("cannot run the probe")?;
    if !out.status.success() {
        bail!("probe failed");
    }
    serde_json::from_slice(&out.stdout).context("probe output")
}

pub fn run(o: &Options) -> Result<ExitCode> {
    let base = o.dir.clone().unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| std::env::temp_dir()));
    let root = base.join(format!("tacit-bench-review-store-{}", std::process::id()));
    let lib = root.join("lib");
    let seconds = (o.minutes * 60.0).round().max(1.0) as u32;
    crate::out::say!("generating a {seconds} s session (1 camera 1280×720 at 30 fps, 16 ch × 10 kHz)…");
    let id = "20261203-000000-reviewstore";
    let dir = crate::bench_export::generate(&lib, id, seconds, 20, 1, None)?;
    let session_bytes = tacit_datasets::dir_size(&dir);
    let exe = std::env::current_exe()?;
    let url = format!("s3://{}/review-{}", o.server.bucket, std::process::id());
    crate::out::say!("pushing it to {url}…");
    let pushed = Command::new(&exe)
        .args(["push", "--quiet", "--library"])
        .arg(&lib)
        .args(["--to", &url, "--endpoint", &o.server.endpoint])
        .stderr(Stdio::inherit())
        .status()?;
    if !pushed.success() {
        bail!("tacit push failed");
    }
    let seeks = o.seeks.to_string();
    let cache = root.join("cache");
    let dir_s = dir.to_string_lossy().into_owned();
    let store_args = [id, "--seeks", &seeks, "--library", &url, "--endpoint", &o.server.endpoint];
    let mut rows = Vec::new();
    for (what, args, cache_dir) in [
        ("local disk", vec![dir_s.as_str(), "--seeks", &seeks], None),
        ("store, empty cache", store_args.to_vec(), Some(cache.as_path())),
        ("store, cache kept", store_args.to_vec(), Some(cache.as_path())),
    ] {
        let mut v = probe(&exe, &args, cache_dir)?;
        v["what"] = json!(what);
        v["fetched_bytes"] = v["store_fetched_bytes"].clone();
        rows.push(v);
    }
    let _ = std::fs::remove_dir_all(&root);
    let local = rows[0]["open_ms"].as_f64().unwrap_or(1.0).max(1e-9);
    if o.json {
        crate::out::json(&json!({"session_bytes": session_bytes, "minutes": o.minutes, "probes": rows}))?;
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:.0}-minute session, {:.2} GB on disk", o.minutes, session_bytes as f64 / 1e9);
    println!("{:<20} {:>9} {:>8} {:>9} {:>9} {:>12} {:>10}", "", "open ms", "× local", "seek med", "seek p95", "fetched MB", "% session");
    for v in &rows {
        let open = v["open_ms"].as_f64().unwrap_or(0.0);
        let fetched = v["fetched_bytes"].as_f64().unwrap_or(0.0);
        println!(
            "{:<20} {:>9.0} {:>8.2} {:>9.1} {:>9.1} {:>12.1} {:>10.2}",
            v["what"].as_str().unwrap_or(""),
            open,
            open / local,
            v["seek_ms_median"].as_f64().unwrap_or(0.0),
            v["seek_ms_p95"].as_f64().unwrap_or(0.0),
            fetched / 1e6,
            100.0 * fetched / session_bytes.max(1) as f64
        );
    }
    Ok(ExitCode::SUCCESS)
}
