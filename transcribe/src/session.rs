//! `tacit transcribe SESSION`: the microphone track of a session through VAD
//! and Whisper into `transcript.parquet`, in session time, and the manifest
//! updated to say how.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use tacit_schema::{Progress, StreamInfo, StreamKind, TranscriptInfo};
use tacit_session::{layout, SessionDir};

use crate::audio::{self, WHISPER_RATE};
use crate::engine::{words, DecodeParams, Engine, RawWord};
use crate::error::TranscribeError;
use crate::models;
use crate::remote::{RemoteEngine, RemoteParams};
use crate::vad::{self, Region, VadParams};
use tacit_session::transcript::{self, Segment, Word};

/// What to transcribe and how.
#[derive(Clone, Debug)]
pub struct TranscribeOptions {
    /// The ggml model file: the engine when no server is named, and the
    /// fallback when the server cannot be used.
    pub model: Option<PathBuf>,
    /// The site's transcription server, tried first.
    pub remote: Option<RemoteParams>,
    /// Transcribe with `model` when the server is unreachable or fails.
    pub fallback: bool,
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
    /// What made the transcript: a model name, or `NAME on URL`.
    pub engine: String,
    /// Why the server was not used, when the local model stood in for it.
    pub fell_back: Option<String>,
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

/// Speech regions packed into one buffer for one decode, with the map back
/// to track samples. Whisper's encoder always looks at 30 s, so decoding a
/// 2 s region costs as much as 30 s: packing regions (with short silences
/// between them) into chunks of up to `CHUNK_S` decodes many at once, and
/// gives the decoder the context of neighbouring phrases.
#[derive(Clone, Debug, Default)]
pub struct Chunk {
    /// The packed audio.
    pub samples: Vec<f32>,
    /// (offset in `samples`, track start, length) of each region.
    pub pieces: Vec<(usize, usize, usize)>,
}

/// Longest packed chunk, s: under whisper's 30 s window.
pub const CHUNK_S: usize = 28;
/// Silence between packed regions, samples (0.3 s).
const GAP: usize = 4_800;

impl Chunk {
    /// Index of the piece a chunk sample falls in; a sample in the silence
    /// between two pieces belongs to the next one (speech resumes there, and
    /// word times err early rather than late).
    pub fn piece_of(&self, s: usize) -> usize {
        let i = self.pieces.iter().rposition(|(off, _, _)| *off <= s).unwrap_or(0);
        let (off, _, len) = self.pieces.get(i).copied().unwrap_or((0, 0, 0));
        if s >= off + len && i + 1 < self.pieces.len() {
            i + 1
        } else {
            i
        }
    }

    /// Track sample of a chunk sample that ends something: a sample in the
    /// silence between pieces maps to the end of the piece before.
    pub fn to_track_end(&self, s: usize) -> usize {
        let i = self.pieces.iter().rposition(|(off, _, _)| *off < s).unwrap_or(0);
        match self.pieces.get(i) {
            Some(&(off, start, len)) => start + s.saturating_sub(off).min(len),
            None => s,
        }
    }

