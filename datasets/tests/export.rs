//! Exporters and validators on sessions built directly (no recorder, no
//! waiting): every run reads real session folders and writes real Parquet,
//! checked by tacit's own validators.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

use arrow_array::Array;

use tacit_datasets::{
    export_lerobot, export_tacit, validate_lerobot, validate_tacit, EpisodeUnit, GroupBy, LeRobotOptions, SplitSpec, TacitOptions,
};
use tacit_schema::progress::NoProgress;
use tacit_session::builder::SessionBuilder;

/// Three sessions by three operators, with steps and commentary.
fn library(lib: &Path) -> Vec<PathBuf> {
    ["kim", "lee", "park"]
        .iter()
        .enumerate()
        .map(|(i, op)| {
            SessionBuilder::new(&format!("s{i}"))
                .operator(op)
                .seconds(2.0 + i as f64 * 0.5)
                .label("step", "tack", 0.0, 0.8)
                .label("step", "root pass", 0.8, 1.9)
                .label("defect", "porosity", 1.2, 1.2)
                .say(0.1, 0.7, "arc on, tacking")
                .say(0.9, 1.8, "root pass, keyhole small")
                .write(lib)
                .unwrap()
        })
        .collect()
}

fn lerobot(out: &Path) -> LeRobotOptions {
    LeRobotOptions {
        out: out.to_path_buf(),
        fps: None,
        robot_type: None,
        strict: false,
        replace: false,
        split: SplitSpec::default(),
        episodes: EpisodeUnit::Session,
        image_size: None,
        video: None,
        append: false,
        split_given: false,
    }
}

fn valid(v: &tacit_datasets::Validation) {
    assert!(v.defects.is_empty() && v.more == 0, "defects: {:?}", v.defects);
}

#[test]
fn lerobot_export_validates_and_appends_a_new_session() {
    let tmp = tempfile::tempdir().unwrap();
    let sessions = library(tmp.path());
    let out = tmp.path().join("ds");
    let report = export_lerobot(&sessions, &lerobot(&out), &NoProgress).unwrap();
    // 10 fps over 2, 2.5 and 3 s.
    assert_eq!((report.episodes, report.frames), (3, 75));
    let v = validate_lerobot(&out);
    valid(&v);
    assert_eq!((v.episodes, v.frames), (3, 75));

    // A fourth session appends; the others are already there.
    let extra = SessionBuilder::new("s3").operator("choi").seconds(1.0).write(tmp.path()).unwrap();
    let mut again = lerobot(&out);
    again.append = true;
    let all: Vec<PathBuf> = sessions.iter().cloned().chain([extra]).collect();
    let report = export_lerobot(&all, &again, &NoProgress).unwrap();
    assert_eq!((report.episodes, report.already), (1, 3), "{report:?}");
    let v = validate_lerobot(&out);
    valid(&v);
    assert_eq!((v.episodes, v.frames), (4, 85));
}

#[test]
fn lerobot_splits_are_contiguous_ranges_and_an_append_that_would_break_them_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let sessions = library(tmp.path());
    let out = tmp.path().join("split");
    let mut opts = lerobot(&out);
    opts.split = SplitSpec::parse("train=0.67,test=0.33", GroupBy::Operator, 7).unwrap();
    opts.split_given = true;
    export_lerobot(&sessions, &opts, &NoProgress).unwrap();
    valid(&validate_lerobot(&out));
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("meta/info.json")).unwrap()).unwrap();
    let splits = info["splits"].as_object().unwrap();
    assert_eq!(splits.len(), 2, "{splits:?}");
    // A new operator's group goes to train, after the test range: refused, nothing changed.
    let before = std::fs::read(out.join("meta/info.json")).unwrap();
    let extra = SessionBuilder::new("s3").operator("choi").write(tmp.path()).unwrap();
    let mut again = lerobot(&out);
    again.append = true;
    let all: Vec<PathBuf> = sessions.iter().cloned().chain([extra]).collect();
    let e = export_lerobot(&all, &again, &NoProgress).unwrap_err().to_string();
    assert!(e.contains("contiguous episode ranges") && e.contains("--format tacit"), "{e}");
    assert_eq!(std::fs::read(out.join("meta/info.json")).unwrap(), before);
    valid(&validate_lerobot(&out));
}

