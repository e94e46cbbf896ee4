//! Record: the technician's screen. The recording runs on the capture and
//! writer threads; this screen only reads counters and the live taps, so a
//! slow or hidden window never costs a frame.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use tacit_capture::{LiveTap, RecordOptions, Recorder, RecorderStatus};
use tacit_schema::{StationProfile, StoreProfile, StreamKind};

use super::decode::{Decoded, Decoder, Source};
use super::export_view::SharedProgress;
use super::i18n::Lang;
use super::settings::Settings;
use super::{finished, hms, tr, worker, Event};

/// A camera's preview picture.
struct Preview {
    texture: Option<egui::TextureHandle>,
    shown_t_ns: i64,
}

/// The Record place.
#[derive(Default)]
pub struct RecordView {
    profiles: Profiles,
    profiles_for: Option<PathBuf>,
    profiles_loading: Option<Receiver<Result<Profiles, String>>>,
    consent: bool,
    starting: Option<Receiver<Result<Recorder, String>>>,
    stopping: Option<Receiver<Result<String, String>>>,
    recorder: Option<Recorder>,
    live: Vec<(String, StreamKind, Arc<LiveTap>)>,
    status: Option<RecorderStatus>,
    status_at: Option<Instant>,
    free_at_start: Option<(u64, i64)>,
    previews: BTreeMap<String, Preview>,
    flash: Option<(String, Instant)>,
    message: Option<String>,
    /// The site store of the recording under way (its profile's `[store]`).
    recording_store: Option<StoreProfile>,
    push: BackgroundPush,
}

/// Finished sessions on their way to the site store, one push at a time,
/// after a recording and never during one: a recording that starts pauses
/// the push at its next part (what was sent is kept) and it goes on once
/// the recording stops.
#[derive(Default)]
struct BackgroundPush {
    /// Sessions waiting, with their store.
    pending: Vec<Queued>,
    /// The push under way: its result, its progress (whose cancel pauses it), its sessions.
    running: Option<(PushResult, Arc<SharedProgress>, Vec<Queued>)>,
    /// The last outcome, for the screen.
    last: Option<String>,
}

/// A session folder and the store it goes to.
type Queued = (PathBuf, StoreProfile);

/// Where a background push's outcome arrives.
type PushResult = Receiver<Result<PushDone, String>>;

/// What one background push did.
struct PushDone {
    line: String,
    /// Sessions paused (queued again).
    paused: Vec<PathBuf>,
}

impl BackgroundPush {
    /// Pauses a running push (a recording is starting).
    fn pause(&self) {
        if let Some((_, progress, _)) = &self.running {
            progress.cancel();
        }
    }

    /// Takes a finished push and, when no recording runs, starts the next.
    fn logic(&mut self, ctx: &egui::Context, recording: bool) {
        let done = self.running.as_ref().and_then(|(rx, _, _)| rx.try_recv().ok());
        if let Some(done) = done {
            if let Some((_, _, sent)) = self.running.take() {
                match done {
                    Ok(d) => {
                        for (dir, store) in sent {
                            if d.paused.contains(&dir) {
                                self.pending.push((dir, store));
                            }
                        }
                        self.last = Some(d.line);
                    }
                    Err(e) => self.last = Some(e),
                }
            }
        }
        if recording || self.running.is_some() || self.pending.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.pending);
        let progress = Arc::new(SharedProgress::default());
        let (sw, work) = (progress.clone(), batch.clone());
        let rx = worker("store-push", ctx, move || Ok(push_now(&work, &sw)));
        self.running = Some((rx, progress, batch));
    }
}

/// Pushes `work` (grouped by store) and sums it up in one line.
fn push_now(work: &[Queued], progress: &SharedProgress) -> PushDone {
    use tacit_session::store::{push, PushOptions, Store};
    let mut lines = Vec::new();
    let mut paused = Vec::new();
    let mut stores: BTreeMap<String, (StoreProfile, Vec<PathBuf>)> = BTreeMap::new();
    for (dir, store) in work {
        stores.entry(format!("{}|{:?}", store.url, store.endpoint)).or_insert_with(|| (store.clone(), Vec::new())).1.push(dir.clone());
    }
    for (store, dirs) in stores.into_values() {
        let client = match Store::connect_profile(&store) {
            Ok(c) => c,
            Err(e) => {
                lines.push(format!("not pushed to {}: {e}; the sessions stay on this PC", store.url));
                continue;
            }
        };
        let report = push(&client, &dirs, &PushOptions { prune: store.prune, ..PushOptions::default() }, progress);
        for (s, dir) in report.sessions.iter().zip(&dirs) {
            match s.outcome {
                "pushed" | "up-to-date" => lines.push(format!("{}: in {}", s.id, report.store)),
                "paused" => {
                    paused.push(dir.clone());
                    lines.push(format!("{}: push paused for the recording", s.id));
                }
                _ => lines.push(format!("{}: not pushed ({}); it stays on this PC", s.id, s.reason.as_deref().unwrap_or(s.outcome))),
            }
        }
    }
    PushDone { line: lines.join("; "), paused }
}