    /// Track sample of a chunk sample that starts something (see `piece_of`).
    pub fn to_track(&self, s: usize) -> usize {
        let i = self.piece_of(s);
        match self.pieces.get(i) {
            Some(&(off, start, len)) => start + s.saturating_sub(off).min(len),
            None => s,
        }
    }
}

/// Packs regions into chunks of at most `CHUNK_S` seconds (a longer region
/// gets a chunk of its own; whisper walks through it window by window).
pub fn pack(samples: &[f32], regions: &[Region]) -> Vec<Chunk> {
    let max = CHUNK_S * WHISPER_RATE as usize;
    let mut chunks: Vec<Chunk> = Vec::new();
    for r in regions {
        let len = r.end - r.start;
        let fits = chunks.last().is_some_and(|c| c.samples.len() + GAP + len <= max);
        if !fits {
            chunks.push(Chunk::default());
        }
        let Some(c) = chunks.last_mut() else { continue };
        if !c.samples.is_empty() {
            c.samples.extend(std::iter::repeat_n(0.0, GAP));
        }
        c.pieces.push((c.samples.len(), r.start, len));
        c.samples.extend_from_slice(&samples[r.start..r.end]);
    }
    chunks
}

/// Decodes the regions (packed into chunks) and returns segments in track
/// time, and the language.
///
/// A packed chunk is decoded window by window, and whisper sometimes jumps
/// over a whole phrase (more often with a prompt: three of the 61 Korean
/// dev clips vanished that way). Every piece of a chunk that got (almost) no
/// text is therefore decoded again (all such pieces packed together, apart
/// from the rest), and the result with more text kept, so speech the VAD
/// found is not silently lost.
pub fn decode_regions(
    engine: &Engine,
    samples: &[f32],
    regions: &[Region],
    decode: &DecodeParams,
    progress: &dyn Progress,
) -> Result<(Vec<TimedSegment>, String), TranscribeError> {
    decode_packed(samples, regions, decode, &|chunk: &Chunk, p: &DecodeParams| decode_chunk(engine, chunk, p), progress)
}

/// Spoken numbers as digits with units, in every segment (see `numbers`).
pub fn write_numbers(segments: &mut [TimedSegment], language: &str) {
    for s in segments {
        if let Some(words) = crate::numbers::normalize(&s.words, language) {
            s.text = crate::numbers::join(&words);
            s.words = words;
        }
    }
}

/// `decode_regions` with the decoder of one chunk given: packing, the
/// second pass and the choice between the passes, then the numbers.
fn decode_packed(
    samples: &[f32],
    regions: &[Region],
    decode: &DecodeParams,
    decode_one: &ChunkDecoder<'_>,
    progress: &dyn Progress,
) -> Result<(Vec<TimedSegment>, String), TranscribeError> {
    let chunks = pack(samples, regions);
    let total: usize = chunks.iter().map(|c| c.samples.len()).sum();
    progress.start("transcribing", total as u64);
    let mut language = decode.language.clone();
    // Every piece of every chunk, with the segments decoded in it, and
    // whether it shared its chunk with others.
    let mut pieces: Vec<(Region, bool, Vec<TimedSegment>)> = Vec::new();
    let first = if decode.condition_on_previous {
        decode_in_order(&chunks, decode, decode_one, progress)?
    } else {
        decode_all(&chunks, decode, decode_one, progress)?
    };
    for (chunk, (segments, lang)) in chunks.iter().zip(first) {
        language = lang;
        let first = pieces.len();
        pieces.extend(chunk.pieces.iter().map(|&(_, start, len)| (Region { start, end: start + len }, chunk.pieces.len() > 1, Vec::new())));
        assign(&mut pieces[first..], segments);
    }
    // Second pass: packed pieces whisper (almost) skipped, packed together
    // again, so a pass costs one encoder window per 28 s of such audio.
    let redo: Vec<usize> = (0..pieces.len())
        .filter(|&i| {
            let (r, shared, segs) = &pieces[i];
            let len = r.end - r.start;
            *shared && len >= MIN_REDECODE && (spoken_chars(segs) as f64) < MIN_CHARS_PER_S * len as f64 / f64::from(WHISPER_RATE)
        })
        .collect();
    if !redo.is_empty() {
        let regions: Vec<Region> = redo.iter().map(|&i| pieces[i].0).collect();
        tracing::debug!(pieces = redo.len(), "pieces with too little text: decoding them again, packed apart from the rest");
        let mut again: Vec<(Region, bool, Vec<TimedSegment>)> = regions.iter().map(|r| (*r, true, Vec::new())).collect();
        let chunks = pack(samples, &regions);
        // The second pass goes without the prompt: a prompt is what makes
        // whisper skip phrases in the first place.
        let unprompted = DecodeParams { initial_prompt: String::new(), ..decode.clone() };
        for (segments, _) in decode_all(&chunks, &unprompted, decode_one, &tacit_schema::NoProgress)? {
            assign(&mut again, segments);
        }
        for (&i, (_, _, segs)) in redo.iter().zip(again) {
            if spoken_chars(&segs) > spoken_chars(&pieces[i].2) {
                pieces[i].2 = segs;
            }
        }
    }
    let mut out: Vec<TimedSegment> = pieces.into_iter().flat_map(|(_, _, segs)| segs).collect();
    out.sort_by_key(|s| s.start);
    if decode.numbers_as_digits {
        write_numbers(&mut out, &language);
    }
    progress.finish();
    Ok((out, language))
}

/// Decodes one chunk with these settings (their `threads` are this
/// decode's share) into segments in track time and the language.
pub type ChunkDecoder<'a> = dyn Fn(&Chunk, &DecodeParams) -> Result<(Vec<TimedSegment>, String), TranscribeError> + Sync + 'a;

/// Decodes the chunks one after the other with every thread, each prompted
/// with `decode.initial_prompt` and then the text of the chunks before it.
fn decode_in_order(
    chunks: &[Chunk],
    decode: &DecodeParams,
    decode_one: &ChunkDecoder<'_>,
    progress: &dyn Progress,
) -> Result<Vec<(Vec<TimedSegment>, String)>, TranscribeError> {
    let mut out = Vec::with_capacity(chunks.len());
    let mut said = String::new();
    for c in chunks {
        let prompt = [decode.initial_prompt.trim(), said.trim()].iter().filter(|t| !t.is_empty()).copied().collect::<Vec<_>>().join(" ");
        let each = DecodeParams { initial_prompt: prompt, workers: 1, ..decode.clone() };
        let (segments, lang) = decode_one(c, &each)?;
        for s in &segments {
            said.push(' ');
            said.push_str(s.text.trim());
        }
        // The engines keep the prompt's end; the rest need not be carried.
        if said.len() > 4096 {
            let cut = said.len() - 2048;
            let at = (cut..said.len()).find(|&i| said.is_char_boundary(i)).unwrap_or(said.len());
            said = said[at..].to_string();
        }
        progress.advance(c.samples.len() as u64);
        out.push((segments, lang));
    }
    Ok(out)
}

/// Decodes every chunk, several at a time as `decode.layout` says (the
/// threads shared among them), results in chunk order; the first error
/// stops the rest. Progress is reported from this thread.
fn decode_all(
    chunks: &[Chunk],
    decode: &DecodeParams,
    decode_one: &ChunkDecoder<'_>,
    progress: &dyn Progress,
) -> Result<Vec<(Vec<TimedSegment>, String)>, TranscribeError> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let (workers, threads) = decode.layout(chunks.len());
    let each = DecodeParams { threads, ..decode.clone() };
    if workers == 1 {
        return chunks
            .iter()
            .map(|c| {
                let r = decode_one(c, &each);
                progress.advance(c.samples.len() as u64);
                r
            })
            .collect();
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    type Decoded = Result<(Vec<TimedSegment>, String), TranscribeError>;
    let mut out: Vec<Option<Decoded>> = (0..chunks.len()).map(|_| None).collect();
    let spawned = std::thread::scope(|scope| -> std::io::Result<()> {
        // Room for every result: a worker never waits on this thread.
        let (tx, rx) = crossbeam_channel::bounded::<(usize, Decoded)>(chunks.len());
        for w in 0..workers {
            let tx = tx.clone();
            let (next, stop, each) = (&next, &stop, &each);
            std::thread::Builder::new().name(format!("tacit-decode-{w}")).spawn_scoped(scope, move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= chunks.len() || stop.load(Ordering::Relaxed) {
                    break;
                }
                let r = decode_one(&chunks[i], each);
                if r.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                if tx.send((i, r)).is_err() {
                    break;
                }
            })?;
        }
        drop(tx);
        for (i, r) in rx {
            progress.advance(chunks[i].samples.len() as u64);
            out[i] = Some(r);
        }
        Ok(())
    });
    if let Err(e) = spawned {
        return Err(TranscribeError::Whisper(format!("cannot start a decoding thread: {e}")));
    }
    // A chunk not decoded (None) was stopped by an error, which is returned.
    let results: Vec<_> = out.into_iter().flatten().collect::<Result<_, _>>()?;
    if results.len() < chunks.len() {
        return Err(TranscribeError::Whisper("decoding stopped early".into()));
    }
    Ok(results)
}

