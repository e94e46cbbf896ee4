//! Datasets: reading sessions, putting streams on a frame grid, joining
//! commentary and labels, and writing LeRobot v3.0 datasets and tacit's own
//! tables (every stream at native rate), with splits, validation and summaries.
//!
//! ```text
//! sessions/<id>/ ─► session (cursors) ─► resample onto k/fps ─► join commentary + labels ─► lerobot ─► Parquet + meta
//! ```
//!
//! Depends on `tacit-schema` and `tacit-session` (which reads the sessions).

pub mod delta;
pub mod error;
pub mod format;
pub mod lerobot;
pub mod report;
pub mod resample;
pub mod session;
pub mod split;
pub mod stats;
pub mod tables;
pub mod video;
mod write;

pub use delta::{export as export_delta, DeltaOptions, DeltaReport};
pub use error::DatasetError;
pub use format::DatasetFormat;
pub use lerobot::validate::{data_row_groups, summarize_lerobot, validate_lerobot, Summary};
pub use lerobot::{export as export_lerobot, EpisodeUnit, LeRobotOptions};
pub use report::{Defect, ExportReport, Validation};
pub use split::{GroupBy, SplitSpec};
pub use tables::validate::{summarize_tacit, validate_tacit, TacitSummary};
pub use tables::{export as export_tacit, TacitOptions};
pub use video::VideoCodec;
pub use write::dir_size;
