//! Per-stream tallies: counts, first/last time and the pairs for the sync
//! fit. Filled by the writers while recording and by `recover` from files, so
//! both produce the same manifest entries.

use tacit_schema::{StreamInfo, StreamKind};

use crate::fit::FitInput;

/// Device time jump that breaks a sync-fit piece: 1 s.
pub const FIT_GAP_NS: i64 = 1_000_000_000;

/// Running summary of one stream.
#[derive(Debug, Default)]
pub struct Tally {
    /// Items on disk.
    pub count: u64,
    /// First row's session time.
    pub first_t_ns: Option<i64>,
    /// Last row's session time.
    pub last_t_ns: Option<i64>,
    /// Pairs for the device-time fit.
    pub fit: FitInput,
}

impl Tally {
    /// A tally that keeps at most one fit pair per 10 ms of device time.
    pub fn new() -> Self {
        Self { fit: FitInput::with_min_step(10_000_000), ..Self::default() }
    }

    /// Counts `items` ending at `t_ns`; `first_t_ns` of the batch for the first.
    pub fn add(&mut self, items: u64, first_t_ns: i64, last_t_ns: i64) {
        if items == 0 {
            return;
        }
        self.count += items;
        self.first_t_ns.get_or_insert(first_t_ns);
        self.last_t_ns = Some(last_t_ns);
    }

    /// Builds the manifest entry (drops and errors come from live counters or 0).
    pub fn into_info(self, name: &str, kind: StreamKind, files: Vec<String>, rate_hz: f64) -> StreamInfo {
        let sync = (!self.fit.is_empty()).then(|| self.fit.fit(FIT_GAP_NS));
        StreamInfo {
            name: name.to_string(),
            kind,
            files,
            rate_hz,
            count: self.count,
            first_t_ns: self.first_t_ns,
            last_t_ns: self.last_t_ns,
            drops: 0,
            rejects: 0,
            errors: 0,
            offset_ns: 0,
            details: serde_json::Map::new(),
            sync,
        }
    }
}

/// Keeps `t_ns` non-decreasing within a stream (threads that stamp events
/// race by microseconds); device time keeps the raw order.
#[derive(Debug, Default)]
pub struct Monotonic {
    last: Option<i64>,
}

impl Monotonic {
    /// `t_ns`, raised to the previous value if it went backwards.
    pub fn fix(&mut self, t_ns: i64) -> i64 {
        let t = match self.last {
            Some(last) if t_ns < last => last,
            _ => t_ns,
        };
        self.last = Some(t);
        t
    }
}