/// Pieces shorter than this are not decoded a second time (0.5 s).
const MIN_REDECODE: usize = 8_000;
/// A packed piece with fewer letters and digits than this per second of
/// audio is decoded a second time: speech runs at 5–15 per second, and a
/// phrase whisper jumped over leaves none (or a stray word from the next).
const MIN_CHARS_PER_S: f64 = 1.0;

/// Gives each segment to the piece its start lies in.
fn assign(pieces: &mut [(Region, bool, Vec<TimedSegment>)], segments: Vec<TimedSegment>) {
    for s in segments {
        let i = pieces.iter().position(|(r, _, _)| (r.start..=r.end).contains(&s.start)).unwrap_or(0);
        if let Some(p) = pieces.get_mut(i) {
            p.2.push(s);
        }
    }
}

/// Letters and digits in the segments' text.
fn spoken_chars(segments: &[TimedSegment]) -> usize {
    segments.iter().flat_map(|s| s.text.chars()).filter(|c| c.is_alphanumeric()).count()
}

/// A decoded segment, its words in samples of the chunk that was decoded.
#[derive(Clone, Debug, PartialEq)]
pub struct ChunkSegment {
    /// Text.
    pub text: String,
    /// Mean token log-probability.
    pub avg_logprob: f32,
    /// No-speech probability.
    pub no_speech_prob: f32,
    /// Words in chunk samples.
    pub words: Vec<RawWord>,
}

/// Decodes one chunk; segments in track time.
fn decode_chunk(engine: &Engine, chunk: &Chunk, decode: &DecodeParams) -> Result<(Vec<TimedSegment>, String), TranscribeError> {
    let (raw, language) = engine.decode(&chunk.samples, decode)?;
    let segments = raw
        .into_iter()
        .map(|seg| ChunkSegment {
            words: words(&seg.tokens, seg.end),
            text: seg.text,
            avg_logprob: seg.avg_logprob,
            no_speech_prob: seg.no_speech_prob,
        })
        .collect();
    Ok((place(chunk, segments, decode.min_word_probability), language))
}

/// Decodes one chunk on the site's server; segments in track time.
fn remote_chunk(
    engine: &RemoteEngine,
    chunk: &Chunk,
    decode: &DecodeParams,
    word_times: &std::sync::Mutex<WordTimes>,
) -> Result<(Vec<TimedSegment>, String), TranscribeError> {
    let mut answer = engine.transcribe(&chunk.samples, &decode.language, &decode.initial_prompt)?;
    if !answer.server_word_times {
        for seg in &mut answer.segments {
            snap(chunk, seg);
        }
    }
    if let (false, Ok(mut word_times)) = (answer.segments.is_empty(), word_times.lock()) {
        *word_times = match (*word_times, answer.server_word_times) {
            (WordTimes::None | WordTimes::Server, true) => WordTimes::Server,
            (WordTimes::None | WordTimes::Spread, false) => WordTimes::Spread,
            _ => WordTimes::Mixed,
        };
    }
    // The server's words carry its own probabilities (or the segment's):
    // the local word-probability floor is tuned on whisper.cpp's, not these.
    Ok((place(chunk, answer.segments, 0.0), answer.language))
}

