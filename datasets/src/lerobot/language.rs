//! LeRobot's language columns (`language_persistent`, `language_events`;
//! lerobot ≥ 0.6 `datasets/language.py`) from what tacit knows about an
//! episode: the trainer's step labels as `subtask` rows and, in order, a
//! `plan`; the worker's commentary as `say` tool calls; the technician's
//! markers as `mark` tool calls; every other label tier as a `vqa` pair per
//! camera. The mapping and its reasons are in `docs/formats.md`.
//!
//! Persistent rows are the same list on every row of the episode, stamped
//! with the frame timestamp at which they become active. Event rows sit on
//! the one frame whose timestamp is their time (the frame whose centred
//! window holds an instant; a span's first frame), as LeRobot matches
//! events exactly.

use super::*;

use arrow_array::{ListArray, StringArray};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use tacit_schema::tables::event_kind;

use super::episode::{frame_stamp, half_frame, EpisodePlace};
use crate::session::column;

/// The language columns' names (LeRobot's `LANGUAGE_PERSISTENT`, `LANGUAGE_EVENTS`).
pub(crate) const PERSISTENT: &str = "language_persistent";
pub(crate) const EVENTS: &str = "language_events";

/// LeRobot's styles (`CORE_STYLES`): which column each belongs to.
pub const PERSISTENT_STYLES: [&str; 5] = ["subtask", "plan", "memory", "motion", "task_aug"];
pub const EVENT_STYLES: [&str; 3] = ["interjection", "vqa", "trace"];
/// Styles whose rows name a camera (`VIEW_DEPENDENT_STYLES`); all others have none.
pub const VIEW_DEPENDENT_STYLES: [&str; 2] = ["vqa", "trace"];

/// The question of a label's `vqa` pair.
const VQA_QUESTION: &str = "What did the trainer label at this moment?";

/// One language row (persistent rows have a timestamp, event rows do not).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Row {
    role: &'static str,
    content: Option<String>,
    style: Option<&'static str>,
    timestamp: f32,
    camera: Option<String>,
    tool_calls: Option<Vec<String>>,
}

/// An episode's language: the persistent rows, the event rows per frame, and
/// where each row came from (for `meta/tacit.json`).
#[derive(Default)]
pub(super) struct Language {
    persistent: Vec<Row>,
    events: BTreeMap<usize, Vec<Row>>,
    pub(super) sources: Vec<Value>,
}

/// The Arrow type of a row (`with_timestamp` for persistent rows), as
/// lerobot's `language_*_row_arrow_type`; `tool_calls` items are the
/// canonical `arrow.json` extension over strings.
fn row_fields(with_timestamp: bool) -> Fields {
    let json = Field::new("item", DataType::Utf8, true)
        .with_metadata([("ARROW:extension:name".to_string(), "arrow.json".to_string())].into_iter().collect());
    let mut f = vec![
        Field::new("role", DataType::Utf8, false),
        Field::new("content", DataType::Utf8, true),
        Field::new("style", DataType::Utf8, true),
    ];
    if with_timestamp {
        f.push(Field::new("timestamp", DataType::Float32, false));
    }
    f.push(Field::new("camera", DataType::Utf8, true));
    f.push(Field::new("tool_calls", DataType::List(Arc::new(json)), true));
    Fields::from(f)
}

/// The Arrow type of a language column.
pub(super) fn column_type(persistent: bool) -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Struct(row_fields(persistent)), true)))
}

/// The Hugging Face feature of a language column (lerobot's `language_*_column_feature`).
pub(super) fn hf_feature(persistent: bool) -> Value {
    let s = |d: &str| json!({"dtype": d, "_type": "Value"});
    let mut row = serde_json::Map::new();
    row.insert("role".into(), s("string"));
    row.insert("content".into(), s("string"));
    row.insert("style".into(), s("string"));
    if persistent {
        row.insert("timestamp".into(), s("float32"));
    }
    row.insert("camera".into(), s("string"));
    row.insert("tool_calls".into(), json!({"feature": {"_type": "Json"}, "_type": "List"}));
    json!({"feature": Value::Object(row), "_type": "List"})
}

/// `info.json` `tools`: lerobot's `say` (speech) and tacit's `mark` (a
/// technician's marker key), as OpenAI-style function schemas.
pub(super) fn tools() -> Value {
    json!([
        {"type": "function", "function": {
            "name": "say",
            "description": "Speak a short utterance to the user via the TTS executor.",
            "parameters": {"type": "object", "properties": {"text": {"type": "string", "description": "The verbatim text to speak."}}, "required": ["text"]}}},
        {"type": "function", "function": {
            "name": "mark",
            "description": "Mark this moment of the work (a technician's marker key while recording).",
            "parameters": {"type": "object", "properties": {
                "label": {"type": "string", "description": "What the marker means (the station profile's marker label)."},
                "source": {"type": "string", "description": "How it was given: keyboard or button."}},
                "required": ["label"]}}}
    ])
}

