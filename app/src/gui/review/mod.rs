//! Review: the trainer's screen. One timeline for camera frames, the audio
//! waveform, sensor plots, the transcript and the label tiers. The view only
//! draws and turns input into commands (`crate::review::command::Command`);
//! `logic` runs them on the editing model (`crate::review::edit::Edits`:
//! annotations, undo/redo, saves in flight) before the next frame, and the
//! `annotations` thread (`Saver`) writes every edit through
//! `session::labels::commit_drafts`.
//!
//! | file | draws or runs |
//! |---|---|
//! | `crate::review::load` | opening a session (worker thread) |
//! | `crate::review::edit` | the editing model and the saver thread (no egui) |
//! | `crate::review::command` | the edits the screen asks for, as data (no egui) |
//! | `playback` | play/pause, speed, seek, frame steps, sound, camera frames |
//! | `timeline` | waveform, sensor plots, transcript spans, label tiers, drag and zoom |
//! | `labeling` | tier, marks, label buttons, the selected label, notes |
//! | `transcript_view` | the transcript list and its edits |

use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use tacit_schema::labels::{LabelSegment, ReviewStatus};
use tacit_session::labels;
use tacit_session::seek::SensorSample;

use super::decode::{Decoded, Decoder, Source};
use super::i18n::Lang;
use super::{clock, finished, hms, tr, worker, Event};

mod labeling;
mod playback;
mod timeline;
mod transcript_view;

use crate::review::command::Command;
use crate::review::edit::Saver;
use crate::review::load::{open_session, Loaded, PLOT_ROWS};

