//! Real speech through VAD and Whisper (tiny.en converted from the PyPI
//! package by our importer): espeak-ng speaks a welding commentary at known
//! times; we score the words (WER) and check each word's time, clean and with
//! welding noise, and that ten minutes of arc noise produce no text.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tacit_schema::NoProgress;
use tacit_transcribe::ct2::{Ct2Model, DType, Variable};
use tacit_transcribe::engine::{DecodeParams, Engine};
use tacit_transcribe::fixture::{self, Placed, COMMENTARY};
use tacit_transcribe::import::read_model;
use tacit_transcribe::session::{decode_regions, TimedSegment};
use tacit_transcribe::vad::{self, VadParams};

/// Whisper runs one at a time: two decoders on two cores ran 3–4× slower.
static WHISPER: Mutex<()> = Mutex::new(());

/// tiny.en in ggml, converted once into .cache/models.
pub fn tiny_en() -> PathBuf {
    static ONCE: Mutex<()> = Mutex::new(());
    let _g = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/models");
    let out = root.join("ggml-tiny.en.bin");
    if !out.is_file() {
        let src = root.join("tiny.en-ct2");
        assert!(src.join("model.bin").is_file(), "run scripts/setup: it fetches the test model into {}", src.display());
        tacit_transcribe::import(&src, &out).unwrap();
    }
    out
}

fn decode(samples: &[f32]) -> (Vec<TimedSegment>, Vec<vad::Region>) {
    let _one = WHISPER.lock().unwrap_or_else(|e| e.into_inner());
    let engine = Engine::load(&tiny_en(), false).unwrap();
    let regions = vad::detect(samples, &VadParams::default());
    let params = DecodeParams {
        language: "en".into(),
        threads: 2,
        initial_prompt: "keyhole, undercut, porosity, root pass, spatter.".into(),
        ..DecodeParams::default()
    };
    let (segs, lang) = decode_regions(&engine, samples, &regions, &params, &NoProgress).unwrap();
    assert_eq!(lang, "en");
    (segs, regions)
}

fn score(segs: &[TimedSegment], placed: &[Placed], label: &str) -> f64 {
    let reference: Vec<String> = placed.iter().flat_map(|p| fixture::normalize(&p.text)).collect();
    let hyp: Vec<String> = segs.iter().flat_map(|s| fixture::normalize(&s.text)).collect();
    let wer = fixture::wer(&reference, &hyp);
    eprintln!("{label}: WER {:.1} % ({} reference words)\n  hyp: {}", wer * 100.0, reference.len(), hyp.join(" "));
    wer
}

/// Every recognised word that belongs to a phrase starts within 0.5 s of
/// that phrase's span; one-word phrases start within 0.5 s of their onset.
fn check_word_times(segs: &[TimedSegment], placed: &[Placed], label: &str) {
    let tol = 8_000; // 0.5 s at 16 kHz
    let mut checked = 0;
    let mut worst = 0i64;
    for p in placed {
        let words = fixture::normalize(&p.text);
        for (seg, w) in segs.iter().flat_map(|s| s.words.iter().map(move |w| (s, w))) {
            let norm = fixture::normalize(&w.text);
            let Some(n) = norm.first() else { continue };
            if !words.contains(n) || w.start + tol < p.start || w.start > p.end + tol {
                continue;
            }
            if words.len() == 1 {
                let off = w.start as i64 - p.start as i64;
                eprintln!(
                    "  {:?}: word at {:.2} s, segment at {:.2} s, onset {:.2} s, off {:+.2} s",
                    p.text,
                    w.start as f64 / 16e3,
                    seg.start as f64 / 16e3,
                    p.start as f64 / 16e3,
                    off as f64 / 16e3
                );
                worst = worst.max(off.abs());
                assert!(off.abs() <= tol as i64, "{label}: {:?} starts {:.2} s from its onset", p.text, off as f64 / 16_000.0);
            }
            checked += 1;
        }
    }
    for s in segs {
        for w in &s.words {
            let inside = placed.iter().any(|p| w.start + tol >= p.start && w.start <= p.end + tol);
            assert!(inside, "{label}: word {:?} at {:.2} s is outside every phrase", w.text, w.start as f64 / 16_000.0);
        }
    }
    eprintln!("{label}: {checked} words inside their phrases; one-word phrases off by at most {:.2} s", worst as f64 / 16_000.0);
    assert!(checked > 50, "{label}: only {checked} words matched");
}

