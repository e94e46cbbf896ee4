//! The desktop app (`tacit app`): Library, Record, Review and Export in one
//! window. egui + eframe on OpenGL (glow), which Mesa's software renderer
//! (llvmpipe) runs on station PCs with weak GPUs and under a bare Xvfb.
//!
//! ```text
//! App::logic ─ drains worker channels, advances playback, saves settings
//! App::ui    ─ draws the place the user is on; never touches disk or devices
//! workers    ─ library-scan, record-start/stop, review-open, ui-decode,
//!              annotations (every label/transcript edit, atomic + logged), export
//! ```

pub(crate) mod decode;
mod export_view;
pub mod i18n;
mod library_view;
mod record_view;
pub(crate) mod review;
mod settings;
mod store_library;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use crossbeam_channel::{bounded, Receiver};

pub use i18n::{tr, Lang};
pub use settings::{Place, Settings};

/// Runs `f` on a named thread; its result arrives on the receiver and the UI
/// is woken. A thread that cannot start reports that as its result.
pub(crate) fn worker<T: Send + 'static>(
    name: &str,
    ctx: &egui::Context,
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Receiver<Result<T, String>> {
    let (tx, rx) = bounded(1);
    let ctx = ctx.clone();
    let tx2 = tx.clone();
    let spawned = std::thread::Builder::new().name(name.to_string()).spawn(move || {
        let out = f();
        let _ = tx.send(out);
        ctx.request_repaint();
    });
    if let Err(e) = spawned {
        let _ = tx2.send(Err(format!("cannot start the {name} thread: {e}")));
    }
    rx
}

/// The result of a worker started with [`worker`], once it has arrived; the
/// slot is emptied then, so a `Some` slot means "still running".
pub(crate) fn finished<T>(slot: &mut Option<Receiver<T>>) -> Option<T> {
    let r = slot.as_ref()?.try_recv().ok()?;
    *slot = None;
    Some(r)
}

/// Where the Hangul font came from, for the status line.
#[derive(Clone, Debug, PartialEq)]
pub enum FontStatus {
    /// Loaded from this file.
    Loaded(PathBuf),
    /// None found: Hangul shows as boxes.
    Missing,
}

/// Fonts with Hangul tried in order: `$TACIT_FONT`, then the Debian/Ubuntu
/// packages fonts-nanum, fonts-noto-cjk and fonts-unfonts-core. (file, face index)
fn hangul_font_candidates() -> Vec<(PathBuf, u32)> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("TACIT_FONT") {
        out.push((PathBuf::from(p), 0));
    }
    for (p, i) in [
        ("/usr/share/fonts/truetype/nanum/NanumGothic.ttf", 0),
        ("/usr/share/fonts/truetype/nanum/NanumBarunGothic.ttf", 0),
        // The CJK collection's second face is Korean.
        ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 1),
        ("/usr/share/fonts/truetype/noto/NotoSansKR-Regular.ttf", 0),
        ("/usr/share/fonts/truetype/unfonts-core/UnDotum.ttf", 0),
        ("/usr/share/fonts/TTF/NanumGothic.ttf", 0),
    ] {
        out.push((PathBuf::from(p), i));
    }
    out
}

/// Adds a Hangul font after egui's own (Latin keeps egui's look; Hangul
/// falls back to this one).
pub fn install_fonts(ctx: &egui::Context) -> FontStatus {
    for (path, index) in hangul_font_candidates() {
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let mut fonts = egui::FontDefinitions::default();
        let mut data = egui::FontData::from_owned(bytes);
        data.index = index;
        fonts.font_data.insert("hangul".into(), std::sync::Arc::new(data));
        for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
            fonts.families.entry(family).or_default().push("hangul".into());
        }
        ctx.set_fonts(fonts);
        return FontStatus::Loaded(path);
    }
    tracing::warn!("no Hangul font found; install fonts-nanum or fonts-noto-cjk, or set TACIT_FONT");
    FontStatus::Missing
}

/// How long settings must stay unchanged before they are written.
const SETTINGS_REST: std::time::Duration = std::time::Duration::from_millis(500);

