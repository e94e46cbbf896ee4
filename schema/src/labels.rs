//! The annotation model the trainer edits (desktop app, `tacit label`) and
//! the exporters join onto frames.
//!
//! A session's labels live in `annotations.json` (the current state,
//! replaced atomically) and every change is first appended to
//! `annotations.log.jsonl` (one JSON object per line, fsynced), so no edit
//! is ever lost and the state can be rebuilt from the log with [`rebuild`].

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::profile::LabelVocabulary;

/// The current state file.
pub const ANNOTATIONS_FILE: &str = "annotations.json";
/// The append-only change log.
pub const LOG_FILE: &str = "annotations.log.jsonl";
/// Format version of `annotations.json`.
pub const ANNOTATIONS_VERSION: u32 = 1;

/// The built-in tiers; a profile may declare more under `[labels.tiers]`.
pub const BUILTIN_TIERS: [&str; 4] = ["step", "defect", "quality", "note"];

/// Where a label is in review.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewStatus {
    /// Proposed, not yet checked by a trainer.
    #[default]
    Draft,
    /// Checked and accepted.
    Reviewed,
    /// Checked and rejected (kept for the record, not exported as truth).
    Rejected,
}

impl ReviewStatus {
    /// Parses `draft`, `reviewed` or `rejected`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "draft" => Some(Self::Draft),
            "reviewed" => Some(Self::Reviewed),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Reviewed => "reviewed",
            Self::Rejected => "rejected",
        }
    }
}

/// One labeled span (or point, when `start_ns == end_ns`) of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSegment {
    /// Unique within the session (`l-0001`, …).
    pub id: String,
    /// `step`, `defect`, `quality`, `note`, or a tier the profile declares.
    pub tier: String,
    /// A value from the tier's vocabulary (free text on `note`).
    pub value: String,
    /// Session time, ns.
    pub start_ns: i64,
    /// Session time, ns (≥ `start_ns`).
    pub end_ns: i64,
    /// Who made it.
    pub author: String,
    /// RFC 3339 UTC.
    pub created_at_utc: String,
    /// RFC 3339 UTC.
    pub updated_at_utc: String,
    /// Review status.
    pub status: ReviewStatus,
}

impl LabelSegment {
    /// True if the label covers session time `t_ns` (a point label covers
    /// its instant only; a span is `[start, end)`).
    pub fn covers(&self, t_ns: i64) -> bool {
        if self.start_ns == self.end_ns {
            t_ns == self.start_ns
        } else {
            self.start_ns <= t_ns && t_ns < self.end_ns
        }
    }
}

/// `annotations.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Annotations {
    /// [`ANNOTATIONS_VERSION`].
    pub format_version: u32,
    /// Labels sorted by (start, tier, id).
    pub labels: Vec<LabelSegment>,
    /// The trainer's corrections of transcript segments, one per segment
    /// (the latest), sorted by segment id. The machine text stays in
    /// `transcript.parquet`; exports use the corrected text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transcript_edits: Vec<TranscriptEdit>,
}

/// A trainer's correction of one transcript segment's text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TranscriptEdit {
    /// `segment_id` in `transcript.parquet`.
    pub segment_id: u32,
    /// The segment's start, session time (to find it again if the session
    /// is transcribed anew).
    pub start_ns: i64,
    /// The machine text the edit replaces (kept, never overwritten).
    pub original: String,
    /// The corrected text.
    pub text: String,
    /// Who corrected it.
    pub author: String,
    /// When, RFC 3339 UTC.
    pub at_utc: String,
}

/// One line of `annotations.log.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Change {
    /// A new label.
    Add {
        /// The label.
        label: LabelSegment,
    },
    /// A label replaced (same id).
    Update {
        /// The label as it is now.
        label: LabelSegment,
    },
    /// A transcript segment's text corrected (replaces an earlier edit of
    /// the same segment; an edit back to the original text removes it).
    Edit {
        /// The correction.
        edit: TranscriptEdit,
    },
    /// A label removed.
    Delete {
        /// Its id.
        id: String,
        /// Who removed it.
        author: String,
        /// When, RFC 3339 UTC.
        at_utc: String,
    },
}

