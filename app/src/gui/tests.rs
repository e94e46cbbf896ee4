//! The app driven by label with egui_kittest: record a synthetic session,
//! review it (play, label with keys, edit the transcript, undo/redo, mark
//! reviewed), export it — asserting on the files written.

use std::path::Path;
use std::time::{Duration, Instant};

use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;

use super::{Lang, Place, Settings, TacitApp};

fn harness(settings: Settings, settings_path: &Path) -> Harness<'static, TacitApp> {
    let path = settings_path.to_path_buf();
    Harness::builder().with_size([1280.0, 860.0]).build_eframe(move |cc| TacitApp::new(&cc.egui_ctx, settings, Some(path)))
}

/// Steps the app (real time passes between steps) until `cond` holds; fails after 60 s.
fn wait_for(h: &mut Harness<'static, TacitApp>, what: &str, cond: impl Fn(&TacitApp) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond(h.state()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for: {what} (review says {:?}, loaded {}, frame {}, place {:?})",
            h.state().review.message(),
            h.state().review_loaded(),
            h.state().review.frame_shown(),
            h.state().settings().place
        );
        h.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    h.step();
}

/// Opens Record, waits for the station profiles and starts recording.
fn start_recording(h: &mut Harness<'static, TacitApp>) {
    h.get_by_label("Record").click();
    wait_for(h, "the station profiles", |a| a.record.profiles_ready());
    h.run_steps(3);
    h.get_by_label_contains("Start recording").click();
    wait_for(h, "recording to start", |a| a.record.is_recording());
}

/// A demo-station recording in `lib`, running for `ms` before it is returned.
fn start_demo_recording(lib: &Path, ms: u64) -> tacit_capture::Recorder {
    let profile = tacit_schema::StationProfile::from_toml(crate::DEMO_PROFILE).unwrap();
    let rec = tacit_capture::Recorder::start(&tacit_session::Library::at(lib), &profile, tacit_capture::RecordOptions::default()).unwrap();
    std::thread::sleep(Duration::from_millis(ms));
    rec
}

