//! Real sensor transports: a pseudo-terminal pair stands in for a serial
//! device, and UDP datagrams arrive on loopback. Rows and rejected lines are
//! read back from the files the writer made.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Write;
use std::os::fd::FromRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{Array, Float64Array, Int64Array, StringArray};
use tacit_capture::clock::SessionClock;
use tacit_capture::source::lines::LineParser;
use tacit_capture::source::sensor::{self, SensorBatch, SensorSource, UdpSensor};
use tacit_capture::source::{EventMsg, LiveStats, SourceCtx};
use tacit_capture::writer::{self, WriterOutput};
use tacit_schema::{ChannelProfile, LineFormat, SensorKind, SensorProfile};

fn profile(kind: SensorKind, format: LineFormat) -> SensorProfile {
    SensorProfile {
        name: "arc".into(),
        kind,
        rate_hz: 100.0,
        channels: vec![
            ChannelProfile { name: "current".into(), unit: "A".into(), role: Default::default() },
            ChannelProfile { name: "voltage".into(), unit: "V".into(), role: Default::default() },
        ],
        format,
        port: None,
        baud: Some(115_200),
        address: None,
        file: None,
        time_field: Some("t".into()),
        offset_ms: 0.0,
    }
}

struct Running {
    stop: Arc<AtomicBool>,
    stats: Arc<LiveStats>,
    events: crossbeam_channel::Receiver<EventMsg>,
    source: std::thread::JoinHandle<()>,
    writer: std::thread::JoinHandle<WriterOutput>,
}

fn start(dir: &Path, source: Box<dyn SensorSource>) -> Running {
    let stats = LiveStats::new();
    let stop = Arc::new(AtomicBool::new(false));
    let (events_tx, events) = crossbeam_channel::bounded(1024);
    let ctx =
        SourceCtx { name: "arc".into(), clock: SessionClock::start_now(), stop: stop.clone(), stats: stats.clone(), events: events_tx };
    let (tx, rx) = crossbeam_channel::bounded::<SensorBatch>(64);
    let source = std::thread::Builder::new().name("sensor-arc".into()).spawn(move || sensor::run(source, ctx, 0, tx)).unwrap();
    let d = dir.to_path_buf();
    let channels = vec!["current".to_string(), "voltage".to_string()];
    let writer = std::thread::Builder::new()
        .name("write-sensor-arc".into())
        .spawn(move || writer::write_sensor(&d, "arc", &channels, u64::MAX, rx, None))
        .unwrap();
    Running { stop, stats, events, source, writer }
}

fn wait_for(what: impl Fn() -> bool) {
    let t = Instant::now();
    while !what() && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Running {
    fn finish(self) -> (WriterOutput, Vec<EventMsg>) {
        self.stop.store(true, Ordering::Relaxed);
        self.source.join().unwrap();
        let out = self.writer.join().unwrap();
        (out, self.events.try_iter().collect())
    }
}

/// (t_ns, device_ts_ns, current, voltage) rows and (raw, reason) rejects.
type Rows = Vec<(i64, Option<i64>, Option<f64>, Option<f64>)>;

fn read_back(dir: &Path) -> (Rows, Vec<(String, String)>) {
    let mut rows = Vec::new();
    let report = tacit_session::ipc::scan(&dir.join("sensor-arc.arrows"), |b| {
        let t = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let d = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
        let c = b.column(2).as_any().downcast_ref::<Float64Array>().unwrap();
        let v = b.column(3).as_any().downcast_ref::<Float64Array>().unwrap();
        for i in 0..b.num_rows() {
            let opt = |a: &Float64Array| a.is_valid(i).then(|| a.value(i));
            rows.push((t.value(i), d.is_valid(i).then(|| d.value(i)), opt(c), opt(v)));
        }
    })
    .unwrap();
    assert!(report.finished, "{report:?}");
    let mut rejects = Vec::new();
    let path = dir.join("sensor-arc.rejects.arrows");
    if path.exists() {
        tacit_session::ipc::scan(&path, |b| {
            let raw = b.column(1).as_any().downcast_ref::<StringArray>().unwrap();
            let why = b.column(2).as_any().downcast_ref::<StringArray>().unwrap();
            for i in 0..b.num_rows() {
                rejects.push((raw.value(i).to_string(), why.value(i).to_string()));
            }
        })
        .unwrap();
    }
    (rows, rejects)
}

fn openpty() -> (std::fs::File, String) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors we then own; null pointers are allowed for name, termios and winsize.
    let rc = unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
    assert_eq!(rc, 0, "openpty failed");
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: buf is large enough; slave is a valid tty descriptor.
    let rc = unsafe { libc::ttyname_r(slave, buf.as_mut_ptr(), buf.len()) };
    assert_eq!(rc, 0);
    // SAFETY: ttyname_r wrote a NUL-terminated string into buf.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned();
    // The slave descriptor stays open for the test's life (like a device
    // node that exists); the sensor opens the slave by path.
    // SAFETY: master is a valid descriptor that we now own.
    let master = unsafe { std::fs::File::from_raw_fd(master) };
    (master, name)
}

