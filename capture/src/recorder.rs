//! The recorder: opens every device of a station profile, starts one capture
//! thread and one writer thread per stream on a shared session clock, and
//! writes the manifest at start and stop.
//!
//! ```text
//! camera ─► [cam-front] ──(bounded)──► [write-cam-front] ─► cam-front.0.arrows
//! mic ────► [mic-lapel] ──(bounded)──► [write-mic-lapel] ─► mic-lapel.wav + .timing.arrows
//! sensor ─► [sensor-arc] ─(bounded)──► [write-sensor-arc] ─► sensor-arc.arrows
//! markers, errors ─────────(bounded)──► [write-events] ────► events.arrows
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{bounded, Sender};
use serde_json::{json, Map, Value};
use tacit_schema::tables::event_kind;
use tacit_schema::time::ms_to_ns;
use tacit_schema::{Consent, SessionManifest, SessionStatus, StationProfile, StreamInfo, StreamKind, FORMAT_VERSION};

use crate::clock::SessionClock;
use crate::error::CaptureError;
use crate::source::{audio, camera, sensor, EventMsg, LiveStats, SourceCtx};
use crate::store;
use crate::writer::{self, WriterOutput};
use tacit_session::{layout, Library, SessionLock, Staging};

/// Choices made when a recording starts.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    /// Operator pseudonym.
    pub operator: String,
    /// Task description.
    pub task: String,
    /// The operator confirmed consent (needed when the profile requires it).
    pub consent_confirmed: bool,
    /// Camera and sensor segments roll past this size.
    pub segment_bytes: u64,
    /// Stop cleanly when free disk space drops below this.
    pub min_free_bytes: u64,
}

impl Default for RecordOptions {
    fn default() -> Self {
        Self {
            operator: "anonymous".into(),
            task: String::new(),
            consent_confirmed: false,
            segment_bytes: 512 << 20,
            min_free_bytes: 64 << 20,
        }
    }
}

/// Live state of one stream, for a status line or a UI.
#[derive(Clone, Debug)]
pub struct StreamStatus {
    /// Stream name.
    pub name: String,
    /// Stream kind.
    pub kind: StreamKind,
    /// Nominal rate (fps, Hz).
    pub rate_hz: f64,
    /// Items captured so far.
    pub captured: u64,
    /// Items dropped so far.
    pub drops: u64,
    /// Device errors so far.
    pub errors: u64,
    /// Malformed lines so far.
    pub rejects: u64,
    /// The device is failing right now.
    pub failing: bool,
}

/// Live state of a recording.
#[derive(Clone, Debug)]
pub struct RecorderStatus {
    /// Session time now.
    pub elapsed_ns: i64,
    /// Each stream.
    pub streams: Vec<StreamStatus>,
    /// Free bytes on the session's disk.
    pub free_bytes: Option<u64>,
    /// Set when recording must stop (a writer failed, the disk is full).
    pub fatal: Option<String>,
}

struct StreamPlan {
    name: String,
    kind: StreamKind,
    rate_hz: f64,
    offset_ns: i64,
    details: Map<String, Value>,
    files: Vec<String>,
    stats: Arc<LiveStats>,
}

/// A recording in progress. Dropping it without `stop` leaves the session
/// `interrupted` (as a crash would); call `stop`.
pub struct Recorder {
    id: String,
    dir: PathBuf,
    clock: SessionClock,
    manifest: SessionManifest,
    plans: Vec<StreamPlan>,
    stop: Arc<AtomicBool>,
    events: Option<Sender<EventMsg>>,
    events_stats: Arc<LiveStats>,
    sources: Vec<JoinHandle<()>>,
    writers: Vec<(usize, JoinHandle<WriterOutput>)>,
    fatal: Arc<Mutex<Option<String>>>,
    _lock: SessionLock,
}

/// A writer thread's body, run once every device is open.
type WriterJob = Box<dyn FnOnce() -> WriterOutput + Send>;

fn spawn<T: Send + 'static>(name: String, f: impl FnOnce() -> T + Send + 'static) -> Result<JoinHandle<T>, CaptureError> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(f)
        .map_err(|e| CaptureError::Device { device: name, message: format!("cannot start thread: {e}") })
}

