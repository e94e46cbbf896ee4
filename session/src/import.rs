//! Labels made in other tools: CSV (`tier,value,start_s[,end_s,author,status]`,
//! a header naming the columns) and ELAN `.eaf` ([`crate::elan`]). Every row
//! is checked against the station's vocabulary; one bad row stops the import
//! with every problem listed, and nothing is written. The result is drafts
//! for [`crate::labels::add`], which numbers them under the lock.

use std::collections::BTreeMap;
use std::path::Path;

use tacit_schema::labels::{LabelSegment, ReviewStatus};
use tacit_schema::profile::LabelVocabulary;

/// Why nothing was imported: what is wrong, where, and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ImportError(pub String);

/// A label file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelFile {
    /// Comma-separated rows with a header.
    Csv,
    /// ELAN's XML.
    Elan,
}

impl LabelFile {
    /// `.eaf`, or text that starts as XML, is ELAN; anything else is CSV.
    pub fn detect(path: &Path, text: &str) -> Self {
        if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("eaf")) || text.trim_start().starts_with('<') {
            Self::Elan
        } else {
            Self::Csv
        }
    }
}

/// What an import applies to every row.
#[derive(Clone, Debug)]
pub struct ImportOptions<'a> {
    /// What may be labeled (the session's station profile).
    pub vocab: &'a LabelVocabulary,
    /// `--author`: for CSV rows without an `author`; for ELAN, instead of
    /// the tier's annotator.
    pub author: Option<String>,
    /// Author when neither gives one (the login name).
    pub fallback_author: String,
    /// ELAN only: seconds added to the file's times.
    pub offset_s: f64,
    /// When the labels are made (RFC 3339 UTC).
    pub at_utc: String,
}

/// Labels read from a file, not yet numbered or written.
#[derive(Clone, Debug, Default)]
pub struct Imported {
    /// The labels, in file order (ids are placeholders).
    pub labels: Vec<LabelSegment>,
    /// ELAN tiers this station does not know, with their annotation counts.
    pub skipped_tiers: BTreeMap<String, usize>,
}

/// Reads the labels of `text` (the contents of `file`, named in errors).
pub fn labels_from(file: &Path, text: &str, opts: &ImportOptions<'_>) -> Result<Imported, ImportError> {
    match LabelFile::detect(file, text) {
        LabelFile::Csv => from_csv(file, text, opts),
        LabelFile::Elan => from_elan(file, text, opts),
    }
}

/// Seconds (finite, ≥ 0) as nanoseconds; `what` names the value in the error.
pub fn seconds_to_ns(s: f64, what: &str) -> Result<i64, String> {
    if !s.is_finite() || s < 0.0 {
        return Err(format!("{what} must be a time in seconds ≥ 0 (got {s})"));
    }
    Ok((s * 1e9).round() as i64)
}

/// Splits one CSV line (RFC 4180 quotes, `""` inside quotes).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Column positions named by a CSV header.
struct Columns {
    tier: usize,
    value: usize,
    start: usize,
    end: Option<usize>,
    author: Option<usize>,
    status: Option<usize>,
}

impl Columns {
    /// One row as a label (errors say which field is wrong).
    fn row(&self, fields: &[String], opts: &ImportOptions<'_>) -> Result<LabelSegment, String> {
        let get = |k: Option<usize>| k.and_then(|k| fields.get(k)).map(|s| s.trim().to_string()).unwrap_or_default();
        let (tier, value) = (get(Some(self.tier)), get(Some(self.value)));
        opts.vocab.check(&tier, &value).map_err(|e| e.to_string())?;
        let start_text = get(Some(self.start));
        let start: f64 = start_text.parse().map_err(|_| format!("start_s {start_text:?} is not a number"))?;
        let end_text = get(self.end);
        let end: f64 =
            if end_text.is_empty() { start } else { end_text.parse().map_err(|_| format!("end_s {end_text:?} is not a number"))? };
        let status_text = get(self.status);
        let status = if status_text.is_empty() {
            ReviewStatus::Draft
        } else {
            ReviewStatus::parse(&status_text).ok_or_else(|| format!("status {status_text:?} is not draft, reviewed or rejected"))?
        };
        let span = (seconds_to_ns(start, "start_s")?, seconds_to_ns(end, "end_s")?);
        if span.1 < span.0 {
            return Err(format!("end_s {end_text} is before start_s {start_text}"));
        }
        let row_author = get(self.author);
        let author = if row_author.is_empty() { opts.author.clone().unwrap_or_else(|| opts.fallback_author.clone()) } else { row_author };
        Ok(LabelSegment { status, ..LabelSegment::draft(String::new(), &tier, &value, span, &author, &opts.at_utc) })
    }
}

