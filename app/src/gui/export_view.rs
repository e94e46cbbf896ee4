//! Export: choose sessions, format and options; the export runs on a worker
//! thread with a progress bar and a cancel button.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::Receiver;
use tacit_datasets::{ExportReport, LeRobotOptions, SplitSpec, TacitOptions};
use tacit_schema::{Progress, SessionStatus};

use super::i18n::Lang;
use super::library_view::Row;
use super::settings::Settings;
use super::{tr, worker};

/// Progress shared between the export thread and the screen.
#[derive(Default)]
pub struct SharedProgress {
    phase: Mutex<String>,
    total: AtomicU64,
    done: AtomicU64,
    messages: Mutex<Vec<String>>,
    cancel: AtomicBool,
    ctx: Mutex<Option<egui::Context>>,
}

impl Progress for SharedProgress {
    fn start(&self, phase: &str, total: u64) {
        if let Ok(mut p) = self.phase.lock() {
            *p = phase.to_string();
        }
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        self.wake();
    }
    fn advance(&self, units: u64) {
        self.done.fetch_add(units, Ordering::Relaxed);
        self.wake();
    }
    fn message(&self, text: &str) {
        if let Ok(mut m) = self.messages.lock() {
            m.push(text.to_string());
        }
        self.wake();
    }
    fn finish(&self) {
        self.wake();
    }
    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

impl SharedProgress {
    /// Asks the export to stop (the Cancel button).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    fn wake(&self) {
        if let Ok(c) = self.ctx.lock() {
            if let Some(c) = c.as_ref() {
                c.request_repaint();
            }
        }
    }
}

/// A running export: its result channel and its progress.
type Running = (Receiver<Result<ExportReport, String>>, Arc<SharedProgress>);

/// The Export place.
#[derive(Default)]
pub struct ExportView {
    chosen: std::collections::BTreeSet<PathBuf>,
    /// Sessions listed before: a new one starts chosen, an unticked one stays unticked.
    seen: std::collections::BTreeSet<PathBuf>,
    running: Option<Running>,
    result: Option<Result<ExportReport, String>>,
}

impl ExportView {
    /// Takes a finished export.
    pub fn logic(&mut self, _events: &mut Vec<super::Event>) {
        if let Some((rx, _)) = &self.running {
            if let Ok(r) = rx.try_recv() {
                self.running = None;
                self.result = Some(r);
            }
        }
    }

    /// The last export's outcome.
    #[cfg(test)]
    pub fn result(&self) -> Option<&Result<ExportReport, String>> {
        self.result.as_ref()
    }

    fn start(&mut self, ctx: &egui::Context, s: &Settings, dirs: Vec<PathBuf>) {
        let progress = Arc::new(SharedProgress::default());
        if let Ok(mut c) = progress.ctx.lock() {
            *c = Some(ctx.clone());
        }
        let p = progress.clone();
        let (format, fps, split, out, replace) =
            (s.export_format.clone(), s.export_fps, s.export_split.trim().to_string(), s.export_out.clone(), s.export_replace);
        self.result = None;
        let rx = worker("export", ctx, move || {
            let split = if split.is_empty() {
                None
            } else {
                Some(SplitSpec::parse(&split, tacit_datasets::GroupBy::Session, 0).map_err(|e| e.to_string())?)
            };
            let r = if format == "tacit" {
                let opts = TacitOptions { out, strict: false, replace, append: false, split, audio_chunk_s: 30 };
                tacit_datasets::export_tacit(&dirs, &opts, p.as_ref())
            } else {
                let opts = LeRobotOptions {
                    out,
                    fps: (fps > 0).then_some(fps),
                    replace,
                    split_given: split.is_some(),
                    split: split.unwrap_or_default(),
                    robot_type: None,
                    strict: false,
                    episodes: tacit_datasets::EpisodeUnit::Session,
                    image_size: None,
                    video: None,
                    append: false,
                };
                tacit_datasets::export_lerobot(&dirs, &opts, p.as_ref())
            };
            r.map_err(|e| e.to_string())
        });
        self.running = Some((rx, progress));
    }

    /// What the last export did, or why it failed.
    fn result_ui(&self, ui: &mut egui::Ui, lang: Lang) {
        let t = |en: &'static str| tr(lang, en);
        match &self.result {
            Some(Ok(r)) => {
                ui.label(format!(
                    "{} {} — {} {}, {} {}, {:.1} MB",
                    t("Written to"),
                    r.out.display(),
                    r.episodes,
                    t("episodes"),
                    r.frames,
                    t("frames"),
                    r.bytes as f64 / 1e6
                ));
                for (dir, why) in &r.skipped {
                    ui.colored_label(egui::Color32::YELLOW, format!("{dir}: {why}"));
                }
            }
            Some(Err(e)) if e.contains("cancelled") => {
                ui.label(format!("{}: {e}", t("Cancelled")));
            }
            Some(Err(e)) => {
                ui.colored_label(egui::Color32::RED, format!("{}: {e}", t("Failed")));
            }
            None => {}
        }
    }

