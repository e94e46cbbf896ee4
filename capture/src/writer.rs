//! Stream writers: one thread per stream drains its channel, builds Arrow
//! batches (or WAV frames) and flushes at least twice a second, syncing to
//! disk once a second, so a crash or power cut loses at most the last second.

use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::builder::{BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, UInt32Builder, UInt64Builder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use crossbeam_channel::{Receiver, RecvTimeoutError};
use tacit_schema::tables;

use crate::error::CaptureError;
use crate::ipc::{SegmentNaming, SegmentWriter};
use crate::live::LiveTap;
use crate::source::audio::AudioBlock;
use crate::source::camera::FrameMsg;
use crate::source::sensor::SensorBatch;
use crate::source::EventMsg;
use crate::tally::{Monotonic, Tally};

/// Batches are written at least this often.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// Files are synced to disk at least this often.
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// What a writer leaves behind.
#[derive(Debug)]
pub struct WriterOutput {
    /// Files written, relative to the session folder.
    pub files: Vec<String>,
    /// Counts, times and fit pairs.
    pub tally: Tally,
    /// Set when writing failed (the stream stopped there).
    pub error: Option<CaptureError>,
}

/// One stream's file side.
trait Sink<T> {
    /// Takes one message (may write a batch when enough piled up).
    fn push(&mut self, msg: T) -> Result<(), CaptureError>;
    /// Writes what is pending and flushes; `sync` also syncs to disk.
    fn flush(&mut self, sync: bool) -> Result<(), CaptureError>;
    /// Ends the files cleanly and hands back the summary.
    fn finish(self, error: Option<CaptureError>) -> WriterOutput;
}

/// Receives until the channel closes, flushing on time and at the end, then
/// finishes the sink. The first error stops the stream; files stay as last
/// flushed (recover cuts any torn tail).
fn run<T, S: Sink<T>>(rx: Receiver<T>, mut sink: S) -> WriterOutput {
    let mut last_flush = Instant::now();
    let mut last_sync = Instant::now();
    let result = (|| {
        loop {
            match rx.recv_timeout(FLUSH_EVERY.saturating_sub(last_flush.elapsed())) {
                Ok(msg) => sink.push(msg)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if last_flush.elapsed() >= FLUSH_EVERY {
                last_flush = Instant::now();
                let sync = last_sync.elapsed() >= SYNC_EVERY;
                if sync {
                    last_sync = last_flush;
                }
                sink.flush(sync)?;
            }
        }
        sink.flush(true)
    })();
    sink.finish(result.err())
}

fn finish_segments(segments: Vec<SegmentWriter>, error: Option<CaptureError>, tally: Tally) -> WriterOutput {
    let mut files = Vec::new();
    let mut error = error;
    for seg in segments {
        if error.is_some() {
            // Leave unfinished: recover cuts it back to its last whole batch.
            files.extend(seg.files().iter().cloned());
            continue;
        }
        let written = seg.files().to_vec();
        match seg.finish() {
            Ok(f) => files.extend(f),
            Err(e) => {
                files.extend(written);
                error = Some(e);
            }
        }
    }
    WriterOutput { files, tally, error }
}

fn failed(error: CaptureError) -> WriterOutput {
    WriterOutput { files: Vec::new(), tally: Tally::new(), error: Some(error) }
}

struct CameraSink {
    dir: PathBuf,
    seg: SegmentWriter,
    schema: SchemaRef,
    tally: Tally,
    mono: Monotonic,
    rows: Vec<FrameMsg>,
    bytes: usize,
    tap: Option<Arc<LiveTap>>,
}

impl CameraSink {
    fn write_rows(&mut self) -> Result<(), CaptureError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let n = self.rows.len();
        let mut t = Int64Builder::with_capacity(n);
        let mut dev = Int64Builder::with_capacity(n);
        let mut seq = UInt64Builder::with_capacity(n);
        let mut w = UInt32Builder::with_capacity(n);
        let mut h = UInt32Builder::with_capacity(n);
        let mut codec = StringBuilder::with_capacity(n, n * 4);
        let mut data = BinaryBuilder::with_capacity(n, self.bytes);
        for r in &self.rows {
            let t_ns = self.mono.fix(r.t_ns);
            t.append_value(t_ns);
            dev.append_option(r.device_ts_ns);
            seq.append_value(r.seq);
            w.append_value(r.width);
            h.append_value(r.height);
            codec.append_value("jpeg");
            data.append_value(&r.jpeg);
            if let Some(d) = r.device_ts_ns {
                self.tally.fit.push(d, t_ns);
            }
            self.tally.add(1, t_ns, t_ns);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(t.finish()),
            Arc::new(dev.finish()),
            Arc::new(seq.finish()),
            Arc::new(w.finish()),
            Arc::new(h.finish()),
            Arc::new(codec.finish()),
            Arc::new(data.finish()),
        ];
        let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| CaptureError::arrow("build", &self.dir, e))?;
        self.rows.clear();
        self.bytes = 0;
        self.seg.write(&batch)
    }
}

