//! `tacit bench export`: LeRobot export throughput and memory against
//! pyarrow writing the same final tables, and against the disk (`dd`).
//!
//! The session is generated straight into the session folder by
//! `session::builder` (the same Arrow IPC files the recorder writes, faster
//! than real time): two
//! 1280×720 cameras at 30 fps (30 prerendered grainy JPEGs cycled, ~139 kB
//! each, as in `bench record`) and one DAQ with 16 channels at 10 kHz.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use serde_json::{json, Value};
use tacit_capture::source::camera::{encode_jpeg, CapturedFrame, Pixels, SyntheticCamera};
use tacit_session::builder::SessionBuilder;

use crate::bench::{dd, load_profile};

/// Writes a synthetic session of `seconds` into `lib/sessions/<id>` with
/// the first `cameras` cameras of the bench station (2 for export), through
/// `session::builder::SessionBuilder`: 30 grainy JPEGs from the synthetic
/// camera cycled per camera, one record batch per second of each stream;
/// `size` replaces the cameras' 1280×720.
pub(crate) fn generate(lib: &Path, id: &str, seconds: u32, noise: u8, cameras: usize, size: Option<(u32, u32)>) -> Result<PathBuf> {
    let mut profile = load_profile(noise, 85);
    if let Some((w, h)) = size {
        for c in &mut profile.cameras {
            (c.width, c.height) = (w, h);
        }
    }
    let mut b = SessionBuilder::new(id)
        .station("bench")
        .task("bench export")
        .seconds(f64::from(seconds))
        .batch_seconds(1.0)
        .no_cameras()
        .no_sensors();
    for cam in profile.cameras.iter().take(cameras) {
        let mut source = SyntheticCamera::new(&tacit_schema::CameraProfile { prerender: 0, ..cam.clone() })?;
        let jpegs: Vec<Vec<u8>> = (0..30u64)
            .map(|k| {
                let rgb = source.render(k, k as i64 * 33_333_333);
                let f = CapturedFrame {
                    arrived: Instant::now(),
                    device_ts_ns: None,
                    seq: k,
                    width: cam.width,
                    height: cam.height,
                    pixels: Pixels::Rgb(rgb),
                };
                encode_jpeg(&f, cam.jpeg_quality).map_err(anyhow::Error::msg)
            })
            .collect::<Result<_>>()?;
        b = b.camera_frames(&cam.name, cam.width, cam.height, cam.fps, jpegs);
    }
    // 16 channels, the last two the action (what a policy would command).
    let sensor = &profile.sensors[0];
    let channels: Vec<(&str, &str)> =
        sensor.channels.iter().enumerate().map(|(i, c)| (c.name.as_str(), if i >= 14 { "action" } else { "state" })).collect();
    b = b.sensor(&sensor.name, sensor.rate_hz, &channels);
    Ok(b.write(lib)?)
}

/// Peak resident memory of a running process, KiB.
pub(crate) fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `tacit export` in its own process and reads its peak RSS (VmHWM)
/// from /proc while it runs; returns (seconds, peak KiB). The export fsyncs
/// every file before it renames the dataset into place.
pub(crate) fn timed_export(exe: &Path, lib: &Path, out: &Path, format: &[&str]) -> Result<(f64, u64)> {
    let started = Instant::now();
    let mut child = std::process::Command::new(exe)
        .arg("export")
        .args(format)
        .arg("--library")
        .arg(lib)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let mut peak_kb = 0u64;
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        peak_kb = peak_kb.max(vm_hwm_kb(child.id()).unwrap_or(0));
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    if !status.success() {
        bail!("tacit export {} failed", format.join(" "));
    }
    Ok((started.elapsed().as_secs_f64(), peak_kb))
}

/// Camera frames recorded in the library's (one) session.
fn frames_in_session(lib: &Path) -> Result<u64> {
    let mut n = 0;
    for e in std::fs::read_dir(lib.join("sessions"))?.flatten() {
        let m = tacit_session::SessionDir::open(&e.path())?.into_manifest();
        n += m.streams.iter().filter(|s| s.kind == tacit_schema::StreamKind::Camera).map(|s| s.count).sum::<u64>();
    }
    Ok(n)
}

/// What `tacit bench export` measures.
pub struct ExportBench {
    /// Session lengths, minutes.
    pub minutes: Vec<f64>,
    /// Where to generate and export.
    pub dir: Option<PathBuf>,
    /// MiB dd writes for the baseline.
    pub dd_mb: u64,
    /// Python with pyarrow.
    pub python: PathBuf,
    /// Keep what was generated.
    pub keep: bool,
    /// Camera size (default 1280×720).
    pub size: Option<(u32, u32)>,
    /// Only the LeRobot export's time and memory (no pyarrow, no tables, no dd).
    pub lerobot_only: bool,
}