/// Why a label or an annotations file was refused.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The tier is not one the station knows.
    #[error("unknown tier {tier:?}; this station's tiers are: {allowed}")]
    UnknownTier {
        /// What was given.
        tier: String,
        /// Comma-separated list.
        allowed: String,
    },
    /// The value is not in the tier's vocabulary.
    #[error("{value:?} is not a {tier} in this station's vocabulary; allowed: {allowed}")]
    NotInVocabulary {
        /// Tier.
        tier: String,
        /// What was given.
        value: String,
        /// Comma-separated list.
        allowed: String,
    },
    /// Bad times, empty value, duplicate or unknown id.
    #[error("{0}")]
    Invalid(String),
    /// The file could not be read or written.
    #[error("cannot {action} {path}: {cause}")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The file.
        path: String,
        /// The OS error.
        cause: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape.
    #[error("{path} line {line}: {message}")]
    Malformed {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl LabelVocabulary {
    /// Every tier, built-in first, then the profile's own (sorted).
    pub fn tier_names(&self) -> Vec<String> {
        let mut out: Vec<String> = BUILTIN_TIERS.iter().map(|s| s.to_string()).collect();
        out.extend(self.tiers.keys().filter(|k| !BUILTIN_TIERS.contains(&k.as_str())).cloned());
        out
    }

    /// The values a tier allows; `None` for free text (`note`, or a built-in
    /// tier the profile left empty).
    pub fn allowed(&self, tier: &str) -> Result<Option<&[String]>, LabelError> {
        let list: &[String] = match tier {
            "step" => &self.steps,
            "defect" => &self.defects,
            "quality" => &self.quality,
            "note" => return Ok(None),
            other => match self.tiers.get(other) {
                Some(v) => v,
                None => return Err(LabelError::UnknownTier { tier: tier.to_string(), allowed: self.tier_names().join(", ") }),
            },
        };
        Ok(if list.is_empty() { None } else { Some(list) })
    }

    /// Checks a label's tier and value.
    pub fn check(&self, tier: &str, value: &str) -> Result<(), LabelError> {
        if value.trim().is_empty() {
            return Err(LabelError::Invalid(format!("the {tier} label has no value")));
        }
        match self.allowed(tier)? {
            Some(list) if !list.iter().any(|v| v == value) => Err(LabelError::NotInVocabulary {
                tier: tier.to_string(),
                value: value.to_string(),
                allowed: list.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(", "),
            }),
            _ => Ok(()),
        }
    }
}

impl Annotations {
    /// Applies one change in memory (after checking it).
    pub fn apply(&mut self, change: &Change) -> Result<(), LabelError> {
        match change {
            Change::Add { label } => {
                check_times(label)?;
                if self.labels.iter().any(|l| l.id == label.id) {
                    return Err(LabelError::Invalid(format!("a label with id {} exists already", label.id)));
                }
                self.labels.push(label.clone());
            }
            Change::Update { label } => {
                check_times(label)?;
                let Some(slot) = self.labels.iter_mut().find(|l| l.id == label.id) else {
                    return Err(LabelError::Invalid(format!("no label with id {}", label.id)));
                };
                *slot = label.clone();
            }
            Change::Edit { edit } => {
                self.transcript_edits.retain(|e| e.segment_id != edit.segment_id);
                if edit.text != edit.original {
                    self.transcript_edits.push(edit.clone());
                    self.transcript_edits.sort_by_key(|e| e.segment_id);
                }
                return Ok(());
            }
            Change::Delete { id, .. } => {
                let before = self.labels.len();
                self.labels.retain(|l| &l.id != id);
                if self.labels.len() == before {
                    return Err(LabelError::Invalid(format!("no label with id {id}")));
                }
            }
        }
        self.labels.sort_by(|a, b| (a.start_ns, &a.tier, &a.id).cmp(&(b.start_ns, &b.tier, &b.id)));
        Ok(())
    }

    /// The next free id (`l-0001`, `l-0002`, …), counting ids in the log too
    /// so a deleted id is never reused.
    pub fn next_id(&self, dir: &Path) -> String {
        let from_log = read_log(dir).map(|c| c.len()).unwrap_or(0);
        let max_here = self.labels.iter().filter_map(|l| l.id.strip_prefix("l-")?.parse::<usize>().ok()).max().unwrap_or(0);
        format!("l-{:04}", max_here.max(from_log) + 1)
    }

    /// The corrected text of a transcript segment, if a trainer edited it
    /// on this transcript (same segment id and start: a new transcription
    /// leaves old edits unmatched rather than misplaced).
    pub fn edited_text(&self, segment_id: u32, start_ns: i64) -> Option<&str> {
        self.transcript_edits.iter().find(|e| e.segment_id == segment_id && e.start_ns == start_ns).map(|e| e.text.as_str())
    }

    /// Labels on a tier, in time order.
    pub fn on_tier<'a>(&'a self, tier: &'a str) -> impl Iterator<Item = &'a LabelSegment> + 'a {
        self.labels.iter().filter(move |l| l.tier == tier)
    }
}

fn check_times(l: &LabelSegment) -> Result<(), LabelError> {
    if l.start_ns < 0 || l.end_ns < l.start_ns {
        return Err(LabelError::Invalid(format!(
            "label {} runs from {:.3} s to {:.3} s: times must be ≥ 0 and the end not before the start",
            l.id,
            l.start_ns as f64 / 1e9,
            l.end_ns as f64 / 1e9
        )));
    }
    Ok(())
}

fn io(action: &'static str, path: &Path, cause: std::io::Error) -> LabelError {
    LabelError::Io { action, path: path.display().to_string(), cause }
}

/// Reads `annotations.json` (empty when the session has none yet).
pub fn load(dir: &Path) -> Result<Annotations, LabelError> {
    let path = dir.join(ANNOTATIONS_FILE);
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
        message: format!("{e}; `tacit label rebuild` restores it from {LOG_FILE}"),
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
    let path = dir.join(LOG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io("read", &path, e)),
    };
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Change>(line) {
            Ok(c) => out.push(c),
            // A torn last line (power cut mid-append) is skipped; anything
            // else is an error.
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => break,
            Err(e) => return Err(LabelError::Malformed { path: path.display().to_string(), line: i + 1, message: e.to_string() }),
        }
    }
    Ok(out)
}

