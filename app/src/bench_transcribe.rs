//! `tacit bench transcribe`: tacit's half of the transcription benchmark.
//! It writes the audio both engines get, the references, and tacit's
//! results; `scripts/bench-transcribe` then runs faster-whisper on the same
//! files with the same weights and threads and scores both with one scorer
//! (`scripts/asr_score.py`).
//!
//! - English: the espeak-ng welding commentary, clean, and inside ten
//!   minutes of welding noise (tiny.en).
//! - Korean: the 61 clips of real speech in the Korean dev set laid out as
//!   one session (1 s lead, 1.5 s pauses), through the multilingual model.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tacit_transcribe::engine::DecodeParams;
use tacit_transcribe::fixture::{self, Placed, COMMENTARY};
use tacit_transcribe::session::{LocalEngine, TimedSegment};
use tacit_transcribe::vad::{self, VadParams};

/// The initial prompt both engines get on the English commentary.
pub const BENCH_PROMPT: &str = "keyhole, undercut, porosity, root pass, spatter.";

/// What to measure (`tacit bench transcribe`).
#[derive(clap::Args)]
pub struct Options {
    /// English model: name in the library, a ggml file, or a CTranslate2
    /// folder (the CTranslate2 engine).
    #[arg(long)]
    pub model: String,
    /// Korean (multilingual) model: name in the library, a ggml file or a
    /// CTranslate2 folder (q8_0 by default, as faster-whisper runs int8).
    #[arg(long, default_value = "base-q8_0")]
    pub korean_model: String,
    /// The Korean dev set: a folder with manifest.tsv and its WAVs.
    #[arg(long, env = "TACIT_KOREAN_DEV", default_value = "../shared/korean-dev")]
    pub korean_dev: PathBuf,
    /// Initial prompt for the Korean session (both engines get it).
    #[arg(long, default_value = "")]
    pub korean_prompt: String,
    /// Folder for the audio and results.
    #[arg(long)]
    pub out: PathBuf,
    /// CPU threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Chunks decoded at once (0: tacit's default, one per thread, at most 2).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// SNR of the welding noise in the ten-minute session, dB.
    #[arg(long, default_value_t = 15.0)]
    pub snr_db: f32,
    /// Runs per clip; the median wall time is reported.
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Beams (the CTranslate2 engine; 1 = greedy).
    #[arg(long, default_value_t = 1)]
    pub beam: usize,
    /// Decode packed chunks in order, each prompted with the text before it
    /// (faster-whisper's condition_on_previous_text).
    #[arg(long)]
    pub condition: bool,
    /// Results file in --out: tacit.json, or tacit-NAME.json for a second
    /// engine in the same run (scripts/bench-transcribe lists both).
    #[arg(long, default_value = "tacit.json")]
    pub report: String,
    #[command(flatten)]
    pub library: crate::LibraryArg,
}