#[test]
fn lerobot_episodes_per_step_label_take_the_step_as_task() {
    let tmp = tempfile::tempdir().unwrap();
    let sessions = library(tmp.path());
    let out = tmp.path().join("steps");
    let mut opts = lerobot(&out);
    opts.episodes = EpisodeUnit::Step;
    let report = export_lerobot(&sessions, &opts, &NoProgress).unwrap();
    // Two steps per session: 8 + 11 frames each.
    assert_eq!((report.episodes, report.frames), (6, 57));
    valid(&validate_lerobot(&out));
    let tasks = std::fs::read(out.join("meta/tasks.parquet")).unwrap();
    assert!(tasks.windows(9).any(|w| w == b"root pass"));
}

#[test]
fn a_session_of_another_station_is_skipped_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let mut sessions = library(tmp.path());
    sessions.push(SessionBuilder::new("z-other").station("grind").camera("side", 32, 24, 10).write(tmp.path()).unwrap());
    let out = tmp.path().join("ds");
    let report = export_lerobot(&sessions, &lerobot(&out), &NoProgress).unwrap();
    assert_eq!(report.episodes, 3);
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert!(report.skipped[0].1.contains("differ"), "{:?}", report.skipped);
    valid(&validate_lerobot(&out));
    // With --strict the export refuses instead, and writes nothing.
    let strict = tmp.path().join("strict");
    let mut opts = lerobot(&strict);
    opts.strict = true;
    assert!(export_lerobot(&sessions, &opts, &NoProgress).is_err());
    assert!(!strict.exists());
}

#[test]
fn tacit_tables_validate_split_by_operator_and_append() {
    let tmp = tempfile::tempdir().unwrap();
    let sessions = library(tmp.path());
    let out = tmp.path().join("tables");
    let opts = TacitOptions {
        out: out.clone(),
        strict: false,
        replace: false,
        append: false,
        split: Some(SplitSpec::parse("train=0.67,test=0.33", GroupBy::Operator, 1).unwrap()),
        audio_chunk_s: 30,
    };
    let report = export_tacit(&sessions, &opts, &NoProgress).unwrap();
    // Every frame at its native rate: 20 + 25 + 30.
    assert_eq!((report.episodes, report.frames), (3, 75));
    valid(&validate_tacit(&out));
    let summary = tacit_datasets::summarize_tacit(&out).unwrap();
    assert_eq!(summary.episodes, 3);
    let rows = |table: &str| summary.tables.iter().find(|t| t.0 == table).map(|t| t.1);
    assert_eq!(rows("sensors-arc"), Some(750), "100 Hz over 7.5 s");
    assert_eq!(rows("labels"), Some(9));
    assert_eq!(rows("commentary"), Some(6));

    let extra = SessionBuilder::new("s3").operator("choi").write(tmp.path()).unwrap();
    let again = TacitOptions { append: true, split: None, ..opts };
    let all: Vec<PathBuf> = sessions.iter().cloned().chain([extra]).collect();
    let report = export_tacit(&all, &again, &NoProgress).unwrap();
    assert_eq!((report.episodes, report.already), (1, 3));
    valid(&validate_tacit(&out));
    assert_eq!(tacit_datasets::summarize_tacit(&out).unwrap().episodes, 4);
}

#[test]
fn a_damaged_dataset_is_reported_file_by_file() {
    let tmp = tempfile::tempdir().unwrap();
    let sessions = library(tmp.path());
    let out = tmp.path().join("ds");
    export_lerobot(&sessions, &lerobot(&out), &NoProgress).unwrap();
    let data = out.join("data/chunk-000/file-000.parquet");
    let len = std::fs::metadata(&data).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&data).unwrap().set_len(len / 2).unwrap();
    let v = validate_lerobot(&out);
    assert!(v.defects.iter().any(|d| d.file.contains("file-000.parquet")), "{:?}", v.defects);
}

