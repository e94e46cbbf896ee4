//! The real microphone path: cpal's ALSA backend captures from an ALSA PCM
//! defined in a test asoundrc (the `file` plugin reading raw PCM the test made,
//! over the `null` slave), and tacit's audio writer turns it into a WAV.
//!
//! Finding (documented in docs/formats.md): the `file` plugin over `null` is
//! not paced — capture runs as fast as the CPU allows (a FIFO as `infile` does
//! not pace it either: the plugin fills short reads with the slave's zeros).
//! So this test cannot check real-time rates; it checks that every sample
//! cpal delivered lands at its own sample index in the WAV: the writer fills
//! frames it could not take with silence, so the sample index stays the audio
//! clock even under overload.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tacit_capture::clock::SessionClock;
use tacit_capture::source::audio;
use tacit_capture::source::{LiveStats, SourceCtx};
use tacit_capture::writer;
use tacit_schema::MicrophoneProfile;

const RATE: u32 = 16_000;
const FILE_FRAMES: usize = 3 * RATE as usize;

/// Never zero, so silence the writer inserts is told apart from data.
fn pattern(i: usize) -> i16 {
    1 + (i % 30_000) as i16
}

#[test]
fn cpal_captures_alsa_file_pcm_into_wav_sample_exactly() {
    let home = tempfile::tempdir().unwrap();
    let raw = home.path().join("in.raw");
    let bytes: Vec<u8> = (0..FILE_FRAMES).flat_map(|i| pattern(i).to_le_bytes()).collect();
    std::fs::write(&raw, bytes).unwrap();
    let asoundrc = format!(
        "pcm.tacit_test {{\n  type file\n  slave.pcm \"null\"\n  file \"/dev/null\"\n  infile \"{}\"\n  format \"raw\"\n  hint {{ show on description \"tacit test input\" }}\n}}\n",
        raw.display()
    );
    std::fs::write(home.path().join(".asoundrc"), asoundrc).unwrap();
    // alsa-lib reads ~/.asoundrc; this test binary runs alone in its process.
    std::env::set_var("HOME", home.path());

    let session = tempfile::tempdir().unwrap();
    let stats = LiveStats::new();
    let stop = Arc::new(AtomicBool::new(false));
    let (events_tx, _events_rx) = crossbeam_channel::bounded(1024);
    let ctx =
        SourceCtx { name: "alsa".into(), clock: SessionClock::start_now(), stop: stop.clone(), stats: stats.clone(), events: events_tx };
    let profile = MicrophoneProfile { name: "alsa".into(), device: "tacit_test".into(), rate_hz: RATE, channels: 1, offset_ms: 0.0 };
    let (tx, rx) = crossbeam_channel::bounded(512);
    let (format, mic) = audio::start(&profile, ctx, 0, tx).expect("cpal opens the ALSA test PCM");
    assert_eq!(format.rate_hz, RATE);
    assert_eq!(format.channels, 1);
    let dir = session.path().to_path_buf();
    let writer = std::thread::Builder::new()
        .name("write-mic-alsa".into())
        .spawn(move || writer::write_audio(&dir, "alsa", RATE, 1, rx, None))
        .unwrap();

    // Unpaced: stop once the whole file went through (or after 5 s).
    let started = Instant::now();
    while stats.captured.load(Ordering::Relaxed) + stats.drops.load(Ordering::Relaxed) < FILE_FRAMES as u64
        && started.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::Relaxed);
    mic.join().unwrap();
    let out = writer.join().unwrap();
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(out.tally.count >= FILE_FRAMES as u64, "only {} frames reached the WAV", out.tally.count);

    let mut reader = hound::WavReader::open(session.path().join("mic-alsa.wav")).unwrap();
    assert_eq!(reader.spec().sample_rate, RATE);
    let samples: Vec<i16> = reader.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(samples.len() as u64, out.tally.count, "WAV length = frames counted");
    let mut matched = 0usize;
    for (i, s) in samples.iter().take(FILE_FRAMES).enumerate() {
        if *s != 0 {
            assert_eq!(*s, pattern(i), "sample {i} is not where cpal captured it");
            matched += 1;
        }
    }
    // Under overload some blocks are dropped (and filled with silence); most of the file must be there.
    assert!(matched >= FILE_FRAMES / 2, "only {matched} of {FILE_FRAMES} samples captured");
    eprintln!(
        "captured {} frames, dropped {}, matched {matched}/{FILE_FRAMES} in {:?}",
        stats.captured.load(Ordering::Relaxed),
        stats.drops.load(Ordering::Relaxed),
        started.elapsed()
    );

    // The timing anchors read back and cover the WAV.
    let mut rows = 0u64;
    let report = tacit_session::ipc::scan(&session.path().join("mic-alsa.timing.arrows"), |b| rows += b.num_rows() as u64).unwrap();
    assert!(report.finished, "{report:?}");
    assert!(rows > 0);
}
