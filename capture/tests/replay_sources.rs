//! Sources that replay files in real time: a WAV as the microphone
//! (`file:PATH`) and a CSV as a sensor (`replay`).

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, Float64Array, Int64Array};
use tacit_capture::clock::SessionClock;
use tacit_capture::source::{audio, sensor, LiveStats, SourceCtx};
use tacit_capture::writer;
use tacit_schema::{ChannelProfile, LineFormat, MicrophoneProfile, SensorKind, SensorProfile};

fn ctx(name: &str) -> (SourceCtx, Arc<AtomicBool>, Arc<LiveStats>, crossbeam_channel::Receiver<tacit_capture::source::EventMsg>) {
    let stats = LiveStats::new();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = crossbeam_channel::bounded(1024);
    (
        SourceCtx { name: name.into(), clock: SessionClock::start_now(), stop: stop.clone(), stats: stats.clone(), events: tx },
        stop,
        stats,
        rx,
    )
}

#[test]
fn a_wav_file_replays_as_the_microphone_sample_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("speech.wav");
    let spec = hound::WavSpec { channels: 1, sample_rate: 8_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(&input, spec).unwrap();
    let source: Vec<i16> = (0..4_000).map(|i| ((i * 37) % 20_000 - 10_000) as i16).collect();
    for s in &source {
        w.write_sample(*s).unwrap();
    }
    w.finalize().unwrap();

    let (ctx, stop, _stats, events) = ctx("lapel");
    let profile = MicrophoneProfile {
        name: "lapel".into(),
        device: format!("file:{}", input.display()),
        rate_hz: 48_000,
        channels: 1,
        offset_ms: 0.0,
    };
    let (tx, rx) = crossbeam_channel::bounded(512);
    let (format, mic) = audio::start(&profile, ctx, 0, tx).unwrap();
    assert_eq!(format.rate_hz, 8_000, "a file microphone keeps the file's rate");
    let out_dir = dir.path().to_path_buf();
    let writer =
        std::thread::Builder::new().name("w".into()).spawn(move || writer::write_audio(&out_dir, "lapel", 8_000, 1, rx, None)).unwrap();
    std::thread::sleep(Duration::from_millis(800)); // the file is 0.5 s long
    stop.store(true, Ordering::Relaxed);
    mic.join().unwrap();
    let out = writer.join().unwrap();
    assert!(out.error.is_none());

    let recorded: Vec<i16> =
        hound::WavReader::open(dir.path().join("mic-lapel.wav")).unwrap().samples::<i16>().map(Result::unwrap).collect();
    assert!(recorded.len() > source.len(), "recording goes on after the file ends ({} frames)", recorded.len());
    assert_eq!(&recorded[..source.len()], &source[..], "replayed samples are exact");
    assert!(recorded[source.len()..].iter().all(|s| *s == 0), "silence after the file");
    assert!(events.try_iter().any(|e| e.label.contains("file finished")));
    // Paced in real time: 0.8 s of recording holds about 0.8 s of audio, never 10×.
    assert!(recorded.len() < 8_000 * 2, "{} frames in 0.8 s is not real time", recorded.len());
}

#[test]
fn a_missing_wav_is_a_clear_error() {
    let (ctx, _, _, _) = ctx("lapel");
    let profile =
        MicrophoneProfile { name: "lapel".into(), device: "file:/nonexistent/x.wav".into(), rate_hz: 16_000, channels: 1, offset_ms: 0.0 };
    let (tx, _rx) = crossbeam_channel::bounded(4);
    let err = audio::start(&profile, ctx, 0, tx).err().unwrap().to_string();
    assert!(err.contains("/nonexistent/x.wav") && err.contains("cannot read WAV"), "{err}");
}

#[test]
fn a_csv_replays_as_a_sensor_with_its_own_time() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("arc.csv");
    let mut text = String::from("voltage,time,current,comment\n");
    for i in 0..50 {
        text.push_str(&format!("{},{:.3},{},ok\n", 20 + i % 3, i as f64 * 0.01, 100 + i));
    }
    text.push_str("bad,0.5,1,x\n");
    std::fs::write(&csv, text).unwrap();
    let profile = SensorProfile {
        name: "arc".into(),
        kind: SensorKind::Replay,
        rate_hz: 100.0,
        channels: vec![
            ChannelProfile { name: "current".into(), unit: "A".into(), role: Default::default() },
            ChannelProfile { name: "voltage".into(), unit: "V".into(), role: Default::default() },
        ],
        format: LineFormat::Csv,
        port: None,
        baud: None,
        address: None,
        file: Some(csv.display().to_string()),
        time_field: Some("time".into()),
        offset_ms: 0.0,
    };
    let source = sensor::open(&profile).unwrap();
    let (ctx, stop, stats, _events) = ctx("arc");
    let (tx, rx) = crossbeam_channel::bounded(64);
    let th = std::thread::Builder::new().name("s".into()).spawn(move || sensor::run(source, ctx, 0, tx)).unwrap();
    let out_dir = dir.path().to_path_buf();
    let channels = vec!["current".to_string(), "voltage".to_string()];
    let writer = std::thread::Builder::new()
        .name("w".into())
        .spawn(move || writer::write_sensor(&out_dir, "arc", &channels, u64::MAX, rx, None))
        .unwrap();
    let t0 = std::time::Instant::now();
    while stats.captured.load(Ordering::Relaxed) < 50 && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    th.join().unwrap();
    let out = writer.join().unwrap();
    assert!(out.error.is_none());
    let mut t = Vec::new();
    let mut dev = Vec::new();
    let mut cur = Vec::new();
    tacit_session::ipc::scan(&dir.path().join("sensor-arc.arrows"), |b| {
        let tt = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let dd = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        let cc = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
        for i in 0..b.num_rows() {
            t.push(tt.value(i));
            dev.push(dd.value(i));
            cur.push(cc.value(i));
        }
    })
    .unwrap();
    assert_eq!(t.len(), 50);
    assert_eq!(dev[49], 490_000_000);
    assert_eq!(cur[7], 107.0);
    // Replayed in real time: the rows span at least the file's 0.49 s.
    assert!(t[49] - t[0] >= 480_000_000, "rows came {} ns apart", t[49] - t[0]);
    assert_eq!(stats.rejects.load(Ordering::Relaxed), 1);
}

#[test]
fn a_replay_without_its_columns_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("arc.csv");
    std::fs::write(&csv, "t,current\n0,1\n").unwrap();
    let profile = SensorProfile {
        name: "arc".into(),
        kind: SensorKind::Replay,
        rate_hz: 100.0,
        channels: vec![ChannelProfile { name: "voltage".into(), unit: String::new(), role: Default::default() }],
        format: LineFormat::Csv,
        port: None,
        baud: None,
        address: None,
        file: Some(csv.display().to_string()),
        time_field: None,
        offset_ms: 0.0,
    };
    let err = sensor::open(&profile).err().unwrap().to_string();
    assert!(err.contains("voltage") && err.contains("arc.csv"), "{err}");
}