/// Runs the benchmark for each length in `minutes`.
pub fn run(b: &ExportBench, as_json: bool) -> Result<ExitCode> {
    let ExportBench { minutes, dir, dd_mb, python, keep, size, lerobot_only } = b;
    let (dd_mb, keep, lerobot_only) = (*dd_mb, *keep, *lerobot_only);
    let (cw, ch) = size.unwrap_or((1280, 720));
    let base = dir.clone().unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| std::env::temp_dir()));
    let root = base.join(format!("tacit-bench-export-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    let exe = std::env::current_exe()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/bench_export_pyarrow.py");
    let mut results = Vec::new();
    for &m in minutes.iter() {
        let seconds = (m * 60.0).round() as u32;
        let lib = root.join(format!("lib-{seconds}s"));
        crate::out::say!("generating a {seconds} s session (2 cameras {cw}×{ch} at 30 fps, 16 ch × 10 kHz)…");
        generate(&lib, &format!("20261128-000000-bench{seconds}"), seconds, 20, 2, *size)?;
        // A recorded session is on disk long before anyone exports it: flush
        // the generated files now, so their writeback does not compete with
        // the timed runs.
        let _ = std::process::Command::new("sync").status();
        let out = root.join(format!("lerobot-{seconds}s"));
        if lerobot_only {
            let (secs, peak_kb) = timed_export(&exe, &lib, &out, &["--format", "lerobot"])?;
            let bytes = tacit_datasets::dir_size(&out);
            let groups = tacit_datasets::data_row_groups(&out)?;
            crate::out::say!(
                "{seconds} s: LeRobot export {secs:.1} s, {:.0} MB, {groups} row group(s), peak RSS {:.0} MiB",
                bytes as f64 / 1e6,
                peak_kb as f64 / 1024.0
            );
            results.push(json!({"seconds_of_session": seconds, "camera": format!("{cw}x{ch}"), "bytes": bytes, "tacit_s": secs,
                "row_groups": groups, "tacit_peak_rss_mb": peak_kb as f64 / 1024.0}));
            if !keep {
                let _ = std::fs::remove_dir_all(&out);
                let _ = std::fs::remove_dir_all(&lib);
            }
            continue;
        }
        crate::out::say!("baseline: dd {dd_mb} MiB with conv=fdatasync…");
        let dd_bps = dd(&root, dd_mb)?;
        let (secs, peak_kb) = timed_export(&exe, &lib, &out, &["--format", "lerobot"])?;
        let rss = peak_kb * 1024;
        let bytes = tacit_datasets::dir_size(&out);
        let info: Value = serde_json::from_str(&std::fs::read_to_string(out.join("meta/info.json"))?)?;
        let frames = info["total_frames"].as_u64().unwrap_or(0);
        crate::out::say!("pyarrow: writing the same tables…");
        let py = std::process::Command::new(python).arg(&script).arg(&out).arg(root.join("pyarrow-out")).output()?;
        if !py.status.success() {
            bail!("pyarrow baseline failed: {}", String::from_utf8_lossy(&py.stderr));
        }
        let pyr: Value = serde_json::from_slice(&py.stdout)?;
        let py_secs = pyr["seconds"].as_f64().unwrap_or(f64::NAN);
        // The tacit tables of the same session: every frame and reading at native rate.
        let tables = root.join(format!("tables-{seconds}s"));
        let (t_secs, t_peak_kb) = timed_export(&exe, &lib, &tables, &["--format", "tacit"])?;
        let t_bytes = tacit_datasets::dir_size(&tables);
        let t_frames = frames_in_session(&lib)?;
        let row = json!({
            "seconds_of_session": seconds, "frames": frames, "bytes": bytes,
            "tacit_s": secs, "tacit_frames_per_s": frames as f64 / secs, "tacit_mb_per_s": bytes as f64 / 1e6 / secs,
            "tacit_peak_rss_mb": rss as f64 / 1048576.0,
            "pyarrow_data_s": py_secs, "pyarrow_data_bytes": pyr["bytes"],
            "dd_mb_per_s": dd_bps / 1e6,
            "tacit_over_pyarrow": secs / py_secs,
            "tacit_over_dd": bytes as f64 / secs / dd_bps,
            "tables_s": t_secs, "tables_bytes": t_bytes, "tables_camera_frames": t_frames,
            "tables_frames_per_s": t_frames as f64 / t_secs, "tables_mb_per_s": t_bytes as f64 / 1e6 / t_secs,
            "tables_peak_rss_mb": (t_peak_kb * 1024) as f64 / 1048576.0, "tables_over_dd": t_bytes as f64 / t_secs / dd_bps,
        });
        crate::out::say!(
            "{seconds} s: tacit {secs:.2} s ({:.0} frames/s, {:.0} MB/s, peak RSS {:.0} MiB); pyarrow {py_secs:.2} s; tacit/pyarrow {:.2}; dd {:.0} MB/s, tacit = {:.0} % of dd",
            frames as f64 / secs,
            bytes as f64 / 1e6 / secs,
            rss as f64 / 1048576.0,
            secs / py_secs,
            dd_bps / 1e6,
            100.0 * bytes as f64 / secs / dd_bps
        );
        crate::out::say!(
            "{seconds} s, tacit tables: {t_secs:.2} s ({:.0} camera frames/s, {:.0} MB/s, peak RSS {:.0} MiB) = {:.0} % of dd",
            t_frames as f64 / t_secs,
            t_bytes as f64 / 1e6 / t_secs,
            (t_peak_kb * 1024) as f64 / 1048576.0,
            100.0 * t_bytes as f64 / t_secs / dd_bps
        );
        results.push(row);
        if !keep {
            let _ = std::fs::remove_dir_all(&out);
            let _ = std::fs::remove_dir_all(&tables);
            let _ = std::fs::remove_dir_all(root.join("pyarrow-out"));
            let _ = std::fs::remove_dir_all(&lib);
        }
    }
    if !keep {
        let _ = std::fs::remove_dir_all(&root);
    }
    let report = json!({"results": results});
    if as_json {
        crate::out::json(&report)?;
    }
    Ok(ExitCode::SUCCESS)
}
