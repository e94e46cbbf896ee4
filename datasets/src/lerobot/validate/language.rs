//! The language columns' rules (lerobot ≥ 0.6 `datasets/language.py`):
//! known styles in the right column, `camera` set exactly on view-dependent
//! styles and naming a camera feature, persistent rows stamped with a frame
//! timestamp of their episode and the same on every row of it, event rows
//! with content or a tool call, tool calls that are JSON function calls.

use std::collections::{BTreeMap, HashSet};

use arrow_array::{Array, Float32Array, ListArray, StringArray, StructArray};

use super::*;
use crate::lerobot::language::{EVENTS, EVENT_STYLES, PERSISTENT, PERSISTENT_STYLES, VIEW_DEPENDENT_STYLES};

/// One language row as read back.
#[derive(Debug, PartialEq)]
struct Row {
    role: Option<String>,
    content: Option<String>,
    style: Option<String>,
    timestamp: Option<f32>,
    camera: Option<String>,
    tool_calls: Option<Vec<String>>,
}

/// The rows of each data row of one language column in `batches`; `None`
/// (with a defect) when the column has another type.
fn rows_of(s: &mut Sink<'_>, file: &Path, batches: &[RecordBatch], name: &str) -> Option<Vec<Vec<Row>>> {
    let mut out = Vec::new();
    for b in batches {
        let col = b.column_by_name(name)?;
        let Some(list) = col.as_any().downcast_ref::<ListArray>() else {
            s.add("language", file, None, format!("{name} is {}, not a list of rows", col.data_type()));
            return None;
        };
        let Some(rows) = list.values().as_any().downcast_ref::<StructArray>() else {
            s.add("language", file, None, format!("{name}'s items are not structs (role, content, style, …)"));
            return None;
        };
        let text = |f: &str| rows.column_by_name(f).and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned());
        let (Some(role), Some(content), Some(style), Some(camera)) = (text("role"), text("content"), text("style"), text("camera")) else {
            s.add("language", file, None, format!("{name}'s rows lack role, content, style or camera as strings"));
            return None;
        };
        let ts = rows.column_by_name("timestamp").and_then(|c| c.as_any().downcast_ref::<Float32Array>().cloned());
        let calls = rows.column_by_name("tool_calls").and_then(|c| c.as_any().downcast_ref::<ListArray>().cloned());
        let opt = |a: &StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_string());
        for r in 0..list.len() {
            let (a, z) = (list.value_offsets()[r] as usize, list.value_offsets()[r + 1] as usize);
            let mut v = Vec::with_capacity(z - a);
            for i in a..z {
                let tool_calls = calls.as_ref().filter(|c| c.is_valid(i)).map(|c| {
                    let items = c.value(i);
                    items
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .map(|x| (0..x.len()).map(|j| x.value(j).to_string()).collect())
                        .unwrap_or_default()
                });
                v.push(Row {
                    role: opt(&role, i),
                    content: opt(&content, i),
                    style: opt(&style, i),
                    timestamp: ts.as_ref().filter(|t| t.is_valid(i)).map(|t| t.value(i)),
                    camera: opt(&camera, i),
                    tool_calls,
                });
            }
            out.push(v);
        }
    }
    Some(out)
}

/// `camera` set exactly on view-dependent styles, naming a camera feature.
fn check_camera(s: &mut Sink<'_>, file: &Path, at: u64, r: &Row, cameras: &[&str]) {
    let style = r.style.as_deref().unwrap_or("");
    match (&r.camera, VIEW_DEPENDENT_STYLES.contains(&style)) {
        (None, true) => s.add("language", file, Some(at), format!("a {style} row needs camera (an observation.images.* feature)")),
        (Some(c), true) if !cameras.contains(&c.as_str()) => {
            s.add("language", file, Some(at), format!("camera {c:?} of a {style} row is not a camera feature of the dataset"))
        }
        (Some(c), false) => s.add("language", file, Some(at), format!("a row of style {style:?} must have no camera, has {c:?}")),
        _ => {}
    }
}

