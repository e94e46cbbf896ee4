//! Review: the trainer's screen. One timeline for camera frames, the audio
//! waveform, sensor plots, the transcript and the label tiers; every edit is
//! applied on screen at once and saved by the `annotations` thread through
//! the annotation model (log append + atomic replace).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};
use tacit_datasets::seek::{FrameIndex, SensorIndex, SensorSample};
use tacit_schema::labels::{Annotations, Change, LabelSegment, ReviewStatus, TranscriptEdit};
use tacit_schema::profile::LabelVocabulary;
use tacit_schema::{SessionManifest, StreamKind};
use tacit_session::transcript::Segment;
use tacit_session::{labels, layout, transcript, SessionDir};

use super::decode::{Decoded, Decoder, Source};
use super::i18n::Lang;
use super::{clock, finished, hms, tr, worker, Event};

/// Bins of the whole-session waveform.
const WAVE_BINS: usize = 2000;
/// Rows sampled for each sensor plot.
const PLOT_ROWS: usize = 4000;

/// A sensor stream and its plot data.
struct SensorPlot {
    name: String,
    index: Arc<SensorIndex>,
    overview: SensorSample,
    /// Rows for the zoomed view and the range they cover.
    detail: Option<(i64, i64, SensorSample)>,
}

/// A session opened for review (built on the `review-open` thread).
pub struct Loaded {
    dir: PathBuf,
    manifest: SessionManifest,
    vocab: LabelVocabulary,
    ann: Annotations,
    segments: Vec<Segment>,
    pub(crate) cams: Vec<(String, Arc<FrameIndex>)>,
    sensors: Vec<SensorPlot>,
    wave: Vec<f32>,
    /// Number of the next new label's id (`l-NNNN`): past every id in the
    /// log when opened, then counted up, so a deleted id is never reused.
    next_label: usize,
    /// The microphone's WAV, played from the playhead.
    wav: Option<PathBuf>,
    duration_ns: i64,
    opened_in: Duration,
}

pub(crate) fn open_session(dir: &Path) -> Result<Loaded, String> {
    let started = Instant::now();
    let session = SessionDir::open(dir).map_err(|e| e.to_string())?;
    let profile = session.profile().map_err(|e| e.to_string())?;
    let manifest = session.into_manifest();
    let ann = labels::load(dir).map_err(|e| e.to_string())?;
    let next_label = labels::next_number(dir, &ann);
    let tpath = dir.join(layout::TRANSCRIPT);
    let segments = transcript::read_if_any(&tpath).map_err(|e| e.to_string())?.unwrap_or_default();
    let mut cams = Vec::new();
    let mut sensors = Vec::new();
    let mut wave = Vec::new();
    let mut wav = None;
    for s in &manifest.streams {
        match s.kind {
            StreamKind::Camera => cams.push((s.name.clone(), Arc::new(FrameIndex::open(dir, s).map_err(|e| e.to_string())?))),
            StreamKind::Sensor => {
                // The channels as recorded: the session's station profile.
                let channels: Vec<String> = profile
                    .sensors
                    .iter()
                    .find(|p| p.name == s.name)
                    .map(|p| p.channels.iter().map(|c| c.name.clone()).collect())
                    .unwrap_or_default();
                let index = Arc::new(SensorIndex::open(dir, s, &channels).map_err(|e| e.to_string())?);
                let overview = index.sample(i64::MIN, i64::MAX, PLOT_ROWS).map_err(|e| e.to_string())?;
                sensors.push(SensorPlot { name: s.name.clone(), index, overview, detail: None });
            }
            StreamKind::Audio if wave.is_empty() => {
                if let Some(f) = s.files.iter().find(|f| f.ends_with(".wav")) {
                    wave = waveform(&dir.join(f)).unwrap_or_default();
                    wav = Some(dir.join(f));
                }
            }
            _ => {}
        }
    }
    let duration_ns = manifest.duration_ns.max(1);
    Ok(Loaded {
        dir: dir.to_path_buf(),
        manifest,
        vocab: profile.labels,
        ann,
        segments,
        cams,
        sensors,
        next_label,
        wave,
        wav,
        duration_ns,
        opened_in: started.elapsed(),
    })
}

/// Peak per bin over the whole file, from a short read at each bin (the
/// file is never read whole: a one-hour session opens as fast as a minute).
fn waveform(path: &Path) -> Result<Vec<f32>, String> {
    let mut r = hound::WavReader::open(path).map_err(|e| e.to_string())?;
    let frames = r.duration();
    let ch = u32::from(r.spec().channels.max(1));
    let mut out = Vec::with_capacity(WAVE_BINS);
    if frames == 0 {
        return Ok(out);
    }
    let read = 256u32.min(frames);
    for b in 0..WAVE_BINS as u64 {
        let at = (b * u64::from(frames) / WAVE_BINS as u64) as u32;
        r.seek(at.min(frames - read)).map_err(|e| e.to_string())?;
        let peak = r.samples::<i16>().take((read * ch) as usize).filter_map(Result::ok).map(|s| s.unsigned_abs()).max().unwrap_or(0);
        out.push(f32::from(peak) / 32768.0);
    }
    Ok(out)
}

