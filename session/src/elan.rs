//! Reading ELAN annotation files (`.eaf`, EAF 2.x/3.x XML): time slots,
//! tiers, alignable annotations and reference annotations (which take their
//! parent's times). Times are in milliseconds from the media start.

use std::collections::HashMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// One annotation with its tier and times.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElanAnnotation {
    /// `TIER_ID`.
    pub tier: String,
    /// `ANNOTATION_VALUE` (trimmed).
    pub value: String,
    /// Start, ms from the media start.
    pub start_ms: i64,
    /// End, ms.
    pub end_ms: i64,
    /// The tier's `ANNOTATOR`, if any.
    pub annotator: Option<String>,
    /// `ANNOTATION_ID`.
    pub id: String,
}

fn attr(e: &BytesStart<'_>, name: &str) -> Result<Option<String>, String> {
    match e.try_get_attribute(name) {
        Ok(Some(a)) => a.unescape_value().map(|v| Some(v.into_owned())).map_err(|e| e.to_string()),
        Ok(None) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

enum Pending {
    Aligned { id: String, ts1: String, ts2: String },
    Ref { id: String, parent: String },
}

/// Time slots (id → ms, `None` when unaligned).
type Slots = HashMap<String, Option<i64>>;
/// Annotations as read: tier, its annotator, the annotation, its value.
type Raw = Vec<(String, Option<String>, Pending, String)>;

/// Parses an EAF document. Errors name the line and what is wrong.
pub fn parse(text: &str) -> Result<Vec<ElanAnnotation>, String> {
    let (slots, raw) = read_document(text)?;
    place(&slots, raw)
}

/// The time slots and annotations of the XML, in document order.
fn read_document(text: &str) -> Result<(Slots, Raw), String> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let line = |pos: u64| text.as_bytes()[..(pos as usize).min(text.len())].iter().filter(|b| **b == b'\n').count() + 1;
    let mut slots: Slots = HashMap::new();
    let mut tier: Option<(String, Option<String>)> = None;
    let mut pending: Option<Pending> = None;
    let mut in_value = false;
    let mut value = String::new();
    let mut raw: Raw = Vec::new();
    let mut saw_root = false;
    loop {
        let pos = reader.buffer_position();
        let ev = reader.read_event().map_err(|e| format!("line {}: not well-formed XML ({e})", line(pos)))?;
        let at = |what: String| format!("line {}: {what}", line(pos));
        match ev {
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                b"ANNOTATION_DOCUMENT" => saw_root = true,
                b"TIME_SLOT" => {
                    let id = attr(&e, "TIME_SLOT_ID").map_err(&at)?.ok_or_else(|| at("TIME_SLOT without TIME_SLOT_ID".into()))?;
                    let v = match attr(&e, "TIME_VALUE").map_err(&at)? {
                        Some(v) => Some(v.trim().parse::<i64>().map_err(|_| at(format!("TIME_VALUE {v:?} is not whole milliseconds")))?),
                        None => None,
                    };
                    slots.insert(id, v);
                }
                b"TIER" => {
                    let id = attr(&e, "TIER_ID").map_err(&at)?.ok_or_else(|| at("TIER without TIER_ID".into()))?;
                    tier = Some((id, attr(&e, "ANNOTATOR").map_err(&at)?.filter(|a| !a.trim().is_empty())));
                }
                b"ALIGNABLE_ANNOTATION" => {
                    let get = |n: &str| attr(&e, n).map_err(&at)?.ok_or_else(|| at(format!("ALIGNABLE_ANNOTATION without {n}")));
                    pending =
                        Some(Pending::Aligned { id: get("ANNOTATION_ID")?, ts1: get("TIME_SLOT_REF1")?, ts2: get("TIME_SLOT_REF2")? });
                }
                b"REF_ANNOTATION" => {
                    let get = |n: &str| attr(&e, n).map_err(&at)?.ok_or_else(|| at(format!("REF_ANNOTATION without {n}")));
                    pending = Some(Pending::Ref { id: get("ANNOTATION_ID")?, parent: get("ANNOTATION_REF")? });
                }
                b"ANNOTATION_VALUE" => {
                    in_value = true;
                    value.clear();
                }
                _ => {}
            },
            Event::Text(t) if in_value => value.push_str(&t.unescape().map_err(|e| at(e.to_string()))?),
            Event::CData(t) if in_value => value.push_str(&String::from_utf8_lossy(&t)),
            Event::End(e) => match e.name().as_ref() {
                b"ANNOTATION_VALUE" => in_value = false,
                b"ALIGNABLE_ANNOTATION" | b"REF_ANNOTATION" => {
                    let (Some((tid, annotator)), Some(p)) = (tier.clone(), pending.take()) else {
                        return Err(at("an annotation outside a TIER".into()));
                    };
                    raw.push((tid, annotator, p, value.trim().to_string()));
                }
                b"TIER" => tier = None,
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err("no ANNOTATION_DOCUMENT element: not an ELAN .eaf file".into());
    }
    Ok((slots, raw))
}

/// Times for every annotation: alignable ones from their slots, references
/// from their (aligned) ancestors; sorted by start, tier, id.
fn place(slots: &Slots, raw: Raw) -> Result<Vec<ElanAnnotation>, String> {
    let mut times: HashMap<String, (i64, i64)> = HashMap::new();
    for (_, _, p, _) in &raw {
        if let Pending::Aligned { id, ts1, ts2 } = p {
            let slot = |s: &str| -> Result<i64, String> {
                match slots.get(s) {
                    Some(Some(v)) => Ok(*v),
                    Some(None) => Err(format!("annotation {id}: time slot {s} has no time (unaligned); align it in ELAN first")),
                    None => Err(format!("annotation {id}: time slot {s} is not in TIME_ORDER")),
                }
            };
            times.insert(id.clone(), (slot(ts1)?, slot(ts2)?));
        }
    }
    let parents: HashMap<String, String> = raw
        .iter()
        .filter_map(|(_, _, p, _)| match p {
            Pending::Ref { id, parent } => Some((id.clone(), parent.clone())),
            Pending::Aligned { .. } => None,
        })
        .collect();
    let mut out = Vec::new();
    for (tier, annotator, p, value) in raw {
        let (id, (start_ms, end_ms)) = match p {
            Pending::Aligned { id, .. } => match times.get(&id) {
                Some(t) => (id.clone(), *t),
                None => return Err(format!("annotation {id} has no time")),
            },
            Pending::Ref { id, parent } => {
                let mut at = parent.clone();
                let mut seen = 0;
                // Follow the chain of references to an aligned ancestor.
                let t = loop {
                    if let Some(t) = times.get(&at) {
                        break *t;
                    }
                    seen += 1;
                    match parents.get(&at).cloned() {
                        Some(n) if seen < 64 => at = n,
                        _ => return Err(format!("annotation {id}: refers to {parent}, which has no time")),
                    }
                };
                (id, t)
            }
        };
        if end_ms < start_ms {
            return Err(format!("annotation {id} on tier {tier}: ends ({end_ms} ms) before it starts ({start_ms} ms)"));
        }
        out.push(ElanAnnotation { tier, value, start_ms, end_ms, annotator, id });
    }
    out.sort_by(|a, b| (a.start_ms, &a.tier, &a.id).cmp(&(b.start_ms, &b.tier, &b.id)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const EAF: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ANNOTATION_DOCUMENT AUTHOR="" FORMAT="3.0" VERSION="3.0">
  <HEADER MEDIA_FILE="" TIME_UNITS="milliseconds"/>
  <TIME_ORDER>
    <TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="500"/>
    <TIME_SLOT TIME_SLOT_ID="ts2" TIME_VALUE="1500"/>
    <TIME_SLOT TIME_SLOT_ID="ts3" TIME_VALUE="1200"/>
    <TIME_SLOT TIME_SLOT_ID="ts4" TIME_VALUE="1200"/>
  </TIME_ORDER>
  <TIER TIER_ID="step" LINGUISTIC_TYPE_REF="default-lt" ANNOTATOR="trainer-kim">
    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2">
      <ANNOTATION_VALUE>root pass</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
  </TIER>
  <TIER TIER_ID="defect" LINGUISTIC_TYPE_REF="default-lt">
    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a2" TIME_SLOT_REF1="ts3" TIME_SLOT_REF2="ts4">
      <ANNOTATION_VALUE>porosity</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
  </TIER>
  <TIER TIER_ID="note" PARENT_REF="step" LINGUISTIC_TYPE_REF="symbolic">
    <ANNOTATION><REF_ANNOTATION ANNOTATION_ID="a3" ANNOTATION_REF="a1">
      <ANNOTATION_VALUE>키홀 &amp; 각도</ANNOTATION_VALUE></REF_ANNOTATION></ANNOTATION>
  </TIER>
</ANNOTATION_DOCUMENT>"#;

    #[test]
    fn reads_tiers_times_and_references() {
        let a = parse(EAF).unwrap();
        let short: Vec<(&str, &str, i64, i64)> = a.iter().map(|x| (x.tier.as_str(), x.value.as_str(), x.start_ms, x.end_ms)).collect();
        assert_eq!(short, [("note", "키홀 & 각도", 500, 1500), ("step", "root pass", 500, 1500), ("defect", "porosity", 1200, 1200)]);
        assert_eq!(a[1].annotator.as_deref(), Some("trainer-kim"));
    }

    #[test]
    fn refuses_what_it_cannot_place() {
        assert!(parse("<x/>").unwrap_err().contains("not an ELAN"));
        assert!(parse("<ANNOTATION_DOCUMENT><TIER").unwrap_err().contains("line 1"));
        let unaligned = EAF.replace(r#"TIME_SLOT_ID="ts2" TIME_VALUE="1500""#, r#"TIME_SLOT_ID="ts2""#);
        assert!(parse(&unaligned).unwrap_err().contains("unaligned"));
        let backwards = EAF.replace(r#"TIME_VALUE="500""#, r#"TIME_VALUE="2500""#);
        assert!(parse(&backwards).unwrap_err().contains("ends (1500 ms) before it starts (2500 ms)"));
    }
}
