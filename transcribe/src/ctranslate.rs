//! The CTranslate2 engine: faster-whisper's inference library (through the
//! `ct2rs` crate, built against Intel MKL) with tacit's own decoding around
//! it — the same VAD, packing, second pass, filters and numbers as the
//! whisper.cpp engine, and word times from CTranslate2's alignment (DTW over
//! the model's alignment heads, as faster-whisper does it).
//!
//! It reads the CTranslate2 model folder itself (`model.bin` or its split
//! parts, `config.json`, the vocabulary), so the weights are exactly
//! faster-whisper's, quantized to int8 on load as faster-whisper's
//! `compute_type="int8"` does. Why it exists: on this 2-core CPU whisper.cpp's
//! decoder costs more per token than CTranslate2's, and Korean takes about
//! two tokens a syllable (see `docs/performance.md`).
//!
//! ```text
//! chunk (≤ 28 s) ─► log-mel (30 s) ─► encode ─► generate (greedy, timestamps)
//!                                        │          └─► segments at timestamp pairs; seek on when cut short
//!                                        └─► align (text tokens) ─► word times and probabilities
//! ```

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ct2rs::sys::{ModelMemoryReader, StorageView, Whisper, WhisperOptions};
use ct2rs::{ComputeType, Config, Device};
use sha2::{Digest, Sha256};

use crate::engine::{is_annotation, is_hallucination, language_fits, DecodeParams, RawWord};
use crate::error::TranscribeError;
use crate::session::ChunkSegment;
use crate::tokenizer::Tokenizer;
use crate::{mel, vocab};

/// 16 kHz samples per timestamp step (20 ms) and per encoder frame.
const STEP: usize = 320;
/// Samples in one window (30 s).
const WINDOW: usize = mel::FRAMES * mel::HOP;
/// Most prompt tokens (half the decoder's 448, less one), as OpenAI's and
/// faster-whisper's decoders keep.
const MAX_PROMPT: usize = 223;
/// faster-whisper's and OpenAI's default median filter over the alignment.
const MEDIAN_FILTER: i64 = 7;

/// A loaded CTranslate2 Whisper model.
pub struct Ct2Engine {
    dir: PathBuf,
    /// The folder's files as CTranslate2 reads them (split `model.bin`
    /// parts joined), kept to load one model per decoding thread layout.
    files: Vec<(String, Vec<u8>)>,
    /// Loaded models and their threads each, reused.
    pool: Mutex<Vec<(usize, Whisper)>>,
    sha256: String,
    /// Vocabulary strings by id (CTranslate2's prompts are strings).
    vocabulary: Vec<String>,
    /// Prompts to ids; its vocabulary is the text tokens' bytes (ids below `eot`).
    tokenizer: Tokenizer,
    eot: usize,
    sot: usize,
    sot_prev: usize,
    transcribe: usize,
    timestamp_begin: usize,
    multilingual: bool,
    n_mels: usize,
    filters: Vec<f32>,
}

impl Ct2Engine {
    /// Loads a CTranslate2 Whisper folder (as faster-whisper uses it).
    pub fn load(dir: &Path) -> Result<Self, TranscribeError> {
        if !dir.is_dir() {
            return Err(TranscribeError::model("no such CTranslate2 model folder", dir));
        }
        let mut model = Vec::new();
        for part in crate::import::model_parts(dir)? {
            let bytes = std::fs::read(&part).map_err(|e| TranscribeError::io("read", &part, e))?;
            model.extend_from_slice(&bytes);
        }
        let sha256 = crate::models::hex(&Sha256::digest(&model));
        let config_path = dir.join("config.json");
        let config = std::fs::read(&config_path).map_err(|e| TranscribeError::io("read", &config_path, e))?;
        let (vocab_name, vocabulary) = read_vocabulary(dir)?;
        let vocab_bytes = std::fs::read(dir.join(&vocab_name)).map_err(|e| TranscribeError::io("read", &dir.join(&vocab_name), e))?;
        let id = |t: &str| {
            vocabulary
                .iter()
                .position(|v| v == t)
                .ok_or_else(|| TranscribeError::model(format!("the vocabulary has no {t} token: not a Whisper model?"), dir))
        };
        let eot = id("<|endoftext|>")?;
        let timestamp_begin = id("<|notimestamps|>")? + 1;
        let table = vocab::char_to_byte();
        let text: Vec<Vec<u8>> = vocabulary[..eot].iter().map(|t| vocab::decode_token(t, &table).unwrap_or_default()).collect();
        let files = vec![("model.bin".into(), model), ("config.json".into(), config), (vocab_name, vocab_bytes)];
        // Load one now, so a bad model fails here and not mid-session.
        let first = load_model(dir, &files, 1)?;
        let (multilingual, n_mels) = (first.is_multilingual(), first.n_mels());
        Ok(Self {
            dir: dir.to_path_buf(),
            files,
            pool: Mutex::new(vec![(1, first)]),
            sha256,
            tokenizer: Tokenizer::new(text),
            eot,
            sot: id("<|startoftranscript|>")?,
            sot_prev: id("<|startofprev|>")?,
            transcribe: id("<|transcribe|>")?,
            timestamp_begin,
            multilingual,
            n_mels,
            filters: mel::filters(n_mels),
            vocabulary,
        })
    }

