//! The dataset's features: `info.json`'s feature map and the Arrow schema of
//! the data files, and their Parquet writer properties.

use super::*;

pub(super) fn vector_type(n: usize) -> DataType {
    DataType::FixedSizeList(Arc::new(Field::new("item", DataType::Float32, true)), n as i32)
}

pub(super) fn image_fields() -> Fields {
    Fields::from(vec![Field::new("bytes", DataType::Binary, true), Field::new("path", DataType::Utf8, true)])
}

/// (info.json features, Arrow schema of data files with the Hugging Face features in its metadata).
pub(super) fn features(l: &Layout) -> (serde_json::Map<String, Value>, SchemaRef) {
    let mut info = serde_json::Map::new();
    let mut hf = serde_json::Map::new();
    let mut fields = Vec::new();
    for (name, w, h) in &l.cameras {
        let key = format!("observation.images.{name}");
        if let Some(codec) = l.video {
            // Not a data column: the frames are in videos/<key>/….
            info.insert(
                key,
                json!({"dtype": "video", "shape": [h, w, 3], "names": ["height", "width", "channels"], "info": {
                    "video.height": h, "video.width": w, "video.codec": codec.name(), "video.pix_fmt": "yuv420p",
                    "video.is_depth_map": false, "video.fps": l.fps, "video.channels": 3, "has_audio": false}}),
            );
            continue;
        }
        info.insert(key.clone(), json!({"dtype": "image", "shape": [h, w, 3], "names": ["height", "width", "channels"]}));
        hf.insert(key.clone(), json!({"_type": "Image"}));
        fields.push(Field::new(key, DataType::Struct(image_fields()), true));
    }
    for (key, comps) in [("observation.state", &l.state), ("action", &l.action)] {
        if comps.is_empty() {
            continue;
        }
        info.insert(key.into(), json!({"dtype": "float32", "shape": [comps.len()], "names": Layout::names(comps)}));
        // LeRobot reads shape [1] as a plain scalar column, not a list of one.
        if comps.len() == 1 {
            hf.insert(key.into(), json!({"dtype": "float32", "_type": "Value"}));
            fields.push(Field::new(key, DataType::Float32, false));
        } else {
            hf.insert(key.into(), json!({"feature": {"dtype": "float32", "_type": "Value"}, "length": comps.len(), "_type": "List"}));
            fields.push(Field::new(key, vector_type(comps.len()), false));
        }
    }
    let strings = std::iter::once("commentary".to_string()).chain(l.tiers.iter().map(|t| format!("label.{}", t.replace('/', "_"))));
    for key in strings {
        info.insert(key.clone(), json!({"dtype": "string", "shape": [1], "names": null}));
        hf.insert(key.clone(), json!({"dtype": "string", "_type": "Value"}));
        fields.push(Field::new(key, DataType::Utf8, false));
    }
    for (key, dtype, arrow) in [
        ("timestamp", "float32", DataType::Float32),
        ("frame_index", "int64", DataType::Int64),
        ("episode_index", "int64", DataType::Int64),
        ("index", "int64", DataType::Int64),
        ("task_index", "int64", DataType::Int64),
    ] {
        info.insert(key.into(), json!({"dtype": dtype, "shape": [1], "names": null}));
        hf.insert(key.into(), json!({"dtype": dtype, "_type": "Value"}));
        fields.push(Field::new(key, arrow, false));
    }
    // LeRobot's language columns (lerobot ≥ 0.6), last as its writer puts them.
    for (key, persistent) in [(language::PERSISTENT, true), (language::EVENTS, false)] {
        info.insert(key.into(), json!({"dtype": "language", "shape": [1], "names": null}));
        hf.insert(key.into(), language::hf_feature(persistent));
        fields.push(Field::new(key, language::column_type(persistent), false));
    }
    let meta = json!({"info": {"features": hf.clone()}}).to_string();
    let schema = Schema::new(fields).with_metadata([("huggingface".to_string(), meta)].into_iter().collect());
    (info, Arc::new(schema))
}

pub(super) fn data_props(l: &Layout) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(true)
        .set_max_row_group_row_count(Some(usize::MAX))
        .set_created_by(format!("tacit {}", env!("CARGO_PKG_VERSION")));
    // JPEG bytes are incompressible and unique: no dictionary, no compression.
    for (name, _, _) in l.cameras.iter().filter(|_| l.video.is_none()) {
        let col = ColumnPath::new(vec![format!("observation.images.{name}"), "bytes".into()]);
        b = b.set_column_dictionary_enabled(col.clone(), false).set_column_compression(col, Compression::UNCOMPRESSED);
    }
    b.build()
}