/// A step label in Review with keys: I (mark in at the playhead), `frames`
/// frames on, O (mark out), then `value` (the step's number key).
fn label_with_keys(h: &mut Harness<'static, TacitApp>, frames: usize, value: egui::Key) {
    h.key_press(egui::Key::I);
    h.step();
    for _ in 0..frames {
        h.key_press(egui::Key::ArrowRight);
        h.step();
    }
    for key in [egui::Key::O, value] {
        h.key_press(key);
        h.step();
    }
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn write_transcript(dir: &Path) {
    use tacit_session::transcript::{write, Segment, Word};
    let seg = |id: u32, a: i64, b: i64, text: &str| Segment {
        segment_id: id,
        start_ns: a,
        end_ns: b,
        text: text.into(),
        language: "en".into(),
        avg_logprob: -0.2,
        no_speech_prob: 0.01,
        words: text
            .split(' ')
            .enumerate()
            .map(|(k, w)| Word {
                word: w.into(),
                start_ns: a + k as i64 * 100_000_000,
                end_ns: a + (k as i64 + 1) * 100_000_000,
                probability: 0.9,
            })
            .collect(),
    };
    write(
        &dir.join("transcript.parquet"),
        &[seg(0, 200_000_000, 900_000_000, "start the root pass"), seg(1, 1_000_000_000, 1_800_000_000, "keep the key hole small")],
        &[],
    )
    .unwrap();
}

#[test]
#[allow(clippy::too_many_lines, reason = "one end-to-end scenario, checked step by step")]
fn record_review_label_edit_and_mark_reviewed() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    crate::init_library(&lib, false).unwrap();
    let settings_path = tmp.path().join("app.json");
    let settings = Settings {
        library: lib.clone(),
        lang: Lang::En,
        operator: "op-07".into(),
        task: "butt weld".into(),
        export_out: tmp.path().join("dataset"),
        ..Settings::default()
    };
    let mut h = harness(settings, &settings_path);
    h.step();

    // Record: a few seconds from the built-in demo station (synthetic devices).
    start_recording(&mut h);
    let started = Instant::now();
    // Previews and counters arrive while recording.
    wait_for(&mut h, "a preview frame and counters", |a| a.record.has_preview() && a.record.has_status());
    while started.elapsed() < Duration::from_millis(2500) {
        h.step();
        std::thread::sleep(Duration::from_millis(30));
    }
    // A marker key flashes and lands in the events.
    h.key_press(egui::Key::Num3);
    h.step();
    h.get_by_label_contains("Stop recording").click();
    wait_for(&mut h, "the recording to stop and the library to list it", |a| {
        !a.record.is_recording()
            && !a.record.is_busy()
            && a.library.rows().len() == 1
            && a.library.rows()[0].manifest.status == tacit_schema::SessionStatus::Complete
    });
    let dir = h.state().library.rows()[0].dir.clone();
    let m = json(&dir.join("session.json"));
    assert_eq!(m["status"], "complete");
    assert_eq!(m["operator"], "op-07");
    assert_eq!(m["task"], "butt weld");
    assert!(m["duration_ns"].as_i64().unwrap() > 2_000_000_000, "{}", m["duration_ns"]);
    // The marker key landed in the session's events.
    let events = std::fs::File::open(dir.join("events.arrows")).unwrap();
    let mut markers = Vec::new();
    for b in arrow_ipc::reader::StreamReader::try_new(events, None).unwrap() {
        let b = b.unwrap();
        let kind = b.column_by_name("kind").unwrap().as_any().downcast_ref::<arrow_array::StringArray>().unwrap().clone();
        let label = b.column_by_name("label").unwrap().as_any().downcast_ref::<arrow_array::StringArray>().unwrap().clone();
        let source = b.column_by_name("source").unwrap().as_any().downcast_ref::<arrow_array::StringArray>().unwrap().clone();
        for i in 0..b.num_rows() {
            if kind.value(i) == "marker" {
                markers.push((label.value(i).to_string(), source.value(i).to_string()));
            }
        }
    }
    assert_eq!(markers, vec![("spatter".to_string(), "keyboard".to_string())]);
    write_transcript(&dir);
    let transcript_before = std::fs::read(dir.join("transcript.parquet")).unwrap();

    // Library → Review.
    h.get_by_label("Library").click();
    // Grids size their columns from the frame before: let the layout settle.
    h.run_steps(3);
    h.get_by_label("Open").click();
    wait_for(&mut h, "the session to load in Review", |a| a.review_loaded() && a.review.frame_shown());
    assert_eq!(h.state().settings().place, Place::Review);

    // Play for a moment: the playhead moves and frames follow.
    h.get_by_label("Play").click();
    let t0 = h.state().review.playhead_ns();
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(600) {
        h.step();
        std::thread::sleep(Duration::from_millis(30));
    }
    h.get_by_label("Pause").click();
    h.step();
    let t1 = h.state().review.playhead_ns();
    assert!(t1 > t0, "playhead did not move: {t0} → {t1}");

    // A step label with keys: I at the playhead, step 10 frames, O, then 2 = "tack".
    label_with_keys(&mut h, 10, egui::Key::Num2);
    wait_for(&mut h, "the label to be saved", |a| a.review.pending() == 0);
    let ann = json(&dir.join("annotations.json"));
    let labels = ann["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 1, "{ann}");
    assert_eq!(labels[0]["tier"], "step");
    assert_eq!(labels[0]["value"], "tack");
    let (a, b) = (labels[0]["start_ns"].as_i64().unwrap(), labels[0]["end_ns"].as_i64().unwrap());
    assert_eq!(a, t1, "mark in at the playhead");
    // Ten frames on.
    assert_eq!(Some(b), h.state().review.frame_after(a, 10), "span {a}..{b}");

    // Undo removes it (on disk too), redo brings it back.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Z);
    h.step();
    wait_for(&mut h, "undo to be saved", |a| a.review.pending() == 0);
    assert_eq!(json(&dir.join("annotations.json"))["labels"].as_array().unwrap().len(), 0);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Y);
    h.step();
    wait_for(&mut h, "redo to be saved", |a| a.review.pending() == 0);
    assert_eq!(json(&dir.join("annotations.json"))["labels"][0]["value"], "tack");

    // Edit a transcript word: the correction is kept beside the machine text.
    h.get_all_by_label("Edit").nth(1).expect("an Edit button per segment").click();
    h.run_steps(2);
    let is_input = |n: &egui_kittest::Node<'_>| {
        matches!(n.accesskit_node().role(), egui::accesskit::Role::TextInput | egui::accesskit::Role::MultilineTextInput)
    };
    let roles: Vec<String> = h.query_all_by_value("keep the key hole small").map(|n| format!("{:?}", n.accesskit_node().role())).collect();
    let field =
        h.query_all_by_value("keep the key hole small").find(|n| is_input(n)).unwrap_or_else(|| panic!("no text field, only {roles:?}"));
    field.focus();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.query_all_by_value("keep the key hole small").find(|n| is_input(n)).expect("the text field").type_text("keep the keyhole small");
    h.step();
    h.get_by_label("Save").click();
    h.step();
    wait_for(&mut h, "the transcript edit to be saved", |a| a.review.pending() == 0);
    let ann = json(&dir.join("annotations.json"));
    let edits = ann["transcript_edits"].as_array().unwrap();
    assert_eq!(edits.len(), 1, "{ann}");
    assert_eq!(edits[0]["segment_id"], 1);
    assert_eq!(edits[0]["original"], "keep the key hole small");
    assert_eq!(edits[0]["text"], "keep the keyhole small");
    assert_eq!(std::fs::read(dir.join("transcript.parquet")).unwrap(), transcript_before, "machine text untouched");
    h.get_by_label("keep the keyhole small");
    // Every change went through the log too.
    let log = std::fs::read_to_string(dir.join("annotations.log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 4, "{log}");

    // Mark reviewed.
    h.get_by_label("Mark reviewed").click();
    wait_for(&mut h, "the reviewed flag", |a| a.review.reviewed());
    assert_eq!(json(&dir.join("session.json"))["reviewed"], true);

    // Export (LeRobot) on the worker thread: the corrected text is in the dataset.
    h.get_by_label("Export").click();
    h.run_steps(3);
    h.get_by_label("Start export").click();
    wait_for(&mut h, "the export to finish", |a| a.export.result().is_some());
    match h.state().export.result() {
        Some(Ok(r)) => assert_eq!(r.episodes, 1),
        other => panic!("export failed: {:?}", other.map(|r| r.as_ref().err())),
    }
    let info = json(&tmp.path().join("dataset/meta/info.json"));
    assert!(info["total_frames"].as_u64().unwrap() > 20);
    let v = tacit_datasets::validate_lerobot(&tmp.path().join("dataset"));
    assert!(v.defects.is_empty(), "{:?}", v.defects);
    // The trainer's correction, not the machine text, is the frames' commentary.
    let data = std::fs::File::open(tmp.path().join("dataset/data/chunk-000/file-000.parquet")).unwrap();
    let mut commentary = std::collections::BTreeSet::new();
    for b in parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(data).unwrap().build().unwrap() {
        let b = b.unwrap();
        let c = b.column_by_name("commentary").unwrap().as_any().downcast_ref::<arrow_array::StringArray>().unwrap().clone();
        commentary.extend(c.iter().flatten().map(String::from));
    }
    assert!(commentary.contains("keep the keyhole small"), "{commentary:?}");
    assert!(!commentary.contains("keep the key hole small"), "{commentary:?}");
    // And in the tacit tables' commentary table.
    let tables = tmp.path().join("tables");
    let opts =
        tacit_datasets::TacitOptions { out: tables.clone(), strict: true, replace: false, append: false, split: None, audio_chunk_s: 30 };
    tacit_datasets::export_tacit(std::slice::from_ref(&dir), &opts, &tacit_schema::progress::NoProgress).unwrap();
    let mut texts = Vec::new();
    let mut stack = vec![tables.join("commentary")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let f = std::fs::File::open(&p).unwrap();
                for b in parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap() {
                    let b = b.unwrap();
                    let c = b.column_by_name("text").unwrap().as_any().downcast_ref::<arrow_array::StringArray>().unwrap().clone();
                    texts.extend(c.iter().flatten().map(String::from));
                }
            }
        }
    }
    assert_eq!(texts, vec!["start the root pass".to_string(), "keep the keyhole small".to_string()]);

    // Settings were saved as they changed (by the settings thread, once
    // they rested).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::read_to_string(&settings_path).map_or(true, |t| !t.contains("\"Export\"")) && std::time::Instant::now() < deadline {
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let saved = json(&settings_path);
    assert_eq!(saved["place"], "Export");
    assert_eq!(saved["operator"], "op-07");
}