/// A segment with segment times only, moved into the piece it overlaps
/// most and its words spread again there. Whisper's segment times are
/// coarse: a segment often starts where the one before ended, in the
/// silence the packing put between two phrases, which would give its words
/// to the phrase before.
fn snap(chunk: &Chunk, seg: &mut ChunkSegment) {
    let (Some(first), Some(last)) = (seg.words.first(), seg.words.last()) else { return };
    let (a, b) = (first.start, last.end.max(first.start + 1));
    let best = chunk.pieces.iter().map(|&(off, _, len)| (off, off + len)).max_by_key(|&(lo, hi)| b.min(hi).saturating_sub(a.max(lo)));
    if let Some((lo, hi)) = best.filter(|&(lo, hi)| b.min(hi) > a.max(lo)) {
        let p = seg.words[0].probability;
        seg.words = crate::remote::spread(&seg.text, a.max(lo), b.min(hi));
        for w in &mut seg.words {
            w.probability = p;
        }
    }
}

/// Where a remote transcript's word times came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WordTimes {
    /// No words yet.
    None,
    /// The server's own word timestamps.
    Server,
    /// The server gave segment times only: words spread over them by length.
    Spread,
    /// Some chunks one way, some the other.
    Mixed,
}

/// Maps a chunk's segments to track time. A segment may run across pieces
/// that lie far apart on the track: it is split where its words change
/// piece, each part timed by its words.
fn place(chunk: &Chunk, segments: Vec<ChunkSegment>, min_word_probability: f32) -> Vec<TimedSegment> {
    let mut out = Vec::new();
    for seg in segments {
        let ws = seg.words;
        if ws.is_empty() || chunk.pieces.is_empty() {
            continue;
        }
        let mut start = 0;
        while start < ws.len() {
            let piece = chunk.piece_of(ws[start].start);
            let mut end = start + 1;
            while end < ws.len() && chunk.piece_of(ws[end].start) == piece {
                end += 1;
            }
            let (off, _, len) = chunk.pieces[piece];
            let part: Vec<RawWord> = ws[start..end]
                .iter()
                .map(|w| {
                    let (a, b) = (chunk.to_track(w.start), chunk.to_track_end(w.end.clamp(off, off + len)));
                    RawWord { start: a, end: b.max(a), ..w.clone() }
                })
                .collect();
            let text = if start == 0 && end == ws.len() {
                seg.text.clone()
            } else {
                part.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" ")
            };
            let mean_p = part.iter().map(|w| w.probability).sum::<f32>() / part.len() as f32;
            if mean_p >= min_word_probability {
                out.push(TimedSegment {
                    start: part[0].start,
                    end: part[part.len() - 1].end,
                    text,
                    avg_logprob: seg.avg_logprob,
                    no_speech_prob: seg.no_speech_prob,
                    words: part,
                });
            }
            start = end;
        }
    }
    out
}

/// Session time of a 16 kHz sample index, through the stream's sync fit.
pub fn session_ns(stream: &StreamInfo, sample_16k: usize) -> i64 {
    let device_ns = (sample_16k as i128 * 1_000_000_000 / i128::from(WHISPER_RATE)) as i64;
    match stream.sync.as_ref().and_then(|f| f.map(device_ns)) {
        Some(t) => t.round() as i64,
        None => stream.first_t_ns.unwrap_or(0) + device_ns,
    }
}