fn tool_call(name: &str, arguments: Value) -> String {
    json!({"type": "function", "function": {"name": name, "arguments": arguments}}).to_string()
}

/// Frames of an episode on the grid, and how instants and spans land on them.
struct Grid<'a> {
    p: &'a EpisodePlace,
    fps: u32,
    half: i64,
}

impl Grid<'_> {
    fn new(p: &EpisodePlace, fps: u32) -> Grid<'_> {
        Grid { p, fps, half: half_frame(fps) }
    }

    fn t(&self, k: usize) -> i64 {
        self.p.grid(self.fps, k)
    }

    /// The frame whose window `[t − half, t + half)` holds instant `at`.
    fn frame_of(&self, at: i64) -> Option<usize> {
        let guess = ((at - self.p.t0) as f64 * f64::from(self.fps) / 1e9).round() as i64;
        (guess - 1..=guess + 1)
            .filter(|k| *k >= 0 && (*k as usize) < self.p.n)
            .map(|k| k as usize)
            .find(|&k| self.t(k) - self.half <= at && at < self.t(k) + self.half)
    }

    /// The first frame a span `[start, end)` covers (frame 0 for a span that
    /// began before the episode and still runs); a point span is an instant.
    fn first_of(&self, start: i64, end: i64) -> Option<usize> {
        if start == end {
            return self.frame_of(start);
        }
        let mut k = if start <= self.p.t0 { 0 } else { ((start - self.p.t0) as f64 * f64::from(self.fps) / 1e9).ceil() as usize };
        // The grid rounds: settle on the first frame at or after `start`.
        while k > 0 && self.t(k - 1) >= start {
            k -= 1;
        }
        while k < self.p.n && self.t(k) < start {
            k += 1;
        }
        (k < self.p.n && self.t(k) < end).then_some(k)
    }

    /// The `timestamp` column's value at frame `k`.
    fn stamp(&self, k: usize) -> f32 {
        frame_stamp(k, self.fps)
    }
}

/// The technician's markers of a session: (time, label, source), in time order.
pub(super) fn markers(s: &Session) -> Result<Vec<(i64, String, String)>, DatasetError> {
    let mut out = Vec::new();
    let Some(info) = s.streams(StreamKind::Events).next() else {
        return Ok(out);
    };
    let mut src = tacit_session::streams::Batches::new(&s.dir, info);
    while let Some(b) = src.next()? {
        let t = column::<Int64Array>(&b, "t_ns", &s.dir)?;
        let [kind, label, source] = ["kind", "label", "source"].map(|name| column::<StringArray>(&b, name, &s.dir));
        let (kind, label, source) = (kind?, label?, source?);
        for r in 0..b.num_rows() {
            // A technician's marker (keyboard or button), not a device's note.
            if kind.value(r) == event_kind::MARKER && matches!(source.value(r), "keyboard" | "button") {
                out.push((t.value(r), label.value(r).to_string(), source.value(r).to_string()));
            }
        }
    }
    out.sort_by_key(|m| m.0);
    Ok(out)
}

impl Language {
    /// The language of one episode of session `s`.
    pub(super) fn of(s: &Session, layout: &Layout, p: &EpisodePlace, task: &str, markers: &[(i64, String, String)]) -> Self {
        let g = Grid::new(p, layout.fps);
        let mut lang = Language::default();
        lang.steps(s, &g);
        lang.speech(s, &g);
        lang.markers(&g, markers);
        lang.labels(s, layout, &g, task);
        lang
    }

    /// An assistant's persistent row of `style` from frame `k`.
    fn persist(&mut self, g: &Grid<'_>, k: usize, style: &'static str, content: String) {
        self.persistent.push(Row {
            role: "assistant",
            content: Some(content),
            style: Some(style),
            timestamp: g.stamp(k),
            camera: None,
            tool_calls: None,
        });
    }

    /// An assistant's tool call `name(arguments)` on frame `k` (an event without a style).
    fn call(&mut self, g: &Grid<'_>, k: usize, name: &str, arguments: Value) {
        self.events.entry(k).or_default().push(Row {
            role: "assistant",
            content: None,
            style: None,
            timestamp: g.stamp(k),
            camera: None,
            tool_calls: Some(vec![tool_call(name, arguments)]),
        });
    }

