//! The tables' Arrow schemas (with their Hugging Face features as schema
//! metadata) and Parquet writer properties.

use super::*;

pub(super) fn f(name: &str, t: DataType, nullable: bool) -> Field {
    Field::new(name, t, nullable)
}

pub(super) fn blob_fields() -> Fields {
    Fields::from(vec![f("bytes", DataType::Binary, true), f("path", DataType::Utf8, true)])
}

pub(super) fn keys() -> Vec<Field> {
    vec![f("episode_index", DataType::Int64, false), f("session_id", DataType::Utf8, false)]
}

/// The Arrow schema of a table (with its Hugging Face features as metadata).
pub fn table_schema(name: &str, layout: &TableLayout) -> Result<SchemaRef, DatasetError> {
    let mut fields = keys();
    let timed = [f("t_ns", DataType::Int64, false), f("timestamp", DataType::Float64, false)];
    match name {
        "episodes" => {
            fields.extend([
                f("split", DataType::Utf8, false),
                f("station", DataType::Utf8, false),
                f("site", DataType::Utf8, false),
                f("operator", DataType::Utf8, false),
                f("task", DataType::Utf8, false),
                f("started_at_utc", DataType::Utf8, false),
                f("duration_ns", DataType::Int64, false),
                f("duration_s", DataType::Float64, false),
                f("status", DataType::Utf8, false),
                f("transcribed", DataType::Boolean, false),
                f("reviewed", DataType::Boolean, false),
                f("transcript_model", DataType::Utf8, true),
                f("language", DataType::Utf8, true),
                f("labels", DataType::Int64, false),
            ]);
        }
        "audio" => fields.extend([
            f("stream", DataType::Utf8, false),
            f("chunk_index", DataType::Int64, false),
            f("sample_index", DataType::UInt64, false),
            f("samples", DataType::UInt64, false),
            f("start_ns", DataType::Int64, false),
            f("end_ns", DataType::Int64, false),
            f("sample_rate", DataType::UInt32, false),
            f("channels", DataType::UInt16, false),
            f("audio", DataType::Struct(blob_fields()), true),
        ]),
        "commentary" => fields.extend([
            f("segment_id", DataType::UInt32, false),
            f("start_ns", DataType::Int64, false),
            f("end_ns", DataType::Int64, false),
            f("text", DataType::Utf8, false),
            f("language", DataType::Utf8, false),
            f("avg_logprob", DataType::Float32, false),
            f("no_speech_prob", DataType::Float32, false),
        ]),
        "words" => fields.extend([
            f("segment_id", DataType::UInt32, false),
            f("word_index", DataType::UInt32, false),
            f("start_ns", DataType::Int64, false),
            f("end_ns", DataType::Int64, false),
            f("word", DataType::Utf8, false),
            f("probability", DataType::Float32, false),
        ]),
        "labels" => fields.extend([
            f("label_id", DataType::Utf8, false),
            f("tier", DataType::Utf8, false),
            f("value", DataType::Utf8, false),
            f("start_ns", DataType::Int64, false),
            f("end_ns", DataType::Int64, false),
            f("author", DataType::Utf8, false),
            f("status", DataType::Utf8, false),
            f("created_at_utc", DataType::Utf8, false),
            f("updated_at_utc", DataType::Utf8, false),
        ]),
        "events" => {
            fields.extend(timed);
            fields.extend([f("kind", DataType::Utf8, false), f("label", DataType::Utf8, false), f("source", DataType::Utf8, false)]);
        }
        n if n.starts_with("frames-") => {
            fields.extend(timed);
            fields.extend([
                f("seq", DataType::UInt64, false),
                f("width", DataType::UInt32, false),
                f("height", DataType::UInt32, false),
                f("image", DataType::Struct(blob_fields()), true),
            ]);
        }
        n if n.starts_with("sensors-") => {
            let sensor = &n["sensors-".len()..];
            let Some((_, chans)) = layout.sensors.iter().find(|(s, _)| s == sensor) else {
                return Err(DatasetError::Options(format!("no sensor {sensor} in the layout")));
            };
            fields.extend(timed);
            fields.push(f("device_ts_ns", DataType::Int64, true));
            fields.extend(chans.iter().map(|c| f(c, DataType::Float64, true)));
        }
        other => return Err(DatasetError::Options(format!("unknown table {other}"))),
    }
    let mut hf = serde_json::Map::new();
    for fl in &fields {
        let v = match (fl.name().as_str(), fl.data_type()) {
            ("image", DataType::Struct(_)) => json!({"_type": "Image"}),
            ("audio", DataType::Struct(_)) => json!({"_type": "Audio"}),
            (_, t) => json!({"dtype": hf_dtype(t), "_type": "Value"}),
        };
        hf.insert(fl.name().clone(), v);
    }
    let meta = json!({"info": {"features": hf}}).to_string();
    Ok(Arc::new(Schema::new(fields).with_metadata([("huggingface".to_string(), meta)].into_iter().collect())))
}

pub(super) fn hf_dtype(t: &DataType) -> &'static str {
    match t {
        DataType::Int64 => "int64",
        DataType::UInt64 => "uint64",
        DataType::UInt32 => "uint32",
        DataType::UInt16 => "uint16",
        DataType::Float64 => "float64",
        DataType::Float32 => "float32",
        DataType::Boolean => "bool",
        _ => "string",
    }
}

pub(crate) fn table_props(schema: &Schema) -> WriterProperties {
    table_props_builder(schema).build()
}

/// [`table_props`] before it is built (the Delta writer adds a row-group byte limit).
pub(crate) fn table_props_builder(schema: &Schema) -> parquet::file::properties::WriterPropertiesBuilder {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_created_by(format!("tacit {}", env!("CARGO_PKG_VERSION")));
    for fl in schema.fields() {
        if let DataType::Struct(_) = fl.data_type() {
            let col = ColumnPath::new(vec![fl.name().clone(), "bytes".into()]);
            b = b.set_column_dictionary_enabled(col.clone(), false);
            if fl.name() == "image" {
                // JPEG is incompressible: store it as it is.
                b = b.set_column_compression(col, Compression::UNCOMPRESSED);
            }
        }
    }
    b
}
