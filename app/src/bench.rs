//! `tacit bench record`: the recorder under a heavy synthetic load (two
//! 1280×720 MJPEG cameras at 30 fps, 48 kHz audio, 16 sensor channels at
//! 10 kHz), against `dd conv=fdatasync` to the same disk in the same run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::json;
use tacit_capture::{RecordOptions, Recorder};
use tacit_schema::{CameraProfile, ChannelProfile, MicrophoneProfile, SensorKind, SensorProfile, StationProfile};
use tacit_session::Library;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Transcription: the spoken English commentary, clean and inside ten
    /// minutes of welding noise, and the Korean dev set (61 clips of real
    /// speech) as one session. Writes the WAVs, the references and tacit's
    /// results (JSON) to --out, for scripts/bench-transcribe to compare with
    /// faster-whisper on the same files.
    Transcribe(crate::bench_transcribe::Options),
    /// LeRobot export of generated 2-camera + 16 ch × 10 kHz sessions,
    /// against pyarrow writing the same tables and against dd.
    Export {
        /// Session lengths to export, minutes (one export each).
        #[arg(long, num_args = 1.., default_values_t = vec![1.0, 10.0])]
        minutes: Vec<f64>,
        /// Folder on the disk to measure.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// MiB that dd writes for the baseline.
        #[arg(long, default_value_t = 1024)]
        dd_mb: u64,
        /// Python with pyarrow (scripts/setup makes .venv).
        #[arg(long, default_value = ".venv/bin/python")]
        python: PathBuf,
        /// Keep the generated sessions and datasets.
        #[arg(long)]
        keep: bool,
        /// Camera size WxH (default 1280x720), e.g. 640x360 for an hour-long session on a small disk.
        #[arg(long, value_parser = parse_size)]
        size: Option<(u32, u32)>,
        /// Only the LeRobot export's time, row groups and peak memory (no dd, pyarrow or tables).
        #[arg(long)]
        lerobot_only: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Delta Lake: the Delta export of a generated session against the
    /// folder export of it, and N exporters appending to one table root at
    /// once (commits, retries, rows lost and duplicated).
    Delta(crate::bench_delta::Options),
    /// Push: a generated 10-minute session into an S3 server (see
    /// scripts/bench-push), against boto3 uploading the same files there.
    Push(crate::bench_push::Options),
    /// Review: open time, seek-to-frame time and memory of a short and a
    /// long generated session (targets: open < 2 s, seek < 100 ms).
    Review {
        /// Session lengths, minutes.
        #[arg(long, num_args = 1.., default_values_t = vec![1.0, 60.0])]
        minutes: Vec<f64>,
        /// Folder to generate the sessions in.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Random seeks per session.
        #[arg(long, default_value_t = 200)]
        seeks: usize,
        /// Keep the generated sessions.
        #[arg(long)]
        keep: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Review from the site store against the local disk: open and seek
    /// times and the bytes fetched (run through scripts/bench-store).
    ReviewStore(crate::bench_review_store::Options),
    /// One Review measurement (run by `bench review` in its own process).
    #[command(hide = true)]
    ReviewProbe {
        /// The session folder, or an id in --library.
        session: String,
        /// Random seeks.
        #[arg(long, default_value_t = 200)]
        seeks: usize,
        #[command(flatten)]
        library: crate::LibraryArg,
    },
    /// Recorder load test.
    Record {
        /// Seconds to record.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Folder on the disk to measure (a temporary library is made inside).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// MiB that dd writes for the baseline.
        #[arg(long, default_value_t = 1024)]
        dd_mb: u64,
        /// Keep the recorded session.
        #[arg(long)]
        keep: bool,
        /// Grain in the synthetic frames (sets the JPEG size).
        #[arg(long, default_value_t = 20)]
        noise: u8,
        /// JPEG quality of the synthetic frames.
        #[arg(long, default_value_t = 85)]
        jpeg_quality: u8,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// `WxH` → (width, height).
pub(crate) fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(|| format!("{s:?} is not WxH (e.g. 640x360)"))?;
    match (w.parse::<u32>(), h.parse::<u32>()) {
        (Ok(w), Ok(h)) if w >= 16 && h >= 16 => Ok((w, h)),
        _ => Err(format!("{s:?} is not WxH with both at least 16 (e.g. 640x360)")),
    }
}

/// The load of the benchmark, as a station profile.
pub fn load_profile(noise: u8, jpeg_quality: u8) -> StationProfile {
    let cam = |name: &str| CameraProfile {
        name: name.into(),
        device: "synthetic".into(),
        width: 1280,
        height: 720,
        fps: 30,
        format: "mjpeg".into(),
        jpeg_quality,
        offset_ms: 0.0,
        noise,
        prerender: 30,
    };
    let text = "[station]\nname = \"bench\"\n";
    let mut p = StationProfile::from_toml(text).unwrap_or_else(|_| unreachable!("static profile"));
    p.cameras = vec![cam("cam1"), cam("cam2")];
    p.microphone = Some(MicrophoneProfile { name: "mic".into(), device: "synthetic".into(), rate_hz: 48_000, channels: 1, offset_ms: 0.0 });
    p.sensors = vec![SensorProfile {
        name: "daq".into(),
        kind: SensorKind::Simulated,
        rate_hz: 10_000.0,
        channels: (0..16)
            .map(|i| ChannelProfile {
                name: if i == 0 {
                    "current".into()
                } else if i == 1 {
                    "voltage".into()
                } else {
                    format!("ch{i}")
                },
                unit: String::new(),
                role: Default::default(),
            })
            .collect(),
        format: Default::default(),
        port: None,
        baud: None,
        address: None,
        file: None,
        time_field: None,
        offset_ms: 0.0,
    }];
    p
}

fn cpu_seconds() -> (f64, u64) {
    // SAFETY: getrusage fills the struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    (tv(ru.ru_utime) + tv(ru.ru_stime), ru.ru_maxrss as u64 * 1024)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).map(|e| e.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum()).unwrap_or(0)
}

pub fn dd(dir: &Path, mb: u64) -> Result<f64> {
    let target = dir.join("dd-baseline.tmp");
    let start = Instant::now();
    let out = std::process::Command::new("dd")
        .args(["if=/dev/zero", &format!("of={}", target.display()), "bs=1M", &format!("count={mb}"), "conv=fdatasync"])
        .output()
        .context("cannot run dd")?;
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&target);
    if !out.status.success() {
        bail!("dd failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(mb as f64 * 1048576.0 / secs)
}

pub fn run(cmd: BenchCommand) -> Result<ExitCode> {
    let (seconds, dir, dd_mb, keep, noise, jpeg_quality, as_json) = match cmd {
        BenchCommand::Transcribe(o) => return crate::bench_transcribe::run(&o),
        BenchCommand::Push(o) => return crate::bench_push::run(&o),
        BenchCommand::Delta(o) => return crate::bench_delta::run(&o),
        BenchCommand::Export { minutes, dir, dd_mb, python, keep, size, lerobot_only, json } => {
            let b = crate::bench_export::ExportBench { minutes, dir, dd_mb, python, keep, size, lerobot_only };
            return crate::bench_export::run(&b, json);
        }
        BenchCommand::Review { minutes, dir, seeks, keep, json } => return crate::bench_review::run(&minutes, dir, seeks, keep, json),
        BenchCommand::ReviewStore(o) => return crate::bench_review_store::run(&o),
        BenchCommand::ReviewProbe { session, seeks, library } => {
            let t0 = std::time::Instant::now();
            let dir = if library.store_url().is_some() { library.open()?.resolve(&session)? } else { PathBuf::from(&session) };
            return crate::bench_review::probe(&dir, seeks, t0.elapsed().as_secs_f64() * 1e3);
        }
        BenchCommand::Record { seconds, dir, dd_mb, keep, noise, jpeg_quality, json } => {
            (seconds, dir, dd_mb, keep, noise, jpeg_quality, json)
        }
    };
    let base = dir.unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| std::env::temp_dir()));
    let root = base.join(format!("tacit-bench-{}", std::process::id()));
    let lib = Library::create(&root)?;
    crate::out::say!("baseline: dd {dd_mb} MiB with conv=fdatasync into {}", root.display());
    let dd_bps = dd(&root, dd_mb)?;
    crate::out::say!("preparing load (prerendering 1280x720 frames)…");
    let rec = Recorder::start(
        &lib,
        &load_profile(noise, jpeg_quality),
        RecordOptions { operator: "bench".into(), task: "bench record".into(), min_free_bytes: 256 << 20, ..RecordOptions::default() },
    )?;
    let (cpu0, _) = cpu_seconds();
    let t0 = Instant::now();
    crate::out::say!("recording {seconds} s…");
    while t0.elapsed().as_secs_f64() < seconds && !rec.stopping() {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let dir = rec.dir().to_path_buf();
    let manifest = rec.stop("bench finished")?;
    let wall = t0.elapsed().as_secs_f64();
    let (cpu1, max_rss) = cpu_seconds();
    let bytes = dir_bytes(&dir);
    let drops: u64 = manifest.streams.iter().map(|s| s.drops).sum();
    let rec_bps = bytes as f64 / wall;
    let frames: u64 = manifest.streams.iter().filter(|s| s.kind == tacit_schema::StreamKind::Camera).map(|s| s.count).sum();
    let cam_bytes: u64 = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("cam-"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let result = json!({
        "seconds": wall,
        "drops": drops,
        "cpu_percent_of_one_core": (cpu1 - cpu0) / wall * 100.0,
        "peak_rss_mib": max_rss as f64 / 1048576.0,
        "bytes_written": bytes,
        "write_mb_per_s": rec_bps / 1e6,
        "dd_mb_per_s": dd_bps / 1e6,
        "write_over_dd": rec_bps / dd_bps,
        "camera_frames": frames,
        "mean_jpeg_kb": if frames > 0 { cam_bytes as f64 / frames as f64 / 1e3 } else { 0.0 },
        "streams": manifest.streams.iter().map(|s| json!({"name": s.name, "count": s.count, "drops": s.drops, "rate_hz": s.rate_hz})).collect::<Vec<_>>(),
    });
    if !keep {
        let _ = std::fs::remove_dir_all(&root);
    }
    if as_json {
        crate::out::json(&result)?;
    } else {
        println!(
            "recorded {:.1} s: {} camera frames (mean {:.0} kB), drops {}",
            wall,
            frames,
            result["mean_jpeg_kb"].as_f64().unwrap_or(0.0),
            drops
        );
        println!(
            "recorder CPU: {:.1} % of one core, peak RSS {:.0} MiB",
            result["cpu_percent_of_one_core"].as_f64().unwrap_or(0.0),
            result["peak_rss_mib"].as_f64().unwrap_or(0.0)
        );
        println!(
            "written {:.1} MB/s vs dd {:.1} MB/s: {:.3}× of the disk's sequential bandwidth",
            rec_bps / 1e6,
            dd_bps / 1e6,
            rec_bps / dd_bps
        );
    }
    Ok(if drops == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
