//! `session.json`: what a session is, how its clock maps to UTC, and what each
//! stream holds. Written atomically by the recorder (and by `recover`).

use serde::{Deserialize, Serialize};

/// Version of the session folder layout and raw table schemas.
pub const FORMAT_VERSION: u32 = 1;

/// Where a session is in its life. `transcribed` and `reviewed` are flags on
/// the manifest, not states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SessionStatus {
    /// A recorder holds the session open (or held it until it died).
    Recording,
    /// The recorder stopped it cleanly.
    Complete,
    /// Found in `recording` with no live recorder: needs `tacit recover`.
    Interrupted,
    /// Made readable again by `tacit recover` after an interruption.
    Recovered,
}

impl SessionStatus {
    /// The lowercase name used in files and on screen.
    pub fn name(self) -> &'static str {
        match self {
            Self::Recording => "recording",
            Self::Complete => "complete",
            Self::Interrupted => "interrupted",
            Self::Recovered => "recovered",
        }
    }
}

/// What kind of data a stream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    /// JPEG frames in `cam-<name>.<n>.arrows` segments.
    Camera,
    /// PCM in `mic-<name>.wav` with anchors in `mic-<name>.timing.arrows`.
    Audio,
    /// Rows of channel values in `sensor-<name>.arrows`.
    Sensor,
    /// Markers and state changes in `events.arrows`.
    Events,
}

impl StreamKind {
    /// The lowercase name used in files and on screen.
    pub fn name(self) -> &'static str {
        match self {
            Self::Camera => "camera",
            Self::Audio => "audio",
            Self::Sensor => "sensor",
            Self::Events => "events",
        }
    }
}

/// Ties the session clock to wall time: both were read back to back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockAnchor {
    /// Session time of the reading (ns since session start).
    pub t_ns: i64,
    /// UTC at the same moment, in ns since the Unix epoch.
    pub utc_unix_ns: i64,
}

/// Whether the operator's consent was asked for and given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    /// The station profile requires consent before recording.
    pub required: bool,
    /// The operator confirmed consent (always true when required and recorded).
    pub confirmed: bool,
}

/// One straight piece of a device-time → session-time fit:
/// `t_ns ≈ offset_ns + (1 + drift_ppm·1e-6) · (device_ns − device_start_ns)`
/// for device times in `[device_start_ns, device_end_ns]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitPiece {
    /// First device time covered (ns, in the device's own clock).
    pub device_start_ns: i64,
    /// Last device time covered.
    pub device_end_ns: i64,
    /// Session time at `device_start_ns`.
    pub offset_ns: f64,
    /// Clock rate error of the device against the session clock, in ppm.
    pub drift_ppm: f64,
    /// Rows the piece was fitted on.
    pub count: u64,
    /// Median absolute residual of the fit, ns (typical host jitter).
    pub residual_ns: f64,
    /// Largest absolute residual among inliers, ns.
    pub max_residual_ns: f64,
}

/// Device time → session time for one stream: pieces broken at gaps and xruns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncFit {
    /// Pieces in device-time order.
    pub pieces: Vec<FitPiece>,
}

impl SyncFit {
    /// Maps a device time to session time through the piece that covers it
    /// (or the nearest one). `None` when the fit is empty.
    pub fn map(&self, device_ns: i64) -> Option<f64> {
        let piece = self.pieces.iter().min_by_key(|p| {
            if device_ns < p.device_start_ns {
                p.device_start_ns - device_ns
            } else if device_ns > p.device_end_ns {
                device_ns - p.device_end_ns
            } else {
                0
            }
        })?;
        let dt = (device_ns - piece.device_start_ns) as f64;
        Some(piece.offset_ns + dt * (1.0 + piece.drift_ppm * 1e-6))
    }
}

/// One stream of a session, as summarised after stop or recover.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// Stream name from the profile (`front`, `lapel`, `arc`, `events`).
    pub name: String,
    /// What the stream carries.
    pub kind: StreamKind,
    /// Files of the stream, relative to the session folder, in order.
    pub files: Vec<String>,
    /// Nominal rate: fps, audio sample rate, or sensor rate (0 for events).
    pub rate_hz: f64,
    /// Frames, audio sample frames, sensor rows or events readable on disk.
    pub count: u64,
    /// Session time of the first row (None when empty).
    pub first_t_ns: Option<i64>,
    /// Session time of the last row (None when empty).
    pub last_t_ns: Option<i64>,
    /// Items lost before they reached disk (full channel, xrun samples).
    pub drops: u64,
    /// Malformed input lines kept aside (sensors only).
    #[serde(default)]
    pub rejects: u64,
    /// Device errors reported during the session.
    #[serde(default)]
    pub errors: u64,
    /// Known fixed latency subtracted from arrival times (profile offset), ns.
    #[serde(default)]
    pub offset_ns: i64,
    /// Device-specific facts (format, channels, sample format, device name).
    #[serde(default)]
    pub details: serde_json::Map<String, serde_json::Value>,
    /// Device time → session time fit, when the device has a clock of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncFit>,
}

