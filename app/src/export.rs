//! `tacit export`: sessions of a library → a dataset.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use tacit_capture::Library;
use tacit_datasets::LeRobotOptions;

use crate::progress::CliProgress;
use crate::LibraryArg;

/// Arguments of `tacit export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub library: LibraryArg,
    /// Dataset format: lerobot (LeRobot v3.0).
    #[arg(long, default_value = "lerobot", value_parser = ["lerobot"])]
    pub format: String,
    /// The dataset folder to create.
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
    /// `robot_type` in meta/info.json (default: the station name).
    #[arg(long)]
    pub robot_type: Option<String>,
    /// Machine-readable summary.
    #[arg(long)]
    pub json: bool,
}

fn matches(dir: &std::path::Path, filters: &[(String, String)]) -> bool {
    if filters.is_empty() {
        return true;
    }
    let Ok(m) = tacit_capture::store::read_manifest(dir) else { return true }; // let the exporter report it
    filters.iter().all(|(k, v)| match k.as_str() {
        "station" => &m.station == v,
        "operator" => &m.operator == v,
        "task" => &m.task == v,
        "status" if v == "reviewed" => m.reviewed,
        "status" => serde_json::to_value(m.status).ok().and_then(|s| s.as_str().map(|s| s == v)).unwrap_or(false),
        _ => false,
    })
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
    }
}

pub fn run(args: ExportArgs) -> Result<ExitCode> {
    if std::env::var_os("TACIT_NO_MALLOPT").is_none() {
        reuse_large_allocations();
    }
    let lib = Library::at(args.library.path());
    let mut filters = Vec::new();
    for f in &args.filters {
        let Some((k, v)) = f.split_once('=') else { bail!("--where takes key=value (got {f:?})") };
        if !["station", "operator", "task", "status"].contains(&k) {
            bail!("--where knows station, operator, task and status (got {k:?})");
        }
        filters.push((k.to_string(), v.to_string()));
    }
    let dirs: Vec<PathBuf> = if args.sessions.is_empty() {
        lib.session_dirs()?
    } else {
        args.sessions.iter().map(|s| lib.resolve(s)).collect::<Result<_, _>>()?
    };
    let dirs: Vec<PathBuf> = dirs.into_iter().filter(|d| matches(d, &filters)).collect();
    if dirs.is_empty() {
        bail!("no session matches in {} (see `tacit sessions`)", lib.root().display());
    }
    let opts =
        LeRobotOptions { out: args.out.clone(), fps: args.fps, robot_type: args.robot_type, strict: args.strict, replace: args.replace };
    let started = std::time::Instant::now();
    let report = tacit_datasets::export_lerobot(&dirs, &opts, &CliProgress::new())?;
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{}: LeRobot v3.0, {} episodes, {} frames, {:.1} MB in {:.1} s ({:.0} frames/s){}",
            report.out.display(),
            report.episodes,
            report.frames,
            report.bytes as f64 / 1e6,
            secs,
            report.frames as f64 / secs.max(1e-9),
            if report.skipped.is_empty() { String::new() } else { format!(", {} sessions skipped", report.skipped.len()) }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `tacit validate DATASET`: every defect with its file and row; exit 1 if any.
pub fn validate(dataset: &std::path::Path, json: bool) -> Result<ExitCode> {
    if !dataset.join("meta/info.json").is_file() {
        bail!("{} has no meta/info.json: not a LeRobot v3.0 dataset (the tacit table format is not built yet)", dataset.display());
    }
    let v = tacit_datasets::validate_lerobot(dataset);
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
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
            "{}: LeRobot v3.0, {} episodes, {} frames — {}",
            dataset.display(),
            v.episodes,
            v.frames,
            if n == 0 { "valid".to_string() } else { format!("{n} defects") }
        );
    }
    Ok(if v.defects.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