/// The station profiles to choose from: (file name, profile or why not).
type Profiles = Vec<(String, Result<StationProfile, String>)>;

fn load_profiles(library: &std::path::Path) -> Profiles {
    let mut out = vec![("demo (built in)".to_string(), StationProfile::from_toml(crate::DEMO_PROFILE).map_err(|e| e.to_string()))];
    let dir = tacit_session::Library::at(library).stations_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect())
        .unwrap_or_default();
    files.sort();
    for f in files {
        let name = f.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let p = std::fs::read_to_string(&f)
            .map_err(|e| format!("cannot read {}: {e}", f.display()))
            .and_then(|t| StationProfile::from_toml(&t).map_err(|e| format!("{}: {e}", f.display())));
        out.push((name, p));
    }
    out
}

impl RecordView {
    /// A recording is running.
    #[cfg(test)]
    pub fn is_recording(&self) -> bool {
        self.recorder.is_some()
    }

    /// The station profiles have been read.
    #[cfg(test)]
    pub fn profiles_ready(&self) -> bool {
        !self.profiles.is_empty()
    }

    /// Starting or stopping is under way.
    #[cfg(test)]
    pub fn is_busy(&self) -> bool {
        self.starting.is_some() || self.stopping.is_some()
    }

    /// The background push's last outcome, and whether one is running or waiting.
    #[cfg(test)]
    pub fn push_state(&self) -> (Option<&str>, bool) {
        (self.push.last.as_deref(), self.push.running.is_some() || !self.push.pending.is_empty())
    }

    /// A preview frame of some camera is on screen.
    #[cfg(test)]
    pub fn has_preview(&self) -> bool {
        self.previews.values().any(|p| p.texture.is_some())
    }

    /// Counters have been read at least once.
    #[cfg(test)]
    pub fn has_status(&self) -> bool {
        self.status.is_some()
    }

    /// Stops a running recording (window closing): the session ends `complete`.
    pub fn stop_on_exit(&mut self) {
        if let Some(r) = self.recorder.take() {
            if let Err(e) = r.stop("app closed") {
                tracing::error!("stopping the recording: {e}");
            }
        }
    }

    /// Takes started/stopped recorders, refreshes counters, asks for previews.
    pub fn logic(&mut self, ctx: &egui::Context, s: &Settings, decoder: Option<&Decoder>, events: &mut Vec<Event>) {
        // The library's station files are read on a worker, like all disk work.
        if self.profiles_for.as_deref() != Some(s.library.as_path()) && self.profiles_loading.is_none() {
            let library = s.library.clone();
            self.profiles_for = Some(library.clone());
            self.profiles_loading = Some(worker("station-profiles", ctx, move || Ok(load_profiles(&library))));
        }
        if let Some(Ok(p)) = finished(&mut self.profiles_loading) {
            self.profiles = p;
        }
        match finished(&mut self.starting) {
            Some(Ok(rec)) => {
                self.live = rec.live();
                self.message = None;
                self.previews.clear();
                self.free_at_start = None;
                self.recorder = Some(rec);
                events.push(Event::RefreshLibrary);
            }
            Some(Err(e)) => self.message = Some(e),
            None => {}
        }
        if let Some(Ok(m) | Err(m)) = finished(&mut self.stopping) {
            self.message = Some(m);
            events.push(Event::RefreshLibrary);
        }
        let busy = self.recorder.is_some() || self.starting.is_some() || self.stopping.is_some();
        self.push.logic(ctx, busy);
        if self.push.running.is_some() {
            ctx.request_repaint_after(Duration::from_millis(500));
        }
        let Some(rec) = &self.recorder else { return };
        // Counters twice a second (free space is a syscall).
        if self.status_at.is_none_or(|t| t.elapsed() >= Duration::from_millis(500)) {
            let st = rec.status();
            if self.free_at_start.is_none() {
                self.free_at_start = st.free_bytes.map(|f| (f, st.elapsed_ns));
            }
            self.status = Some(st);
            self.status_at = Some(Instant::now());
        }
        if let Some(dec) = decoder {
            for (name, kind, tap) in &self.live {
                if *kind != StreamKind::Camera {
                    continue;
                }
                let Some(f) = tap.frame() else { continue };
                let shown = self.previews.get(name).map_or(i64::MIN, |p| p.shown_t_ns);
                if f.t_ns > shown {
                    dec.ask(&format!("rec:{name}"), f.t_ns, Source::Bytes(f.jpeg.clone()));
                    self.previews.entry(name.clone()).or_insert(Preview { texture: None, shown_t_ns: i64::MIN }).shown_t_ns = f.t_ns;
                }
            }
        }
        // A recorder that stopped itself (disk full, device lost) is stopped for good.
        if rec.stopping() && self.stopping.is_none() {
            self.stop(ctx, "stopped by the recorder");
        }
        ctx.request_repaint_after(Duration::from_millis(100));
    }

