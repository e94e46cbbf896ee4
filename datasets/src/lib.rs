//! Datasets: reading sessions, putting streams on a frame grid, joining
//! commentary and labels, and writing LeRobot v3.0 datasets.
//!
//! ```text
//! sessions/<id>/ ─► session (cursors) ─► resample onto k/fps ─► join commentary + labels ─► lerobot ─► Parquet + meta
//! ```
//!
//! Depends on `tacit-schema` only.

pub mod error;
pub mod lerobot;
pub mod resample;
pub mod session;
pub mod stats;
pub mod validate;

pub use error::DatasetError;
pub use lerobot::{export as export_lerobot, ExportReport, LeRobotOptions};
pub use validate::{summarize_lerobot, validate_lerobot, Defect, Summary, Validation};
