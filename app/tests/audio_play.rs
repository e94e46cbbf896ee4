//! Review's sound through the real cpal ALSA backend: `tacit play` (the
//! player Review uses) writes into an ALSA PCM defined in a test asoundrc
//! (the `file` plugin over `null`, which records what it is given), and what
//! reached the device must be the session's WAV from the asked time on.

#![allow(clippy::unwrap_used)]

mod common;

use common::{library_with, ok, tacit};

fn i16s(bytes: &[u8]) -> Vec<i16> {
    bytes.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]])).collect()
}

#[test]
fn play_sends_the_wav_from_the_playhead_to_the_alsa_device() {
    let (tmp, lib) = library_with(&[("op-01", "play", "3")]);
    let session_dir = std::fs::read_dir(lib.join("sessions")).unwrap().next().unwrap().unwrap().path();
    let session = session_dir.file_name().unwrap().to_string_lossy().to_string();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let raw = tmp.path().join("out.raw");
    std::fs::write(
        home.join(".asoundrc"),
        format!("pcm.tacit_out {{\n  type file\n  slave.pcm \"null\"\n  file \"{}\"\n  format \"raw\"\n}}\n", raw.display()),
    )
    .unwrap();
    let out = tacit()
        .args(["play", &session, "--from", "1.0", "--device", "tacit_out", "--library"])
        .arg(&lib)
        .env("HOME", &home)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    ok(out);
    assert!(log.contains("tacit_out"), "{log}");

    // The WAV from 1.0 s (16 kHz mono, sample index = session time).
    let mut wav = hound::WavReader::open(session_dir.join("mic-lapel.wav")).unwrap();
    let rate = wav.spec().sample_rate as usize;
    let all: Vec<i16> = wav.samples::<i16>().map(Result::unwrap).collect();
    let expected: Vec<i16> = all[rate..].iter().copied().filter(|&s| s != 0).collect();
    // The device got the samples in order; an unpaced null device may also
    // have been handed silence while the feeder caught up.
    let played: Vec<i16> = i16s(&std::fs::read(&raw).unwrap()).into_iter().filter(|&s| s != 0).collect();
    assert!(played.len() > rate, "only {} samples reached the device", played.len());
    assert!(played.len() <= expected.len());
    assert_eq!(played[..], expected[..played.len()], "the device did not get the WAV from 1.0 s");
    // Not the start of the file.
    let from_zero: Vec<i16> = all.iter().copied().filter(|&s| s != 0).take(64).collect();
    assert_ne!(played[..64], from_zero[..]);
}
