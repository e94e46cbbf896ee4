//! Labels of a session in the site store, edited by several trainers at
//! once from their own PCs, with nothing lost.
//!
//! ```text
//! sessions/<id>/annotations.log.jsonl                 the station's log, as pushed
//! sessions/<id>/annotations.d/authors/<author>/<n>.jsonl   one commit of one author (n = 1, 2, …)
//! sessions/<id>/annotations.d/ids/l-NNNN              a label id, claimed
//! sessions/<id>/annotations.json                      the merged state, for outside readers
//! ```
//!
//! - Each author's history is append-only: a commit is a new object written
//!   put-if-absent, so the same author on two PCs cannot overwrite one
//!   another either (the second takes the next number).
//! - A new label's id is claimed put-if-absent, so two trainers adding at
//!   once never pick the same id.
//! - Reading merges every author's commits in time order (each author's own
//!   order kept) over the station's log. A change that no longer applies
//!   (an update of a label another trainer deleted first) is skipped and
//!   reported as a conflict; it stays in its author's log.
//! - `annotations.json` is rewritten after each commit with If-Match (or
//!   put-if-absent when there is none): readers outside tacit get the
//!   merged state; tacit itself always merges the logs.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};
use object_store::path::PathPart;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use tacit_schema::labels::{Annotations, Change, LabelError, ANNOTATIONS_VERSION};

use super::remote::{jitter, Checkout};
use crate::labels::{decode_log, encode_log};
use crate::layout;
use crate::write_atomic;

const DIR: &str = "annotations.d";

/// One commit of one author.
struct Entry {
    author: String,
    n: u64,
    changes: Vec<Change>,
}

/// What the logs add up to.
pub(crate) struct Merged {
    pub(crate) state: Annotations,
    /// Every change applied, in merge order (the local checkout's log).
    pub(crate) log: Vec<Change>,
    /// Changes skipped because they no longer applied.
    pub(crate) conflicts: Vec<String>,
    /// The last commit number of each author (as named in the store).
    last: HashMap<String, u64>,
    /// The highest label number seen anywhere (claims, adds).
    top: usize,
}

fn bad(ck: &Checkout, what: &str, e: impl std::fmt::Display) -> LabelError {
    LabelError::Io { action: "update the annotations in", path: ck.url(), cause: std::io::Error::other(format!("{what}: {e}")) }
}

fn store_error(ck: &Checkout, what: &str, e: object_store::Error) -> LabelError {
    bad(ck, what, ck.store.error(what, e))
}

/// When a change was made (RFC 3339 UTC strings order as times).
fn time_of(c: &Change) -> &str {
    match c {
        Change::Add { label } | Change::Update { label } => &label.updated_at_utc,
        Change::Edit { edit } => &edit.at_utc,
        Change::Delete { at_utc, .. } => at_utc,
    }
}

fn author_of(c: &Change) -> &str {
    match c {
        Change::Add { label } | Change::Update { label } => &label.author,
        Change::Edit { edit } => &edit.author,
        Change::Delete { author, .. } => author,
    }
}

fn number(id: &str) -> usize {
    id.strip_prefix("l-").and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// An author as a store folder name.
fn author_part(author: &str) -> String {
    let clean: String = author.chars().map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c }).collect();
    let clean = clean.trim();
    if clean.is_empty() || clean == "." || clean == ".." { "unknown" } else { clean }.to_string()
}

/// The folder name as a listing returns it (object_store's encoding of it).
fn listed_as(part: &str) -> String {
    PathPart::from(part).as_ref().to_string()
}