#[test]
fn commentary_clean_and_in_welding_noise() {
    let (speech, placed) = fixture::lay_out(COMMENTARY, "en-us", 1.0, 1.5, 1.0).unwrap();
    eprintln!("commentary: {:.1} s", speech.len() as f64 / 16_000.0);
    let (segs, _) = decode(&speech);
    let clean = score(&segs, &placed, "clean");
    check_word_times(&segs, &placed, "clean");
    assert!(clean <= 0.10, "clean WER {:.1} %", clean * 100.0);

    let noise = fixture::welding_noise(speech.len(), 11);
    let noisy_audio = fixture::mix(&speech, &placed, &noise, 15.0);
    let (segs, _) = decode(&noisy_audio);
    let noisy = score(&segs, &placed, "noisy (15 dB SNR)");
    check_word_times(&segs, &placed, "noisy");
    assert!(noisy <= 0.30, "noisy WER {:.1} %", noisy * 100.0);
}

#[test]
fn ten_minutes_of_arc_noise_with_one_minute_of_speech_has_no_phantom_text() {
    let (speech, placed) = fixture::lay_out(COMMENTARY, "en-us", 0.0, 1.5, 0.0).unwrap();
    let total = 600 * 16_000;
    let at = 300 * 16_000; // speech in the middle
    let mut audio = vec![0.0; total];
    audio[at..at + speech.len()].copy_from_slice(&speech);
    let shifted: Vec<Placed> = placed.iter().map(|p| Placed { text: p.text.clone(), start: p.start + at, end: p.end + at }).collect();
    let noise = fixture::welding_noise(total, 5);
    let mixed = fixture::mix(&audio, &shifted, &noise, 10.0);
    let started = std::time::Instant::now();
    let (segs, regions) = decode(&mixed);
    let speech_s: f64 = regions.iter().map(|r| (r.end - r.start) as f64 / 16_000.0).sum();
    eprintln!("VAD kept {speech_s:.1} s of 600 s in {} regions; decoded in {:.1} s", regions.len(), started.elapsed().as_secs_f64());
    let (lo, hi) = (at.saturating_sub(16_000), at + speech.len() + 16_000);
    for s in &segs {
        assert!(
            s.start >= lo && s.end <= hi,
            "phantom text {:?} at {:.1}–{:.1} s",
            s.text,
            s.start as f64 / 16_000.0,
            s.end as f64 / 16_000.0
        );
    }
    score(&segs, &shifted, "speech inside 10 min of noise");
    assert!(speech_s < 120.0, "VAD passed {speech_s:.0} s of 600 s");
}

#[test]
fn q8_0_weights_transcribe_as_well_and_are_smaller() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/models");
    let q8 = root.join("ggml-tiny.en-q8_0.bin");
    {
        let _g = WHISPER.lock().unwrap_or_else(|e| e.into_inner());
        if !q8.is_file() {
            tacit_transcribe::import::import_as(&root.join("tiny.en-ct2"), &q8, tacit_transcribe::import::WeightType::Q8_0).unwrap();
        }
    }
    let f16_bytes = std::fs::metadata(tiny_en()).unwrap().len();
    let q8_bytes = std::fs::metadata(&q8).unwrap().len();
    eprintln!("q8_0: {q8_bytes} bytes (f16 {f16_bytes})");
    assert!(q8_bytes < f16_bytes * 2 / 3);
    let wer = clean_wer(&q8, "q8_0 clean");
    assert!(wer <= 0.10, "q8_0 WER {:.1} %", wer * 100.0);
}

/// WER of a ggml model on the clean commentary.
fn clean_wer(model: &Path, label: &str) -> f64 {
    let (speech, placed) = fixture::lay_out(COMMENTARY, "en-us", 1.0, 1.5, 1.0).unwrap();
    let _one = WHISPER.lock().unwrap_or_else(|e| e.into_inner());
    let engine = Engine::load(model, false).unwrap();
    let regions = vad::detect(&speech, &VadParams::default());
    let params = DecodeParams {
        language: "en".into(),
        threads: 2,
        initial_prompt: "keyhole, undercut, porosity, root pass, spatter.".into(),
        ..DecodeParams::default()
    };
    let (segs, _) = decode_regions(&engine, &speech, &regions, &params, &NoProgress).unwrap();
    score(&segs, &placed, label)
}

