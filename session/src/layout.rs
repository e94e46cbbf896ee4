//! Every file name of the session folder (format version 1, see
//! `docs/DESIGN.md`), in one place.

/// The manifest: id, format version, station, streams, status, flags.
pub const MANIFEST: &str = "session.json";
/// Held (flock, blocking) for the few milliseconds of a manifest
/// read-modify-write, so two processes never lose each other's change.
pub const MANIFEST_LOCK: &str = "session.json.lock";
/// Held (flock) by the recorder for the whole recording: a `recording`
/// manifest whose lock nobody holds was interrupted.
pub const RECORDING_LOCK: &str = "session.lock";
/// Space set aside at start so the final manifest (or `recover`) can still
/// be written when the disk fills up during recording.
pub const RESERVE: &str = "session.reserve";
/// The station profile the session was recorded with.
pub const PROFILE: &str = "station.toml";
/// Segments and words in session time, written by `tacit transcribe`.
pub const TRANSCRIPT: &str = "transcript.parquet";
/// The labels' current state, replaced atomically on every edit.
pub const ANNOTATIONS: &str = "annotations.json";
/// Append-only history of every annotation edit.
pub const ANNOTATIONS_LOG: &str = "annotations.log.jsonl";
/// Held (flock, blocking) while a change is appended and the state replaced,
/// so the app and `tacit label` editing at once lose nothing.
pub const ANNOTATIONS_LOCK: &str = "annotations.json.lock";
/// The station's side of `tacit push`: checksums of the files and the
/// unfinished multipart uploads (hidden: never itself pushed).
pub const PUSH_STATE: &str = ".push.json";
/// Held (flock, non-blocking) by the one `tacit push` sending this session.
pub const PUSH_LOCK: &str = ".push.lock";
/// In the site store only: each file's size and SHA-256, written just
/// before the manifest.
pub const STORE_INDEX: &str = "store.json";
/// Markers and state changes.
pub const EVENTS: &str = "events.arrows";

/// The PCM of microphone `name`.
pub fn wav(name: &str) -> String {
    format!("mic-{name}.wav")
}

/// Sample index ↔ session time anchors of microphone `name`.
pub fn audio_timing(name: &str) -> String {
    format!("mic-{name}.timing.arrows")
}

/// Segment `n` of camera `name`'s Arrow IPC stream.
pub fn camera_segment(name: &str, n: u32) -> String {
    format!("cam-{name}.{n}.arrows")
}

/// Sensor `name`'s Arrow IPC stream.
pub fn sensor(name: &str) -> String {
    format!("sensor-{name}.arrows")
}

/// Sensor `name`'s malformed input, kept aside.
pub fn sensor_rejects(name: &str) -> String {
    format!("sensor-{name}.rejects.arrows")
}

/// True for a stream file that holds rows of the stream itself (not its rejects).
pub fn is_stream_rows(file: &str) -> bool {
    file.ends_with(".arrows") && !file.ends_with(".rejects.arrows")
}