/// Transcribes the session in `dir`.
pub fn transcribe_session(dir: &Path, opts: &TranscribeOptions, progress: &dyn Progress) -> Result<TranscribeSummary, TranscribeError> {
    let mut session = SessionDir::open(dir)?;
    session.require_finished()?;
    let manifest = session.manifest();
    let stream = audio_stream(manifest, opts.stream.as_deref(), dir)?;
    let wav_name = stream.files.iter().find(|f| f.ends_with(".wav")).cloned().unwrap_or_else(|| layout::wav(&stream.name));
    let wav = dir.join(&wav_name);

    // Without a readable profile, no language or glossary from it.
    let decode = decode_params(opts, session.profile().ok().as_ref());

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

    let started = Instant::now();
    let local = |decode: &DecodeParams| -> Result<(Vec<TimedSegment>, String, Made), TranscribeError> {
        let Some(model) = &opts.model else {
            return Err(TranscribeError::Session {
                message: "no local model: import one with `tacit model import CT2_DIR`, or name the site's server with --url".into(),
                path: dir.to_path_buf(),
            });
        };
        let engine = LocalEngine::load(model, decode.flash_attn)?;
        let (timed, language) = engine.decode_regions(&prepared.samples, &regions, decode, progress)?;
        let (model_sha256, runtime) = (engine.sha256()?, engine.runtime());
        let name = models::name_of(model);
        let made = Made {
            label: name.clone(),
            model: name,
            model_sha256,
            engine: json!({ "kind": "local", "model": model, "runtime": runtime }),
            fell_back: None,
        };
        Ok((timed, language, made))
    };
    let (timed, language, made) = match &opts.remote {
        None => local(&decode)?,
        Some(params) => match transcribe_remote(params, &prepared.samples, &regions, &decode, progress) {
            Ok(x) => x,
            Err(e @ TranscribeError::Remote { can_fall_back: true, .. }) if opts.fallback && opts.model.is_some() => {
                let reason = e.to_string();
                tracing::warn!("{reason}: transcribing with the local model instead");
                let (timed, language, mut made) = local(&decode)?;
                made.engine["fallback_from"] = json!({ "url": params.url, "model": params.model, "reason": reason });
                made.fell_back = Some(reason);
                (timed, language, made)
            }
            Err(e) => return Err(e),
        },
    };
    let segments = in_session_time(timed, &language, &stream);
    let decode_s = started.elapsed().as_secs_f64();

    let Made { model: model_name, model_sha256, engine, fell_back, label } = made;
    let out = dir.join(layout::TRANSCRIPT);
    let meta = vec![
        ("tacit.model".to_string(), model_name.clone()),
        ("tacit.model_sha256".to_string(), model_sha256.clone()),
        ("tacit.language".to_string(), language.clone()),
        ("tacit.stream".to_string(), stream.name.clone()),
        ("tacit.engine".to_string(), engine["kind"].as_str().unwrap_or("local").to_string()),
    ];
    transcript::write(&out, &segments, &meta)?;
    let n_words: usize = segments.iter().map(|s| s.words.len()).sum();

    // Decoding took minutes: what changed in the manifest meanwhile (a
    // trainer marking the session reviewed) is kept, as the update reads
    // the manifest again under the session's lock.
    let info = TranscriptInfo {
        model: model_name,
        model_sha256,
        language: decode.language.clone(),
        detected_language: language.clone(),
        stream: stream.name.clone(),
        segments: segments.len() as u64,
        words: n_words as u64,
        speech_ns: (speech as i128 * 1_000_000_000 / i128::from(WHISPER_RATE)) as i64,
        params: json!({ "decode": decode, "vad": opts.vad, "regions": regions.len(), "engine": engine }),
        created_at_utc: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        tacit_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    session.update_manifest(|m| {
        m.transcribed = true;
        m.transcript = Some(info.clone());
    })?;
    Ok(TranscribeSummary {
        path: out,
        segments: segments.len(),
        words: n_words,
        audio_s: total as f64 / f64::from(WHISPER_RATE),
        speech_s: speech as f64 / f64::from(WHISPER_RATE),
        decode_s,
        language,
        engine: label,
        fell_back,
    })
}

/// The audio stream to transcribe: the one named, else the first.
fn audio_stream(
    manifest: &tacit_schema::SessionManifest,
    name: Option<&str>,
    dir: &Path,
) -> Result<tacit_schema::StreamInfo, TranscribeError> {
    manifest.streams.iter().find(|s| s.kind == StreamKind::Audio && name.is_none_or(|n| s.name == n)).cloned().ok_or_else(|| {
        TranscribeError::Session {
            message: match name {
                Some(n) => format!("no audio stream named {n:?}"),
                None => "session has no microphone stream to transcribe".into(),
            },
            path: dir.to_path_buf(),
        }
    })
}

/// The decoding parameters: the options', with the language and the
/// glossary prompt from the station profile where the options give none.
fn decode_params(opts: &TranscribeOptions, profile: Option<&tacit_schema::StationProfile>) -> DecodeParams {
    let mut decode = opts.decode.clone();
    decode.language =
        opts.language.clone().or_else(|| profile.and_then(|p| p.transcription.language.clone())).unwrap_or_else(|| "auto".into());
    if decode.initial_prompt.is_empty() {
        if let Some(p) = profile {
            // English decoding gets the Latin-script terms only; Hangul in an
            // English prompt only confuses the decoder.
            let terms: Vec<&str> =
                p.transcription.glossary.iter().map(String::as_str).filter(|t| decode.language != "en" || t.is_ascii()).collect();
            if !terms.is_empty() {
                decode.initial_prompt = format!("{}.", terms.join(", "));
            }
        }
    }
    decode
}

/// Decoded segments (in 16 kHz samples of the WAV) as transcript segments in session time.
fn in_session_time(timed: Vec<TimedSegment>, language: &str, stream: &tacit_schema::StreamInfo) -> Vec<Segment> {
    let at = |s: usize| session_ns(stream, s);
    timed
        .into_iter()
        .enumerate()
        .map(|(i, t)| Segment {
            segment_id: i as u32,
            start_ns: at(t.start),
            end_ns: at(t.end),
            text: t.text,
            language: language.to_string(),
            avg_logprob: t.avg_logprob,
            no_speech_prob: t.no_speech_prob,
            words: t
                .words
                .into_iter()
                .map(|w| Word { word: w.text, start_ns: at(w.start), end_ns: at(w.end), probability: w.probability })
                .collect(),
        })
        .collect()
}

/// This PC's model, loaded: a ggml file runs on whisper.cpp, a CTranslate2
/// folder (as faster-whisper uses it) on CTranslate2 (builds with the
/// `ctranslate2` feature). Both go through the same VAD regions, packing,
/// second pass, filters and numbers.
pub enum LocalEngine {
    /// whisper.cpp through whisper-rs.
    WhisperCpp(Engine),
    /// CTranslate2 through ct2rs.
    #[cfg(feature = "ctranslate2")]
    Ctranslate2(crate::ctranslate::Ct2Engine),
}

impl LocalEngine {
    /// Loads a ggml file or a CTranslate2 folder.
    pub fn load(model: &Path, flash_attn: bool) -> Result<Self, TranscribeError> {
        if model.is_dir() {
            #[cfg(feature = "ctranslate2")]
            return Ok(Self::Ctranslate2(crate::ctranslate::Ct2Engine::load(model)?));
            #[cfg(not(feature = "ctranslate2"))]
            return Err(TranscribeError::model(
                "a CTranslate2 model folder needs the CTranslate2 engine, and this tacit was built without it: \
                 build with `--features ctranslate2` (scripts/setup installs the MKL it needs), or import the folder \
                 for whisper.cpp with `tacit model import`",
                model,
            ));
        }
        Ok(Self::WhisperCpp(Engine::load(model, flash_attn)?))
    }

    /// `whisper.cpp` or `ctranslate2`.
    pub fn runtime(&self) -> &'static str {
        match self {
            Self::WhisperCpp(_) => "whisper.cpp",
            #[cfg(feature = "ctranslate2")]
            Self::Ctranslate2(_) => "ctranslate2",
        }
    }

    /// SHA-256 of the weights.
    pub fn sha256(&self) -> Result<String, TranscribeError> {
        match self {
            Self::WhisperCpp(e) => models::sha256_file(e.path()),
            #[cfg(feature = "ctranslate2")]
            Self::Ctranslate2(e) => Ok(e.sha256().to_string()),
        }
    }

    /// Encoder time of one 30 s window (for profiling).
    pub fn encode_only(&self, samples: &[f32], threads: usize) -> Result<std::time::Duration, TranscribeError> {
        match self {
            Self::WhisperCpp(e) => Ok(e.encode_only(samples, threads)?.1),
            #[cfg(feature = "ctranslate2")]
            Self::Ctranslate2(e) => e.encode_only(samples, threads),
        }
    }

    /// `decode_regions` on this engine.
    pub fn decode_regions(
        &self,
        samples: &[f32],
        regions: &[Region],
        decode: &DecodeParams,
        progress: &dyn Progress,
    ) -> Result<(Vec<TimedSegment>, String), TranscribeError> {
        match self {
            Self::WhisperCpp(e) if decode.beam_size > 1 => Err(TranscribeError::model(
                "beam search is the CTranslate2 engine's (give --model a faster-whisper folder); whisper.cpp here decodes greedily",
                e.path(),
            )),
            Self::WhisperCpp(e) => decode_regions(e, samples, regions, decode, progress),
            #[cfg(feature = "ctranslate2")]
            Self::Ctranslate2(e) => {
                let decode_one = |chunk: &Chunk, p: &DecodeParams| {
                    let (mut segments, language) = e.decode(&chunk.samples, p)?;
                    for s in &mut segments {
                        into_own_piece(chunk, &mut s.words);
                    }
                    Ok((place(chunk, segments, p.min_word_probability), language))
                };
                decode_packed(samples, regions, decode, &decode_one, progress)
            }
        }
    }
}