impl Sink<FrameMsg> for CameraSink {
    fn push(&mut self, msg: FrameMsg) -> Result<(), CaptureError> {
        if let Some(tap) = &self.tap {
            tap.offer_frame(msg.t_ns, || Arc::from(msg.jpeg.as_slice()));
        }
        self.bytes += msg.jpeg.len();
        self.rows.push(msg);
        if self.bytes >= 8 << 20 {
            self.write_rows()?;
        }
        Ok(())
    }

    fn flush(&mut self, sync: bool) -> Result<(), CaptureError> {
        self.write_rows()?;
        self.seg.flush(sync)
    }

    fn finish(self, error: Option<CaptureError>) -> WriterOutput {
        finish_segments(vec![self.seg], error, self.tally)
    }
}

/// Writes camera frames to `cam-<name>.<n>.arrows` until the channel closes.
pub fn write_camera(dir: &Path, name: &str, segment_bytes: u64, rx: Receiver<FrameMsg>, tap: Option<Arc<LiveTap>>) -> WriterOutput {
    let naming = SegmentNaming { stem: format!("cam-{name}"), number_first: true };
    let schema = tables::camera_schema();
    match SegmentWriter::create(dir, naming, schema.clone(), segment_bytes) {
        Ok(seg) => run(
            rx,
            CameraSink {
                dir: dir.to_path_buf(),
                seg,
                schema,
                tally: Tally::new(),
                mono: Monotonic::default(),
                rows: Vec::new(),
                bytes: 0,
                tap,
            },
        ),
        Err(e) => failed(e),
    }
}

struct SensorSink {
    dir: PathBuf,
    name: String,
    seg: SegmentWriter,
    schema: SchemaRef,
    channels: usize,
    rejects_seg: Option<SegmentWriter>,
    tally: Tally,
    mono: Monotonic,
    pending: Vec<SensorBatch>,
    pending_rows: usize,
    tap: Option<Arc<LiveTap>>,
}

