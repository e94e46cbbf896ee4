//! The label bar: tier, in/out marks, one button per value, undo/redo,
//! notes, and the selected label's value, status and delete.

use super::*;

impl ReviewView {
    pub(super) fn labels_ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
        let t = |en: &'static str| tr(lang, en);
        let Some(d) = &self.data else { return };
        let tiers = d.edits.vocab().tier_names();
        let values: Vec<String> = d.edits.vocab().allowed(&self.tier).ok().flatten().map(|l| l.to_vec()).unwrap_or_default();
        let selected = self.selected.as_ref().and_then(|id| d.edits.label(id).cloned());
        let selected_values: Vec<String> =
            selected.as_ref().and_then(|l| d.edits.vocab().allowed(&l.tier).ok().flatten().map(|v| v.to_vec())).unwrap_or_default();
        let (can_undo, can_redo) = (d.edits.can_undo(), d.edits.can_redo());
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
            if ui.add_enabled(can_undo, egui::Button::new(t("Undo"))).clicked() {
                self.undo();
            }
            if ui.add_enabled(can_redo, egui::Button::new(t("Redo"))).clicked() {
                self.redo();
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label(t("Note"));
            ui.add(egui::TextEdit::singleline(&mut self.note).desired_width(260.0).id_salt("note")).labelled_by(l.id);
            if ui.add_enabled(!self.note.trim().is_empty(), egui::Button::new(t("Add note"))).clicked() {
                let text = std::mem::take(&mut self.note);
                // A note sits at the playhead and leaves the marks as they are.
                let at = self.playhead_ns;
                self.command(Command::AddLabel { tier: "note".into(), value: text.trim().to_string(), span: (at, at) });
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
}