/// The annotations thread: edits in, save results out.
type Saver = (Sender<(PathBuf, Change)>, Receiver<Result<(), String>>);
/// A sensor's rows for a zoomed range: (sensor, from, to, rows).
type Sampled = (usize, i64, i64, SensorSample);

/// An edit and how to undo it.
#[derive(Clone)]
struct Step {
    change: Change,
    inverse: Change,
}

/// The Review place.
pub struct ReviewView {
    opening: Option<Receiver<Result<Loaded, String>>>,
    data: Option<Loaded>,
    message: Option<String>,
    playing: bool,
    speed: f32,
    playhead_ns: i64,
    tick: Option<Instant>,
    view_start_ns: i64,
    view_len_ns: i64,
    shown: Vec<Option<(i64, egui::TextureHandle)>>,
    asked: Vec<Option<i64>>,
    last_seek: Option<Duration>,
    tier: String,
    mark_in: Option<i64>,
    mark_out: Option<i64>,
    selected: Option<String>,
    note: String,
    editing: Option<(u32, String)>,
    undo: Vec<Step>,
    redo: Vec<Step>,
    saver: Option<Saver>,
    pending: usize,
    reviewing: Option<Receiver<Result<bool, String>>>,
    sampling: Option<Receiver<Result<Sampled, String>>>,
    /// Sound from the playhead while playing (None when paused or without output).
    player: Option<super::audio_out::Player>,
    /// Speed the player was started at; a seek or a speed change restarts it.
    player_speed: f32,
    audio_restart: bool,
    /// Why there is no sound (no output device), shown once.
    audio_error: Option<String>,
    /// Label being resized: id, which edge (start?), the label before the drag.
    drag: Option<(String, bool, LabelSegment)>,
}

impl Default for ReviewView {
    fn default() -> Self {
        Self {
            opening: None,
            data: None,
            message: None,
            playing: false,
            speed: 1.0,
            playhead_ns: 0,
            tick: None,
            view_start_ns: 0,
            view_len_ns: 1,
            shown: Vec::new(),
            asked: Vec::new(),
            last_seek: None,
            tier: "step".into(),
            mark_in: None,
            mark_out: None,
            selected: None,
            note: String::new(),
            editing: None,
            undo: Vec::new(),
            redo: Vec::new(),
            saver: None,
            pending: 0,
            reviewing: None,
            sampling: None,
            player: None,
            player_speed: 1.0,
            audio_restart: false,
            audio_error: None,
            drag: None,
        }
    }
}

fn user() -> String {
    crate::label::author_or_user(None)
}

fn start_saver(ctx: &egui::Context) -> Option<Saver> {
    let (tx, rx) = bounded::<(PathBuf, Change)>(256);
    let (done_tx, done_rx) = bounded::<Result<(), String>>(256);
    let ctx = ctx.clone();
    std::thread::Builder::new()
        .name("annotations".into())
        .spawn(move || {
            for (dir, change) in rx {
                let r = labels::commit(&dir, &[change]).map(|_| ()).map_err(|e| e.to_string());
                if done_tx.send(r).is_err() {
                    return;
                }
                ctx.request_repaint();
            }
        })
        .map_err(|e| tracing::error!("cannot start the annotations thread: {e}"))
        .ok()?;
    Some((tx, done_rx))
}

impl ReviewView {
    /// Opens a session (on a worker thread).
    pub fn open(&mut self, ctx: &egui::Context, dir: &Path) {
        let dir = dir.to_path_buf();
        self.message = None;
        self.opening = Some(worker("review-open", ctx, move || open_session(&dir)));
    }

    /// A session is loaded.
    #[cfg(test)]
    pub fn is_loaded(&self) -> bool {
        self.data.is_some()
    }

    /// Asked → shown time of the last frame after a seek.
    pub fn last_seek_ms(&self) -> Option<f64> {
        self.last_seek.map(|d| d.as_secs_f64() * 1e3)
    }

    /// Session time of the frame `n` frames after the one at `t_ns` (first camera).
    #[cfg(test)]
    pub fn frame_after(&self, t_ns: i64, n: usize) -> Option<i64> {
        let (_, index) = self.data.as_ref()?.cams.first()?;
        index.t_ns(index.at_time(t_ns)? + n)
    }

    /// The status or error line.
    #[cfg(test)]
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// A camera frame is on screen.
    #[cfg(test)]
    pub fn frame_shown(&self) -> bool {
        self.shown.iter().any(Option::is_some)
    }

    /// The playhead, session time.
    #[cfg(test)]
    pub fn playhead_ns(&self) -> i64 {
        self.playhead_ns
    }

    /// The session is marked reviewed.
    #[cfg(test)]
    pub fn reviewed(&self) -> bool {
        self.data.as_ref().is_some_and(|d| d.manifest.reviewed)
    }

    /// Edits not yet on disk.
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Moves the playhead where the user asked (the sound follows).
    fn seek(&mut self, t_ns: i64) {
        self.audio_restart = true;
        self.move_playhead(t_ns);
    }

