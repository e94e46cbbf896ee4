//! `tacit transcribe SESSION`: the microphone track of a session through VAD
//! and Whisper into `transcript.parquet`, in session time, and the manifest
//! updated to say how.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use tacit_schema::{Progress, SessionManifest, SessionStatus, StationProfile, StreamInfo, StreamKind, TranscriptInfo};

use crate::audio::{self, WHISPER_RATE};
use crate::engine::{words, DecodeParams, Engine, RawWord};
use crate::error::TranscribeError;
use crate::models;
use crate::transcript::{self, Segment, Word};
use crate::vad::{self, Region, VadParams};

/// What to transcribe and how.
#[derive(Clone, Debug)]
pub struct TranscribeOptions {
    /// The ggml model file.
    pub model: PathBuf,
    /// Audio stream name (default: the session's first audio stream).
    pub stream: Option<String>,
    /// Language (`en`, `ko`, `auto`); `None` takes the station profile's.
    pub language: Option<String>,
    /// Decoder settings (its language is overridden by the above).
    pub decode: DecodeParams,
    /// VAD settings; `None` decodes the whole track.
    pub vad: Option<VadParams>,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct TranscribeSummary {
    /// `transcript.parquet`.
    pub path: PathBuf,
    /// Segments written.
    pub segments: usize,
    /// Words written.
    pub words: usize,
    /// Audio length, s.
    pub audio_s: f64,
    /// Speech found by VAD (or all audio), s.
    pub speech_s: f64,
    /// Wall time of decoding, s.
    pub decode_s: f64,
    /// Language used or detected.
    pub language: String,
}

/// A segment with its words, times in 16 kHz samples of the whole track.
#[derive(Clone, Debug)]
pub struct TimedSegment {
    /// Start sample.
    pub start: usize,
    /// End sample.
    pub end: usize,
    /// Text.
    pub text: String,
    /// Mean token log-probability.
    pub avg_logprob: f32,
    /// No-speech probability.
    pub no_speech_prob: f32,
    /// Words (sample times of the whole track).
    pub words: Vec<RawWord>,
}

/// Decodes each region and returns segments in track time, and the language.
pub fn decode_regions(engine: &Engine, samples: &[f32], regions: &[Region], decode: &DecodeParams, progress: &dyn Progress) -> Result<(Vec<TimedSegment>, String), TranscribeError> {
    let speech: usize = regions.iter().map(|r| r.end - r.start).sum();
    progress.start("transcribing", speech as u64);
    let mut out = Vec::new();
    let mut language = decode.language.clone();
    for region in regions {
        let (raw, lang) = engine.decode(&samples[region.start..region.end], decode)?;
        language = lang;
        let shift = |s: usize| (region.start + s).min(region.end);
        for seg in raw {
            let words = words(&seg.tokens, seg.end).into_iter().map(|w| RawWord { start: shift(w.start), end: shift(w.end), ..w }).collect();
            out.push(TimedSegment { start: shift(seg.start), end: shift(seg.end), text: seg.text, avg_logprob: seg.avg_logprob, no_speech_prob: seg.no_speech_prob, words });
        }
        progress.advance((region.end - region.start) as u64);
    }
    progress.finish();
    Ok((out, language))
}

/// Session time of a 16 kHz sample index, through the stream's sync fit.
pub fn session_ns(stream: &StreamInfo, sample_16k: usize) -> i64 {
    let device_ns = (sample_16k as i128 * 1_000_000_000 / i128::from(WHISPER_RATE)) as i64;
    match stream.sync.as_ref().and_then(|f| f.map(device_ns)) {
        Some(t) => t.round() as i64,
        None => stream.first_t_ns.unwrap_or(0) + device_ns,
    }
}

fn profile_of(dir: &Path) -> Option<StationProfile> {
    let text = std::fs::read_to_string(dir.join("station.toml")).ok()?;
    StationProfile::from_toml(&text).ok()
}

/// Transcribes the session in `dir`.
pub fn transcribe_session(dir: &Path, opts: &TranscribeOptions, progress: &dyn Progress) -> Result<TranscribeSummary, TranscribeError> {
    let manifest_path = dir.join("session.json");
    let text = std::fs::read_to_string(&manifest_path).map_err(|e| TranscribeError::io("read", &manifest_path, e))?;
    let mut manifest = SessionManifest::from_json(&text).map_err(|e| TranscribeError::Session { message: e.to_string(), path: manifest_path.clone() })?;
    if manifest.status == SessionStatus::Recording {
        return Err(TranscribeError::Session { message: "session is still recording, or was interrupted: stop it, or run `tacit recover` first".into(), path: dir.to_path_buf() });
    }
    let stream = manifest
        .streams
        .iter()
        .find(|s| s.kind == StreamKind::Audio && opts.stream.as_ref().is_none_or(|n| &s.name == n))
        .cloned()
        .ok_or_else(|| TranscribeError::Session { message: match &opts.stream { Some(n) => format!("no audio stream named {n:?}"), None => "session has no microphone stream to transcribe".into() }, path: dir.to_path_buf() })?;
    let wav_name = stream.files.iter().find(|f| f.ends_with(".wav")).cloned().unwrap_or_else(|| format!("mic-{}.wav", stream.name));
    let wav = dir.join(&wav_name);

    let profile = profile_of(dir);
    let mut decode = opts.decode.clone();
    decode.language = opts.language.clone().or_else(|| profile.as_ref().and_then(|p| p.transcription.language.clone())).unwrap_or_else(|| "auto".into());
    if decode.initial_prompt.is_empty() {
        if let Some(p) = &profile {
            // English decoding gets the Latin-script terms only; Hangul in an
            // English prompt only confuses the decoder.
            let terms: Vec<&str> = p.transcription.glossary.iter().map(String::as_str).filter(|t| decode.language != "en" || t.is_ascii()).collect();
            if !terms.is_empty() {
                decode.initial_prompt = format!("{}.", terms.join(", "));
            }
        }
    }

    progress.start("reading audio", 0);
    let prepared = audio::load(&wav)?;
    let total = prepared.samples.len();
    let regions = match &opts.vad {
        Some(p) => vad::detect(&prepared.samples, p),
        None if total > 0 => vec![Region { start: 0, end: total }],
        None => Vec::new(),
    };
    let speech: usize = regions.iter().map(|r| r.end - r.start).sum();
    progress.finish();

    let engine = Engine::load(&opts.model, decode.flash_attn)?;
    let started = Instant::now();
    let (timed, language) = decode_regions(&engine, &prepared.samples, &regions, &decode, progress)?;
    let at = |s: usize| session_ns(&stream, s);
    let segments: Vec<Segment> = timed
        .into_iter()
        .enumerate()
        .map(|(i, t)| Segment {
            segment_id: i as u32,
            start_ns: at(t.start),
            end_ns: at(t.end),
            text: t.text,
            language: language.clone(),
            avg_logprob: t.avg_logprob,
            no_speech_prob: t.no_speech_prob,
            words: t.words.into_iter().map(|w| Word { word: w.text, start_ns: at(w.start), end_ns: at(w.end), probability: w.probability }).collect(),
        })
        .collect();
    let decode_s = started.elapsed().as_secs_f64();

    let model_name = models::name_of(&opts.model);
    let model_sha256 = models::sha256_file(&opts.model)?;
    let out = dir.join("transcript.parquet");
    let meta = vec![
        ("tacit.model".to_string(), model_name.clone()),
        ("tacit.model_sha256".to_string(), model_sha256.clone()),
        ("tacit.language".to_string(), language.clone()),
        ("tacit.stream".to_string(), stream.name.clone()),
    ];
    transcript::write(&out, &segments, &meta)?;
    let n_words: usize = segments.iter().map(|s| s.words.len()).sum();

    manifest.transcribed = true;
    manifest.transcript = Some(TranscriptInfo {
        model: model_name,
        model_sha256,
        language: decode.language.clone(),
        detected_language: language.clone(),
        stream: stream.name.clone(),
        segments: segments.len() as u64,
        words: n_words as u64,
        speech_ns: (speech as i128 * 1_000_000_000 / i128::from(WHISPER_RATE)) as i64,
        params: json!({ "decode": decode, "vad": opts.vad, "regions": regions.len() }),
        created_at_utc: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        tacit_version: env!("CARGO_PKG_VERSION").to_string(),
    });
    manifest.write_atomic(dir).map_err(|e| TranscribeError::io("replace", &manifest_path, e))?;
    Ok(TranscribeSummary {
        path: out,
        segments: segments.len(),
        words: n_words,
        audio_s: total as f64 / f64::from(WHISPER_RATE),
        speech_s: speech as f64 / f64::from(WHISPER_RATE),
        decode_s,
        language,
    })
}
