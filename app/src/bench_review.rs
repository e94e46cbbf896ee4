//! `tacit bench review`: how fast Review opens a session and shows the frame
//! after a seek, and how much memory that takes, for a short and a long
//! generated session (1 camera 1280×720 at 30 fps + 16 ch × 10 kHz). Each
//! measurement runs in its own process (`tacit bench review-probe`) so its
//! peak memory is its own. Targets from the issue: open < 2 s, seek < 100 ms.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::review::frame::{decode_rgb, Source};
use crate::review::open_session;

/// Opens `dir` as Review does, then seeks `seeks` times to pseudo-random
/// times and reads + decodes the frame on screen there; prints JSON.
/// `checkout_ms`: the time a store session took to check out before (part of its opening).
pub fn probe(dir: &Path, seeks: usize, checkout_ms: f64) -> Result<ExitCode> {
    let t0 = Instant::now();
    let loaded = open_session(dir).map_err(anyhow::Error::msg)?;
    let open_ms = t0.elapsed().as_secs_f64() * 1e3 + checkout_ms;
    let after_open_kb = crate::bench_export::vm_hwm_kb(std::process::id()).unwrap_or(0);
    let (_, index) = loaded.cams.first().context("the session has no camera")?;
    let duration = loaded_duration(index);
    let mut times = Vec::with_capacity(seeks);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..seeks {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let t = (x % duration.max(1) as u64) as i64;
        let s = Instant::now();
        let i = index.at_time(t).context("no frame")?;
        let image = decode_rgb(&Source::Frame(index.clone(), i)).map_err(anyhow::Error::msg)?;
        if image.width == 0 {
            bail!("empty frame at {t}");
        }
        times.push(s.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times.get(((times.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0);
    let out = json!({
        "frames": index.len(),
        "open_ms": open_ms,
        "checkout_ms": checkout_ms,
        "index_bytes": index.memory_bytes(),
        "rss_after_open_kib": after_open_kb,
        "peak_rss_kib": crate::bench_export::vm_hwm_kb(std::process::id()).unwrap_or(0),
        "seek_ms_median": pct(0.5),
        "seek_ms_p95": pct(0.95),
        "seek_ms_max": times.last().copied().unwrap_or(0.0),
        "store_fetched_bytes": tacit_session::store::cache::fetched_bytes(),
    });
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn loaded_duration(index: &tacit_session::seek::FrameIndex) -> i64 {
    index.t_ns(index.len().saturating_sub(1)).unwrap_or(0)
}

fn drop_caches() -> bool {
    // Root only (containers may refuse): then the numbers are warm-cache ones.
    let _ = std::process::Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// Generates the sessions and runs a probe on each.
pub fn run(minutes: &[f64], dir: Option<PathBuf>, seeks: usize, keep: bool, as_json: bool) -> Result<ExitCode> {
    let base = dir.unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| std::env::temp_dir()));
    let root = base.join(format!("tacit-bench-review-{}", std::process::id()));
    let lib = tacit_session::Library::create(&root)?;
    let exe = std::env::current_exe()?;
    let mut results = Vec::new();
    for &m in minutes {
        let seconds = (m * 60.0).round().max(1.0) as u32;
        crate::out::say!("generating a {m}-minute session (1 camera, 16 ch × 10 kHz)…");
        let session = crate::bench_export::generate(lib.root(), &format!("20261128-000000-review{seconds}"), seconds, 20, 1, None)?;
        // First with the page cache dropped (as after a reboot), then again warm.
        for cold in [drop_caches(), false] {
            let out = std::process::Command::new(&exe)
                .args(["bench", "review-probe"])
                .arg(&session)
                .args(["--seeks", &seeks.to_string()])
                .output()
                .context("cannot run the probe")?;
            if !out.status.success() {
                bail!("probe failed: {}", String::from_utf8_lossy(&out.stderr));
            }
            let mut v: Value = serde_json::from_slice(&out.stdout).context("probe output")?;
            v["minutes"] = json!(m);
            v["cold_cache"] = json!(cold);
            v["session_bytes"] = json!(tacit_datasets::dir_size(&session));
            results.push(v);
        }
        if !keep {
            let _ = std::fs::remove_dir_all(&session);
        }
    }
    if !keep {
        let _ = std::fs::remove_dir_all(&root);
    }
    if as_json {
        crate::out::json(&results)?;
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:>8} {:>10} {:>9} {:>10} {:>10} {:>10} {:>10} {:>12} {:>6}",
        "minutes", "frames", "GB", "open ms", "seek med", "seek p95", "seek max", "peak RSS MiB", "cold"
    );
    for v in &results {
        println!(
            "{:>8} {:>10} {:>9.1} {:>10.0} {:>10.1} {:>10.1} {:>10.1} {:>12.0} {:>6}",
            v["minutes"],
            v["frames"],
            v["session_bytes"].as_f64().unwrap_or(0.0) / 1e9,
            v["open_ms"].as_f64().unwrap_or(0.0),
            v["seek_ms_median"].as_f64().unwrap_or(0.0),
            v["seek_ms_p95"].as_f64().unwrap_or(0.0),
            v["seek_ms_max"].as_f64().unwrap_or(0.0),
            v["peak_rss_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            v["cold_cache"]
        );
    }
    // Cold runs of the shortest and the longest session.
    let colds: Vec<&Value> = results.iter().filter(|v| v["cold_cache"] == true).collect();
    if let (Some(first), Some(last)) = (colds.first(), colds.last()) {
        let r = |k: &str| last[k].as_f64().unwrap_or(0.0) / first[k].as_f64().unwrap_or(1.0).max(1e-9);
        println!(
            "longest/shortest: open {:.2}×, seek p95 {:.2}×, peak RSS {:.2}× (targets: open < 2000 ms, seek < 100 ms)",
            r("open_ms"),
            r("seek_ms_p95"),
            r("peak_rss_kib")
        );
    }
    Ok(ExitCode::SUCCESS)
}