#[test]
fn a_microphone_is_exported_in_chunks_of_the_recorded_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let session = SessionBuilder::new("mic").seconds(2.5).tone("commentary").write(tmp.path()).unwrap();
    let out = tmp.path().join("tables");
    let opts = TacitOptions { out: out.clone(), strict: false, replace: false, append: false, split: None, audio_chunk_s: 1 };
    export_tacit(std::slice::from_ref(&session), &opts, &NoProgress).unwrap();
    valid(&validate_tacit(&out));
    let summary = tacit_datasets::summarize_tacit(&out).unwrap();
    assert_eq!(summary.tables.iter().find(|t| t.0 == "audio").map(|t| t.1), Some(3), "1 s + 1 s + 0.5 s");
    // The chunks, in order, are the WAV's samples.
    let recorded = tacit_session::audio::Wav::open(&session.join("mic-commentary.wav")).unwrap();
    let recorded: Vec<i16> = recorded.pcm16_chunks(u32::MAX).unwrap().next().unwrap().unwrap();
    assert_eq!(recorded.len(), 40_000);
    let mut exported = Vec::new();
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("tacit.json")).unwrap()).unwrap();
    for f in manifest["files"].as_array().unwrap().iter().filter(|f| f["table"] == "audio") {
        let file = std::fs::File::open(out.join(f["path"].as_str().unwrap())).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        for b in reader.build().unwrap() {
            let b = b.unwrap();
            let blobs = b.column_by_name("audio").unwrap().as_any().downcast_ref::<arrow_array::StructArray>().unwrap();
            let bytes = blobs.column(0).as_any().downcast_ref::<arrow_array::BinaryArray>().unwrap();
            for i in 0..bytes.len() {
                let wav = tmp.path().join(format!("chunk-{}.wav", exported.len()));
                std::fs::write(&wav, bytes.value(i)).unwrap();
                let chunk = tacit_session::audio::Wav::open(&wav).unwrap();
                exported.extend(chunk.pcm16_chunks(u32::MAX).unwrap().next().unwrap().unwrap());
            }
        }
    }
    assert_eq!(exported, recorded);
}

/// Every row of one data file, as one batch.
fn read_data(path: &Path) -> (arrow_array::RecordBatch, usize) {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let groups = reader.metadata().num_row_groups();
    let schema = reader.schema().clone();
    let batches: Vec<_> = reader.build().unwrap().map(Result::unwrap).collect();
    (arrow_select_concat(&schema, &batches), groups)
}

fn arrow_select_concat(schema: &arrow_schema::SchemaRef, batches: &[arrow_array::RecordBatch]) -> arrow_array::RecordBatch {
    let columns = (0..schema.fields().len())
        .map(|c| {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(c).as_ref()).collect();
            arrow_select::concat::concat(&parts).unwrap()
        })
        .collect();
    arrow_array::RecordBatch::try_new(schema.clone(), columns).unwrap()
}

/// One language column's rows on data row `r`, as JSON objects.
fn language(batch: &arrow_array::RecordBatch, name: &str, r: usize) -> Vec<serde_json::Value> {
    let list = batch.column_by_name(name).unwrap().as_any().downcast_ref::<arrow_array::ListArray>().unwrap();
    let rows = list.value(r);
    let rows = rows.as_any().downcast_ref::<arrow_array::StructArray>().unwrap();
    let one = arrow_array::RecordBatch::from(rows.clone());
    let mut w = arrow_json::ArrayWriter::new(Vec::new());
    w.write(&one).unwrap();
    w.finish().unwrap();
    let text = String::from_utf8(w.into_inner()).unwrap();
    if text.trim().is_empty() {
        return Vec::new();
    }
    serde_json::from_str::<Vec<serde_json::Value>>(&text).unwrap()
}

