//! Sessions made faster than real time, for tests and benchmarks (feature
//! `test-support`): the same folder a recording leaves — manifest, station
//! profile, camera and sensor Arrow IPC streams, a microphone's WAV and
//! timing, annotations, transcript —
//! written directly, so an exporter or validator test needs no recorder and
//! no waiting.
//!
//! ```
//! let lib = tempfile::tempdir().unwrap();
//! let dir = tacit_session::builder::SessionBuilder::new("s1")
//!     .seconds(1.5)
//!     .label("step", "tack", 0.0, 1.0)
//!     .say(0.2, 0.9, "arc on")
//!     .write(lib.path())
//!     .unwrap();
//! let s = tacit_session::SessionDir::open(&dir).unwrap();
//! assert_eq!(s.manifest().duration_ns, 1_500_000_000);
//! assert_eq!(tacit_session::labels::load(&dir).unwrap().labels.len(), 1);
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow_ipc::writer::StreamWriter;
use serde_json::json;
use tacit_schema::labels::{Change, LabelSegment, TranscriptEdit};
use tacit_schema::{tables, SessionManifest};

use crate::error::SessionError;
use crate::transcript::{Segment, Word};
use crate::{labels, layout, transcript};

/// A camera of the built session.
#[derive(Clone, Debug)]
struct Camera {
    name: String,
    width: u32,
    height: u32,
    fps: u32,
    /// Frames cycle through these; `None`: four made here.
    jpegs: Option<Arc<Vec<Vec<u8>>>>,
}

/// A microphone: name, and its samples (mono 16-bit) at a rate.
#[derive(Clone, Debug)]
struct Microphone {
    name: String,
    rate_hz: u32,
    samples: Arc<Vec<i16>>,
}

/// A sensor: name, rate, channels with their roles (`state`, `action`, `other`).
#[derive(Clone, Debug)]
struct Sensor {
    name: String,
    rate_hz: f64,
    channels: Vec<(String, String)>,
}

/// A session to write.
#[derive(Clone, Debug)]
pub struct SessionBuilder {
    id: String,
    station: String,
    operator: String,
    task: String,
    seconds: f64,
    started_at_utc: String,
    cameras: Vec<Camera>,
    sensors: Vec<Sensor>,
    microphone: Option<Microphone>,
    labels: Vec<(String, String, f64, f64)>,
    commentary: Vec<(f64, f64, String)>,
    /// (commentary index, corrected text).
    corrections: Vec<(usize, String)>,
    /// (time s, label, source) of technician markers.
    markers: Vec<(f64, String, String)>,
    reviewed: bool,
    /// Seconds of data per record batch; `None`: 16 frames, 250 sensor rows.
    batch_s: Option<f64>,
}

