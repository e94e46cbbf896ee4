//! Review's editing model, without egui: the annotations on screen, undo and
//! redo, and the edits not yet on disk.
//!
//! ```text
//! UI event ─► Edits::add_label / update_label / delete_label / edit_segment / undo / redo
//!               ├─ applied to the annotations on screen at once
//!               ├─ (undoable ones) pushed on the undo stack with their inverse
//!               └─ queued ─► next_unsaved / mark_sent ─► Saver thread (labels::commit)
//!                                                        └─ saved(result) ─► pending − 1
//! ```
//!
//! Nothing here touches the disk or a device; the [`Saver`] thread does.
//! An edit that the saver cannot hand over stays queued and is sent again,
//! so a slow disk delays saves but never drops one.
//!
//! A label added here is shown at once under a draft id (`draft-N`); the
//! saver numbers it under the session's lock (`labels::commit_drafts`) and
//! the model then follows the saved id. So `tacit label add` on the same
//! session meanwhile never collides with it.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::{bounded, Receiver, Sender};
use tacit_schema::labels::{Annotations, Change, LabelSegment, TranscriptEdit};
use tacit_schema::profile::LabelVocabulary;
use tacit_session::labels;
use tacit_session::transcript::Segment;

/// An edit and how to undo it.
#[derive(Clone, Debug)]
struct Step {
    change: Change,
    inverse: Change,
}

/// The annotations of the open session and their edits.
#[derive(Debug)]
pub struct Edits {
    ann: Annotations,
    vocab: LabelVocabulary,
    /// Draft id → the id it was saved under, for the drafts saved so far.
    numbered: HashMap<String, String>,
    undo: Vec<Step>,
    redo: Vec<Step>,
    /// Applied on screen, not yet handed to the saver, oldest first.
    unsent: VecDeque<Change>,
    /// Handed to the saver, not yet confirmed.
    in_flight: usize,
}

impl Edits {
    /// The model of a session opened with these annotations and vocabulary.
    pub fn new(ann: Annotations, vocab: LabelVocabulary) -> Self {
        Self { ann, vocab, numbered: HashMap::new(), undo: Vec::new(), redo: Vec::new(), unsent: VecDeque::new(), in_flight: 0 }
    }

    /// The id a label has now: a draft id the saver has numbered becomes
    /// its saved id; any other id is itself.
    pub fn current_id<'a>(&'a self, id: &'a str) -> &'a str {
        self.numbered.get(id).map_or(id, String::as_str)
    }

    /// The annotations as shown (every edit applied, saved or not).
    pub fn annotations(&self) -> &Annotations {
        &self.ann
    }

    /// What may be labeled.
    pub fn vocab(&self) -> &LabelVocabulary {
        &self.vocab
    }

    /// A label by id (a draft id too, after it was saved).
    pub fn label(&self, id: &str) -> Option<&LabelSegment> {
        let id = self.current_id(id);
        self.ann.labels.iter().find(|l| l.id == id)
    }

    /// There is an edit to undo.
    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    /// There is an undone edit to redo.
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Edits not yet on disk (queued or being written).
    pub fn pending(&self) -> usize {
        self.unsent.len() + self.in_flight
    }

    /// The oldest edit not yet handed to the saver.
    pub fn next_unsaved(&self) -> Option<&Change> {
        self.unsent.front()
    }

    /// The saver took the edit [`Self::next_unsaved`] returned.
    pub fn mark_sent(&mut self) {
        if self.unsent.pop_front().is_some() {
            self.in_flight += 1;
        }
    }