/// A sensor's rows for a zoomed range: (sensor, from, to, rows).
type Sampled = (usize, i64, i64, SensorSample);

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
    saver: Option<Saver>,
    reviewing: Option<Receiver<Result<bool, String>>>,
    sampling: Option<Receiver<Result<Sampled, String>>>,
    /// The `review-audio` thread (started at the first play).
    audio: Option<crate::audio_out::Controller>,
    /// The audio thread was told to play (and not told to stop since).
    sounding: bool,
    /// Speed the player was started at; a seek or a speed change restarts it.
    player_speed: f32,
    audio_restart: bool,
    /// Why there is no sound (no output device), shown once.
    audio_error: Option<String>,
    /// Label being resized: id, which edge (start?), the label before the drag.
    drag: Option<(String, bool, LabelSegment)>,
    /// Edits asked for on screen, run by the next `logic`; with each, whether
    /// an added label clears the in/out marks.
    commands: Vec<(Command, bool)>,
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
            saver: None,
            reviewing: None,
            sampling: None,
            audio: None,
            sounding: false,
            player_speed: 1.0,
            audio_restart: false,
            audio_error: None,
            drag: None,
            commands: Vec::new(),
        }
    }
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

    /// The id of the session shown, while no other is being opened.
    #[cfg(test)]
    pub fn settled_id(&self) -> Option<Option<&str>> {
        self.opening.is_none().then(|| self.data.as_ref().map(|d| d.manifest.id.as_str()))
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

    /// Edits not yet on disk (asked for, queued or being written).
    pub fn pending(&self) -> usize {
        self.commands.len() + self.data.as_ref().map_or(0, |d| d.edits.pending())
    }

    /// Takes loads and saves, advances playback, asks for frames.
    pub fn logic(&mut self, ctx: &egui::Context, decoder: Option<&Decoder>, events: &mut Vec<Event>) {
        match finished(&mut self.opening) {
            Some(Ok(d)) => {
                if let (Some(saver), Some(old)) = (&self.saver, &mut self.data) {
                    saver.flush(&old.dir, &mut old.edits);
                }
                self.shown = d.cams.iter().map(|_| None).collect();
                self.asked = d.cams.iter().map(|_| None).collect();
                self.view_start_ns = 0;
                self.view_len_ns = d.duration_ns;
                self.playhead_ns = 0;
                self.playing = false;
                self.selected = None;
                self.editing = None;
                if let Some(a) = &self.audio {
                    a.stop();
                }
                self.sounding = false;
                self.audio_error = None;
                self.message = Some(format!("{} · {:.0} ms", d.manifest.id, d.opened_in.as_secs_f64() * 1e3));
                self.data = Some(d);
            }
            Some(Err(e)) => self.message = Some(e),
            None => {}
        }
        if self.saver.is_none() {
            let ctx = ctx.clone();
            self.saver =
                Saver::start(move || ctx.request_repaint()).map_err(|e| tracing::error!("cannot start the annotations thread: {e}")).ok();
        }
        self.run_commands();
        if let Some(saver) = &self.saver {
            if let Some(e) = saver.receive(self.data.as_mut().map(|d| (d.dir.as_path(), &mut d.edits))) {
                self.message = Some(e);
            }
            if let Some(d) = &mut self.data {
                saver.send(&d.dir, &mut d.edits);
                // A new label selected under its draft id keeps its selection once saved.
                if let Some(sel) = &mut self.selected {
                    *sel = d.edits.current_id(sel).to_string();
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

    /// Runs the commands the screen sent since the last frame, in order;
    /// an error goes to the status line, a new label is selected.
    fn run_commands(&mut self) {
        let commands = std::mem::take(&mut self.commands);
        let Some(d) = self.data.as_mut() else { return };
        let author = labels::author(None);
        for (c, clears_marks) in commands {
            match d.edits.run(c, &author, &labels::now_utc()) {
                Ok(Some(id)) => {
                    if clears_marks {
                        self.mark_in = None;
                        self.mark_out = None;
                    }
                    self.selected = Some(id);
                }
                Ok(None) => {}
                Err(e) => self.message = Some(e),
            }
        }
    }

    /// Asks for an edit; the next `logic` runs it.
    fn command(&mut self, c: Command) {
        self.commands.push((c, false));
    }

    /// Adds a label on the current tier between the marks (or at the
    /// playhead); the marks are cleared once it is added.
    fn add_label(&mut self, value: String) {
        let span = match (self.mark_in, self.mark_out) {
            (Some(i), Some(o)) => (i, o),
            (Some(i), None) => (i, self.playhead_ns),
            (None, Some(o)) => (self.playhead_ns, o),
            (None, None) => (self.playhead_ns, self.playhead_ns),
        };
        let clears_marks = self.mark_in.is_some() || self.mark_out.is_some();
        self.commands.push((Command::AddLabel { tier: self.tier.clone(), value, span }, clears_marks));
    }

    fn update_label(&mut self, new: LabelSegment) {
        self.command(Command::UpdateLabel(new));
    }

    fn delete_label(&mut self, id: &str) {
        self.selected = None;
        self.command(Command::DeleteLabel(id.to_string()));
    }

    fn edit_segment(&mut self, segment_id: u32, text: &str) {
        let Some(segment) = self.data.as_ref().and_then(|d| d.segments.iter().find(|s| s.segment_id == segment_id).cloned()) else {
            return;
        };
        self.command(Command::EditSegment { segment, text: text.to_string() });
    }

    fn undo(&mut self) {
        self.command(Command::Undo);
    }

    fn redo(&mut self) {
        self.command(Command::Redo);
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
            self.undo();
        }
        if redo {
            self.redo();
        }
        if let Some(n) = digit {
            let value =
                self.data.as_ref().and_then(|d| d.edits.vocab().allowed(&self.tier).ok().flatten().and_then(|l| l.get(n - 1).cloned()));
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
        if !self.commands.is_empty() {
            // Run by the next frame's logic.
            ui.ctx().request_repaint();
        }
    }

    fn header_ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
        let t = |en: &'static str| tr(lang, en);
        let Some(d) = &self.data else { return };
        let reviewed = d.manifest.reviewed;
        let dir = d.dir.clone();
        let pending = self.pending();
        ui.horizontal(|ui| {
            ui.strong(&d.manifest.id);
            ui.label(format!("{} · {} · {} · {}", d.manifest.station, d.manifest.operator, d.manifest.task, hms(d.duration_ns)));
            ui.separator();
            if reviewed {
                ui.colored_label(egui::Color32::from_rgb(80, 180, 90), t("Marked reviewed"));
            } else if ui.add_enabled(self.reviewing.is_none(), egui::Button::new(t("Mark reviewed"))).clicked() {
                self.reviewing = Some(worker("review-mark", ui.ctx(), move || {
                    tacit_session::set_reviewed(&dir, true).map(|m| m.reviewed).map_err(|e| e.to_string())
                }));
            }
            if pending > 0 {
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
}