    /// A decoded preview frame.
    pub fn take_image(&mut self, ctx: &egui::Context, d: Decoded) {
        let name = d.key.trim_start_matches("rec:").to_string();
        let Ok(image) = d.image else { return };
        let p = self.previews.entry(name.clone()).or_insert(Preview { texture: None, shown_t_ns: d.t_ns });
        match &mut p.texture {
            Some(t) => t.set(image, egui::TextureOptions::LINEAR),
            None => p.texture = Some(ctx.load_texture(format!("rec-{name}"), image, egui::TextureOptions::LINEAR)),
        }
    }

    fn start(&mut self, ctx: &egui::Context, s: &Settings) {
        let Some((_, Ok(profile))) = self.profiles.iter().find(|(n, _)| *n == s.station).or(self.profiles.first()) else { return };
        let profile = profile.clone();
        self.recording_store = profile.store.clone();
        self.push.pause();
        let library = s.library.clone();
        let opts = RecordOptions {
            operator: s.operator.trim().to_string(),
            task: s.task.trim().to_string(),
            consent_confirmed: self.consent,
            ..Default::default()
        };
        self.message = None;
        self.starting = Some(worker("record-start", ctx, move || {
            let lib = tacit_session::Library::create(&library).map_err(|e| e.to_string())?;
            Recorder::start(&lib, &profile, opts).map_err(|e| e.to_string())
        }));
    }

    fn stop(&mut self, ctx: &egui::Context, reason: &str) {
        let Some(rec) = self.recorder.take() else { return };
        self.live.clear();
        if let Some(store) = self.recording_store.take() {
            // Queued now, sent once the session is stopped (see `logic`).
            self.push.pending.push((rec.dir().to_path_buf(), store));
        }
        let reason = reason.to_string();
        self.stopping = Some(worker("record-stop", ctx, move || {
            let id = rec.id().to_string();
            rec.stop(&reason).map(|m| format!("{id}: {} ({})", m.status.name(), hms(m.duration_ns))).map_err(|e| format!("{id}: {e}"))
        }));
    }