    /// Draws the screen.
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &mut Settings, rows: &[Row]) {
        let lang = s.lang;
        let t = |en: &'static str| tr(lang, en);
        let exportable: Vec<&Row> = rows
            .iter()
            .filter(|r| matches!(r.manifest.status, SessionStatus::Complete | SessionStatus::Recovered))
            .filter(|r| !s.export_reviewed_only || r.manifest.reviewed)
            .collect();
        for r in rows {
            if self.seen.insert(r.dir.clone()) {
                self.chosen.insert(r.dir.clone());
            }
        }
        let running = self.running.is_some();
        ui.add_enabled_ui(!running, |ui| {
            options_ui(ui, s, lang);
            ui.label(t("Sessions to export"));
            egui::ScrollArea::vertical().max_height(200.0).show(ui, |ui| {
                for r in &exportable {
                    let mut on = self.chosen.contains(&r.dir);
                    let text = format!(
                        "{} · {} · {}{}",
                        r.manifest.id,
                        r.manifest.operator,
                        r.manifest.task,
                        if r.manifest.reviewed { " (reviewed)" } else { "" }
                    );
                    if ui.checkbox(&mut on, text).changed() {
                        if on {
                            self.chosen.insert(r.dir.clone());
                        } else {
                            self.chosen.remove(&r.dir);
                        }
                    }
                }
            });
        });
        let dirs: Vec<PathBuf> = exportable.iter().filter(|r| self.chosen.contains(&r.dir)).map(|r| r.dir.clone()).collect();
        ui.horizontal(|ui| {
            if ui.add_enabled(!running && !dirs.is_empty(), egui::Button::new(egui::RichText::new(t("Start export")).size(18.0))).clicked()
            {
                self.start(ui.ctx(), s, dirs.clone());
            }
            if let Some((_, p)) = &self.running {
                if ui.button(t("Cancel")).clicked() {
                    p.cancel();
                }
            }
        });
        if let Some((_, p)) = &self.running {
            let (total, done) = (p.total.load(Ordering::Relaxed), p.done.load(Ordering::Relaxed));
            let phase = p.phase.lock().map(|x| x.clone()).unwrap_or_default();
            let frac = if total > 0 { done as f32 / total as f32 } else { 0.0 };
            ui.add(egui::ProgressBar::new(frac).text(format!("{phase} {done}/{total}")).animate(total == 0));
        }
        self.result_ui(ui, lang);
    }
}

/// Format, fps, splits, output folder and the two choices.
fn options_ui(ui: &mut egui::Ui, s: &mut Settings, lang: Lang) {
    let t = |en: &'static str| tr(lang, en);
    egui::Grid::new("export-form").num_columns(2).spacing([12.0, 8.0]).show(ui, |ui| {
        ui.label(t("Format"));
        ui.horizontal(|ui| {
            ui.radio_value(&mut s.export_format, "lerobot".to_string(), "LeRobot v3.0");
            ui.radio_value(&mut s.export_format, "tacit".to_string(), "tacit tables");
        });
        ui.end_row();
        if s.export_format == "lerobot" {
            let l = ui.label(t("Frames per second"));
            ui.add(egui::DragValue::new(&mut s.export_fps).range(0..=240).custom_formatter(|v, _| {
                if v == 0.0 {
                    "camera".into()
                } else {
                    format!("{v}")
                }
            }))
            .labelled_by(l.id);
            ui.end_row();
        }
        let l = ui.label(t("Splits"));
        ui.add(egui::TextEdit::singleline(&mut s.export_split).hint_text("train=0.8,val=0.2")).labelled_by(l.id);
        ui.end_row();
        let l = ui.label(t("Output folder"));
        let mut out = s.export_out.display().to_string();
        if ui.add(egui::TextEdit::singleline(&mut out).desired_width(420.0)).labelled_by(l.id).changed() {
            s.export_out = PathBuf::from(out);
        }
        ui.end_row();
        ui.label("");
        ui.checkbox(&mut s.export_replace, t("Replace an existing dataset"));
        ui.end_row();
        ui.label("");
        ui.checkbox(&mut s.export_reviewed_only, t("Reviewed sessions only"));
        ui.end_row();
    });
}