#[test]
fn lerobot_language_columns_hold_steps_speech_markers_and_labels_on_their_frames() {
    let tmp = tempfile::tempdir().unwrap();
    let s = SessionBuilder::new("lang")
        .seconds(3.0)
        .camera("top", 32, 24, 10)
        .label("step", "tack", 0.0, 0.8)
        .label("step", "root pass", 0.85, 1.9)
        .label("defect", "porosity", 1.23, 1.23)
        .label("note", "watch the puddle", 2.0, 2.5)
        .say(0.1, 0.7, "arc on")
        .say(0.9, 1.8, "root pass keyhole")
        .correct(1, "root pass, keyhole small")
        .marker(1.5, "spatter", "keyboard")
        .marker(2.2, "microphone file finished", "lapel")
        .write(tmp.path())
        .unwrap();
    let out = tmp.path().join("ds");
    let report = export_lerobot(&[s], &lerobot(&out), &NoProgress).unwrap();
    valid(&validate_lerobot(&out));
    let (data, groups) = read_data(&out.join("data/chunk-000/file-000.parquet"));
    assert_eq!((data.num_rows(), groups), (30, 1), "one episode, one row group");
    // One action channel is a scalar column, as LeRobot writes a shape [1] feature.
    assert_eq!(data.column_by_name("action").unwrap().data_type(), &arrow_schema::DataType::Float32);

    // Persistent: the plan and the steps, the same list on every row, stamped on frames.
    let persistent = language(&data, "language_persistent", 0);
    assert_eq!(language(&data, "language_persistent", 29), persistent);
    let summary: Vec<(String, String, f64)> = persistent
        .iter()
        .map(|r| (r["style"].as_str().unwrap().into(), r["content"].as_str().unwrap().into(), r["timestamp"].as_f64().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            ("plan".into(), "1. tack\n2. root pass".into(), 0.0),
            ("subtask".into(), "tack".into(), 0.0),
            ("subtask".into(), "root pass".into(), 0.9),
        ]
    );
    assert!(persistent.iter().all(|r| r["role"] == "assistant" && r.get("camera").is_none_or(serde_json::Value::is_null)));

    // Events: on the frame holding them, nowhere else.
    let tool = |r: usize| -> Vec<serde_json::Value> {
        language(&data, "language_events", r)
            .iter()
            .filter_map(|e| e["tool_calls"].as_array().map(|c| serde_json::from_str(c[0].as_str().unwrap()).unwrap()))
            .collect()
    };
    assert_eq!(tool(1)[0]["function"], serde_json::json!({"name": "say", "arguments": {"text": "arc on"}}));
    assert_eq!(tool(9)[0]["function"]["arguments"]["text"], "root pass, keyhole small", "the trainer's correction");
    assert_eq!(tool(15)[0]["function"], serde_json::json!({"name": "mark", "arguments": {"label": "spatter", "source": "keyboard"}}));
    assert!(tool(22).is_empty(), "a device's marker is not the technician's");
    let vqa = language(&data, "language_events", 12);
    assert_eq!(vqa.len(), 4, "a question and an answer per camera: {vqa:?}");
    let cameras: Vec<&str> = vqa.iter().map(|r| r["camera"].as_str().unwrap()).collect();
    assert_eq!(cameras, ["observation.images.front", "observation.images.front", "observation.images.top", "observation.images.top"]);
    let answer: serde_json::Value = serde_json::from_str(vqa[1]["content"].as_str().unwrap()).unwrap();
    assert_eq!(answer, serde_json::json!({"label": "butt weld", "attribute": "defect", "value": "porosity"}));
    let note: serde_json::Value = serde_json::from_str(language(&data, "language_events", 20)[1]["content"].as_str().unwrap()).unwrap();
    assert_eq!(note["value"], "watch the puddle");
    let with_events: Vec<usize> = (0..30).filter(|&r| !language(&data, "language_events", r).is_empty()).collect();
    assert_eq!(with_events, [1, 9, 12, 15, 20]);
    assert_eq!(report.language_rows, 3 + 1 + 1 + 1 + 4 + 4);

    // Where each row came from.
    let tacit: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("meta/tacit.json")).unwrap()).unwrap();
    let sources: Vec<&str> = tacit["episodes"][0]["language"].as_array().unwrap().iter().map(|x| x["source"].as_str().unwrap()).collect();
    assert_eq!(
        sources,
        [
            "trainer labels",
            "trainer label",
            "trainer label",
            "worker speech",
            "worker speech, corrected by a trainer",
            "technician marker",
            "trainer label",
            "trainer label"
        ]
    );
    let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("meta/info.json")).unwrap()).unwrap();
    assert_eq!(info["features"]["language_events"], serde_json::json!({"dtype": "language", "shape": [1], "names": null}));
    let tools: Vec<&str> = info["tools"].as_array().unwrap().iter().map(|t| t["function"]["name"].as_str().unwrap()).collect();
    assert_eq!(tools, ["say", "mark"]);
}

#[test]
fn each_episode_is_one_row_group_and_the_validator_refuses_one_split_across_two() {
    let tmp = tempfile::tempdir().unwrap();
    let sessions = library(tmp.path());
    let out = tmp.path().join("ds");
    export_lerobot(&sessions, &lerobot(&out), &NoProgress).unwrap();
    let path = out.join("data/chunk-000/file-000.parquet");
    let (data, groups) = read_data(&path);
    assert_eq!((data.num_rows(), groups), (75, 3));
    valid(&validate_lerobot(&out));

    // The same rows in row groups of 10: episodes now straddle row groups.
    let props = parquet::file::properties::WriterProperties::builder().set_max_row_group_row_count(Some(10)).build();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), data.schema(), Some(props)).unwrap();
    w.write(&data).unwrap();
    w.close().unwrap();
    let v = validate_lerobot(&out);
    assert!(v.defects.iter().any(|d| d.message.contains("one episode per row group")), "{:?}", v.defects);
}

