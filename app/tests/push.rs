//! `tacit push` against real S3-compatible servers on loopback — localbucket
//! (objects as files, multipart uploads kept on disk) and moto's server mode
//! (in memory) — checked with a second client (boto3): every file arrives
//! with its SHA-256, the manifest last; a re-run sends nothing; a killed
//! push resumes with the parts it had sent; a store killed and restarted
//! mid-upload still ends up holding exactly the session; a damaged object
//! is found and sent again; `--prune` removes only what is verified; a push
//! through a link that cuts connections mid-upload completes; a dead
//! endpoint, a missing bucket, missing keys, or a key or secret the store
//! refuses (moto with IAM authentication on) fail in one clear line.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tacit_session::builder::SessionBuilder;

mod common;

use common::s3::{json_push, push, venv, Kind, Server, BUCKET};
use common::{ok, tacit, wait_for_port};

/// Pseudo-random PCM (compresses to nothing, like real sound).
fn noise(samples: usize, seed: u64) -> Vec<i16> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..samples)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 48) as i16
        })
        .collect()
}

/// A library with sessions `ids`; the first has a `seconds`-long 48 kHz
/// microphone (96 kB/s: 40 s is 3.8 MB, a multipart file at 5 MiB parts from 55 s).
fn library(ids: &[&str], seconds: f64) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    for (i, id) in ids.iter().enumerate() {
        let mut b = SessionBuilder::new(id).station(if i % 2 == 0 { "bay-1" } else { "bay-2" }).label("step", "root pass", 0.0, 1.0);
        if i == 0 {
            // The microphone is the one large file (the camera stays small).
            let n = (seconds * 48_000.0) as usize;
            b = b.seconds(seconds).no_cameras().camera("front", 32, 24, 1).microphone("mic", 48_000, noise(n, 7));
        }
        b.write(&lib).unwrap();
    }
    (tmp, lib)
}

/// The files of a local session as the store should hold them: name → (size, sha256).
fn local_files(dir: &Path) -> BTreeMap<String, (u64, String)> {
    let out = Command::new("sha256sum").args(std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path())).output().unwrap();
    let mut files = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let (sha, path) = line.split_once("  ").unwrap();
        let name = Path::new(path).file_name().unwrap().to_str().unwrap().to_string();
        if name.starts_with('.') || name.ends_with(".lock") || name == "session.reserve" {
            continue;
        }
        files.insert(name, (std::fs::metadata(path).unwrap().len(), sha.to_string()));
    }
    files
}

/// The store holds exactly the session's files (plus its store.json), byte for byte.
fn assert_in_store(server: &Server, prefix: &str, lib: &Path, id: &str) {
    let held = server.objects(&format!("{prefix}/sessions/{id}/"));
    let mut want = local_files(&lib.join("sessions").join(id));
    let index = held.get(&format!("{prefix}/sessions/{id}/store.json")).cloned().expect("store.json in the store");
    want.insert("store.json".into(), index);
    // The station's review index, for trainers opening the session from the store.
    let review = held.get(&format!("{prefix}/sessions/{id}/index/review.json.zst")).cloned().expect("the review index in the store");
    want.insert("review.json.zst".into(), review);
    let got: BTreeMap<String, (u64, String)> = held.into_iter().map(|(k, v)| (k.rsplit('/').next().unwrap().to_string(), v)).collect();
    assert_eq!(got, want, "{:?} holds something else than session {id}", server.kind);
}

