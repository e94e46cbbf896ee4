//! `tacit push`: the library's sessions into the site store.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Result};
use tacit_session::store::{push, PushOptions, Store, StoreOptions, StoreUrl, Verify};
use tacit_session::{Library, SessionFilter};

use crate::progress::CliProgress;
use crate::LibraryArg;

/// How to reach an `s3://` site store (push, export --format delta, validate, inspect).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct StoreArgs {
    /// The store's endpoint, e.g. http://site-store:9000 (MinIO, Ceph,
    /// Garage); default: $AWS_ENDPOINT_URL, else AWS S3.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// The store's region (default: $AWS_REGION, else us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// A profile of ~/.aws/credentials (when AWS_ACCESS_KEY_ID is unset).
    #[arg(long)]
    pub profile: Option<String>,
}

impl StoreArgs {
    /// As the store layer takes them.
    pub fn options(&self, retry_timeout: Option<Duration>) -> StoreOptions {
        StoreOptions { endpoint: self.endpoint.clone(), region: self.region.clone(), profile: self.profile.clone(), retry_timeout }
    }
}

/// Arguments of `tacit push`.
#[derive(clap::Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub library: LibraryArg,
    /// The site store: s3://bucket/prefix.
    #[arg(long, env = "TACIT_STORE")]
    pub to: String,
    /// Sessions to push (ids or folders; default: every finished session).
    #[arg(long = "session", num_args = 1..)]
    pub sessions: Vec<String>,
    /// Keep sessions matching key=value (station, operator, task, status); repeatable.
    #[arg(long = "where")]
    pub filters: Vec<String>,
    /// Remove each local session once every file of it is verified in the store.
    #[arg(long)]
    pub prune: bool,
    /// Read every object back and compare SHA-256 (finds objects damaged in the store).
    #[arg(long)]
    pub verify: bool,
    /// Part size of large files, in MiB (S3's minimum is 5).
    #[arg(long, default_value_t = 16)]
    pub part_mib: u64,
    /// Parts in flight at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// Seconds one request keeps retrying through a cut network before the push stops.
    #[arg(long, default_value_t = 120)]
    pub retry_seconds: u64,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: PushArgs) -> Result<ExitCode> {
    let url = StoreUrl::parse(&args.to)?;
    let lib = Library::at(args.library.require_folder("push")?);
    let filter = SessionFilter::parse(&args.filters).map_err(anyhow::Error::msg)?;
    let dirs = lib.select(&args.sessions, &filter)?;
    if dirs.is_empty() {
        bail!("no session matches in {} (see `tacit sessions`)", lib.root().display());
    }
    if !(5..=5 * 1024).contains(&args.part_mib) {
        bail!("--part-mib takes 5 to 5120 (S3 parts are 5 MiB to 5 GiB); got {}", args.part_mib);
    }
    let store = Store::connect(&url, &args.library.store.options(Some(Duration::from_secs(args.retry_seconds))))?;
    let push_options = PushOptions {
        prune: args.prune,
        verify: if args.verify { Verify::ReadBack } else { Verify::Etag },
        part_size: args.part_mib << 20,
        concurrency: args.jobs.max(1),
    };
    let started = std::time::Instant::now();
    let report = push(&store, &dirs, &push_options, &CliProgress::new());
    let secs = started.elapsed().as_secs_f64();
    if args.json {
        crate::out::json(&report)?;
    } else {
        for s in &report.sessions {
            let what = match s.outcome {
                "pushed" => format!("pushed {} file(s), {:.1} MB; {} already there", s.files_sent, s.bytes_sent as f64 / 1e6, s.files_kept),
                "up-to-date" => format!("up to date ({} file(s) verified)", s.files_kept),
                _ => format!("{}: {}", s.outcome, s.reason.as_deref().unwrap_or("")),
            };
            let repaired = if s.repaired.is_empty() {
                String::new()
            } else {
                format!("; damaged in the store and sent again: {}", s.repaired.join(", "))
            };
            let pruned = if s.pruned { "; removed from this PC" } else { "" };
            println!("{:<32} {what}{repaired}{pruned}", s.id);
        }
        let sent: u64 = report.sessions.iter().map(|s| s.bytes_sent).sum();
        println!(
            "{} session(s) to {} in {secs:.1} s ({:.1} MB/s)",
            report.sessions.len(),
            report.store,
            sent as f64 / 1e6 / secs.max(1e-9)
        );
    }
    let failed = report.failed();
    if failed > 0 {
        eprintln!("error: {failed} session(s) not pushed (see above); run the same command again to resume");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Pushes a just-recorded session to the profile's `[store]`; a failure is
/// a warning (the session stays here for the next `tacit push`).
pub fn after_record(store: &tacit_schema::StoreProfile, dir: &std::path::Path) {
    let store_client = match Store::connect_profile(store) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("warning: not pushed to the site store: {e}; the session stays here, push it later with `tacit push`");
            return;
        }
    };
    let opts = PushOptions { prune: store.prune, ..PushOptions::default() };
    let report = push(&store_client, &[dir.to_path_buf()], &opts, &CliProgress::new());
    for s in &report.sessions {
        match s.outcome {
            "pushed" | "up-to-date" => {
                crate::out::say!("Pushed to {}{}", report.store, if s.pruned { " (removed from this PC)" } else { "" })
            }
            _ => eprintln!(
                "warning: not pushed to {}: {}; push it later with `tacit push`",
                report.store,
                s.reason.as_deref().unwrap_or(s.outcome)
            ),
        }
    }
}
