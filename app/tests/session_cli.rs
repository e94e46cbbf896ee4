//! What every command does with a session it must not use: one written by
//! an unknown tacit (format version), or one interrupted mid-recording.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::process::Output;

mod common;

use common::{library_with, tacit};

fn run(lib: &Path, args: &[&str]) -> Output {
    tacit().args(args).arg("--library").arg(lib).output().unwrap()
}

fn refused(out: &Output, what: &[&str], cmd: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{cmd} accepted it: {}", String::from_utf8_lossy(&out.stdout));
    for w in what {
        assert!(err.contains(w), "{cmd}: {w:?} not in {err}");
    }
}

#[test]
fn a_session_of_an_unknown_format_version_is_refused_by_every_command() {
    let (_tmp, lib) = library_with(&[("op-1", "tack", "1")]);
    let dir = std::fs::read_dir(lib.join("sessions")).unwrap().next().unwrap().unwrap().path();
    let id = dir.file_name().unwrap().to_str().unwrap().to_string();
    let manifest = dir.join("session.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("\"format_version\": 1", "\"format_version\": 7")).unwrap();
    let want = ["format version 7 is not supported", "upgrade tacit", "session.json"];
    let out_dir = lib.join("out");
    let out = out_dir.to_str().unwrap();
    for args in [
        vec!["inspect", &id],
        vec!["transcribe", &id],
        vec!["recover", &id],
        vec!["label", "add", &id, "--tier", "step", "--value", "tack", "--from", "0", "--to", "1"],
        vec!["label", "review", &id],
        vec!["label", "rebuild", &id],
        vec!["export", "--format", "tacit", "--out", out],
    ] {
        refused(&run(&lib, &args), &want, &args.join(" "));
    }
    // Listing goes on, and says what it skipped.
    let listed = run(&lib, &["sessions"]);
    assert!(listed.status.success());
    assert!(String::from_utf8_lossy(&listed.stderr).contains("format version 7"), "{}", String::from_utf8_lossy(&listed.stderr));
    // Nothing was changed or written.
    assert!(std::fs::read_to_string(&manifest).unwrap().contains("\"format_version\": 7"));
    assert!(!dir.join("annotations.json").exists() && !dir.join("transcript.parquet").exists() && !out_dir.exists());
}

#[test]
fn an_interrupted_session_is_refused_until_recovered_with_one_message() {
    let (_tmp, lib) = library_with(&[("op-1", "tack", "1")]);
    let dir = std::fs::read_dir(lib.join("sessions")).unwrap().next().unwrap().unwrap().path();
    let id = dir.file_name().unwrap().to_str().unwrap().to_string();
    // As a recorder that died leaves it: `recording`, nobody holding the lock.
    let manifest = dir.join("session.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("\"status\": \"complete\"", "\"status\": \"recording\"")).unwrap();
    let want = ["was interrupted", "tacit recover"];
    for args in [
        vec!["transcribe", &id],
        vec!["label", "add", &id, "--tier", "step", "--value", "tack", "--from", "0", "--to", "1"],
        vec!["label", "review", &id],
    ] {
        refused(&run(&lib, &args), &want, &args.join(" "));
    }
    assert!(!dir.join("annotations.json").exists());
    let recovered = run(&lib, &["recover", &id]);
    assert!(recovered.status.success(), "{}", String::from_utf8_lossy(&recovered.stderr));
    let reviewed = run(&lib, &["label", "review", &id]);
    assert!(reviewed.status.success(), "{}", String::from_utf8_lossy(&reviewed.stderr));
}