/// Reads every log of the session and merges them.
pub(crate) fn read(ck: &Checkout) -> Result<Merged, LabelError> {
    let s3 = ck.store.s3().clone();
    let prefix = ck.object(&[DIR]);
    let listed: Vec<object_store::ObjectMeta> = ck
        .store
        .block_on(async { s3.list(Some(&prefix)).try_collect().await })
        .map_err(|e| store_error(ck, "listing the annotation logs", e))?;
    let mut top = 0;
    let mut wanted = Vec::new();
    for o in &listed {
        let parts: Vec<String> = o.location.prefix_match(&prefix).map(|p| p.map(|x| x.as_ref().to_string()).collect()).unwrap_or_default();
        match parts.as_slice() {
            [ids, id] if ids == "ids" => top = top.max(number(id)),
            [authors, who, file] if authors == "authors" => {
                if let Some(n) = file.strip_suffix(".jsonl").and_then(|n| n.parse::<u64>().ok()) {
                    wanted.push((who.clone(), n, o.location.clone()));
                }
            }
            _ => {}
        }
    }
    // Entries are immutable: each is fetched once per process.
    let missing: Vec<_> = {
        let known = ck.logs.lock().unwrap_or_else(|e| e.into_inner());
        wanted.iter().filter(|(_, _, loc)| !known.contains_key(loc.as_ref())).cloned().collect()
    };
    let fetched: Vec<(String, bytes::Bytes)> = ck
        .store
        .block_on(
            futures::stream::iter(missing)
                .map(|(_, _, loc)| {
                    let s3 = s3.clone();
                    async move { Ok::<_, object_store::Error>((loc.as_ref().to_string(), s3.get(&loc).await?.bytes().await?)) }
                })
                .buffered(8)
                .try_collect(),
        )
        .map_err(|e| store_error(ck, "reading the annotation logs", e))?;
    {
        let mut known = ck.logs.lock().unwrap_or_else(|e| e.into_inner());
        for (loc, bytes) in fetched {
            super::cache::count_fetched(bytes.len());
            let changes = decode_log(bytes.as_ref()).map_err(|e| bad(ck, &format!("the log entry {loc}"), e))?;
            known.insert(loc, changes);
        }
    }
    let station = {
        let object = ck.object(&[layout::ANNOTATIONS_LOG]);
        match ck.store.block_on(async { s3.get(&object).await?.bytes().await }) {
            Ok(bytes) => decode_log(bytes.as_ref()).map_err(|e| bad(ck, "the station's annotations.log.jsonl", e))?,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(store_error(ck, "reading the station's annotation log", e)),
        }
    };
    let known = ck.logs.lock().unwrap_or_else(|e| e.into_inner());
    let mut by_author: HashMap<String, Vec<Entry>> = HashMap::new();
    for (who, n, loc) in wanted {
        let changes = known.get(loc.as_ref()).cloned().unwrap_or_default();
        by_author.entry(who.clone()).or_default().push(Entry { author: who, n, changes });
    }
    drop(known);
    // The station's log: each change its own entry, in the station's order.
    let mut queues: Vec<Vec<Entry>> =
        vec![station.into_iter().enumerate().map(|(i, c)| Entry { author: "station".into(), n: i as u64, changes: vec![c] }).collect()];
    let mut last = HashMap::new();
    for (who, mut entries) in by_author {
        entries.sort_by_key(|e| e.n);
        last.insert(who, entries.last().map_or(0, |e| e.n));
        queues.push(entries);
    }
    Ok(merge(queues, top, last))
}

/// Merges the authors' queues by time, each queue's own order kept.
fn merge(mut queues: Vec<Vec<Entry>>, mut top: usize, last: HashMap<String, u64>) -> Merged {
    for q in &mut queues {
        q.reverse(); // pop from the end = take the oldest
    }
    let mut state = Annotations { format_version: ANNOTATIONS_VERSION, ..Annotations::default() };
    let (mut log, mut conflicts) = (Vec::new(), Vec::new());
    loop {
        let next = queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.last().map(|e| (e.changes.first().map_or("", time_of), e.author.as_str(), i)))
            .min()
            .map(|(_, _, i)| i);
        let Some(i) = next else { break };
        let Some(entry) = queues[i].pop() else { break };
        for c in entry.changes {
            if let Change::Add { label } = &c {
                top = top.max(number(&label.id));
            }
            match state.apply(&c) {
                Ok(()) => log.push(c),
                Err(e) => conflicts.push(format!("{} (commit {} of {}, by {}): {e}", time_of(&c), entry.n, entry.author, author_of(&c))),
            }
        }
    }
    Merged { state, log, conflicts, last, top }
}