    fn move_playhead(&mut self, t_ns: i64) {
        let dur = self.data.as_ref().map_or(0, |d| d.duration_ns);
        self.playhead_ns = t_ns.clamp(0, dur);
        if self.playhead_ns < self.view_start_ns || self.playhead_ns > self.view_start_ns + self.view_len_ns {
            self.view_start_ns = (self.playhead_ns - self.view_len_ns / 2).clamp(0, (dur - self.view_len_ns).max(0));
        }
    }

    /// Takes loads and saves, advances playback, asks for frames.
    pub fn logic(&mut self, ctx: &egui::Context, decoder: Option<&Decoder>, events: &mut Vec<Event>) {
        match finished(&mut self.opening) {
            Some(Ok(d)) => {
                self.shown = d.cams.iter().map(|_| None).collect();
                self.asked = d.cams.iter().map(|_| None).collect();
                self.view_start_ns = 0;
                self.view_len_ns = d.duration_ns;
                self.playhead_ns = 0;
                self.playing = false;
                self.undo.clear();
                self.redo.clear();
                self.selected = None;
                self.editing = None;
                self.player = None;
                self.audio_error = None;
                self.message = Some(format!("{} · {:.0} ms", d.manifest.id, d.opened_in.as_secs_f64() * 1e3));
                self.data = Some(d);
            }
            Some(Err(e)) => self.message = Some(e),
            None => {}
        }
        if self.saver.is_none() {
            self.saver = start_saver(ctx);
        }
        if let Some((_, done)) = &self.saver {
            for r in done.try_iter() {
                self.pending = self.pending.saturating_sub(1);
                if let Err(e) = r {
                    self.message = Some(e);
                    // Show what is on disk again.
                    if let Some(d) = &mut self.data {
                        if let Ok(a) = labels::load(&d.dir) {
                            d.ann = a;
                        }
                    }
                }
            }
        }
        match finished(&mut self.reviewing) {
            Some(Ok(flag)) => {
                if let Some(d) = &mut self.data {
                    d.manifest.reviewed = flag;
                }
                events.push(Event::RefreshLibrary);
            }
            Some(Err(e)) => self.message = Some(e),
            None => {}
        }
        if let (Some(Ok((i, a, b, s))), Some(d)) = (finished(&mut self.sampling), &mut self.data) {
            if let Some(p) = d.sensors.get_mut(i) {
                p.detail = Some((a, b, s));
            }
        }
        let Some(d) = &self.data else { return };
        let now = Instant::now();
        if self.playing {
            let dt = self.tick.map_or(0, |t| now.duration_since(t).as_nanos() as i64);
            let next = self.playhead_ns + (dt as f64 * f64::from(self.speed)) as i64;
            if next >= d.duration_ns {
                self.playing = false;
            }
            self.move_playhead(next);
            ctx.request_repaint();
        }
        self.tick = Some(now);
        self.audio_logic();
        let Some(d) = &self.data else { return };
        if let Some(dec) = decoder {
            for (i, (name, index)) in d.cams.iter().enumerate() {
                let Some(f) = index.at_time(self.playhead_ns) else { continue };
                let t = index.t_ns(f).unwrap_or(0);
                if self.asked[i] != Some(t) && dec.ask(&format!("rev:{i}:{name}"), t, Source::Frame(index.clone(), f)) {
                    self.asked[i] = Some(t);
                }
            }
        }
        // Zoomed in: sample the visible range of each sensor in detail.
        if self.sampling.is_none() && self.view_len_ns < d.duration_ns / 4 {
            let (a, b) = (self.view_start_ns, self.view_start_ns + self.view_len_ns);
            if let Some((i, p)) = d.sensors.iter().enumerate().find(|(_, p)| p.detail.as_ref().is_none_or(|(x, y, _)| *x != a || *y != b)) {
                let index = p.index.clone();
                self.sampling = Some(worker("review-sample", ctx, move || {
                    index.sample(a, b, PLOT_ROWS).map(|s| (i, a, b, s)).map_err(|e| e.to_string())
                }));
            }
        }
    }

    /// Starts, restarts or stops the sound to follow play/pause, seeks and speed.
    fn audio_logic(&mut self) {
        let wav = self.data.as_ref().and_then(|d| d.wav.clone());
        let Some(wav) = wav.filter(|_| self.playing) else {
            self.player = None;
            return;
        };
        let restart = self.audio_restart || self.player_speed != self.speed;
        self.audio_restart = false;
        if self.player.is_some() && !restart || self.audio_error.is_some() {
            return;
        }
        self.player = None;
        let device = std::env::var("TACIT_AUDIO_OUT").ok();
        match super::audio_out::play(&wav, self.playhead_ns, self.speed, device.as_deref()) {
            Ok(p) => {
                self.player = Some(p);
                self.player_speed = self.speed;
            }
            Err(e) => {
                tracing::warn!("no sound: {e}");
                self.audio_error = Some(e);
            }
        }
    }

    /// A decoded frame.
    pub fn take_image(&mut self, ctx: &egui::Context, d: Decoded) {
        let Some(i) = d.key.split(':').nth(1).and_then(|s| s.parse::<usize>().ok()) else { return };
        let Ok(image) = d.image else {
            if let Err(e) = d.image {
                self.message = Some(e);
            }
            return;
        };
        if self.asked.get(i).copied().flatten() == Some(d.t_ns) {
            self.last_seek = Some(d.asked.elapsed());
        }
        let Some(slot) = self.shown.get_mut(i) else { return };
        match slot {
            Some((t, tex)) => {
                tex.set(image, egui::TextureOptions::LINEAR);
                *t = d.t_ns;
            }
            None => *slot = Some((d.t_ns, ctx.load_texture(format!("review-{i}"), image, egui::TextureOptions::LINEAR))),
        }
    }

