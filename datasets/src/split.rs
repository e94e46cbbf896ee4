//! Splits by session, never by frame: `train=0.8,val=0.1,test=0.1`, with
//! sessions grouped by operator, station or session so that one group never
//! lands in two splits (no leakage of a person or a station between train and
//! test).
//!
//! Assignment is deterministic for a seed and stable under append: groups are
//! ordered by a hash of (seed, group key) — not by arrival — and each goes to
//! the split furthest below its share of recorded time. Groups already in a
//! dataset keep their split; new sessions of a known group follow it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::DatasetError;
use crate::session::Session;

/// What keeps sessions together in one split.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// Each session on its own.
    #[default]
    Session,
    /// All sessions of an operator together.
    Operator,
    /// All sessions of a station together.
    Station,
}

impl GroupBy {
    /// Parses `session`, `operator` or `station`.
    pub fn parse(s: &str) -> Result<Self, DatasetError> {
        match s {
            "session" => Ok(Self::Session),
            "operator" => Ok(Self::Operator),
            "station" => Ok(Self::Station),
            _ => Err(DatasetError::Options(format!("--group-by takes session, operator or station (got {s:?})"))),
        }
    }

    /// The name used in metadata.
    pub fn name(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Operator => "operator",
            Self::Station => "station",
        }
    }
}

/// Split names with their shares, how sessions are grouped, and the seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitSpec {
    /// (name, share) in the order given; shares sum to 1.
    pub parts: Vec<(String, f64)>,
    /// Grouping.
    pub group_by: GroupBy,
    /// Seed of the group order.
    pub seed: u64,
}

impl Default for SplitSpec {
    fn default() -> Self {
        Self { parts: vec![("train".into(), 1.0)], group_by: GroupBy::Session, seed: 0 }
    }
}

impl SplitSpec {
    /// Parses `train=0.8,val=0.1,test=0.1` (shares are normalised if they
    /// do not sum to exactly 1; percentages like `train=80` work too).
    pub fn parse(text: &str, group_by: GroupBy, seed: u64) -> Result<Self, DatasetError> {
        let bad = |why: String| DatasetError::Options(format!("--split {text:?}: {why}; write it like train=0.8,val=0.1,test=0.1"));
        let mut parts: Vec<(String, f64)> = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some((name, share)) = item.split_once('=') else { return Err(bad(format!("{item:?} has no '='"))) };
            let name = name.trim();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(bad(format!("split name {name:?} must be letters, digits or _")));
            }
            let share: f64 = share.trim().parse().map_err(|_| bad(format!("share {share:?} of {name} is not a number")))?;
            if !share.is_finite() || share < 0.0 {
                return Err(bad(format!("share of {name} must be ≥ 0")));
            }
            if parts.iter().any(|(n, _)| n == name) {
                return Err(bad(format!("{name} is named twice")));
            }
            parts.push((name.to_string(), share));
        }
        let total: f64 = parts.iter().map(|(_, s)| s).sum();
        if parts.is_empty() || total <= 0.0 {
            return Err(bad("no split has a positive share".into()));
        }
        for p in &mut parts {
            p.1 /= total;
        }
        Ok(Self { parts, group_by, seed })
    }

    /// The `train=0.8,val=0.1,test=0.1` form.
    pub fn describe(&self) -> String {
        self.parts.iter().map(|(n, s)| format!("{n}={}", (s * 1000.0).round() / 1000.0)).collect::<Vec<_>>().join(",")
    }

    /// Position of a split name in the spec (splits order episodes).
    pub fn rank(&self, split: &str) -> usize {
        self.parts.iter().position(|(n, _)| n == split).unwrap_or(self.parts.len())
    }
}

/// One session to place: its group key and its weight (recorded time).
#[derive(Clone, Debug)]
pub struct Unit {
    /// Operator, station or session id, per [`GroupBy`].
    pub group: String,
    /// Recorded duration, ns.
    pub weight: i64,
}

/// What is already in a dataset: group → split, and time per split.
#[derive(Clone, Debug, Default)]
pub struct Existing {
    /// Splits of groups already exported.
    pub groups: BTreeMap<String, String>,
    /// Recorded time already in each split, ns.
    pub weight: BTreeMap<String, i64>,
}

/// The split of each unit, in input order.
pub fn assign(spec: &SplitSpec, units: &[Unit], existing: &Existing) -> Vec<String> {
    if spec.parts.is_empty() {
        return units.iter().map(|_| "train".to_string()).collect();
    }
    let mut group_weight: BTreeMap<&str, i64> = BTreeMap::new();
    for u in units {
        *group_weight.entry(u.group.as_str()).or_default() += u.weight.max(1);
    }
    let mut placed: BTreeMap<String, String> = existing.groups.clone();
    let mut have: Vec<f64> = spec.parts.iter().map(|(n, _)| existing.weight.get(n).copied().unwrap_or(0) as f64).collect();
    for (g, w) in &group_weight {
        if let Some(s) = placed.get(*g) {
            let i = spec.rank(s);
            if let Some(h) = have.get_mut(i) {
                *h += *w as f64;
            }
        }
    }
    let mut fresh: Vec<(&str, i64)> = group_weight.iter().filter(|(g, _)| !placed.contains_key(**g)).map(|(g, w)| (*g, *w)).collect();
    fresh.sort_by_key(|(g, _)| (mix(spec.seed, g), *g));
    let mut total: f64 = have.iter().sum::<f64>();
    for (g, w) in fresh {
        total += w as f64;
        // The split furthest below its share of the total so far (ties: first named).
        let mut best = 0;
        let mut best_gap = f64::NEG_INFINITY;
        for (i, (_, share)) in spec.parts.iter().enumerate() {
            let gap = share * total - have[i];
            if gap > best_gap + 1e-9 {
                best = i;
                best_gap = gap;
            }
        }
        have[best] += w as f64;
        placed.insert(g.to_string(), spec.parts[best].0.clone());
    }
    units.iter().map(|u| placed.get(&u.group).cloned().unwrap_or_else(|| spec.parts[0].0.clone())).collect()
}

