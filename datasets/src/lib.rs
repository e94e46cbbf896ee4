//! Datasets: reading sessions, putting streams on a frame grid, joining
//! commentary and labels, and writing LeRobot v3.0 datasets and tacit's own
//! tables (every stream at native rate), with splits, validation and summaries.
//!
//! ```text
//! sessions/<id>/ ─► session (cursors) ─► resample onto k/fps ─► join commentary + labels ─► lerobot ─► Parquet + meta
//! ```
//!
//! Depends on `tacit-schema` only.

pub mod elan;
pub mod error;
pub mod lerobot;
pub mod resample;
pub mod seek;
pub mod session;
pub mod split;
pub mod stats;
pub mod tacit;
pub mod validate;
pub mod validate_tacit;
pub mod video;
mod write;

pub use error::DatasetError;
pub use lerobot::{export as export_lerobot, EpisodeUnit, ExportReport, LeRobotOptions};
pub use split::{GroupBy, SplitSpec};
pub use tacit::{export as export_tacit, TacitOptions};
pub use validate::{summarize_lerobot, validate_lerobot, Defect, Summary, Validation};
pub use validate_tacit::{summarize_tacit, validate_tacit, TacitSummary};
pub use video::VideoCodec;
pub use write::dir_size;