impl SensorSink {
    fn write_pending(&mut self) -> Result<(), CaptureError> {
        let rows = self.pending_rows;
        self.pending_rows = 0;
        let pending = std::mem::take(&mut self.pending);
        if rows > 0 {
            let mut t = Int64Builder::with_capacity(rows);
            let mut dev = Int64Builder::with_capacity(rows);
            let mut cols: Vec<Float64Builder> = (0..self.channels).map(|_| Float64Builder::with_capacity(rows)).collect();
            for b in &pending {
                for (i, (&t_ns, d)) in b.t_ns.iter().zip(&b.device_ts_ns).enumerate() {
                    let t_ns = self.mono.fix(t_ns);
                    t.append_value(t_ns);
                    dev.append_option(*d);
                    for (c, col) in cols.iter_mut().enumerate() {
                        col.append_option(b.values.get(i * self.channels + c).copied().flatten());
                    }
                    if let Some(d) = d {
                        self.tally.fit.push(*d, t_ns);
                    }
                    self.tally.add(1, t_ns, t_ns);
                }
            }
            let mut columns: Vec<ArrayRef> = vec![Arc::new(t.finish()), Arc::new(dev.finish())];
            columns.extend(cols.into_iter().map(|mut c| Arc::new(c.finish()) as ArrayRef));
            let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| CaptureError::arrow("build", &self.dir, e))?;
            self.seg.write(&batch)?;
        }
        let rejects: Vec<&(i64, String, String)> = pending.iter().flat_map(|b| &b.rejects).collect();
        if rejects.is_empty() {
            return Ok(());
        }
        if self.rejects_seg.is_none() {
            let naming = SegmentNaming { stem: format!("sensor-{}.rejects", self.name), number_first: false };
            self.rejects_seg = Some(SegmentWriter::create(&self.dir, naming, tables::sensor_rejects_schema(), u64::MAX)?);
        }
        let mut t = Int64Builder::new();
        let (mut raw, mut reason) = (StringBuilder::new(), StringBuilder::new());
        for (t_ns, r, why) in rejects {
            t.append_value(*t_ns);
            raw.append_value(r);
            reason.append_value(why);
        }
        let batch = RecordBatch::try_new(
            tables::sensor_rejects_schema(),
            vec![Arc::new(t.finish()), Arc::new(raw.finish()), Arc::new(reason.finish())],
        )
        .map_err(|e| CaptureError::arrow("build", &self.dir, e))?;
        match self.rejects_seg.as_mut() {
            Some(seg) => seg.write(&batch),
            None => Ok(()),
        }
    }
}

impl Sink<SensorBatch> for SensorSink {
    fn push(&mut self, batch: SensorBatch) -> Result<(), CaptureError> {
        if let Some(tap) = &self.tap {
            tap.offer_sensor(&batch.t_ns, &batch.values, self.channels);
        }
        self.pending_rows += batch.rows();
        self.pending.push(batch);
        if self.pending_rows >= 65_536 {
            self.write_pending()?;
        }
        Ok(())
    }

    fn flush(&mut self, sync: bool) -> Result<(), CaptureError> {
        self.write_pending()?;
        self.seg.flush(sync)?;
        if let Some(r) = self.rejects_seg.as_mut() {
            r.flush(sync)?;
        }
        Ok(())
    }

    fn finish(self, error: Option<CaptureError>) -> WriterOutput {
        let mut segments = vec![self.seg];
        segments.extend(self.rejects_seg);
        finish_segments(segments, error, self.tally)
    }
}

/// Writes sensor rows to `sensor-<name>.arrows` (rejects to
/// `sensor-<name>.rejects.arrows`) until the channel closes.
pub fn write_sensor(
    dir: &Path,
    name: &str,
    channels: &[String],
    segment_bytes: u64,
    rx: Receiver<SensorBatch>,
    tap: Option<Arc<LiveTap>>,
) -> WriterOutput {
    let naming = SegmentNaming { stem: format!("sensor-{name}"), number_first: false };
    let schema = tables::sensor_schema(channels);
    match SegmentWriter::create(dir, naming, schema.clone(), segment_bytes) {
        Ok(seg) => run(
            rx,
            SensorSink {
                dir: dir.to_path_buf(),
                name: name.to_string(),
                seg,
                schema,
                channels: channels.len(),
                rejects_seg: None,
                tally: Tally::new(),
                mono: Monotonic::default(),
                pending: Vec::new(),
                pending_rows: 0,
                tap,
            },
        ),
        Err(e) => failed(e),
    }
}

struct EventSink {
    dir: PathBuf,
    seg: SegmentWriter,
    tally: Tally,
    mono: Monotonic,
    pending: Vec<EventMsg>,
}

impl Sink<EventMsg> for EventSink {
    fn push(&mut self, msg: EventMsg) -> Result<(), CaptureError> {
        self.pending.push(msg);
        Ok(())
    }