/// How the transcript of a session was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TranscriptInfo {
    /// Model name (`tiny.en`, `base`).
    pub model: String,
    /// SHA-256 of the ggml model file.
    pub model_sha256: String,
    /// Language asked for (`en`, `ko`, `auto`).
    pub language: String,
    /// Language detected or used.
    pub detected_language: String,
    /// Audio stream transcribed.
    pub stream: String,
    /// Segments and words written.
    pub segments: u64,
    /// Words written.
    pub words: u64,
    /// Speech found by the voice-activity detector, ns.
    pub speech_ns: i64,
    /// Decoder and VAD parameters, as used.
    pub params: serde_json::Value,
    /// RFC 3339 UTC time of the run.
    pub created_at_utc: String,
    /// tacit version.
    pub tacit_version: String,
}

/// `session.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionManifest {
    /// Layout version; readers refuse versions they do not know.
    pub format_version: u32,
    /// Session id, also the folder name.
    pub id: String,
    /// Station name from the profile.
    pub station: String,
    /// Site name from the profile.
    #[serde(default)]
    pub site: String,
    /// Operator pseudonym (never a real name).
    pub operator: String,
    /// What the technician was doing, in their words.
    pub task: String,
    /// Consent as asked and given.
    pub consent: Consent,
    /// RFC 3339 UTC time of the session start.
    pub started_at_utc: String,
    /// Session clock ↔ UTC anchor.
    pub clock_anchor: ClockAnchor,
    /// Lifecycle state.
    pub status: SessionStatus,
    /// Transcript written.
    #[serde(default)]
    pub transcribed: bool,
    /// Approved by a trainer.
    #[serde(default)]
    pub reviewed: bool,
    /// Session time of the stop (or of the last row found on recover).
    pub duration_ns: i64,
    /// Why recording stopped (`duration`, `user`, `error: …`, `recovered`).
    #[serde(default)]
    pub stop_reason: String,
    /// Every stream, events last.
    pub streams: Vec<StreamInfo>,
    /// How `transcript.parquet` was made (set by `tacit transcribe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<TranscriptInfo>,
    /// tacit version that wrote this manifest.
    pub tacit_version: String,
}

impl SessionManifest {
    /// Parses a manifest, refusing unknown format versions.
    pub fn from_json(text: &str) -> Result<Self, ManifestError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| ManifestError::Json(e.to_string()))?;
        let version =
            value.get("format_version").and_then(|v| v.as_u64()).ok_or_else(|| ManifestError::Json("missing format_version".into()))?;
        if version != u64::from(FORMAT_VERSION) {
            return Err(ManifestError::Version(version));
        }
        serde_json::from_value(value).map_err(|e| ManifestError::Json(e.to_string()))
    }

    /// Pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// The stream with this name.
    pub fn stream(&self, name: &str) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.name == name)
    }
}

/// A manifest that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON, or missing fields.
    #[error("invalid session manifest: {0}")]
    Json(String),
    /// Written by a newer (or unknown) tacit.
    #[error("session format version {0} is not supported (this tacit reads version {FORMAT_VERSION}); upgrade tacit")]
    Version(u64),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_maps_inside_and_outside_pieces() {
        let fit = SyncFit {
            pieces: vec![
                FitPiece {
                    device_start_ns: 0,
                    device_end_ns: 1_000,
                    offset_ns: 100.0,
                    drift_ppm: 0.0,
                    count: 2,
                    residual_ns: 0.0,
                    max_residual_ns: 0.0,
                },
                FitPiece {
                    device_start_ns: 5_000,
                    device_end_ns: 6_000,
                    offset_ns: 9_000.0,
                    drift_ppm: 1e6, // twice as fast
                    count: 2,
                    residual_ns: 0.0,
                    max_residual_ns: 0.0,
                },
            ],
        };
        assert_eq!(fit.map(500), Some(600.0));
        assert_eq!(fit.map(5_500), Some(10_000.0));
        assert_eq!(fit.map(4_000), Some(7_000.0)); // nearest is the second piece
        assert_eq!(SyncFit::default().map(1), None);
    }

    #[test]
    fn unknown_version_is_refused() {
        let err = SessionManifest::from_json(r#"{"format_version": 99}"#).unwrap_err();
        assert!(err.to_string().contains("version 99"), "{err}");
    }
}
