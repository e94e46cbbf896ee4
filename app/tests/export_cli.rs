//! `tacit export --format lerobot` on recorded, labeled sessions: the LeRobot
//! v3.0 invariants, labels joined at frame boundaries, resampled sensors,
//! determinism, and refusal of bad input without touching a good dataset.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

use arrow_array::{Array, BinaryArray, FixedSizeListArray, Float32Array, Int64Array, RecordBatch, StringArray, StructArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

mod common;

use common::{copy_dir, ok, record, tacit};

fn library(sessions: usize) -> (tempfile::TempDir, PathBuf, Vec<String>) {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    ok(tacit().args(["init", "--library"]).arg(&lib).output().unwrap());
    let profile = lib.join("stations/demo.toml");
    for i in 0..sessions {
        let task = if i == 0 { "fillet weld" } else { "butt weld" };
        ok(record(&lib, &profile, &["--duration", "2", "--operator", "op-01", "--task", task]).output().unwrap());
        std::thread::sleep(std::time::Duration::from_millis(1100)); // distinct session ids (seconds)
    }
    let list: Value = serde_json::from_str(&ok(tacit().args(["sessions", "--json", "--library"]).arg(&lib).output().unwrap())).unwrap();
    let mut ids: Vec<String> = list.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    (tmp, lib, ids)
}

fn read(path: &Path) -> RecordBatch {
    let f = std::fs::File::open(path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
    let schema = builder.schema().clone(); // with the file's schema metadata
    let batches: Vec<RecordBatch> = builder.build().unwrap().map(|b| b.unwrap()).collect();
    concat(schema, &batches)
}

fn concat(schema: arrow_schema::SchemaRef, batches: &[RecordBatch]) -> RecordBatch {
    let cols = (0..schema.fields().len())
        .map(|i| {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
            arrow_select::concat::concat(&parts).unwrap()
        })
        .collect();
    RecordBatch::try_new(schema, cols).unwrap()
}

fn col<'a, T: 'static>(b: &'a RecordBatch, name: &str) -> &'a T {
    b.column_by_name(name).unwrap_or_else(|| panic!("no column {name}")).as_any().downcast_ref::<T>().unwrap()
}

fn export(lib: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    tacit().args(["export", "--format", "lerobot", "--fps", "10", "--library"]).arg(lib).arg("--out").arg(out).args(extra).output().unwrap()
}

#[test]
#[allow(clippy::too_many_lines, reason = "one end-to-end scenario, checked step by step")]
fn lerobot_export_keeps_the_invariants_and_is_deterministic() {
    let (tmp, lib, ids) = library(2);
    let label = |args: &[&str]| ok(tacit().arg("label").args(args).arg("--library").arg(&lib).output().unwrap());
    label(&["add", &ids[0], "--tier", "step", "--value", "root pass", "--from", "0.5", "--to", "1.5"]);
    label(&["add", &ids[0], "--tier", "defect", "--value", "porosity", "--at", "1.2"]);
    label(&["add", &ids[1], "--tier", "step", "--value", "tack", "--from", "0", "--to", "1", "--status", "rejected"]);

    let out = tmp.path().join("ds");
    ok(export(&lib, &out, &[]));
    let info: Value = serde_json::from_str(&std::fs::read_to_string(out.join("meta/info.json")).unwrap()).unwrap();
    assert_eq!(info["codebase_version"], "v3.0");
    assert_eq!(info["fps"], 10);
    assert_eq!(info["total_episodes"], 2);
    assert_eq!(info["total_tasks"], 2);
    let keys: Vec<&String> = info["features"].as_object().unwrap().keys().collect();
    assert_eq!(keys[keys.len() - 7..keys.len() - 2], ["timestamp", "frame_index", "episode_index", "index", "task_index"]);
    assert_eq!(keys[keys.len() - 2..], ["language_persistent", "language_events"], "LeRobot's language columns come last");
    assert_eq!(keys[0], "observation.images.front");
    assert_eq!(info["features"]["observation.state"]["names"], serde_json::json!(["arc.current", "arc.voltage"]));
    assert_eq!(info["features"]["action"]["names"], serde_json::json!(["arc.wire_feed", "arc.travel_speed"]));
    assert!(std::fs::read_to_string(out.join("meta/info.json")).unwrap().contains("\n    \"codebase_version\""), "4-space indent");

    let data = read(&out.join("data/chunk-000/file-000.parquet"));
    let n = data.num_rows();
    assert_eq!(info["total_frames"].as_u64().unwrap() as usize, n);
    assert!(data.schema().metadata().get("huggingface").unwrap().contains("\"_type\":\"Image\""));
    let index = col::<Int64Array>(&data, "index");
    let episode = col::<Int64Array>(&data, "episode_index");
    let frame = col::<Int64Array>(&data, "frame_index");
    let ts = col::<Float32Array>(&data, "timestamp");
    let task = col::<Int64Array>(&data, "task_index");
    for i in 0..n {
        assert_eq!(index.value(i), i as i64, "index is global and contiguous");
        assert_eq!(ts.value(i), (frame.value(i) as f64 / 10.0) as f32, "timestamp = frame_index / fps");
        if i > 0 && episode.value(i) == episode.value(i - 1) {
            assert_eq!(frame.value(i), frame.value(i - 1) + 1);
        } else {
            assert_eq!(frame.value(i), 0);
        }
        assert_eq!(task.value(i), episode.value(i), "one task per session here");
    }
    assert_eq!(episode.value(n - 1), 1);

    // Labels at frame boundaries (10 fps: frame k at k/10 s): [0.5, 1.5) → frames 5..=14.
    let step = col::<StringArray>(&data, "label.step");
    let defect = col::<StringArray>(&data, "label.defect");
    for k in 0..20usize {
        let want = if (5..15).contains(&k) { "root pass" } else { "" };
        assert_eq!(step.value(k), want, "frame {k}");
        assert_eq!(defect.value(k), if k == 12 { "porosity" } else { "" }, "point label on frame 12 only");
    }
    // The rejected label of session 2 is not exported.
    assert!((0..n).filter(|i| episode.value(*i) == 1).all(|i| step.value(i).is_empty()));

    // Images are the recorded JPEG bytes; sensors are resampled means.
    let images = col::<StructArray>(&data, "observation.images.front");
    let bytes = images.column_by_name("bytes").unwrap().as_any().downcast_ref::<BinaryArray>().unwrap();
    assert!((0..n).all(|i| bytes.value(i).starts_with(&[0xFF, 0xD8])));
    let state = col::<FixedSizeListArray>(&data, "observation.state");
    assert_eq!(state.value_length(), 2);
    let values = state.values().as_any().downcast_ref::<Float32Array>().unwrap();
    assert!(values.iter().all(|v| v.unwrap().is_finite()));
    // The demo station's two action channels (wire feed, travel speed).
    let action = col::<FixedSizeListArray>(&data, "action");
    assert_eq!(action.value_length(), 2);
    assert!(action.values().as_any().downcast_ref::<Float32Array>().unwrap().iter().all(|v| v.unwrap().is_finite()));

    // Episodes and tasks.
    let eps = read(&out.join("meta/episodes/chunk-000/file-000.parquet"));
    assert_eq!(eps.schema().field(0).name(), "episode_index");
    let from = col::<Int64Array>(&eps, "dataset_from_index");
    let to = col::<Int64Array>(&eps, "dataset_to_index");
    assert_eq!((from.value(0), to.value(1)), (0, n as i64));
    assert_eq!(to.value(0), from.value(1));
    let tasks = read(&out.join("meta/tasks.parquet"));
    assert!(tasks.schema().metadata().get("pandas").unwrap().contains("__index_level_0__"));
    let stats: Value = serde_json::from_str(&std::fs::read_to_string(out.join("meta/stats.json")).unwrap()).unwrap();
    assert_eq!(stats["observation.images.front"]["mean"].as_array().unwrap().len(), 3);
    assert_eq!(stats["index"]["count"][0].as_u64().unwrap() as usize, n);

    // Deterministic: the same sessions and options give byte-identical files.
    let again = tmp.path().join("ds2");
    ok(export(&lib, &again, &[]));
    for f in [
        "data/chunk-000/file-000.parquet",
        "meta/info.json",
        "meta/stats.json",
        "meta/tasks.parquet",
        "meta/episodes/chunk-000/file-000.parquet",
    ] {
        assert_eq!(std::fs::read(out.join(f)).unwrap(), std::fs::read(again.join(f)).unwrap(), "{f} differs between two exports");
    }

    // `tacit inspect DATASET` summarizes it, with frames per label value.
    let summary: Value = serde_json::from_str(&ok(tacit().arg("inspect").arg(&out).arg("--json").output().unwrap())).unwrap();
    assert_eq!(summary["episodes"], 2);
    assert_eq!(summary["frames"].as_u64().unwrap() as usize, n);
    assert_eq!(summary["tasks"], serde_json::json!(["fillet weld", "butt weld"]));
    let labeled = summary["label_frames"].as_array().unwrap();
    assert!(labeled.contains(&serde_json::json!(["step", "root pass", 10])), "{labeled:?}");
    assert!(labeled.contains(&serde_json::json!(["defect", "porosity", 1])), "{labeled:?}");

    // `tacit validate` passes the export, and names the file and row of defects.
    let valid = ok(tacit().arg("validate").arg(&out).output().unwrap());
    assert!(valid.contains("valid"), "{valid}");
    let broken = tmp.path().join("broken");
    copy_dir(&again, &broken);
    let info_path = broken.join("meta/info.json");
    let text = std::fs::read_to_string(&info_path).unwrap().replace(&format!("\"total_frames\": {n}"), "\"total_frames\": 7");
    std::fs::write(&info_path, text).unwrap();
    let data = broken.join("data/chunk-000/file-000.parquet");
    let bytes = std::fs::read(&data).unwrap();
    std::fs::write(&data, &bytes[..bytes.len() / 2]).unwrap();
    let report = tacit().arg("validate").arg(&broken).output().unwrap();
    assert!(!report.status.success());
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(text.contains("data/chunk-000/file-000.parquet: not a readable Parquet file"), "{text}");
    assert!(text.contains("meta/info.json: total_frames is 7"), "{text}");

    // An existing dataset is not overwritten without --replace.
    let refused = export(&lib, &out, &[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--replace"));

    // A damaged session: skipped with a warning, or refused with --strict;
    // the good dataset stays as it was either way.
    let before = std::fs::read(out.join("data/chunk-000/file-000.parquet")).unwrap();
    std::fs::write(lib.join("sessions").join(&ids[1]).join("session.json"), "{ torn").unwrap();
    let strict = export(&lib, &out, &["--replace", "--strict"]);
    assert!(!strict.status.success());
    assert!(String::from_utf8_lossy(&strict.stderr).contains("session.json"), "{}", String::from_utf8_lossy(&strict.stderr));
    assert_eq!(std::fs::read(out.join("data/chunk-000/file-000.parquet")).unwrap(), before);
    let skipped = export(&lib, &out, &["--replace"]);
    assert!(skipped.status.success());
    assert!(String::from_utf8_lossy(&skipped.stderr).contains("warning: skipping"));
    let info: Value = serde_json::from_str(&std::fs::read_to_string(out.join("meta/info.json")).unwrap()).unwrap();
    assert_eq!(info["total_episodes"], 1);
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary folders left: {leftovers:?}");
}