#[test]
fn push_sends_each_file_once_and_then_only_changes() {
    for kind in [Kind::LocalBucket, Kind::Moto] {
        let server = Server::start(kind);
        let (_tmp, lib) = library(&["s-0001", "s-0002"], 60.0);
        let first = json_push(push(&server, &lib, "site", &["--part-mib", "5", "--json"]).output().unwrap());
        for s in first["sessions"].as_array().unwrap() {
            assert_eq!(s["outcome"], "pushed", "{kind:?}: {s}");
        }
        assert_in_store(&server, "site", &lib, "s-0001");
        assert_in_store(&server, "site", &lib, "s-0002");
        // The store lists as a library: sessions by their manifests; a
        // folder with no manifest (a push under way) is "still arriving".
        let partial = tempfile::tempdir().unwrap();
        std::fs::write(partial.path().join("camera-front.arrows"), b"half").unwrap();
        server.tool(&["upload", partial.path().to_str().unwrap(), BUCKET, "site/sessions/s-9999"]);
        let mut c = tacit();
        c.args(["sessions", "--json", "--library", &format!("s3://{BUCKET}/site"), "--endpoint", &server.endpoint()]);
        c.env("AWS_ACCESS_KEY_ID", "test").env("AWS_SECRET_ACCESS_KEY", "test").env_remove("AWS_PROFILE");
        let listed: Value = serde_json::from_str(&ok(c.output().unwrap())).unwrap();
        let ids: Vec<&str> = listed["sessions"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["s-0001", "s-0002"], "{kind:?}: {listed}");
        assert_eq!(listed["incomplete"], serde_json::json!(["s-9999"]), "{kind:?}: {listed}");
        // The index lists every file with its checksum.
        let index: Value = serde_json::from_str(&server.tool(&["ls", BUCKET, "site/sessions/s-0001/store.json"])).unwrap();
        assert_eq!(index.as_object().unwrap().len(), 1);

        // Again: nothing to send.
        let again = json_push(push(&server, &lib, "site", &["--json"]).output().unwrap());
        for s in again["sessions"].as_array().unwrap() {
            assert_eq!(s["outcome"], "up-to-date", "{kind:?}: {s}");
            assert_eq!(s["bytes_sent"], 0);
        }

        // A trainer's label: only the annotations (and the index) go up.
        ok(tacit()
            .args(["label", "add", "s-0002", "--tier", "defect", "--value", "porosity", "--at", "0.5", "--library"])
            .arg(&lib)
            .output()
            .unwrap());
        let after = json_push(push(&server, &lib, "site", &["--json", "--session", "s-0002"]).output().unwrap());
        let s = &after["sessions"][0];
        assert_eq!(s["outcome"], "pushed");
        assert_eq!(s["files_sent"], 2, "annotations.json and its log: {s}");
        assert_in_store(&server, "site", &lib, "s-0002");
    }
}