/// Writes the merged state into the checkout folder (what `labels::load`
/// and `labels::read_log` read there).
fn write_local(ck: &Checkout, m: &Merged) -> Result<(), LabelError> {
    let io = |path: &std::path::Path, e: crate::SessionError| LabelError::Io {
        action: "write",
        path: path.display().to_string(),
        cause: std::io::Error::other(e.to_string()),
    };
    let state = ck.dir.join(layout::ANNOTATIONS);
    let text = serde_json::to_string_pretty(&m.state).unwrap_or_default() + "\n";
    write_atomic(&state, text.as_bytes()).map_err(|e| io(&state, e))?;
    let log = ck.dir.join(layout::ANNOTATIONS_LOG);
    let mut bytes = Vec::new();
    encode_log(&m.log, &mut bytes).map_err(|e| bad(ck, "encoding the merged log", e))?;
    write_atomic(&log, &bytes).map_err(|e| io(&log, e))
}

/// Merges the store's logs into the checkout folder; returns the conflicts.
pub(crate) fn refresh(ck: &Checkout) -> Result<Vec<String>, LabelError> {
    let m = read(ck)?;
    write_local(ck, &m)?;
    Ok(m.conflicts)
}

/// `tacit label rebuild` on a store session: the merged state, written to
/// the store's `annotations.json` and the checkout.
pub(crate) fn rebuild(ck: &Checkout) -> Result<Annotations, LabelError> {
    let m = read(ck)?;
    publish(ck, &m)?;
    write_local(ck, &m)?;
    Ok(m.state)
}

/// What a commit makes its changes with: the current state and the next free label number.
pub(crate) type MakeChanges<'a> = dyn FnMut(&Annotations, usize) -> Result<Vec<Change>, LabelError> + 'a;

/// The commit of `labels::commit` on a store session: changes made from
/// the merged state and the next free label number, checked, their new
/// ids claimed, written as the author's next log entry; redone from a fresh
/// merge whenever another writer came first.
pub(crate) fn commit(ck: &Checkout, make: &mut MakeChanges<'_>) -> Result<Annotations, LabelError> {
    let s3 = ck.store.s3().clone();
    'attempt: for _ in 0..40 {
        let m = read(ck)?;
        let first = m.top + 1;
        let changes = make(&m.state, first)?;
        let mut check = m.state.clone();
        for c in &changes {
            check.apply(c)?;
        }
        if changes.is_empty() {
            return Ok(m.state);
        }
        for c in &changes {
            if let Change::Add { label } = c {
                if number(&label.id) >= first {
                    let claim = ck.object(&[DIR, "ids", &label.id]);
                    let payload = PutPayload::from(author_of(c).as_bytes().to_vec());
                    match ck.store.block_on(async { s3.put_opts(&claim, payload, PutMode::Create.into()).await }) {
                        Ok(_) => {}
                        Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                            std::thread::sleep(jitter());
                            continue 'attempt;
                        }
                        Err(e) => return Err(store_error(ck, "claiming a label id", e)),
                    }
                }
            }
        }
        let who = author_part(author_of(&changes[0]));
        let n = m.last.get(&listed_as(&who)).copied().unwrap_or(0) + 1;
        let entry = ck.object(&[DIR, "authors", &who, &format!("{n:08}.jsonl")]);
        let mut bytes = Vec::new();
        encode_log(&changes, &mut bytes).map_err(|e| bad(ck, "encoding the changes", e))?;
        match ck.store.block_on(async { s3.put_opts(&entry, PutPayload::from(bytes), PutMode::Create.into()).await }) {
            Ok(_) => {}
            // The same author on another PC wrote entry n first.
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                std::thread::sleep(jitter());
                continue 'attempt;
            }
            Err(e) => return Err(store_error(ck, "appending to the annotation log", e)),
        }
        let merged = read(ck)?;
        publish(ck, &merged)?;
        write_local(ck, &merged)?;
        return Ok(merged.state);
    }
    Err(bad(ck, "committing", "other trainers kept committing first for 40 tries; try again"))
}