/// A recording being started: the session folder (locked, with its disk
/// reserve, guarded by a [`Staging`]), the clock, and every stream planned
/// so far with its capture thread and writer job. Dropped before
/// [`Setup::start_writers`] succeeds — any `?` in [`Recorder::start`] — it
/// stops the threads it started and removes the folder: a failed start
/// leaves nothing behind.
struct Setup {
    dir: PathBuf,
    /// The session folder, removed on drop until the start completes.
    folder: Option<Staging>,
    lock: Option<SessionLock>,
    clock: SessionClock,
    stop: Arc<AtomicBool>,
    fatal: Arc<Mutex<Option<String>>>,
    events_tx: Sender<EventMsg>,
    events: Option<(crossbeam_channel::Receiver<EventMsg>, Arc<LiveStats>)>,
    segment_bytes: u64,
    plans: Vec<StreamPlan>,
    sources: Vec<JoinHandle<()>>,
    writers: Vec<(usize, String, WriterJob)>,
}

/// What a successful [`Setup`] hands to the [`Recorder`].
struct Started {
    dir: PathBuf,
    lock: SessionLock,
    clock: SessionClock,
    stop: Arc<AtomicBool>,
    events: Sender<EventMsg>,
    events_stats: Arc<LiveStats>,
    sources: Vec<JoinHandle<()>>,
    writers: Vec<(usize, JoinHandle<WriterOutput>)>,
    fatal: Arc<Mutex<Option<String>>>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let Some(folder) = self.folder.take() else { return }; // started: the recorder's now
        self.stop.store(true, Ordering::Relaxed);
        for s in self.sources.drain(..) {
            let _ = s.join();
        }
        drop(self.lock.take());
        drop(folder); // removes it
    }
}

/// A writer's output, with a failure made fatal: logged, kept for the
/// status, and the recording told to stop.
fn watch(out: WriterOutput, fatal: &Arc<Mutex<Option<String>>>, stop: &Arc<AtomicBool>) -> WriterOutput {
    if let Some(e) = &out.error {
        tracing::error!("{e}");
        if let Ok(mut f) = fatal.lock() {
            f.get_or_insert_with(|| e.to_string());
        }
        stop.store(true, Ordering::Relaxed);
    }
    out
}

impl Setup {
    /// Locks the new session folder `dir` and reserves disk for its end.
    fn new(dir: PathBuf, segment_bytes: u64) -> Result<Self, CaptureError> {
        let folder = Staging::new(dir.clone());
        let lock = SessionLock::acquire(&dir)?; // on failure `folder` drops: removed
        let (events_tx, events_rx) = bounded::<EventMsg>(4096);
        let setup = Self {
            dir,
            folder: Some(folder),
            lock: Some(lock),
            clock: SessionClock::start_now(),
            stop: Arc::new(AtomicBool::new(false)),
            fatal: Arc::new(Mutex::new(None)),
            events_tx,
            events: Some((events_rx, LiveStats::new())),
            segment_bytes,
            plans: Vec::new(),
            sources: Vec::new(),
            writers: Vec::new(),
        };
        store::create_reserve(&setup.dir)?;
        Ok(setup)
    }

    fn ctx(&self, name: &str, stats: &Arc<LiveStats>) -> SourceCtx {
        SourceCtx {
            name: name.to_string(),
            clock: self.clock,
            stop: self.stop.clone(),
            stats: stats.clone(),
            events: self.events_tx.clone(),
        }
    }

    /// Plans a stream and the writer job that will write it.
    fn plan(
        &mut self,
        plan: StreamPlan,
        thread: String,
        job: impl FnOnce(PathBuf, Arc<crate::live::LiveTap>) -> WriterOutput + Send + 'static,
    ) {
        let (d, f, s, tap) = (self.dir.clone(), self.fatal.clone(), self.stop.clone(), plan.stats.tap.clone());
        self.plans.push(plan);
        self.writers.push((self.plans.len() - 1, thread, Box::new(move || watch(job(d, tap), &f, &s))));
    }

    fn add_microphone(&mut self, mic: &tacit_schema::profile::MicrophoneProfile) -> Result<(), CaptureError> {
        let stats = LiveStats::new();
        let (tx, rx) = bounded::<audio::AudioBlock>(512);
        let offset_ns = ms_to_ns(mic.offset_ms);
        let (format, handle) = audio::start(mic, self.ctx(&mic.name, &stats), offset_ns, tx)?;
        self.sources.push(handle);
        let mut details = Map::new();
        details.insert("device".into(), json!(format.device));
        details.insert("device_format".into(), json!(format.device_format));
        details.insert("channels".into(), json!(format.channels));
        details.insert("sample_format".into(), json!("i16"));
        let plan = StreamPlan {
            name: mic.name.clone(),
            kind: StreamKind::Audio,
            rate_hz: f64::from(format.rate_hz),
            offset_ns,
            details,
            files: vec![layout::wav(&mic.name), layout::audio_timing(&mic.name)],
            stats,
        };
        let n = mic.name.clone();
        self.plan(plan, format!("write-mic-{n}"), move |d, tap| {
            writer::write_audio(&d, &n, format.rate_hz, format.channels, rx, Some(tap))
        });
        Ok(())
    }

