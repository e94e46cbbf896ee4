//! A session's annotations: `annotations.json` (the current state,
//! replaced atomically) and `annotations.log.jsonl` (every change, appended
//! and fsynced first), so no edit is ever lost and the state rebuilds from
//! the log. The model and its rules are `tacit_schema::labels`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;

use tacit_schema::labels::{Annotations, Change, LabelError, LabelSegment, ANNOTATIONS_VERSION};

use crate::layout::{ANNOTATIONS, ANNOTATIONS_LOG};
use crate::lock::UpdateLock;
use crate::{write_atomic, SessionError};

/// The number of the next free label id (`l-0001`, `l-0002`, …), counting
/// ids in the log too so a deleted id is never reused: the one allocator of
/// label ids ([`add`] numbers under the lock with it).
pub fn next_number(dir: &Path, state: &Annotations) -> usize {
    let from_log = read_log(dir).map(|c| c.len()).unwrap_or(0);
    let max_here = state.labels.iter().filter_map(|l| l.id.strip_prefix("l-")?.parse::<usize>().ok()).max().unwrap_or(0);
    max_here.max(from_log) + 1
}

/// Label id number `n` as written (`l-0007`).
pub fn label_id(n: usize) -> String {
    format!("l-{n:04}")
}

/// Now, as label and edit times are written (RFC 3339 UTC, milliseconds).
pub fn now_utc() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Who makes an edit: `given`, else the login name (`$USER`), else `unknown`.
pub fn author(given: Option<String>) -> String {
    given.or_else(|| std::env::var("USER").ok()).filter(|s| !s.trim().is_empty()).unwrap_or_else(|| "unknown".into())
}

fn io(action: &'static str, path: &Path, cause: std::io::Error) -> LabelError {
    LabelError::Io { action, path: path.display().to_string(), cause }
}

/// Reads `annotations.json` (empty when the session has none yet).
pub fn load(dir: &Path) -> Result<Annotations, LabelError> {
    let path = dir.join(ANNOTATIONS);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Annotations { format_version: ANNOTATIONS_VERSION, ..Annotations::default() })
        }
        Err(e) => return Err(io("read", &path, e)),
    };
    let a: Annotations = serde_json::from_str(&text).map_err(|e| LabelError::Malformed {
        path: path.display().to_string(),
        line: e.line(),
        message: format!("{e}; `tacit label rebuild` restores it from {ANNOTATIONS_LOG}"),
    })?;
    if a.format_version > ANNOTATIONS_VERSION {
        return Err(LabelError::Malformed {
            path: path.display().to_string(),
            line: 1,
            message: format!("format_version {} is newer than this tacit understands ({ANNOTATIONS_VERSION})", a.format_version),
        });
    }
    Ok(a)
}

