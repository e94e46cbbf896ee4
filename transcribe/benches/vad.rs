//! Voice-activity detectors on noisy workshop speech: tacit's own detector
//! against WebRTC's (the `webrtc-vad` crate, all four modes), both turned into
//! regions by the same smoothing, merging and padding.
//!
//! Audio: the espeak-ng commentary (`fixture::COMMENTARY`) in welding-like
//! noise at several SNRs, and a 10-minute session with that minute of speech
//! at 5:00. Reported per detector: share of speech kept (what whisper gets
//! to hear), phrases missed (under half kept), non-speech kept (seconds
//! whisper decodes for nothing, where phantom text comes from) and time.
//!
//! `cargo bench -p tacit-transcribe --bench vad` (needs espeak-ng).

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Instant;

use tacit_transcribe::fixture::{self, Placed, COMMENTARY};
use tacit_transcribe::vad::{self, Region, VadParams};
use webrtc_vad::{SampleRate, Vad, VadMode};

const RATE: usize = 16_000;

struct Score {
    kept_speech: f64,
    missed_phrases: usize,
    kept_noise_s: f64,
    ms_per_min: f64,
}

fn score(regions: &[Region], placed: &[Placed], n: usize, elapsed_s: f64) -> Score {
    let mut in_region = vec![false; n];
    for r in regions {
        in_region[r.start..r.end.min(n)].iter_mut().for_each(|x| *x = true);
    }
    let mut is_speech = vec![false; n];
    let (mut speech, mut kept, mut missed) = (0usize, 0usize, 0usize);
    for p in placed {
        let k = in_region[p.start..p.end].iter().filter(|x| **x).count();
        is_speech[p.start..p.end].iter_mut().for_each(|x| *x = true);
        speech += p.end - p.start;
        kept += k;
        if k * 2 < p.end - p.start {
            missed += 1;
        }
    }
    // Padding (0.3 s) around each phrase is expected, not noise.
    let pad = RATE * 3 / 10;
    let mut near = is_speech.clone();
    for p in placed {
        near[p.start.saturating_sub(pad)..(p.end + pad).min(n)].iter_mut().for_each(|x| *x = true);
    }
    let noise_kept = in_region.iter().zip(&near).filter(|(r, s)| **r && !**s).count();
    Score {
        kept_speech: kept as f64 / speech.max(1) as f64,
        missed_phrases: missed,
        kept_noise_s: noise_kept as f64 / RATE as f64,
        ms_per_min: elapsed_s * 1000.0 / (n as f64 / RATE as f64 / 60.0),
    }
}

fn webrtc_frames(samples: &[f32], mode: VadMode, frame: usize) -> Vec<bool> {
    let mut v = Vad::new_with_rate_and_mode(SampleRate::Rate16kHz, mode);
    samples
        .chunks_exact(frame)
        .map(|c| {
            let pcm: Vec<i16> = c.iter().map(|x| (x.clamp(-1.0, 1.0) * 32767.0) as i16).collect();
            v.is_voice_segment(&pcm).unwrap_or(false)
        })
        .collect()
}

fn mode_of(i: usize) -> (VadMode, &'static str) {
    match i {
        0 => (VadMode::Quality, "webrtc quality"),
        1 => (VadMode::LowBitrate, "webrtc low-bitrate"),
        2 => (VadMode::Aggressive, "webrtc aggressive"),
        _ => (VadMode::VeryAggressive, "webrtc very aggressive"),
    }
}

fn run(label: &str, audio: &[f32], placed: &[Placed]) {
    let p = VadParams::default();
    let frame = RATE * p.frame_ms as usize / 1000;
    let t = Instant::now();
    let ours = vad::detect(audio, &p);
    let s = score(&ours, placed, audio.len(), t.elapsed().as_secs_f64());
    row(label, "tacit", &s);
    for i in 0..4 {
        let (mode, name) = mode_of(i);
        let t = Instant::now();
        let flags = webrtc_frames(audio, mode, frame);
        let regions = vad::regions_from_frames(&flags, frame, audio.len(), &p);
        let s = score(&regions, placed, audio.len(), t.elapsed().as_secs_f64());
        row(label, name, &s);
    }
}

fn row(label: &str, detector: &str, s: &Score) {
    println!(
        "| {label} | {detector} | {:.1} % | {} | {:.1} s | {:.1} ms |",
        s.kept_speech * 100.0,
        s.missed_phrases,
        s.kept_noise_s,
        s.ms_per_min
    );
}

fn main() {
    let (speech, placed) = fixture::lay_out(COMMENTARY, "en-us", 1.0, 1.5, 1.0).unwrap();
    println!("| audio | detector | speech kept | phrases missed (of {}) | non-speech kept | time per audio minute |", placed.len());
    println!("|---|---|---|---|---|---|");
    run("commentary, clean", &speech, &placed);
    let noise = fixture::welding_noise(speech.len(), 7);
    for snr in [20.0, 10.0, 5.0, 0.0] {
        run(&format!("commentary, {snr} dB"), &fixture::mix(&speech, &placed, &noise, snr), &placed);
    }
    // Ten minutes of arc noise with the commentary at 5:00, 15 dB.
    let n = RATE * 600;
    let at = RATE * 300;
    let mut long = vec![0.0f32; n];
    long[at..at + speech.len()].copy_from_slice(&speech);
    let moved: Vec<Placed> = placed.iter().map(|p| Placed { text: p.text.clone(), start: p.start + at, end: p.end + at }).collect();
    let long = fixture::mix(&long, &moved, &fixture::welding_noise(n, 11), 15.0);
    run("10-min session, 15 dB", &long, &moved);
}
