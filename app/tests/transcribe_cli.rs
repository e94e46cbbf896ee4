//! Record spoken commentary through a `file:` microphone, then `tacit model
//! import` and `tacit transcribe`: the words come back in session time.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use tacit_transcribe::fixture::{self, COMMENTARY};

mod common;

use common::{ok, record, tacit};

fn ct2_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/models/tiny.en-ct2");
    assert!(dir.join("model.bin").is_file(), "run scripts/setup first (it fetches the test model)");
    dir
}

#[test]
fn recorded_commentary_is_transcribed_in_session_time() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let phrases = &COMMENTARY[..5];
    let (speech, placed) = fixture::lay_out(phrases, "en-us", 1.0, 1.5, 1.0).unwrap();
    let wav = tmp.path().join("commentary.wav");
    fixture::write_wav(&wav, &speech).unwrap();

    ok(tacit().args(["init", "--library"]).arg(&lib).output().unwrap());
    let imported = ok(tacit().args(["model", "import"]).arg(ct2_dir()).arg("--library").arg(&lib).output().unwrap());
    assert!(imported.contains("ggml-tiny.en.bin") && imported.contains("77704715 bytes"), "{imported}");
    let list = ok(tacit().args(["model", "list", "--json", "--library"]).arg(&lib).output().unwrap());
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["name"], "tiny.en");
    assert_eq!(list[0]["languages"], "en");

    let demo = std::fs::read_to_string(lib.join("stations/demo.toml")).unwrap();
    let mic_at = demo.find("[microphone]").unwrap();
    let dev_at = mic_at + demo[mic_at..].find("device = \"synthetic\"").unwrap();
    let profile = format!("{}device = \"file:{}\"{}", &demo[..dev_at], wav.display(), &demo[dev_at + "device = \"synthetic\"".len()..])
        .replace("language = \"ko\"", "language = \"en\"");
    let profile_path = tmp.path().join("speech.toml");
    std::fs::write(&profile_path, profile).unwrap();
    let seconds = speech.len() as f64 / 16_000.0 + 0.5;
    ok(record(
        &lib,
        &profile_path,
        &["--quiet", "--operator", "op-3", "--task", "root pass commentary", "--duration", &format!("{seconds:.1}")],
    )
    .stdin(Stdio::null())
    .output()
    .unwrap());
    let sessions: Value = serde_json::from_str(&ok(tacit().args(["sessions", "--json", "--library"]).arg(&lib).output().unwrap())).unwrap();
    let id = sessions[0]["id"].as_str().unwrap().to_string();

    let out: Value =
        serde_json::from_str(&ok(tacit().args(["transcribe", &id, "--json", "--library"]).arg(&lib).output().unwrap())).unwrap();
    assert!(out["words"].as_u64().unwrap() > 20, "{out}");
    assert_eq!(out["language"], "en");

    let m: Value = serde_json::from_str(&ok(tacit().args(["inspect", &id, "--json", "--library"]).arg(&lib).output().unwrap())).unwrap();
    assert_eq!(m["transcribed"], true);
    assert_eq!(m["transcript"]["model"], "tiny.en");
    assert_eq!(m["transcript"]["model_sha256"].as_str().unwrap().len(), 64);
    let dir = PathBuf::from(m["path"].as_str().unwrap());
    let audio = m["streams"].as_array().unwrap().iter().find(|s| s["kind"] == "audio").unwrap().clone();
    let mic_t0 = audio["first_t_ns"].as_i64().unwrap();

    let segments = tacit_transcribe::transcript::read(&dir.join("transcript.parquet")).unwrap();
    let reference: Vec<String> = phrases.iter().flat_map(|p| fixture::normalize(p)).collect();
    let hyp: Vec<String> = segments.iter().flat_map(|s| fixture::normalize(&s.text)).collect();
    let wer = fixture::wer(&reference, &hyp);
    eprintln!("recorded session WER {:.1} %: {}", wer * 100.0, hyp.join(" "));
    assert!(wer <= 0.2, "WER {:.1} %", wer * 100.0);

    // "Keyhole." was spoken alone: in session time it starts at the microphone's
    // first sample time plus its place in the file.
    let keyhole = &placed[1];
    let spoken_ns = mic_t0 + keyhole.start as i64 * 62_500;
    let word = segments
        .iter()
        .flat_map(|s| &s.words)
        .find(|w| w.word.to_lowercase().starts_with("keyhole") && (w.start_ns - spoken_ns).abs() < 3_000_000_000)
        .expect("keyhole transcribed");
    let off_s = (word.start_ns - spoken_ns) as f64 / 1e9;
    eprintln!(
        "'Keyhole' at {:.3} s of session time, spoken at {:.3} s ({off_s:+.3} s)",
        word.start_ns as f64 / 1e9,
        spoken_ns as f64 / 1e9
    );
    assert!(off_s.abs() <= 0.5);
    for s in &segments {
        assert!(s.start_ns >= mic_t0 && s.end_ns <= m["duration_ns"].as_i64().unwrap() + 500_000_000, "{s:?}");
    }

    // A bad model is refused, and the transcript already there is kept.
    let bad = tacit().args(["transcribe", &id, "--model", "/nonexistent/ggml.bin", "--library"]).arg(&lib).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no model"), "{}", String::from_utf8_lossy(&bad.stderr));
    assert_eq!(tacit_transcribe::transcript::read(&dir.join("transcript.parquet")).unwrap(), segments);
}

#[test]
fn model_fetch_lists_what_it_knows_and_explains_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let listing = ok(tacit().args(["model", "fetch"]).output().unwrap());
    assert!(listing.contains("tiny.en") && listing.contains("c78c86eb1a8faa21b369bcd33207cc90d64ae9df"), "{listing}");
    assert!(listing.contains("large-v3"), "{listing}");

    // No server on this loopback port: the message says what to do instead.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = tacit()
        .args(["model", "fetch", "base", "--library"])
        .arg(&lib)
        .env("TACIT_MODEL_MIRROR", format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("looks offline") && err.contains("tacit model import"), "{err}");
    assert!(!lib.join("models/ggml-base.bin").exists() && !lib.join("models/ggml-base.bin.part").exists());
}
