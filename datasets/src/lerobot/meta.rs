//! `meta/tasks.parquet` and `meta/episodes/…`.

use super::*;

pub(super) fn write_tasks(path: &Path, tasks: &[String]) -> Result<(), DatasetError> {
    let pandas = json!({
        "index_columns": ["__index_level_0__"],
        "column_indexes": [{"name": null, "field_name": null, "pandas_type": "unicode", "numpy_type": "object", "metadata": {"encoding": "UTF-8"}}],
        "columns": [
            {"name": "task_index", "field_name": "task_index", "pandas_type": "int64", "numpy_type": "int64", "metadata": null},
            {"name": null, "field_name": "__index_level_0__", "pandas_type": "unicode", "numpy_type": "object", "metadata": null}
        ],
        "creator": {"library": "tacit", "version": env!("CARGO_PKG_VERSION")},
        "pandas_version": "2.2.3"
    });
    let schema = Arc::new(
        Schema::new(vec![Field::new("task_index", DataType::Int64, false), Field::new("__index_level_0__", DataType::LargeUtf8, false)])
            .with_metadata([("pandas".to_string(), pandas.to_string())].into_iter().collect()),
    );
    let idx: Int64Array = (0..tasks.len() as i64).collect();
    let text = LargeStringArray::from_iter_values(tasks.iter());
    let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(idx), Arc::new(text)]).map_err(|e| DatasetError::write(e, path))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut w = parquet_file(path, schema, props)?;
    w.write(&batch).map_err(|e| DatasetError::write(e, path))?;
    seal(w, path)
}

pub(super) fn list_of(inner: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", inner, true)))
}

pub(super) fn write_episodes(path: &Path, episodes: &[EpisodeRow], video_keys: &[String], meta_file: usize) -> Result<(), DatasetError> {
    let mut fields = vec![
        Field::new("episode_index", DataType::Int64, false),
        Field::new("tasks", list_of(DataType::Utf8), false),
        Field::new("length", DataType::Int64, false),
        Field::new("data/chunk_index", DataType::Int64, false),
        Field::new("data/file_index", DataType::Int64, false),
        Field::new("dataset_from_index", DataType::Int64, false),
        Field::new("dataset_to_index", DataType::Int64, false),
    ];
    for key in video_keys {
        fields.push(Field::new(format!("videos/{key}/chunk_index"), DataType::Int64, false));
        fields.push(Field::new(format!("videos/{key}/file_index"), DataType::Int64, false));
        fields.push(Field::new(format!("videos/{key}/from_timestamp"), DataType::Float64, false));
        fields.push(Field::new(format!("videos/{key}/to_timestamp"), DataType::Float64, false));
    }
    let keys: Vec<String> = episodes[0].stats.keys().cloned().collect();
    for k in &keys {
        let image = is_image_column(k);
        let value = if image { list_of(list_of(list_of(DataType::Float64))) } else { list_of(DataType::Float64) };
        for s in ["min", "max", "mean", "std"] {
            fields.push(Field::new(format!("stats/{k}/{s}"), value.clone(), true));
        }
        fields.push(Field::new(format!("stats/{k}/count"), list_of(DataType::Int64), true));
    }
    fields.push(Field::new("meta/episodes/chunk_index", DataType::Int64, false));
    fields.push(Field::new("meta/episodes/file_index", DataType::Int64, false));
    let schema = Arc::new(Schema::new(fields));
    let mut rows = Vec::new();
    for e in episodes {
        let mut m = serde_json::Map::new();
        m.insert("episode_index".into(), json!(e.index));
        m.insert("tasks".into(), json!([e.task]));
        m.insert("length".into(), json!(e.length));
        m.insert("data/chunk_index".into(), json!(0));
        m.insert("data/file_index".into(), json!(e.file_index));
        m.insert("dataset_from_index".into(), json!(e.from));
        m.insert("dataset_to_index".into(), json!(e.from + e.length));
        for (key, (file, from, to)) in video_keys.iter().zip(&e.videos) {
            m.insert(format!("videos/{key}/chunk_index"), json!(0));
            m.insert(format!("videos/{key}/file_index"), json!(file));
            m.insert(format!("videos/{key}/from_timestamp"), json!(from));
            m.insert(format!("videos/{key}/to_timestamp"), json!(to));
        }
        for k in &keys {
            if let Some(st) = e.stats.get(k) {
                let j = st.to_json();
                for s in ["min", "max", "mean", "std", "count"] {
                    m.insert(format!("stats/{k}/{s}"), j[s].clone());
                }
            }
        }
        m.insert("meta/episodes/chunk_index".into(), json!(0));
        m.insert("meta/episodes/file_index".into(), json!(meta_file));
        rows.push(Value::Object(m));
    }
    let mut dec = arrow_json::ReaderBuilder::new(schema.clone()).build_decoder().map_err(|e| DatasetError::write(e, path))?;
    dec.serialize(&rows).map_err(|e| DatasetError::write(e, path))?;
    let batch = dec.flush().map_err(|e| DatasetError::write(e, path))?.ok_or_else(|| DatasetError::write("no episode rows", path))?;
    let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
    let mut w = parquet_file(path, schema, props)?;
    w.write(&batch).map_err(|e| DatasetError::write(e, path))?;
    seal(w, path)
}