/// The store's `annotations.json`: the merged state, replaced only over the
/// version read (If-Match), created only if absent; redone from a fresh
/// merge when another writer came first.
fn publish(ck: &Checkout, first: &Merged) -> Result<(), LabelError> {
    let s3 = ck.store.s3().clone();
    let object = ck.object(&[layout::ANNOTATIONS]);
    let mut state = first.state.clone();
    for _ in 0..20 {
        let etag = match ck.store.block_on(async { s3.head(&object).await }) {
            Ok(meta) => Some(meta.e_tag),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => return Err(store_error(ck, "reading annotations.json", e)),
        };
        let mode = match etag {
            Some(e_tag) => PutMode::Update(UpdateVersion { e_tag, version: None }),
            None => PutMode::Create,
        };
        let text = serde_json::to_string_pretty(&state).unwrap_or_default() + "\n";
        match ck.store.block_on(async { s3.put_opts(&object, PutPayload::from(text.into_bytes()), PutOptions::from(mode)).await }) {
            Ok(_) => return Ok(()),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                std::thread::sleep(jitter());
                state = read(ck)?.state;
            }
            Err(e) => return Err(store_error(ck, "writing annotations.json", e)),
        }
    }
    Err(bad(ck, "writing annotations.json", "it kept changing under 20 tries; `tacit label rebuild` writes it again"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tacit_schema::labels::LabelSegment;

    fn add(id: &str, who: &str, at: &str) -> Change {
        Change::Add { label: LabelSegment::draft(id.into(), "step", "tack", (0, 1), who, at) }
    }

    #[test]
    fn merge_orders_by_time_keeps_each_authors_order_and_reports_conflicts() {
        let kim = vec![
            Entry { author: "kim".into(), n: 1, changes: vec![add("l-0001", "kim", "2026-12-01T09:00:00.000Z")] },
            Entry {
                author: "kim".into(),
                n: 2,
                changes: vec![Change::Delete { id: "l-0002".into(), author: "kim".into(), at_utc: "2026-12-01T09:03:00.000Z".into() }],
            },
        ];
        let lee = vec![
            Entry { author: "lee".into(), n: 1, changes: vec![add("l-0002", "lee", "2026-12-01T09:01:00.000Z")] },
            Entry {
                author: "lee".into(),
                n: 2,
                changes: vec![Change::Update {
                    label: LabelSegment::draft("l-0002".into(), "step", "weld", (0, 1), "lee", "2026-12-01T09:04:00.000Z"),
                }],
            },
        ];
        let m = merge(vec![kim, lee], 0, HashMap::new());
        // kim's delete of lee's label came first; lee's later update no longer applies.
        assert_eq!(m.state.labels.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(), ["l-0001"]);
        assert_eq!(m.log.len(), 3);
        assert_eq!(m.conflicts.len(), 1, "{:?}", m.conflicts);
        assert!(m.conflicts[0].contains("lee") && m.conflicts[0].contains("no label with id l-0002"), "{:?}", m.conflicts);
        assert_eq!(m.top, 2);
    }

    #[test]
    fn authors_become_folder_names() {
        assert_eq!(author_part("김민수"), "김민수");
        assert_eq!(listed_as("lee"), "lee");
        assert_eq!(author_part("a/b"), "a_b");
        assert_eq!(author_part(" "), "unknown");
    }
}