    /// Opens every camera in parallel and waits for all.
    fn add_cameras(&mut self, cameras: &[tacit_schema::profile::CameraProfile]) -> Result<(), CaptureError> {
        let mut starting = Vec::new();
        for c in cameras {
            let stats = LiveStats::new();
            let cap = (c.fps as usize * 2).clamp(8, 240);
            let (tx, rx) = bounded::<camera::FrameMsg>(cap);
            let (enc_tx, enc_rx) = bounded::<camera::CapturedFrame>(4);
            let offset_ns = ms_to_ns(c.offset_ms);
            let ctx = self.ctx(&c.name, &stats);
            let (ctx2, tx2, q) = (ctx.clone(), tx.clone(), c.jpeg_quality);
            starting.push(camera::start(c, ctx, offset_ns, tx, enc_tx)?);
            self.sources.push(spawn(format!("jpeg-{}", c.name), move || camera::run_encoder(ctx2, offset_ns, q, enc_rx, tx2))?);
            let mut details = Map::new();
            details.insert("device".into(), json!(c.device));
            details.insert("width".into(), json!(c.width));
            details.insert("height".into(), json!(c.height));
            details.insert("format".into(), json!(c.format));
            let plan = StreamPlan {
                name: c.name.clone(),
                kind: StreamKind::Camera,
                rate_hz: f64::from(c.fps),
                offset_ns,
                details,
                files: vec![format!("cam-{}.0.arrows", c.name)],
                stats,
            };
            let (n, seg) = (c.name.clone(), self.segment_bytes);
            self.plan(plan, format!("write-cam-{n}"), move |d, tap| writer::write_camera(&d, &n, seg, rx, Some(tap)));
        }
        let mut failure = None;
        for s in starting {
            match s.wait() {
                Ok(handle) => self.sources.push(handle),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    fn add_sensor(&mut self, sp: &tacit_schema::profile::SensorProfile, source: Box<dyn sensor::SensorSource>) -> Result<(), CaptureError> {
        let stats = LiveStats::new();
        let (tx, rx) = bounded::<sensor::SensorBatch>(1024);
        let offset_ns = ms_to_ns(sp.offset_ms);
        let ctx = self.ctx(&sp.name, &stats);
        self.sources.push(spawn(format!("sensor-{}", sp.name), move || sensor::run(source, ctx, offset_ns, tx))?);
        let mut details = Map::new();
        details.insert("kind".into(), json!(tacit_schema::profile::kind_name(sp.kind)));
        details.insert(
            "channels".into(),
            json!(sp.channels.iter().map(|c| json!({"name": c.name, "unit": c.unit, "role": c.role})).collect::<Vec<_>>()),
        );
        let plan = StreamPlan {
            name: sp.name.clone(),
            kind: StreamKind::Sensor,
            rate_hz: sp.rate_hz,
            offset_ns,
            details,
            files: vec![format!("sensor-{}.arrows", sp.name)],
            stats,
        };
        let channels: Vec<String> = sp.channels.iter().map(|c| c.name.clone()).collect();
        let (n, seg) = (sp.name.clone(), self.segment_bytes);
        self.plan(plan, format!("write-sensor-{n}"), move |d, tap| writer::write_sensor(&d, &n, &channels, seg, rx, Some(tap)));
        Ok(())
    }

    /// Adds the events stream and starts every writer; from here the session
    /// is the recorder's, and its folder stays whatever happens.
    fn start_writers(mut self) -> Result<(Vec<StreamPlan>, Started), CaptureError> {
        let Some((events_rx, events_stats)) = self.events.take() else {
            return Err(CaptureError::Unsupported("the events stream was already started".into()));
        };
        let plan = StreamPlan {
            name: "events".into(),
            kind: StreamKind::Events,
            rate_hz: 0.0,
            offset_ns: 0,
            details: Map::new(),
            files: vec!["events.arrows".into()],
            stats: events_stats.clone(),
        };
        self.plan(plan, "write-events".into(), move |d, _| writer::write_events(&d, events_rx));
        let mut running = Vec::new();
        for (index, name, job) in std::mem::take(&mut self.writers) {
            running.push((index, spawn(name, job)?));
        }
        let Some(lock) = self.lock.take() else {
            return Err(CaptureError::Unsupported("the session lock was already released".into()));
        };
        if let Some(folder) = self.folder.take() {
            folder.keep();
        }
        let started = Started {
            dir: self.dir.clone(),
            lock,
            clock: self.clock,
            stop: self.stop.clone(),
            events: self.events_tx.clone(),
            events_stats,
            sources: std::mem::take(&mut self.sources),
            writers: running,
            fatal: self.fatal.clone(),
        };
        Ok((std::mem::take(&mut self.plans), started))
    }
}

impl Recorder {
    /// Opens the devices, creates the session folder and starts recording.
    /// A start that fails leaves no folder behind and no thread running.
    pub fn start(library: &Library, profile: &StationProfile, opts: RecordOptions) -> Result<Self, CaptureError> {
        profile.validate().map_err(|e| CaptureError::Unsupported(format!("station profile: {e}")))?;
        if profile.consent.required && !opts.consent_confirmed {
            return Err(CaptureError::Unsupported(format!(
                "station {} requires the operator's consent before recording; confirm it (--consent) and start again",
                profile.station.name
            )));
        }
        // Open sensors first: a missing device stops us before any folder exists.
        let mut sensors = Vec::new();
        for s in &profile.sensors {
            sensors.push(sensor::open(s)?);
        }

        let started = chrono::Utc::now();
        let (id, dir) = library.new_session_dir(started, &profile.station.name)?;
        let mut setup = Setup::new(dir, opts.segment_bytes)?;
        // The microphone starts first (it needs the clock), then the cameras
        // (in parallel), then the sensors; writers start once every device
        // is open, so a failed start leaves no files.
        if let Some(mic) = &profile.microphone {
            setup.add_microphone(mic)?;
        }
        setup.add_cameras(&profile.cameras)?;
        for (sp, source) in profile.sensors.iter().zip(sensors) {
            setup.add_sensor(sp, source)?;
        }
        let (plans, started_streams) = setup.start_writers()?;
        let Started { dir, lock, clock, stop, events, events_stats, sources, writers, fatal } = started_streams;

        let manifest = SessionManifest {
            format_version: FORMAT_VERSION,
            id: id.clone(),
            station: profile.station.name.clone(),
            site: profile.station.site.clone(),
            operator: opts.operator.clone(),
            task: opts.task.clone(),
            consent: Consent { required: profile.consent.required, confirmed: opts.consent_confirmed },
            started_at_utc: started.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            clock_anchor: clock.anchor(),
            status: SessionStatus::Recording,
            transcribed: false,
            reviewed: false,
            duration_ns: 0,
            stop_reason: String::new(),
            streams: plans.iter().map(empty_info).collect(),
            transcript: None,
            tacit_version: env!("CARGO_PKG_VERSION").to_string(),
        };
        // Keep the station profile beside the data: later steps need its vocabulary.
        if let Ok(text) = toml::to_string(profile) {
            let _ = tacit_session::write_atomic(&dir.join(layout::PROFILE), text.as_bytes());
        }
        let rec = Self { id, dir, clock, manifest, plans, stop, events: Some(events), events_stats, sources, writers, fatal, _lock: lock };
        tacit_session::replace_manifest(&rec.dir, &rec.manifest)?;
        rec.event(event_kind::START, &format!("operator={} task={}", opts.operator, opts.task), "recorder");
        rec.spawn_disk_watch(opts.min_free_bytes)?;
        Ok(rec)
    }

    fn spawn_disk_watch(&self, min_free: u64) -> Result<(), CaptureError> {
        let (dir, stop, fatal) = (self.dir.clone(), self.stop.clone(), self.fatal.clone());
        let handle = spawn("disk-watch".into(), move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(free) = store::free_bytes(&dir) {
                    if free < min_free {
                        if let Ok(mut f) = fatal.lock() {
                            f.get_or_insert_with(|| {
                                format!(
                                    "disk almost full: {} MiB free, below the {} MiB minimum; recording stopped: {}",
                                    free >> 20,
                                    min_free >> 20,
                                    dir.display()
                                )
                            });
                        }
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        })?;
        drop(handle); // detached: ends with the stop flag
        Ok(())
    }

    /// Session id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Session folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The session clock.
    pub fn clock(&self) -> SessionClock {
        self.clock
    }

    fn event(&self, kind: &str, label: &str, source: &str) {
        if let Some(tx) = &self.events {
            let msg = EventMsg { t_ns: self.clock.now_ns(), kind: kind.into(), label: label.into(), source: source.into() };
            match tx.try_send(msg) {
                Ok(()) => {
                    self.events_stats.captured.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    self.events_stats.drops.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Marks an event now (a technician's key).
    pub fn mark(&self, label: &str, source: &str) {
        self.event(event_kind::MARKER, label, source);
    }

    /// Why recording must stop, if it must (writer failure, disk full).
    pub fn fatal(&self) -> Option<String> {
        self.fatal.lock().ok().and_then(|f| f.clone())
    }

    /// True once a stop was requested (by `stop` or by a failure).
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Live counters.
    pub fn status(&self) -> RecorderStatus {
        RecorderStatus {
            elapsed_ns: self.clock.now_ns(),
            streams: self
                .plans
                .iter()
                .map(|p| StreamStatus {
                    name: p.name.clone(),
                    kind: p.kind,
                    rate_hz: p.rate_hz,
                    captured: p.stats.captured.load(Ordering::Relaxed),
                    drops: p.stats.drops.load(Ordering::Relaxed),
                    errors: p.stats.errors.load(Ordering::Relaxed),
                    rejects: p.stats.rejects.load(Ordering::Relaxed),
                    failing: p.stats.failing.load(Ordering::Relaxed),
                })
                .collect(),
            free_bytes: store::free_bytes(&self.dir),
            fatal: self.fatal(),
        }
    }

    /// The live view of each stream (newest frame, audio level, sensor
    /// history) for a preview; reading it never slows the recording.
    pub fn live(&self) -> Vec<(String, StreamKind, Arc<crate::live::LiveTap>)> {
        self.plans.iter().filter(|p| p.kind != StreamKind::Events).map(|p| (p.name.clone(), p.kind, p.stats.tap.clone())).collect()
    }

    /// Stops every stream, waits for the writers, and writes the final
    /// manifest. `reason` goes into the manifest and the stop event. A writer
    /// failure is returned as the error after everything else was closed.
    pub fn stop(mut self, reason: &str) -> Result<SessionManifest, CaptureError> {
        let fatal = self.fatal();
        let reason = match &fatal {
            Some(f) => format!("error: {f}"),
            None => reason.to_string(),
        };
        self.event(event_kind::STOP, &reason, "recorder");
        let stop_ns = self.clock.now_ns();
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.sources.drain(..) {
            let _ = handle.join();
        }
        self.events = None;
        let mut first_error = None;
        let mut outputs: Vec<(usize, WriterOutput)> = Vec::new();
        for (index, handle) in self.writers.drain(..) {
            match handle.join() {
                Ok(out) => outputs.push((index, out)),
                Err(_) => {
                    first_error.get_or_insert_with(|| {
                        CaptureError::session(format!("writer of stream {} panicked", self.plans[index].name), &self.dir)
                    });
                }
            }
        }
        let mut streams: Vec<StreamInfo> = self.plans.iter().map(empty_info).collect();
        for (index, out) in outputs {
            let plan = &self.plans[index];
            if let Some(e) = out.error {
                first_error.get_or_insert(e);
            }
            let mut info = out.tally.into_info(&plan.name, plan.kind, out.files, plan.rate_hz);
            fill_live(&mut info, plan);
            streams[index] = info;
        }
        self.manifest.streams = streams;
        self.manifest.duration_ns = stop_ns;
        self.manifest.stop_reason = reason;
        if first_error.is_none() {
            self.manifest.status = SessionStatus::Complete;
        }
        // With a failed writer the session stays `recording` on disk and reads
        // as `interrupted`: `tacit recover` then cuts torn tails. The reserve
        // makes room for this last write even on a full disk.
        store::release_reserve(&self.dir);
        tacit_session::replace_manifest(&self.dir, &self.manifest)?;
        match first_error {
            Some(e) => Err(e),
            None => Ok(self.manifest.clone()),
        }
    }
}

/// Undoes a start that failed before recording began: stops what runs and
/// removes the (still empty) session folder.
fn empty_info(p: &StreamPlan) -> StreamInfo {
    let mut info = crate::tally::Tally::new().into_info(&p.name, p.kind, p.files.clone(), p.rate_hz);
    fill_live(&mut info, p);
    info
}

fn fill_live(info: &mut StreamInfo, plan: &StreamPlan) {
    info.drops = plan.stats.drops.load(Ordering::Relaxed);
    info.errors = plan.stats.errors.load(Ordering::Relaxed);
    info.rejects = plan.stats.rejects.load(Ordering::Relaxed);
    info.offset_ns = plan.offset_ns;
    info.details = plan.details.clone();
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Not stopped properly: stop the threads so the process can exit; the
        // manifest stays `recording` and the session reads as interrupted.
        self.stop.store(true, Ordering::Relaxed);
    }
}
