//! `tacit export --format tacit`: every table round-trips through the
//! Parquet reader against the recorded session; splits by operator; two
//! exports are byte-identical; `--append` adds only new files and refuses a
//! different schema; `tacit validate` finds a truncated file.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow_array::{Array, BinaryArray, Int64Array, RecordBatch, StringArray, StructArray};
use arrow_ipc::reader::StreamReader;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

mod common;

use common::{library_with, ok, record, tacit, walk};

fn read(path: &Path) -> (arrow_schema::SchemaRef, Vec<RecordBatch>) {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let b = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let schema = b.schema().clone();
    (schema, b.build().unwrap().map(|b| b.unwrap()).collect())
}

fn i64s(batches: &[RecordBatch], name: &str) -> Vec<i64> {
    batches.iter().flat_map(|b| b.column_by_name(name).unwrap().as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec()).collect()
}

fn strs(batches: &[RecordBatch], name: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(name).unwrap().as_any().downcast_ref::<StringArray>().unwrap();
            (0..a.len()).map(|i| a.value(i).to_string()).collect::<Vec<_>>()
        })
        .collect()
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(|b| b.num_rows()).sum()
}

/// A JSON file read and parsed.
fn json_at(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn manifest(dir: &Path) -> Value {
    json_at(&dir.join("tacit.json"))
}

fn export(lib: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    tacit().args(["export", "--format", "tacit", "--library"]).arg(lib).arg("--out").arg(out).args(extra).output().unwrap()
}

fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walk(dir) {
        out.insert(e.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&e).unwrap());
    }
    out
}

/// Raw camera frames of a session (t_ns, JPEG) read from its Arrow streams.
fn raw_frames(session: &Path) -> Vec<(i64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut segs: Vec<PathBuf> =
        walk(session).into_iter().filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("cam-front.")).collect();
    segs.sort();
    for seg in segs {
        for b in StreamReader::try_new(std::fs::File::open(&seg).unwrap(), None).unwrap() {
            let b = b.unwrap();
            let t = b.column_by_name("t_ns").unwrap().as_any().downcast_ref::<Int64Array>().unwrap().clone();
            let d = b.column_by_name("data").unwrap().as_any().downcast_ref::<BinaryArray>().unwrap().clone();
            for i in 0..b.num_rows() {
                out.push((t.value(i), d.value(i).to_vec()));
            }
        }
    }
    out
}