fn from_csv(file: &Path, text: &str, opts: &ImportOptions<'_>) -> Result<Imported, ImportError> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else { return Err(ImportError(format!("{} is empty", file.display()))) };
    let cols: Vec<String> = split_csv(header).iter().map(|c| c.trim().to_ascii_lowercase()).collect();
    let col = |name: &str| cols.iter().position(|c| c == name);
    let (Some(tier), Some(value), Some(start)) = (col("tier"), col("value"), col("start_s")) else {
        return Err(ImportError(format!(
            "{} line 1: the header must name tier, value, start_s (and end_s, author, status if given); got {header:?}",
            file.display()
        )));
    };
    let columns = Columns { tier, value, start, end: col("end_s"), author: col("author"), status: col("status") };
    let mut out = Imported::default();
    let mut errors = Vec::new();
    for (i, line) in lines {
        match columns.row(&split_csv(line), opts) {
            Ok(label) => out.labels.push(label),
            Err(e) => errors.push(format!("{} line {}: {e}", file.display(), i + 1)),
        }
    }
    if !errors.is_empty() {
        return Err(ImportError(format!("nothing imported; fix these rows:\n  {}", errors.join("\n  "))));
    }
    Ok(out)
}

/// Every annotation on a tier this station knows becomes a label (reference
/// annotations take their parent's times); other tiers are skipped and named.
fn from_elan(file: &Path, text: &str, opts: &ImportOptions<'_>) -> Result<Imported, ImportError> {
    if !opts.offset_s.is_finite() {
        return Err(ImportError("--offset must be a number of seconds".into()));
    }
    let annotations = crate::elan::parse(text).map_err(|e| ImportError(format!("{}: {e}", file.display())))?;
    let tiers = opts.vocab.tier_names();
    let mut out = Imported::default();
    let mut errors = Vec::new();
    for a in &annotations {
        if !tiers.contains(&a.tier) {
            *out.skipped_tiers.entry(a.tier.clone()).or_default() += 1;
            continue;
        }
        let row = (|| -> Result<LabelSegment, String> {
            opts.vocab.check(&a.tier, &a.value).map_err(|e| e.to_string())?;
            let ns = |ms: i64| seconds_to_ns(ms as f64 / 1e3 + opts.offset_s, "time (with --offset)");
            let who = opts.author.clone().or_else(|| a.annotator.clone()).unwrap_or_else(|| opts.fallback_author.clone());
            Ok(LabelSegment::draft(String::new(), &a.tier, &a.value, (ns(a.start_ms)?, ns(a.end_ms)?), &who, &opts.at_utc))
        })();
        match row {
            Ok(label) => out.labels.push(label),
            Err(e) => errors.push(format!("{} annotation {} (tier {}): {e}", file.display(), a.id, a.tier)),
        }
    }
    if !errors.is_empty() {
        return Err(ImportError(format!("nothing imported; fix these annotations:\n  {}", errors.join("\n  "))));
    }
    if out.labels.is_empty() {
        let found: Vec<&str> = out.skipped_tiers.keys().map(String::as_str).collect();
        return Err(ImportError(format!(
            "{} has no annotation on this station's tiers ({}); its tiers are: {}; nothing imported",
            file.display(),
            tiers.join(", "),
            if found.is_empty() { "none".to_string() } else { found.join(", ") }
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(vocab: &LabelVocabulary) -> ImportOptions<'_> {
        ImportOptions { vocab, author: None, fallback_author: "kim".into(), offset_s: 0.0, at_utc: "2026-12-01T00:00:00.000Z".into() }
    }

    fn vocab() -> LabelVocabulary {
        LabelVocabulary { steps: vec!["tack".into(), "root pass".into()], defects: vec!["porosity".into()], ..Default::default() }
    }

    #[test]
    fn csv_rows_with_quotes_optional_columns_and_authors() {
        let v = vocab();
        let text = "Tier,Value,start_s,end_s,author,status\nstep,tack,0,1.5,,reviewed\nstep,\"root pass\",1.5,,lee,\ndefect,porosity,2.25,2.25,,\n";
        let got = labels_from(Path::new("l.csv"), text, &opts(&v)).unwrap();
        let l = &got.labels;
        assert_eq!(l.len(), 3);
        assert_eq!((l[0].start_ns, l[0].end_ns, l[0].status, l[0].author.as_str()), (0, 1_500_000_000, ReviewStatus::Reviewed, "kim"));
        assert_eq!((l[1].value.as_str(), l[1].end_ns, l[1].author.as_str()), ("root pass", 1_500_000_000, "lee"));
        assert_eq!(l[2].start_ns, 2_250_000_000);
        let mut o = opts(&v);
        o.author = Some("park".into());
        let authors: Vec<String> = labels_from(Path::new("l.csv"), text, &o).unwrap().labels.into_iter().map(|l| l.author).collect();
        assert_eq!(authors, ["park", "lee", "park"], "--author for rows without one");
    }

    #[test]
    fn bad_csv_rows_are_all_listed_and_nothing_is_imported() {
        let v = vocab();
        let text = "tier,value,start_s\nstep,tack,0\nstep,grind,1\nstep,tack,soon\nstep,tack,-1\n";
        let e = labels_from(Path::new("l.csv"), text, &opts(&v)).unwrap_err().to_string();
        assert!(e.starts_with("nothing imported"), "{e}");
        for want in ["l.csv line 3", "grind", "l.csv line 4", "\"soon\" is not a number", "l.csv line 5", "≥ 0"] {
            assert!(e.contains(want), "{want} in {e}");
        }
        let e = labels_from(Path::new("l.csv"), "what,ever\n", &opts(&v)).unwrap_err().to_string();
        assert!(e.contains("line 1: the header must name tier, value, start_s"), "{e}");
        assert!(labels_from(Path::new("l.csv"), "\n\n", &opts(&v)).unwrap_err().to_string().contains("is empty"));
    }

    #[test]
    fn a_csv_row_that_ends_before_it_starts_is_refused() {
        // Found by the label_csv fuzz target (fuzz/regressions/label_csv):
        // it was imported as a label with end < start.
        let v = vocab();
        let text = "tier,value,start_s,end_s\nstep,tack,0,1.5\nstep,tack,2.26,2.25\n";
        let e = labels_from(Path::new("l.csv"), text, &opts(&v)).unwrap_err().to_string();
        assert!(e.contains("l.csv line 3") && e.contains("end_s 2.25 is before start_s 2.26"), "{e}");
    }

    #[test]
    fn elan_tiers_the_station_knows_become_labels() {
        let v = vocab();
        let eaf = r#"<?xml version="1.0" encoding="UTF-8"?>
<ANNOTATION_DOCUMENT>
 <TIME_ORDER>
  <TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="500"/>
  <TIME_SLOT TIME_SLOT_ID="ts2" TIME_VALUE="1500"/>
 </TIME_ORDER>
 <TIER TIER_ID="step" ANNOTATOR="choi">
  <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2"><ANNOTATION_VALUE>tack</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
 </TIER>
 <TIER TIER_ID="gaze">
  <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a2" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2"><ANNOTATION_VALUE>torch</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
 </TIER>
</ANNOTATION_DOCUMENT>"#;
        assert_eq!(LabelFile::detect(Path::new("x.txt"), eaf), LabelFile::Elan);
        let mut o = opts(&v);
        o.offset_s = 2.0;
        let got = labels_from(Path::new("x.eaf"), eaf, &o).unwrap();
        assert_eq!(got.labels.len(), 1);
        let l = &got.labels[0];
        assert_eq!(
            (l.tier.as_str(), l.value.as_str(), l.start_ns, l.end_ns, l.author.as_str()),
            ("step", "tack", 2_500_000_000, 3_500_000_000, "choi")
        );
        assert_eq!(got.skipped_tiers.get("gaze"), Some(&1));
        let e = labels_from(Path::new("x.eaf"), &eaf.replace("TIER_ID=\"step\"", "TIER_ID=\"other\""), &o).unwrap_err().to_string();
        assert!(e.contains("no annotation on this station's tiers"), "{e}");
        o.offset_s = f64::NAN;
        assert!(labels_from(Path::new("x.eaf"), eaf, &o).is_err());
    }
}