/// Runs tacit's half; prints and writes `tacit.json`.
pub fn run(o: &Options) -> Result<ExitCode> {
    std::fs::create_dir_all(&o.out).with_context(|| format!("cannot create {}", o.out.display()))?;
    let models = o.library.path().join("models");
    let mut report = json!({"engine": "tacit", "threads": o.threads, "repeat": o.repeat.max(1), "beam": o.beam, "condition": o.condition});
    if !o.report.starts_with("tacit") || !o.report.ends_with(".json") || o.report.contains('/') {
        bail!("--report must be a file name tacit*.json (got {:?})", o.report);
    }
    let english_model = tacit_transcribe::models::resolve(&models, Some(&o.model), "en")?;
    english(o, &english_model, &mut report)?;
    match korean_clips(&o.korean_dev) {
        Ok(clips) => {
            let model = tacit_transcribe::models::resolve(&models, Some(&o.korean_model), "ko")?;
            report["korean"] = korean(o, &model, &clips)?;
        }
        Err(why) => crate::out::say!("Korean skipped: {why:#}"),
    }
    std::fs::write(o.out.join(&o.report), serde_json::to_string_pretty(&report)?)?;
    crate::out::json(&report)?;
    Ok(ExitCode::SUCCESS)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// VAD and decoding of one WAV, as `tacit transcribe` does it, timed from
/// reading the file (the model is loaded once, outside the timing).
fn transcribe_wav(engine: &LocalEngine, wav: &Path, decode: &DecodeParams, repeat: usize) -> Result<(f64, Vec<TimedSegment>, f64)> {
    let mut walls = Vec::new();
    let mut last = None;
    for _ in 0..repeat.max(1) {
        let started = Instant::now();
        let prepared = tacit_transcribe::audio::load(wav)?;
        let regions = vad::detect(&prepared.samples, &VadParams::default());
        let (segs, _) = engine.decode_regions(&prepared.samples, &regions, decode, &tacit_schema::NoProgress)?;
        walls.push(started.elapsed().as_secs_f64());
        let speech_s = regions.iter().map(|r| (r.end - r.start) as f64 / 16e3).sum::<f64>();
        last = Some((segs, speech_s));
    }
    let (segs, speech_s) = last.unwrap_or_default();
    Ok((median(walls), segs, speech_s))
}

fn segments_json(segs: &[TimedSegment]) -> Value {
    let s = |x: usize| x as f64 / 16e3;
    segs.iter()
        .map(|g| {
            json!({"start_s": s(g.start), "end_s": s(g.end), "text": g.text,
                "words": g.words.iter().map(|w| json!({"start_s": s(w.start), "end_s": s(w.end), "text": w.text})).collect::<Vec<_>>()})
        })
        .collect()
}

/// Spoken numbers with units (espeak-ng reads the spoken form) and how
/// they are written.
const NUMBERS: &[(&str, &str)] = &[
    ("Set the current to two hundred amps.", "Set the current to 200 A."),
    ("I use a three point two millimeter rod.", "I use a 3.2 mm rod."),
    ("The root gap is three millimeters.", "The root gap is 3 mm."),
    ("The arc voltage is twenty four volts.", "The arc voltage is 24 V."),
    ("Gas flow is fifteen liters per minute.", "Gas flow is 15 L per minute."),
    ("Preheat the plate to one hundred fifty degrees.", "Preheat the plate to 150° ."),
    ("Keep the travel speed at thirty centimeters per minute.", "Keep the travel speed at 30 cm per minute."),
];

fn english(o: &Options, model: &Path, report: &mut Value) -> Result<()> {
    crate::out::say!("making the English commentary with espeak-ng…");
    let (speech, placed) = fixture::lay_out(COMMENTARY, "en-us", 1.0, 1.5, 1.0)?;
    let total = 600 * 16_000;
    let at = 300 * 16_000;
    let mut long = vec![0.0; total];
    long[at..at + speech.len()].copy_from_slice(&speech);
    let shifted: Vec<Placed> = placed.iter().map(|p| Placed { text: p.text.clone(), start: p.start + at, end: p.end + at }).collect();
    let long = fixture::mix(&long, &shifted, &fixture::welding_noise(total, 5), o.snr_db);
    // Numbers as a welder says them, scored against their written form
    // ("200 A"): how consistently each engine writes them.
    let spoken: Vec<&str> = NUMBERS.iter().map(|(s, _)| *s).collect();
    let (numbers, _) = fixture::lay_out(&spoken, "en-us", 1.0, 1.5, 1.0)?;
    let written = NUMBERS.iter().map(|(_, w)| *w).collect::<Vec<_>>().join(" ");
    let clips = [("commentary", speech, COMMENTARY.join(" ")), ("session10", long, COMMENTARY.join(" ")), ("numbers", numbers, written)];
    std::fs::write(o.out.join("reference.txt"), COMMENTARY.join(" "))?;
    let engine = LocalEngine::load(model, false)?;
    let decode = DecodeParams {
        language: "en".into(),
        threads: o.threads,
        workers: o.workers,
        initial_prompt: BENCH_PROMPT.into(),
        beam_size: o.beam,
        condition_on_previous: o.condition,
        ..DecodeParams::default()
    };
    // Where the time goes: one 30 s window through the encoder alone.
    let window = &clips[0].1[..(30 * 16_000).min(clips[0].1.len())];
    let mut encoder = Vec::new();
    for _ in 0..3 {
        encoder.push(engine.encode_only(window, o.threads)?.as_secs_f64());
    }
    let encoder_s = median(encoder);
    crate::out::say!("tacit encoder, one 30 s window: {encoder_s:.3} s (median of 3)");
    let mut results = Vec::new();
    for (name, audio, reference_text) in &clips {
        let wav = o.out.join(format!("{name}.wav"));
        fixture::write_wav(&wav, audio)?;
        let (wall, segs, speech_s) = transcribe_wav(&engine, &wav, &decode, o.repeat)?;
        let reference = fixture::normalize(reference_text);
        let hyp: Vec<String> = segs.iter().flat_map(|s| fixture::normalize(&s.text)).collect();
        let wer = fixture::wer(&reference, &hyp);
        crate::out::say!("tacit {name}: {:.1} s audio, {wall:.2} s wall, WER {:.1} %", audio.len() as f64 / 16e3, wer * 100.0);
        results.push(json!({"clip": name, "audio_s": audio.len() as f64 / 16e3, "wall_s": wall, "wer": wer, "speech_s": speech_s,
            "text": hyp.join(" "), "reference": reference_text, "segments": segments_json(&segs)}));
    }
    report["model"] = json!(model);
    report["runtime"] = json!(engine.runtime());
    report["encoder_window_s"] = json!(encoder_s);
    report["snr_db"] = json!(o.snr_db);
    report["prompt"] = json!(BENCH_PROMPT);
    report["results"] = json!(results);
    Ok(())
}

/// One clip of the Korean dev set.
struct KoreanClip {
    wav: String,
    spoken: String,
    written: String,
    samples: Vec<f32>,
}

/// Reads `manifest.tsv` (wav, spoken, written, seconds, source) and every
/// clip it names.
fn korean_clips(dir: &Path) -> Result<Vec<KoreanClip>> {
    let manifest = dir.join("manifest.tsv");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("no Korean dev set (pass --korean-dev DIR): cannot read {}", manifest.display()))?;
    let mut clips = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [wav, spoken, written, ..] = cols[..] else { bail!("line {} has fewer than 3 columns: {}", n + 1, manifest.display()) };
        let path = dir.join(wav);
        if !path.is_file() {
            bail!("the Korean dev set names {wav} but the file is not there (the manifest is, its WAVs are not): {}", dir.display());
        }
        let samples = tacit_transcribe::audio::load(&path)?.samples;
        clips.push(KoreanClip { wav: wav.to_string(), spoken: spoken.to_string(), written: written.to_string(), samples });
    }
    if clips.is_empty() {
        bail!("the Korean dev set lists no clips: {}", manifest.display());
    }
    Ok(clips)
}