impl SessionBuilder {
    /// Session `id` at station `bench`, 2 s, one 64×48 camera `front` at
    /// 10 fps and a sensor `arc` at 100 Hz (`current`, `voltage` state;
    /// `wire_feed` action).
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_string(),
            station: "bench".into(),
            operator: "op-01".into(),
            task: "butt weld".into(),
            seconds: 2.0,
            started_at_utc: "2026-12-01T00:00:00Z".into(),
            cameras: vec![Camera { name: "front".into(), width: 64, height: 48, fps: 10, jpegs: None }],
            sensors: vec![Sensor {
                name: "arc".into(),
                rate_hz: 100.0,
                channels: vec![
                    ("current".into(), "state".into()),
                    ("voltage".into(), "state".into()),
                    ("wire_feed".into(), "action".into()),
                ],
            }],
            microphone: None,
            labels: Vec::new(),
            commentary: Vec::new(),
            corrections: Vec::new(),
            markers: Vec::new(),
            reviewed: false,
            batch_s: None,
        }
    }

    /// The station name.
    #[must_use]
    pub fn station(mut self, name: &str) -> Self {
        self.station = name.into();
        self
    }

    /// The operator pseudonym.
    #[must_use]
    pub fn operator(mut self, name: &str) -> Self {
        self.operator = name.into();
        self
    }

    /// The task.
    #[must_use]
    pub fn task(mut self, task: &str) -> Self {
        self.task = task.into();
        self
    }

    /// When the session started (RFC 3339 UTC; default 2026-12-01T00:00:00Z).
    #[must_use]
    pub fn started_at(mut self, utc: &str) -> Self {
        self.started_at_utc = utc.into();
        self
    }

    /// Recorded length.
    #[must_use]
    pub fn seconds(mut self, s: f64) -> Self {
        self.seconds = s;
        self
    }

    /// Replaces the cameras with one more `name` (call again for more).
    #[must_use]
    pub fn camera(mut self, name: &str, width: u32, height: u32, fps: u32) -> Self {
        self.cameras.retain(|c| c.name != name);
        self.cameras.push(Camera { name: name.into(), width, height, fps, jpegs: None });
        self
    }

    /// Like [`Self::camera`], its frames cycling through `jpegs` (real
    /// camera-sized images, for benchmarks).
    #[must_use]
    pub fn camera_frames(mut self, name: &str, width: u32, height: u32, fps: u32, jpegs: Vec<Vec<u8>>) -> Self {
        self.cameras.retain(|c| c.name != name);
        self.cameras.push(Camera { name: name.into(), width, height, fps, jpegs: Some(Arc::new(jpegs)) });
        self
    }

    /// Writes `seconds` of data per record batch in every stream (the
    /// recorder's flush interval is 0.5 s).
    #[must_use]
    pub fn batch_seconds(mut self, seconds: f64) -> Self {
        self.batch_s = Some(seconds);
        self
    }

    fn batch_rows(&self, rate_hz: f64, default: u64) -> u64 {
        self.batch_s.map_or(default, |s| (s * rate_hz).ceil().max(1.0) as u64)
    }

    /// No cameras (and no sensors with [`Self::no_sensors`]).
    #[must_use]
    pub fn no_cameras(mut self) -> Self {
        self.cameras.clear();
        self
    }

    /// No sensors.
    #[must_use]
    pub fn no_sensors(mut self) -> Self {
        self.sensors.clear();
        self
    }

    /// Adds a sensor with `(channel, role)` pairs.
    #[must_use]
    pub fn sensor(mut self, name: &str, rate_hz: f64, channels: &[(&str, &str)]) -> Self {
        self.sensors.retain(|s| s.name != name);
        self.sensors.push(Sensor {
            name: name.into(),
            rate_hz,
            channels: channels.iter().map(|(c, r)| ((*c).to_string(), (*r).to_string())).collect(),
        });
        self
    }

    /// A mono microphone `name` whose WAV holds `samples` at `rate_hz`
    /// (first sample at session time 0), with a timing row per 0.5 s.
    #[must_use]
    pub fn microphone(mut self, name: &str, rate_hz: u32, samples: Vec<i16>) -> Self {
        self.microphone = Some(Microphone { name: name.into(), rate_hz, samples: Arc::new(samples) });
        self
    }

    /// A mono microphone `name` at 16 kHz with a 440 Hz tone for the
    /// session's length (as set so far: call after [`Self::seconds`]).
    #[must_use]
    pub fn tone(self, name: &str) -> Self {
        let n = (self.seconds * 16_000.0).floor().max(0.0) as usize;
        let tone = (0..n).map(|i| ((std::f64::consts::TAU * 440.0 * i as f64 / 16_000.0).sin() * 8_000.0) as i16).collect();
        self.microphone(name, 16_000, tone)
    }

    /// A label from `from_s` to `to_s` (its value joins the vocabulary).
    #[must_use]
    pub fn label(mut self, tier: &str, value: &str, from_s: f64, to_s: f64) -> Self {
        self.labels.push((tier.into(), value.into(), from_s, to_s));
        self
    }

    /// A transcript segment.
    #[must_use]
    pub fn say(mut self, from_s: f64, to_s: f64, text: &str) -> Self {
        self.commentary.push((from_s, to_s, text.into()));
        self
    }

    /// Marked reviewed.
    #[must_use]
    pub fn reviewed(mut self, yes: bool) -> Self {
        self.reviewed = yes;
        self
    }

    fn duration_ns(&self) -> i64 {
        (self.seconds * 1e9).round() as i64
    }

    /// A trainer's correction of commentary segment `index` (in the order of
    /// [`SessionBuilder::say`]), as Review saves it.
    #[must_use]
    pub fn correct(mut self, index: usize, text: &str) -> Self {
        self.corrections.push((index, text.to_string()));
        self
    }

    /// A technician's marker key at `at_s` (`source`: `keyboard` or `button`),
    /// in the session's events stream.
    #[must_use]
    pub fn marker(mut self, at_s: f64, label: &str, source: &str) -> Self {
        self.markers.push((at_s, label.to_string(), source.to_string()));
        self
    }

    /// Writes the session into `library/sessions/<id>/`; returns its folder.
    pub fn write(&self, library: &Path) -> Result<PathBuf, SessionError> {
        let dir = library.join("sessions").join(&self.id);
        std::fs::create_dir_all(&dir).map_err(|e| SessionError::io("create", &dir, e))?;
        crate::write_atomic(&dir.join(layout::PROFILE), self.profile_toml().as_bytes())?;
        let mut streams = Vec::new();
        for c in &self.cameras {
            streams.push(self.write_camera(&dir, c)?);
        }
        for s in &self.sensors {
            streams.push(self.write_sensor(&dir, s)?);
        }
        if let Some(m) = &self.microphone {
            streams.push(write_microphone(&dir, m)?);
        }
        if !self.markers.is_empty() {
            streams.push(self.write_events(&dir)?);
        }
        let manifest = json!({
            "format_version": tacit_schema::FORMAT_VERSION, "id": self.id, "station": self.station, "operator": self.operator,
            "task": self.task, "consent": {"required": false, "confirmed": false}, "started_at_utc": self.started_at_utc,
            "clock_anchor": {"t_ns": 0, "utc_unix_ns": 0}, "status": "complete", "duration_ns": self.duration_ns(),
            "reviewed": self.reviewed, "transcribed": !self.commentary.is_empty(), "streams": streams, "tacit_version": env!("CARGO_PKG_VERSION"),
        });
        let m: SessionManifest =
            serde_json::from_value(manifest).map_err(|e| SessionError::invalid(format!("built manifest: {e}"), &dir))?;
        crate::replace_manifest(&dir, &m)?;
        self.write_annotations(&dir)?;
        self.write_transcript(&dir)?;
        Ok(dir)
    }

    fn profile_toml(&self) -> String {
        let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let mut t = format!("[station]\nname = {}\n\n", q(&self.station));
        for c in &self.cameras {
            t += &format!(
                "[[camera]]\nname = {}\ndevice = \"synthetic\"\nwidth = {}\nheight = {}\nfps = {}\n\n",
                q(&c.name),
                c.width,
                c.height,
                c.fps
            );
        }
        if let Some(m) = &self.microphone {
            t += &format!("[microphone]\nname = {}\ndevice = \"synthetic\"\nrate_hz = {}\nchannels = 1\n\n", q(&m.name), m.rate_hz);
        }
        for s in &self.sensors {
            let chans: Vec<String> = s.channels.iter().map(|(n, r)| format!("{{ name = {}, role = {} }}", q(n), q(r))).collect();
            t += &format!(
                "[[sensor]]\nname = {}\nkind = \"simulated\"\nrate_hz = {:?}\nchannels = [{}]\n\n",
                q(&s.name),
                s.rate_hz,
                chans.join(", ")
            );
        }
        let values = |tier: &str| -> String {
            let mut v: Vec<String> = self.labels.iter().filter(|l| l.0 == tier).map(|l| q(&l.1)).collect();
            v.dedup();
            v.join(", ")
        };
        t += &format!("[labels]\nsteps = [{}]\ndefects = [{}]\n", values("step"), values("defect"));
        let mut others: Vec<&str> =
            self.labels.iter().map(|l| l.0.as_str()).filter(|t| !["step", "defect", "quality", "note"].contains(t)).collect();
        others.sort_unstable();
        others.dedup();
        if !others.is_empty() {
            t += "\n[labels.tiers]\n";
            for o in others {
                t += &format!("{} = [{}]\n", q(o), values(o));
            }
        }
        t
    }

    /// Frames at `k / fps`, cycling through the camera's JPEGs (by default
    /// four of different shades, [`shades`]).
    fn write_camera(&self, dir: &Path, c: &Camera) -> Result<serde_json::Value, SessionError> {
        let made;
        let jpegs: &[Vec<u8>] = match &c.jpegs {
            Some(given) => given,
            None => {
                made = shades(dir, c)?;
                &made
            }
        };
        if jpegs.is_empty() {
            return Err(SessionError::invalid(format!("camera {} has no frames to cycle through", c.name), dir));
        }
        let cycle = jpegs.len() as u64;
        let per_batch = self.batch_rows(f64::from(c.fps), 16);
        let n = (self.seconds * f64::from(c.fps)).floor().max(0.0) as u64;
        let t_of = |k: u64| (k as f64 * 1e9 / f64::from(c.fps)).round() as i64;
        let file = layout::camera_segment(&c.name, 0);
        let schema = tables::camera_schema();
        let mut out = Stream::create(&dir.join(&file), &schema)?;
        let mut k = 0;
        while k < n {
            let rows = (n - k).min(per_batch);
            let idx: Vec<u64> = (k..k + rows).collect();
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values(idx.iter().map(|&i| t_of(i)))),
                Arc::new(Int64Array::from(vec![None::<i64>; rows as usize])),
                Arc::new(UInt64Array::from(idx.clone())),
                Arc::new(UInt32Array::from(vec![c.width; rows as usize])),
                Arc::new(UInt32Array::from(vec![c.height; rows as usize])),
                Arc::new(StringArray::from(vec!["jpeg"; rows as usize])),
                Arc::new(BinaryArray::from_iter_values(idx.iter().map(|&i| jpegs[(i % cycle) as usize].as_slice()))),
            ];
            out.write(RecordBatch::try_new(schema.clone(), cols).map_err(|e| SessionError::invalid(e.to_string(), dir))?)?;
            k += rows;
        }
        out.finish()?;
        Ok(json!({"name": c.name, "kind": "camera", "files": [file], "rate_hz": f64::from(c.fps), "count": n,
            "first_t_ns": if n > 0 { Some(0) } else { None }, "last_t_ns": n.checked_sub(1).map(t_of), "drops": 0,
            "details": {"width": c.width, "height": c.height}}))
    }

    /// Rows at `rate_hz`; channel `c` of row `i` is `c + sin(i / 10)`.
    fn write_sensor(&self, dir: &Path, s: &Sensor) -> Result<serde_json::Value, SessionError> {
        let names: Vec<String> = s.channels.iter().map(|c| c.0.clone()).collect();
        let schema = tables::sensor_schema(&names);
        let n = (self.seconds * s.rate_hz).floor().max(0.0) as u64;
        let t_of = |i: u64| (i as f64 * 1e9 / s.rate_hz).round() as i64;
        let per_batch = self.batch_rows(s.rate_hz, 250);
        let file = layout::sensor(&s.name);
        let mut out = Stream::create(&dir.join(&file), &schema)?;
        let mut i = 0;
        while i < n {
            let rows = (n - i).min(per_batch);
            let mut cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values((i..i + rows).map(t_of))),
                Arc::new(Int64Array::from(vec![None::<i64>; rows as usize])),
            ];
            for c in 0..names.len() {
                cols.push(Arc::new(Float64Array::from_iter_values((i..i + rows).map(|r| c as f64 + (r as f64 / 10.0).sin()))));
            }
            out.write(RecordBatch::try_new(schema.clone(), cols).map_err(|e| SessionError::invalid(e.to_string(), dir))?)?;
            i += rows;
        }
        out.finish()?;
        Ok(json!({"name": s.name, "kind": "sensor", "files": [file], "rate_hz": s.rate_hz, "count": n,
            "first_t_ns": if n > 0 { Some(0) } else { None }, "last_t_ns": n.checked_sub(1).map(t_of), "drops": 0}))
    }

    /// The events stream: a start event, then the markers.
    fn write_events(&self, dir: &Path) -> Result<serde_json::Value, SessionError> {
        let schema = tables::events_schema();
        let mut rows: Vec<(i64, &str, &str, &str)> = vec![(0, tables::event_kind::START, "", "recorder")];
        rows.extend(self.markers.iter().map(|(t, label, source)| (ns(*t), tables::event_kind::MARKER, label.as_str(), source.as_str())));
        let mut out = Stream::create(&dir.join(layout::EVENTS), &schema)?;
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))),
        ];
        out.write(RecordBatch::try_new(schema.clone(), cols).map_err(|e| SessionError::invalid(e.to_string(), dir))?)?;
        out.finish()?;
        Ok(json!({"name": "events", "kind": "events", "files": [layout::EVENTS], "rate_hz": 0.0, "count": rows.len(),
            "first_t_ns": rows.first().map(|r| r.0), "last_t_ns": rows.iter().map(|r| r.0).max(), "drops": 0}))
    }

    fn write_annotations(&self, dir: &Path) -> Result<(), SessionError> {
        let edits: Vec<Change> = self
            .corrections
            .iter()
            .filter_map(|(i, text)| {
                let (a, _, original) = self.commentary.get(*i)?;
                Some(Change::Edit {
                    edit: TranscriptEdit {
                        segment_id: *i as u32,
                        start_ns: ns(*a),
                        original: original.clone(),
                        text: text.clone(),
                        author: "trainer".into(),
                        at_utc: self.started_at_utc.clone(),
                    },
                })
            })
            .collect();
        if !edits.is_empty() {
            labels::commit(dir, &edits).map_err(|e| SessionError::invalid(e.to_string(), dir))?;
        }
        if self.labels.is_empty() {
            return Ok(());
        }
        let drafts: Vec<LabelSegment> = self
            .labels
            .iter()
            .map(|(tier, value, a, b)| {
                LabelSegment::draft(String::new(), tier, value, (ns(*a), ns(*b)), &self.operator, &self.started_at_utc)
            })
            .collect();
        labels::add(dir, drafts).map_err(|e| SessionError::invalid(e.to_string(), dir))?;
        Ok(())
    }

    fn write_transcript(&self, dir: &Path) -> Result<(), SessionError> {
        if self.commentary.is_empty() {
            return Ok(());
        }
        let segments: Vec<Segment> = self
            .commentary
            .iter()
            .enumerate()
            .map(|(i, (a, b, text))| Segment {
                segment_id: i as u32,
                start_ns: ns(*a),
                end_ns: ns(*b),
                text: text.clone(),
                language: "en".into(),
                words: vec![Word { word: text.clone(), start_ns: ns(*a), end_ns: ns(*b), probability: 0.9 }],
                ..Segment::default()
            })
            .collect();
        transcript::write(&dir.join(layout::TRANSCRIPT), &segments, &[])
    }
}