    fn flush(&mut self, sync: bool) -> Result<(), CaptureError> {
        if !self.pending.is_empty() {
            let mut t = Int64Builder::new();
            let (mut kind, mut label, mut source) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
            for e in self.pending.drain(..) {
                let t_ns = self.mono.fix(e.t_ns);
                t.append_value(t_ns);
                kind.append_value(&e.kind);
                label.append_value(&e.label);
                source.append_value(&e.source);
                self.tally.add(1, t_ns, t_ns);
            }
            let batch = RecordBatch::try_new(
                tables::events_schema(),
                vec![Arc::new(t.finish()), Arc::new(kind.finish()), Arc::new(label.finish()), Arc::new(source.finish())],
            )
            .map_err(|e| CaptureError::arrow("build", &self.dir, e))?;
            self.seg.write(&batch)?;
        }
        self.seg.flush(sync)
    }

    fn finish(self, error: Option<CaptureError>) -> WriterOutput {
        finish_segments(vec![self.seg], error, self.tally)
    }
}

/// Writes events to `events.arrows` until the channel closes.
pub fn write_events(dir: &Path, rx: Receiver<EventMsg>) -> WriterOutput {
    let naming = SegmentNaming { stem: "events".into(), number_first: false };
    match SegmentWriter::create(dir, naming, tables::events_schema(), u64::MAX) {
        Ok(seg) => run(rx, EventSink { dir: dir.to_path_buf(), seg, tally: Tally::new(), mono: Monotonic::default(), pending: Vec::new() }),
        Err(e) => failed(e),
    }
}

type TimingRow = (u64, u32, i64, Option<i64>, bool);

struct AudioSink {
    dir: PathBuf,
    wav_name: String,
    wav_path: PathBuf,
    wav: Option<hound::WavWriter<BufWriter<File>>>,
    sync_handle: Option<File>,
    timing: SegmentWriter,
    rate_hz: u32,
    channels: u16,
    tally: Tally,
    mono: Monotonic,
    rows: Vec<TimingRow>,
    frames_written: u64,
    inserted: u64,
    expected_next_t: Option<i64>,
    tap: Option<Arc<LiveTap>>,
}

impl AudioSink {
    fn frames_ns(&self, frames: u64) -> i64 {
        (i128::from(frames) * 1_000_000_000 / i128::from(self.rate_hz)) as i64
    }

    fn wav(&mut self) -> Result<&mut hound::WavWriter<BufWriter<File>>, CaptureError> {
        let path = self.wav_path.clone();
        self.wav.as_mut().ok_or(CaptureError::Closed(path))
    }
}

impl Sink<AudioBlock> for AudioSink {
    fn push(&mut self, block: AudioBlock) -> Result<(), CaptureError> {
        if let Some(tap) = &self.tap {
            tap.offer_audio(&block.samples);
        }
        let frames = (block.samples.len() / usize::from(self.channels.max(1))) as u64;
        // Fill lost frames with silence so sample index stays time: the
        // channel's own count, or a jump in capture time (a device xrun).
        let mut gap = block.gap_frames;
        if let Some(expected) = self.expected_next_t {
            let late = block.t_ns - expected;
            let threshold = self.frames_ns(frames).saturating_mul(4).max(100_000_000);
            if gap == 0 && late > threshold {
                gap = (i128::from(late) * i128::from(self.rate_hz) / 1_000_000_000) as u64;
            }
        }
        let path = self.wav_path.clone();
        let channels = u64::from(self.channels);
        let xrun = gap > 0;
        if xrun {
            let wav = self.wav()?;
            for _ in 0..gap * channels {
                wav.write_sample(0i16).map_err(|e| wav_error(&path, e))?;
            }
            self.inserted += gap;
            self.frames_written += gap;
            self.tally.fit.mark_break();
        }
        let wav = self.wav()?;
        for s in &block.samples {
            wav.write_sample(*s).map_err(|e| wav_error(&path, e))?;
        }
        let t_ns = self.mono.fix(block.t_ns);
        self.rows.push((self.frames_written, frames as u32, t_ns, block.device_ts_ns, xrun));
        let device_ns = self.frames_ns(self.frames_written);
        self.tally.fit.push(device_ns, t_ns);
        self.tally.add(frames + gap, t_ns - self.frames_ns(gap), t_ns + self.frames_ns(frames.saturating_sub(1)));
        self.frames_written += frames;
        self.expected_next_t = Some(t_ns + self.frames_ns(frames));
        Ok(())
    }