#[test]
#[allow(clippy::too_many_lines, reason = "one end-to-end scenario, checked step by step")]
fn tacit_tables_round_trip_split_by_operator_and_append() {
    let (tmp, lib) = library_with(&[("kim", "용접 root pass", "2"), ("lee", "용접 root pass", "2"), ("park", "용접 root pass", "2")]);
    let profile = lib.join("stations/demo.toml");
    let mut ids: Vec<PathBuf> = std::fs::read_dir(lib.join("sessions")).unwrap().flatten().map(|e| e.path()).collect();
    ids.sort();
    let id = |p: &Path| p.file_name().unwrap().to_str().unwrap().to_string();
    let label = |args: &[&str]| ok(tacit().arg("label").args(args).arg("--library").arg(&lib).output().unwrap());
    label(&["add", &id(&ids[0]), "--tier", "step", "--value", "root pass", "--from", "0.5", "--to", "1.5"]);
    label(&["add", &id(&ids[0]), "--tier", "note", "--value", "키홀 크기", "--at", "1.0", "--status", "rejected"]);

    let out = tmp.path().join("ds");
    let split = ["--split", "train=0.34,val=0.33,test=0.33", "--group-by", "operator", "--seed", "5"];
    ok(export(&lib, &out, &split));
    let m = manifest(&out);
    assert_eq!(m["format"], "tacit");
    assert_eq!(m["episodes"].as_array().unwrap().len(), 3);
    let mut used: Vec<&str> = m["episodes"].as_array().unwrap().iter().map(|e| e["split"].as_str().unwrap()).collect();
    used.sort();
    assert_eq!(used, ["test", "train", "val"], "three operators, three splits");

    // Every table, every file, read back; rows match tacit.json.
    let mut by_table: BTreeMap<String, Vec<RecordBatch>> = BTreeMap::new();
    for f in m["files"].as_array().unwrap() {
        let (schema, batches) = read(&out.join(f["path"].as_str().unwrap()));
        assert_eq!(rows(&batches) as u64, f["rows"].as_u64().unwrap(), "{f}");
        let hf: Value = serde_json::from_str(&schema.metadata()["huggingface"]).unwrap();
        if f["table"].as_str().unwrap().starts_with("frames-") {
            assert_eq!(hf["info"]["features"]["image"]["_type"], "Image");
        }
        if f["table"] == "audio" {
            assert_eq!(hf["info"]["features"]["audio"]["_type"], "Audio");
        }
        assert!(f["path"].as_str().unwrap().starts_with(&format!(
            "{}/{}-000-",
            f["table"].as_str().unwrap(),
            f["split"].as_str().unwrap()
        )));
        by_table.entry(f["table"].as_str().unwrap().to_string()).or_default().extend(batches);
    }
    assert_eq!(
        by_table.keys().cloned().collect::<Vec<_>>(),
        ["audio", "commentary", "episodes", "events", "frames-front", "labels", "sensors-arc", "words"]
    );
    // Frames: exactly the recorded JPEGs, per session, in time order.
    let frames = &by_table["frames-front"];
    let sids = strs(frames, "session_id");
    let t = i64s(frames, "t_ns");
    let mut got: BTreeMap<String, Vec<(i64, Vec<u8>)>> = BTreeMap::new();
    for b in frames {
        let img = b.column_by_name("image").unwrap().as_any().downcast_ref::<StructArray>().unwrap();
        let bytes = img.column_by_name("bytes").unwrap().as_any().downcast_ref::<BinaryArray>().unwrap();
        for i in 0..b.num_rows() {
            let k = got.values().map(Vec::len).sum::<usize>();
            got.entry(sids[k].clone()).or_default().push((t[k], bytes.value(i).to_vec()));
        }
    }
    for dir in &ids {
        assert_eq!(got[&id(dir)], raw_frames(dir), "frames of {}", id(dir));
        let sm: Value = json_at(&dir.join("session.json"));
        let count = |kind: &str| sm["streams"].as_array().unwrap().iter().find(|s| s["kind"] == kind).unwrap()["count"].as_u64().unwrap();
        let sensor_rows = strs(&by_table["sensors-arc"], "session_id").iter().filter(|s| **s == id(dir)).count() as u64;
        assert_eq!(sensor_rows, count("sensor"), "every sensor reading at native rate");
        let event_rows = strs(&by_table["events"], "session_id").iter().filter(|s| **s == id(dir)).count() as u64;
        assert_eq!(event_rows, count("events"));
        // Audio: WAV chunks whose samples add up to the recording.
        let a = &by_table["audio"];
        let samples: u64 = a
            .iter()
            .flat_map(|b| {
                let s = b.column_by_name("samples").unwrap().as_any().downcast_ref::<arrow_array::UInt64Array>().unwrap().clone();
                let sid = b.column_by_name("session_id").unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
                (0..b.num_rows()).filter(move |i| sid.value(*i) == id(dir)).map(move |i| s.value(i)).collect::<Vec<_>>()
            })
            .sum();
        assert_eq!(samples, count("audio"));
    }
    let wav = {
        let b = &by_table["audio"][0];
        let s = b.column_by_name("audio").unwrap().as_any().downcast_ref::<StructArray>().unwrap();
        s.column_by_name("bytes").unwrap().as_any().downcast_ref::<BinaryArray>().unwrap().value(0).to_vec()
    };
    let r = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
    assert_eq!(r.spec().sample_rate, 16_000);
    // Sorted by (episode, time) within each file.
    for f in m["files"].as_array().unwrap().iter().filter(|f| f["table"] == "sensors-arc") {
        let (_, b) = read(&out.join(f["path"].as_str().unwrap()));
        let key: Vec<(i64, i64)> = i64s(&b, "episode_index").into_iter().zip(i64s(&b, "t_ns")).collect();
        assert!(key.windows(2).all(|w| w[0] <= w[1]));
    }
    // Labels: all of them, with status; Korean intact.
    let l = &by_table["labels"];
    assert_eq!(strs(l, "value"), ["root pass", "키홀 크기"]);
    assert_eq!(strs(l, "status"), ["draft", "rejected"]);
    assert_eq!(i64s(l, "start_ns"), [500_000_000, 1_000_000_000]);
    assert_eq!(strs(&by_table["episodes"], "task"), ["용접 root pass"; 3]);
    // Card: a config per table with its splits.
    let card = std::fs::read_to_string(out.join("README.md")).unwrap();
    for table in ["episodes", "frames-front", "sensors-arc", "audio", "commentary", "words", "labels", "events"] {
        assert!(card.contains(&format!("- config_name: {table}\n")), "{table}");
        for s in ["train", "val", "test"] {
            assert!(card.contains(&format!("path: {table}/{s}-*.parquet")), "{table} {s}");
        }
    }
    assert!(card.contains("train=0.34,val=0.33,test=0.33") && card.contains("grouped by operator"));

    // Deterministic: a second export is byte-identical.
    let again = tmp.path().join("again/ds"); // same name: the card names the dataset after its folder
    ok(export(&lib, &again, &split));
    assert!(files(&out) == files(&again), "two exports differ");
    let v = ok(tacit().arg("validate").arg(&out).output().unwrap());
    assert!(v.contains("valid"), "{v}");

    // Append: a new session adds files; nothing already there changes.
    let before = files(&out);
    ok(record(&lib, &profile, &["--duration", "1", "--operator", "kim", "--task", "tack"]).output().unwrap());
    ok(export(&lib, &out, &["--append"]));
    let after = files(&out);
    for (p, bytes) in &before {
        if p.extension().is_some_and(|x| x == "parquet") {
            assert!(after.get(p) == Some(bytes), "{} was rewritten", p.display());
        }
    }
    let m2 = manifest(&out);
    let eps = m2["episodes"].as_array().unwrap();
    assert_eq!(eps.len(), 4);
    assert_eq!(eps[3]["batch"], 1);
    let kim = eps.iter().find(|e| e["operator"] == "kim").unwrap()["split"].clone();
    assert_eq!(eps[3]["split"], kim, "a known operator keeps the split");
    assert!(m2["files"].as_array().unwrap().iter().any(|f| f["path"].as_str().unwrap().contains("-001-000.parquet")));
    ok(tacit().arg("validate").arg(&out).output().unwrap());
    let nothing = ok(export(&lib, &out, &["--append"]));
    assert!(nothing.contains("0 episodes added (4 already there)"), "{nothing}");
    // Append with another split: refused.
    let e = export(&lib, &out, &["--append", "--split", "train=1"]);
    assert!(!e.status.success() && String::from_utf8_lossy(&e.stderr).contains("is split"), "{e:?}");

    // A station with other channels: a schema mismatch, refused with --strict, skipped without.
    let other =
        std::fs::read_to_string(&profile).unwrap().replace("name = \"demo\"", "name = \"other\"").replace("wire_feed", "wire_speed");
    let other_profile = lib.join("stations/other.toml");
    std::fs::write(&other_profile, other).unwrap();
    ok(record(&lib, &other_profile, &["--duration", "1", "--operator", "kim", "--task", "tack"]).output().unwrap());
    let e = export(&lib, &out, &["--append", "--strict"]);
    let err = String::from_utf8_lossy(&e.stderr);
    assert!(!e.status.success() && err.contains("schema mismatch") && err.contains("wire_speed"), "{err}");
    assert!(files(&out) == after, "a refused append changes nothing");
    let skipped = export(&lib, &out, &["--append"]);
    assert!(skipped.status.success() && String::from_utf8_lossy(&skipped.stderr).contains("differ from the dataset's"));

    // validate: a truncated frames file is reported by name.
    let victim =
        m2["files"].as_array().unwrap().iter().find(|f| f["table"] == "frames-front").unwrap()["path"].as_str().unwrap().to_string();
    let p = out.join(&victim);
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(len / 2).unwrap();
    std::fs::write(out.join("frames-front/train-009-000.parquet"), b"stray").unwrap();
    let v = tacit().arg("validate").arg(&out).output().unwrap();
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(!v.status.success());
    assert!(text.contains(&format!("{victim}: not a readable Parquet file")), "{text}");
    assert!(text.contains("frames-front/train-009-000.parquet: not listed in tacit.json"), "{text}");
    let i = ok(tacit().args(["inspect"]).arg(&again).output().unwrap());
    assert!(i.contains("frames-front") && i.contains("root pass"), "{i}");
}

