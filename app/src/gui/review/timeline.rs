//! The timeline: waveform, sensor plots, transcript spans and label tiers on
//! one time axis; click to seek or select, drag a label's edge, Ctrl+wheel to zoom.

use super::*;

/// Height of the transcript row and of each label tier.
const ROW_H: f32 = 22.0;
/// Height of the waveform.
const WAVE_H: f32 = 40.0;
/// Height of each sensor plot.
const PLOT_H: f32 = 46.0;

impl ReviewView {
    pub(super) fn x_of(&self, rect: egui::Rect, t_ns: i64) -> f32 {
        rect.left() + (t_ns - self.view_start_ns) as f32 / self.view_len_ns.max(1) as f32 * rect.width()
    }

    pub(super) fn t_of(&self, rect: egui::Rect, x: f32) -> i64 {
        self.view_start_ns + (((x - rect.left()) / rect.width().max(1.0)) as f64 * self.view_len_ns as f64) as i64
    }

    pub(super) fn timeline_ui(&mut self, ui: &mut egui::Ui) {
        let Some(d) = &self.data else { return };
        let tiers = d.edits.vocab().tier_names();
        let height = WAVE_H + PLOT_H * d.sensors.len() as f32 + ROW_H * (1 + tiers.len()) as f32 + 4.0;
        let (rect, resp) = ui.allocate_exact_size(egui::vec2(ui.available_width(), height), egui::Sense::click_and_drag());
        let tier_rows = self.paint_timeline(&ui.painter_at(rect), rect, ui.visuals(), &tiers);
        self.timeline_input(ui, rect, &resp, &tier_rows);
    }

    /// Draws the timeline into `rect`; returns where each visible label is.
    fn paint_timeline(
        &self,
        painter: &egui::Painter,
        rect: egui::Rect,
        vis: &egui::Visuals,
        tiers: &[String],
    ) -> Vec<(String, egui::Rect)> {
        let Some(d) = &self.data else { return Vec::new() };
        let row = ROW_H;
        painter.rect_filled(rect, 2.0, vis.extreme_bg_color);
        let (a, b) = (self.view_start_ns, self.view_start_ns + self.view_len_ns);
        let mut y = self.paint_signals(painter, rect, vis);
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
        for tier in tiers {
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
            for l in d.edits.annotations().on_tier(tier) {
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

        tier_rows
    }

    /// The waveform and the sensor plots (the detailed sample when it covers
    /// the view, else the overview); returns where the rows below start.
    fn paint_signals(&self, painter: &egui::Painter, rect: egui::Rect, vis: &egui::Visuals) -> f32 {
        let Some(d) = &self.data else { return rect.top() };
        let (wave_h, plot_h) = (WAVE_H, PLOT_H);
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
                let color = egui::Color32::from_rgb(
                    90u8.wrapping_add((c as u8).wrapping_mul(70)),
                    190u8.wrapping_sub((c as u8).wrapping_mul(45)),
                    120,
                );
                painter.add(egui::Shape::line(pts, egui::Stroke::new(1.0, color)));
            }
            y += plot_h;
        }
        y
    }

    /// Click to select a label or seek, drag a selected label's edge, Ctrl+wheel to zoom.
    fn timeline_input(&mut self, ui: &egui::Ui, rect: egui::Rect, resp: &egui::Response, tier_rows: &[(String, egui::Rect)]) {
        let Some(d) = &self.data else { return };
        let dur = d.duration_ns;
        let pos = resp.interact_pointer_pos();
        if resp.drag_started() {
            if let (Some(p), Some(sel)) = (pos, &self.selected) {
                let before = d.edits.label(sel).cloned();
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
            let t_ns = self.t_of(rect, p.x).clamp(0, dur);
            // Shown on the next frame; saved when the drag ends.
            self.command(Command::DragEdge { id, start, t_ns });
            if resp.drag_stopped() {
                self.drag = None;
                // Saved as one undoable edit from where it was before the drag.
                self.command(Command::EndDrag { before });
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
}