    /// The saver finished one edit: `numbered` are the drafts it gave ids
    /// (draft, saved id), which the model takes everywhere (on screen, in
    /// undo and redo, in the queue). On failure, `on_disk` (the annotations
    /// the saver read back) replaces what is shown, the edits still queued
    /// are applied on top of it, and undo and redo are cleared: their steps
    /// were made against a state that is gone.
    pub fn saved(&mut self, result: Result<Vec<(String, String)>, String>, on_disk: Option<Annotations>) -> Option<String> {
        self.in_flight = self.in_flight.saturating_sub(1);
        let numbered = match result {
            Ok(n) => n,
            Err(e) => return Some(self.failed(e, on_disk)),
        };
        for (draft, saved) in numbered {
            let rename = |id: &mut String| {
                if *id == draft {
                    id.clone_from(&saved);
                }
            };
            self.ann.labels.iter_mut().for_each(|l| rename(&mut l.id));
            for step in self.undo.iter_mut().chain(self.redo.iter_mut()) {
                rename_in(&mut step.change, &rename);
                rename_in(&mut step.inverse, &rename);
            }
            self.unsent.iter_mut().for_each(|c| rename_in(c, &rename));
            self.numbered.insert(draft, saved);
        }
        None
    }

    fn failed(&mut self, e: String, on_disk: Option<Annotations>) -> String {
        if let Some(mut ann) = on_disk {
            for c in &self.unsent {
                let _ = ann.apply(c);
            }
            self.ann = ann;
            self.undo.clear();
            self.redo.clear();
        }
        e
    }

    /// Applies a step on screen and queues it; with `record`, it can be undone.
    fn apply(&mut self, step: Step, record: bool) -> Result<(), String> {
        self.ann.apply(&step.change).map_err(|e| e.to_string())?;
        self.unsent.push_back(step.change.clone());
        if record {
            self.undo.push(step);
            self.redo.clear();
        }
        Ok(())
    }

    /// Adds a label on `tier` over `span` (either order); returns its id.
    pub fn add_label(&mut self, tier: &str, value: &str, span: (i64, i64), author: &str, at_utc: &str) -> Result<String, String> {
        self.vocab.check(tier, value).map_err(|e| e.to_string())?;
        let span = (span.0.min(span.1), span.0.max(span.1));
        // Process-wide, so a draft id never names two labels, even across
        // sessions opened one after the other.
        static DRAFTS: AtomicU64 = AtomicU64::new(1);
        let id = labels::draft_id(DRAFTS.fetch_add(1, Ordering::Relaxed));
        let label = LabelSegment::draft(id.clone(), tier, value, span, author, at_utc);
        let inverse = Change::Delete { id: id.clone(), author: author.to_string(), at_utc: at_utc.to_string() };
        self.apply(Step { change: Change::Add { label }, inverse }, true)?;
        Ok(id)
    }

    /// Replaces a label (same id) with `new`; nothing happens when it is unchanged.
    pub fn update_label(&mut self, mut new: LabelSegment, at_utc: &str) -> Result<(), String> {
        let Some(old) = self.label(&new.id).cloned() else { return Err(format!("no label {}", new.id)) };
        new.id.clone_from(&old.id);
        if old == new {
            return Ok(());
        }
        new.updated_at_utc = at_utc.to_string();
        self.apply(Step { change: Change::Update { label: new }, inverse: Change::Update { label: old } }, true)
    }

    /// Deletes a label.
    pub fn delete_label(&mut self, id: &str, author: &str, at_utc: &str) -> Result<(), String> {
        let Some(old) = self.label(id).cloned() else { return Err(format!("no label {id}")) };
        let change = Change::Delete { id: old.id.clone(), author: author.to_string(), at_utc: at_utc.to_string() };
        self.apply(Step { change, inverse: Change::Add { label: old } }, true)
    }

    /// Moves one edge of a label while it is dragged: shown at once, neither
    /// saved nor undoable until [`Self::end_drag`].
    pub fn drag_edge(&mut self, id: &str, start: bool, t_ns: i64) {
        let id = self.current_id(id).to_string();
        if let Some(l) = self.ann.labels.iter_mut().find(|l| l.id == id) {
            if start {
                l.start_ns = t_ns.min(l.end_ns);
            } else {
                l.end_ns = t_ns.max(l.start_ns);
            }
        }
    }