#[test]
fn lerobot_splits_are_contiguous_episode_ranges() {
    let (tmp, lib) = library_with(&[("kim", "tack", "1"), ("lee", "tack", "1"), ("kim", "tack", "1")]);
    let out = tmp.path().join("lr");
    let run = |seed: &str| {
        let _ = std::fs::remove_dir_all(&out);
        ok(tacit()
            .args([
                "export",
                "--format",
                "lerobot",
                "--fps",
                "10",
                "--split",
                "train=0.5,test=0.5",
                "--group-by",
                "operator",
                "--seed",
                seed,
            ])
            .arg("--library")
            .arg(&lib)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap());
        let info: Value = json_at(&out.join("meta/info.json"));
        let prov: Value = json_at(&out.join("meta/tacit.json"));
        (info, prov)
    };
    let (info, prov) = run("1");
    let splits = info["splits"].as_object().unwrap();
    let mut covered = Vec::new();
    for (name, range) in splits {
        let (a, b) = range.as_str().unwrap().split_once(':').unwrap();
        let (a, b): (usize, usize) = (a.parse().unwrap(), b.parse().unwrap());
        for e in a..b {
            covered.push(e);
            assert_eq!(prov["episodes"][e]["split"], name.as_str());
        }
    }
    covered.sort();
    assert_eq!(covered, [0, 1, 2], "{splits:?}");
    // Both of kim's sessions are in one split.
    let kim: Vec<&str> = prov["episodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            let sid = e["session_id"].as_str().unwrap();
            let m: Value = json_at(&lib.join("sessions").join(sid).join("session.json"));
            m["operator"] == "kim"
        })
        .map(|e| e["split"].as_str().unwrap())
        .collect();
    assert_eq!(kim.len(), 2);
    assert_eq!(kim[0], kim[1]);
    ok(tacit().arg("validate").arg(&out).output().unwrap());
    assert_eq!(run("1").1, prov, "same seed, same splits");

    // `tacit label review` sets the flag `--where status=reviewed` selects on.
    let sid = prov["episodes"][0]["session_id"].as_str().unwrap().to_string();
    let marked = ok(tacit().args(["label", "review", &sid, "--library"]).arg(&lib).output().unwrap());
    assert!(marked.contains("marked reviewed"));
    let reviewed = tmp.path().join("reviewed");
    ok(tacit()
        .args(["export", "--format", "tacit", "--where", "status=reviewed", "--library"])
        .arg(&lib)
        .arg("--out")
        .arg(&reviewed)
        .output()
        .unwrap());
    let m: Value = json_at(&reviewed.join("tacit.json"));
    let got: Vec<&str> = m["episodes"].as_array().unwrap().iter().map(|e| e["session_id"].as_str().unwrap()).collect();
    assert_eq!(got, [sid.as_str()]);
    ok(tacit().args(["label", "review", &sid, "--undo", "--library"]).arg(&lib).output().unwrap());
    let none = tacit()
        .args(["export", "--where", "status=reviewed", "--library"])
        .arg(&lib)
        .arg("--out")
        .arg(tmp.path().join("none"))
        .output()
        .unwrap();
    assert!(!none.status.success() && String::from_utf8_lossy(&none.stderr).contains("no session matches"));
}

