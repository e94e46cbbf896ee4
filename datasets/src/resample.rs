//! Putting native-rate streams onto an episode's constant frame grid.
//!
//! Frame `k` is at `t_k = k / fps` (session time). A sensor channel's value
//! at frame `k` is the **mean of its samples in the centred window
//! `[t_k − T/2, t_k + T/2)`**, `T = 1/fps` (so every sample counts exactly
//! once and a 10 kHz channel at 30 fps averages ~333 samples per frame). A
//! frame whose window holds no sample of the channel repeats the previous
//! frame's value; frames before the channel's first sample take its first
//! value. A channel with no samples at all is NaN.

/// Accumulates samples of `channels` channels onto `frames` frames.
pub struct WindowMean {
    period_ns: f64,
    channels: usize,
    sums: Vec<f64>,
    counts: Vec<u32>,
    frames: usize,
}

impl WindowMean {
    /// A grid of `frames` frames at `fps`.
    pub fn new(fps: f64, frames: usize, channels: usize) -> Self {
        Self { period_ns: 1e9 / fps, channels, sums: vec![0.0; frames * channels], counts: vec![0; frames * channels], frames }
    }

    /// The frame whose window holds session time `t_ns`.
    pub fn frame_of(&self, t_ns: i64) -> Option<usize> {
        let k = ((t_ns as f64 + self.period_ns / 2.0) / self.period_ns).floor();
        (k >= 0.0 && (k as usize) < self.frames).then_some(k as usize)
    }

    /// Adds one sample of channel `c`.
    pub fn add(&mut self, t_ns: i64, c: usize, value: f64) {
        if !value.is_finite() || c >= self.channels {
            return;
        }
        if let Some(k) = self.frame_of(t_ns) {
            self.sums[k * self.channels + c] += value;
            self.counts[k * self.channels + c] += 1;
        }
    }

    /// Per-frame values, row-major (`frames × channels`).
    pub fn finish(self) -> Vec<f32> {
        let c = self.channels;
        let mut out = vec![f32::NAN; self.frames * c];
        for ch in 0..c {
            let mut last: Option<f32> = None;
            let mut first_seen = None;
            for k in 0..self.frames {
                let i = k * c + ch;
                if self.counts[i] > 0 {
                    let v = (self.sums[i] / f64::from(self.counts[i])) as f32;
                    last = Some(v);
                    first_seen.get_or_insert(k);
                }
                if let Some(v) = last {
                    out[i] = v;
                }
            }
            if let Some(f) = first_seen {
                let v = out[f * c + ch];
                for k in 0..f {
                    out[k * c + ch] = v;
                }
            }
        }
        out
    }
}

/// Index of the item active at frame time `t` (latest-starting first): a
/// span covers `[start, end)`; a point at `p` belongs to the frame whose
/// window `[t − half, t + half)` holds it, so no point falls between frames.
pub fn covering<T>(items: &[T], t: i64, half: i64, span: impl Fn(&T) -> (i64, i64)) -> Option<usize> {
    items
        .iter()
        .enumerate()
        .rev()
        .find(|(_, it)| {
            let (s, e) = span(it);
            if s == e {
                t - half <= s && s < t + half
            } else {
                s <= t && t < e
            }
        })
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_khz_onto_thirty_fps_by_hand() {
        // 10 kHz ramp v = sample index, 0.2 s → 2000 samples, 6 frames at 30 fps.
        let mut m = WindowMean::new(30.0, 6, 1);
        for i in 0..2000i64 {
            m.add(i * 100_000, 0, i as f64);
        }
        let out = m.finish();
        // Frame 0 window [-16.67 ms, 16.67 ms): samples 0..=166 → mean 83.
        assert_eq!(out[0], 83.0);
        // Frame 1 window [16.67, 50) ms: samples 167..=499 → mean 333.
        assert_eq!(out[1], 333.0);
        // Frame 2 [50, 83.33) ms: samples 500..=833 → mean 666.5.
        assert_eq!(out[2], 666.5);
        // Frame 5 [150, 183.33) ms: samples 1500..=1833 → 1666.5.
        assert_eq!(out[5], 1666.5);
    }

    #[test]
    fn gaps_hold_and_leading_frames_take_the_first_value() {
        let mut m = WindowMean::new(10.0, 5, 2);
        m.add(200_000_000, 0, 4.0); // frame 2
        m.add(210_000_000, 0, 6.0); // frame 2
        m.add(400_000_000, 0, 1.0); // frame 4
        m.add(0, 0, f64::NAN); // ignored
        let out = m.finish();
        let ch0: Vec<f32> = (0..5).map(|k| out[k * 2]).collect();
        assert_eq!(ch0, vec![5.0, 5.0, 5.0, 5.0, 1.0]);
        assert!(out[1].is_nan(), "a channel with no samples is NaN");
    }

    #[test]
    fn covering_picks_spans_and_points() {
        let items = [(0i64, 10i64), (10, 20), (15, 15)];
        assert_eq!(covering(&items, 9, 1, |x| *x), Some(0));
        assert_eq!(covering(&items, 10, 1, |x| *x), Some(1));
        assert_eq!(covering(&items, 15, 1, |x| *x), Some(2));
        assert_eq!(covering(&items, 20, 1, |x| *x), None);
        // A point between frames lands on the nearest frame only.
        let point = [(14i64, 14i64)];
        assert_eq!(covering(&point, 10, 5, |x| *x), Some(0)); // window [5, 15)
        assert_eq!(covering(&point, 20, 5, |x| *x), None); // window [15, 25)
    }
}