    /// Steps: a subtask from each step's first frame; the plan (the steps in order) from frame 0.
    fn steps(&mut self, s: &Session, g: &Grid<'_>) {
        let mut steps: Vec<(usize, &tacit_schema::labels::LabelSegment)> =
            s.counted("step").into_iter().filter_map(|l| g.first_of(l.start_ns, l.end_ns).map(|k| (k, l))).collect();
        steps.sort_by_key(|(k, l)| (*k, l.start_ns));
        if !steps.is_empty() {
            let plan = steps.iter().enumerate().map(|(i, (_, l))| format!("{}. {}", i + 1, l.value)).collect::<Vec<_>>().join("\n");
            self.persist(g, 0, "plan", plan);
            self.sources.push(json!({"column": PERSISTENT, "style": "plan", "frame_index": 0,
                "source": "trainer labels", "label_ids": steps.iter().map(|(_, l)| l.id.clone()).collect::<Vec<_>>()}));
        }
        for (k, l) in &steps {
            self.persist(g, *k, "subtask", l.value.clone());
            self.sources.push(json!({"column": PERSISTENT, "style": "subtask", "frame_index": k,
                "source": "trainer label", "label_id": l.id, "author": l.author, "status": l.status}));
        }
    }

    /// Commentary: the worker's words at the frame they began, as `say`.
    fn speech(&mut self, s: &Session, g: &Grid<'_>) {
        let mut said: BTreeMap<usize, Vec<&crate::session::Commentary>> = BTreeMap::new();
        for c in &s.commentary {
            if c.text.is_empty() {
                continue;
            }
            if let Some(k) = if c.start_ns < g.p.t0 { g.first_of(c.start_ns, c.end_ns) } else { g.frame_of(c.start_ns) } {
                said.entry(k).or_default().push(c);
            }
        }
        for (k, cs) in said {
            // One `say` per frame (two would be ambiguous to `emitted_at`).
            let text = cs.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join(" ");
            self.call(g, k, "say", json!({"text": text}));
            for c in cs {
                let corrected = c.segment_id.is_some_and(|id| s.labels.edited_text(id, c.start_ns).is_some());
                self.sources.push(json!({"column": EVENTS, "tool": "say", "frame_index": k,
                    "source": if corrected { "worker speech, corrected by a trainer" } else { "worker speech" },
                    "segment_id": c.segment_id, "start_s": c.start_ns as f64 / 1e9, "end_s": c.end_ns as f64 / 1e9}));
            }
        }
    }

    /// Markers: the technician's keys, as `mark`.
    fn markers(&mut self, g: &Grid<'_>, markers: &[(i64, String, String)]) {
        for (t, label, source) in markers {
            if let Some(k) = g.frame_of(*t) {
                self.call(g, k, "mark", json!({"label": label, "source": source}));
                self.sources.push(json!({"column": EVENTS, "tool": "mark", "frame_index": k,
                    "source": "technician marker", "t_s": *t as f64 / 1e9}));
            }
        }
    }

    /// Other tiers (defect, quality, note, declared ones): a vqa pair per camera.
    fn labels(&mut self, s: &Session, layout: &Layout, g: &Grid<'_>, task: &str) {
        let mut answers: BTreeMap<usize, Vec<&tacit_schema::labels::LabelSegment>> = BTreeMap::new();
        if !layout.cameras.is_empty() {
            for tier in layout.tiers.iter().filter(|t| *t != "step") {
                for l in s.counted(tier) {
                    if let Some(k) = g.first_of(l.start_ns, l.end_ns) {
                        answers.entry(k).or_default().push(l);
                    }
                }
            }
        }
        for (k, ls) in answers {
            // At most one (vqa, user) and one (vqa, assistant) per frame and camera.
            let mut tiers: Vec<&str> = Vec::new();
            for l in &ls {
                if !tiers.contains(&l.tier.as_str()) {
                    tiers.push(&l.tier);
                }
            }
            let answer = json!({"label": task, "attribute": tiers.join(", "),
                "value": ls.iter().map(|l| l.value.as_str()).collect::<Vec<_>>().join(", ")})
            .to_string();
            for (name, _, _) in &layout.cameras {
                let camera = Some(format!("observation.images.{name}"));
                let row = |role, content: &str| Row {
                    role,
                    content: Some(content.to_string()),
                    style: Some("vqa"),
                    timestamp: g.stamp(k),
                    camera: camera.clone(),
                    tool_calls: None,
                };
                let e = self.events.entry(k).or_default();
                e.push(row("user", VQA_QUESTION));
                e.push(row("assistant", &answer));
            }
            for l in ls {
                self.sources.push(json!({"column": EVENTS, "style": "vqa", "frame_index": k,
                    "source": "trainer label", "tier": l.tier, "label_id": l.id, "author": l.author, "status": l.status}));
            }
        }
    }