#[test]
fn lerobot_episodes_per_labeled_step() {
    let (tmp, lib) = library_with(&[("kim", "butt weld", "3")]);
    let sid = std::fs::read_dir(lib.join("sessions")).unwrap().next().unwrap().unwrap().file_name().into_string().unwrap();
    let label = |args: &[&str]| ok(tacit().arg("label").args(args).arg("--library").arg(&lib).output().unwrap());
    label(&["add", &sid, "--tier", "step", "--value", "root pass", "--from", "1.5", "--to", "2.5"]);
    label(&["add", &sid, "--tier", "step", "--value", "tack", "--from", "0.5", "--to", "1.2"]);
    label(&["add", &sid, "--tier", "step", "--value", "fill pass", "--from", "2.5", "--to", "2.9", "--status", "rejected"]);
    label(&["add", &sid, "--tier", "defect", "--value", "porosity", "--at", "1.8"]);
    let out = tmp.path().join("steps");
    ok(tacit()
        .args(["export", "--format", "lerobot", "--fps", "10", "--episodes", "step", "--library"])
        .arg(&lib)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap());
    let info: Value = json_at(&out.join("meta/info.json"));
    assert_eq!(info["total_episodes"], 2, "the rejected step is not an episode");
    assert_eq!(info["total_frames"], 17);
    let (_, data) = read(&out.join("data/chunk-000/file-000.parquet"));
    let ep = i64s(&data, "episode_index");
    let fi = i64s(&data, "frame_index");
    let step = strs(&data, "label.step");
    let defect = strs(&data, "label.defect");
    // Episode 0 = tack (0.5–1.2 s: 7 frames), episode 1 = root pass (1.5–2.5 s: 10 frames), in time order.
    assert_eq!(ep.iter().filter(|e| **e == 0).count(), 7);
    assert_eq!(ep.iter().filter(|e| **e == 1).count(), 10);
    for r in 0..ep.len() {
        assert_eq!(step[r], if ep[r] == 0 { "tack" } else { "root pass" }, "row {r}");
    }
    let hits: Vec<(i64, i64)> = (0..ep.len()).filter(|r| defect[*r] == "porosity").map(|r| (ep[r], fi[r])).collect();
    assert_eq!(hits, [(1, 3)], "1.8 s = 1.5 s + 3 frames");
    let (_, tasks) = read(&out.join("meta/tasks.parquet"));
    let names: Vec<String> = tasks
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name("__index_level_0__").unwrap().as_any().downcast_ref::<arrow_array::LargeStringArray>().unwrap();
            (0..a.len()).map(|i| a.value(i).to_string()).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(names, ["tack", "root pass"]);
    let v = ok(tacit().arg("validate").arg(&out).output().unwrap());
    assert!(v.contains("valid"), "{v}");

    // --image-size: frames re-encoded at the asked size, declared in info.json.
    let small = tmp.path().join("small");
    ok(tacit()
        .args(["export", "--fps", "10", "--image-size", "160x120", "--library"])
        .arg(&lib)
        .arg("--out")
        .arg(&small)
        .output()
        .unwrap());
    let info: Value = json_at(&small.join("meta/info.json"));
    assert_eq!(info["features"]["observation.images.front"]["shape"], serde_json::json!([120, 160, 3]));
    let (_, data) = read(&small.join("data/chunk-000/file-000.parquet"));
    let img = data[0].column_by_name("observation.images.front").unwrap().as_any().downcast_ref::<StructArray>().unwrap();
    let bytes = img.column_by_name("bytes").unwrap().as_any().downcast_ref::<BinaryArray>().unwrap();
    for i in 0..bytes.len() {
        assert_eq!(jpeg_size(bytes.value(i)), (160, 120));
    }
    ok(tacit().arg("validate").arg(&small).output().unwrap());
    let bad =
        tacit().args(["export", "--image-size", "160"]).arg("--library").arg(&lib).arg("--out").arg(tmp.path().join("x")).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("WIDTHxHEIGHT"));

    // A session with a missing stream file: a clear error naming it, in both formats, nothing written.
    std::fs::remove_file(lib.join("sessions").join(&sid).join("sensor-arc.arrows")).unwrap();
    for format in ["lerobot", "tacit"] {
        let out = tmp.path().join(format!("missing-{format}"));
        let r = tacit().args(["export", "--strict", "--format", format, "--library"]).arg(&lib).arg("--out").arg(&out).output().unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && err.contains("sensor stream arc: sensor-arc.arrows is missing"), "{err}");
        assert!(!out.exists());
        let r = tacit().args(["export", "--format", format, "--library"]).arg(&lib).arg("--out").arg(&out).output().unwrap();
        let err = String::from_utf8_lossy(&r.stderr);
        assert!(!r.status.success() && err.contains("warning: skipping") && err.contains("no session"), "{err}");
        assert!(!out.exists());
    }
    // …and one whose manifest lacks a stream the station profile declares.
    let mpath = lib.join("sessions").join(&sid).join("session.json");
    let mut m: Value = json_at(&mpath);
    m["streams"].as_array_mut().unwrap().retain(|s| s["kind"] != "sensor");
    std::fs::write(&mpath, serde_json::to_string(&m).unwrap()).unwrap();
    let r = tacit()
        .args(["export", "--strict", "--format", "tacit", "--library"])
        .arg(&lib)
        .arg("--out")
        .arg(tmp.path().join("undeclared"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && err.contains("sensor arc is in the station profile but the session has no such stream"), "{err}");
}