    /// Applies an edit on screen and hands it to the saver.
    fn commit(&mut self, step: Step, record: bool) {
        let Some(d) = &mut self.data else { return };
        if let Err(e) = d.ann.apply(&step.change) {
            self.message = Some(e.to_string());
            return;
        }
        if let Some((tx, _)) = &self.saver {
            if tx.try_send((d.dir.clone(), step.change.clone())).is_ok() {
                self.pending += 1;
            } else {
                self.message = Some("the annotation writer is not keeping up; the edit was not saved".into());
            }
        }
        if record {
            self.undo.push(step);
            self.redo.clear();
        }
    }

    fn add_label(&mut self, value: String) {
        let Some(d) = &self.data else { return };
        let (mut a, mut b) = match (self.mark_in, self.mark_out) {
            (Some(i), Some(o)) => (i, o),
            (Some(i), None) => (i, self.playhead_ns),
            (None, Some(o)) => (self.playhead_ns, o),
            (None, None) => (self.playhead_ns, self.playhead_ns),
        };
        if b < a {
            std::mem::swap(&mut a, &mut b);
        }
        if let Err(e) = d.vocab.check(&self.tier, &value) {
            self.message = Some(e.to_string());
            return;
        }
        let now = crate::label::now();
        // Counted here, not from the log: edits still in flight are not in it yet.
        let id = labels::label_id(d.next_label);
        let label = LabelSegment::draft(id.clone(), &self.tier, &value, (a, b), &user(), &now);
        self.mark_in = None;
        self.mark_out = None;
        self.selected = Some(id.clone());
        if let Some(d) = &mut self.data {
            d.next_label += 1;
        }
        self.commit(Step { change: Change::Add { label }, inverse: Change::Delete { id, author: user(), at_utc: now } }, true);
    }

    fn update_label(&mut self, new: LabelSegment) {
        let Some(old) = self.data.as_ref().and_then(|d| d.ann.labels.iter().find(|l| l.id == new.id).cloned()) else { return };
        if old == new {
            return;
        }
        let mut new = new;
        new.updated_at_utc = crate::label::now();
        self.commit(Step { change: Change::Update { label: new }, inverse: Change::Update { label: old } }, true);
    }

    fn delete_label(&mut self, id: &str) {
        let Some(old) = self.data.as_ref().and_then(|d| d.ann.labels.iter().find(|l| l.id == id).cloned()) else { return };
        self.selected = None;
        self.commit(
            Step {
                change: Change::Delete { id: id.to_string(), author: user(), at_utc: crate::label::now() },
                inverse: Change::Add { label: old },
            },
            true,
        );
    }

    fn edit_segment(&mut self, segment_id: u32, text: String) {
        let Some(d) = &self.data else { return };
        let Some(seg) = d.segments.iter().find(|s| s.segment_id == segment_id) else { return };
        let original = seg.text.trim().to_string();
        let before = d.ann.edited_text(segment_id, seg.start_ns).map_or(original.clone(), str::to_string);
        let text = text.trim().to_string();
        if text == before {
            return;
        }
        let make = |t: String| TranscriptEdit {
            segment_id,
            start_ns: seg.start_ns,
            original: original.clone(),
            text: t,
            author: user(),
            at_utc: crate::label::now(),
        };
        self.commit(Step { change: Change::Edit { edit: make(text) }, inverse: Change::Edit { edit: make(before) } }, true);
    }

    fn undo_step(&mut self) {
        if let Some(s) = self.undo.pop() {
            let back = Step { change: s.inverse.clone(), inverse: s.change.clone() };
            self.commit(back, false);
            self.redo.push(s);
        }
    }

    fn redo_step(&mut self) {
        if let Some(s) = self.redo.pop() {
            self.commit(s.clone(), false);
            self.undo.push(s);
        }
    }

    fn frame_step(&mut self, forward: bool) {
        let Some(d) = &self.data else { return };
        let Some((_, index)) = d.cams.first() else {
            let step = 33_333_333;
            self.seek(self.playhead_ns + if forward { step } else { -step });
            return;
        };
        let Some(i) = index.at_time(self.playhead_ns) else { return };
        let j = if forward { (i + 1).min(index.len() - 1) } else { i.saturating_sub(1) };
        if let Some(t) = index.t_ns(j) {
            self.playing = false;
            self.seek(t);
        }
    }

