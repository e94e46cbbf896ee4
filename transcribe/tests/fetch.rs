//! `tacit model fetch` against a real HTTP server on loopback: the happy
//! path, a wrong checksum, a 404, a transfer that breaks off, a page that is
//! not a model, and no server at all. Nothing is installed unless all checks
//! pass.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;

use sha1::{Digest, Sha1};
use tacit_schema::NoProgress;
use tacit_transcribe::fetch::{fetch, FetchRequest};

/// How the server answers one path.
#[derive(Clone)]
struct Answer {
    status: u16,
    body: Vec<u8>,
    /// Content-Length to declare (may lie: a transfer that breaks off).
    declared: usize,
}

/// Serves `answers` (path → answer) on 127.0.0.1 until the test ends.
fn serve(answers: Vec<(&'static str, Answer)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::Builder::new()
        .name("http-test".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // Skip the headers.
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let answer = answers.iter().find(|(p, _)| *p == path).map(|(_, a)| a.clone()).unwrap_or(Answer {
                    status: 404,
                    body: b"not here".to_vec(),
                    declared: 8,
                });
                let reason = if answer.status == 200 { "OK" } else { "Not Found" };
                let head =
                    format!("HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", answer.status, answer.declared);
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&answer.body);
                let _ = stream.flush();
            }
        })
        .unwrap();
    format!("http://{addr}/models")
}

/// A small but valid ggml Whisper header followed by filler.
fn fake_model() -> Vec<u8> {
    let mut b = Vec::new();
    for v in [0x6767_6d6cu32, 51_864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend((0..200_000u32).map(|i| (i % 251) as u8));
    b
}

fn sha1_hex(b: &[u8]) -> String {
    Sha1::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

fn ok(body: Vec<u8>) -> Answer {
    Answer { status: 200, declared: body.len(), body }
}

fn request(mirror: &str, name: &str, sha1: Option<String>, dir: &Path) -> FetchRequest {
    FetchRequest { name: name.into(), mirror: mirror.into(), sha1, dir: dir.to_path_buf(), force: false }
}

fn leftovers(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(r) => r.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn a_model_is_downloaded_checked_and_installed() {
    let model = fake_model();
    let mirror = serve(vec![("/models/ggml-tiny.en.bin", ok(model.clone()))]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("models");
    let report = fetch(&request(&mirror, "tiny.en", Some(sha1_hex(&model)), &dir), &NoProgress).unwrap();
    assert!(!report.already_installed);
    assert_eq!(report.downloaded, model.len() as u64);
    assert_eq!(std::fs::read(dir.join("ggml-tiny.en.bin")).unwrap(), model);
    let listed = tacit_transcribe::models::list(&dir).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, "tiny.en");
    assert_eq!(listed[0].source.as_deref(), Some(format!("{mirror}/ggml-tiny.en.bin").as_str()));
    assert!(!dir.join("ggml-tiny.en.bin.part").exists());

    // A second fetch finds it installed and downloads nothing.
    let again = fetch(&request(&mirror, "tiny.en", Some(sha1_hex(&model)), &dir), &NoProgress).unwrap();
    assert!(again.already_installed);
    assert_eq!(again.downloaded, 0);
}

#[test]
fn a_file_that_is_not_the_published_one_is_refused() {
    // Without --sha1 the published SHA-1 of ggml-tiny.en.bin applies; the
    // server sends something else.
    let mirror = serve(vec![("/models/ggml-tiny.en.bin", ok(fake_model()))]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("models");
    let err = fetch(&request(&mirror, "tiny.en", None, &dir), &NoProgress).unwrap_err().to_string();
    assert!(err.contains("not the published c78c86eb1a8faa21b369bcd33207cc90d64ae9df"), "{err}");
    assert!(err.contains("nothing was installed"), "{err}");
    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
}

#[test]
fn missing_broken_and_wrong_downloads_leave_nothing_behind() {
    let model = fake_model();
    let mut cut = ok(model[..50_000].to_vec());
    cut.declared = model.len();
    let page = b"<html>sign in to continue</html>".to_vec();
    let mirror = serve(vec![("/models/ggml-base.bin", cut), ("/models/ggml-small.bin", ok(page.clone()))]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("models");

    let err = fetch(&request(&mirror, "base", Some(sha1_hex(&model)), &dir), &NoProgress).unwrap_err().to_string();
    assert!(err.contains("broke off after 50000 of 200048 bytes"), "{err}");

    let err = fetch(&request(&mirror, "medium", None, &dir), &NoProgress).unwrap_err().to_string();
    assert!(err.contains("answered 404"), "{err}");

    let err = fetch(&request(&mirror, "small", Some(sha1_hex(&page)), &dir), &NoProgress).unwrap_err().to_string();
    assert!(err.contains("is not a ggml Whisper model"), "{err}");

    let err = fetch(&request(&mirror, "tiny-custom", None, &dir), &NoProgress).unwrap_err().to_string();
    assert!(err.contains("no published checksum") && err.contains("base.en"), "{err}");

    let err = fetch(&request(&mirror, "../evil", None, &dir), &NoProgress).unwrap_err().to_string();
    assert!(err.contains("is not a model name"), "{err}");

    assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
}

#[test]
fn offline_gives_a_message_that_says_what_to_do() {
    // A port nobody listens on: bind, note it, close.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("models");
    let err = fetch(&request(&format!("http://127.0.0.1:{port}"), "tiny.en", None, &dir), &NoProgress).unwrap_err().to_string();
    assert!(err.contains("cannot download"), "{err}");
    assert!(err.contains("offline") && err.contains("tacit model import"), "{err}");
    assert!(leftovers(&dir).is_empty());
}

#[test]
fn a_different_installed_model_is_kept_without_force() {
    let model = fake_model();
    let mirror = serve(vec![("/models/ggml-base.bin", ok(model.clone()))]);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("models");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ggml-base.bin"), b"mine").unwrap();
    let err = fetch(&request(&mirror, "base", Some(sha1_hex(&model)), &dir), &NoProgress).unwrap_err().to_string();
    assert!(err.contains("pass --force"), "{err}");
    assert_eq!(std::fs::read(dir.join("ggml-base.bin")).unwrap(), b"mine");
    let mut req = request(&mirror, "base", Some(sha1_hex(&model)), &dir);
    req.force = true;
    fetch(&req, &NoProgress).unwrap();
    assert_eq!(std::fs::read(dir.join("ggml-base.bin")).unwrap(), model);
}