#[test]
fn the_validator_names_language_rows_that_break_lerobots_rules() {
    use arrow_array::{ListArray, StringArray, StructArray};
    use arrow_buffer::{NullBuffer, OffsetBuffer};
    use arrow_schema::DataType;
    use std::sync::Arc;

    let tmp = tempfile::tempdir().unwrap();
    let s = SessionBuilder::new("bad").label("step", "tack", 0.0, 1.0).write(tmp.path()).unwrap();
    let out = tmp.path().join("ds");
    export_lerobot(&[s], &lerobot(&out), &NoProgress).unwrap();
    valid(&validate_lerobot(&out));
    let path = out.join("data/chunk-000/file-000.parquet");
    let (data, _) = read_data(&path);
    let n = data.num_rows();

    // Events on rows 0..3: an unknown style, a vqa row without a camera, a tool call that is not JSON.
    let schema = data.schema();
    let DataType::List(item) = schema.field_with_name("language_events").unwrap().data_type().clone() else { unreachable!() };
    let DataType::Struct(fields) = item.data_type().clone() else { unreachable!() };
    let DataType::List(call) = fields[4].data_type().clone() else { unreachable!() };
    let calls = ListArray::try_new(
        call,
        OffsetBuffer::from_lengths([0, 0, 1]),
        Arc::new(StringArray::from(vec!["not json"])),
        Some(NullBuffer::from(vec![false, false, true])),
    )
    .unwrap();
    let rows = StructArray::try_new(
        fields,
        vec![
            Arc::new(StringArray::from(vec!["assistant", "user", "assistant"])),
            Arc::new(StringArray::from(vec![Some("x"), Some("q"), None])),
            Arc::new(StringArray::from(vec![Some("dance"), Some("vqa"), None])),
            Arc::new(StringArray::from(vec![None::<&str>, None, None])),
            Arc::new(calls),
        ],
        None,
    )
    .unwrap();
    let events = ListArray::try_new(item, OffsetBuffer::from_lengths((0..n).map(|r| usize::from(r < 3))), Arc::new(rows), None).unwrap();
    // Persistent: row 5 loses its rows (they must be the same on every row).
    let persistent = data.column_by_name("language_persistent").unwrap().as_any().downcast_ref::<ListArray>().unwrap().clone();
    let (pf, offsets, values, nulls) = persistent.into_parts();
    let mut lens: Vec<usize> = offsets.windows(2).map(|w| (w[1] - w[0]) as usize).collect();
    let dropped = lens[5];
    lens[5] = 0;
    let keep: Vec<u32> = (0..values.len() as u32).filter(|i| (*i as usize) < 5 * dropped || (*i as usize) >= 6 * dropped).collect();
    let values = arrow_select::take::take(&values, &arrow_array::UInt32Array::from(keep), None).unwrap();
    let persistent = ListArray::try_new(pf, OffsetBuffer::from_lengths(lens), values, nulls).unwrap();
    let mut columns = data.columns().to_vec();
    columns[schema.index_of("language_events").unwrap()] = Arc::new(events);
    columns[schema.index_of("language_persistent").unwrap()] = Arc::new(persistent);
    let bad = arrow_array::RecordBatch::try_new(schema.clone(), columns).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), schema, None).unwrap();
    w.write(&bad).unwrap();
    w.close().unwrap();

    let v = validate_lerobot(&out);
    let said = |what: &str, row: u64| v.defects.iter().any(|d| d.message.contains(what) && d.row == Some(row));
    assert!(said("style \"dance\" is not an event style", 0), "{:?}", v.defects);
    assert!(said("a vqa row needs camera", 1), "{:?}", v.defects);
    assert!(said("is not a JSON function call", 2), "{:?}", v.defects);
    assert!(said("language_persistent differs from episode 0's first row", 5), "{:?}", v.defects);
    assert_eq!(v.defects.len(), 4, "nothing else: {:?}", v.defects);
}