    /// The two columns for rows `rows` of the episode.
    pub(super) fn columns(&self, rows: std::ops::Range<usize>) -> Result<[ArrayRef; 2], arrow_schema::ArrowError> {
        let persistent = rows.clone().map(|_| self.persistent.as_slice());
        let events = rows.map(|k| self.events.get(&k).map(Vec::as_slice).unwrap_or(&[]));
        Ok([list_column(persistent, true)?, list_column(events, false)?])
    }

    /// (persistent rows, event rows) of the episode.
    pub(super) fn counts(&self) -> (usize, usize) {
        (self.persistent.len(), self.events.values().map(Vec::len).sum())
    }
}

/// A language column: one list of rows per frame.
fn list_column<'a>(frames: impl Iterator<Item = &'a [Row]>, persistent: bool) -> Result<ArrayRef, arrow_schema::ArrowError> {
    let mut offsets = vec![0i32];
    let mut rows: Vec<&Row> = Vec::new();
    for f in frames {
        rows.extend(f);
        offsets.push(rows.len() as i32);
    }
    let fields = row_fields(persistent);
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.role))),
        Arc::new(rows.iter().map(|r| r.content.as_deref()).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.style).collect::<StringArray>()),
    ];
    if persistent {
        cols.push(Arc::new(rows.iter().map(|r| r.timestamp).collect::<Float32Array>()));
    }
    cols.push(Arc::new(rows.iter().map(|r| r.camera.as_deref()).collect::<StringArray>()));
    let mut call_offsets = vec![0i32];
    let mut calls: Vec<&str> = Vec::new();
    for r in &rows {
        calls.extend(r.tool_calls.iter().flatten().map(String::as_str));
        call_offsets.push(calls.len() as i32);
    }
    let DataType::List(item) = fields[fields.len() - 1].data_type().clone() else { unreachable!("tool_calls is a list") };
    let valid = NullBuffer::from(rows.iter().map(|r| r.tool_calls.is_some()).collect::<Vec<_>>());
    cols.push(Arc::new(ListArray::try_new(
        item,
        OffsetBuffer::new(call_offsets.into()),
        Arc::new(StringArray::from_iter_values(calls)),
        Some(valid),
    )?));
    let structs = StructArray::try_new(fields.clone(), cols, None)?;
    Ok(Arc::new(ListArray::try_new(
        Arc::new(Field::new("item", DataType::Struct(fields), true)),
        OffsetBuffer::new(offsets.into()),
        Arc::new(structs),
        None,
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(t0: i64, n: usize) -> EpisodePlace {
        EpisodePlace { episode: 0, task_index: 0, first_index: 0, t0, n }
    }

    #[test]
    fn instants_land_on_the_frame_whose_window_holds_them_and_spans_on_their_first_frame() {
        let p = place(0, 30);
        let g = Grid::new(&p, 10);
        let ms = |m: i64| m * 1_000_000;
        // Frame 12's window is [1150, 1250) ms.
        assert_eq!(g.frame_of(ms(1150)), Some(12));
        assert_eq!(g.frame_of(ms(1249)), Some(12));
        assert_eq!(g.frame_of(ms(1250)), Some(13));
        assert_eq!(g.frame_of(ms(-51)), None, "before the first frame's window");
        assert_eq!(g.frame_of(ms(2950)), None, "after the last frame's window");
        // A span's first frame is the first at or after its start, inside it.
        assert_eq!(g.first_of(ms(850), ms(1900)), Some(9));
        assert_eq!(g.first_of(ms(900), ms(1900)), Some(9));
        assert_eq!(g.first_of(ms(910), ms(990)), None, "no frame inside");
        assert_eq!(g.first_of(ms(2950), ms(4000)), None, "starts after the last frame");
        assert_eq!(g.stamp(9), 0.9f32);
        // A step episode from 1.0 s: a span that began before it starts at frame 0.
        let p = place(ms(1000), 10);
        let g = Grid::new(&p, 10);
        assert_eq!(g.first_of(ms(500), ms(1500)), Some(0));
        assert_eq!(g.first_of(ms(500), ms(1000)), None, "ended as the episode began");
        assert_eq!(g.frame_of(ms(1230)), Some(2));
    }
}