    /// Draws the screen.
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &mut Settings, _events: &mut Vec<Event>) {
        let lang = s.lang;
        let t = |en: &'static str| tr(lang, en);
        let ctx = ui.ctx().clone();
        let busy = self.starting.is_some() || self.stopping.is_some();
        let recording = self.recorder.is_some();
        let typing = ctx.egui_wants_keyboard_input();
        // Foot pedal: mapped to Space or F9 (F9 works even while typing).
        let pedal = ctx.input(|i| i.key_pressed(egui::Key::F9) || (!typing && i.key_pressed(egui::Key::Space)));

        if s.station.is_empty() {
            if let Some((n, _)) = self.profiles.first() {
                s.station = n.clone();
            }
        }
        let profile = self.profiles.iter().find(|(n, _)| *n == s.station).and_then(|(_, p)| p.as_ref().ok()).cloned();
        self.form_ui(ui, s, lang, profile.as_ref());
        ui.add_space(8.0);
        let can_start = profile.as_ref().is_some_and(|p| !p.consent.required || self.consent);
        let (label, color) = if busy {
            (if self.stopping.is_some() { t("Stopping…") } else { t("Starting…") }, egui::Color32::GRAY)
        } else if recording {
            (t("Stop recording"), egui::Color32::from_rgb(200, 40, 40))
        } else {
            (t("Start recording"), egui::Color32::from_rgb(40, 140, 60))
        };
        let button = egui::Button::new(egui::RichText::new(format!("{label}  (Space / F9)")).size(26.0).color(egui::Color32::WHITE))
            .fill(color)
            .min_size(egui::vec2(360.0, 64.0));
        let clicked = ui.add_enabled(!busy && (recording || can_start), button).clicked();
        if (clicked || (pedal && !busy && (recording || can_start))) && !busy {
            if recording {
                self.stop(&ctx, "operator stopped");
            } else {
                self.start(&ctx, s);
            }
        }
        if let Some(m) = &self.message {
            ui.label(m.as_str());
        }
        if self.push.running.is_some() {
            ui.label(t("Sending finished sessions to the site store…"));
        } else if let Some(last) = &self.push.last {
            ui.label(format!("{}: {last}", t("Site store")));
        }
        let Some(profile) = profile else { return };
        if !recording {
            return;
        }
        self.recording_ui(ui, lang, &profile, typing);
        self.live_ui(ui, lang);
        self.health_ui(ui, lang);
    }

    /// Station, operator, task and consent (locked while recording).
    fn form_ui(&mut self, ui: &mut egui::Ui, s: &mut Settings, lang: Lang, profile: Option<&StationProfile>) {
        let t = |en: &'static str| tr(lang, en);
        let recording = self.recorder.is_some();
        let busy = self.starting.is_some() || self.stopping.is_some();
        ui.add_enabled_ui(!recording && !busy, |ui| {
            egui::Grid::new("record-form").num_columns(2).spacing([12.0, 8.0]).show(ui, |ui| {
                let l = ui.label(t("Station profile"));
                let combo = egui::ComboBox::from_id_salt("station").selected_text(s.station.clone()).show_ui(ui, |ui| {
                    for (name, p) in &self.profiles {
                        let label = match p {
                            Ok(_) => name.clone(),
                            Err(e) => format!("{name} ✗ {e}"),
                        };
                        ui.add_enabled_ui(p.is_ok(), |ui| ui.selectable_value(&mut s.station, name.clone(), label));
                    }
                });
                combo.response.labelled_by(l.id);
                ui.end_row();
                let l = ui.label(t("Operator (pseudonym)"));
                ui.text_edit_singleline(&mut s.operator).labelled_by(l.id);
                ui.end_row();
                let l = ui.label(t("Task"));
                ui.text_edit_singleline(&mut s.task).labelled_by(l.id);
                ui.end_row();
                if profile.is_some_and(|p| p.consent.required) {
                    ui.label("");
                    ui.checkbox(&mut self.consent, t("The operator agrees to be recorded"));
                    ui.end_row();
                }
            });
        });
    }

    /// While recording: marker keys and buttons, elapsed time and disk left.
    fn recording_ui(&mut self, ui: &mut egui::Ui, lang: Lang, profile: &StationProfile, typing: bool) {
        let t = |en: &'static str| tr(lang, en);
        let ctx = ui.ctx().clone();
        // Markers: number keys from the profile.
        if !typing {
            for (key, label) in &profile.markers {
                let Some(k) = key.chars().next().and_then(|c| c.to_digit(10)).and_then(digit_key) else { continue };
                if ctx.input(|i| i.key_pressed(k)) {
                    if let Some(r) = &self.recorder {
                        r.mark(label, "keyboard");
                    }
                    self.flash = Some((key.clone(), Instant::now()));
                }
            }
        }
        ui.separator();
        if let Some(st) = &self.status {
            ui.horizontal(|ui| {
                ui.label(egui::RichText::new(format!("{} {}", t("Elapsed"), hms(st.elapsed_ns))).size(22.0).monospace());
                ui.separator();
                let left = match (st.free_bytes, self.free_at_start) {
                    (Some(free), Some((f0, t0))) if f0 > free && st.elapsed_ns > t0 => {
                        let rate = (f0 - free) as f64 / ((st.elapsed_ns - t0) as f64 / 1e9);
                        format!("{} ({} MiB)", hms((free as f64 / rate * 1e9) as i64), free >> 20)
                    }
                    (Some(free), _) => format!("{} MiB", free >> 20),
                    _ => "?".into(),
                };
                ui.label(format!("{} {left}", t("Disk left")));
                if let Some(f) = &st.fatal {
                    ui.colored_label(egui::Color32::RED, f.as_str());
                }
            });
        }
        ui.horizontal_wrapped(|ui| {
            ui.label(t("Markers"));
            for (key, label) in &profile.markers {
                let hot = self.flash.as_ref().is_some_and(|(k, at)| k == key && at.elapsed() < Duration::from_millis(600));
                let b = egui::Button::new(format!("{key} {label}")).fill(if hot {
                    egui::Color32::from_rgb(240, 200, 40)
                } else {
                    ui.visuals().widgets.inactive.bg_fill
                });
                if ui.add(b).clicked() {
                    if let Some(r) = &self.recorder {
                        r.mark(label, "button");
                    }
                    self.flash = Some((key.clone(), Instant::now()));
                }
            }
        });
    }

    /// Live previews, audio level and sensor plots.
    fn live_ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
        let t = |en: &'static str| tr(lang, en);
        ui.separator();
        ui.horizontal_wrapped(|ui| {
            for (name, kind, tap) in &self.live {
                match kind {
                    StreamKind::Camera => {
                        ui.vertical(|ui| {
                            ui.label(name.as_str());
                            match self.previews.get(name).and_then(|p| p.texture.as_ref()) {
                                Some(tex) => {
                                    ui.image((tex.id(), egui::vec2(320.0, 320.0 * tex.size()[1] as f32 / tex.size()[0].max(1) as f32)));
                                }
                                None => {
                                    ui.spinner();
                                }
                            }
                        });
                    }
                    StreamKind::Audio => {
                        ui.vertical(|ui| {
                            ui.label(format!("{} · {name}", t("Audio level")));
                            let level = tap.level();
                            let db = 20.0 * level.max(1e-5).log10();
                            ui.add(
                                egui::ProgressBar::new(((db + 60.0) / 60.0).clamp(0.0, 1.0))
                                    .desired_width(200.0)
                                    .text(format!("{db:.0} dBFS")),
                            );
                        });
                    }
                    StreamKind::Sensor => {
                        ui.vertical(|ui| {
                            ui.label(name.as_str());
                            sensor_plot_ui(ui, &tap.sensor_rows());
                        });
                    }
                    StreamKind::Events => {}
                }
            }
        });
    }

    /// Per-stream rate, drops, errors and failing devices.
    fn health_ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
        let t = |en: &'static str| tr(lang, en);
        ui.separator();
        if let Some(st) = &self.status {
            ui.label(t("Streams"));
            egui::Grid::new("health").striped(true).show(ui, |ui| {
                for h in ["", "rate", "drops", "errors", "failing"] {
                    ui.strong(if h.is_empty() {
                        ""
                    } else {
                        t(match h {
                            "rate" => "rate",
                            "drops" => "drops",
                            "errors" => "errors",
                            _ => "failing",
                        })
                    });
                }
                ui.end_row();
                let secs = (st.elapsed_ns as f64 / 1e9).max(1e-3);
                for x in &st.streams {
                    ui.label(&x.name);
                    ui.label(format!("{:.1}/s ({:.0})", x.captured as f64 / secs, x.rate_hz));
                    ui.label(x.drops.to_string());
                    ui.label(x.errors.to_string());
                    if x.failing {
                        ui.colored_label(egui::Color32::RED, t("failing"));
                    } else {
                        ui.label("");
                    }
                    ui.end_row();
                }
            });
        }
    }
}