    /// SHA-256 of `model.bin` (its parts joined).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// A loaded model running on `threads` threads.
    fn model(&self, threads: usize) -> Result<Whisper, TranscribeError> {
        if let Ok(mut pool) = self.pool.lock() {
            if let Some(i) = pool.iter().position(|(t, _)| *t == threads) {
                return Ok(pool.swap_remove(i).1);
            }
        }
        load_model(&self.dir, &self.files, threads)
    }

    fn give_back(&self, threads: usize, model: Whisper) {
        if let Ok(mut pool) = self.pool.lock() {
            pool.push((threads, model));
        }
    }

    fn error(&self, e: impl std::fmt::Display) -> TranscribeError {
        ct2_error(&self.dir, e)
    }

    /// The log-mel spectrogram of up to 30 s of audio.
    fn features(&self, window: &[f32]) -> Vec<f32> {
        mel::log_mel(window, self.n_mels, &self.filters)
    }

    /// Features (`features`) through the encoder.
    fn encode(&self, model: &Whisper, features: &mut [f32]) -> Result<StorageView<'static>, TranscribeError> {
        let view = StorageView::new(&[1, self.n_mels, mel::FRAMES], features, Device::CPU).map_err(|e| self.error(e))?;
        model.encode(&view, true).map_err(|e| self.error(e))
    }

    /// The log-mel spectrogram and the encoder over one 30 s window; the
    /// encoder's wall time. For profiling.
    pub fn encode_only(&self, samples: &[f32], threads: usize) -> Result<std::time::Duration, TranscribeError> {
        let model = self.model(threads.max(1))?;
        let mut features = self.features(samples);
        let t = std::time::Instant::now();
        let encoded = self.encode(&model, &mut features);
        let took = t.elapsed();
        self.give_back(threads.max(1), model);
        encoded.map(|_| took)
    }

    /// Decodes one chunk of audio; segments with words in chunk samples, and
    /// the language used.
    pub fn decode(&self, samples: &[f32], p: &DecodeParams) -> Result<(Vec<ChunkSegment>, String), TranscribeError> {
        language_fits(self.multilingual, &p.language, &self.dir)?;
        let threads = p.threads.max(1);
        let model = self.model(threads)?;
        let result = self.decode_with(&model, samples, p);
        self.give_back(threads, model);
        result
    }

    fn decode_with(&self, model: &Whisper, samples: &[f32], p: &DecodeParams) -> Result<(Vec<ChunkSegment>, String), TranscribeError> {
        let prompt: Vec<usize> = match p.initial_prompt.trim() {
            "" => Vec::new(),
            // The leading space OpenAI's decoder puts before a prompt.
            text => self.tokenizer.encode(&format!(" {text}")).into_iter().filter_map(|i| usize::try_from(i).ok()).collect(),
        };
        // At most half the text context before the start sequence, the most recent kept.
        let prompt = prompt[prompt.len().saturating_sub(MAX_PROMPT)..].to_vec();
        let options =
            WhisperOptions { beam_size: p.beam_size.max(1), return_scores: true, return_no_speech_prob: true, ..WhisperOptions::default() };
        let mut language = if self.multilingual { p.language.clone() } else { "en".into() };
        let mut out = Vec::new();
        let mut seek = 0;
        // Less than 0.1 s left is not worth a window.
        while seek + 1_600 < samples.len() {
            let window = &samples[seek..samples.len().min(seek + WINDOW)];
            let encoded = self.encode(model, &mut self.features(window))?;
            if language == "auto" {
                let found = model.detect_language(&encoded).map_err(|e| self.error(e))?;
                language = found
                    .first()
                    .and_then(|l| l.first())
                    .map(|d| d.language.trim_start_matches("<|").trim_end_matches("|>").to_string())
                    .unwrap_or_else(|| "en".into());
            }
            let mut start_sequence = vec![self.sot];
            if self.multilingual {
                let tag = format!("<|{language}|>");
                let lang = self.vocabulary.iter().position(|v| *v == tag).ok_or_else(|| {
                    TranscribeError::model(
                        format!("the model knows no language {language:?} (a two-letter code such as ko or en)"),
                        &self.dir,
                    )
                })?;
                start_sequence.extend([lang, self.transcribe]);
            }
            let mut full: Vec<usize> = Vec::new();
            if !prompt.is_empty() {
                full.push(self.sot_prev);
                full.extend(&prompt);
            }
            full.extend(&start_sequence);
            let strings: Vec<&str> = full.iter().filter_map(|&i| self.vocabulary.get(i).map(String::as_str)).collect();
            let result = model.generate(&encoded, &[strings], &options).map_err(|e| self.error(e))?;
            let Some(r) = result.first() else { break };
            let ids = r.sequences_ids.first().cloned().unwrap_or_default();
            let (segments, consumed) = split(&ids, self.timestamp_begin, self.eot, window.len());
            let text_tokens: Vec<usize> = segments.iter().flat_map(|s| s.tokens.iter().copied()).collect();
            let aligned = if text_tokens.is_empty() {
                None
            } else {
                let frames = window.len().div_ceil(mel::HOP).min(mel::FRAMES);
                model
                    .align(&encoded, &start_sequence, std::slice::from_ref(&text_tokens), &[frames], MEDIAN_FILTER)
                    .map_err(|e| self.error(e))?
                    .into_iter()
                    .next()
                    .map(|a| (a.alignments.iter().map(|x| (x.token_x, x.frame_x)).collect::<Vec<_>>(), a.text_token_probs))
            };
            let (starts, probs) = match &aligned {
                Some((path, probs)) => (token_starts(path, text_tokens.len()), probs.clone()),
                None => (Vec::new(), Vec::new()),
            };
            let mut at = 0;
            for s in segments {
                let n = s.tokens.len();
                let times = starts.get(at..=at + n).filter(|t| t.len() == n + 1);
                let token_p: Vec<f32> =
                    (at..at + n).map(|i| probs.get(i).copied().unwrap_or(r.scores.first().map_or(0.5, |s| s.exp()))).collect();
                at += n;
                let ids: Vec<i32> = s.tokens.iter().filter_map(|&t| i32::try_from(t).ok()).collect();
                let text = String::from_utf8_lossy(&self.tokenizer.decode(&ids)).trim().to_string();
                let avg_logprob = if n == 0 { 0.0 } else { token_p.iter().map(|p| p.max(1e-10).ln()).sum::<f32>() / n as f32 };
                tracing::trace!(start = s.start, end = s.end, no_speech_prob = r.no_speech_prob, avg_logprob, %text, "ctranslate2 segment");
                if is_hallucination(&text, r.no_speech_prob, avg_logprob, p) {
                    continue;
                }
                if is_annotation(&text) {
                    continue;
                }
                let mut words = group_words(&s.tokens, self.tokenizer.vocab(), &token_p, times, (s.start, s.end));
                within(&mut words, s.start, s.end);
                let words = words.into_iter().map(|w| RawWord { start: w.start + seek, end: w.end + seek, ..w }).collect();
                out.push(ChunkSegment { text, avg_logprob, no_speech_prob: r.no_speech_prob, words });
            }
            seek += consumed.max(STEP);
        }
        Ok((out, language))
    }
}