/// Word times from an alignment path (CTranslate2's, as OpenAI's) give the
/// pause between two phrases to one of the words around it: the first word
/// after it may start where the speech before ended, or the last word before
/// it end where the next phrase starts. In a packed chunk such a word spans
/// two pieces, and by its start or end alone it lands in the wrong phrase.
/// A word spanning pieces therefore goes to the piece it overlaps most
/// (its own sound is there; the other holds only the edge of a pause), and
/// is cut to that piece.
#[cfg_attr(not(feature = "ctranslate2"), allow(dead_code))]
fn into_own_piece(chunk: &Chunk, words: &mut [RawWord]) {
    for w in words {
        let (a, b) = (chunk.piece_of(w.start), chunk.piece_of(w.end.saturating_sub(1).max(w.start)));
        if a == b {
            continue;
        }
        let overlap = |&(off, _, len): &(usize, usize, usize)| w.end.min(off + len).saturating_sub(w.start.max(off));
        if let Some(&(off, _, len)) = chunk.pieces[a..=b].iter().max_by_key(|p| overlap(p)) {
            w.start = w.start.clamp(off, off + len);
            w.end = w.end.clamp(w.start, off + len);
        }
    }
}

/// Who made a transcript.
struct Made {
    /// For people: the model, or `MODEL on ENDPOINT`.
    label: String,
    model: String,
    model_sha256: String,
    /// `{kind: local|remote, …}` for the manifest.
    engine: serde_json::Value,
    fell_back: Option<String>,
}

