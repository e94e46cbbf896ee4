//! Datasets: reading sessions, aligning and resampling streams, joining
//! labels, and writing LeRobot v3.0, Hugging Face and tacit Parquet datasets.
//!
//! ```text
//! sessions/<id>/ ─► read ─► align to a frame grid ─► join labels ─► exporters ─► Parquet + card
//! ```
//!
//! Not built yet: this crate is planned by the Export issue and holds no code
//! today. It may depend on `tacit-schema` only.