#[test]
fn korean_ui_with_a_hangul_font() {
    let tmp = tempfile::tempdir().unwrap();
    let settings = Settings { library: tmp.path().join("lib"), lang: Lang::Ko, ..Settings::default() };
    let mut h = harness(settings, &tmp.path().join("app.json"));
    h.step();
    match h.state().font() {
        super::FontStatus::Loaded(p) => assert!(p.exists()),
        super::FontStatus::Missing => panic!("no Hangul font: scripts/setup installs fonts-nanum"),
    }
    for label in ["라이브러리", "녹화", "검토", "내보내기"] {
        h.get_by_label(label);
    }
    h.get_by_label("녹화").click();
    h.step();
    h.step();
    h.get_by_label_contains("녹화 시작");
    // Switch to English in the settings combo.
    h.get_by_label("언어").click();
    h.run_steps(3);
    h.get_by_label("English").click();
    h.step();
    h.step();
    assert_eq!(h.state().settings().lang, Lang::En);
    h.get_by_label_contains("Start recording");
}

#[test]
fn a_cancelled_export_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    crate::init_library(&lib, false).unwrap();
    let rec = start_demo_recording(&lib, 1000);
    let dir = rec.dir().to_path_buf();
    rec.stop("test").unwrap();
    // The Cancel button sets this flag; the exporters check it after each batch.
    let progress = super::export_view::SharedProgress::default();
    progress.cancel();
    let out = tmp.path().join("ds");
    let lerobot = tacit_datasets::LeRobotOptions {
        out: out.clone(),
        fps: None,
        robot_type: None,
        strict: false,
        replace: false,
        split: Default::default(),
        split_given: false,
        episodes: tacit_datasets::EpisodeUnit::Session,
        image_size: None,
        video: None,
        append: false,
    };
    let e = tacit_datasets::export_lerobot(std::slice::from_ref(&dir), &lerobot, &progress).unwrap_err();
    assert!(matches!(e, tacit_datasets::DatasetError::Cancelled), "{e}");
    let tacit =
        tacit_datasets::TacitOptions { out: out.clone(), strict: false, replace: false, append: false, split: None, audio_chunk_s: 30 };
    let e = tacit_datasets::export_tacit(&[dir], &tacit, &progress).unwrap_err();
    assert!(matches!(e, tacit_datasets::DatasetError::Cancelled), "{e}");
    let left: Vec<String> = std::fs::read_dir(tmp.path()).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
    assert_eq!(left, vec!["lib".to_string()], "a cancelled export left files behind");
}

