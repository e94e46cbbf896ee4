//! `tacit record`: live status on stderr, markers from stdin, stop on
//! duration, Ctrl-C, a `q` line, or a failure.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tacit_capture::{RecordOptions, Recorder, RecorderStatus};
use tacit_schema::{StationProfile, StreamKind};
use tacit_session::Library;

use crate::FolderArg;

/// Arguments of `tacit record`.
#[derive(clap::Args)]
pub struct RecordArgs {
    #[command(flatten)]
    pub library: FolderArg,
    /// Station profile (TOML).
    #[arg(long)]
    pub profile: PathBuf,
    /// Stop after this many seconds (default: until Ctrl-C or a `q` line).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Operator pseudonym (never a real name).
    #[arg(long)]
    pub operator: String,
    /// What the technician is doing.
    #[arg(long)]
    pub task: String,
    /// The operator has confirmed consent to be recorded.
    #[arg(long)]
    pub consent: bool,
    /// Stop cleanly when free disk space falls below this many MiB.
    #[arg(long, default_value_t = 64)]
    pub min_free_mb: u64,
    /// Roll camera and sensor files past this many MiB.
    #[arg(long, default_value_t = 512)]
    pub segment_mb: u64,
    /// Do not push the session to the profile's [store] after recording.
    #[arg(long)]
    pub no_push: bool,
}

enum Input {
    Mark(String),
    Stop,
}

/// Reads markers from stdin: Enter marks, a profile key (e.g. `3`) marks its
/// label, other text marks that text, `q` stops.
fn spawn_stdin(profile: &StationProfile, tx: crossbeam_channel::Sender<Input>) {
    let markers = profile.markers.clone();
    let _ = std::thread::Builder::new().name("stdin-markers".into()).spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let key = line.trim();
            let input = match key {
                "q" | "quit" | "stop" => Input::Stop,
                "" => Input::Mark("mark".into()),
                k => Input::Mark(markers.get(k).cloned().unwrap_or_else(|| k.to_string())),
            };
            let stop = matches!(input, Input::Stop);
            if tx.send(input).is_err() || stop {
                break;
            }
        }
    });
}

pub fn run(args: RecordArgs) -> Result<ExitCode> {
    Ok(record(args)?.0)
}

/// Records; returns the exit code and the session folder once one exists.
pub fn record(args: RecordArgs) -> Result<(ExitCode, Option<PathBuf>)> {
    let text = std::fs::read_to_string(&args.profile).with_context(|| format!("cannot read station profile {}", args.profile.display()))?;
    let profile = StationProfile::from_toml(&text).with_context(|| format!("station profile {}", args.profile.display()))?;
    if args.duration.is_some_and(|d| !(d > 0.0 && d.is_finite())) {
        bail!("--duration must be a positive number of seconds");
    }
    let library = Library::create(args.library.path()).context("cannot open the library")?;
    let opts = RecordOptions {
        operator: args.operator.clone(),
        task: args.task.clone(),
        consent_confirmed: args.consent,
        segment_bytes: args.segment_mb.max(1) << 20,
        min_free_bytes: args.min_free_mb << 20,
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    }
    let recorder = Recorder::start(&library, &profile, opts)?;
    crate::out::say!("Recording session {} into {}", recorder.id(), recorder.dir().display());
    if args.duration.is_none() {
        crate::out::say!("Stop with Ctrl-C or q+Enter. Mark an event with Enter, or a key from the profile's [markers] and Enter.");
    }
    let (tx, rx) = crossbeam_channel::bounded::<Input>(64);
    spawn_stdin(&profile, tx);

    let tty = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_status = Instant::now();
    let mut last_counts: Vec<u64> = Vec::new();
    let reason = loop {
        if let Some(d) = args.duration {
            if started.elapsed().as_secs_f64() >= d {
                break "duration reached".to_string();
            }
        }
        if interrupted.load(Ordering::Relaxed) {
            break "stopped by user (Ctrl-C)".to_string();
        }
        if recorder.stopping() {
            break "stopped by the recorder".to_string();
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Input::Mark(label)) => {
                recorder.mark(&label, "keyboard");
                if !crate::out::quiet() {
                    crate::out::say!("{}marker: {label}", if tty { "\r\x1b[K" } else { "" });
                }
            }
            Ok(Input::Stop) => break "stopped by user (q)".to_string(),
            Err(_) => {}
        }
        let every = if tty { Duration::from_secs(1) } else { Duration::from_secs(5) };
        if !crate::out::quiet() && last_status.elapsed() >= every {
            let dt = last_status.elapsed().as_secs_f64();
            last_status = Instant::now();
            let status = recorder.status();
            let line = status_line(&status, &mut last_counts, dt);
            if tty {
                eprint!("\r\x1b[K{line}");
                let _ = std::io::stderr().flush();
            } else {
                crate::out::say!("{line}");
            }
        }
    };
    if tty && !crate::out::quiet() {
        crate::out::say!();
    }
    let id = recorder.id().to_string();
    let dir = recorder.dir().to_path_buf();
    match recorder.stop(&reason) {
        Ok(manifest) => {
            crate::out::say!("Stopped: {reason}.");
            crate::sessions::print_manifest(&manifest, &dir);
            if let (Some(store), false) = (&profile.store, args.no_push) {
                // After the recording, never during it; a failure keeps the
                // session here for the next `tacit push`.
                crate::push::after_record(store, &dir);
            }
            Ok((ExitCode::SUCCESS, Some(dir)))
        }
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("The session {id} keeps everything up to the last flush; make it readable with: tacit recover {}", dir.display());
            Ok((ExitCode::FAILURE, Some(dir)))
        }
    }
}

fn status_line(status: &RecorderStatus, last: &mut Vec<u64>, dt: f64) -> String {
    let mut parts = vec![tacit_schema::time::format_ns(status.elapsed_ns)];
    last.resize(status.streams.len(), 0);
    for (s, prev) in status.streams.iter().zip(last.iter_mut()) {
        let rate = (s.captured - *prev) as f64 / dt.max(1e-3);
        *prev = s.captured;
        let unit = match s.kind {
            StreamKind::Camera => "fps",
            StreamKind::Audio | StreamKind::Sensor => "Hz",
            StreamKind::Events => {
                parts.push(format!("{} events", s.captured));
                continue;
            }
        };
        let mut p = format!("{} {rate:.0} {unit}", s.name);
        if s.drops > 0 {
            p.push_str(&format!(" {} dropped", s.drops));
        }
        if s.rejects > 0 {
            p.push_str(&format!(" {} bad lines", s.rejects));
        }
        if s.failing {
            p.push_str(" DEVICE ERROR");
        }
        parts.push(p);
    }
    if let Some(free) = status.free_bytes {
        parts.push(format!("disk {:.1} GB free", free as f64 / 1e9));
    }
    if let Some(f) = &status.fatal {
        parts.push(format!("STOPPING: {f}"));
    }
    parts.join(" | ")
}