    fn keys(&mut self, ctx: &egui::Context) {
        // Keys belong to a text field while one is being typed in.
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let (space, left, right, i, o, del, undo, redo, digit) = ctx.input(|inp| {
            let digit = (1..=9).find(|&n| {
                let k = [
                    egui::Key::Num1,
                    egui::Key::Num2,
                    egui::Key::Num3,
                    egui::Key::Num4,
                    egui::Key::Num5,
                    egui::Key::Num6,
                    egui::Key::Num7,
                    egui::Key::Num8,
                    egui::Key::Num9,
                ][n - 1];
                inp.key_pressed(k)
            });
            (
                inp.key_pressed(egui::Key::Space),
                inp.key_pressed(egui::Key::ArrowLeft),
                inp.key_pressed(egui::Key::ArrowRight),
                inp.key_pressed(egui::Key::I),
                inp.key_pressed(egui::Key::O),
                inp.key_pressed(egui::Key::Delete),
                inp.modifiers.command && inp.key_pressed(egui::Key::Z),
                inp.modifiers.command && inp.key_pressed(egui::Key::Y),
                digit,
            )
        });
        if space {
            self.playing = !self.playing;
        }
        if left {
            self.frame_step(false);
        }
        if right {
            self.frame_step(true);
        }
        if i {
            self.mark_in = Some(self.playhead_ns);
        }
        if o {
            self.mark_out = Some(self.playhead_ns);
        }
        if del {
            if let Some(id) = self.selected.clone() {
                self.delete_label(&id);
            }
        }
        if undo {
            self.undo_step();
        }
        if redo {
            self.redo_step();
        }
        if let Some(n) = digit {
            let value = self.data.as_ref().and_then(|d| d.vocab.allowed(&self.tier).ok().flatten().and_then(|l| l.get(n - 1).cloned()));
            if let Some(v) = value {
                self.add_label(v);
            }
        }
    }

