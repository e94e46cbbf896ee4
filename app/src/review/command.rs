//! What the trainer asks for on Review's screen, as data: the view pushes a
//! [`Command`] for each click, key or drag, and its `logic` runs them on the
//! model with [`Edits::run`] before the next frame is drawn. So every edit
//! goes through one place that unit tests reach without a screen.

use tacit_schema::labels::LabelSegment;
use tacit_session::transcript::Segment;

use super::edit::Edits;

/// One edit asked for on Review's screen.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// A new label on `tier` over `span` (either order).
    AddLabel {
        /// Its tier.
        tier: String,
        /// Its value.
        value: String,
        /// Its span, session time.
        span: (i64, i64),
    },
    /// A label replaced (same id; a draft id too).
    UpdateLabel(LabelSegment),
    /// A label removed, by id.
    DeleteLabel(String),
    /// A transcript segment's text corrected.
    EditSegment {
        /// The segment as transcribed.
        segment: Segment,
        /// Its text as corrected.
        text: String,
    },
    /// One edge of a label moved while it is dragged (shown, not saved).
    DragEdge {
        /// The label.
        id: String,
        /// The start edge (else the end).
        start: bool,
        /// Where it is now, session time.
        t_ns: i64,
    },
    /// The drag ended: saved as one edit from the label as it was before.
    EndDrag {
        /// The label before the drag.
        before: LabelSegment,
    },
    /// Undo the last edit.
    Undo,
    /// Redo the last undone edit.
    Redo,
}

impl Edits {
    /// Runs a command made by `author` at `at_utc`; returns the id of a label
    /// it added.
    pub fn run(&mut self, command: Command, author: &str, at_utc: &str) -> Result<Option<String>, String> {
        match command {
            Command::AddLabel { tier, value, span } => return self.add_label(&tier, &value, span, author, at_utc).map(Some),
            Command::UpdateLabel(label) => self.update_label(label, at_utc)?,
            Command::DeleteLabel(id) => self.delete_label(&id, author, at_utc)?,
            Command::EditSegment { segment, text } => self.edit_segment(&segment, &text, author, at_utc)?,
            Command::DragEdge { id, start, t_ns } => self.drag_edge(&id, start, t_ns),
            Command::EndDrag { before } => self.end_drag(before, at_utc)?,
            Command::Undo => self.undo()?,
            Command::Redo => self.redo()?,
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use tacit_schema::labels::{Annotations, Change};
    use tacit_schema::profile::LabelVocabulary;

    use super::*;

    const AT: &str = "2026-12-01T00:00:00.000Z";

    fn edits() -> Edits {
        let vocab = LabelVocabulary { steps: vec!["tack".into(), "root pass".into()], ..Default::default() };
        Edits::new(Annotations::default(), vocab)
    }

    /// A session of clicks as the view sends them: add, rename by the value
    /// box, drag an edge, undo twice, redo, delete, fix a transcript line.
    #[test]
    fn commands_run_in_order_on_the_model() {
        let mut e = edits();
        let add = Command::AddLabel { tier: "step".into(), value: "tack".into(), span: (300, 100) };
        let id = e.run(add, "kim", AT).unwrap().expect("an add returns the new id");
        let mut l = e.label(&id).unwrap().clone();
        l.value = "root pass".into();
        assert_eq!(e.run(Command::UpdateLabel(l), "kim", AT).unwrap(), None);
        let before = e.label(&id).unwrap().clone();
        for t in [350, 400] {
            e.run(Command::DragEdge { id: id.clone(), start: false, t_ns: t }, "kim", AT).unwrap();
        }
        e.run(Command::EndDrag { before }, "kim", AT).unwrap();
        assert_eq!((e.label(&id).unwrap().start_ns, e.label(&id).unwrap().end_ns), (100, 400));
        e.run(Command::Undo, "kim", AT).unwrap();
        e.run(Command::Undo, "kim", AT).unwrap();
        assert_eq!(e.label(&id).map(|l| (l.value.as_str(), l.end_ns)), Some(("tack", 300)));
        e.run(Command::Redo, "kim", AT).unwrap();
        assert_eq!(e.label(&id).unwrap().value, "root pass");
        e.run(Command::DeleteLabel(id.clone()), "kim", AT).unwrap();
        assert!(e.label(&id).is_none());
        let segment = Segment { segment_id: 1, start_ns: 0, end_ns: 10, text: "tree point two".into(), ..Segment::default() };
        e.run(Command::EditSegment { segment, text: "3.2".into() }, "kim", AT).unwrap();
        assert_eq!(e.annotations().edited_text(1, 0), Some("3.2"));
        // Every saved edit is queued once, the drag's moves are not.
        let mut queued = Vec::new();
        while let Some(c) = e.next_unsaved().cloned() {
            e.mark_sent();
            queued.push(c);
        }
        let kinds: Vec<&str> = queued
            .iter()
            .map(|c| match c {
                Change::Add { .. } => "add",
                Change::Update { .. } => "update",
                Change::Delete { .. } => "delete",
                Change::Edit { .. } => "edit",
            })
            .collect();
        assert_eq!(kinds, ["add", "update", "update", "update", "update", "update", "delete", "edit"]);
    }

    #[test]
    fn a_refused_command_says_why_and_changes_nothing() {
        let mut e = edits();
        let add = Command::AddLabel { tier: "step".into(), value: "grind".into(), span: (0, 1) };
        assert!(e.run(add, "kim", AT).unwrap_err().contains("grind"));
        assert!(e.run(Command::DeleteLabel("l-0042".into()), "kim", AT).unwrap_err().contains("l-0042"));
        assert_eq!(e.run(Command::Undo, "kim", AT), Ok(None), "nothing to undo is not an error");
        assert_eq!((e.pending(), e.annotations().labels.len()), (0, 0));
    }
}
