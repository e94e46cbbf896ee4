//! `tacit bench push`: a generated 10-minute session pushed into an S3
//! server (the one `scripts/bench-push` starts on loopback), against boto3
//! uploading the same files into the same server, alternating, in one run.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// What `tacit bench push` measures.
/// The S3 server a store benchmark runs against (scripts/bench-store starts it).
#[derive(clap::Args)]
pub struct Server {
    /// The server's endpoint, e.g. http://127.0.0.1:9000.
    #[arg(long)]
    pub endpoint: String,
    /// The bucket (must exist).
    #[arg(long, default_value = "bench")]
    pub bucket: String,
}

#[derive(clap::Args)]
pub struct Options {
    #[command(flatten)]
    pub server: Server,
    /// Minutes of session.
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// Camera size WxH of the generated session (2 cameras at 30 fps).
    #[arg(long, default_value = "1280x720")]
    pub size: String,
    /// Rounds (each: tacit, then boto3, into fresh prefixes).
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Python with boto3 (scripts/setup makes .venv-s3).
    #[arg(long, default_value = ".venv-s3/bin/python")]
    pub python: PathBuf,
    /// Folder to generate the session in.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

pub fn run(o: &Options) -> Result<ExitCode> {
    let (w, h) = crate::bench::parse_size(&o.size).map_err(anyhow::Error::msg)?;
    let base = o.dir.clone().unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| std::env::temp_dir()));
    let root = base.join(format!("tacit-bench-push-{}", std::process::id()));
    let lib = root.join("lib");
    let seconds = (o.minutes * 60.0).round() as u32;
    crate::out::say!("generating a {seconds} s session (2 cameras {w}×{h} at 30 fps, 16 ch × 10 kHz)…");
    let dir = crate::bench_export::generate(&lib, "20261203-000000-benchpush", seconds, 20, 2, Some((w, h)))?;
    let bytes = tacit_datasets::dir_size(&dir);
    let _ = Command::new("sync").status();
    let exe = std::env::current_exe()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3_tool.py");
    let mut rounds = Vec::new();
    for r in 0..o.rounds {
        // The push state (checksums, uploads) of an earlier round would make it a no-op.
        let _ = std::fs::remove_file(dir.join(".push.json"));
        let push = || {
            let mut c = Command::new(&exe);
            c.args(["push", "--json", "--library"]).arg(&lib).arg("--to").arg(format!("s3://{}/tacit-{r}", o.server.bucket));
            c.arg("--endpoint").arg(&o.server.endpoint).stderr(Stdio::inherit());
            c
        };
        let started = Instant::now();
        let out = push().output()?;
        let tacit_s = started.elapsed().as_secs_f64();
        if !out.status.success() {
            bail!("tacit push failed");
        }
        let report: Value = serde_json::from_slice(&out.stdout)?;
        let sent = report["sessions"][0]["bytes_sent"].as_u64().unwrap_or(0);
        let py = Command::new(&o.python)
            .arg(&script)
            .arg(&o.server.endpoint)
            .args(["upload"])
            .arg(&dir)
            .arg(&o.server.bucket)
            .arg(format!("boto3-{r}"))
            .output()
            .with_context(|| format!("running {}", o.python.display()))?;
        if !py.status.success() {
            bail!("boto3 upload failed: {}", String::from_utf8_lossy(&py.stderr));
        }
        let boto_s: f64 = String::from_utf8_lossy(&py.stdout).trim().parse()?;
        // Nothing changed: a second push only checks.
        let started = Instant::now();
        let again = push().output()?;
        let again_s = started.elapsed().as_secs_f64();
        if !again.status.success() {
            bail!("the second tacit push failed");
        }
        crate::out::say!(
            "round {}: tacit push {tacit_s:.2} s ({:.0} MB/s, checksums and verification included), boto3 upload_file {boto_s:.2} s ({:.0} MB/s): tacit/boto3 {:.2}; re-push with nothing to send {again_s:.2} s",
            r + 1,
            bytes as f64 / 1e6 / tacit_s,
            bytes as f64 / 1e6 / boto_s,
            tacit_s / boto_s
        );
        rounds.push(json!({"tacit_s": tacit_s, "tacit_bytes_sent": sent, "boto3_s": boto_s, "tacit_over_boto3": tacit_s / boto_s, "repush_s": again_s}));
    }
    let _ = std::fs::remove_dir_all(&root);
    if o.json {
        crate::out::json(&json!({"session_seconds": seconds, "camera": format!("{w}x{h}"), "bytes": bytes, "rounds": rounds}))?;
    }
    Ok(ExitCode::SUCCESS)
}