#[test]
fn library_recovers_an_interrupted_session_with_one_click() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    crate::init_library(&lib, false).unwrap();
    let rec = start_demo_recording(&lib, 800);
    let dir = rec.dir().to_path_buf();
    drop(rec); // as a crash would: no stop, the manifest still says recording
    let settings = Settings { library: lib, lang: Lang::En, ..Settings::default() };
    let mut h = harness(settings, &tmp.path().join("app.json"));
    wait_for(&mut h, "the library scan", |a| !a.library.rows().is_empty());
    h.run_steps(3);
    h.get_by_label("interrupted");
    h.get_by_label("Recover").click();
    wait_for(&mut h, "the recovery", |a| {
        a.library.rows().first().is_some_and(|r| r.manifest.status == tacit_schema::SessionStatus::Recovered)
    });
    assert_eq!(json(&dir.join("session.json"))["status"], "recovered");
    h.run_steps(3);
    // Now it opens in Review.
    h.get_by_label("Open").click();
    wait_for(&mut h, "the recovered session in Review", |a| a.review_loaded());
}

/// localbucket (from `.venv-s3`, made by scripts/setup) on a free loopback
/// port with the bucket `site-store`; killed on drop.
struct LocalBucket {
    port: u16,
    _data: tempfile::TempDir,
    child: std::process::Child,
}

