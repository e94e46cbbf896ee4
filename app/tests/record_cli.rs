//! End to end through the `tacit` binary: record the demo station, kill a
//! recording and recover it, fill a disk, and refuse a bad profile.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use arrow_array::{Array, Int64Array};
use serde_json::Value;

/// Recording tests share two cores; one at a time keeps synthetic devices on time.
static SERIAL: Mutex<()> = Mutex::new(());

mod common;

use common::{ok, record, tacit, Tmpfs};

fn init(lib: &Path) -> PathBuf {
    ok(tacit().args(["init", "--library"]).arg(lib).output().unwrap());
    lib.join("stations/demo.toml")
}

fn inspect(lib: &Path, id: &str) -> Value {
    serde_json::from_str(&ok(tacit().args(["inspect", id, "--json", "--library"]).arg(lib).output().unwrap())).unwrap()
}

fn only_session(lib: &Path) -> Value {
    let list: Value = serde_json::from_str(&ok(tacit().args(["sessions", "--json", "--library"]).arg(lib).output().unwrap())).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    list[0].clone()
}

/// Reads every `.arrows` file of a session; returns rows per file and checks
/// that `t_ns` never decreases.
fn read_arrows(dir: &Path) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut names: Vec<_> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).filter(|n| n.ends_with(".arrows")).collect();
    names.sort();
    for name in names {
        let file = std::fs::File::open(dir.join(&name)).unwrap();
        let reader =
            arrow_ipc::reader::StreamReader::try_new(std::io::BufReader::new(file), None).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut rows = 0u64;
        let mut last = i64::MIN;
        for batch in reader {
            let batch = batch.unwrap_or_else(|e| panic!("{name}: {e}"));
            rows += batch.num_rows() as u64;
            if let Some(t) = batch.column_by_name("t_ns") {
                let t = t.as_any().downcast_ref::<Int64Array>().unwrap();
                for i in 0..t.len() {
                    assert!(t.value(i) >= last, "{name}: t_ns decreases at row {rows}");
                    last = t.value(i);
                }
            }
        }
        out.push((name, rows));
    }
    out
}

fn stream<'a>(m: &'a Value, name: &str) -> &'a Value {
    m["streams"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no stream {name} in {m}"))
}

