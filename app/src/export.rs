//! `tacit export`: sessions of a library → a dataset.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use tacit_datasets::{DatasetFormat, DeltaOptions, EpisodeUnit, GroupBy, LeRobotOptions, SplitSpec, TacitOptions, VideoCodec};
use tacit_session::store::StoreUrl;
use tacit_session::SessionFilter;

use crate::progress::CliProgress;
use crate::LibraryArg;

/// Arguments of `tacit export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub library: LibraryArg,
    /// Dataset format: lerobot (LeRobot v3.0, frames on an fps grid),
    /// tacit (every stream at its native rate, one table per kind), or
    /// delta (the tacit tables as Delta Lake tables, in a folder or on the
    /// site store: many exporters may append at once).
    #[arg(long, default_value = "lerobot", value_parser = ["lerobot", "tacit", "delta"])]
    pub format: String,
    /// The dataset folder to create (delta: a folder or s3://bucket/prefix).
    #[arg(long)]
    pub out: PathBuf,
    /// Frame rate of the dataset (default: the first camera's).
    #[arg(long)]
    pub fps: Option<u32>,
    /// Sessions to export (ids or folders; default: every session in the library).
    #[arg(long = "session", num_args = 1..)]
    pub sessions: Vec<String>,
    /// Keep sessions matching key=value (station, operator, task, status:
    /// complete, recovered or reviewed); repeatable, all must match.
    #[arg(long = "where")]
    pub filters: Vec<String>,
    /// Fail on an unreadable session instead of skipping it with a warning.
    #[arg(long)]
    pub strict: bool,
    /// Replace an existing dataset at --out (the old one stays until the new one is complete).
    #[arg(long)]
    pub replace: bool,
    /// Add the sessions that are not in the dataset at --out yet: new data
    /// files only (LeRobot also rewrites its small meta files); a different
    /// schema is refused.
    #[arg(long)]
    pub append: bool,
    /// Splits by session, e.g. train=0.8,val=0.1,test=0.1 (default: all train).
    #[arg(long)]
    pub split: Option<String>,
    /// Keep these together in one split: session, operator or station.
    #[arg(long, default_value = "session", value_parser = ["session", "operator", "station"])]
    pub group_by: String,
    /// Seed of the split assignment (same seed, same splits).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// LeRobot episodes: one per session, or one per `step` label (task = the step).
    #[arg(long, default_value = "session", value_parser = ["session", "step"])]
    pub episodes: String,
    /// LeRobot: re-encode camera frames at WIDTHxHEIGHT, e.g. 320x240
    /// (default: the recorded JPEG, untouched).
    #[arg(long, value_name = "WxH")]
    pub image_size: Option<String>,
    /// LeRobot: cameras as `video` features (MP4 written by ffmpeg, one frame per row) instead of JPEG images.
    #[arg(long)]
    pub video: bool,
    /// Codec of --video: h264 (fast) or av1 (LeRobot's default, slower).
    #[arg(long, default_value = "h264", value_parser = ["h264", "av1"])]
    pub video_codec: String,
    /// Seconds of audio per row of the tacit `audio` table.
    #[arg(long, default_value_t = 30)]
    pub audio_chunk: u32,
    /// `robot_type` in meta/info.json (default: the station name).
    #[arg(long)]
    pub robot_type: Option<String>,
    /// Machine-readable summary.
    #[arg(long)]
    pub json: bool,
}

/// Large batches (camera frames) are allocated and freed all the time; by
/// default glibc gives each one fresh pages from mmap and returns them, so
/// every batch pays page faults. Keeping up to 256 MiB on the heap for reuse
/// made exports faster (docs/performance.md).
fn reuse_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before the export starts its threads.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
        // Writer threads share the main arena instead of each keeping its own.
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// `640x480` → (640, 480).
fn parse_size(s: &str) -> Result<(u32, u32)> {
    let parsed = s.split_once(['x', 'X']).and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)));
    match parsed {
        Some((w, h)) if (1..=8192).contains(&w) && (1..=8192).contains(&h) => Ok((w, h)),
        _ => bail!("--image-size takes WIDTHxHEIGHT in pixels, each 1–8192 (e.g. 320x240); got {s:?}"),
    }
}