    /// Ends a drag: the label goes back to `before`, and where it was dragged
    /// to is saved as one undoable edit.
    pub fn end_drag(&mut self, mut before: LabelSegment, at_utc: &str) -> Result<(), String> {
        before.id = self.current_id(&before.id).to_string();
        let Some(slot) = self.ann.labels.iter_mut().find(|l| l.id == before.id) else { return Ok(()) };
        let dragged = std::mem::replace(slot, before);
        self.update_label(dragged, at_utc)
    }

    /// Replaces a transcript segment's text (the edit the export uses);
    /// nothing happens when the text is unchanged.
    pub fn edit_segment(&mut self, seg: &Segment, text: &str, author: &str, at_utc: &str) -> Result<(), String> {
        let original = seg.text.trim().to_string();
        let before = self.ann.edited_text(seg.segment_id, seg.start_ns).map_or(original.clone(), str::to_string);
        let text = text.trim().to_string();
        if text == before {
            return Ok(());
        }
        let make = |text: String| TranscriptEdit {
            segment_id: seg.segment_id,
            start_ns: seg.start_ns,
            original: original.clone(),
            text,
            author: author.to_string(),
            at_utc: at_utc.to_string(),
        };
        self.apply(Step { change: Change::Edit { edit: make(text) }, inverse: Change::Edit { edit: make(before) } }, true)
    }

    /// Undoes the last edit (saved as its inverse).
    pub fn undo(&mut self) -> Result<(), String> {
        let Some(s) = self.undo.pop() else { return Ok(()) };
        let back = Step { change: s.inverse.clone(), inverse: s.change.clone() };
        match self.apply(back, false) {
            Ok(()) => {
                self.redo.push(s);
                Ok(())
            }
            Err(e) => {
                self.undo.push(s);
                Err(e)
            }
        }
    }

    /// Redoes the last undone edit.
    pub fn redo(&mut self) -> Result<(), String> {
        let Some(s) = self.redo.pop() else { return Ok(()) };
        match self.apply(s.clone(), false) {
            Ok(()) => {
                self.undo.push(s);
                Ok(())
            }
            Err(e) => {
                self.redo.push(s);
                Err(e)
            }
        }
    }
}

/// Calls `rename` on the label id a change names.
fn rename_in(c: &mut Change, rename: &impl Fn(&mut String)) {
    match c {
        Change::Add { label } | Change::Update { label } => rename(&mut label.id),
        Change::Delete { id, .. } => rename(id),
        Change::Edit { .. } => {}
    }
}

/// What the saver thread reports for each edit: its session, and done or
/// why not with the annotations on disk (read back on the saver thread, not
/// the UI's).
type Saved = (PathBuf, Result<Vec<(String, String)>, (String, Option<Annotations>)>);

/// The `annotations` thread: edits in, one [`Saved`] out per edit.
pub struct Saver {
    tx: Sender<(PathBuf, Change)>,
    rx: Receiver<Saved>,
}

impl Saver {
    /// Starts the thread; `wake` is called after each save (the UI repaints).
    pub fn start(wake: impl Fn() + Send + 'static) -> std::io::Result<Self> {
        let (tx, rx) = bounded::<(PathBuf, Change)>(256);
        let (done_tx, done_rx) = bounded::<Saved>(256);
        std::thread::Builder::new().name("annotations".into()).spawn(move || {
            // Every draft saved in this process (draft ids are never reused).
            let mut numbered = HashMap::new();
            for (dir, change) in rx {
                let r = labels::commit_drafts(&dir, &[change], &mut numbered)
                    .map(|(_, new)| new)
                    .map_err(|e| (e.to_string(), labels::load(&dir).ok()));
                if done_tx.send((dir, r)).is_err() {
                    return;
                }
                wake();
            }
        })?;
        Ok(Self { tx, rx: done_rx })
    }

    /// Hands the queued edits of the session in `dir` to the thread, as many
    /// as it takes now (the rest on the next call).
    pub fn send(&self, dir: &Path, edits: &mut Edits) {
        self.hand_over(dir, edits, false);
    }