    /// Draws the screen.
    pub fn ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
        let t = |en: &'static str| tr(lang, en);
        if self.opening.is_some() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(t("Loading…"));
            });
            return;
        }
        if self.data.is_none() {
            ui.label(t("Open a session from the Library."));
            if let Some(m) = &self.message {
                ui.label(m.as_str());
            }
            return;
        }
        self.keys(ui.ctx());
        self.header_ui(ui, lang);
        ui.separator();
        egui::Panel::right("transcript").resizable(true).default_size(340.0).show(ui, |ui| self.transcript_ui(ui, lang));
        egui::Panel::bottom("timeline").resizable(true).default_size(300.0).show(ui, |ui| {
            self.controls_ui(ui, lang);
            self.timeline_ui(ui);
            self.labels_ui(ui, lang);
        });
        egui::CentralPanel::default_margins().show(ui, |ui| self.frames_ui(ui, lang));
    }

    fn header_ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
        let t = |en: &'static str| tr(lang, en);
        let Some(d) = &self.data else { return };
        let reviewed = d.manifest.reviewed;
        let dir = d.dir.clone();
        ui.horizontal(|ui| {
            ui.strong(&d.manifest.id);
            ui.label(format!("{} · {} · {} · {}", d.manifest.station, d.manifest.operator, d.manifest.task, hms(d.duration_ns)));
            ui.separator();
            if reviewed {
                ui.colored_label(egui::Color32::from_rgb(80, 180, 90), t("Marked reviewed"));
            } else if ui.add_enabled(self.reviewing.is_none(), egui::Button::new(t("Mark reviewed"))).clicked() {
                self.reviewing = Some(worker("review-mark", ui.ctx(), move || {
                    crate::label::set_reviewed(&dir, true).map(|m| m.reviewed).map_err(|e| format!("{e:#}"))
                }));
            }
            if self.pending > 0 {
                ui.spinner();
            } else {
                ui.weak(t("Saved"));
            }
            if let Some(m) = &self.message {
                ui.label(m.as_str());
            }
            if let Some(e) = &self.audio_error {
                ui.weak(t("No audio output on this machine: playback is silent.")).on_hover_text(e.as_str());
            }
        });
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
        let t = |en: &'static str| tr(lang, en);
        let dur = self.data.as_ref().map_or(1, |d| d.duration_ns);
        ui.horizontal(|ui| {
            if ui.button(if self.playing { t("Pause") } else { t("Play") }).clicked() {
                self.playing = !self.playing;
            }
            if ui.button("|<").on_hover_text("Left").clicked() {
                self.frame_step(false);
            }
            if ui.button(">|").on_hover_text("Right").clicked() {
                self.frame_step(true);
            }
            ui.monospace(format!("{} / {}", clock(self.playhead_ns), clock(dur)));
            ui.separator();
            let l = ui.label(t("Speed"));
            let combo = egui::ComboBox::from_id_salt("speed").selected_text(format!("{}×", self.speed)).show_ui(ui, |ui| {
                for s in [0.25f32, 0.5, 1.0, 2.0, 4.0] {
                    ui.selectable_value(&mut self.speed, s, format!("{s}×"));
                }
            });
            combo.response.labelled_by(l.id);
            ui.separator();
            let l = ui.label(t("Zoom"));
            let mut secs = self.view_len_ns as f64 / 1e9;
            let max = (dur as f64 / 1e9).max(2.0);
            if ui.add(egui::Slider::new(&mut secs, 2.0_f64.min(max)..=max).logarithmic(true).suffix(" s")).labelled_by(l.id).changed() {
                self.view_len_ns = (secs * 1e9) as i64;
                self.view_start_ns = (self.playhead_ns - self.view_len_ns / 2).clamp(0, (dur - self.view_len_ns).max(0));
            }
            if let Some(ms) = self.last_seek_ms() {
                ui.weak(format!("seek {ms:.0} ms"));
            }
        });
        ui.weak(t("Keys: Space play/pause, Left/Right frame, I/O mark in/out, 1–9 label, Ctrl+Z/Ctrl+Y undo/redo"));
    }

    fn frames_ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
        let Some(d) = &self.data else { return };
        if d.cams.is_empty() {
            ui.label(tr(lang, "No camera"));
            return;
        }
        let n = d.cams.len() as f32;
        let avail = ui.available_size();
        ui.horizontal(|ui| {
            for (i, (name, _)) in d.cams.iter().enumerate() {
                ui.vertical(|ui| {
                    let shown = self.shown.get(i).and_then(|s| s.as_ref());
                    ui.label(format!("{name} {}", shown.map_or(String::new(), |(t, _)| clock(*t))));
                    if let Some((_, tex)) = shown {
                        let [w, h] = tex.size();
                        let scale = ((avail.x / n - 8.0) / w as f32).min((avail.y - 30.0) / h as f32).max(0.05);
                        ui.image((tex.id(), egui::vec2(w as f32 * scale, h as f32 * scale)));
                    } else {
                        ui.spinner();
                    }
                });
            }
        });
    }

    fn x_of(&self, rect: egui::Rect, t_ns: i64) -> f32 {
        rect.left() + (t_ns - self.view_start_ns) as f32 / self.view_len_ns.max(1) as f32 * rect.width()
    }

    fn t_of(&self, rect: egui::Rect, x: f32) -> i64 {
        self.view_start_ns + (((x - rect.left()) / rect.width().max(1.0)) as f64 * self.view_len_ns as f64) as i64
    }

    fn timeline_ui(&mut self, ui: &mut egui::Ui) {
        let Some(d) = &self.data else { return };
        let dur = d.duration_ns;
        let tiers = d.vocab.tier_names();
        let row = 22.0;
        let wave_h = 40.0;
        let plot_h = 46.0;
        let height = wave_h + plot_h * d.sensors.len() as f32 + row * (1 + tiers.len()) as f32 + 4.0;
        let (rect, resp) = ui.allocate_exact_size(egui::vec2(ui.available_width(), height), egui::Sense::click_and_drag());
        let painter = ui.painter_at(rect);
        let vis = ui.visuals().clone();
        painter.rect_filled(rect, 2.0, vis.extreme_bg_color);
        let (a, b) = (self.view_start_ns, self.view_start_ns + self.view_len_ns);
        let mut y = rect.top();
        // Waveform.
        if !d.wave.is_empty() {
            let mid = y + wave_h / 2.0;
            let bins = d.wave.len() as i64;
            for px in 0..rect.width() as i64 {
                let t = self.t_of(rect, rect.left() + px as f32);
                let k = (t * bins / d.duration_ns.max(1)).clamp(0, bins - 1) as usize;
                let h = d.wave[k] * wave_h / 2.0;
                let x = rect.left() + px as f32;
                painter.line_segment(
                    [egui::pos2(x, mid - h), egui::pos2(x, mid + h)],
                    egui::Stroke::new(1.0, egui::Color32::from_rgb(70, 130, 200)),
                );
            }
        }
        y += wave_h;
        // Sensor plots: the detailed sample when it covers the view, else the overview.
        for p in &d.sensors {
            let sample = match &p.detail {
                Some((x0, x1, s)) if *x0 == a && *x1 == b => s,
                _ => &p.overview,
            };
            let r = egui::Rect::from_min_size(egui::pos2(rect.left(), y), egui::vec2(rect.width(), plot_h));
            painter.text(
                r.left_top() + egui::vec2(2.0, 0.0),
                egui::Align2::LEFT_TOP,
                &p.name,
                egui::FontId::proportional(11.0),
                vis.weak_text_color(),
            );
            for (c, vals) in sample.values.iter().enumerate() {
                let (lo, hi) = vals.iter().filter(|v| v.is_finite()).fold((f32::MAX, f32::MIN), |(l, h), v| (l.min(*v), h.max(*v)));
                let range = (hi - lo).max(1e-6);
                let pts: Vec<egui::Pos2> = sample
                    .t_ns
                    .iter()
                    .zip(vals)
                    .filter(|(t, v)| **t >= a && **t <= b && v.is_finite())
                    .map(|(t, v)| egui::pos2(self.x_of(rect, *t), r.bottom() - 3.0 - (v - lo) / range * (plot_h - 6.0)))
                    .collect();
                let color = egui::Color32::from_rgb(90 + (c as u8).wrapping_mul(70), 190u8.wrapping_sub((c as u8).wrapping_mul(45)), 120);
                painter.add(egui::Shape::line(pts, egui::Stroke::new(1.0, color)));
            }
            y += plot_h;
        }
        // Transcript segments.
        for s in &d.segments {
            if s.end_ns < a || s.start_ns > b {
                continue;
            }
            let r = egui::Rect::from_x_y_ranges(
                self.x_of(rect, s.start_ns)..=self.x_of(rect, s.end_ns).max(self.x_of(rect, s.start_ns) + 2.0),
                y + 2.0..=y + row - 2.0,
            );
            painter.rect_filled(r, 2.0, egui::Color32::from_rgb(60, 90, 120));
        }
        y += row;
        // Label tiers.
        let mut tier_rows = Vec::new();
        for tier in &tiers {
            let selected_tier = *tier == self.tier;
            if selected_tier {
                painter.rect_filled(
                    egui::Rect::from_min_size(egui::pos2(rect.left(), y), egui::vec2(rect.width(), row)),
                    0.0,
                    vis.faint_bg_color,
                );
            }
            painter.text(
                egui::pos2(rect.left() + 2.0, y + 3.0),
                egui::Align2::LEFT_TOP,
                tier,
                egui::FontId::proportional(11.0),
                vis.weak_text_color(),
            );
            for l in d.ann.on_tier(tier) {
                if l.end_ns < a || l.start_ns > b {
                    continue;
                }
                let x0 = self.x_of(rect, l.start_ns);
                let x1 = self.x_of(rect, l.end_ns).max(x0 + 3.0);
                let r = egui::Rect::from_x_y_ranges(x0..=x1, y + 2.0..=y + row - 2.0);
                let sel = self.selected.as_deref() == Some(l.id.as_str());
                let fill = match l.status {
                    ReviewStatus::Rejected => egui::Color32::from_rgb(110, 60, 60),
                    _ if sel => egui::Color32::from_rgb(230, 170, 40),
                    _ => egui::Color32::from_rgb(150, 110, 190),
                };
                painter.rect_filled(r, 2.0, fill);
                painter.text(
                    r.left_center() + egui::vec2(3.0, 0.0),
                    egui::Align2::LEFT_CENTER,
                    &l.value,
                    egui::FontId::proportional(12.0),
                    egui::Color32::WHITE,
                );
                tier_rows.push((l.id.clone(), r));
            }
            y += row;
        }
        // In/out marks and the playhead.
        for (m, c) in [(self.mark_in, egui::Color32::GREEN), (self.mark_out, egui::Color32::RED)] {
            if let Some(t) = m {
                let x = self.x_of(rect, t);
                painter.line_segment([egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())], egui::Stroke::new(1.5, c));
            }
        }
        let x = self.x_of(rect, self.playhead_ns);
        painter.line_segment([egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())], egui::Stroke::new(2.0, egui::Color32::WHITE));

        // Interaction: drag a selected label's edge, click a label to select, else seek.
        let pos = resp.interact_pointer_pos();
        if resp.drag_started() {
            if let (Some(p), Some(sel)) = (pos, &self.selected) {
                let before = d.ann.labels.iter().find(|l| &l.id == sel).cloned();
                if let (Some((_, r)), Some(before)) = (tier_rows.iter().find(|(id, _)| id == sel), before) {
                    if r.y_range().contains(p.y) {
                        if (p.x - r.left()).abs() < 6.0 {
                            self.drag = Some((sel.clone(), true, before));
                        } else if (p.x - r.right()).abs() < 6.0 {
                            self.drag = Some((sel.clone(), false, before));
                        }
                    }
                }
            }
        }
        if let (Some((id, start, before)), Some(p)) = (self.drag.clone(), pos) {
            let t = self.t_of(rect, p.x).clamp(0, dur);
            if let Some(l) = self.data.as_mut().and_then(|d| d.ann.labels.iter_mut().find(|l| l.id == id)) {
                // Shown at once; saved when the drag ends.
                if start {
                    l.start_ns = t.min(l.end_ns);
                } else {
                    l.end_ns = t.max(l.start_ns);
                }
            }
            if resp.drag_stopped() {
                self.drag = None;
                // Put the label back as it was, then save the resize as one undoable edit.
                let now =
                    self.data.as_mut().and_then(|d| d.ann.labels.iter_mut().find(|l| l.id == id)).map(|l| std::mem::replace(l, before));
                if let Some(now) = now {
                    self.update_label(now);
                }
            }
            return;
        }
        if resp.clicked() || resp.dragged() {
            if let Some(p) = pos {
                if resp.clicked() {
                    if let Some((id, _)) = tier_rows.iter().find(|(_, r)| r.contains(p)) {
                        self.selected = Some(id.clone());
                        return;
                    }
                }
                let t = self.t_of(rect, p.x);
                self.seek(t);
            }
        }
        if resp.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            if ui.input(|i| i.modifiers.command) && scroll != 0.0 {
                let factor = if scroll > 0.0 { 0.8 } else { 1.25 };
                self.view_len_ns = ((self.view_len_ns as f64 * factor) as i64).clamp(2_000_000_000.min(dur), dur);
                self.view_start_ns = (self.playhead_ns - self.view_len_ns / 2).clamp(0, (dur - self.view_len_ns).max(0));
            }
        }
    }

    fn labels_ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
        let t = |en: &'static str| tr(lang, en);
        let Some(d) = &self.data else { return };
        let tiers = d.vocab.tier_names();
        let values: Vec<String> = d.vocab.allowed(&self.tier).ok().flatten().map(|l| l.to_vec()).unwrap_or_default();
        let selected = self.selected.as_ref().and_then(|id| d.ann.labels.iter().find(|l| &l.id == id).cloned());
        let selected_values: Vec<String> =
            selected.as_ref().and_then(|l| d.vocab.allowed(&l.tier).ok().flatten().map(|v| v.to_vec())).unwrap_or_default();
        ui.horizontal_wrapped(|ui| {
            let l = ui.label(t("Tier"));
            let combo = egui::ComboBox::from_id_salt("tier").selected_text(self.tier.clone()).show_ui(ui, |ui| {
                for tier in &tiers {
                    ui.selectable_value(&mut self.tier, tier.clone(), tier);
                }
            });
            combo.response.labelled_by(l.id);
            if ui.button(format!("{} (I)", t("Mark in"))).clicked() {
                self.mark_in = Some(self.playhead_ns);
            }
            if ui.button(format!("{} (O)", t("Mark out"))).clicked() {
                self.mark_out = Some(self.playhead_ns);
            }
            for (k, v) in values.iter().enumerate().take(9) {
                if ui.button(format!("{} {v}", k + 1)).clicked() {
                    self.add_label(v.clone());
                }
            }
            ui.separator();
            if ui.add_enabled(!self.undo.is_empty(), egui::Button::new(t("Undo"))).clicked() {
                self.undo_step();
            }
            if ui.add_enabled(!self.redo.is_empty(), egui::Button::new(t("Redo"))).clicked() {
                self.redo_step();
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label(t("Note"));
            ui.add(egui::TextEdit::singleline(&mut self.note).desired_width(260.0).id_salt("note")).labelled_by(l.id);
            if ui.add_enabled(!self.note.trim().is_empty(), egui::Button::new(t("Add note"))).clicked() {
                let text = std::mem::take(&mut self.note);
                let tier = std::mem::replace(&mut self.tier, "note".into());
                let (i, o) = (self.mark_in.take(), self.mark_out.take());
                self.add_label(text.trim().to_string());
                self.tier = tier;
                self.mark_in = i;
                self.mark_out = o;
            }
            if let Some(l) = selected {
                ui.separator();
                let name = ui.label(format!("{} · {} · {}–{}", l.id, l.tier, clock(l.start_ns), clock(l.end_ns)));
                if !selected_values.is_empty() {
                    let mut v = l.value.clone();
                    egui::ComboBox::from_id_salt("label-value")
                        .selected_text(v.clone())
                        .show_ui(ui, |ui| {
                            for x in &selected_values {
                                ui.selectable_value(&mut v, x.clone(), x);
                            }
                        })
                        .response
                        .labelled_by(name.id);
                    if v != l.value {
                        let mut n = l.clone();
                        n.value = v;
                        self.update_label(n);
                    }
                }
                let mut status = l.status;
                egui::ComboBox::from_id_salt("label-status")
                    .selected_text(status.as_str())
                    .show_ui(ui, |ui| {
                        for s in [ReviewStatus::Draft, ReviewStatus::Reviewed, ReviewStatus::Rejected] {
                            ui.selectable_value(&mut status, s, s.as_str());
                        }
                    })
                    .response
                    .labelled_by(name.id);
                if status != l.status {
                    let mut n = l.clone();
                    n.status = status;
                    self.update_label(n);
                }
                if ui.button(t("Delete")).clicked() {
                    self.delete_label(&l.id);
                }
            }
        });
    }

    fn transcript_ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
        let t = |en: &'static str| tr(lang, en);
        ui.heading(t("Transcript"));
        let Some(d) = &self.data else { return };
        let rows: Vec<(u32, i64, String, Option<String>)> = d
            .segments
            .iter()
            .map(|s| {
                let edited = d.ann.edited_text(s.segment_id, s.start_ns).map(str::to_string);
                (s.segment_id, s.start_ns, s.text.trim().to_string(), edited)
            })
            .collect();
        let playhead = self.playhead_ns;
        let current = d.segments.iter().rposition(|s| s.start_ns <= playhead);
        let mut seek = None;
        let mut save = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            for (k, (id, start, machine, edited)) in rows.iter().enumerate() {
                ui.horizontal_wrapped(|ui| {
                    let time = ui.add(egui::Button::new(egui::RichText::new(clock(*start)).monospace()).selected(current == Some(k)));
                    if time.clicked() {
                        seek = Some(*start);
                    }
                    match &mut self.editing {
                        Some((eid, buf)) if eid == id => {
                            ui.add(egui::TextEdit::multiline(buf).desired_rows(2).desired_width(ui.available_width())).labelled_by(time.id);
                            if ui.button(t("Save")).clicked() {
                                save = Some((*id, buf.clone()));
                            }
                            if ui.button(t("Cancel")).clicked() {
                                save = Some((u32::MAX, String::new()));
                            }
                        }
                        _ => {
                            let shown = edited.as_deref().unwrap_or(machine);
                            let r = ui.label(shown);
                            if edited.is_some() {
                                ui.weak(t("edited")).on_hover_text(machine.as_str());
                            }
                            if r.clicked() {
                                seek = Some(*start);
                            }
                            if ui.small_button(t("Edit")).clicked() {
                                self.editing = Some((*id, shown.to_string()));
                            }
                        }
                    }
                });
            }
        });
        if let Some(t) = seek {
            self.seek(t);
        }
        if let Some((id, text)) = save {
            self.editing = None;
            if id != u32::MAX {
                self.edit_segment(id, text);
            }
        }
    }
}