    fn flush(&mut self, sync: bool) -> Result<(), CaptureError> {
        let path = self.wav_path.clone();
        self.wav()?.flush().map_err(|e| wav_error(&path, e))?;
        if !self.rows.is_empty() {
            let (mut idx, mut fr, mut t, mut dev, mut x) =
                (UInt64Builder::new(), UInt32Builder::new(), Int64Builder::new(), Int64Builder::new(), BooleanBuilder::new());
            for r in self.rows.drain(..) {
                idx.append_value(r.0);
                fr.append_value(r.1);
                t.append_value(r.2);
                dev.append_option(r.3);
                x.append_value(r.4);
            }
            let batch = RecordBatch::try_new(
                tables::audio_timing_schema(),
                vec![Arc::new(idx.finish()), Arc::new(fr.finish()), Arc::new(t.finish()), Arc::new(dev.finish()), Arc::new(x.finish())],
            )
            .map_err(|e| CaptureError::arrow("build", &self.dir, e))?;
            self.timing.write(&batch)?;
        }
        self.timing.flush(sync)?;
        if sync {
            if let Some(f) = &self.sync_handle {
                f.sync_data().map_err(|e| CaptureError::io("sync", &path, e))?;
            }
        }
        Ok(())
    }

    fn finish(mut self, error: Option<CaptureError>) -> WriterOutput {
        let mut error = error;
        if error.is_none() {
            if let Some(wav) = self.wav.take() {
                if let Err(e) = wav.finalize() {
                    error = Some(wav_error(&self.wav_path, e));
                }
            }
        }
        let mut out = finish_segments(vec![self.timing], error, self.tally);
        out.files.insert(0, self.wav_name);
        out
    }
}

/// Writes audio blocks to `mic-<name>.wav` (16-bit PCM) with anchors in
/// `mic-<name>.timing.arrows`, until the channel closes.
pub fn write_audio(
    dir: &Path,
    name: &str,
    rate_hz: u32,
    channels: u16,
    rx: Receiver<AudioBlock>,
    tap: Option<Arc<LiveTap>>,
) -> WriterOutput {
    let wav_name = format!("mic-{name}.wav");
    let wav_path = dir.join(&wav_name);
    let naming = SegmentNaming { stem: format!("mic-{name}.timing"), number_first: false };
    let timing = match SegmentWriter::create(dir, naming, tables::audio_timing_schema(), u64::MAX) {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let spec = hound::WavSpec { channels, sample_rate: rate_hz, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let wav = match open_wav(&wav_path, spec) {
        Ok(w) => w,
        Err(e) => return failed(e),
    };
    // A second handle on the same inode, for fdatasync (hound keeps its file).
    let sync_handle = File::open(&wav_path).ok();
    run(
        rx,
        AudioSink {
            dir: dir.to_path_buf(),
            wav_name,
            wav_path,
            wav: Some(wav),
            sync_handle,
            timing,
            rate_hz,
            channels,
            tally: Tally::new(),
            mono: Monotonic::default(),
            rows: Vec::new(),
            frames_written: 0,
            inserted: 0,
            expected_next_t: None,
            tap,
        },
    )
}

fn open_wav(path: &Path, spec: hound::WavSpec) -> Result<hound::WavWriter<BufWriter<File>>, CaptureError> {
    let file = OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| CaptureError::io("create", path, e))?;
    hound::WavWriter::new(BufWriter::with_capacity(1 << 16, file), spec).map_err(|e| wav_error(path, e))
}

fn wav_error(path: &Path, e: hound::Error) -> CaptureError {
    match e {
        hound::Error::IoError(io) => CaptureError::io("write", path, io),
        other => CaptureError::Io { action: "write", path: path.to_path_buf(), cause: std::io::Error::other(other.to_string()) },
    }
}