    /// Hands every queued edit over, waiting for room: before the session
    /// is closed, so none is dropped with it.
    pub fn flush(&self, dir: &Path, edits: &mut Edits) {
        self.hand_over(dir, edits, true);
    }

    fn hand_over(&self, dir: &Path, edits: &mut Edits, wait: bool) {
        while let Some(c) = edits.next_unsaved() {
            let job = (dir.to_path_buf(), c.clone());
            let taken = if wait { self.tx.send(job).is_ok() } else { self.tx.try_send(job).is_ok() };
            if !taken {
                return;
            }
            edits.mark_sent();
        }
    }

    /// Takes the thread's results into the open session's `edits`; returns
    /// the last error. Results for a session closed since only report errors.
    pub fn receive(&self, mut open: Option<(&Path, &mut Edits)>) -> Option<String> {
        let mut error = None;
        for (dir, r) in self.rx.try_iter() {
            match open.as_mut().filter(|(d, _)| *d == dir) {
                Some((_, edits)) => {
                    let (result, on_disk) = match r {
                        Ok(new) => (Ok(new), None),
                        Err((e, a)) => (Err(e), a),
                    };
                    error = edits.saved(result, on_disk).or(error);
                }
                None => {
                    if let Err((e, _)) = r {
                        error = Some(format!("{}: {e}", dir.display()));
                    }
                }
            }
        }
        error
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    const AT: &str = "2026-12-01T00:00:00.000Z";

    fn vocab() -> LabelVocabulary {
        LabelVocabulary { steps: vec!["tack".into(), "root pass".into()], defects: vec!["porosity".into()], ..Default::default() }
    }

    fn edits() -> Edits {
        Edits::new(Annotations::default(), vocab())
    }

    fn drain(e: &mut Edits) -> Vec<Change> {
        let mut out = Vec::new();
        while let Some(c) = e.next_unsaved().cloned() {
            e.mark_sent();
            out.push(c);
        }
        out
    }

    fn segment(id: u32, text: &str) -> Segment {
        Segment { segment_id: id, start_ns: 1_000, end_ns: 2_000, text: text.into(), ..Segment::default() }
    }

    #[test]
    fn add_undo_redo_queue_each_change_and_restore_the_state() {
        let mut e = edits();
        let id = e.add_label("step", "tack", (2_000, 1_000), "kim", AT).unwrap();
        assert!(labels::is_draft(&id), "{id}: numbered when saved");
        let l = e.label(&id).unwrap();
        assert_eq!((l.start_ns, l.end_ns, l.value.as_str()), (1_000, 2_000, "tack"), "span in either order");
        assert!(e.can_undo() && !e.can_redo());
        e.undo().unwrap();
        assert!(e.annotations().labels.is_empty());
        assert!(!e.can_undo() && e.can_redo());
        e.redo().unwrap();
        assert_eq!(e.annotations().labels.len(), 1);
        let sent = drain(&mut e);
        assert!(
            matches!(
                sent.as_slice(),
                [Change::Add { .. }, Change::Delete { id: d, .. }, Change::Add { label }] if *d == id && label.id == id
            ),
            "{sent:?}"
        );
        assert_eq!(e.pending(), 3);
        for _ in 0..3 {
            assert_eq!(e.saved(Ok(Vec::new()), None), None);
        }
        assert_eq!(e.pending(), 0);
        // A new edit after an undo drops the redo branch.
        e.undo().unwrap();
        e.add_label("defect", "porosity", (5, 5), "kim", AT).unwrap();
        assert!(!e.can_redo());
        assert_eq!(e.annotations().labels.len(), 1);
        assert_ne!(e.annotations().labels[0].id, id, "a deleted id is not reused");
    }

    #[test]
    fn a_value_outside_the_vocabulary_changes_nothing() {
        let mut e = edits();
        let err = e.add_label("step", "grind", (0, 10), "kim", AT).unwrap_err();
        assert!(err.contains("grind"), "{err}");
        assert!(e.annotations().labels.is_empty());
        assert_eq!((e.pending(), e.can_undo()), (0, false));
    }

    #[test]
    fn update_and_delete_are_undone_to_the_label_as_it_was() {
        let mut e = edits();
        let id = e.add_label("step", "tack", (0, 100), "kim", AT).unwrap();
        let mut changed = e.label(&id).unwrap().clone();
        e.update_label(changed.clone(), "later").unwrap();
        assert_eq!(e.pending(), 1, "an unchanged label is not an edit");
        changed.value = "root pass".into();
        e.update_label(changed, "later").unwrap();
        assert_eq!(e.label(&id).unwrap().value, "root pass");
        assert_eq!(e.label(&id).unwrap().updated_at_utc, "later");
        e.delete_label(&id, "lee", AT).unwrap();
        assert!(e.label(&id).is_none());
        e.undo().unwrap();
        assert_eq!(e.label(&id).unwrap().value, "root pass");
        e.undo().unwrap();
        assert_eq!(e.label(&id).unwrap().value, "tack");
        assert!(e.delete_label("l-9999", "lee", AT).is_err());
    }

    #[test]
    fn a_drag_is_shown_at_once_and_saved_as_one_edit() {
        let mut e = edits();
        let id = e.add_label("step", "tack", (100, 200), "kim", AT).unwrap();
        drain(&mut e);
        let before = e.label(&id).unwrap().clone();
        for t in [150, 180, 250] {
            e.drag_edge(&id, false, t);
        }
        e.drag_edge(&id, true, 400); // the start never passes the end
        assert_eq!((e.label(&id).unwrap().start_ns, e.label(&id).unwrap().end_ns), (250, 250));
        assert!(e.next_unsaved().is_none(), "nothing saved while dragging");
        e.end_drag(before, AT).unwrap();
        assert!(matches!(drain(&mut e).as_slice(), [Change::Update { label }] if label.start_ns == 250 && label.end_ns == 250));
        e.undo().unwrap();
        assert_eq!((e.label(&id).unwrap().start_ns, e.label(&id).unwrap().end_ns), (100, 200));
    }

    #[test]
    fn transcript_edits_keep_the_original_and_undo_to_the_text_before() {
        let mut e = edits();
        let seg = segment(3, " two hundred amps ");
        e.edit_segment(&seg, "two hundred amps", "kim", AT).unwrap();
        assert_eq!(e.pending(), 0, "the same text is not an edit");
        e.edit_segment(&seg, "200 A", "kim", AT).unwrap();
        e.edit_segment(&seg, "210 A", "kim", AT).unwrap();
        assert_eq!(e.annotations().edited_text(3, 1_000), Some("210 A"));
        e.undo().unwrap();
        assert_eq!(e.annotations().edited_text(3, 1_000), Some("200 A"));
        let sent = drain(&mut e);
        assert!(sent.iter().all(|c| matches!(c, Change::Edit { edit } if edit.original == "two hundred amps")), "{sent:?}");
    }

    #[test]
    fn a_failed_save_shows_the_disk_again_with_the_queued_edits_on_top() {
        let mut e = edits();
        let a = e.add_label("step", "tack", (0, 1), "kim", AT).unwrap();
        e.mark_sent();
        let b = e.add_label("step", "root pass", (2, 3), "kim", AT).unwrap();
        assert_eq!(e.pending(), 2);
        // The first save failed; the disk has no labels.
        let err = e.saved(Err("disk full".into()), Some(Annotations::default()));
        assert_eq!(err.as_deref(), Some("disk full"));
        assert!(e.label(&a).is_none());
        assert!(e.label(&b).is_some(), "the queued edit is still shown and will be saved");
        assert_eq!(e.pending(), 1);
        assert!(!e.can_undo());
    }

    /// Saves every queued edit through the saver; the last error, if any.
    fn save_all(saver: &Saver, dir: &Path, e: &mut Edits) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut error = None;
        while e.pending() > 0 && Instant::now() < deadline {
            saver.send(dir, e);
            error = saver.receive(Some((dir, e))).or(error);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(e.pending(), 0);
        error
    }

    /// Review holds a new label on screen while `tacit label add` adds one
    /// to the same session: both are saved, under different ids, and Review
    /// follows the id its label was saved under (selection, undo, edits).
    #[test]
    fn a_label_added_elsewhere_meanwhile_takes_no_id_from_review() {
        let dir = tempfile::tempdir().unwrap();
        let saver = Saver::start(|| {}).unwrap();
        let mut e = Edits::new(labels::load(dir.path()).unwrap(), vocab());
        let mine = e.add_label("step", "tack", (0, 1_000), "kim", AT).unwrap();
        let cli = LabelSegment::draft("draft".into(), "defect", "porosity", (500, 500), "lee", AT);
        assert_eq!(labels::add(dir.path(), vec![cli]).unwrap(), [labels::label_id(1)]);
        // An update of the new label queued before its add is saved.
        let mut changed = e.label(&mine).unwrap().clone();
        changed.value = "root pass".into();
        e.update_label(changed, AT).unwrap();
        assert_eq!(save_all(&saver, dir.path(), &mut e), None);
        let saved = e.current_id(&mine).to_string();
        assert_eq!(saved, labels::label_id(2));
        assert_eq!(e.label(&mine).map(|l| l.value.as_str()), Some("root pass"), "the draft id still finds it");
        let on_disk = labels::load(dir.path()).unwrap();
        let mut ids: Vec<&str> = on_disk.labels.iter().map(|l| l.id.as_str()).collect();
        ids.sort_unstable();
        assert_eq!(ids, ["l-0001", "l-0002"]);
        // Review shows its label and, once reloaded, the other one too.
        assert_eq!(e.annotations().labels.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(), ["l-0002"]);
        // Undo (update, then add) reaches the saved label.
        e.undo().unwrap();
        e.undo().unwrap();
        assert_eq!(save_all(&saver, dir.path(), &mut e), None);
        let ids: Vec<String> = labels::load(dir.path()).unwrap().labels.into_iter().map(|l| l.id).collect();
        assert_eq!(ids, ["l-0001"]);
        e.redo().unwrap();
        assert_eq!(save_all(&saver, dir.path(), &mut e), None);
        assert!(labels::load(dir.path()).unwrap().labels.iter().any(|l| l.id == saved && l.value == "tack"));
    }

    /// The real path: the saver thread commits to a session folder, and what
    /// is on disk equals what Review shows.
    #[test]
    fn the_saver_writes_what_is_shown() {
        let dir = tempfile::tempdir().unwrap();
        let saver = Saver::start(|| {}).unwrap();
        let mut e = Edits::new(labels::load(dir.path()).unwrap(), vocab());
        let id = e.add_label("step", "tack", (0, 1_000), "kim", AT).unwrap();
        e.edit_segment(&segment(0, "tree point two"), "3.2", "kim", AT).unwrap();
        e.add_label("defect", "porosity", (500, 500), "kim", AT).unwrap();
        e.delete_label(&id, "kim", AT).unwrap();
        e.undo().unwrap();
        assert_eq!(save_all(&saver, dir.path(), &mut e), None);
        assert_eq!(&labels::load(dir.path()).unwrap(), e.annotations());
        // An edit the disk refuses (the label is gone there) comes back as an
        // error with the annotations on disk.
        std::fs::remove_file(dir.path().join(tacit_session::layout::ANNOTATIONS)).unwrap();
        std::fs::remove_file(dir.path().join(tacit_session::layout::ANNOTATIONS_LOG)).unwrap();
        e.delete_label(&id, "kim", AT).unwrap();
        assert!(save_all(&saver, dir.path(), &mut e).is_some());
        assert_eq!(e.annotations(), &labels::load(dir.path()).unwrap());
        assert!(e.annotations().labels.is_empty());
    }
}
