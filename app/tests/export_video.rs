//! `tacit export --video`: cameras become LeRobot `video` features written by
//! the real ffmpeg (installed by scripts/setup). Checks the MP4 (codec,
//! yuv420p, one frame per row, constant fps) and that the frame LeRobot would
//! decode for episode e, row r — at from_timestamp(e) + r / fps — is the
//! frame the image export stores for that row.

#![allow(clippy::unwrap_used, missing_docs)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use arrow_array::{Array, BinaryArray, Float64Array, Int64Array, StructArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

mod common;

use common::{library_with, ok, tacit};

fn batches(path: &Path) -> Vec<arrow_array::RecordBatch> {
    let f = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(f).unwrap().build().unwrap().map(|b| b.unwrap()).collect()
}

/// RGB pixels decoded by ffmpeg from `args` (input options and input).
fn rgb(args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
    let mut c = Command::new("ffmpeg")
        .args(["-v", "error"])
        .args(args)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ffmpeg on PATH (scripts/setup installs it)");
    let mut input = c.stdin.take().unwrap();
    if let Some(d) = stdin {
        input.write_all(d).unwrap();
    }
    drop(input);
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (i32::from(*x) - i32::from(*y)).unsigned_abs() as f64).sum::<f64>() / a.len() as f64
}

#[test]
fn video_export_is_frame_exact() {
    let (tmp, lib) = library_with(&[("kim", "tack", "1"), ("kim", "tack", "2")]);
    let export = |out: &Path, extra: &[&str]| {
        ok(tacit().args(["export", "--fps", "10", "--library"]).arg(&lib).arg("--out").arg(out).args(extra).output().unwrap())
    };
    let vid = tmp.path().join("vid");
    let img = tmp.path().join("img");
    export(&vid, &["--video"]);
    export(&img, &[]);
    let info: Value = serde_json::from_str(&std::fs::read_to_string(vid.join("meta/info.json")).unwrap()).unwrap();
    let f = &info["features"]["observation.images.front"];
    assert_eq!(f["dtype"], "video");
    assert_eq!(f["info"]["video.codec"], "h264");
    assert_eq!(f["info"]["video.fps"], 10);
    assert_eq!(info["video_path"], "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4");
    let total = info["total_frames"].as_u64().unwrap();
    assert_eq!(total, 30);
    let v = ok(tacit().arg("validate").arg(&vid).output().unwrap());
    assert!(v.contains("valid"), "{v}");

    // The data table has no image column; the episodes table says where each episode is.
    let data = batches(&vid.join("data/chunk-000/file-000.parquet"));
    assert!(data[0].column_by_name("observation.images.front").is_none());
    let eps = batches(&vid.join("meta/episodes/chunk-000/file-000.parquet"));
    let from =
        eps[0].column_by_name("videos/observation.images.front/from_timestamp").unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
    let to =
        eps[0].column_by_name("videos/observation.images.front/to_timestamp").unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
    let len = eps[0].column_by_name("length").unwrap().as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!((from.value(0), to.value(0), from.value(1), to.value(1)), (0.0, 1.0, 1.0, 3.0));
    assert_eq!((len.value(0), len.value(1)), (10, 20));

    let mp4 = vid.join("videos/observation.images.front/chunk-000/file-000.mp4");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=codec_name,pix_fmt,width,height,r_frame_rate,nb_read_frames", "-of", "json"])
        .arg(&mp4)
        .output()
        .unwrap();
    let p: Value = serde_json::from_slice(&probe.stdout).unwrap();
    let s = &p["streams"][0];
    assert_eq!((s["codec_name"].as_str(), s["pix_fmt"].as_str()), (Some("h264"), Some("yuv420p")));
    assert_eq!((s["width"].as_u64(), s["height"].as_u64(), s["r_frame_rate"].as_str()), (Some(640), Some(480), Some("10/1")));
    assert_eq!(s["nb_read_frames"].as_str(), Some("30"), "one video frame per data row");

    // Episode 1, row 3: LeRobot decodes at from_timestamp + 3 / fps.
    let jpegs: Vec<Vec<u8>> = batches(&img.join("data/chunk-000/file-000.parquet"))
        .iter()
        .flat_map(|b| {
            let s = b.column_by_name("observation.images.front").unwrap().as_any().downcast_ref::<StructArray>().unwrap().clone();
            let d = s.column_by_name("bytes").unwrap().as_any().downcast_ref::<BinaryArray>().unwrap().clone();
            (0..d.len()).map(move |i| d.value(i).to_vec())
        })
        .collect();
    let t = format!("{:.6}", from.value(1) + 3.0 / 10.0);
    let decoded = rgb(&["-ss", &t, "-i", mp4.to_str().unwrap()], None);
    let global = 10 + 3;
    let diff = |i: usize| mean_abs_diff(&decoded, &rgb(&["-f", "jpeg_pipe", "-i", "-"], Some(&jpegs[i])));
    let (here, before, after) = (diff(global), diff(global - 1), diff(global + 1));
    assert!(here < 6.0, "the decoded frame is the row's frame (mean |Δ| {here:.2})");
    assert!(here < before && here < after, "and not a neighbour: {here:.2} vs {before:.2} / {after:.2}");
}