fn check_row(s: &mut Sink<'_>, file: &Path, at: u64, r: &Row, persistent: bool, cameras: &[&str]) {
    if r.role.as_deref().is_none_or(str::is_empty) {
        s.add("language", file, Some(at), "a language row has no role".into());
    }
    match (r.style.as_deref(), persistent) {
        (Some(st), true) if !PERSISTENT_STYLES.contains(&st) => {
            s.add("language", file, Some(at), format!("style {st:?} is not a persistent style ({})", PERSISTENT_STYLES.join(", ")))
        }
        (None, true) => s.add("language", file, Some(at), "a persistent row has no style".into()),
        (Some(st), false) if !EVENT_STYLES.contains(&st) => {
            s.add("language", file, Some(at), format!("style {st:?} is not an event style ({})", EVENT_STYLES.join(", ")))
        }
        _ => {}
    }
    if r.content.is_none() && r.tool_calls.as_ref().is_none_or(Vec::is_empty) {
        s.add("language", file, Some(at), "a language row has neither content nor tool calls".into());
    }
    if !persistent && r.style.is_none() && r.tool_calls.as_ref().is_none_or(Vec::is_empty) {
        s.add("language", file, Some(at), "an event row without a style must carry a tool call".into());
    }
    for call in r.tool_calls.iter().flatten() {
        let v: Option<Value> = serde_json::from_str(call).ok();
        if v.as_ref().and_then(|v| v["function"]["name"].as_str()).is_none()
            || v.as_ref().map(|v| &v["type"]) != Some(&Value::from("function"))
        {
            s.add(
                "language",
                file,
                Some(at),
                format!("tool call {call:?} is not a JSON function call {{type: function, function: {{name, arguments}}}}"),
            );
        }
    }
    check_camera(s, file, at, r, cameras);
}

/// Checks the language columns of one data file (`ep`, `ts`: each row's
/// episode and timestamp; `cameras`: the camera feature keys).
pub(super) fn check(s: &mut Sink<'_>, file: &Path, batches: &[RecordBatch], ep: &[i64], ts: &[f32], cameras: &[&str]) {
    let mut frames: BTreeMap<i64, HashSet<u32>> = BTreeMap::new();
    for (e, t) in ep.iter().zip(ts) {
        frames.entry(*e).or_default().insert(t.to_bits());
    }
    if let Some(rows) = rows_of(s, file, batches, PERSISTENT) {
        let mut first: BTreeMap<i64, usize> = BTreeMap::new();
        for (i, list) in rows.iter().enumerate() {
            let Some(e) = ep.get(i) else { break };
            let at = i as u64;
            match first.get(e) {
                None => {
                    first.insert(*e, i);
                    for r in list {
                        check_row(s, file, at, r, true, cameras);
                        match r.timestamp {
                            None => s.add("language", file, Some(at), "a persistent row has no timestamp".into()),
                            Some(t) if !frames.get(e).is_some_and(|f| f.contains(&t.to_bits())) => s.add(
                                "language",
                                file,
                                Some(at),
                                format!("persistent row at {t} s is not on a frame timestamp of episode {e}"),
                            ),
                            _ => {}
                        }
                    }
                }
                Some(&f) if rows[f] != *list => s.add(
                    "language",
                    file,
                    Some(at),
                    format!("language_persistent differs from episode {e}'s first row (it is the same on every row)"),
                ),
                _ => {}
            }
        }
    }
    if let Some(rows) = rows_of(s, file, batches, EVENTS) {
        for (i, list) in rows.iter().enumerate() {
            let mut seen = HashSet::new();
            for r in list {
                check_row(s, file, i as u64, r, false, cameras);
                if r.style.as_deref() == Some("vqa") && !seen.insert((r.role.clone(), r.camera.clone())) {
                    s.add(
                        "language",
                        file,
                        Some(i as u64),
                        format!("two vqa rows of role {:?} for camera {:?} on one frame", r.role, r.camera),
                    );
                }
            }
        }
    }
}
