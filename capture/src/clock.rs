//! The session clock: one `Instant` taken at session start; every row carries
//! `t_ns` since then. The UTC anchor pairs a clock reading with wall time.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tacit_schema::ClockAnchor;

/// Monotonic nanoseconds since the session started. Cheap to copy into every
/// capture thread.
#[derive(Clone, Copy, Debug)]
pub struct SessionClock {
    start: Instant,
}

impl SessionClock {
    /// Starts a clock now.
    pub fn start_now() -> Self {
        Self { start: Instant::now() }
    }

    /// The `Instant` at t = 0.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// Session time now.
    pub fn now_ns(&self) -> i64 {
        self.ns_at(Instant::now())
    }

    /// Session time of an `Instant` (negative before the start).
    pub fn ns_at(&self, at: Instant) -> i64 {
        match at.checked_duration_since(self.start) {
            Some(d) => duration_ns(d),
            None => -duration_ns(self.start.duration_since(at)),
        }
    }

    /// The `Instant` of a session time (clamped at the start).
    pub fn instant_at(&self, t_ns: i64) -> Instant {
        self.start + Duration::from_nanos(t_ns.max(0) as u64)
    }

    /// Reads the session clock and UTC back to back, taking the pair with the
    /// smallest bracket of three tries so the anchor is good to a few µs.
    pub fn anchor(&self) -> ClockAnchor {
        let mut best: Option<(i64, ClockAnchor)> = None;
        for _ in 0..3 {
            let before = self.now_ns();
            let utc = SystemTime::now().duration_since(UNIX_EPOCH).map(duration_ns).unwrap_or(0);
            let after = self.now_ns();
            let width = after - before;
            if best.as_ref().is_none_or(|(w, _)| width < *w) {
                best = Some((width, ClockAnchor { t_ns: before + width / 2, utc_unix_ns: utc }));
            }
        }
        best.map(|(_, a)| a).unwrap_or(ClockAnchor { t_ns: 0, utc_unix_ns: 0 })
    }
}

/// A `Duration` as i64 nanoseconds (saturating: 292 years fit).
pub fn duration_ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}