/// The split of `group` from its hash alone: the point (seed, group) falls
/// on in [0, 1) picks the part whose share covers it. Used where exporters
/// cannot see each other (Delta tables written by many stations at once):
/// the same group lands in the same split from every process, with no
/// coordination; shares hold on average rather than exactly.
pub fn by_hash(spec: &SplitSpec, group: &str) -> String {
    let u = (mix(spec.seed, group) >> 11) as f64 / (1u64 << 53) as f64;
    let mut edge = 0.0;
    for (name, share) in &spec.parts {
        edge += share;
        if u < edge {
            return name.clone();
        }
    }
    spec.parts.last().map(|p| p.0.clone()).unwrap_or_else(|| "train".into())
}

/// A stable 64-bit hash of (seed, key): FNV-1a then a SplitMix64 finish.
fn mix(seed: u64, key: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The group a session belongs to for splitting.
pub(crate) fn group_key(s: &Session, by: GroupBy) -> String {
    match by {
        GroupBy::Session => s.manifest.id.clone(),
        GroupBy::Operator => s.manifest.operator.clone(),
        GroupBy::Station => s.manifest.station.clone(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn units(groups: &[&str]) -> Vec<Unit> {
        groups.iter().map(|g| Unit { group: g.to_string(), weight: 60_000_000_000 }).collect()
    }

    #[test]
    fn parses_and_refuses() {
        let s = SplitSpec::parse("train=80, val=10,test=10", GroupBy::Session, 0).unwrap();
        assert_eq!(s.parts[0], ("train".to_string(), 0.8));
        assert_eq!(s.describe(), "train=0.8,val=0.1,test=0.1");
        for bad in ["", "train", "train=x", "train=-1", "a b=1", "train=1,train=2", "train=0"] {
            let e = SplitSpec::parse(bad, GroupBy::Session, 0).unwrap_err().to_string();
            assert!(e.contains("train=0.8,val=0.1,test=0.1"), "{bad}: {e}");
        }
    }

    #[test]
    fn shares_are_met_by_time_and_deterministic_per_seed() {
        let ids: Vec<String> = (0..100).map(|i| format!("s{i:03}")).collect();
        let u = units(&ids.iter().map(String::as_str).collect::<Vec<_>>());
        let spec = SplitSpec::parse("train=0.8,val=0.1,test=0.1", GroupBy::Session, 7).unwrap();
        let a = assign(&spec, &u, &Existing::default());
        let count = |v: &[String], n: &str| v.iter().filter(|s| *s == n).count();
        assert_eq!((count(&a, "train"), count(&a, "val"), count(&a, "test")), (80, 10, 10));
        assert_eq!(a, assign(&spec, &u, &Existing::default()), "same seed, same splits");
        let other = assign(&SplitSpec { seed: 8, ..spec.clone() }, &u, &Existing::default());
        assert_ne!(a, other, "another seed shuffles");
        // Input order does not matter.
        let mut rev = u.clone();
        rev.reverse();
        let mut b = assign(&spec, &rev, &Existing::default());
        b.reverse();
        assert_eq!(a, b);
    }

    #[test]
    fn groups_never_straddle_splits_and_keep_their_split_on_append() {
        let ops = ["kim", "lee", "park", "choi", "jung", "kang", "cho", "yoon", "jang", "lim"];
        let mut u = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            for _ in 0..(i % 3 + 1) {
                u.push(Unit { group: op.to_string(), weight: 60_000_000_000 });
            }
        }
        let spec = SplitSpec::parse("train=0.6,val=0.2,test=0.2", GroupBy::Operator, 1).unwrap();
        let a = assign(&spec, &u, &Existing::default());
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for (unit, split) in u.iter().zip(&a) {
            assert_eq!(*seen.entry(unit.group.as_str()).or_insert(split.as_str()), split.as_str(), "{} in two splits", unit.group);
        }
        assert!(["train", "val", "test"].iter().all(|s| a.iter().any(|x| x == s)), "every split used: {a:?}");
        // Append: old groups keep their split; a new group fills the emptiest share.
        let mut existing = Existing::default();
        for (unit, split) in u.iter().zip(&a) {
            existing.groups.insert(unit.group.clone(), split.clone());
            *existing.weight.entry(split.clone()).or_default() += unit.weight;
        }
        let more = vec![Unit { group: "kim".into(), weight: 1 }, Unit { group: "new".into(), weight: 60_000_000_000 }];
        let b = assign(&spec, &more, &existing);
        assert_eq!(b[0], existing.groups["kim"]);
    }
}
