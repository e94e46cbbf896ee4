//! `tacit demo`: the embedded default. A synthetic station records a short
//! session; the microphone replays a spoken welding commentary (made with
//! espeak-ng, when installed), and the session is transcribed when the library
//! has a model (`scripts/demo` imports the test model first).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use tacit_transcribe::engine::DecodeParams;
use tacit_transcribe::fixture::{self, COMMENTARY};
use tacit_transcribe::models;
use tacit_transcribe::vad::VadParams;
use tacit_transcribe::TranscribeOptions;

use crate::progress::CliProgress;
use crate::record::{self, RecordArgs};
use crate::{init_library, FolderArg, DEMO_PROFILE};

/// Makes `<library>/demo/commentary.wav` (first three phrases) if espeak-ng
/// is there; returns it and its length in seconds.
fn commentary(lib: &Path) -> Option<(PathBuf, f64)> {
    let wav = lib.join("demo/commentary.wav");
    if !wav.is_file() {
        let (audio, _) = fixture::lay_out(&COMMENTARY[..3], "en-us", 1.0, 1.5, 1.0).ok()?;
        std::fs::create_dir_all(wav.parent()?).ok()?;
        fixture::write_wav(&wav, &audio).ok()?;
    }
    let seconds = tacit_session::audio::Wav::open(&wav).ok()?.seconds();
    Some((wav, seconds))
}

/// The demo profile with the microphone replaced by the commentary file.
fn commentary_profile(lib: &Path, wav: &Path) -> Result<PathBuf> {
    let text = DEMO_PROFILE.to_string();
    let mic = text.find("[microphone]").context("demo profile has no microphone")?;
    let dev = mic + text[mic..].find("device = \"synthetic\"").context("demo microphone is not synthetic")?;
    let replaced = format!("{}device = \"file:{}\"{}", &text[..dev], wav.display(), &text[dev + "device = \"synthetic\"".len()..])
        .replace("language = \"ko\"", "language = \"en\"");
    let path = lib.join("stations/demo-commentary.toml");
    std::fs::write(&path, replaced).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

pub fn run(lib: &Path, duration: Option<f64>) -> Result<ExitCode> {
    let mut profile = init_library(lib, false)?;
    let mut seconds = duration.unwrap_or(10.0);
    let mut spoken = false;
    match commentary(lib) {
        Some((wav, len)) => {
            profile = commentary_profile(lib, &wav)?;
            seconds = duration.unwrap_or(len + 0.5);
            spoken = true;
            crate::out::say!("The microphone replays a spoken commentary: {}", wav.display());
        }
        None => crate::out::say!("espeak-ng not found: the microphone plays a synthetic tone (scripts/setup installs espeak-ng)"),
    }
    crate::out::say!("Recording {seconds:.1} s from the demo station into {}", lib.display());
    let (code, dir) = record::record(RecordArgs {
        library: FolderArg { library: Some(lib.to_path_buf()) },
        profile,
        duration: Some(seconds),
        operator: "demo-operator".into(),
        task: "demo: root pass on a synthetic station".into(),
        consent: false,
        min_free_mb: 64,
        segment_mb: 512,
        no_push: false,
    })?;
    let Some(dir) = dir.filter(|_| code == ExitCode::SUCCESS) else { return Ok(code) };
    match models::resolve(&lib.join("models"), None, "en") {
        Err(_) => crate::out::say!(
            "No Whisper model in {}: skipping transcription (import one with `tacit model import CT2_DIR`).",
            lib.join("models").display()
        ),
        Ok(_) if !spoken => crate::out::say!("(no spoken commentary to transcribe)"),
        Ok(model) => {
            crate::out::say!("Transcribing with {} …", model.display());
            let opts = TranscribeOptions {
                model: Some(model),
                remote: None,
                fallback: false,
                stream: None,
                language: Some("en".into()),
                decode: DecodeParams::default(),
                vad: Some(VadParams::default()),
            };
            let summary = tacit_transcribe::transcribe_session(&dir, &opts, &CliProgress::new())?;
            println!("\nTranscript ({} segments, {} words, decoded in {:.1} s):", summary.segments, summary.words, summary.decode_s);
            for s in tacit_session::transcript::read(&summary.path)? {
                println!("  [{} – {}] {}", tacit_schema::time::format_ns(s.start_ns), tacit_schema::time::format_ns(s.end_ns), s.text);
            }
        }
    }
    let id = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let out = lib.join("datasets").join(format!("{id}-lerobot"));
    let export = tacit_datasets::LeRobotOptions {
        out: out.clone(),
        fps: None,
        robot_type: None,
        strict: true,
        replace: true,
        split: Default::default(),
        episodes: Default::default(),
        image_size: None,
        video: None,
        append: false,
        split_given: false,
    };
    let report = tacit_datasets::export_lerobot(std::slice::from_ref(&dir), &export, &CliProgress::new())?;
    println!("\nLeRobot v3.0 dataset: {} ({} frames, {:.1} MB)", out.display(), report.frames, report.bytes as f64 / 1e6);
    let tables = lib.join("datasets").join(format!("{id}-tacit"));
    let export =
        tacit_datasets::TacitOptions { out: tables.clone(), strict: true, replace: true, append: false, split: None, audio_chunk_s: 30 };
    let report = tacit_datasets::export_tacit(std::slice::from_ref(&dir), &export, &CliProgress::new())?;
    println!("tacit tables (native rate): {} ({} camera frames, {:.1} MB)", tables.display(), report.frames, report.bytes as f64 / 1e6);
    println!("\nSession folder: {}\nNext: tacit inspect {id} --library {}", dir.display(), lib.display());
    Ok(ExitCode::SUCCESS)
}
