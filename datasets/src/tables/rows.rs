//! One session's rows: camera and sensor batches passed through column by
//! column, WAV chunks, transcript segments and words, labels and events.

use super::*;
use crate::session::column;

pub(super) fn repeat_i64(v: i64, n: usize) -> ArrayRef {
    Arc::new(Int64Array::from_value(v, n))
}

pub(super) fn repeat_str(v: &str, n: usize) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(std::iter::repeat_n(v, n)))
}

pub(super) fn timestamps(t: &Int64Array) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(t.values().iter().map(|v| *v as f64 / 1e9)))
}

pub(super) fn emit(t: &mut dyn TableSink, columns: Vec<ArrayRef>, at: &Path) -> Result<(), DatasetError> {
    let batch = RecordBatch::try_new(t.schema(), columns).map_err(|e| DatasetError::write(e, at))?;
    t.write(&batch)
}

pub(crate) fn write_session(
    s: &Session,
    e: &EpisodeEntry,
    layout: &TableLayout,
    audio_chunk_s: u32,
    tables: &mut dyn Sinks,
    progress: &dyn Progress,
) -> Result<(), DatasetError> {
    let ep = e.episode_index as i64;
    let sid = e.session_id.as_str();
    write_episode_row(s, e, tables.get("episodes")?)?;
    for cam in &layout.cameras {
        write_frames(s, ep, sid, cam, tables.get(&format!("frames-{cam}"))?, progress)?;
    }
    for (sensor, chans) in &layout.sensors {
        write_sensor(s, ep, sid, sensor, chans, tables.get(&format!("sensors-{sensor}"))?)?;
    }
    write_audio(s, ep, sid, layout, audio_chunk_s, tables.get("audio")?)?;
    write_transcript(s, ep, sid, tables)?;
    write_labels(s, ep, sid, tables.get("labels")?)?;
    write_events(s, ep, sid, tables.get("events")?)
}

/// The session's row of `episodes`.
fn write_episode_row(s: &Session, e: &EpisodeEntry, t: &mut dyn TableSink) -> Result<(), DatasetError> {
    let (ep, sid, m) = (e.episode_index as i64, e.session_id.as_str(), &s.manifest);
    let cols: Vec<ArrayRef> = vec![
        repeat_i64(ep, 1),
        repeat_str(sid, 1),
        repeat_str(&e.split, 1),
        repeat_str(&m.station, 1),
        repeat_str(&m.site, 1),
        repeat_str(&m.operator, 1),
        repeat_str(&m.task, 1),
        repeat_str(&m.started_at_utc, 1),
        repeat_i64(m.duration_ns, 1),
        Arc::new(Float64Array::from(vec![m.duration_ns as f64 / 1e9])),
        repeat_str(m.status.name(), 1),
        Arc::new(BooleanArray::from(vec![m.transcribed])),
        Arc::new(BooleanArray::from(vec![m.reviewed])),
        Arc::new(StringArray::from(vec![e.transcript_model.clone()])),
        Arc::new(StringArray::from(vec![e.language.clone()])),
        repeat_i64(e.labels as i64, 1),
    ];
    emit(t, cols, &s.dir)
}

/// One camera's frames: the recorded columns reused as they are (no copy of JPEG bytes).
fn write_frames(s: &Session, ep: i64, sid: &str, cam: &str, t: &mut dyn TableSink, progress: &dyn Progress) -> Result<(), DatasetError> {
    let Some(info) = s.streams(StreamKind::Camera).find(|x| x.name == cam) else {
        return Err(DatasetError::session(format!("camera {cam} is in the profile but not in the session"), &s.dir));
    };
    let mut src = Batches::new(&s.dir, info).in_time_order();
    while let Some(b) = src.next()? {
        let n = b.num_rows();
        let tn = column::<Int64Array>(&b, "t_ns", &s.dir)?;
        let seq = column::<UInt64Array>(&b, "seq", &s.dir)?;
        let data = column::<BinaryArray>(&b, "data", &s.dir)?;
        let mut paths = StringBuilder::with_capacity(n, n * 32);
        for v in seq.values() {
            paths.append_value(format!("{sid}/{cam}/{v:08}.jpg"));
        }
        let image = StructArray::try_new(blob_fields(), vec![Arc::new(data.clone()), Arc::new(paths.finish())], None)
            .map_err(|e| DatasetError::write(e, &s.dir))?;
        let cols: Vec<ArrayRef> = vec![
            repeat_i64(ep, n),
            repeat_str(sid, n),
            Arc::new(tn.clone()),
            timestamps(tn),
            Arc::new(seq.clone()),
            Arc::new(column::<UInt32Array>(&b, "width", &s.dir)?.clone()),
            Arc::new(column::<UInt32Array>(&b, "height", &s.dir)?.clone()),
            Arc::new(image),
        ];
        emit(t, cols, &s.dir)?;
        progress.advance(n as u64);
        if progress.cancelled() {
            return Err(DatasetError::Cancelled);
        }
    }
    Ok(())
}