/// The app: persisted settings plus each place's runtime state.
pub struct TacitApp {
    settings: Settings,
    settings_path: Option<PathBuf>,
    /// The settings as last handed to the saver (JSON).
    saved: String,
    /// The settings as last seen, and when they last changed: saved once
    /// they have rested for [`SETTINGS_REST`] (not on every keystroke).
    seen: (String, Option<std::time::Instant>),
    settings_saver: Option<settings::Saver>,
    font: FontStatus,
    library: library_view::LibraryView,
    record: record_view::RecordView,
    review: review::ReviewView,
    export: export_view::ExportView,
    decoder: Option<decode::Decoder>,
    /// Screenshot mode: save the window to this PNG after a few frames, then quit.
    screenshot: Option<(PathBuf, u32)>,
}

impl TacitApp {
    /// A new app on `settings`; settings are saved to `settings_path` when they change.
    pub fn new(ctx: &egui::Context, settings: Settings, settings_path: Option<PathBuf>) -> Self {
        let font = install_fonts(ctx);
        let decoder = decode::Decoder::start(ctx.clone()).map_err(|e| tracing::error!("cannot start the decoder thread: {e}")).ok();
        let saved = serde_json::to_string_pretty(&settings).unwrap_or_default();
        let mut app = Self {
            library: library_view::LibraryView::default(),
            record: record_view::RecordView::default(),
            review: review::ReviewView::default(),
            export: export_view::ExportView::default(),
            settings_saver: settings_path
                .clone()
                .and_then(|p| settings::Saver::start(p).map_err(|e| tracing::error!("cannot start the settings thread: {e}")).ok()),
            seen: (saved.clone(), None),
            settings,
            settings_path,
            saved,
            font,
            decoder,
            screenshot: None,
        };
        app.library.refresh(ctx, &app.settings.library);
        app
    }

    /// Saves a screenshot of the window to `path` after a few frames and
    /// closes the app (`tacit app --screenshot`).
    pub fn screenshot_to(mut self, path: PathBuf) -> Self {
        self.screenshot = Some((path, 0));
        self
    }

    /// Opens a session in Review.
    pub fn open_in_review(&mut self, ctx: &egui::Context, dir: &Path) {
        self.review.open(ctx, dir);
        self.settings.place = Place::Review;
    }

    /// The settings now.
    #[cfg(test)]
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Where the Hangul font came from.
    #[cfg(test)]
    pub fn font(&self) -> &FontStatus {
        &self.font
    }

    /// Review has a session loaded.
    #[cfg(test)]
    pub fn review_loaded(&self) -> bool {
        self.review.is_loaded()
    }

    /// Does the app's work for this frame (no drawing).
    pub fn logic(&mut self, ctx: &egui::Context) {
        let decoded = self.decoder.as_ref().map(|d| d.drain()).unwrap_or_default();
        let mut events = Vec::new();
        self.library.logic(&mut events);
        self.record.logic(ctx, &self.settings, self.decoder.as_ref(), &mut events);
        self.review.logic(ctx, self.decoder.as_ref(), &mut events);
        self.export.logic(&mut events);
        for d in decoded {
            if d.key.starts_with("rec:") {
                self.record.take_image(ctx, d);
            } else {
                self.review.take_image(ctx, d);
            }
        }
        for e in events {
            match e {
                Event::RefreshLibrary => self.library.refresh(ctx, &self.settings.library),
                Event::OpenSession(dir) => self.open_in_review(ctx, &dir),
            }
        }
        self.save_settings_if_changed(ctx);
    }

    /// Hands changed settings to the `settings` thread once they have not
    /// changed for [`SETTINGS_REST`]; no disk work on the UI thread.
    fn save_settings_if_changed(&mut self, ctx: &egui::Context) {
        let now = serde_json::to_string_pretty(&self.settings).unwrap_or_default();
        if now != self.seen.0 {
            self.seen = (now, Some(std::time::Instant::now()));
        }
        let Some(changed) = self.seen.1 else { return };
        let rested = changed.elapsed();
        if rested < SETTINGS_REST {
            ctx.request_repaint_after(SETTINGS_REST - rested);
            return;
        }
        if self.seen.0 != self.saved && self.settings_saver.as_ref().is_some_and(|s| s.save(self.seen.0.clone())) {
            self.saved = self.seen.0.clone();
        }
        if self.seen.0 == self.saved {
            self.seen.1 = None;
        }
    }