/// Reads every change in the log, in order.
pub fn read_log(dir: &Path) -> Result<Vec<Change>, LabelError> {
    let path = dir.join(ANNOTATIONS_LOG);
    match std::fs::File::open(&path) {
        Ok(f) => decode_log(f).map_err(|e| match e {
            LogError::Io(e) => io("read", &path, e),
            LogError::Line { line, message } => LabelError::Malformed { path: path.display().to_string(), line, message },
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io("read", &path, e)),
    }
}

/// Why [`decode_log`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The bytes could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A line that is not a change (and not a torn last line).
    #[error("line {line}: {message}")]
    Line {
        /// Its number, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

/// Writes changes as the log stores them: one JSON object per line.
///
/// # Example
///
/// ```
/// use tacit_schema::labels::{Change, LabelSegment};
/// use tacit_session::labels::{decode_log, encode_log};
/// let label = LabelSegment::draft("l-0001".into(), "step", "가접", (0, 2_000_000_000), "kim", "2026-12-01T09:00:00Z");
/// let changes = vec![
///     Change::Add { label },
///     Change::Delete { id: "l-0001".into(), author: "lee".into(), at_utc: "2026-12-01T09:05:00Z".into() },
/// ];
/// let mut log = Vec::new();
/// encode_log(&changes, &mut log).unwrap();
/// assert_eq!(decode_log(log.as_slice()).unwrap(), changes);
/// // A power cut in the middle of an append leaves a torn last line, which is skipped.
/// log.extend_from_slice(br#"{"op":"add","lab"#);
/// assert_eq!(decode_log(log.as_slice()).unwrap(), changes);
/// ```
pub fn encode_log(changes: &[Change], mut out: impl Write) -> std::io::Result<()> {
    let mut buf = String::new();
    for c in changes {
        buf.push_str(&serde_json::to_string(c).map_err(std::io::Error::other)?);
        buf.push('\n');
    }
    out.write_all(buf.as_bytes())
}

/// Reads a log written by [`encode_log`]: every change in order; a torn
/// last line (no newline after it) is skipped, any other bad line is an error.
pub fn decode_log(mut input: impl Read) -> Result<Vec<Change>, LogError> {
    let mut text = String::new();
    input.read_to_string(&mut text)?;
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Change>(line) {
            Ok(c) => out.push(c),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(e) => return Err(LogError::Line { line: i + 1, message: e.to_string() }),
        }
    }
    Ok(out)
}

/// Applies changes to the session: under the annotations lock, each is
/// checked against the current state, appended to the log (fsynced), then
/// the state file is replaced. All or nothing: if any change is refused,
/// nothing is written. Two processes committing at once keep both.
pub fn commit(dir: &Path, changes: &[Change]) -> Result<Annotations, LabelError> {
    commit_with(dir, |_, _| Ok(changes.to_vec()))
}

/// Adds new labels, numbering them under the annotations lock: each draft's
/// id is replaced by the next free one, so two processes adding at once
/// never pick the same id. Returns the ids in the drafts' order. All or
/// nothing, like [`commit`].
pub fn add(dir: &Path, drafts: Vec<LabelSegment>) -> Result<Vec<String>, LabelError> {
    let mut ids = Vec::new();
    commit_with(dir, |_, first| {
        ids.clear();
        Ok(drafts
            .iter()
            .enumerate()
            .map(|(i, label)| {
                let label = LabelSegment { id: label_id(first + i), ..label.clone() };
                ids.push(label.id.clone());
                Change::Add { label }
            })
            .collect())
    })?;
    Ok(ids)
}

/// How an editor names a label it made before the label reached the disk
/// (`draft-7`): never a saved id (those are `l-NNNN`), so an editor that
/// numbers its own new labels cannot collide with another process.
pub fn draft_id(n: u64) -> String {
    format!("{DRAFT_PREFIX}{n}")
}

const DRAFT_PREFIX: &str = "draft-";

/// `id` names a label not numbered yet ([`draft_id`]).
pub fn is_draft(id: &str) -> bool {
    id.starts_with(DRAFT_PREFIX)
}

/// [`commit`] for an editor that keeps labels on screen before they are
/// saved (Review): an `Add` whose id is a draft id gets the next free id
/// under the lock, recorded in `numbered` (draft → saved id); an update or
/// delete naming a draft id is written with the id `numbered` gave it.
/// `numbered` is kept by the caller across commits, since an edit of a
/// new label can follow its add before the editor learns the saved id.
/// Returns the state and the drafts numbered by this commit.
pub fn commit_drafts(
    dir: &Path,
    changes: &[Change],
    numbered: &mut HashMap<String, String>,
) -> Result<(Annotations, Vec<(String, String)>), LabelError> {
    let mut new: Vec<(String, String)> = Vec::new();
    let state = commit_with(dir, |_, first| {
        // Made again from scratch when a store commit is redone.
        new.clear();
        let mut next = first;
        let mut out = Vec::with_capacity(changes.len());
        for c in changes {
            let mut c = c.clone();
            let is_add = matches!(c, Change::Add { .. });
            let id = match &mut c {
                Change::Add { label } | Change::Update { label } => &mut label.id,
                Change::Delete { id, .. } => id,
                Change::Edit { .. } => {
                    out.push(c);
                    continue;
                }
            };
            if is_draft(id) {
                let known =
                    numbered.get(id.as_str()).or_else(|| new.iter().find(|(d, _)| d.as_str() == id.as_str()).map(|(_, s)| s)).cloned();
                let saved = match known {
                    Some(saved) => saved,
                    None if is_add => {
                        let saved = label_id(next);
                        next += 1;
                        new.push((id.clone(), saved.clone()));
                        saved
                    }
                    None => return Err(LabelError::Invalid(format!("no label {id}: its add was never saved"))),
                };
                *id = saved;
            }
            out.push(c);
        }
        Ok(out)
    })?;
    numbered.extend(new.iter().cloned());
    Ok((state, new))
}

/// [`commit`] with the changes made under the lock from the current state
/// and the next free label number. On a session checked out of the site
/// store, the commit goes to the store ([`crate::store::annotations`]),
/// where `make` may run again when another trainer committed first.
fn commit_with(
    dir: &Path,
    mut make: impl FnMut(&Annotations, usize) -> Result<Vec<Change>, LabelError>,
) -> Result<Annotations, LabelError> {
    if let Some(checkout) = crate::store::remote::checkout_of(dir) {
        return crate::store::annotations::commit(&checkout, &mut make);
    }
    let _lock = UpdateLock::annotations(dir).map_err(store_error)?;
    let mut state = load(dir)?;
    let changes = make(&state, next_number(dir, &state))?;
    for c in &changes {
        state.apply(c)?;
    }
    let log = dir.join(ANNOTATIONS_LOG);
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&log).map_err(|e| io("open", &log, e))?;
    encode_log(&changes, &mut f).map_err(|e| io("append to", &log, e))?;
    f.sync_all().map_err(|e| io("sync", &log, e))?;
    save(dir, &state)?;
    Ok(state)
}