/// The regions through the site's server: the same packing, second pass
/// and mapping to track time as the local engine.
fn transcribe_remote(
    params: &RemoteParams,
    samples: &[f32],
    regions: &[Region],
    decode: &DecodeParams,
    progress: &dyn Progress,
) -> Result<(Vec<TimedSegment>, String, Made), TranscribeError> {
    let engine = RemoteEngine::new(params.clone())?;
    let word_times = std::sync::Mutex::new(WordTimes::None);
    // One request at a time: the server has its own queue.
    let one = DecodeParams { workers: 1, ..decode.clone() };
    let (timed, language) =
        decode_packed(samples, regions, &one, &|chunk: &Chunk, p: &DecodeParams| remote_chunk(&engine, chunk, p, &word_times), progress)?;
    let word_times = word_times.into_inner().unwrap_or(WordTimes::Mixed);
    let made = Made {
        label: format!("{} on {}", params.model, engine.endpoint()),
        model: params.model.clone(),
        // The server's weights are not ours to hash.
        model_sha256: String::new(),
        engine: json!({
            "kind": "remote", "endpoint": engine.endpoint(), "model": params.model, "word_times": word_times,
            "retried": engine.retried(), "outside_site": params.outside_site,
        }),
        fell_back: None,
    };
    Ok((timed, language, made))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(start: usize, text: &str) -> TimedSegment {
        let words = vec![RawWord { text: text.into(), start, end: start + 100, probability: 0.9 }];
        TimedSegment { start, end: start + 100, text: text.into(), avg_logprob: -0.2, no_speech_prob: 0.0, words }
    }

    #[test]
    fn skipped_pieces_are_decoded_again_and_the_fuller_result_kept() {
        use std::sync::Mutex;
        let track = vec![0.0; 16_000 * 60];
        // Three 3 s regions: one chunk of three pieces.
        let regions: Vec<Region> = [10, 20, 30].iter().map(|s| Region { start: s * 16_000, end: (s + 3) * 16_000 }).collect();
        let calls: Mutex<Vec<Vec<usize>>> = Mutex::new(Vec::new());
        let (out, _) = decode_packed(
            &track,
            &regions,
            &DecodeParams { language: "ko".into(), threads: 2, ..DecodeParams::default() },
            &|chunk: &Chunk, _: &DecodeParams| {
                let mut calls = calls.lock().unwrap();
                calls.push(chunk.pieces.iter().map(|p| p.1).collect());
                Ok((
                    match calls.len() {
                        // First pass: piece 0 heard, a stray word in piece 1, nothing in piece 2.
                        1 => vec![segment(160_000, "공연 시간이 오후 세시니까"), segment(320_000, "또한")],
                        // Second pass: both skipped pieces, packed together.
                        _ => vec![segment(320_000, "어머니가 장례식에 다녀온 후로"), segment(480_000, "뉴욕 지하철은")],
                    },
                    "ko".into(),
                ))
            },
            &tacit_schema::NoProgress,
        )
        .unwrap();
        assert_eq!(*calls.lock().unwrap(), [vec![160_000, 320_000, 480_000], vec![320_000, 480_000]]);
        let texts: Vec<&str> = out.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(texts, ["공연 시간이 오후 세시니까", "어머니가 장례식에 다녀온 후로", "뉴욕 지하철은"]);

        // A second pass with less text keeps the first; a lone region is not decoded twice.
        let n = Mutex::new(0);
        let (out, _) = decode_packed(
            &track,
            &regions[..2],
            &DecodeParams { language: "ko".into(), threads: 1, ..DecodeParams::default() },
            &|_: &Chunk, _: &DecodeParams| {
                let mut n = n.lock().unwrap();
                *n += 1;
                Ok((if *n == 1 { vec![segment(160_000, "공연"), segment(320_000, "또한")] } else { Vec::new() }, "ko".into()))
            },
            &tacit_schema::NoProgress,
        )
        .unwrap();
        assert_eq!((*n.lock().unwrap(), out.len()), (2, 2));
        let n = Mutex::new(0);
        decode_packed(
            &track,
            &regions[..1],
            &DecodeParams { language: "ko".into(), threads: 1, ..DecodeParams::default() },
            &|_: &Chunk, _: &DecodeParams| {
                *n.lock().unwrap() += 1;
                Ok((Vec::new(), "ko".into()))
            },
            &tacit_schema::NoProgress,
        )
        .unwrap();
        assert_eq!(*n.lock().unwrap(), 1);
    }

    #[test]
    fn chunks_decoded_side_by_side_come_back_in_order_and_errors_stop_them() {
        let track = vec![0.0; 16_000 * 200];
        // Regions 29 s apart and 20 s long: one chunk each.
        let regions: Vec<Region> = (0..6).map(|i| Region { start: i * 29 * 16_000, end: (i * 29 + 20) * 16_000 }).collect();
        let chunks = pack(&track, &regions);
        assert_eq!(chunks.len(), 6);
        let params = DecodeParams { threads: 2, ..DecodeParams::default() };
        let decode = |c: &Chunk, p: &DecodeParams| {
            assert_eq!(p.threads, 1, "two chunks at a time, a thread each");
            // Later chunks finish first.
            std::thread::sleep(std::time::Duration::from_millis(30 - 5 * (c.pieces[0].1 / (29 * 16_000)) as u64));
            Ok((vec![segment(c.pieces[0].1, &format!("piece {}", c.pieces[0].1))], "en".to_string()))
        };
        let out = decode_all(&chunks, &params, &decode, &tacit_schema::NoProgress).unwrap();
        // One chunk gets both threads.
        decode_all(&chunks[..1], &params, &|_: &Chunk, p: &DecodeParams| Ok((vec![], format!("{}", p.threads))), &tacit_schema::NoProgress)
            .map(|r| assert_eq!(r[0].1, "2"))
            .unwrap();
        let starts: Vec<usize> = out.iter().map(|(s, _)| s[0].start).collect();
        assert_eq!(starts, regions.iter().map(|r| r.start).collect::<Vec<_>>());
        let failing = |c: &Chunk, _: &DecodeParams| {
            if c.pieces[0].1 == 2 * 29 * 16_000 {
                Err(TranscribeError::Whisper("boom".into()))
            } else {
                Ok((Vec::new(), "en".to_string()))
            }
        };
        let err = decode_all(&chunks, &params, &failing, &tacit_schema::NoProgress).unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
    }

    #[test]
    fn chunks_decoded_in_order_are_prompted_with_the_text_before_them() {
        let track = vec![0.0; 16_000 * 100];
        let regions: Vec<Region> = (0..3).map(|i| Region { start: i * 29 * 16_000, end: (i * 29 + 20) * 16_000 }).collect();
        let chunks = pack(&track, &regions);
        let params = DecodeParams { threads: 2, initial_prompt: "keyhole, undercut.".into(), ..DecodeParams::default() };
        let prompts = std::sync::Mutex::new(Vec::new());
        let decode = |c: &Chunk, p: &DecodeParams| {
            assert_eq!(p.threads, 2, "one chunk at a time, every thread");
            prompts.lock().unwrap().push(p.initial_prompt.clone());
            Ok((vec![segment(c.pieces[0].1, &format!(" piece {}.", c.pieces[0].1 / 16_000))], "en".to_string()))
        };
        let out = decode_in_order(&chunks, &params, &decode, &tacit_schema::NoProgress).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(
            prompts.into_inner().unwrap(),
            ["keyhole, undercut.", "keyhole, undercut. piece 0.", "keyhole, undercut. piece 0. piece 29."]
        );
    }

    #[test]
    fn a_word_aligned_over_the_pause_between_pieces_goes_to_the_piece_it_fills() {
        let track = vec![0.0; 16_000 * 100];
        let regions = [Region { start: 16_000, end: 48_000 }, Region { start: 160_000, end: 192_000 }];
        let chunk = pack(&track, &regions).remove(0);
        let b = 32_000 + GAP; // where the second piece starts in the chunk
        let w = |text: &str, start, end| RawWord { text: text.into(), start, end, probability: 0.9 };
        // "미안해요" aligned from the end of the first phrase (30_000) into
        // the second piece; "건가요?" from its onset on to the second phrase.
        let mut first = vec![w("줄일게요.", 20_000, 30_000), w("미안해요", 30_000, b + 6_000)];
        let mut last = vec![w("없는", 20_000, 26_000), w("건가요?", 26_000, b + 1_000)];
        into_own_piece(&chunk, &mut first);
        into_own_piece(&chunk, &mut last);
        assert_eq!((first[0].start, first[1].start, first[1].end), (20_000, b, b + 6_000));
        assert_eq!((last[1].start, last[1].end), (26_000, 32_000));
        let placed = place(
            &chunk,
            vec![ChunkSegment { text: "줄일게요. 미안해요".into(), avg_logprob: -0.2, no_speech_prob: 0.0, words: first }],
            0.0,
        );
        let texts: Vec<(&str, usize)> = placed.iter().map(|s| (s.text.as_str(), s.start)).collect();
        assert_eq!(texts, [("줄일게요.", 16_000 + 20_000), ("미안해요", 160_000)]);
    }

    #[test]
    fn packing_maps_back_to_the_track() {
        let track = vec![0.0; 16_000 * 100];
        let regions =
            [Region { start: 16_000, end: 48_000 }, Region { start: 160_000, end: 176_000 }, Region { start: 800_000, end: 1_300_000 }];
        let chunks = pack(&track, &regions);
        assert_eq!(chunks.len(), 2, "two short regions share a chunk; the long one is alone");
        let c = &chunks[0];
        assert_eq!(c.samples.len(), 32_000 + GAP + 16_000);
        assert_eq!(c.to_track(0), 16_000);
        assert_eq!(c.to_track(31_999), 47_999);
        assert_eq!(c.to_track(32_000 + GAP / 2), 160_000, "a gap maps to the start of the piece after");
        assert_eq!(c.to_track(32_000 + GAP + 10), 160_010);
        assert_eq!(chunks[1].to_track(5), 800_005);
        assert_eq!(c.to_track_end(32_000 + GAP / 2), 48_000, "an end in a gap maps to the end of the piece before");
        assert_eq!(c.to_track_end(32_000), 48_000);
    }
}
