//! whisper.cpp through whisper-rs: one loaded model, decoding regions of
//! 16 kHz audio into segments and word-level tokens.

use std::path::{Path, PathBuf};

use serde::Serialize;
use whisper_rs::{DtwMode, DtwModelPreset, DtwParameters, FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters};

use crate::error::TranscribeError;

/// Decoder settings (recorded in the manifest with each transcript).
#[derive(Clone, Debug, Serialize)]
pub struct DecodeParams {
    /// `en`, `ko`, … or `auto` to detect.
    pub language: String,
    /// CPU threads in all.
    pub threads: usize,
    /// Chunks decoded at the same time, each with `threads / workers`
    /// threads and its own decoder state; 0 = one per thread, at most 2.
    /// whisper.cpp's decoder runs one token at a time, a few hundred small
    /// operations each ending in a barrier: two threads on one chunk spend
    /// much of the decoder waiting for each other, two chunks on one
    /// thread each do not.
    pub workers: usize,
    /// Text that biases the decoder (trade terms from the profile's glossary).
    pub initial_prompt: String,
    /// Temperature step on fallback; 0 turns fallback off (a bad clip once took
    /// 50× real time in fallback loops).
    pub temperature_inc: f32,
    /// Most tokens decoded per 30 s window before whisper.cpp moves on; 0 =
    /// its own bound (half the text context, 224 tokens). A cap of 96 cut
    /// Korean windows short (Korean takes ~2 tokens a syllable) and made
    /// each packed chunk cost two or three encoder passes: the Korean dev
    /// session took 77 s with it and 58 s without, same CER; English was
    /// unchanged.
    pub max_tokens: i32,
    /// Segments with no-speech probability above this *and* mean log-prob
    /// below `logprob_floor` are dropped as hallucinations.
    pub no_speech_threshold: f32,
    /// See `no_speech_threshold`.
    pub logprob_floor: f32,
    /// Segments whose mean token log-prob is below this are dropped outright:
    /// on ten minutes of arc noise every phantom segment scored −2.0 or less,
    /// every real one −1.6 or more.
    pub min_avg_logprob: f32,
    /// Segments whose text compresses better than this (its UTF-8 bytes over
    /// their zlib size) are dropped: a phrase repeated over and over, the
    /// loop a decoder falls into on noise. 2.4 is OpenAI's and
    /// faster-whisper's threshold (they retry at a higher temperature; with
    /// fallback off, the loop is dropped). Measured: beam 5 on the ten-minute
    /// noisy session wrote "I don't know what to do" 20 times over noise.
    pub max_compression_ratio: f32,
    /// Stretches of text whose words average a lower probability than this
    /// are dropped (phantom text decoded from noise between real speech).
    pub min_word_probability: f32,
    /// whisper.cpp flash attention (off measured faster on this CPU).
    pub flash_attn: bool,
    /// Spoken numbers as digits with units ("이백 암페어" → "200 A"; see
    /// `numbers`); off keeps whisper's text as it came.
    pub numbers_as_digits: bool,
    /// Beams of the CTranslate2 engine's search (1 = greedy); whisper.cpp
    /// decodes greedily either way.
    pub beam_size: usize,
    /// Packed chunks are decoded one after the other, each prompted with
    /// the text decoded so far after `initial_prompt` (the engines keep the
    /// prompt's last 223 tokens), as faster-whisper's
    /// `condition_on_previous_text`; off, chunks are decoded side by side
    /// without each other's text.
    pub condition_on_previous: bool,
}

impl DecodeParams {
    /// (chunks decoded at once, threads each) for `chunks` chunks.
    pub fn layout(&self, chunks: usize) -> (usize, usize) {
        let threads = self.threads.max(1);
        let workers = if self.workers == 0 { threads.min(2) } else { self.workers.min(threads) }.clamp(1, chunks.max(1));
        (workers, (threads / workers).max(1))
    }
}

impl Default for DecodeParams {
    fn default() -> Self {
        Self {
            language: "auto".into(),
            threads: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).min(8),
            workers: 0,
            initial_prompt: String::new(),
            temperature_inc: 0.0,
            max_tokens: 0,
            no_speech_threshold: 0.6,
            logprob_floor: -1.0,
            min_avg_logprob: -1.8,
            max_compression_ratio: 2.4,
            min_word_probability: 0.0,
            flash_attn: false,
            numbers_as_digits: true,
            beam_size: 1,
            condition_on_previous: false,
        }
    }
}