/// One CTranslate2 model from the folder's files, int8, on `threads` threads.
fn load_model(dir: &Path, files: &[(String, Vec<u8>)], threads: usize) -> Result<Whisper, TranscribeError> {
    let mut reader = ModelMemoryReader::new(&dir.to_string_lossy()).map_err(|e| ct2_error(dir, e))?;
    for (name, bytes) in files {
        reader.register_file(name, bytes);
    }
    let config = Config { device: Device::CPU, compute_type: ComputeType::INT8, num_threads_per_replica: threads, ..Config::default() };
    Whisper::new_from_memory(&mut reader, config).map_err(|e| ct2_error(dir, e))
}

fn ct2_error(dir: &Path, e: impl std::fmt::Display) -> TranscribeError {
    let e = e.to_string();
    // CTranslate2 uses MKL only on Intel CPUs unless CT2_USE_MKL says so,
    // and this build has no other matrix backend.
    let hint = if e.contains("int8") && std::env::var_os("CT2_USE_MKL").is_none() {
        " (on a CPU that is not Intel's, set CT2_USE_MKL=1: the tacit binary does this itself)"
    } else {
        ""
    };
    TranscribeError::model(format!("CTranslate2: {e}{hint}"), dir)
}

/// The vocabulary file CTranslate2 reads, and its tokens by id.
fn read_vocabulary(dir: &Path) -> Result<(String, Vec<String>), TranscribeError> {
    let json = dir.join("vocabulary.json");
    if json.is_file() {
        let text = std::fs::read_to_string(&json).map_err(|e| TranscribeError::io("read", &json, e))?;
        let list = serde_json::from_str(&text).map_err(|e| TranscribeError::model(format!("not a list of tokens: {e}"), &json))?;
        return Ok(("vocabulary.json".into(), list));
    }
    let txt = dir.join("vocabulary.txt");
    let text = std::fs::read_to_string(&txt)
        .map_err(|e| TranscribeError::model(format!("a CTranslate2 Whisper folder needs vocabulary.json or vocabulary.txt ({e})"), dir))?;
    Ok(("vocabulary.txt".into(), text.lines().map(str::to_string).collect()))
}