fn save(dir: &Path, state: &Annotations) -> Result<(), LabelError> {
    let path = dir.join(ANNOTATIONS);
    let text = serde_json::to_string_pretty(state).unwrap_or_default() + "\n";
    write_atomic(&path, text.as_bytes()).map_err(store_error)
}

fn store_error(e: SessionError) -> LabelError {
    match e {
        SessionError::Io { action, path, cause } => io(action, &path, cause),
        other => LabelError::Invalid(other.to_string()),
    }
}

/// Rebuilds `annotations.json` from the log (after the state file was lost
/// or damaged) and writes it.
pub fn rebuild(dir: &Path) -> Result<Annotations, LabelError> {
    if let Some(checkout) = crate::store::remote::checkout_of(dir) {
        return crate::store::annotations::rebuild(&checkout);
    }
    let _lock = UpdateLock::annotations(dir).map_err(store_error)?;
    let mut state = Annotations { format_version: ANNOTATIONS_VERSION, ..Annotations::default() };
    for (i, c) in read_log(dir)?.iter().enumerate() {
        state.apply(c).map_err(|e| LabelError::Malformed {
            path: dir.join(ANNOTATIONS_LOG).display().to_string(),
            line: i + 1,
            message: e.to_string(),
        })?;
    }
    save(dir, &state)?;
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tacit_schema::labels::{LabelSegment, ReviewStatus, TranscriptEdit};

    fn label(id: &str, tier: &str, value: &str, s: i64, e: i64) -> LabelSegment {
        LabelSegment::draft(id.into(), tier, value, (s, e), "kim", "2026-11-28T00:00:00Z")
    }

    #[test]
    fn two_editors_committing_at_once_keep_every_change() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // The app and `tacit label` on one session, each adding labels
        // with ids of its own.
        std::thread::scope(|s| {
            for who in 0..2 {
                std::thread::Builder::new()
                    .name(format!("editor-{who}"))
                    .spawn_scoped(s, move || {
                        for i in 0..100 {
                            let id = format!("l-{who}{i:03}");
                            commit(dir, &[Change::Add { label: label(&id, "step", "tack", i, i + 1) }]).unwrap();
                        }
                    })
                    .unwrap();
            }
        });
        assert_eq!(load(dir).unwrap().labels.len(), 200);
        assert_eq!(read_log(dir).unwrap().len(), 200);
    }

    #[test]
    fn labels_added_at_once_get_distinct_ids() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        // Two `tacit label add/import` at once: ids are numbered under the
        // lock, so neither is refused for a duplicate id.
        let mut ids: Vec<String> = std::thread::scope(|s| {
            let editors: Vec<_> = (0..2)
                .map(|who| {
                    std::thread::Builder::new()
                        .name(format!("adder-{who}"))
                        .spawn_scoped(s, move || {
                            (0..50)
                                .flat_map(|i| {
                                    add(dir, vec![label("draft", "step", "tack", i, i + 1), label("draft", "defect", "porosity", i, i)])
                                        .unwrap()
                                })
                                .collect::<Vec<_>>()
                        })
                        .unwrap()
                })
                .collect();
            editors.into_iter().flat_map(|e| e.join().unwrap()).collect()
        });
        assert_eq!(load(dir).unwrap().labels.len(), 200);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 200);
        assert_eq!(ids.first().map(String::as_str), Some("l-0001"));
        assert_eq!(ids.last().map(String::as_str), Some("l-0200"));
    }

    #[test]
    fn drafts_are_numbered_under_the_lock_and_their_edits_follow() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut numbered = HashMap::new();
        // Review made draft-1 on screen; meanwhile `tacit label add` took l-0001.
        add(dir, vec![label("draft", "defect", "porosity", 5, 5)]).unwrap();
        let d = draft_id(1);
        let (_, new) = commit_drafts(dir, &[Change::Add { label: label(&d, "step", "tack", 0, 10) }], &mut numbered).unwrap();
        assert_eq!(new, [(d.clone(), "l-0002".to_string())]);
        assert_eq!(numbered.get(&d).map(String::as_str), Some("l-0002"));
        // An update and a delete sent before Review learned the saved id.
        let mut upd = label(&d, "step", "root pass", 0, 10);
        upd.status = ReviewStatus::Reviewed;
        let (s, new) = commit_drafts(dir, &[Change::Update { label: upd }], &mut numbered).unwrap();
        assert!(new.is_empty());
        assert_eq!(s.labels.iter().find(|l| l.id == "l-0002").map(|l| l.value.as_str()), Some("root pass"));
        // Several drafts in one batch, one of them deleted in the same batch.
        let (a, b) = (draft_id(2), draft_id(3));
        let batch = [
            Change::Add { label: label(&a, "step", "tack", 20, 30) },
            Change::Add { label: label(&b, "step", "tack", 40, 50) },
            Change::Delete { id: a.clone(), author: "kim".into(), at_utc: "x".into() },
            Change::Delete { id: d.clone(), author: "kim".into(), at_utc: "x".into() },
        ];
        let (s, _) = commit_drafts(dir, &batch, &mut numbered).unwrap();
        let ids: Vec<&str> = s.labels.iter().map(|l| l.id.as_str()).collect();
        // Numbers count the log's changes (three so far), so none is reused.
        assert_eq!(ids, ["l-0001", "l-0005"]);
        assert_eq!((numbered[&a].as_str(), numbered[&b].as_str()), ("l-0004", "l-0005"));
        assert!(read_log(dir).unwrap().iter().all(|c| !matches!(c, Change::Add { label } if is_draft(&label.id))), "no draft id on disk");
        // An edit of a draft that never reached the disk is refused, and nothing is written.
        let err = commit_drafts(dir, &[Change::Delete { id: draft_id(9), author: "kim".into(), at_utc: "x".into() }], &mut numbered);
        assert!(err.unwrap_err().to_string().contains("draft-9"));
        assert_eq!(load(dir).unwrap(), s);
    }

    #[test]
    fn changes_are_logged_and_the_state_rebuilds_from_the_log() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let s = commit(&dir, &[Change::Add { label: label("l-0001", "step", "tack", 2_000, 5_000) }]).unwrap();
        assert_eq!(label_id(next_number(&dir, &s)), "l-0002");
        commit(&dir, &[Change::Add { label: label("l-0002", "step", "root pass", 0, 1_000) }]).unwrap();
        let mut upd = label("l-0001", "step", "tack", 2_000, 6_000);
        upd.status = ReviewStatus::Reviewed;
        commit(&dir, &[Change::Update { label: upd.clone() }]).unwrap();
        commit(&dir, &[Change::Delete { id: "l-0002".into(), author: "kim".into(), at_utc: "x".into() }]).unwrap();
        // A refused change writes nothing.
        let bad = label("l-0003", "step", "tack", 10, 5);
        assert!(commit(&dir, &[Change::Add { label: bad }]).is_err());
        assert_eq!(read_log(&dir).unwrap().len(), 4);
        let now = load(&dir).unwrap();
        assert_eq!(now.labels, vec![upd]);
        assert_eq!(label_id(next_number(&dir, &now)), "l-0005"); // deleted ids are not reused
        std::fs::write(dir.join(ANNOTATIONS), "{ torn").unwrap();
        assert!(load(&dir).unwrap_err().to_string().contains("tacit label rebuild"));
        assert_eq!(rebuild(&dir).unwrap(), now);
        // A torn last log line is ignored.
        let mut f = std::fs::OpenOptions::new().append(true).open(dir.join(ANNOTATIONS_LOG)).unwrap();
        f.write_all(b"{\"op\":\"add\",\"lab").unwrap();
        assert_eq!(read_log(&dir).unwrap().len(), 4);
    }

    #[test]
    fn transcript_edits_keep_the_machine_text_and_the_latest_correction() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let edit = |text: &str| TranscriptEdit {
            segment_id: 3,
            start_ns: 2_000_000_000,
            original: "keyhole sighs".into(),
            text: text.into(),
            author: "kim".into(),
            at_utc: "2026-11-28T10:00:00Z".into(),
        };
        commit(&dir, &[Change::Edit { edit: edit("keyhole size") }]).unwrap();
        let s = commit(&dir, &[Change::Edit { edit: edit("키홀 크기") }]).unwrap();
        assert_eq!(s.transcript_edits.len(), 1);
        assert_eq!(s.edited_text(3, 2_000_000_000), Some("키홀 크기"));
        assert_eq!(s.edited_text(3, 2_500_000_000), None);
        assert_eq!(s.transcript_edits[0].original, "keyhole sighs");
        assert_eq!(s.edited_text(4, 2_000_000_000), None);
        assert_eq!(load(&dir).unwrap(), s);
        assert_eq!(rebuild(&dir).unwrap(), s);
        // Back to the machine text: no edit left.
        let s = commit(&dir, &[Change::Edit { edit: edit("keyhole sighs") }]).unwrap();
        assert!(s.transcript_edits.is_empty());
        assert!(!std::fs::read_to_string(dir.join(ANNOTATIONS)).unwrap().contains("transcript_edits"));
        assert_eq!(read_log(&dir).unwrap().len(), 3);
    }
}