/// A token as whisper timed it, relative to the decoded audio.
#[derive(Clone, Debug)]
pub struct RawToken {
    /// Token bytes (a Korean syllable may span tokens).
    pub bytes: Vec<u8>,
    /// Start, 16 kHz samples from the region start.
    pub start: usize,
    /// End, samples.
    pub end: usize,
    /// When the token was spoken, by DTW over the alignment heads (samples).
    pub dtw: Option<usize>,
    /// Probability.
    pub p: f32,
    /// Log probability.
    pub plog: f32,
}

/// A segment as whisper produced it.
#[derive(Clone, Debug)]
pub struct RawSegment {
    /// Start, samples from the region start.
    pub start: usize,
    /// End, samples.
    pub end: usize,
    /// Text.
    pub text: String,
    /// No-speech probability.
    pub no_speech_prob: f32,
    /// Mean log probability of its text tokens.
    pub avg_logprob: f32,
    /// Text tokens (no special tokens).
    pub tokens: Vec<RawToken>,
}

/// A loaded model.
pub struct Engine {
    ctx: WhisperContext,
    /// Decoding states, reused (creating one allocates ~200 MB of buffers):
    /// one per decode running at the same time.
    states: std::sync::Mutex<Vec<whisper_rs::WhisperState>>,
    path: PathBuf,
    tokenizer: crate::tokenizer::Tokenizer,
}

/// Centiseconds (whisper's unit) to 16 kHz samples.
fn cs_to_samples(cs: i64) -> usize {
    (cs.max(0) as usize) * 160
}

impl Engine {
    /// Loads a ggml model. Word times come from DTW over the model's
    /// alignment heads where whisper.cpp knows them (standard sizes).
    pub fn load(path: &Path, flash_attn: bool) -> Result<Self, TranscribeError> {
        static LOG_HOOK: std::sync::Once = std::sync::Once::new();
        LOG_HOOK.call_once(whisper_rs::install_logging_hooks);
        if !path.is_file() {
            return Err(TranscribeError::model("no such model file (see `tacit model list`)", path));
        }
        let header = crate::models::read_header(path)?;
        let preset = match (header.n_audio_state, header.n_vocab >= 51_865) {
            (384, false) => Some(DtwModelPreset::TinyEn),
            (384, true) => Some(DtwModelPreset::Tiny),
            (512, false) => Some(DtwModelPreset::BaseEn),
            (512, true) => Some(DtwModelPreset::Base),
            (768, false) => Some(DtwModelPreset::SmallEn),
            (768, true) => Some(DtwModelPreset::Small),
            (1024, false) => Some(DtwModelPreset::MediumEn),
            (1024, true) => Some(DtwModelPreset::Medium),
            _ => None,
        };
        let mut cp = WhisperContextParameters::default();
        cp.use_gpu(false).flash_attn(flash_attn);
        if let (Some(model_preset), false) = (preset, flash_attn) {
            cp.dtw_parameters(DtwParameters { mode: DtwMode::ModelPreset { model_preset }, ..DtwParameters::default() });
        }
        let ctx = WhisperContext::new_with_params(path, cp)
            .map_err(|e| TranscribeError::model(format!("whisper.cpp cannot load this model ({e})"), path))?;
        let vocab = (0..ctx.token_eot()).map(|id| ctx.token_to_bytes(id).map(<[u8]>::to_vec).unwrap_or_default()).collect();
        let tokenizer = crate::tokenizer::Tokenizer::new(vocab);
        Ok(Self { ctx, states: std::sync::Mutex::new(Vec::new()), path: path.to_path_buf(), tokenizer })
    }

    /// Runs only the mel spectrogram and the encoder over `samples` (one
    /// 30 s window); returns (mel, encoder) wall times. For profiling.
    pub fn encode_only(&self, samples: &[f32], threads: usize) -> Result<(std::time::Duration, std::time::Duration), TranscribeError> {
        let mut state = self.take_state()?;
        let t = std::time::Instant::now();
        state.pcm_to_mel(samples, threads).map_err(|e| TranscribeError::Whisper(e.to_string()))?;
        let mel = t.elapsed();
        let t = std::time::Instant::now();
        state.encode(0, threads).map_err(|e| TranscribeError::Whisper(e.to_string()))?;
        let encoder = t.elapsed();
        self.give_back(state);
        Ok((mel, encoder))
    }