/// A segment of generated tokens: text token ids, start and end in window
/// samples (from its timestamp tokens).
#[derive(Clone, Debug, PartialEq)]
struct Split {
    tokens: Vec<usize>,
    start: usize,
    end: usize,
}

/// Splits one window's generated ids into segments at each pair of
/// timestamps, as OpenAI's and faster-whisper's decoders do, and says how
/// much of the window (samples) is done: all of it when the text ended on a
/// timestamp (or held none), else up to the last complete segment, where
/// the next window starts.
fn split(ids: &[usize], timestamp_begin: usize, eot: usize, window: usize) -> (Vec<Split>, usize) {
    let ids: Vec<usize> = ids.iter().copied().filter(|&t| t < eot || t >= timestamp_begin).collect();
    let is_ts = |t: usize| t >= timestamp_begin;
    let time = |t: usize| ((t - timestamp_begin) * STEP).min(window);
    let single_ending = ids.len() >= 2 && !is_ts(ids[ids.len() - 2]) && is_ts(ids[ids.len() - 1]);
    let mut cuts: Vec<usize> = (1..ids.len()).filter(|&i| is_ts(ids[i]) && is_ts(ids[i - 1])).collect();
    let mut out = Vec::new();
    if cuts.is_empty() {
        // One segment: the whole window, or up to its last timestamp.
        let tokens: Vec<usize> = ids.iter().copied().filter(|&t| !is_ts(t)).collect();
        let end = ids.iter().rev().find(|&&t| is_ts(t) && t != timestamp_begin).map_or(window, |&t| time(t));
        let start = ids.first().filter(|&&t| is_ts(t)).map_or(0, |&t| time(t));
        if !tokens.is_empty() {
            out.push(Split { tokens, start, end: end.max(start) });
        }
        return (out, window);
    }
    if single_ending {
        cuts.push(ids.len());
    }
    let mut last = 0;
    for &cut in &cuts {
        let part = &ids[last..cut];
        let tokens: Vec<usize> = part.iter().copied().filter(|&t| !is_ts(t)).collect();
        if let (Some(&a), Some(&b)) = (part.first(), part.last()) {
            let start = if is_ts(a) { time(a) } else { 0 };
            let end = if is_ts(b) { time(b) } else { window };
            if !tokens.is_empty() {
                out.push(Split { tokens, start, end: end.max(start) });
            }
        }
        last = cut;
    }
    let consumed = if single_ending { window } else { time(ids[last - 1]) };
    (out, consumed)
}

/// When each text token starts (window samples), from the alignment path
/// of (token, encoder frame) pairs: the frame where the path first reaches
/// it. One more entry than tokens: where the end of text is reached.
fn token_starts(path: &[(i64, i64)], tokens: usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(tokens + 1);
    let mut last = None;
    for &(t, f) in path {
        if Some(t) != last {
            out.push(f.max(0) as usize * STEP);
            last = Some(t);
        }
    }
    out
}