#[test]
fn records_the_demo_station_for_ten_seconds() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let profile = init(&lib);
    let mut child = record(&lib, &profile, &["--duration", "10", "--operator", "op-7", "--task", "fillet weld, 6 mm plate"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    writeln!(stdin, "3").unwrap();
    writeln!(stdin, "torch angle changed").unwrap();
    drop(stdin);
    ok(child.wait_with_output().unwrap());

    let summary = only_session(&lib);
    assert_eq!(summary["status"], "complete");
    assert_eq!(summary["operator"], "op-7");
    let id = summary["id"].as_str().unwrap();
    let m = inspect(&lib, id);
    let dur_s = m["duration_ns"].as_i64().unwrap() as f64 / 1e9;
    assert!((dur_s - 10.0).abs() < 0.5, "duration {dur_s}");
    for (name, tolerance) in [("front", 0.03), ("lapel", 0.01), ("arc", 0.03)] {
        let s = stream(&m, name);
        let want = s["rate_hz"].as_f64().unwrap() * dur_s;
        let got = s["count"].as_f64().unwrap();
        assert!((got - want).abs() <= want * tolerance, "{name}: {got} rows, expected {want} ±{}%", tolerance * 100.0);
        assert_eq!(s["drops"], 0, "{name} dropped data");
        assert!(s["first_t_ns"].as_i64().unwrap() >= 0 && s["last_t_ns"].as_i64().unwrap() > s["first_t_ns"].as_i64().unwrap());
        assert!(s["sync"]["pieces"].as_array().is_some_and(|p| !p.is_empty()), "{name} has no sync fit");
    }
    assert_eq!(stream(&m, "front")["kind"], "camera");
    assert_eq!(stream(&m, "lapel")["kind"], "audio");
    assert_eq!(stream(&m, "arc")["kind"], "sensor");
    assert_eq!(stream(&m, "events")["kind"], "events");

    let dir = PathBuf::from(m["path"].as_str().unwrap());
    let files = read_arrows(&dir);
    let rows = |f: &str| files.iter().find(|(n, _)| n == f).map(|(_, r)| *r).unwrap_or_else(|| panic!("no {f} in {files:?}"));
    assert_eq!(rows("cam-front.0.arrows"), stream(&m, "front")["count"].as_u64().unwrap());
    assert_eq!(rows("sensor-arc.arrows"), stream(&m, "arc")["count"].as_u64().unwrap());
    assert_eq!(rows("events.arrows"), 4, "start, two markers, stop");
    let wav = hound::WavReader::open(dir.join("mic-lapel.wav")).unwrap();
    assert_eq!(u64::from(wav.duration()), stream(&m, "lapel")["count"].as_u64().unwrap());

    // The markers carry the profile's label and the typed text.
    let file = std::fs::File::open(dir.join("events.arrows")).unwrap();
    let mut labels = Vec::new();
    for b in arrow_ipc::reader::StreamReader::try_new(file, None).unwrap() {
        let b = b.unwrap();
        let l = b.column_by_name("label").unwrap().as_any().downcast_ref::<arrow_array::StringArray>().unwrap();
        labels.extend((0..l.len()).map(|i| l.value(i).to_string()));
    }
    assert!(labels.contains(&"spatter".to_string()) && labels.contains(&"torch angle changed".to_string()), "{labels:?}");
}

#[test]
fn a_killed_recording_is_recovered() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let profile = init(&lib);
    let mut child = record(&lib, &profile, &["--duration", "60", "--quiet", "--operator", "op-1", "--task", "crash"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sessions = lib.join("sessions");
    let wait = Instant::now();
    let manifest = loop {
        let found = std::fs::read_dir(&sessions).ok().and_then(|mut d| d.next()).map(|e| e.unwrap().path().join("session.json"));
        if let Some(p) = found.filter(|p| p.exists()) {
            break p;
        }
        assert!(wait.elapsed() < Duration::from_secs(20), "recording did not start");
        std::thread::sleep(Duration::from_millis(5));
    };
    let seen = Instant::now();
    std::thread::sleep(Duration::from_millis(4500));
    child.kill().unwrap(); // SIGKILL
    let kill_s = seen.elapsed().as_secs_f64();
    child.wait().unwrap();

    let summary = only_session(&lib);
    assert_eq!(summary["status"], "interrupted");
    let id = summary["id"].as_str().unwrap().to_string();
    let out = ok(tacit().args(["recover", &id, "--library"]).arg(&lib).output().unwrap());
    assert!(out.contains("Recovered"), "{out}");
    let m = inspect(&lib, &id);
    assert_eq!(m["status"], "recovered");
    let dir = manifest.parent().unwrap();
    let files = read_arrows(dir);
    let rows = |prefix: &str| files.iter().filter(|(n, _)| n.starts_with(prefix)).map(|(_, r)| *r).sum::<u64>();
    for (name, prefix) in [("front", "cam-front."), ("arc", "sensor-arc.arrows")] {
        let s = stream(&m, name);
        let need = s["rate_hz"].as_f64().unwrap() * (kill_s - 1.0);
        assert!(rows(prefix) as f64 >= need, "{name}: {} rows readable, need ≥ {need:.0} (killed at {kill_s:.2} s)", rows(prefix));
        assert_eq!(rows(prefix), s["count"].as_u64().unwrap());
    }
    let wav = hound::WavReader::open(dir.join("mic-lapel.wav")).expect("the WAV opens after recover");
    let frames = u64::from(wav.duration());
    assert_eq!(frames, stream(&m, "lapel")["count"].as_u64().unwrap());
    let data_bytes = std::fs::metadata(dir.join("mic-lapel.wav")).unwrap().len() - 44;
    assert_eq!(frames * 2, data_bytes, "header length matches the data on disk");
    assert!(frames as f64 >= 16_000.0 * (kill_s - 1.0), "{frames} audio frames for a kill at {kill_s:.2} s");
    // Recover is idempotent.
    let again = ok(tacit().args(["recover", &id, "--library"]).arg(&lib).output().unwrap());
    assert!(again.contains("nothing to recover"), "{again}");
}

#[test]
fn a_full_disk_stops_cleanly_and_the_session_recovers() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let mount = tmp.path().join("small");
    let _guard = Tmpfs::mount(&mount);
    let lib = mount.join("lib");
    let profile = init(&lib);
    let started = Instant::now();
    let out =
        record(&lib, &profile, &["--duration", "60", "--quiet", "--min-free-mb", "0", "--operator", "op-2", "--task", "fill the disk"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "recording into a full disk must fail: {stderr}");
    assert!(started.elapsed() < Duration::from_secs(40), "it took {:?} to notice", started.elapsed());
    assert!(stderr.contains("disk full") && stderr.contains("tacit recover"), "{stderr}");

    let summary = only_session(&lib);
    assert_eq!(summary["status"], "interrupted");
    let id = summary["id"].as_str().unwrap().to_string();
    ok(tacit().args(["recover", &id, "--library"]).arg(&lib).output().unwrap());
    let m = inspect(&lib, &id);
    assert_eq!(m["status"], "recovered");
    assert!(stream(&m, "front")["count"].as_u64().unwrap() > 0);
    let dir = PathBuf::from(m["path"].as_str().unwrap());
    read_arrows(&dir);
    hound::WavReader::open(dir.join("mic-lapel.wav")).unwrap();
}

#[test]
fn the_disk_watch_stops_before_the_disk_is_full() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let profile = init(&lib);
    // Ask for more free space than any disk has: the watch stops at once, cleanly.
    let out = record(&lib, &profile, &["--duration", "30", "--quiet", "--min-free-mb", "1000000000", "--operator", "o", "--task", "t"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let m = inspect(&lib, only_session(&lib)["id"].as_str().unwrap());
    assert_eq!(m["status"], "complete");
    assert!(m["stop_reason"].as_str().unwrap().contains("disk almost full"), "{}", m["stop_reason"]);
}

/// Records with the demo profile changed by `edit`; returns the library and
/// stderr of a run that must fail before any session exists.
fn refused(name: &str, edit: impl Fn(String) -> String) -> (tempfile::TempDir, PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let profile = init(&lib);
    let bad = tmp.path().join(name);
    std::fs::write(&bad, edit(std::fs::read_to_string(&profile).unwrap())).unwrap();
    let out = record(&lib, &bad, &["--duration", "1", "--operator", "o", "--task", "t"]).output().unwrap();
    assert!(!out.status.success());
    assert_eq!(std::fs::read_dir(lib.join("sessions")).unwrap().count(), 0, "a refused start left a session behind");
    (tmp, lib, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_bad_profile_names_line_and_key_and_records_nothing() {
    let (_tmp, lib, stderr) = refused("bad.toml", |t| t.replace("fps = 15", "fps = \"fifteen\""));
    assert!(stderr.contains("key `fps`") && stderr.contains("line 23") && stderr.contains("bad.toml"), "{stderr}");

    let missing = tacit().args(["inspect", "no-such-session", "--library"]).arg(&lib).output().unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("tacit sessions"));
}

#[test]
fn a_missing_device_is_refused_before_any_session_exists() {
    let (_tmp, _lib, stderr) = refused("serial.toml", |t| t.replace("kind = \"simulated\"", "kind = \"serial\"\nport = \"/dev/ttyNOPE9\""));
    assert!(stderr.contains("/dev/ttyNOPE9") && stderr.contains("cannot open"), "{stderr}");
}

#[test]
fn a_sensor_that_fails_mid_session_is_marked_and_the_rest_keeps_recording() {
    use std::os::fd::FromRawFd;
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let profile = init(&lib);
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two descriptors we own; null name/termios/winsize are allowed.
    assert_eq!(unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) }, 0);
    // openpty does not set close-on-exec: without it the tacit child would
    // inherit the master and the port would never hang up.
    for fd in [master, slave] {
        // SAFETY: fcntl on descriptors we own.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    let mut buf = [0 as libc::c_char; 128];
    // SAFETY: slave is a valid tty; buf is large enough.
    assert_eq!(unsafe { libc::ttyname_r(slave, buf.as_mut_ptr(), buf.len()) }, 0);
    // SAFETY: ttyname_r wrote a NUL-terminated string.
    let port = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned();
    // SAFETY: master is ours.
    let mut master = unsafe { std::fs::File::from_raw_fd(master) };
    let text = std::fs::read_to_string(&profile)
        .unwrap()
        .replace("kind = \"simulated\"\nrate_hz = 1000", &format!("kind = \"serial\"\nport = \"{port}\"\nformat = \"csv\"\nrate_hz = 50"));
    let serial_profile = tmp.path().join("serial.toml");
    std::fs::write(&serial_profile, text).unwrap();
    let child = record(&lib, &serial_profile, &["--duration", "5", "--quiet", "--operator", "o", "--task", "unplug"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    for i in 0..50 {
        writeln!(master, "{},{},{},{}", 100 + i, 20, 8, 30).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(master); // the cable is pulled
    ok(child.wait_with_output().unwrap());
    let m = inspect(&lib, only_session(&lib)["id"].as_str().unwrap());
    assert_eq!(m["status"], "complete");
    let arc = stream(&m, "arc");
    assert_eq!(arc["count"], 50);
    assert!(arc["errors"].as_u64().unwrap() >= 1, "{arc}");
    let front = stream(&m, "front");
    let dur_s = m["duration_ns"].as_f64().unwrap() / 1e9;
    assert!(front["count"].as_f64().unwrap() >= 15.0 * dur_s * 0.97, "the camera kept recording: {front}");
    let dir = PathBuf::from(m["path"].as_str().unwrap());
    let file = std::fs::File::open(dir.join("events.arrows")).unwrap();
    let mut kinds = Vec::new();
    for b in arrow_ipc::reader::StreamReader::try_new(file, None).unwrap() {
        let b = b.unwrap();
        let k = b.column_by_name("kind").unwrap().as_any().downcast_ref::<arrow_array::StringArray>().unwrap();
        kinds.extend((0..k.len()).map(|i| k.value(i).to_string()));
    }
    assert!(kinds.contains(&"device_error".to_string()), "{kinds:?}");
    // SAFETY: slave is ours and no longer needed.
    unsafe { libc::close(slave) };
}
