//! The transcript beside the frames: the segment at the playhead, click to
//! seek, edit a segment's text (kept as an edit; the machine text stays).

use super::*;

impl ReviewView {
    pub(super) fn transcript_ui(&mut self, ui: &mut egui::Ui, lang: Lang) {
        let t = |en: &'static str| tr(lang, en);
        ui.heading(t("Transcript"));
        let Some(d) = &self.data else { return };
        let rows: Vec<(u32, i64, String, Option<String>)> = d
            .segments
            .iter()
            .map(|s| {
                let edited = d.edits.annotations().edited_text(s.segment_id, s.start_ns).map(str::to_string);
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
                self.edit_segment(id, &text);
            }
        }
    }
}
