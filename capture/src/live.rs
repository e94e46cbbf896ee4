//! What the Record screen shows while recording: the newest camera frame
//! (at most a few per second), the microphone's level and a short history of
//! each sensor. Writers fill it with `try_lock` only, so a slow or hidden
//! window can never hold up a writer, and nothing here touches the files.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Newest preview frame is replaced at most this often (5 per second).
pub const PREVIEW_FRAME_NS: i64 = 200_000_000;
/// Sensor history keeps at most one row per this interval (50 per second).
pub const SENSOR_STEP_NS: i64 = 20_000_000;
/// Rows of sensor history kept (10 s at 50 per second).
pub const SENSOR_ROWS: usize = 500;

/// A camera frame for preview: the recorded JPEG, shared (not copied).
#[derive(Clone, Debug)]
pub struct PreviewFrame {
    /// Session time.
    pub t_ns: i64,
    /// JPEG bytes as written to the session.
    pub jpeg: Arc<[u8]>,
}

/// The live view of one stream.
#[derive(Debug)]
pub struct LiveTap {
    frame: Mutex<Option<PreviewFrame>>,
    last_frame_ns: AtomicI64,
    /// Peak of the newest audio block, 0..1, as f32 bits.
    level: AtomicU32,
    sensor: Mutex<VecDeque<(i64, Vec<f32>)>>,
    last_sensor_ns: AtomicI64,
}

impl Default for LiveTap {
    fn default() -> Self {
        Self {
            frame: Mutex::new(None),
            last_frame_ns: AtomicI64::new(i64::MIN),
            level: AtomicU32::new(0),
            sensor: Mutex::new(VecDeque::new()),
            last_sensor_ns: AtomicI64::new(i64::MIN),
        }
    }
}

impl LiveTap {
    /// Offers a frame; kept when the last kept one is older than [`PREVIEW_FRAME_NS`].
    /// The closure makes the shared copy only when it is kept.
    pub fn offer_frame(&self, t_ns: i64, jpeg: impl FnOnce() -> Arc<[u8]>) {
        let last = self.last_frame_ns.load(Ordering::Relaxed);
        if last != i64::MIN && t_ns - last < PREVIEW_FRAME_NS {
            return;
        }
        if let Ok(mut slot) = self.frame.try_lock() {
            *slot = Some(PreviewFrame { t_ns, jpeg: jpeg() });
            self.last_frame_ns.store(t_ns, Ordering::Relaxed);
        }
    }

    /// The newest preview frame.
    pub fn frame(&self) -> Option<PreviewFrame> {
        self.frame.lock().ok()?.clone()
    }

    /// Records the peak of an audio block (i16 samples).
    pub fn offer_audio(&self, samples: &[i16]) {
        let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        self.level.store((f32::from(peak) / 32768.0).to_bits(), Ordering::Relaxed);
    }

    /// Peak of the newest audio block, 0..1.
    pub fn level(&self) -> f32 {
        f32::from_bits(self.level.load(Ordering::Relaxed))
    }

    /// Offers sensor rows (`channels` values per row, row-major); keeps at
    /// most one per [`SENSOR_STEP_NS`].
    pub fn offer_sensor(&self, t_ns: &[i64], values: &[Option<f64>], channels: usize) {
        if channels == 0 {
            return;
        }
        let Ok(mut rows) = self.sensor.try_lock() else { return };
        let mut last = self.last_sensor_ns.load(Ordering::Relaxed);
        for (i, &t) in t_ns.iter().enumerate() {
            if last != i64::MIN && t - last < SENSOR_STEP_NS {
                continue;
            }
            let row = values.get(i * channels..(i + 1) * channels).unwrap_or(&[]);
            rows.push_back((t, row.iter().map(|v| v.map_or(f32::NAN, |x| x as f32)).collect()));
            last = t;
        }
        while rows.len() > SENSOR_ROWS {
            rows.pop_front();
        }
        self.last_sensor_ns.store(last, Ordering::Relaxed);
    }

    /// The sensor history: (session time, one value per channel), oldest first.
    pub fn sensor_rows(&self) -> Vec<(i64, Vec<f32>)> {
        self.sensor.lock().map(|r| r.iter().cloned().collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preview_is_rate_limited_and_history_bounded() {
        let tap = LiveTap::default();
        let mut copies = 0;
        for k in 0..30i64 {
            tap.offer_frame(k * 33_000_000, || {
                copies += 1;
                Arc::from(vec![k as u8])
            });
        }
        // 1 s of 30 fps → one frame per 200 ms.
        assert_eq!(copies, 5);
        assert_eq!(tap.frame().unwrap().jpeg[0], 28);
        tap.offer_audio(&[0, -16384, 100]);
        assert!((tap.level() - 0.5).abs() < 1e-6);
        let t: Vec<i64> = (0..10_000).map(|i| i * 1_000_000).collect(); // 10 s at 1 kHz
        let v: Vec<Option<f64>> = (0..20_000).map(|i| if i % 2 == 0 { Some(i as f64) } else { None }).collect();
        tap.offer_sensor(&t, &v, 2);
        let rows = tap.sensor_rows();
        assert_eq!(rows.len(), 500);
        assert_eq!(rows[1].0 - rows[0].0, SENSOR_STEP_NS);
        assert!(rows[0].1[1].is_nan());
        assert_eq!(rows.last().unwrap().0, 9_980_000_000);
    }
}
