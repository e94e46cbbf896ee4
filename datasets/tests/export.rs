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
