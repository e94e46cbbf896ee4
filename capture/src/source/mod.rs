//! Device sources. Each runs on its own named thread and hands what it
//! captures to its stream's writer through a bounded channel: a full channel
//! is a counted drop, never a blocked capture thread.

pub mod audio;
pub mod camera;
pub mod font;
pub mod lines;
pub mod sensor;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Sender, TrySendError};

use crate::clock::SessionClock;

/// Live counters of one stream, shared by its source, writer and the status line.
#[derive(Debug, Default)]
pub struct LiveStats {
    /// Items handed to the writer (frames, sample frames, rows, events).
    pub captured: AtomicU64,
    /// Items lost (full channel, xrun gaps).
    pub drops: AtomicU64,
    /// Device errors.
    pub errors: AtomicU64,
    /// Malformed input lines.
    pub rejects: AtomicU64,
    /// Session time of the newest item (-1 before the first).
    pub last_t_ns: AtomicI64,
    /// The device is currently failing.
    pub failing: AtomicBool,
    /// What the Record screen shows (filled by the stream's writer).
    pub tap: Arc<crate::live::LiveTap>,
}

impl LiveStats {
    /// A fresh set of counters.
    pub fn new() -> Arc<Self> {
        let s = Self::default();
        s.last_t_ns.store(-1, Ordering::Relaxed);
        Arc::new(s)
    }
}

/// An event for `events.arrows`.
#[derive(Clone, Debug, PartialEq)]
pub struct EventMsg {
    /// Session time.
    pub t_ns: i64,
    /// One of `tacit_schema::tables::event_kind`.
    pub kind: String,
    /// Marker label, error text, stop reason.
    pub label: String,
    /// Who raised it (`keyboard`, a stream name, `recorder`).
    pub source: String,
}

/// What every source thread gets.
#[derive(Clone)]
pub struct SourceCtx {
    /// Stream name.
    pub name: String,
    /// The session clock.
    pub clock: SessionClock,
    /// Set when recording should stop.
    pub stop: Arc<AtomicBool>,
    /// This stream's counters.
    pub stats: Arc<LiveStats>,
    /// The events stream.
    pub events: Sender<EventMsg>,
}

impl SourceCtx {
    /// True once stop was requested.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Records an event (dropping it if even the events channel is full,
    /// which is counted on this stream).
    pub fn event(&self, kind: &str, label: impl Into<String>) {
        let msg = EventMsg { t_ns: self.clock.now_ns(), kind: kind.to_string(), label: label.into(), source: self.name.clone() };
        if self.events.try_send(msg).is_err() {
            self.stats.drops.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A device error: counted, logged, and marked in events.
    pub fn device_error(&self, message: &str) {
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        if !self.stats.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(stream = %self.name, "device error: {message}");
            self.event(tacit_schema::tables::event_kind::DEVICE_ERROR, message);
        }
    }

    /// The device works again after an error.
    pub fn device_ok(&self) {
        if self.stats.failing.swap(false, Ordering::Relaxed) {
            tracing::info!(stream = %self.name, "device back");
            self.event(tacit_schema::tables::event_kind::RECONNECT, "device back");
        }
    }

    /// Sends without blocking; a full channel counts `items` as dropped.
    /// Returns false when the writer is gone (stop).
    pub fn offer<T>(&self, tx: &Sender<T>, msg: T, items: u64, last_t_ns: i64) -> bool {
        match tx.try_send(msg) {
            Ok(()) => {
                self.stats.captured.fetch_add(items, Ordering::Relaxed);
                self.stats.last_t_ns.store(last_t_ns, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) => {
                self.stats.drops.fetch_add(items, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// Small deterministic PRNG (xorshift64*) for synthetic signals.
#[derive(Clone, Debug)]
pub struct XorShift(u64);

impl XorShift {
    /// Seeded generator (a zero seed is replaced).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 { 0x9E37_79B9_7F4A_7C15 } else { seed })
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Roughly Gaussian (sum of four uniforms), mean 0, σ ≈ 1.
    pub fn normal(&mut self) -> f64 {
        let s: f64 = (0..4).map(|_| self.unit()).sum();
        (s - 2.0) * (3.0f64).sqrt()
    }
}

/// Sleeps until `deadline` in small steps so a stop request is seen within
/// ~50 ms. Returns false if stop was requested.
pub fn sleep_until(ctx: &SourceCtx, deadline: std::time::Instant) -> bool {
    loop {
        if ctx.stopping() {
            return false;
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return true;
        }
        std::thread::sleep((deadline - now).min(std::time::Duration::from_millis(50)));
    }
}
