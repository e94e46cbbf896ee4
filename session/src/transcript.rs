//! `transcript.parquet`: one row per segment, its words nested as a list, all
//! times in session nanoseconds. The one writer and reader; the schema is
//! `tacit_schema::tables::transcript_schema`.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, Int64Builder, StringBuilder, UInt32Builder};
use arrow_array::{Array, ArrayRef, ListArray, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::file::reader::ChunkReader;

use tacit_schema::tables;

use crate::SessionError;

/// A word in session time.
#[derive(Clone, Debug, PartialEq)]
pub struct Word {
    /// The word as spoken (punctuation attached).
    pub word: String,
    /// Start, session ns.
    pub start_ns: i64,
    /// End, session ns.
    pub end_ns: i64,
    /// Mean token probability.
    pub probability: f32,
}

/// A segment in session time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Segment {
    /// 0, 1, 2, … in time order.
    pub segment_id: u32,
    /// Start, session ns.
    pub start_ns: i64,
    /// End, session ns.
    pub end_ns: i64,
    /// Text.
    pub text: String,
    /// Language of the segment.
    pub language: String,
    /// Mean log probability of its tokens.
    pub avg_logprob: f32,
    /// Probability that the segment holds no speech.
    pub no_speech_prob: f32,
    /// Its words.
    pub words: Vec<Word>,
}

/// Schema of `transcript.parquet` (`tacit_schema::tables::transcript_schema`).
pub fn schema() -> SchemaRef {
    tables::transcript_schema()
}

/// The segments as one Arrow batch.
pub fn to_batch(segments: &[Segment]) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let n = segments.len();
    let (mut id, mut start, mut end) = (UInt32Builder::with_capacity(n), Int64Builder::with_capacity(n), Int64Builder::with_capacity(n));
    let (mut text, mut lang) = (StringBuilder::new(), StringBuilder::new());
    let (mut lp, mut nsp) = (Float32Builder::with_capacity(n), Float32Builder::with_capacity(n));
    let (mut w_word, mut w_start, mut w_end, mut w_p, mut w_seg) =
        (StringBuilder::new(), Int64Builder::new(), Int64Builder::new(), Float32Builder::new(), UInt32Builder::new());
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0i32);
    for s in segments {
        id.append_value(s.segment_id);
        start.append_value(s.start_ns);
        end.append_value(s.end_ns);
        text.append_value(&s.text);
        lang.append_value(&s.language);
        lp.append_value(s.avg_logprob);
        nsp.append_value(s.no_speech_prob);
        for w in &s.words {
            w_word.append_value(&w.word);
            w_start.append_value(w.start_ns);
            w_end.append_value(w.end_ns);
            w_p.append_value(w.probability);
            w_seg.append_value(s.segment_id);
        }
        offsets.push(offsets.last().copied().unwrap_or(0) + s.words.len() as i32);
    }
    let words = StructArray::try_new(
        tables::transcript_word_fields(),
        vec![
            Arc::new(w_word.finish()),
            Arc::new(w_start.finish()),
            Arc::new(w_end.finish()),
            Arc::new(w_p.finish()),
            Arc::new(w_seg.finish()),
        ],
        None,
    )?;
    let item = Arc::new(Field::new("item", DataType::Struct(tables::transcript_word_fields()), false));
    let list = ListArray::try_new(item, arrow_buffer_offsets(offsets), Arc::new(words) as ArrayRef, None)?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        Arc::new(start.finish()),
        Arc::new(end.finish()),
        Arc::new(text.finish()),
        Arc::new(lang.finish()),
        Arc::new(lp.finish()),
        Arc::new(nsp.finish()),
        Arc::new(list),
    ];
    RecordBatch::try_new(schema(), columns)
}

fn arrow_buffer_offsets(offsets: Vec<i32>) -> arrow_buffer::OffsetBuffer<i32> {
    arrow_buffer::OffsetBuffer::new(offsets.into())
}

/// Encodes segments as the transcript's Parquet bytes into `out` (zstd,
/// `metadata` as the file's key-value metadata); returns `out`.
///
/// # Example
///
/// ```
/// use tacit_session::transcript::{decode, encode, Segment, Word};
/// let said = vec![Segment {
///     segment_id: 0,
///     start_ns: 500_000_000,
///     end_ns: 1_700_000_000,
///     text: "전류 이백 암페어".into(),
///     language: "ko".into(),
///     words: vec![Word { word: "전류".into(), start_ns: 500_000_000, end_ns: 900_000_000, probability: 0.9 }],
///     ..Segment::default()
/// }];
/// let bytes: Vec<u8> = encode(Vec::new(), &said, &[("tacit.model".into(), "small".into())]).unwrap();
/// assert_eq!(decode(bytes.as_slice()).unwrap(), said);
/// ```
pub fn encode<W: Write + Send>(out: W, segments: &[Segment], metadata: &[(String, String)]) -> Result<W, String> {
    let batch = to_batch(segments).map_err(|e| format!("cannot build the transcript table ({e})"))?;
    let kv = metadata.iter().map(|(k, v)| parquet::file::metadata::KeyValue::new(k.clone(), v.clone())).collect();
    let props =
        WriterProperties::builder().set_compression(Compression::ZSTD(ZstdLevel::default())).set_key_value_metadata(Some(kv)).build();
    let fail = |e: parquet::errors::ParquetError| format!("cannot write Parquet ({e})");
    let mut writer = ArrowWriter::try_new(out, schema(), Some(props)).map_err(fail)?;
    writer.write(&batch).map_err(fail)?;
    writer.into_inner().map_err(fail)
}