/// Applies changes to the session: each is checked against the current
/// state, appended to the log (fsynced), then the state file is replaced.
/// All or nothing: if any change is refused, nothing is written.
pub fn commit(dir: &Path, changes: &[Change]) -> Result<Annotations, LabelError> {
    let mut state = load(dir)?;
    for c in changes {
        state.apply(c)?;
    }
    let log = dir.join(LOG_FILE);
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&log).map_err(|e| io("open", &log, e))?;
    let mut buf = String::new();
    for c in changes {
        buf.push_str(&serde_json::to_string(c).unwrap_or_default());
        buf.push('\n');
    }
    f.write_all(buf.as_bytes()).map_err(|e| io("append to", &log, e))?;
    f.sync_all().map_err(|e| io("sync", &log, e))?;
    save(dir, &state)?;
    Ok(state)
}

fn save(dir: &Path, state: &Annotations) -> Result<(), LabelError> {
    let path = dir.join(ANNOTATIONS_FILE);
    let text = serde_json::to_string_pretty(state).unwrap_or_default() + "\n";
    crate::manifest::write_atomic(&path, text.as_bytes()).map_err(|e| io("write", &path, e))
}

/// Rebuilds `annotations.json` from the log (after the state file was lost
/// or damaged) and writes it.
pub fn rebuild(dir: &Path) -> Result<Annotations, LabelError> {
    let mut state = Annotations { format_version: ANNOTATIONS_VERSION, ..Annotations::default() };
    for (i, c) in read_log(dir)?.iter().enumerate() {
        state.apply(c).map_err(|e| LabelError::Malformed {
            path: dir.join(LOG_FILE).display().to_string(),
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

    fn vocab() -> LabelVocabulary {
        LabelVocabulary {
            steps: vec!["tack".into(), "root pass".into()],
            defects: vec!["porosity".into()],
            quality: vec![],
            tiers: [("torch angle".to_string(), vec!["push".to_string(), "drag".to_string()])].into_iter().collect(),
        }
    }

    fn label(id: &str, tier: &str, value: &str, s: i64, e: i64) -> LabelSegment {
        LabelSegment {
            id: id.into(),
            tier: tier.into(),
            value: value.into(),
            start_ns: s,
            end_ns: e,
            author: "kim".into(),
            created_at_utc: "2026-11-28T00:00:00Z".into(),
            updated_at_utc: "2026-11-28T00:00:00Z".into(),
            status: ReviewStatus::Draft,
        }
    }

    #[test]
    fn vocabulary_rules() {
        let v = vocab();
        v.check("step", "root pass").unwrap();
        v.check("note", "아크가 불안정함").unwrap();
        v.check("quality", "anything").unwrap(); // empty list: free
        v.check("torch angle", "drag").unwrap();
        let e = v.check("step", "cap").unwrap_err().to_string();
        assert!(e.contains("\"tack\", \"root pass\""), "{e}");
        let e = v.check("colour", "red").unwrap_err().to_string();
        assert!(e.contains("step, defect, quality, note, torch angle"), "{e}");
        assert!(v.check("step", " ").is_err());
    }

    #[test]
    fn changes_are_logged_and_the_state_rebuilds_from_the_log() {
        let dir = std::env::temp_dir().join(format!("tacit-labels-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let s = commit(&dir, &[Change::Add { label: label("l-0001", "step", "tack", 2_000, 5_000) }]).unwrap();
        assert_eq!(s.next_id(&dir), "l-0002");
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
        assert_eq!(now.next_id(&dir), "l-0005"); // deleted ids are not reused
        std::fs::write(dir.join(ANNOTATIONS_FILE), "{ torn").unwrap();
        assert!(load(&dir).unwrap_err().to_string().contains("tacit label rebuild"));
        assert_eq!(rebuild(&dir).unwrap(), now);
        // A torn last log line is ignored.
        let mut f = std::fs::OpenOptions::new().append(true).open(dir.join(LOG_FILE)).unwrap();
        f.write_all(b"{\"op\":\"add\",\"lab").unwrap();
        assert_eq!(read_log(&dir).unwrap().len(), 4);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn transcript_edits_keep_the_machine_text_and_the_latest_correction() {
        let dir = std::env::temp_dir().join(format!("tacit-edits-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
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
        assert!(!std::fs::read_to_string(dir.join(ANNOTATIONS_FILE)).unwrap().contains("transcript_edits"));
        assert_eq!(read_log(&dir).unwrap().len(), 3);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn point_and_span_coverage() {
        let p = label("a", "defect", "porosity", 100, 100);
        assert!(p.covers(100) && !p.covers(101));
        let s = label("b", "step", "tack", 100, 200);
        assert!(s.covers(100) && s.covers(199) && !s.covers(200));
    }
}
