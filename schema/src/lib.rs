//! The data model of tacit: time, the session manifest, the station profile,
//! label vocabulary and the Arrow schemas of every raw table.
//!
//! Every other crate speaks through these types; this crate depends on nothing
//! of ours. Its only I/O is the manifest's atomic replace, which every step
//! that updates a session must do the same way.
//!
//! ```text
//!  station.toml ──► StationProfile ──► recorder (capture)
//!                                        │ writes
//!                                        ▼
//!  session.json ◄── SessionManifest   cam-*.arrows, mic-*.wav, sensor-*.arrows, events.arrows
//!                                        (schemas in `tables`)
//! ```

pub mod labels;
pub mod manifest;
pub mod profile;
pub mod progress;
pub mod tables;
pub mod time;

pub use labels::{Annotations, Change, LabelError, LabelSegment, ReviewStatus};
pub use manifest::{
    ClockAnchor, Consent, FitPiece, SessionManifest, SessionStatus, StreamInfo, StreamKind, SyncFit, TranscriptInfo, FORMAT_VERSION,
};
pub use profile::{
    CameraProfile, ChannelProfile, ChannelRole, LabelVocabulary, LineFormat, MicrophoneProfile, ProfileError, SensorKind, SensorProfile,
    StationInfo, StationProfile, StoreProfile, TranscriptionProfile,
};
pub use progress::{NoProgress, Progress};