/// One sensor at its native rate, a Float64 column per channel (null where a batch lacks one).
fn write_sensor(s: &Session, ep: i64, sid: &str, sensor: &str, chans: &[String], t: &mut dyn TableSink) -> Result<(), DatasetError> {
    let Some(info) = s.streams(StreamKind::Sensor).find(|x| x.name == sensor) else {
        return Err(DatasetError::session(format!("sensor {sensor} is in the profile but not in the session"), &s.dir));
    };
    let mut src = Batches::new(&s.dir, info).in_time_order();
    while let Some(b) = src.next()? {
        let n = b.num_rows();
        let tn = column::<Int64Array>(&b, "t_ns", &s.dir)?;
        let dev: ArrayRef = match b.column_by_name("device_ts_ns") {
            Some(c) if c.data_type() == &DataType::Int64 => c.clone(),
            _ => Arc::new(Int64Array::new_null(n)),
        };
        let mut cols: Vec<ArrayRef> = vec![repeat_i64(ep, n), repeat_str(sid, n), Arc::new(tn.clone()), timestamps(tn), dev];
        for c in chans {
            cols.push(match b.column_by_name(c) {
                Some(a) if a.data_type() == &DataType::Float64 => a.clone(),
                _ => Arc::new(Float64Array::new_null(n)),
            });
        }
        emit(t, cols, &s.dir)?;
    }
    Ok(())
}

/// Labels of every status (the full record; filter on `status`).
fn write_labels(s: &Session, ep: i64, sid: &str, t: &mut dyn TableSink) -> Result<(), DatasetError> {
    let l = &s.labels.labels;
    let n = l.len();
    let strs = |g: &dyn Fn(&tacit_schema::LabelSegment) -> &str| -> ArrayRef { Arc::new(StringArray::from_iter_values(l.iter().map(g))) };
    let cols: Vec<ArrayRef> = vec![
        repeat_i64(ep, n),
        repeat_str(sid, n),
        strs(&|x| x.id.as_str()),
        strs(&|x| x.tier.as_str()),
        strs(&|x| x.value.as_str()),
        Arc::new(Int64Array::from_iter_values(l.iter().map(|x| x.start_ns))),
        Arc::new(Int64Array::from_iter_values(l.iter().map(|x| x.end_ns))),
        strs(&|x| x.author.as_str()),
        strs(&|x| x.status.as_str()),
        strs(&|x| x.created_at_utc.as_str()),
        strs(&|x| x.updated_at_utc.as_str()),
    ];
    emit(t, cols, &s.dir)
}

/// The recorder's events.
fn write_events(s: &Session, ep: i64, sid: &str, t: &mut dyn TableSink) -> Result<(), DatasetError> {
    if let Some(info) = s.streams(StreamKind::Events).next() {
        let mut src = Batches::new(&s.dir, info);
        while let Some(b) = src.next()? {
            let n = b.num_rows();
            let tn = column::<Int64Array>(&b, "t_ns", &s.dir)?;
            let cols: Vec<ArrayRef> = vec![
                repeat_i64(ep, n),
                repeat_str(sid, n),
                Arc::new(tn.clone()),
                timestamps(tn),
                Arc::new(column::<StringArray>(&b, "kind", &s.dir)?.clone()),
                Arc::new(column::<StringArray>(&b, "label", &s.dir)?.clone()),
                Arc::new(column::<StringArray>(&b, "source", &s.dir)?.clone()),
            ];
            emit(t, cols, &s.dir)?;
        }
    }
    Ok(())
}

/// Session time of an audio sample index, through the stream's sync fit.
pub(super) fn audio_ns(info: &tacit_schema::StreamInfo, sample: u64, rate: u32) -> i64 {
    let device_ns = (i128::from(sample) * 1_000_000_000 / i128::from(rate.max(1))) as i64;
    match info.sync.as_ref().and_then(|f| f.map(device_ns)) {
        Some(t) => t.round() as i64,
        None => info.first_t_ns.unwrap_or(0) + device_ns,
    }
}