    /// Writes the settings now, after whatever the settings thread still
    /// holds, and waits for it (on exit).
    pub fn flush_settings(&mut self) {
        let now = serde_json::to_string_pretty(&self.settings).unwrap_or_default();
        match (&mut self.settings_saver, &self.settings_path) {
            (Some(saver), _) => saver.finish(now.clone()),
            (None, Some(path)) if now != self.saved => {
                if let Err(e) = self.settings.save(path) {
                    tracing::warn!("cannot save settings to {}: {e}", path.display());
                }
            }
            _ => {}
        }
        self.settings_saver = None;
        self.seen = (now.clone(), None);
        self.saved = now;
    }

    /// Draws the window.
    pub fn draw_ui(&mut self, ui: &mut egui::Ui) {
        let lang = self.settings.lang;
        let t = |en: &'static str| tr(lang, en);
        egui::Panel::top("places").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("tacit");
                ui.separator();
                for (place, label) in [
                    (Place::Library, t("Library")),
                    (Place::Record, t("Record")),
                    (Place::Review, t("Review")),
                    (Place::Export, t("Export")),
                ] {
                    let selected = self.settings.place == place;
                    if ui.selectable_label(selected, egui::RichText::new(label).size(18.0)).clicked() {
                        self.settings.place = place;
                    }
                }
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    let combo = egui::ComboBox::from_id_salt("lang")
                        .selected_text(match self.settings.lang {
                            Lang::En => "English",
                            Lang::Ko => "한국어",
                        })
                        .show_ui(ui, |ui| {
                            ui.selectable_value(&mut self.settings.lang, Lang::En, "English");
                            ui.selectable_value(&mut self.settings.lang, Lang::Ko, "한국어");
                        });
                    let l = ui.label(t("Language"));
                    combo.response.labelled_by(l.id);
                });
            });
            if self.font == FontStatus::Missing && lang == Lang::Ko {
                ui.colored_label(
                    egui::Color32::YELLOW,
                    tr(Lang::En, "No Hangul font found: install fonts-nanum or fonts-noto-cjk, or set TACIT_FONT."),
                );
            }
        });
        let mut events = Vec::new();
        egui::CentralPanel::default_margins().show(ui, |ui| match self.settings.place {
            Place::Library => self.library.ui(ui, &mut self.settings, &mut events),
            Place::Record => self.record.ui(ui, &mut self.settings, &mut events),
            Place::Review => self.review.ui(ui, lang),
            Place::Export => self.export.ui(ui, &mut self.settings, self.library.rows()),
        });
        let ctx = ui.ctx().clone();
        for e in events {
            match e {
                Event::RefreshLibrary => self.library.refresh(&ctx, &self.settings.library),
                Event::OpenSession(dir) => self.open_in_review(&ctx, &dir),
            }
        }
        self.screenshot_step(&ctx);
    }

    fn screenshot_step(&mut self, ctx: &egui::Context) {
        let Some((path, frames)) = &mut self.screenshot else { return };
        *frames += 1;
        // Give textures and the worker threads a few frames to settle first.
        if *frames == 40 {
            let (path, ctx2) = (path.clone(), ctx.clone());
            ctx.request_screenshot(move |image| {
                let [w, h] = image.size;
                let rgba: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
                if let Err(e) = save_png(&path, w as u32, h as u32, &rgba) {
                    tracing::error!("cannot write the screenshot {}: {e}", path.display());
                }
                ctx2.send_viewport_cmd(egui::ViewportCommand::Close);
                ctx2.request_repaint();
            });
        }
        ctx.request_repaint_after(std::time::Duration::from_millis(50));
    }
}

/// Writes an RGBA image as PNG.
fn save_png(path: &Path, w: u32, h: u32, rgba: &[u8]) -> Result<(), String> {
    let file = std::fs::File::create(path).map_err(|e| e.to_string())?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgba).map_err(|e| e.to_string())
}