/// CTranslate2's own quantization of a float model: int8 with one scale per
/// output row (`scale = 127 / max|row|`), or int16 with one scale per tensor
/// (`scale = 2^10 / max|w|`), on every 2-D `…/weight`; `q = round(w · scale)`.
fn quantize_like_ctranslate2(model: &mut Ct2Model, int16: bool) {
    let names: Vec<String> =
        model.variables.iter().filter(|(n, v)| n.ends_with("/weight") && v.dims.len() == 2).map(|(n, _)| n.clone()).collect();
    for name in names {
        let (w, _) = model.weights_f32(&name).unwrap();
        let v = model.variables.get_mut(&name).unwrap();
        let rows = v.dims[0];
        let cols = w.len() / rows;
        let (data, scale, dtype, scale_dims) = if int16 {
            let amax = w.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
            let scale = 1024.0 / amax;
            let data: Vec<u8> = w.iter().flat_map(|x| ((x * scale).round().clamp(-32768.0, 32767.0) as i16).to_le_bytes()).collect();
            (data, vec![scale], DType::I16, vec![])
        } else {
            let mut data = Vec::with_capacity(w.len());
            let mut scales = Vec::with_capacity(rows);
            for row in w.chunks_exact(cols) {
                let amax = row.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
                let scale = 127.0 / amax;
                data.extend(row.iter().map(|x| ((x * scale).round().clamp(-127.0, 127.0) as i8) as u8));
                scales.push(scale);
            }
            (data, scales, DType::I8, vec![rows])
        };
        v.data = data;
        v.dtype = dtype;
        let scale_bytes: Vec<u8> = scale.iter().flat_map(|s| s.to_le_bytes()).collect();
        model.variables.insert(format!("{name}_scale"), Variable { dims: scale_dims, dtype: DType::F32, data: scale_bytes });
    }
    // The tied output projection shares the embedding's scale too.
    if model.aliases.contains_key("decoder/projection/weight") {
        model.aliases.insert("decoder/projection/weight_scale".into(), "decoder/embeddings/weight_scale".into());
    }
}

#[test]
fn int8_and_int16_models_are_dequantized_with_a_warning_and_still_transcribe() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/models/tiny.en-ct2");
    for (int16, label, bound) in [(false, "int8", 0.10), (true, "int16", 0.10)] {
        let tmp = tempfile::tempdir().unwrap();
        let mut model = read_model(&src).unwrap();
        quantize_like_ctranslate2(&mut model, int16);
        for f in ["config.json", "tokenizer.json", "vocabulary.txt"] {
            std::fs::copy(src.join(f), tmp.path().join(f)).unwrap();
        }
        std::fs::write(tmp.path().join("model.bin"), model.to_bytes()).unwrap();
        let out = tmp.path().join("ggml-dequantized.bin");
        let report = tacit_transcribe::import(tmp.path(), &out).unwrap();
        assert!(report.dequantized, "{label}: the import must say it was lossy");
        assert_eq!(report.bytes, 77_704_715, "{label}: dequantized to f16, the official layout");
        let wer = clean_wer(&out, &format!("{label} → f16"));
        assert!(wer <= bound, "{label} WER {:.1} %", wer * 100.0);
    }
}

/// "two hundred amps" as a welder says it comes out as "200 A", its words
/// timed where they were spoken; with the step off, as Whisper wrote it.
#[test]
fn spoken_numbers_come_out_as_digits_with_units() {
    let phrases = ["Set the current to two hundred amps.", "The root gap is three millimeters."];
    let (audio, placed) = fixture::lay_out(&phrases, "en-us", 1.0, 1.5, 1.0).unwrap();
    let _one = WHISPER.lock().unwrap_or_else(|e| e.into_inner());
    let engine = Engine::load(&tiny_en(), false).unwrap();
    let regions = vad::detect(&audio, &VadParams::default());
    let run = |numbers_as_digits: bool| {
        let params = DecodeParams { language: "en".into(), threads: 2, numbers_as_digits, ..DecodeParams::default() };
        decode_regions(&engine, &audio, &regions, &params, &NoProgress).unwrap().0
    };
    let text = |segs: &[TimedSegment]| segs.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ");
    let raw = run(false);
    let written = run(true);
    eprintln!("as whisper wrote it: {:?}\nwith numbers: {:?}", text(&raw), text(&written));
    assert!(text(&written).contains("200 A") && text(&written).contains("3 mm"), "{:?}", text(&written));
    assert!(!text(&raw).contains(" A") && !text(&raw).contains(" mm"), "{:?}", text(&raw));
    let words: Vec<_> = written.iter().flat_map(|s| &s.words).collect();
    let at = |w: &str| words.iter().position(|x| x.text.trim_end_matches('.') == w).unwrap_or_else(|| panic!("no word {w:?} in {words:?}"));
    let (n, a) = (at("200"), at("A"));
    assert_eq!(a, n + 1, "the number and its unit stay two words");
    for (i, p) in [(n, &placed[0]), (a, &placed[0]), (at("mm"), &placed[1])] {
        assert!(words[i].start >= p.start.saturating_sub(8_000) && words[i].end <= p.end + 8_000, "{:?} outside {p:?}", words[i]);
    }
}
