//! Arrow schemas of the tables in a session folder (format version 1): the
//! raw streams and the transcript.
//! `docs/formats.md` describes each field for people.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};

/// Camera frames: `cam-<name>.<n>.arrows`.
pub fn camera_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("t_ns", DataType::Int64, false),
        Field::new("device_ts_ns", DataType::Int64, true),
        Field::new("seq", DataType::UInt64, false),
        Field::new("width", DataType::UInt32, false),
        Field::new("height", DataType::UInt32, false),
        Field::new("codec", DataType::Utf8, false),
        Field::new("data", DataType::Binary, false),
    ]))
}

/// Audio timing anchors: `mic-<name>.timing.arrows`. One row per captured
/// block: the index of its first sample frame and when it was captured.
pub fn audio_timing_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("sample_index", DataType::UInt64, false),
        Field::new("frames", DataType::UInt32, false),
        Field::new("t_ns", DataType::Int64, false),
        Field::new("device_ts_ns", DataType::Int64, true),
        Field::new("xrun", DataType::Boolean, false),
    ]))
}

/// Sensor rows: `sensor-<name>.arrows`; one Float64 column per channel.
pub fn sensor_schema(channels: &[String]) -> SchemaRef {
    let mut fields = vec![Field::new("t_ns", DataType::Int64, false), Field::new("device_ts_ns", DataType::Int64, true)];
    fields.extend(channels.iter().map(|c| Field::new(c, DataType::Float64, true)));
    Arc::new(Schema::new(fields))
}

/// Malformed sensor input kept aside: `sensor-<name>.rejects.arrows`.
pub fn sensor_rejects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("t_ns", DataType::Int64, false),
        Field::new("raw", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
    ]))
}

/// Markers and state changes: `events.arrows`.
pub fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("t_ns", DataType::Int64, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("label", DataType::Utf8, false),
        Field::new("source", DataType::Utf8, false),
    ]))
}

/// Event kinds written by the recorder.
pub mod event_kind {
    /// Recording started.
    pub const START: &str = "start";
    /// Recording stopped (label says why).
    pub const STOP: &str = "stop";
    /// A technician's marker key.
    pub const MARKER: &str = "marker";
    /// A device failed or reported an error.
    pub const DEVICE_ERROR: &str = "device_error";
    /// A device came back after an error.
    pub const RECONNECT: &str = "reconnect";
    /// Items were dropped (label says how many).
    pub const DROP: &str = "drop";
}

/// The fields of one word in `transcript.parquet`'s `words` list.
pub fn transcript_word_fields() -> Fields {
    Fields::from(vec![
        Field::new("word", DataType::Utf8, false),
        Field::new("start_ns", DataType::Int64, false),
        Field::new("end_ns", DataType::Int64, false),
        Field::new("probability", DataType::Float32, false),
        Field::new("segment_id", DataType::UInt32, false),
    ])
}

/// `transcript.parquet`: one row per segment, its words nested as a list,
/// all times in session nanoseconds.
pub fn transcript_schema() -> SchemaRef {
    let item = Field::new("item", DataType::Struct(transcript_word_fields()), false);
    Arc::new(Schema::new(vec![
        Field::new("segment_id", DataType::UInt32, false),
        Field::new("start_ns", DataType::Int64, false),
        Field::new("end_ns", DataType::Int64, false),
        Field::new("text", DataType::Utf8, false),
        Field::new("language", DataType::Utf8, false),
        Field::new("avg_logprob", DataType::Float32, false),
        Field::new("no_speech_prob", DataType::Float32, false),
        Field::new("words", DataType::List(Arc::new(item)), false),
    ]))
}
