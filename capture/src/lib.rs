//! Capture: devices, the session clock, the recorder and crash recovery.
//! The session folder itself is `tacit_session`'s.
//!
//! ```text
//! StationProfile ─► Recorder::start ─► source threads ─(bounded channels)─► writer threads
//!                                                                              │
//!                      Library/sessions/<id>/  ◄───────────────────────────────┘
//!                      session.json, cam-*.arrows, mic-*.wav, sensor-*.arrows, events.arrows
//!                                 ▲
//!                      recover() ─┘ (after a crash: cut torn tails, fix WAV, refit clocks)
//! ```

pub mod clock;
pub mod devices;
pub mod error;
pub mod fit;
pub mod ipc;
pub mod live;
pub mod recorder;
pub mod recover;
pub mod source;
pub mod store;
pub mod tally;
pub mod writer;

pub use clock::SessionClock;
pub use error::CaptureError;
pub use live::{LiveTap, PreviewFrame};
pub use recorder::{RecordOptions, Recorder, RecorderStatus, StreamStatus};
pub use recover::{recover, RecoverReport};
