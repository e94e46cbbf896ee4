//! Sessions made faster than real time, for tests and benchmarks (feature
//! `test-support`): the same folder a recording leaves — manifest, station
//! profile, camera and sensor Arrow IPC streams, annotations, transcript —
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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, BinaryArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow_ipc::writer::StreamWriter;
use serde_json::json;
use tacit_schema::labels::LabelSegment;
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
    labels: Vec<(String, String, f64, f64)>,
    commentary: Vec<(f64, f64, String)>,
    reviewed: bool,
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
            cameras: vec![Camera { name: "front".into(), width: 64, height: 48, fps: 10 }],
            sensors: vec![Sensor {
                name: "arc".into(),
                rate_hz: 100.0,
                channels: vec![
                    ("current".into(), "state".into()),
                    ("voltage".into(), "state".into()),
                    ("wire_feed".into(), "action".into()),
                ],
            }],
            labels: Vec::new(),
            commentary: Vec::new(),
            reviewed: false,
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
        self.cameras.push(Camera { name: name.into(), width, height, fps });
        self
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

    /// Frames at `k / fps`, cycling through four JPEGs of different shades.
    fn write_camera(&self, dir: &Path, c: &Camera) -> Result<serde_json::Value, SessionError> {
        let mut jpegs = Vec::new();
        for shade in [40u8, 90, 150, 210] {
            let rgb: Vec<u8> = (0..c.width * c.height).flat_map(|i| [shade, (i % 251) as u8, 255 - shade]).collect();
            let mut out = Vec::new();
            let (w, h) = (u16::try_from(c.width).unwrap_or(u16::MAX), u16::try_from(c.height).unwrap_or(u16::MAX));
            jpeg_encoder::Encoder::new(&mut out, 85)
                .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
                .map_err(|e| SessionError::invalid(format!("cannot encode a test frame: {e}"), dir))?;
            jpegs.push(out);
        }
        let n = (self.seconds * f64::from(c.fps)).floor().max(0.0) as u64;
        let t_of = |k: u64| (k as f64 * 1e9 / f64::from(c.fps)).round() as i64;
        let file = format!("cam-{}.0.arrows", c.name);
        let schema = tables::camera_schema();
        let mut batches = Vec::new();
        let mut k = 0;
        while k < n {
            let rows = (n - k).min(16);
            let idx: Vec<u64> = (k..k + rows).collect();
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values(idx.iter().map(|&i| t_of(i)))),
                Arc::new(Int64Array::from(vec![None::<i64>; rows as usize])),
                Arc::new(UInt64Array::from(idx.clone())),
                Arc::new(UInt32Array::from(vec![c.width; rows as usize])),
                Arc::new(UInt32Array::from(vec![c.height; rows as usize])),
                Arc::new(StringArray::from(vec!["jpeg"; rows as usize])),
                Arc::new(BinaryArray::from_iter_values(idx.iter().map(|&i| jpegs[(i % 4) as usize].as_slice()))),
            ];
            batches.push(RecordBatch::try_new(schema.clone(), cols).map_err(|e| SessionError::invalid(e.to_string(), dir))?);
            k += rows;
        }
        write_stream(&dir.join(&file), &schema, &batches)?;
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
        let mut batches = Vec::new();
        let mut i = 0;
        while i < n {
            let rows = (n - i).min(250);
            let mut cols: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values((i..i + rows).map(t_of))),
                Arc::new(Int64Array::from(vec![None::<i64>; rows as usize])),
            ];
            for c in 0..names.len() {
                cols.push(Arc::new(Float64Array::from_iter_values((i..i + rows).map(|r| c as f64 + (r as f64 / 10.0).sin()))));
            }
            batches.push(RecordBatch::try_new(schema.clone(), cols).map_err(|e| SessionError::invalid(e.to_string(), dir))?);
            i += rows;
        }
        let file = format!("sensor-{}.arrows", s.name);
        write_stream(&dir.join(&file), &schema, &batches)?;
        Ok(json!({"name": s.name, "kind": "sensor", "files": [file], "rate_hz": s.rate_hz, "count": n,
            "first_t_ns": if n > 0 { Some(0) } else { None }, "last_t_ns": n.checked_sub(1).map(t_of), "drops": 0}))
    }

    fn write_annotations(&self, dir: &Path) -> Result<(), SessionError> {
        if self.labels.is_empty() {
            return Ok(());
        }
        let ns = |s: f64| (s * 1e9).round() as i64;
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
        let ns = |s: f64| (s * 1e9).round() as i64;
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

fn write_stream(path: &Path, schema: &arrow_schema::SchemaRef, batches: &[RecordBatch]) -> Result<(), SessionError> {
    let f = std::fs::File::create(path).map_err(|e| SessionError::io("create", path, e))?;
    let mut w = StreamWriter::try_new(f, schema).map_err(|e| SessionError::invalid(e.to_string(), path))?;
    for b in batches {
        w.write(b).map_err(|e| SessionError::invalid(e.to_string(), path))?;
    }
    w.finish().map_err(|e| SessionError::invalid(e.to_string(), path))
}