#[test]
fn serial_lines_over_a_pseudo_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (mut master, slave_path) = openpty();
    let mut p = profile(SensorKind::Serial, LineFormat::Kv);
    p.port = Some(slave_path.clone());
    let source = sensor::open(&p).expect("serialport opens the pty slave");
    let run = start(dir.path(), source);

    let mut expected_good = 0;
    for i in 0..200 {
        writeln!(master, "t={:.3} current={} voltage={}", i as f64 * 0.01, 100 + i, 20.5).unwrap();
        expected_good += 1;
        // Pace like a device (115200 baud is ~11 kB/s): the pty's buffer lost
        // lines when 13 kB arrived at once before the reader had run.
        if i % 10 == 9 {
            master.flush().unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    // A line split across two writes, then malformed lines.
    master.write_all(b"t=2.000 curr").unwrap();
    master.flush().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    master.write_all(b"ent=300 voltage=21\n").unwrap();
    expected_good += 1;
    let bad = ["garbage", "current=abc voltage=1", "t=x current=1", "other=5", "\u{1b}[2J\u{7}"];
    for b in bad {
        writeln!(master, "{b}").unwrap();
    }
    master.write_all(&vec![b'9'; 5000]).unwrap(); // runaway line without newline
    master.write_all(b"\n").unwrap();
    master.flush().unwrap();
    wait_for(|| run.stats.captured.load(Ordering::Relaxed) >= expected_good as u64 && run.stats.rejects.load(Ordering::Relaxed) >= 6);

    // Unplug: closing the master side makes reads fail; the error is counted and marked.
    drop(master);
    wait_for(|| run.stats.errors.load(Ordering::Relaxed) > 0);
    let errors = run.stats.errors.load(Ordering::Relaxed);
    let (out, events) = run.finish();
    assert!(out.error.is_none(), "{:?}", out.error);
    assert!(errors > 0, "unplugging the port was not reported");
    assert!(events.iter().any(|e| e.kind == "device_error"), "{events:?}");

    let (rows, rejects) = read_back(dir.path());
    assert_eq!(rows.len(), expected_good);
    for (i, r) in rows.iter().take(200).enumerate() {
        assert_eq!(r.1, Some((i as f64 * 0.01 * 1e9).round() as i64), "device time of row {i}");
        assert_eq!(r.2, Some(100.0 + i as f64));
        assert_eq!(r.3, Some(20.5));
    }
    assert_eq!(rows[200].2, Some(300.0), "the split line was joined");
    assert!(rows.windows(2).all(|w| w[0].0 <= w[1].0), "t_ns never decreases");
    let raw: Vec<&str> = rejects.iter().map(|r| r.0.as_str()).collect();
    for b in bad {
        assert!(raw.contains(&b), "{b:?} not kept raw: {raw:?}");
    }
    assert!(rejects.iter().any(|r| r.1.contains("longer than")), "{rejects:?}");
    assert_eq!(out.files, vec!["sensor-arc.arrows", "sensor-arc.rejects.arrows"]);
}

#[test]
fn udp_datagrams_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = profile(SensorKind::Udp, LineFormat::Json);
    p.address = Some("127.0.0.1:0".into());
    let names = vec!["current".to_string(), "voltage".to_string()];
    let udp = UdpSensor::open(&p, LineParser::new(LineFormat::Json, names, Some("t".into()))).unwrap();
    let addr = udp.local_addr().unwrap();
    let run = start(dir.path(), Box::new(udp));

    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..50 {
        // Two rows per datagram.
        let msg = format!(
            "{{\"t\": {}, \"current\": {}, \"voltage\": 22}}\n{{\"t\": {}, \"current\": {}}}\n",
            i * 2,
            i * 2,
            i * 2 + 1,
            i * 2 + 1
        );
        socket.send_to(msg.as_bytes(), addr).unwrap();
    }
    socket.send_to(b"{not json}\n[1,2]", addr).unwrap();
    wait_for(|| run.stats.captured.load(Ordering::Relaxed) >= 100 && run.stats.rejects.load(Ordering::Relaxed) >= 2);
    let (out, _) = run.finish();
    assert!(out.error.is_none());
    let (rows, rejects) = read_back(dir.path());
    assert_eq!(rows.len(), 100);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.1, Some(i as i64 * 1_000_000_000));
        assert_eq!(r.2, Some(i as f64));
        assert_eq!(r.3, if i % 2 == 0 { Some(22.0) } else { None });
    }
    assert_eq!(rejects.len(), 2, "{rejects:?}");
    assert_eq!(out.tally.count, 100);
}