/// What a place asks the app to do.
pub enum Event {
    /// Rescan the library.
    RefreshLibrary,
    /// Show this session in Review.
    OpenSession(PathBuf),
}

impl eframe::App for TacitApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        TacitApp::logic(self, ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw_ui(ui);
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        // A recording keeps its data: stop it cleanly rather than leave it interrupted.
        self.record.stop_on_exit();
        self.flush_settings();
    }
}

/// Arguments of `tacit app`.
#[derive(clap::Args)]
pub struct AppArgs {
    /// Library folder (default: the one used last, else $TACIT_LIBRARY or the user data folder).
    #[arg(long, env = "TACIT_LIBRARY")]
    pub library: Option<PathBuf>,
    /// Open this session in Review (a folder or an id in the library).
    #[arg(long)]
    pub open: Option<String>,
    /// UI language: en or ko (default: the saved choice, else TACIT_LANG or the system locale).
    #[arg(long, value_parser = ["en", "ko"])]
    pub lang: Option<String>,
    /// Save a PNG of the window after it has drawn, then quit (docs screenshots, tests).
    #[arg(long, value_name = "PNG")]
    pub screenshot: Option<PathBuf>,
    /// Settings file (default: <config>/tacit/app.json).
    #[arg(long)]
    pub settings: Option<PathBuf>,
    /// Place to open: library, record, review or export.
    #[arg(long, value_parser = ["library", "record", "review", "export"])]
    pub place: Option<String>,
    /// How to reach the site store when the library is one (s3://bucket/prefix).
    #[command(flatten)]
    pub store: crate::push::StoreArgs,
}

/// `tacit app`: opens the window.
pub fn run(args: AppArgs) -> anyhow::Result<std::process::ExitCode> {
    let settings_path = args.settings.clone().unwrap_or_else(Settings::default_path);
    let mut settings = Settings::load(&settings_path);
    if let Some(lib) = &args.library {
        settings.library = lib.clone();
    }
    if let Some(l) = &args.lang {
        settings.lang = if l == "ko" { Lang::Ko } else { Lang::En };
    }
    let place = args.place.as_deref().map(|p| match p {
        "record" => Place::Record,
        "review" => Place::Review,
        "export" => Place::Export,
        _ => Place::Library,
    });
    store_library::set_options(args.store.options(None));
    let open = match (&args.open, store_library::url_of(&settings.library)) {
        (Some(s), Some(url)) => Some(store_library::library(url).map_err(anyhow::Error::msg)?.open(s)?),
        (Some(s), None) => Some(tacit_session::Library::at(&settings.library).resolve(s)?),
        (None, _) => None,
    };
    let options = eframe::NativeOptions {
        renderer: eframe::Renderer::Glow,
        viewport: egui::ViewportBuilder::default().with_title("tacit").with_inner_size([1280.0, 800.0]).with_min_inner_size([800.0, 500.0]),
        // No multisampling or depth buffer: fewer GL features for software renderers.
        multisampling: 0,
        depth_buffer: 0,
        persist_window: args.screenshot.is_none(),
        ..Default::default()
    };
    let screenshot = args.screenshot.clone();
    eframe::run_native(
        "tacit",
        options,
        Box::new(move |cc| {
            let mut app = TacitApp::new(&cc.egui_ctx, settings, Some(settings_path));
            if let Some(dir) = open {
                app.open_in_review(&cc.egui_ctx, &dir);
            }
            if let Some(p) = place {
                app.settings.place = p;
            }
            if let Some(p) = screenshot {
                app = app.screenshot_to(p);
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot open the window ({e}); is a display available (DISPLAY or WAYLAND_DISPLAY)? Under a bare X server: xvfb-run tacit app"
        )
    })?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// `h:mm:ss` of a duration.
pub(crate) fn hms(ns: i64) -> String {
    let s = ns.max(0) / 1_000_000_000;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `m:ss.mmm` of a session time.
pub(crate) fn clock(ns: i64) -> String {
    let ms = ns.max(0) / 1_000_000;
    format!("{}:{:02}.{:03}", ms / 60_000, ms / 1000 % 60, ms % 1000)
}