impl LocalBucket {
    fn start() -> Self {
        let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-s3/bin");
        assert!(bin.join("localbucket").is_file(), "{} is missing: run scripts/setup", bin.display());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let data = tempfile::tempdir().unwrap();
        let child = std::process::Command::new(bin.join("localbucket"))
            .arg(data.path())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "localbucket did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let s = Self { port, _data: data, child };
        assert!(s.tool(&["mb", "site-store"]).status.success());
        s
    }

    fn tool(&self, args: &[&str]) -> std::process::Output {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::process::Command::new(root.join(".venv-s3/bin/python"))
            .arg(root.join("scripts/s3_tool.py"))
            .arg(format!("http://127.0.0.1:{}", self.port))
            .args(args)
            .env("AWS_ACCESS_KEY_ID", "app")
            .env("AWS_SECRET_ACCESS_KEY", "app-secret")
            .output()
            .unwrap()
    }
}

impl Drop for LocalBucket {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_station_with_a_store_pushes_each_session_after_it_stops() {
    let store = LocalBucket::start();
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    crate::init_library(&lib, false).unwrap();
    // The demo station with a [store] table, as a station file of the library.
    let creds = tmp.path().join("credentials");
    std::fs::write(&creds, "[site]\naws_access_key_id = app\naws_secret_access_key = app-secret\n").unwrap();
    let profile = format!(
        "{}\n[store]\nurl = \"s3://site-store/site\"\nendpoint = \"http://127.0.0.1:{}\"\nprofile = \"site\"\n",
        crate::DEMO_PROFILE,
        store.port
    );
    let stations = tacit_session::Library::at(&lib).stations_dir();
    std::fs::create_dir_all(&stations).unwrap();
    std::fs::write(stations.join("bay-1.toml"), profile).unwrap();
    // Only this test reads the credentials file variable.
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", &creds);
    let settings = Settings { library: lib.clone(), lang: Lang::En, station: "bay-1.toml".into(), ..Settings::default() };
    let mut h = harness(settings, &tmp.path().join("app.json"));
    h.step();
    start_recording(&mut h);
    // Nothing goes to the store while recording.
    assert_eq!(h.state().record.push_state(), (None, false));
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        h.step();
        std::thread::sleep(Duration::from_millis(30));
    }
    h.get_by_label_contains("Stop recording").click();
    wait_for(&mut h, "the session to stop and reach the store", |a| !a.record.is_busy() && a.record.push_state().0.is_some());
    let (line, _) = h.state().record.push_state();
    let line = line.unwrap().to_string();
    assert!(line.contains("in s3://site-store/site"), "{line}");
    let id = std::fs::read_dir(lib.join("sessions")).unwrap().flatten().next().unwrap().file_name().into_string().unwrap();
    let listed = store.tool(&["ls", "site-store", &format!("site/sessions/{id}/")]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains(&format!("site/sessions/{id}/session.json")), "{listed}");
    // The screen says where the session went.
    h.get_by_label_contains("Site store: ");
}