pub fn run(args: ExportArgs) -> Result<ExitCode> {
    if std::env::var_os("TACIT_NO_MALLOPT").is_none() {
        reuse_large_allocations();
    }
    let lib = args.library.open()?;
    let filter = SessionFilter::parse(&args.filters).map_err(anyhow::Error::msg)?;
    let dirs = lib.select(&args.sessions, &filter)?;
    if dirs.is_empty() {
        bail!("no session matches in {} (see `tacit sessions`)", lib.name());
    }
    let group_by = GroupBy::parse(&args.group_by)?;
    let split = match &args.split {
        Some(s) => Some(SplitSpec::parse(s, group_by, args.seed)?),
        None if group_by != GroupBy::Session || args.seed != 0 => {
            bail!("--group-by and --seed go with --split (e.g. --split train=0.8,val=0.2)")
        }
        None => None,
    };
    let started = std::time::Instant::now();
    if args.format == "delta" {
        return run_delta(&args, &dirs, split, started);
    }
    let tacit_format = args.format == "tacit";
    let report = if tacit_format {
        if args.fps.is_some() || args.robot_type.is_some() || args.episodes != "session" || args.image_size.is_some() || args.video {
            bail!("--fps, --robot-type, --episodes, --image-size and --video are LeRobot options; the tacit format keeps every stream at its native rate, one episode per session");
        }
        let opts = TacitOptions {
            out: args.out.clone(),
            strict: args.strict,
            replace: args.replace,
            append: args.append,
            split,
            audio_chunk_s: args.audio_chunk,
        };
        tacit_datasets::export_tacit(&dirs, &opts, &CliProgress::new())?
    } else {
        let opts = LeRobotOptions {
            out: args.out.clone(),
            fps: args.fps,
            robot_type: args.robot_type,
            strict: args.strict,
            replace: args.replace,
            split_given: split.is_some(),
            split: split.unwrap_or_default(),
            append: args.append,
            episodes: if args.episodes == "step" { EpisodeUnit::Step } else { EpisodeUnit::Session },
            image_size: args.image_size.as_deref().map(parse_size).transpose()?,
            video: args.video.then_some(if args.video_codec == "av1" { VideoCodec::Av1 } else { VideoCodec::H264 }),
        };
        tacit_datasets::export_lerobot(&dirs, &opts, &CliProgress::new())?
    };
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        crate::out::json(&report)?;
    } else {
        println!(
            "{}: {}, {} episodes{}, {} frames, {:.1} MB in {:.1} s ({:.0} frames/s){}",
            report.out.display(),
            if tacit_format { "tacit tables" } else { "LeRobot v3.0" },
            report.episodes,
            if args.append { format!(" added ({} already there)", report.already) } else { String::new() },
            report.frames,
            report.bytes as f64 / 1e6,
            secs,
            report.frames as f64 / secs.max(1e-9),
            if report.skipped.is_empty() { String::new() } else { format!(", {} sessions skipped", report.skipped.len()) }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `tacit export --format delta`.
fn run_delta(args: &ExportArgs, dirs: &[PathBuf], split: Option<SplitSpec>, started: std::time::Instant) -> Result<ExitCode> {
    if args.fps.is_some() || args.robot_type.is_some() || args.episodes != "session" || args.image_size.is_some() || args.video {
        bail!("--fps, --robot-type, --episodes, --image-size and --video are LeRobot options; Delta tables keep every stream at its native rate, one episode per session");
    }
    if args.replace {
        bail!("--replace does not apply to Delta tables: they only grow, and a session already in them is skipped; to start over, export to a new --out");
    }
    let Some(out) = args.out.to_str() else { bail!("--out {} is not valid UTF-8", args.out.display()) };
    let opts = DeltaOptions {
        out: out.to_string(),
        store: args.library.store.options(None),
        strict: args.strict,
        split,
        audio_chunk_s: args.audio_chunk,
    };
    let report = tacit_datasets::export_delta(dirs, &opts, &CliProgress::new())?;
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        crate::out::json(&report)?;
    } else {
        let e = &report.export;
        println!(
            "{}: Delta tables, {} sessions added ({} already there), {} frames, {:.1} MB in the tables, {} commits ({} retried, {} conflicts redone){} in {secs:.1} s{}",
            e.out.display(),
            e.episodes,
            e.already,
            e.frames,
            e.bytes as f64 / 1e6,
            report.commits,
            report.retries,
            report.conflicts,
            if report.schema_changes > 0 { format!(", {} schema change(s)", report.schema_changes) } else { String::new() },
            if e.skipped.is_empty() { String::new() } else { format!(", {} sessions skipped", e.skipped.len()) }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A Delta dataset (on the store, or a folder with `_tacit_delta.json`)?
pub fn is_delta(dataset: &std::path::Path) -> bool {
    dataset.to_str().is_some_and(StoreUrl::is_store) || dataset.join(tacit_datasets::delta::MARKER).is_file()
}

/// `tacit validate DATASET`: every defect with its file and row; exit 1 if any.
pub fn validate(dataset: &std::path::Path, store: &crate::push::StoreArgs, json: bool) -> Result<ExitCode> {
    let (v, name) = if is_delta(dataset) {
        let Some(at) = dataset.to_str() else { bail!("{} is not valid UTF-8", dataset.display()) };
        (tacit_datasets::delta::validate_delta(at, &store.options(None)), "Delta tables")
    } else {
        let format = DatasetFormat::detect(dataset)?;
        (format.validate(dataset), format.name())
    };
    if json {
        crate::out::json(&v)?;
    } else {
        for d in &v.defects {
            match d.row {
                Some(r) => println!("{}: row {r}: {}", d.file, d.message),
                None => println!("{}: {}", d.file, d.message),
            }
        }
        if v.more > 0 {
            println!("… and {} more defects of the same kinds", v.more);
        }
        let n = v.defects.len() as u64 + v.more;
        println!(
            "{}: {}, {} episodes, {} frames — {}",
            dataset.display(),
            name,
            v.episodes,
            v.frames,
            if n == 0 { "valid".to_string() } else { format!("{n} defects") }
        );
    }
    Ok(if v.defects.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