fn korean(o: &Options, model: &Path, clips: &[KoreanClip]) -> Result<Value> {
    // One session: 1 s lead, the clips with 1.5 s pauses, 1 s tail.
    let (lead, gap) = (16_000, 24_000);
    let mut audio = vec![0.0; lead];
    let mut layout = Vec::new();
    for c in clips {
        let start = audio.len();
        audio.extend_from_slice(&c.samples);
        layout.push(json!({"wav": c.wav, "spoken": c.spoken, "written": c.written, "start_s": start as f64 / 16e3, "end_s": audio.len() as f64 / 16e3}));
        audio.extend(std::iter::repeat_n(0.0, gap));
    }
    audio.truncate(audio.len() - gap + lead);
    let wav = o.out.join("korean.wav");
    fixture::write_wav(&wav, &audio)?;
    std::fs::write(o.out.join("korean-clips.json"), serde_json::to_string_pretty(&layout)?)?;
    let engine = LocalEngine::load(model, false)?;
    let decode = DecodeParams {
        language: "ko".into(),
        threads: o.threads,
        workers: o.workers,
        initial_prompt: o.korean_prompt.clone(),
        beam_size: o.beam,
        condition_on_previous: o.condition,
        ..DecodeParams::default()
    };
    let (wall, segs, speech_s) = transcribe_wav(&engine, &wav, &decode, o.repeat)?;
    crate::out::say!("tacit Korean: {} clips, {:.1} s audio, {wall:.2} s wall", clips.len(), audio.len() as f64 / 16e3);
    Ok(
        json!({"model": model, "runtime": engine.runtime(), "prompt": o.korean_prompt, "audio_s": audio.len() as f64 / 16e3, "speech_s": speech_s, "wall_s": wall, "clips": clips.len(), "segments": segments_json(&segs)}),
    )
}
