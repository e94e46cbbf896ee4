//! The annotation model the trainer edits (desktop app, `tacit label`) and
//! the exporters join onto frames.
//!
//! A session's labels live in `annotations.json` (the current state,
//! replaced atomically) and every change is first appended to
//! `annotations.log.jsonl` (one JSON object per line, fsynced), so no edit
//! is ever lost and the state can be rebuilt from the log; the reading and
//! writing is `tacit_session::labels`.

use serde::{Deserialize, Serialize};

use crate::profile::LabelVocabulary;

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
    /// A new draft label over session times `span` (start, end ns), made by
    /// `author` at `at_utc` (RFC 3339).
    pub fn draft(id: String, tier: &str, value: &str, span: (i64, i64), author: &str, at_utc: &str) -> Self {
        Self {
            id,
            tier: tier.to_string(),
            value: value.to_string(),
            start_ns: span.0,
            end_ns: span.1,
            author: author.to_string(),
            created_at_utc: at_utc.to_string(),
            updated_at_utc: at_utc.to_string(),
            status: ReviewStatus::Draft,
        }
    }

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
        LabelSegment::draft(id.into(), tier, value, (s, e), "kim", "2026-11-28T00:00:00Z")
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
    fn point_and_span_coverage() {
        let p = label("a", "defect", "porosity", 100, 100);
        assert!(p.covers(100) && !p.covers(101));
        let s = label("b", "step", "tack", 100, 200);
        assert!(s.covers(100) && s.covers(199) && !s.covers(200));
    }
}