pub(super) fn write_audio(
    s: &Session,
    ep: i64,
    sid: &str,
    layout: &TableLayout,
    chunk_s: u32,
    t: &mut dyn TableSink,
) -> Result<(), DatasetError> {
    for mic in &layout.microphones {
        let Some(info) = s.streams(StreamKind::Audio).find(|x| &x.name == mic) else {
            return Err(DatasetError::session(format!("microphone {mic} is in the profile but not in the session"), &s.dir));
        };
        let Some(file) = info.files.iter().find(|f| f.ends_with(".wav")) else {
            return Err(DatasetError::session(format!("microphone {mic} has no WAV file"), &s.dir));
        };
        let file = Wav::open(&s.dir.join(file))?;
        let spec = file.spec();
        let mut first: u64 = 0;
        let path = file.path();
        for (chunk_index, buf) in (0i64..).zip(file.pcm16_chunks(spec.sample_rate.saturating_mul(chunk_s.max(1)))?) {
            let buf = buf?;
            let frames = (buf.len() / usize::from(spec.channels.max(1))) as u64;
            let mut wav = Cursor::new(Vec::with_capacity(buf.len() * 2 + 44));
            {
                let mut w = hound::WavWriter::new(&mut wav, spec).map_err(|e| DatasetError::write(e, path))?;
                let mut w16 = w.get_i16_writer(buf.len() as u32);
                for v in &buf {
                    w16.write_sample(*v);
                }
                w16.flush().map_err(|e| DatasetError::write(e, path))?;
                w.finalize().map_err(|e| DatasetError::write(e, path))?;
            }
            let audio = StructArray::try_new(
                blob_fields(),
                vec![
                    Arc::new(BinaryArray::from_vec(vec![wav.get_ref().as_slice()])),
                    Arc::new(StringArray::from(vec![format!("{sid}/{mic}-{chunk_index:04}.wav")])),
                ],
                None,
            )
            .map_err(|e| DatasetError::write(e, path))?;
            let cols: Vec<ArrayRef> = vec![
                repeat_i64(ep, 1),
                repeat_str(sid, 1),
                repeat_str(mic, 1),
                repeat_i64(chunk_index, 1),
                Arc::new(UInt64Array::from(vec![first])),
                Arc::new(UInt64Array::from(vec![frames])),
                repeat_i64(audio_ns(info, first, spec.sample_rate), 1),
                repeat_i64(audio_ns(info, first + frames, spec.sample_rate), 1),
                Arc::new(UInt32Array::from(vec![spec.sample_rate])),
                Arc::new(UInt16Array::from(vec![spec.channels])),
                Arc::new(audio),
            ];
            emit(t, cols, &s.dir)?;
            first += frames;
        }
    }
    Ok(())
}

pub(super) fn write_transcript(s: &Session, ep: i64, sid: &str, tables: &mut dyn Sinks) -> Result<(), DatasetError> {
    let path = s.dir.join(tacit_session::layout::TRANSCRIPT);
    let Some(batches) = tacit_session::transcript::read_batches(&path)? else { return Ok(()) };
    let bad = |e: &dyn std::fmt::Display| {
        DatasetError::session(format!("transcript.parquet cannot be read ({e}); run `tacit transcribe` again"), &path)
    };
    for b in batches {
        let n = b.num_rows();
        let mut cols: Vec<ArrayRef> = vec![repeat_i64(ep, n), repeat_str(sid, n)];
        for name in ["segment_id", "start_ns", "end_ns", "text", "language", "avg_logprob", "no_speech_prob"] {
            cols.push(b.column_by_name(name).cloned().ok_or_else(|| bad(&format!("no column {name}")))?);
        }
        if !s.labels.transcript_edits.is_empty() {
            // The trainer's corrections replace the machine text (which stays in the session).
            let ids = column::<UInt32Array>(&b, "segment_id", &path)?;
            let starts = column::<Int64Array>(&b, "start_ns", &path)?;
            let texts = column::<StringArray>(&b, "text", &path)?;
            let edited: StringArray =
                (0..n).map(|i| Some(s.labels.edited_text(ids.value(i), starts.value(i)).unwrap_or(texts.value(i)))).collect();
            cols[5] = Arc::new(edited);
        }
        emit(tables.get("commentary")?, cols, &s.dir)?;
        let words = column::<ListArray>(&b, "words", &path)?;
        let items = words.values().as_any().downcast_ref::<StructArray>().ok_or_else(|| bad(&"words is not a list of structs"))?;
        let get = |name: &str| items.column_by_name(name).cloned().ok_or_else(|| bad(&format!("no word field {name}")));
        let m = items.len();
        let offsets = words.value_offsets();
        let mut word_index = Vec::with_capacity(m);
        for w in offsets.windows(2) {
            word_index.extend(0..(w[1] - w[0]) as u32);
        }
        let start = offsets.first().copied().unwrap_or(0) as usize;
        let end = offsets.last().copied().unwrap_or(0) as usize;
        let slice = |a: ArrayRef| a.slice(start, end - start);
        let cols: Vec<ArrayRef> = vec![
            repeat_i64(ep, end - start),
            repeat_str(sid, end - start),
            slice(get("segment_id")?),
            Arc::new(UInt32Array::from(word_index)),
            slice(get("start_ns")?),
            slice(get("end_ns")?),
            slice(get("word")?),
            slice(get("probability")?),
        ];
        emit(tables.get("words")?, cols, &s.dir)?;
    }
    Ok(())
}