fn digit_key(d: u32) -> Option<egui::Key> {
    use egui::Key::*;
    [Num0, Num1, Num2, Num3, Num4, Num5, Num6, Num7, Num8, Num9].get(d as usize).copied()
}

/// A small plot of the last seconds of each channel, each scaled to its own range.
fn sensor_plot_ui(ui: &mut egui::Ui, rows: &[(i64, Vec<f32>)]) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(320.0, 120.0), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else { return };
    let span = (last.0 - first.0).max(1) as f32;
    let channels = first.1.len();
    for c in 0..channels {
        let vals = rows.iter().map(|r| r.1.get(c).copied().unwrap_or(f32::NAN)).filter(|v| v.is_finite());
        let (lo, hi) = vals.fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(v), b.max(v)));
        let range = (hi - lo).max(1e-6);
        let color =
            egui::Color32::from_rgb(90u8.wrapping_add((c as u8).wrapping_mul(70)), 180u8.wrapping_sub((c as u8).wrapping_mul(40)), 220);
        let pts: Vec<egui::Pos2> = rows
            .iter()
            .filter_map(|r| {
                let v = *r.1.get(c)?;
                v.is_finite().then(|| {
                    egui::pos2(
                        rect.left() + (r.0 - first.0) as f32 / span * rect.width(),
                        rect.bottom() - 4.0 - (v - lo) / range * (rect.height() - 8.0),
                    )
                })
            })
            .collect();
        painter.add(egui::Shape::line(pts, egui::Stroke::new(1.2, color)));
    }
}
