//! Library: every session with its state; sort, filter, open, recover.

use std::path::{Path, PathBuf};

use crossbeam_channel::Receiver;
use tacit_schema::{SessionManifest, SessionStatus};

use super::i18n::Lang;
use super::settings::{Settings, SortKey};
use super::{finished, hms, tr, worker, Event};

/// One session in the table.
#[derive(Clone, Debug)]
pub struct Row {
    /// Its folder.
    pub dir: PathBuf,
    /// Its manifest (status `interrupted` when no recorder holds it).
    pub manifest: SessionManifest,
    /// It has labels.
    pub labeled: bool,
}

/// The Library place.
#[derive(Default)]
pub struct LibraryView {
    rows: Vec<Row>,
    scanning: Option<Receiver<Result<Scan, String>>>,
    /// Sessions the last scan could not read, each with why (file named).
    unreadable: Vec<String>,
    recovering: Option<Receiver<Result<String, String>>>,
    message: Option<String>,
}

/// A scan: the sessions, and what could not be read.
type Scan = (Vec<Row>, Vec<String>);

fn scan(root: &Path) -> Result<Scan, String> {
    let dirs = if let Some(url) = super::store_library::url_of(root) {
        // Every session of the store, checked out (its small files only).
        let lib = super::store_library::library(url)?;
        lib.select(&[], &tacit_session::SessionFilter::default()).map_err(|e| e.to_string())?
    } else {
        let lib = tacit_session::Library::at(root);
        match lib.session_dirs() {
            Ok(d) => d,
            Err(_) if !lib.sessions_dir().exists() => return Ok((Vec::new(), Vec::new())),
            Err(e) => return Err(e.to_string()),
        }
    };
    let mut rows = Vec::new();
    let mut unreadable: Vec<String> = tacit_session::Library::at(root)
        .folders_without_manifest()
        .iter()
        .map(|d| format!("{}: no session.json (damaged, or not a tacit session)", d.display()))
        .collect();
    for dir in dirs {
        match tacit_session::SessionDir::open(&dir).map(tacit_session::SessionDir::into_manifest) {
            Ok(manifest) => {
                let labeled = tacit_session::labels::load(&dir).map(|a| !a.labels.is_empty()).unwrap_or(false);
                rows.push(Row { dir, manifest, labeled });
            }
            Err(e) => unreadable.push(e.to_string()),
        }
    }
    Ok((rows, unreadable))
}

fn status_text(s: SessionStatus) -> &'static str {
    match s {
        SessionStatus::Recording => "recording",
        SessionStatus::Interrupted => "interrupted",
        SessionStatus::Complete => "complete",
        SessionStatus::Recovered => "recovered",
    }
}

impl LibraryView {
    /// Rescans the library on a worker thread.
    pub fn refresh(&mut self, ctx: &egui::Context, root: &Path) {
        let root = root.to_path_buf();
        self.scanning = Some(worker("library-scan", ctx, move || scan(&root)));
    }

    /// What the last scan could not read.
    #[cfg(test)]
    pub fn unreadable(&self) -> &[String] {
        &self.unreadable
    }

    /// The sessions as last scanned.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// Takes finished scans and recoveries.
    pub fn logic(&mut self, events: &mut Vec<Event>) {
        match finished(&mut self.scanning) {
            Some(Ok((rows, unreadable))) => {
                self.rows = rows;
                self.unreadable = unreadable;
            }
            Some(Err(e)) => self.message = Some(e),
            None => {}
        }
        if let Some(Ok(m) | Err(m)) = finished(&mut self.recovering) {
            self.message = Some(m);
            events.push(Event::RefreshLibrary);
        }
    }