/// Polls the session's push state until `parts` parts of an upload are recorded.
fn wait_for_parts(dir: &Path, parts: usize, deadline: Duration) -> bool {
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        if let Ok(bytes) = std::fs::read(dir.join(".push.json")) {
            if let Ok(v) = serde_json::from_slice::<Value>(&bytes) {
                let n = v["uploads"]
                    .as_object()
                    .into_iter()
                    .flat_map(|s| s.values())
                    .flat_map(|f| f.as_object().unwrap().values())
                    .map(|u| u["parts"].as_object().unwrap().len())
                    .max();
                if n.unwrap_or(0) >= parts {
                    return true;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

#[test]
fn a_killed_push_resumes_with_the_parts_it_sent() {
    let server = Server::start(Kind::LocalBucket);
    let (_tmp, lib) = library(&["s-0001"], 300.0); // 28.8 MB WAV: 6 parts of 5 MiB
    let dir = lib.join("sessions/s-0001");
    let mut child = push(&server, &lib, "site", &["--part-mib", "5", "--jobs", "1", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_for_parts(&dir, 1, Duration::from_secs(60)), "no part was recorded");
    server.signal(libc::SIGSTOP); // the push hangs on its next part…
    child.kill().unwrap(); // …and is killed there
    child.wait().unwrap();
    server.signal(libc::SIGCONT);
    let state: Value = serde_json::from_slice(&std::fs::read(dir.join(".push.json")).unwrap()).unwrap();
    let kept = state["uploads"].as_object().unwrap().values().next().unwrap()["mic-mic.wav"]["parts"].as_object().map_or(0, |p| p.len());
    assert!((1..6).contains(&kept), "{kept} parts recorded");

    let out = push(&server, &lib, "site", &["--part-mib", "5", "--jobs", "1", "--json"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let report = json_push(out);
    assert!(stderr.contains(&format!("resuming ({kept} of 6 parts already sent)")), "{stderr}");
    let sent = report["sessions"][0]["bytes_sent"].as_u64().unwrap();
    // Everything but the parts already sent (files before the WAV had gone up whole).
    let all: u64 = local_files(&dir).values().map(|(size, _)| size).sum();
    assert!(sent <= all - kept as u64 * (5 << 20), "sent {sent} of {all} bytes after {kept} parts of the WAV");
    assert!(sent >= 28_800_044 - kept as u64 * (5 << 20), "sent {sent}: the rest of the WAV at least");
    assert_in_store(&server, "site", &lib, "s-0001");
    // Nothing unfinished is left on the station's side.
    let state: Value = serde_json::from_slice(&std::fs::read(dir.join(".push.json")).unwrap()).unwrap();
    assert!(state["uploads"].as_object().unwrap().is_empty(), "{state}");
}

#[test]
fn a_store_killed_and_restarted_mid_upload_ends_up_with_exactly_the_session() {
    // localbucket keeps the unfinished upload on disk and the push goes on
    // with it; moto forgets it and the push starts the file again.
    for kind in [Kind::LocalBucket, Kind::Moto] {
        let mut server = Server::start(kind);
        let (_tmp, lib) = library(&["s-0001"], 300.0);
        let dir = lib.join("sessions/s-0001");
        let child = push(&server, &lib, "site", &["--part-mib", "5", "--jobs", "1", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        assert!(wait_for_parts(&dir, 1, Duration::from_secs(60)), "{kind:?}: no part was recorded");
        server.kill();
        std::thread::sleep(Duration::from_millis(1500));
        server.spawn();
        if kind == Kind::Moto {
            server.tool(&["mb", BUCKET]); // in memory: the bucket is gone too
        }
        let out = child.wait_with_output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
        match kind {
            // The push rode out the restart.
            Kind::LocalBucket => assert!(out.status.success(), "{kind:?}: {said}"),
            // moto came back empty; the push either started the file again
            // or stopped with a clear line, and a second run completes.
            Kind::Moto => {
                if !out.status.success() {
                    assert!(said.contains("does not exist") || said.contains("cannot reach"), "{said}");
                    ok(push(&server, &lib, "site", &["--part-mib", "5"]).output().unwrap());
                }
            }
        }
        assert_in_store(&server, "site", &lib, "s-0001");
    }
}

#[test]
fn a_damaged_object_is_found_and_sent_again() {
    let server = Server::start(Kind::LocalBucket);
    let (_tmp, lib) = library(&["s-0001"], 70.0);
    ok(push(&server, &lib, "site", &["--part-mib", "5"]).output().unwrap());
    // A bit flips inside the store (localbucket keeps objects as files).
    let object = server.data.path().join(BUCKET).join("site/sessions/s-0001/mic-mic.wav");
    let mut bytes = std::fs::read(&object).unwrap();
    bytes[1_000_000] ^= 0x10;
    std::fs::write(&object, &bytes).unwrap();
    let report = json_push(push(&server, &lib, "site", &["--part-mib", "5", "--json"]).output().unwrap());
    assert_eq!(report["sessions"][0]["repaired"], serde_json::json!(["mic-mic.wav"]), "{report}");
    assert_in_store(&server, "site", &lib, "s-0001");
    // --verify reads every object back: all good now.
    let verified = json_push(push(&server, &lib, "site", &["--part-mib", "5", "--verify", "--json"]).output().unwrap());
    assert_eq!(verified["sessions"][0]["outcome"], "up-to-date", "{verified}");
}

#[test]
fn prune_removes_only_sessions_verified_in_the_store() {
    let server = Server::start(Kind::Moto);
    let (_tmp, lib) = library(&["s-0001", "s-0002"], 2.0);
    // s-0002 was interrupted: never pushed, never pruned.
    let manifest = lib.join("sessions/s-0002/session.json");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("\"complete\"", "\"recording\"");
    std::fs::write(&manifest, text).unwrap();
    // The store is down: nothing is removed.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = Server { kind: Kind::Moto, port, data: tempfile::tempdir().unwrap(), child: None };
    let out = push(&down, &lib, "site", &["--prune"]).output().unwrap();
    assert!(!out.status.success());
    assert!(lib.join("sessions/s-0001/session.json").is_file());

    let report = json_push(push(&server, &lib, "site", &["--prune", "--json"]).output().unwrap());
    let by_id: BTreeMap<&str, &Value> = report["sessions"].as_array().unwrap().iter().map(|s| (s["id"].as_str().unwrap(), s)).collect();
    assert_eq!(by_id["s-0001"]["pruned"], true, "{report}");
    assert_eq!(by_id["s-0002"]["outcome"], "skipped", "{report}");
    assert!(!lib.join("sessions/s-0001").exists());
    assert!(lib.join("sessions/s-0002/session.json").is_file());
    assert!(server.objects("site/sessions/s-0001/").contains_key("site/sessions/s-0001/session.json"));
    assert!(server.objects("site/sessions/s-0002/").is_empty());
}

#[test]
fn a_dead_endpoint_a_missing_bucket_or_no_keys_fail_in_one_clear_line() {
    let server = Server::start(Kind::LocalBucket);
    let (_tmp, lib) = library(&["s-0001"], 2.0);
    let before = local_files(&lib.join("sessions/s-0001"));
    let stderr = |out: Output| {
        assert!(!out.status.success());
        String::from_utf8(out.stderr).unwrap()
    };

    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = Server { kind: Kind::LocalBucket, port, data: tempfile::tempdir().unwrap(), child: None };
    let e = stderr(push(&dead, &lib, "site", &[]).output().unwrap());
    assert!(e.contains(&format!("cannot reach the store at http://127.0.0.1:{port}")), "{e}");

    let mut c = tacit();
    c.args(["push", "--to", "s3://no-such-bucket/x", "--endpoint", &server.endpoint(), "--library"])
        .arg(&lib)
        .env("AWS_ACCESS_KEY_ID", "k")
        .env("AWS_SECRET_ACCESS_KEY", "s");
    let e = stderr(c.output().unwrap());
    assert!(e.contains("bucket \"no-such-bucket\" does not exist"), "{e}");

    let mut c = tacit();
    c.args(["push", "--to", "s3://site-store/x", "--endpoint", &server.endpoint(), "--library"]).arg(&lib);
    c.env_remove("AWS_ACCESS_KEY_ID").env("AWS_SHARED_CREDENTIALS_FILE", lib.join("none"));
    let e = stderr(c.output().unwrap());
    assert!(e.contains("no credentials for s3://site-store/x"), "{e}");

    // A profile of the shared credentials file works.
    let creds = lib.join("credentials");
    std::fs::write(&creds, "[site]\naws_access_key_id = k\naws_secret_access_key = s\n").unwrap();
    let mut c = tacit();
    c.args(["push", "--to", "s3://site-store/x", "--profile", "site", "--endpoint", &server.endpoint(), "--library"]).arg(&lib);
    c.env_remove("AWS_ACCESS_KEY_ID").env("AWS_SHARED_CREDENTIALS_FILE", &creds);
    ok(c.output().unwrap());
    assert_eq!(local_files(&lib.join("sessions/s-0001")), before, "a push changes no session file");
}

/// moto with IAM authentication on (after the first four requests, which
/// make a user allowed everything, its key and the bucket): returns the
/// server and the key.
fn moto_with_auth() -> (Server, String, String) {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(venv().join("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", "4")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port, "moto");
    let s = Server { kind: Kind::Moto, port, data: tempfile::tempdir().unwrap(), child: Some(child) };
    let keys = s.tool(&["iam-key", "station-07", BUCKET]);
    let (id, secret) = keys.trim().split_once(' ').unwrap();
    (s, id.to_string(), secret.to_string())
}

#[test]
fn a_wrong_key_or_secret_is_refused_in_one_line_and_the_right_one_pushes() {
    let (server, id, secret) = moto_with_auth();
    let (_tmp, lib) = library(&["s-0001"], 2.0);
    let before = local_files(&lib.join("sessions/s-0001"));
    let with = |key: &str, secret: &str| {
        let mut c = push(&server, &lib, "site", &[]);
        c.env("AWS_ACCESS_KEY_ID", key).env("AWS_SECRET_ACCESS_KEY", secret);
        c.output().unwrap()
    };
    for (key, sec, code) in
        [("AKIAWRONGWRONGWRONG0", secret.as_str(), "InvalidAccessKeyId"), (id.as_str(), "not-the-secret", "SignatureDoesNotMatch")]
    {
        let out = with(key, sec);
        assert!(!out.status.success());
        let e = String::from_utf8(out.stderr).unwrap();
        assert!(e.contains(&format!("refused the credentials ({code})")), "{e}");
        assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
    }
    assert_eq!(local_files(&lib.join("sessions/s-0001")), before, "a refused push changes nothing");
    ok(with(&id, &secret));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3_tool.py");
    let listed = ok(Command::new(venv().join("python"))
        .arg(script)
        .arg(server.endpoint())
        .args(["ls", BUCKET, "site/sessions/s-0001/"])
        .env("AWS_ACCESS_KEY_ID", &id)
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .output()
        .unwrap());
    assert!(listed.contains("site/sessions/s-0001/session.json"), "{listed}");
}

/// A TCP relay to `upstream` on loopback that cuts connections after a
/// pseudo-random 16 KiB–1 MiB of upload (both directions shut at once, as a
/// dropped link or a restarting proxy would): every connection until the
/// first cut, then one in two.
struct CuttingRelay {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl CuttingRelay {
    fn start(upstream: u16, seed: u64) -> Self {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicU64::new(0));
        let counter = cut.clone();
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| std::thread::Builder::new().name(name.into()).spawn(f).unwrap();
        spawn(
            "relay-accept",
            Box::new(move || {
                let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| std::thread::Builder::new().name(name.into()).spawn(f).unwrap();
                let mut state = seed;
                let mut next = move || {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    state >> 33
                };
                for conn in listener.incoming() {
                    let Ok(client) = conn else { continue };
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else { continue };
                    // Until the first cut every connection has a budget (so a
                    // push always meets one); after it, one in two.
                    let cut_yet = counter.load(Ordering::SeqCst) > 0;
                    let budget = if !cut_yet || next() % 2 == 0 { Some(16_384 + next() % (1 << 20)) } else { None };
                    let (mut c_in, mut s_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                    let (mut s_in, mut c_out) = (server, client);
                    let counter = counter.clone();
                    spawn(
                        "relay-up",
                        Box::new(move || {
                            let mut buf = vec![0u8; 64 << 10];
                            let mut sent = 0u64;
                            loop {
                                let n = match c_in.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => n,
                                };
                                sent += n as u64;
                                if budget.is_some_and(|b| sent > b) {
                                    counter.fetch_add(1, Ordering::SeqCst);
                                    break;
                                }
                                if s_out.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                            let _ = c_in.shutdown(std::net::Shutdown::Both);
                            let _ = s_out.shutdown(std::net::Shutdown::Both);
                        }),
                    );
                    spawn(
                        "relay-down",
                        Box::new(move || {
                            let _ = std::io::copy(&mut s_in, &mut c_out);
                            let _ = c_out.shutdown(std::net::Shutdown::Both);
                        }),
                    );
                }
            }),
        );
        Self { port, cut }
    }

    fn cut(&self) -> u64 {
        self.cut.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn a_push_through_a_link_that_cuts_connections_completes() {
    let server = Server::start(Kind::LocalBucket);
    let relay = CuttingRelay::start(server.port, u64::from(std::process::id()));
    let via = Server { kind: Kind::LocalBucket, port: relay.port, data: tempfile::tempdir().unwrap(), child: None };
    // 200 s of microphone: a 19 MB WAV, sent in 5 MiB parts.
    let (_tmp, lib) = library(&["s-0001", "s-0002"], 200.0);
    ok(push(&via, &lib, "site", &["--part-mib", "5"]).output().unwrap());
    eprintln!("connections cut: {}", relay.cut());
    assert!(relay.cut() > 0, "the relay cut no connection: the test proved nothing");
    assert_in_store(&server, "site", &lib, "s-0001");
    assert_in_store(&server, "site", &lib, "s-0002");
}

/// Progress that asks the push to stop once `after` bytes are sent (the
/// app's pause switch when a recording starts).
struct PauseAfter {
    sent: std::sync::atomic::AtomicU64,
    after: u64,
}

impl tacit_schema::Progress for PauseAfter {
    fn start(&self, _phase: &str, _total: u64) {}
    fn advance(&self, units: u64) {
        self.sent.fetch_add(units, std::sync::atomic::Ordering::SeqCst);
    }
    fn message(&self, _text: &str) {}
    fn finish(&self) {}
    fn cancelled(&self) -> bool {
        self.sent.load(std::sync::atomic::Ordering::SeqCst) >= self.after
    }
}

#[test]
fn a_paused_push_keeps_what_it_sent_and_the_next_one_goes_on() {
    use tacit_session::store::{push as push_sessions, PushOptions, Store, StoreOptions, StoreUrl};
    let server = Server::start(Kind::LocalBucket);
    // A 19 MB microphone file: four 5 MiB parts.
    let (_tmp, lib) = library(&["s-0001"], 200.0);
    let creds = lib.join("credentials");
    std::fs::write(&creds, "[site]\naws_access_key_id = k\naws_secret_access_key = s\n").unwrap();
    // Every other test here gives its child processes their keys or file explicitly.
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &creds);
    let url = StoreUrl::parse(&format!("s3://{BUCKET}/site")).unwrap();
    let opts = StoreOptions { endpoint: Some(server.endpoint()), profile: Some("site".into()), ..StoreOptions::default() };
    let store = Store::connect(&url, &opts).unwrap();
    let dir = lib.join("sessions/s-0001");
    let po = PushOptions { part_size: 5 << 20, concurrency: 1, ..PushOptions::default() };
    let paused = push_sessions(&store, std::slice::from_ref(&dir), &po, &PauseAfter { sent: 0.into(), after: 6 << 20 });
    assert_eq!(paused.sessions[0].outcome, "paused", "{paused:?}");
    assert!(
        !server.objects("site/sessions/s-0001/").contains_key("site/sessions/s-0001/session.json"),
        "a paused session is not in the store yet"
    );
    // The next push goes on with the parts already sent and completes.
    let out = push(&server, &lib, "site", &["--part-mib", "5"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("resuming ("), "{said}");
    assert_in_store(&server, "site", &lib, "s-0001");
}
