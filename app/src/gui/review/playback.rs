//! Playback: play/pause, speed, seeking, frame steps, the sound from the
//! playhead, and the camera frames on screen.

use super::*;

impl ReviewView {
    /// Moves the playhead where the user asked (the sound follows).
    pub(super) fn seek(&mut self, t_ns: i64) {
        self.audio_restart = true;
        self.move_playhead(t_ns);
    }

    pub(super) fn move_playhead(&mut self, t_ns: i64) {
        let dur = self.data.as_ref().map_or(0, |d| d.duration_ns);
        self.playhead_ns = t_ns.clamp(0, dur);
        if self.playhead_ns < self.view_start_ns || self.playhead_ns > self.view_start_ns + self.view_len_ns {
            self.view_start_ns = (self.playhead_ns - self.view_len_ns / 2).clamp(0, (dur - self.view_len_ns).max(0));
        }
    }

    /// Starts, restarts or stops the sound to follow play/pause, seeks and
    /// speed; the `review-audio` thread opens the file and the device.
    pub(super) fn audio_logic(&mut self) {
        if let Some(e) = self.audio.as_ref().and_then(crate::audio_out::Controller::error) {
            self.audio_error = Some(e);
        }
        let wav = self.data.as_ref().and_then(|d| d.wav.clone());
        let Some(wav) = wav.filter(|_| self.playing) else {
            if self.sounding {
                if let Some(a) = &self.audio {
                    a.stop();
                }
                self.sounding = false;
            }
            return;
        };
        let restart = self.audio_restart || self.player_speed != self.speed;
        self.audio_restart = false;
        if self.sounding && !restart || self.audio_error.is_some() {
            return;
        }
        if self.audio.is_none() {
            match crate::audio_out::Controller::start(std::env::var("TACIT_AUDIO_OUT").ok()) {
                Ok(a) => self.audio = Some(a),
                Err(e) => {
                    self.audio_error = Some(format!("cannot start the review-audio thread: {e}"));
                    return;
                }
            }
        }
        if let Some(a) = &self.audio {
            a.play(&wav, self.playhead_ns, self.speed);
            self.sounding = true;
            self.player_speed = self.speed;
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

    pub(super) fn frame_step(&mut self, forward: bool) {
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

    pub(super) fn controls_ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
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

    pub(super) fn frames_ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
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
}