    fn sorted(&self, s: &Settings) -> Vec<&Row> {
        let needle = s.filter.to_lowercase();
        let mut rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| {
                needle.is_empty()
                    || [
                        &r.manifest.id,
                        &r.manifest.station,
                        &r.manifest.operator,
                        &r.manifest.task,
                        &status_text(r.manifest.status).to_string(),
                    ]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&needle))
            })
            .collect();
        rows.sort_by(|a, b| {
            let (a, b) = (&a.manifest, &b.manifest);
            match s.sort {
                SortKey::Date => a.started_at_utc.cmp(&b.started_at_utc),
                SortKey::Station => a.station.cmp(&b.station),
                SortKey::Operator => a.operator.cmp(&b.operator),
                SortKey::Task => a.task.cmp(&b.task),
                SortKey::Duration => a.duration_ns.cmp(&b.duration_ns),
                SortKey::Status => status_text(a.status).cmp(status_text(b.status)),
            }
            .then(a.id.cmp(&b.id))
        });
        if s.sort_descending {
            rows.reverse();
        }
        rows
    }

    /// Draws the table.
    pub fn ui(&mut self, ui: &mut egui::Ui, s: &mut Settings, events: &mut Vec<Event>) {
        let lang = s.lang;
        let t = |en: &'static str| tr(lang, en);
        ui.horizontal(|ui| {
            let l = ui.label(t("Library folder"));
            let mut text = s.library.display().to_string();
            if ui.add(egui::TextEdit::singleline(&mut text).desired_width(360.0)).labelled_by(l.id).changed() {
                s.library = PathBuf::from(text);
            }
            if ui.button(t("Refresh")).clicked() {
                events.push(Event::RefreshLibrary);
            }
            ui.separator();
            let l = ui.label(t("Filter"));
            ui.add(egui::TextEdit::singleline(&mut s.filter).desired_width(200.0)).labelled_by(l.id);
            if self.scanning.is_some() || self.recovering.is_some() {
                ui.spinner();
            }
        });
        if let Some(m) = &self.message {
            ui.label(m.as_str());
        }
        if !self.unreadable.is_empty() {
            ui.colored_label(egui::Color32::from_rgb(230, 160, 40), t("Sessions that cannot be read (each with what is wrong):"));
            for why in &self.unreadable {
                ui.label(why.as_str());
            }
        }
        ui.separator();
        if self.rows.is_empty() && self.scanning.is_none() {
            ui.label(t("No sessions yet. Record one in Record, or run `tacit demo`."));
            return;
        }
        let rows: Vec<Row> = self.sorted(s).into_iter().cloned().collect();
        let mut open = None;
        let mut recover = None;
        egui::ScrollArea::both().show(ui, |ui| {
            egui::Grid::new("sessions").striped(true).spacing([16.0, 6.0]).show(ui, |ui| {
                header_row(ui, s, lang);
                let yes_no = |b: bool| if b { t("yes") } else { t("no") };
                for r in &rows {
                    let m = &r.manifest;
                    ui.monospace(&m.id);
                    ui.label(&m.station);
                    ui.label(&m.operator);
                    ui.label(&m.task);
                    ui.label(m.started_at_utc.get(..16).unwrap_or(&m.started_at_utc).replace('T', " "));
                    ui.label(hms(m.duration_ns));
                    let st = t(status_text(m.status));
                    if m.status == SessionStatus::Interrupted {
                        ui.colored_label(egui::Color32::from_rgb(230, 160, 40), st);
                    } else {
                        ui.label(st);
                    }
                    ui.label(yes_no(m.transcribed));
                    ui.label(yes_no(r.labeled));
                    ui.label(yes_no(m.reviewed));
                    ui.horizontal(|ui| {
                        let openable = matches!(m.status, SessionStatus::Complete | SessionStatus::Recovered);
                        if ui.add_enabled(openable, egui::Button::new(t("Open"))).on_hover_text(&m.id).clicked() {
                            open = Some(r.dir.clone());
                        }
                        if m.status == SessionStatus::Interrupted && ui.button(t("Recover")).clicked() {
                            recover = Some(r.dir.clone());
                        }
                    });
                    ui.end_row();
                }
            });
        });
        if let Some(dir) = open {
            events.push(Event::OpenSession(dir));
        }
        if let Some(dir) = recover {
            if self.recovering.is_none() {
                self.recovering = Some(worker("recover", ui.ctx(), move || {
                    tacit_capture::recover(&dir)
                        .map(|r| format!("{}: {} ({} torn tails cut)", r.manifest.id, status_text(r.manifest.status), r.cut.len()))
                        .map_err(|e| format!("cannot recover {}: {e}", dir.display()))
                }));
            }
        }
    }
}

/// The grid's header: sortable columns are buttons (click again to reverse).
fn header_row(ui: &mut egui::Ui, s: &mut Settings, lang: Lang) {
    let t = |en: &'static str| tr(lang, en);
    let mut header = |ui: &mut egui::Ui, label: &'static str, key: Option<SortKey>| match key {
        Some(k) => {
            let arrow = if s.sort == k {
                if s.sort_descending {
                    " v"
                } else {
                    " ^"
                }
            } else {
                ""
            };
            if ui.button(egui::RichText::new(format!("{}{arrow}", t(label))).strong()).clicked() {
                if s.sort == k {
                    s.sort_descending = !s.sort_descending;
                } else {
                    s.sort = k;
                }
            }
        }
        None => {
            ui.strong(t(label));
        }
    };
    header(ui, "Session", None);
    header(ui, "Station", Some(SortKey::Station));
    header(ui, "Operator", Some(SortKey::Operator));
    header(ui, "Task", Some(SortKey::Task));
    header(ui, "Date", Some(SortKey::Date));
    header(ui, "Duration", Some(SortKey::Duration));
    header(ui, "Status", Some(SortKey::Status));
    header(ui, "Transcribed", None);
    header(ui, "Labeled", None);
    header(ui, "Reviewed", None);
    ui.label("");
    ui.end_row();
}