/// Joins a segment's tokens into words: a token starting with a space
/// starts a word, punctuation joins the word before. A word runs from its
/// first token's start to the next word's (or the end of text), by the
/// alignment `times` (tokens + 1 entries); without them, words are spread
/// over `span` by length. Probability: the mean of its tokens'.
fn group_words(tokens: &[usize], text: &[Vec<u8>], probs: &[f32], times: Option<&[usize]>, span: (usize, usize)) -> Vec<RawWord> {
    // (bytes, first token, tokens)
    let mut groups: Vec<(Vec<u8>, usize, usize)> = Vec::new();
    for (i, &t) in tokens.iter().enumerate() {
        let b = &text[t];
        let starts_word = b.first() == Some(&b' ') || groups.is_empty();
        let punct = !b.is_empty() && b.iter().all(|c| c.is_ascii_punctuation());
        match groups.last_mut() {
            Some(g) if !starts_word || punct => {
                g.0.extend_from_slice(b);
                g.2 += 1;
            }
            _ => groups.push((b.clone(), i, 1)),
        }
    }
    let total: usize = groups.iter().map(|g| g.0.len().max(1)).sum();
    let mut spread_at = span.0;
    let width = span.1.saturating_sub(span.0);
    groups
        .into_iter()
        .filter_map(|(bytes, first, n)| {
            let word = String::from_utf8_lossy(&bytes).trim().to_string();
            let (start, end) = match times {
                Some(t) => (t[first], t[first + n].max(t[first])),
                None => {
                    let a = spread_at;
                    spread_at += width * bytes.len().max(1) / total.max(1);
                    (a, spread_at)
                }
            };
            let p = probs[first..first + n].iter().sum::<f32>() / n as f32;
            (!word.is_empty()).then_some(RawWord { text: word, start, end, probability: p })
        })
        .collect()
}

/// Words kept inside their segment's timestamps: the decoder's timestamp
/// tokens mark the pauses between phrases better than the alignment does
/// for the words next to them.
fn within(words: &mut [RawWord], start: usize, end: usize) {
    for w in words {
        w.start = w.start.clamp(start, end);
        w.end = w.end.clamp(w.start, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: usize = 50_364;
    const EOT: usize = 50_257;

    #[test]
    fn generated_ids_split_at_timestamp_pairs() {
        // <0.00> a b <1.00><1.00> c <2.00>: two segments, all done.
        let ids = [TS, 1, 2, TS + 50, TS + 50, 3, TS + 100];
        let (s, done) = split(&ids, TS, EOT, 480_000);
        assert_eq!(s, [Split { tokens: vec![1, 2], start: 0, end: 16_000 }, Split { tokens: vec![3], start: 16_000, end: 32_000 }]);
        assert_eq!(done, 480_000);
        // Cut short after a complete segment: the next window starts at its end.
        let ids = [TS, 1, 2, TS + 50, TS + 50, 3, 4];
        let (s, done) = split(&ids, TS, EOT, 480_000);
        assert_eq!(s.len(), 1);
        assert_eq!(done, 16_000);
        // No timestamps pair: one segment up to the last timestamp.
        let (s, done) = split(&[TS, 5, 6, TS + 25, EOT], TS, EOT, 200_000);
        assert_eq!(s, [Split { tokens: vec![5, 6], start: 0, end: 8_000 }]);
        assert_eq!(done, 200_000);
        assert!(split(&[], TS, EOT, 100).0.is_empty());
    }

    #[test]
    fn words_take_their_times_from_the_alignment_path() {
        let text: Vec<Vec<u8>> = vec![b" The".to_vec(), b" key".to_vec(), b"hole".to_vec(), b",".to_vec(), b" is".to_vec()];
        // Token 0 from frame 2, 1 from 10, 2 from 14, 3 from 20, 4 from 22, end at 30.
        let path = [(0, 2), (0, 3), (1, 10), (1, 11), (2, 14), (3, 20), (4, 22), (5, 30)];
        let starts = token_starts(&path, 5);
        assert_eq!(starts, [640, 3_200, 4_480, 6_400, 7_040, 9_600]);
        let w = group_words(&[0, 1, 2, 3, 4], &text, &[0.9, 0.8, 0.6, 0.9, 1.0], Some(&starts), (0, 9_600));
        let got: Vec<(&str, usize, usize)> = w.iter().map(|w| (w.text.as_str(), w.start, w.end)).collect();
        assert_eq!(got, [("The", 640, 3_200), ("keyhole,", 3_200, 7_040), ("is", 7_040, 9_600)]);
        assert!((w[1].probability - (0.8 + 0.6 + 0.9) / 3.0).abs() < 1e-6);
        // A Hangul syllable split across tokens comes out whole; no alignment: spread.
        let k = "키홀".as_bytes();
        let text = vec![vec![b' ', k[0], k[1]], k[2..].to_vec()];
        let w = group_words(&[0, 1], &text, &[0.5, 0.5], None, (100, 200));
        assert_eq!((w[0].text.as_str(), w[0].start, w[0].end), ("키홀", 100, 200));
    }
}
