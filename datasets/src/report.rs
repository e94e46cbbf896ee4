//! What the exporters and validators report: shared by every format.

use std::path::PathBuf;

/// What an export did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct ExportReport {
    /// The dataset folder.
    pub out: PathBuf,
    /// Episodes written.
    pub episodes: usize,
    /// Frames written.
    pub frames: u64,
    /// Bytes of all files.
    pub bytes: u64,
    /// Sessions skipped, with the reason.
    pub skipped: Vec<(String, String)>,
    /// Frames at which a camera had no new frame and the previous one was repeated.
    pub repeated_frames: u64,
    /// Sessions left out on append because the dataset has them already.
    pub already: u64,
    /// LeRobot language rows written (persistent rows once per episode, plus event rows).
    pub language_rows: u64,
}

/// One thing wrong with a dataset.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Defect {
    /// The file, relative to the dataset.
    pub file: String,
    /// The row (data: global `index` position in the file), if it is about one.
    pub row: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// The outcome of a validation.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Validation {
    /// Episodes found.
    pub episodes: u64,
    /// Frames found.
    pub frames: u64,
    /// Every defect (capped per check; `more` counts the rest).
    pub defects: Vec<Defect>,
    /// Defects not listed.
    pub more: u64,
}