/// Seconds → nanoseconds of session time.
fn ns(s: f64) -> i64 {
    (s * 1e9).round() as i64
}

/// Four JPEGs of camera `c`'s size, of different shades.
fn shades(dir: &Path, c: &Camera) -> Result<Vec<Vec<u8>>, SessionError> {
    let (w, h) = (u16::try_from(c.width).unwrap_or(u16::MAX), u16::try_from(c.height).unwrap_or(u16::MAX));
    [40u8, 90, 150, 210]
        .into_iter()
        .map(|shade| {
            let rgb: Vec<u8> = (0..c.width * c.height).flat_map(|i| [shade, (i % 251) as u8, 255 - shade]).collect();
            let mut out = Vec::new();
            jpeg_encoder::Encoder::new(&mut out, 85)
                .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
                .map_err(|e| SessionError::invalid(format!("cannot encode a test frame: {e}"), dir))?;
            Ok(out)
        })
        .collect()
}

/// `mic-<name>.wav` and its timing table (a row per 0.5 s block, as the
/// recorder writes them, no device times, no overruns).
fn write_microphone(dir: &Path, m: &Microphone) -> Result<serde_json::Value, SessionError> {
    let wav = layout::wav(&m.name);
    let path = dir.join(&wav);
    let spec = hound::WavSpec { channels: 1, sample_rate: m.rate_hz, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let bad = |e: hound::Error| SessionError::invalid(format!("cannot write a test WAV: {e}"), &path);
    let mut w = hound::WavWriter::create(&path, spec).map_err(bad)?;
    for &v in m.samples.iter() {
        w.write_sample(v).map_err(bad)?;
    }
    w.finalize().map_err(bad)?;
    let timing = layout::audio_timing(&m.name);
    let schema = tables::audio_timing_schema();
    let mut out = Stream::create(&dir.join(&timing), &schema)?;
    let n = m.samples.len() as u64;
    let block = u64::from(m.rate_hz / 2).max(1);
    let t_of = |i: u64| (i128::from(i) * 1_000_000_000 / i128::from(m.rate_hz.max(1))) as i64;
    let starts: Vec<u64> = (0..n).step_by(block as usize).collect();
    if !starts.is_empty() {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(UInt64Array::from(starts.clone())),
            Arc::new(UInt32Array::from_iter_values(starts.iter().map(|&s| (n - s).min(block) as u32))),
            Arc::new(Int64Array::from_iter_values(starts.iter().map(|&s| t_of(s)))),
            Arc::new(Int64Array::from(vec![None::<i64>; starts.len()])),
            Arc::new(arrow_array::BooleanArray::from(vec![false; starts.len()])),
        ];
        out.write(RecordBatch::try_new(schema.clone(), cols).map_err(|e| SessionError::invalid(e.to_string(), dir))?)?;
    }
    out.finish()?;
    Ok(json!({"name": m.name, "kind": "audio", "files": [wav, timing], "rate_hz": f64::from(m.rate_hz), "count": n,
        "first_t_ns": if n > 0 { Some(0) } else { None }, "last_t_ns": n.checked_sub(1).map(t_of), "drops": 0,
        "details": {"device": "synthetic", "channels": 1, "sample_format": "i16"}}))
}

/// An Arrow IPC stream file written one batch at a time (a long session
/// never sits in memory).
struct Stream {
    path: PathBuf,
    w: StreamWriter<std::io::BufWriter<std::fs::File>>,
}

impl Stream {
    fn create(path: &Path, schema: &arrow_schema::SchemaRef) -> Result<Self, SessionError> {
        let f = std::fs::File::create(path).map_err(|e| SessionError::io("create", path, e))?;
        let w = StreamWriter::try_new(std::io::BufWriter::with_capacity(1 << 20, f), schema)
            .map_err(|e| SessionError::invalid(e.to_string(), path))?;
        Ok(Self { path: path.to_path_buf(), w })
    }

    fn write(&mut self, b: RecordBatch) -> Result<(), SessionError> {
        self.w.write(&b).map_err(|e| SessionError::invalid(e.to_string(), &self.path))
    }

    fn finish(mut self) -> Result<(), SessionError> {
        self.w.finish().map_err(|e| SessionError::invalid(e.to_string(), &self.path))?;
        self.w.get_mut().flush().map_err(|e| SessionError::io("write", &self.path, e))
    }
}