#[test]
fn a_trainer_reviews_and_labels_a_session_in_the_site_store() {
    use tacit_session::store::{push, PushOptions, Store, StoreOptions, StoreUrl};
    let store = LocalBucket::start();
    let tmp = tempfile::tempdir().unwrap();
    // A station's session with a camera, a sensor and a microphone, pushed.
    let station = tmp.path().join("station");
    tacit_session::builder::SessionBuilder::new("s-0001").seconds(3.0).label("step", "root pass", 0.0, 1.0).write(&station).unwrap();
    // localbucket takes any key; the other store test sets the same ones.
    std::env::set_var("AWS_ACCESS_KEY_ID", "app");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "app-secret");
    std::env::set_var("TACIT_CACHE_DIR", tmp.path().join("cache"));
    let options = StoreOptions { endpoint: Some(format!("http://127.0.0.1:{}", store.port)), ..StoreOptions::default() };
    let client = Store::connect(&StoreUrl::parse("s3://site-store/site").unwrap(), &options).unwrap();
    let report = push(&client, &[station.join("sessions/s-0001")], &PushOptions::default(), &tacit_schema::progress::NoProgress);
    assert_eq!(report.sessions[0].outcome, "pushed", "{:?}", report.sessions[0]);
    super::store_library::set_options(options);
    // The trainer's PC: the store is the library.
    let settings = Settings { library: "s3://site-store/site".into(), lang: Lang::En, ..Settings::default() };
    let mut h = harness(settings, &tmp.path().join("app.json"));
    wait_for(&mut h, "the store's sessions", |a| a.library.rows().len() == 1);
    h.run_steps(3);
    h.get_by_label("Open").click();
    wait_for(&mut h, "the session to load in Review", |a| a.review_loaded() && a.review.frame_shown());
    // A step label with keys, saved to the store.
    label_with_keys(&mut h, 5, egui::Key::Num1);
    wait_for(&mut h, "the label to be saved", |a| a.review.pending() == 0);
    let out = store.tool(&["cat", "site-store", "site/sessions/s-0001/annotations.json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let state: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let labels = state["labels"].as_array().unwrap();
    assert_eq!(labels.len(), 2, "the station's label and the trainer's: {state}");
    let listed = String::from_utf8(store.tool(&["ls", "site-store", "site/sessions/s-0001/annotations.d/authors/"]).stdout).unwrap();
    assert!(listed.contains("/00000001.jsonl"), "the trainer's log entry: {listed}");
    // Mark reviewed: the store's manifest says so.
    h.get_by_label("Mark reviewed").click();
    wait_for(&mut h, "the review flag", |_| {
        let out = store.tool(&["cat", "site-store", "site/sessions/s-0001/session.json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok_and(|m| m["reviewed"] == true)
    });
}

/// A damaged file in a session copy (issue 15).
fn damage_file(path: &Path, how: &str) {
    let bytes = std::fs::read(path).unwrap();
    match how {
        "garbage" => std::fs::write(path, b"{ this is not json").unwrap(),
        "half" => std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap(),
        "empty" => std::fs::write(path, b"").unwrap(),
        "missing" => std::fs::remove_file(path).unwrap(),
        "flip" => {
            let mut b = bytes;
            let n = b.len();
            for k in 1..=16 {
                b[n * k / 17] ^= 0xff;
            }
            std::fs::write(path, b).unwrap();
        }
        other => panic!("no damage {other}"),
    }
}

fn raw_bytes(lib: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for s in std::fs::read_dir(lib.join("sessions")).unwrap().flatten() {
        for f in std::fs::read_dir(s.path()).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(".arrows") || name.ends_with(".wav") {
                out.push((f.path(), std::fs::read(f.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
#[allow(clippy::too_many_lines, reason = "one scenario over every damage, checked step by step")]
fn damaged_sessions_are_named_in_the_library_and_never_crash_review() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    crate::init_library(&lib, false).unwrap();
    let good = start_demo_recording(&lib, 1500).stop("test").unwrap();
    let src = lib.join("sessions").join(&good.id);
    let label = tacit_schema::LabelSegment::draft(String::new(), "step", "tack", (0, 500_000_000), "kim", "2026-12-04T00:00:00Z");
    tacit_session::labels::add(&src, vec![label]).unwrap();
    let damages = [
        ("session.json", "garbage"),
        ("sensor-arc.arrows", "half"),
        ("sensor-arc.arrows", "flip"),
        ("cam-front.0.arrows", "flip"),
        ("cam-front.0.arrows", "empty"),
        ("mic-lapel.wav", "empty"),
        ("mic-lapel.wav", "half"),
        ("mic-lapel.timing.arrows", "missing"),
        ("annotations.json", "garbage"),
        ("events.arrows", "missing"),
        ("station.toml", "empty"),
    ];
    for (k, (file, how)) in damages.iter().enumerate() {
        let id = format!("{}-d{k:02}", good.id);
        let dir = lib.join("sessions").join(&id);
        copy_tree(&src, &dir);
        let mut m: serde_json::Value = json(&dir.join("session.json"));
        m["id"] = id.clone().into();
        std::fs::write(dir.join("session.json"), serde_json::to_vec(&m).unwrap()).unwrap();
        damage_file(&dir.join(file), how);
    }
    let before = raw_bytes(&lib);
    let settings = Settings { library: lib.clone(), lang: Lang::En, ..Settings::default() };
    let mut h = harness(settings, &tmp.path().join("app.json"));
    // The damaged manifest is listed with its file; the other copies and
    // the undamaged original are rows.
    wait_for(&mut h, "the library scan", |a| a.library.rows().len() == damages.len() - 1 + 1);
    h.run_steps(3);
    let unreadable = h.state().library.unreadable().to_vec();
    assert_eq!(unreadable.len(), 1, "{unreadable:?}");
    assert!(unreadable[0].contains("session.json") && unreadable[0].contains("-d00"), "{unreadable:?}");
    h.get_by_label_contains("Sessions that cannot be read");
    // Each session opens in Review, or Review says what is wrong with which file.
    let rows = h.state().library.rows().len();
    let mut outcomes = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..rows {
        h.get_all_by_label("Open").nth(i).unwrap_or_else(|| panic!("an Open button for row {i}")).click();
        h.step();
        wait_for(&mut h, "Review to open the session or say why not", |a| a.review.settled_id().is_some());
        h.run_steps(5);
        let message = h.state().review.message().unwrap_or_default().to_string();
        // Opened: "<id> · N ms"; refused: the error, which names the file by its path.
        let opened = message.split_once(" · ").map(|(id, _)| id.to_string());
        let about = opened.clone().unwrap_or_else(|| message.clone());
        let prefix = format!("{}-d", good.id);
        let k = about.find(&prefix).and_then(|at| about.get(at + prefix.len()..at + prefix.len() + 2)).map(|k| k.parse::<usize>().unwrap());
        seen.insert(k);
        match k {
            None => assert_eq!(opened.as_deref(), Some(good.id.as_str()), "the undamaged session did not open: {message}"),
            Some(k) => {
                let (file, how) = damages[k];
                if opened.is_none() {
                    assert!(message.contains(file), "Review of copy {k} ({file} {how}) failed without naming the file: {message}");
                }
                outcomes.push(format!("{file} {how}: {}", if opened.is_some() { "opened" } else { "refused, file named" }));
            }
        }
        h.get_by_label("Library").click();
        h.run_steps(3);
    }
    assert_eq!(seen.len(), rows, "every row opened once: {seen:?}");
    eprintln!("Review of damaged sessions:\n{}", outcomes.join("\n"));
    assert_eq!(raw_bytes(&lib), before, "the app changed a raw capture file");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_file() && !name.ends_with(".lock") {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