/// Decodes the transcript's Parquet bytes read from `input` ([`encode`]'s
/// inverse); the schema is checked.
pub fn decode(mut input: impl Read) -> Result<Vec<Segment>, String> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes).map_err(|e| format!("cannot read the transcript ({e})"))?;
    segments(&batches(bytes::Bytes::from(bytes))?)
}

/// Writes `transcript.parquet` atomically (temp file, fsync, rename).
pub fn write(path: &Path, segments: &[Segment], metadata: &[(String, String)]) -> Result<(), SessionError> {
    let tmp = path.with_extension("parquet.tmp");
    let file = File::create(&tmp).map_err(|e| SessionError::io("create", &tmp, e))?;
    let file = encode(file, segments, metadata).map_err(|e| SessionError::invalid(e, &tmp))?;
    file.sync_all().map_err(|e| SessionError::io("sync", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| SessionError::io("replace", path, e))?;
    // A session checked out of the site store: the store's copy too.
    if let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) {
        if let Some(checkout) = crate::store::remote::checkout_of(dir) {
            checkout.upload(name)?;
        }
    }
    Ok(())
}

/// The record batches of `transcript.parquet`, each checked against the
/// schema (so a column looked up by name is there and of its type); `None`
/// when the session has no transcript.
pub fn read_batches(path: &Path) -> Result<Option<Vec<RecordBatch>>, SessionError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SessionError::io("open", path, e)),
    };
    batches(file).map(Some).map_err(|m| SessionError::invalid(format!("{m}; run `tacit transcribe` again"), path))
}

fn batches<R: ChunkReader + 'static>(input: R) -> Result<Vec<RecordBatch>, String> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(input)
        .map_err(|e| format!("not a transcript Parquet file ({e})"))?
        .build()
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for batch in reader {
        let b = batch.map_err(|e| format!("the transcript cannot be read ({e})"))?;
        if b.schema().fields() != schema().fields() {
            return Err("the transcript has an unexpected schema".into());
        }
        out.push(b);
    }
    Ok(out)
}

/// Reads `transcript.parquet` back.
pub fn read(path: &Path) -> Result<Vec<Segment>, SessionError> {
    read_if_any(path)?.ok_or_else(|| SessionError::invalid("no transcript yet: run `tacit transcribe` first", path))
}

/// Reads `transcript.parquet` back; `None` when the session has none.
pub fn read_if_any(path: &Path) -> Result<Option<Vec<Segment>>, SessionError> {
    let Some(batches) = read_batches(path)? else { return Ok(None) };
    segments(&batches).map(Some).map_err(|m| SessionError::invalid(m, path))
}

/// Segments from batches whose schema was checked.
fn segments(batches: &[RecordBatch]) -> Result<Vec<Segment>, String> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float32Type, Int64Type, UInt32Type};
    let mut out = Vec::new();
    for b in batches {
        let (id, st, en) =
            (b.column(0).as_primitive::<UInt32Type>(), b.column(1).as_primitive::<Int64Type>(), b.column(2).as_primitive::<Int64Type>());
        let (tx, lg) = (b.column(3).as_string::<i32>(), b.column(4).as_string::<i32>());
        let (lp, ns) = (b.column(5).as_primitive::<Float32Type>(), b.column(6).as_primitive::<Float32Type>());
        let words = b.column(7).as_list::<i32>();
        for i in 0..b.num_rows() {
            let ws = words.value(i);
            let ws = ws.as_struct();
            let (ww, wst, wen, wp) = (
                ws.column(0).as_string::<i32>(),
                ws.column(1).as_primitive::<Int64Type>(),
                ws.column(2).as_primitive::<Int64Type>(),
                ws.column(3).as_primitive::<Float32Type>(),
            );
            let words = (0..ws.len())
                .map(|j| Word { word: ww.value(j).to_string(), start_ns: wst.value(j), end_ns: wen.value(j), probability: wp.value(j) })
                .collect();
            out.push(Segment {
                segment_id: id.value(i),
                start_ns: st.value(i),
                end_ns: en.value(i),
                text: tx.value(i).to_string(),
                language: lg.value(i).to_string(),
                avg_logprob: lp.value(i),
                no_speech_prob: ns.value(i),
                words,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_parquet_with_hangul() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("transcript.parquet");
        let segs = vec![
            Segment {
                segment_id: 0,
                start_ns: 1_000,
                end_ns: 2_000_000_000,
                text: "키홀이 보입니다".into(),
                language: "ko".into(),
                avg_logprob: -0.3,
                no_speech_prob: 0.01,
                words: vec![
                    Word { word: "키홀이".into(), start_ns: 1_000, end_ns: 900_000_000, probability: 0.8 },
                    Word { word: "보입니다".into(), start_ns: 900_000_000, end_ns: 2_000_000_000, probability: 0.9 },
                ],
            },
            Segment {
                segment_id: 1,
                start_ns: 3_000_000_000,
                end_ns: 4_000_000_000,
                text: "no words".into(),
                language: "en".into(),
                avg_logprob: -1.0,
                no_speech_prob: 0.2,
                words: vec![],
            },
        ];
        write(&path, &segs, &[("tacit.model".into(), "tiny".into())]).unwrap();
        assert!(!dir.path().join("transcript.parquet.tmp").exists());
        assert_eq!(read(&path).unwrap(), segs);
        // No transcript: None, or a clear error from `read`.
        let missing = dir.path().join("none.parquet");
        assert!(read_if_any(&missing).unwrap().is_none());
        assert!(read(&missing).unwrap_err().to_string().contains("tacit transcribe"));
        std::fs::write(&missing, b"not parquet").unwrap();
        assert!(read(&missing).unwrap_err().to_string().contains("not a transcript Parquet file"));
    }
}