/// (width, height) from a JPEG's start-of-frame marker.
fn jpeg_size(d: &[u8]) -> (u16, u16) {
    let mut i = 2;
    while i + 9 < d.len() {
        assert_eq!(d[i], 0xFF, "marker expected at {i}");
        let marker = d[i + 1];
        let len = u16::from_be_bytes([d[i + 2], d[i + 3]]) as usize;
        if (0xC0..=0xC2).contains(&marker) {
            return (u16::from_be_bytes([d[i + 7], d[i + 8]]), u16::from_be_bytes([d[i + 5], d[i + 6]]));
        }
        i += 2 + len;
    }
    panic!("no SOF marker")
}

fn close(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| close(p, q)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| close(v, w))),
        (Value::Number(p), Value::Number(q)) => {
            (p.as_f64().unwrap() - q.as_f64().unwrap()).abs() <= 1e-6 * (1.0 + p.as_f64().unwrap().abs())
        }
        _ => a == b,
    }
}

#[test]
fn lerobot_append_adds_files_and_matches_a_full_export() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    ok(tacit().args(["init", "--library"]).arg(&lib).output().unwrap());
    let profile = lib.join("stations/demo.toml");
    let rec = |op: &str, task: &str| {
        ok(record(&lib, &profile, &["--duration", "1", "--operator", op, "--task", task]).output().unwrap());
        std::thread::sleep(std::time::Duration::from_millis(1100));
    };
    rec("kim", "tack");
    rec("lee", "tack");
    let export = |out: &Path, extra: &[&str]| {
        tacit().args(["export", "--fps", "10", "--library"]).arg(&lib).arg("--out").arg(out).args(extra).output().unwrap()
    };
    let out = tmp.path().join("a/lr");
    ok(export(&out, &[]));
    let before = files(&out);
    rec("park", "cap pass");
    let added = ok(export(&out, &["--append"]));
    assert!(added.contains("1 episodes added (2 already there)"), "{added}");
    let after = files(&out);
    for (p, bytes) in &before {
        if p.starts_with("data") || p.starts_with("meta/episodes") {
            assert!(after.get(p) == Some(bytes), "{} was rewritten", p.display());
        }
    }
    assert!(after.contains_key(Path::new("data/chunk-000/file-001.parquet")));
    assert!(after.contains_key(Path::new("meta/episodes/chunk-000/file-001.parquet")));
    let v = ok(tacit().arg("validate").arg(&out).output().unwrap());
    assert!(v.contains("3 episodes, 30 frames — valid"), "{v}");
    // The same as exporting all three at once (except where the rows sit).
    let full = tmp.path().join("b/lr");
    ok(export(&full, &[]));
    let json = |d: &Path, f: &str| json_at(&d.join(f));
    assert!(close(&json(&out, "meta/stats.json"), &json(&full, "meta/stats.json")), "aggregated stats differ");
    assert_eq!(json(&out, "meta/info.json"), json(&full, "meta/info.json"));
    let (_, t) = read(&out.join("meta/tasks.parquet"));
    assert_eq!(t[0].num_rows(), 2, "tack, cap pass");
    let again = ok(export(&out, &["--append"]));
    assert!(again.contains("0 episodes added (3 already there)"), "{again}");
    // Refusals leave the dataset as it was.
    let now = files(&out);
    let e = tacit().args(["export", "--append", "--fps", "15", "--library"]).arg(&lib).arg("--out").arg(&out).output().unwrap();
    assert!(!e.status.success() && String::from_utf8_lossy(&e.stderr).contains("10 fps"));
    let e = export(&out, &["--append", "--image-size", "64x48", "--strict"]);
    rec("choi", "tack");
    let e2 = export(&out, &["--append", "--image-size", "64x48", "--strict"]);
    assert!(e.status.success(), "nothing new to add yet");
    assert!(!e2.status.success() && String::from_utf8_lossy(&e2.stderr).contains("schema mismatch"), "{e2:?}");
    assert!(files(&out) == now);

    // Splits: an append that would break a contiguous range is refused.
    let split = tmp.path().join("c/lr");
    // Three operators of ~1 s each at 0.7/0.3: train, test, train (margins of
    // 0.2 s, so recording jitter cannot change it); a fourth operator is then
    // furthest below train's share, but the last range is test.
    let opts = ["--split", "train=0.7,test=0.3", "--group-by", "operator", "--seed", "2", "--session"];
    let sessions: Vec<String> = {
        let mut v: Vec<String> =
            std::fs::read_dir(lib.join("sessions")).unwrap().flatten().map(|e| e.file_name().into_string().unwrap()).collect();
        v.sort();
        v
    };
    let mut first = opts.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    first.extend(sessions[..3].iter().cloned());
    ok(export(&split, &first.iter().map(String::as_str).collect::<Vec<_>>()));
    let info = json(&split, "meta/info.json");
    let last = info["splits"]
        .as_object()
        .unwrap()
        .iter()
        .max_by_key(|(_, r)| r.as_str().unwrap().split(':').next().unwrap().parse::<u32>().unwrap())
        .unwrap()
        .0
        .clone();
    let r = export(&split, &["--append"]);
    let prov = json(&split, "meta/tacit.json");
    let choi_split = prov["episodes"].as_array().unwrap().iter().find(|e| e["group"] == "choi").map(|e| e["split"].clone());
    assert_eq!(last, "test");
    assert!(choi_split.is_none(), "nothing was appended");
    assert!(!r.status.success() && String::from_utf8_lossy(&r.stderr).contains("contiguous"), "{r:?}");
    ok(tacit().arg("validate").arg(&split).output().unwrap());
}