    /// A free decoding state, or a new one.
    fn take_state(&self) -> Result<whisper_rs::WhisperState, TranscribeError> {
        let free = self.states.lock().map_err(|_| TranscribeError::Whisper("decoder states poisoned by an earlier panic".into()))?.pop();
        match free {
            Some(s) => Ok(s),
            None => self.ctx.create_state().map_err(|e| TranscribeError::Whisper(e.to_string())),
        }
    }

    fn give_back(&self, state: whisper_rs::WhisperState) {
        if let Ok(mut states) = self.states.lock() {
            states.push(state);
        }
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True for a multilingual model.
    pub fn multilingual(&self) -> bool {
        self.ctx.is_multilingual()
    }

    /// Decodes one region; returns its segments and the language used.
    pub fn decode(&self, samples: &[f32], p: &DecodeParams) -> Result<(Vec<RawSegment>, String), TranscribeError> {
        language_fits(self.multilingual(), &p.language, &self.path)?;
        let mut state = self.take_state()?;
        let result = self.decode_with(&mut state, samples, p);
        self.give_back(state);
        result
    }

    fn decode_with(
        &self,
        state: &mut whisper_rs::WhisperState,
        samples: &[f32],
        p: &DecodeParams,
    ) -> Result<(Vec<RawSegment>, String), TranscribeError> {
        let mut fp = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        let language = if self.multilingual() { p.language.as_str() } else { "en" };
        fp.set_language(Some(language));
        fp.set_n_threads(p.threads.max(1) as i32);
        fp.set_token_timestamps(true);
        fp.set_no_context(true);
        fp.set_temperature(0.0);
        fp.set_temperature_inc(p.temperature_inc);
        fp.set_max_tokens(p.max_tokens);
        fp.set_suppress_blank(true);
        // No "[music]", "(crackling)" and the like: workshop noise invites them.
        fp.set_suppress_nst(true);
        fp.set_print_progress(false);
        fp.set_print_realtime(false);
        fp.set_print_timestamps(false);
        fp.set_print_special(false);
        // Ids from our tokenizer (see `tokenizer`), with the leading space
        // OpenAI's decoder puts before a prompt.
        let prompt_tokens = match p.initial_prompt.trim() {
            "" => Vec::new(),
            text => self.tokenizer.encode(&format!(" {text}")),
        };
        if !prompt_tokens.is_empty() {
            fp.set_tokens(&prompt_tokens);
        }
        // SAFETY: the callback only writes into the logits buffer whisper.cpp
        // hands it, within the text-token range, and uses no user data.
        unsafe { fp.set_filter_logits_callback(Some(first_token_is_a_timestamp)) };
        state.full(fp, samples).map_err(|e| TranscribeError::Whisper(e.to_string()))?;
        let lang = whisper_rs::get_lang_str(state.full_lang_id_from_state()).unwrap_or(language).to_string();
        let eot = self.ctx.token_eot();
        let mut out = Vec::new();
        for i in 0..state.full_n_segments() {
            let Some(seg) = state.get_segment(i) else { continue };
            let mut tokens = Vec::new();
            for j in 0..seg.n_tokens() {
                let Some(tok) = seg.get_token(j) else { continue };
                let data = tok.token_data();
                if data.id >= eot {
                    continue; // special and timestamp tokens
                }
                let bytes = tok.to_bytes().map(<[u8]>::to_vec).unwrap_or_default();
                let dtw = (data.t_dtw >= 0).then(|| cs_to_samples(data.t_dtw));
                tokens.push(RawToken {
                    bytes,
                    start: cs_to_samples(data.t0),
                    end: cs_to_samples(data.t1),
                    dtw,
                    p: data.p,
                    plog: data.plog,
                });
            }
            let avg_logprob = if tokens.is_empty() { 0.0 } else { tokens.iter().map(|t| t.plog).sum::<f32>() / tokens.len() as f32 };
            let text = seg.to_str_lossy().map(|c| c.trim().to_string()).unwrap_or_default();
            let no_speech_prob = seg.no_speech_probability();
            tracing::trace!(start_cs = seg.start_timestamp(), end_cs = seg.end_timestamp(), no_speech_prob, avg_logprob, %text, "whisper segment");
            if is_hallucination(&text, no_speech_prob, avg_logprob, p) {
                continue;
            }
            if is_annotation(&text) {
                continue;
            }
            out.push(RawSegment {
                start: cs_to_samples(seg.start_timestamp()),
                end: cs_to_samples(seg.end_timestamp()),
                text,
                no_speech_prob,
                avg_logprob,
                tokens,
            });
        }
        Ok((out, lang))
    }
}

/// Refuses a language other than English (or `auto`) for an English-only
/// model, naming the model.
pub fn language_fits(multilingual: bool, language: &str, model: &Path) -> Result<(), TranscribeError> {
    if multilingual || language == "en" || language == "auto" {
        return Ok(());
    }
    Err(TranscribeError::model(format!("this model is English-only; language {language:?} needs a multilingual model (e.g. base)"), model))
}

/// OpenAI's rule "suppress generating non-timestamp tokens at the
/// beginning" (`ApplyTimestampRules` in whisper's decoding.py; CTranslate2
/// applies it too), which whisper.cpp 1.8.3 lacks: the first token of every
/// window must be a timestamp. Without it, a prompt often makes the base
/// model start with text, skip every later timestamp and drift into another
/// language (a Korean window with a Korean glossary prompt came out as
/// "while you're still alive.").
unsafe extern "C" fn first_token_is_a_timestamp(
    ctx: *mut whisper_rs::WhisperSysContext,
    _state: *mut whisper_rs::WhisperSysState,
    _tokens: *const whisper_rs::WhisperTokenData,
    n_tokens: std::os::raw::c_int,
    logits: *mut f32,
    _user_data: *mut std::ffi::c_void,
) {
    if n_tokens != 0 || ctx.is_null() || logits.is_null() {
        return;
    }
    // SAFETY: ctx is the live context whisper.cpp passes in.
    let beg = unsafe { whisper_rs::whisper_rs_sys::whisper_token_beg(ctx) };
    let Ok(n) = usize::try_from(beg) else { return };
    // SAFETY: `logits` holds one value per vocabulary entry (n_vocab > beg).
    let text = unsafe { std::slice::from_raw_parts_mut(logits, n) };
    text.fill(f32::NEG_INFINITY);
}

/// UTF-8 bytes of `text` over their zlib-compressed size (OpenAI's
/// `compression_ratio`): about 1–2 for speech, far more for a loop.
pub fn compression_ratio(text: &str) -> f32 {
    use std::io::Write;
    if text.is_empty() {
        return 0.0;
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let compressed = z.write_all(text.as_bytes()).and_then(|()| z.finish()).map_or(text.len(), |v| v.len());
    text.len() as f32 / compressed.max(1) as f32
}

/// A segment to drop as a hallucination: no speech and unsure, very unsure,
/// or a repetition loop (see the `DecodeParams` thresholds).
pub fn is_hallucination(text: &str, no_speech_prob: f32, avg_logprob: f32, p: &DecodeParams) -> bool {
    (no_speech_prob > p.no_speech_threshold && avg_logprob < p.logprob_floor)
        || avg_logprob < p.min_avg_logprob
        || compression_ratio(text) > p.max_compression_ratio
}

/// Text with no words in it: empty, punctuation, or only bracketed sound
/// descriptions such as `[BLANK_AUDIO]` or `(wind blowing)`.
pub fn is_annotation(text: &str) -> bool {
    let mut depth = 0i32;
    let mut spoken = false;
    for c in text.chars() {
        match c {
            '[' | '(' | '*' => depth += 1,
            ']' | ')' => depth = (depth - 1).max(0),
            c if depth == 0 && c.is_alphanumeric() => spoken = true,
            _ => {}
        }
    }
    !spoken
}

/// A word: tokens joined until the next one that starts with a space.
#[derive(Clone, Debug, PartialEq)]
pub struct RawWord {
    /// The word, trimmed.
    pub text: String,
    /// Start, samples from the region start.
    pub start: usize,
    /// End, samples.
    pub end: usize,
    /// Mean token probability.
    pub probability: f32,
}

/// Joins tokens into words. Bytes are joined before decoding, so a Hangul
/// syllable split across tokens comes out whole.
///
/// Word times: whisper's own token times find a segment's first onset well
/// (they are refined on signal energy) but bunch up later words; DTW over the
/// alignment heads spaces words well but lags by a few hundred ms (measured
/// +0.26 to +0.51 s on our commentary). So each segment's DTW times are
/// shifted by its first token's lag (DTW − whisper time, at most 0.6 s), keeping DTW's
/// spacing and whisper's onset. A word ends where the next starts, or at
/// `segment_end`.
pub fn words(tokens: &[RawToken], segment_end: usize) -> Vec<RawWord> {
    // A lag beyond 0.6 s means whisper's own time is wrong instead (a segment
    // that opens on noise starts at 0): then shift by the 0.6 s cap only.
    let lag = tokens.first().and_then(|t| t.dtw.map(|d| d as i64 - t.start as i64)).unwrap_or(0).clamp(0, 9_600);
    let start_of = |t: &RawToken| match t.dtw {
        Some(d) => (d as i64 - lag).max(0) as usize,
        None => t.start,
    };
    let mut out: Vec<(Vec<u8>, usize, usize, Vec<f32>)> = Vec::new();
    for t in tokens {
        let starts_word = t.bytes.first() == Some(&b' ') || out.is_empty();
        let is_punct_only = !t.bytes.is_empty() && t.bytes.iter().all(|b| b.is_ascii_punctuation());
        if starts_word && !is_punct_only {
            let start = start_of(t).max(out.last().map(|w| w.1).unwrap_or(0));
            out.push((t.bytes.clone(), start, t.end, vec![t.p]));
        } else if let Some(last) = out.last_mut() {
            last.0.extend_from_slice(&t.bytes);
            last.2 = t.end.max(last.2);
            last.3.push(t.p);
        }
    }
    let starts: Vec<usize> = out.iter().map(|w| w.1).collect();
    out.into_iter()
        .enumerate()
        .filter_map(|(i, (bytes, start, _, ps))| {
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            let end = starts.get(i + 1).copied().unwrap_or(segment_end).max(start);
            (!text.is_empty()).then(|| RawWord { text, start, end, probability: ps.iter().sum::<f32>() / ps.len() as f32 })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(s: &[u8], start: usize) -> RawToken {
        RawToken { bytes: s.to_vec(), start, end: start + 100, dtw: None, p: 0.5, plog: -0.7 }
    }

    #[test]
    fn repetition_loops_compress_too_well_and_speech_does_not() {
        let p = DecodeParams::default();
        for speech in [
            "Keep the torch angle steep and the stick out short.",
            "The arc sounds steady and smooth, so the voltage is right.",
            "전류는 이백 암페어로 맞추고 토치 각도를 유지하세요.",
            "Porosity.",
        ] {
            assert!(compression_ratio(speech) < p.max_compression_ratio, "{speech}: {}", compression_ratio(speech));
            assert!(!is_hallucination(speech, 0.1, -0.3, &p), "{speech}");
        }
        let looped = "I don't know what to do, ".repeat(20);
        assert!(compression_ratio(&looped) > 5.0, "{}", compression_ratio(&looped));
        assert!(is_hallucination(&looped, 0.0, -0.1, &p));
        assert_eq!(compression_ratio(""), 0.0);
    }

    #[test]
    fn sound_descriptions_are_not_speech() {
        for t in ["", "[", "[BLANK_AUDIO]", "(crackling)", " . ", "[Music] (applause)", "*sigh*"] {
            assert!(is_annotation(t), "{t:?}");
        }
        for t in ["Keyhole.", "[noise] undercut", "키홀", "15"] {
            assert!(!is_annotation(t), "{t:?}");
        }
    }

    #[test]
    fn tokens_join_into_words() {
        let toks = [tok(b" The", 0), tok(b" key", 200), tok(b"hole", 300), tok(b",", 400), tok(b" is", 500)];
        let w = words(&toks, 600);
        let texts: Vec<&str> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(texts, ["The", "keyhole,", "is"]);
        assert_eq!((w[1].start, w[1].end), (200, 500));
        // "키홀" split mid-syllable across tokens.
        let k = "키홀".as_bytes();
        let w = words(&[tok(&[b' ', k[0], k[1]], 0), tok(&k[2..], 100)], 200);
        assert_eq!(w[0].text, "키홀");
    }
}
