//! Device time → session time: a robust piecewise-linear fit.
//!
//! Host arrival times are jittery (scheduling, USB, buffering) and sometimes
//! far off (a stalled thread). Each piece is fitted by a Theil–Sen style slope
//! (median of slopes between points half a piece apart), then least squares on
//! the points within a few MADs of that line. Pieces break where device time
//! jumps (a gap in the device's own numbering) or where the writer saw an xrun.

use tacit_schema::{FitPiece, SyncFit};

/// Collects `(device_ns, t_ns)` pairs for a stream as rows arrive, decimated
/// so an hour of a 10 kHz sensor still costs only a few MB.
#[derive(Clone, Debug, Default)]
pub struct FitInput {
    points: Vec<(i64, i64)>,
    breaks: Vec<usize>,
    min_step_ns: i64,
    last_device: Option<i64>,
}

impl FitInput {
    /// Keeps at most one pair per `min_step_ns` of device time.
    pub fn with_min_step(min_step_ns: i64) -> Self {
        Self { min_step_ns, ..Self::default() }
    }

    /// Offers a pair; kept unless closer than the decimation step to the last.
    pub fn push(&mut self, device_ns: i64, t_ns: i64) {
        if let Some(last) = self.last_device {
            let step = device_ns - last;
            if step >= 0 && step < self.min_step_ns {
                return;
            }
        }
        self.last_device = Some(device_ns);
        self.points.push((device_ns, t_ns));
    }

    /// The next pair starts a new piece (an xrun or a reconnect).
    pub fn mark_break(&mut self) {
        let at = self.points.len();
        if self.breaks.last() != Some(&at) {
            self.breaks.push(at);
        }
    }

    /// Pairs kept so far.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// No pairs kept.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Fits the pairs; `gap_ns` is the device-time jump that breaks a piece.
    pub fn fit(&self, gap_ns: i64) -> SyncFit {
        fit_pieces(&self.points, &self.breaks, gap_ns)
    }
}

/// Fits pieces over `points` (sorted by device time), breaking before each
/// index in `breaks` and wherever device time jumps by more than `gap_ns` or
/// goes backwards (a device reset).
pub fn fit_pieces(points: &[(i64, i64)], breaks: &[usize], gap_ns: i64) -> SyncFit {
    let mut pieces = Vec::new();
    let mut start = 0;
    for i in 1..=points.len() {
        let split = i == points.len() || breaks.contains(&i) || points[i].0 - points[i - 1].0 > gap_ns || points[i].0 < points[i - 1].0;
        if split {
            if let Some(p) = fit_piece(&points[start..i]) {
                pieces.push(p);
            }
            start = i;
        }
    }
    SyncFit { pieces }
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mid = values.len() / 2;
    let (_, m, _) = values.select_nth_unstable_by(mid, |a, b| a.total_cmp(b));
    *m
}

/// One straight piece; `None` for no points.
pub fn fit_piece(points: &[(i64, i64)]) -> Option<FitPiece> {
    let (&(x0, _), &(x_end, _)) = (points.first()?, points.last()?);
    // Work relative to the first point so f64 keeps sub-ns precision.
    let xy: Vec<(f64, f64)> = points.iter().map(|&(x, y)| ((x - x0) as f64, y as f64)).collect();
    let n = xy.len();
    let mut slope = 1.0;
    if n >= 2 && x_end > x0 {
        let half = n.div_ceil(2);
        let mut slopes: Vec<f64> = (0..n - half)
            .filter_map(|i| {
                let (a, b) = (xy[i], xy[i + half]);
                (b.0 > a.0).then(|| (b.1 - a.1) / (b.0 - a.0))
            })
            .collect();
        if !slopes.is_empty() {
            slope = median(&mut slopes);
        }
    }
    let mut intercepts: Vec<f64> = xy.iter().map(|&(x, y)| y - slope * x).collect();
    let mut intercept = median(&mut intercepts);
    let residuals: Vec<f64> = xy.iter().map(|&(x, y)| y - (intercept + slope * x)).collect();
    let mut abs: Vec<f64> = residuals.iter().map(|r| r.abs()).collect();
    let mad = median(&mut abs);
    // 1.4826·MAD estimates σ for Gaussian jitter; 3σ keeps ~99.7 % of honest
    // points. A floor of 1 µs keeps a perfect clock from rejecting everything.
    let limit = (3.0 * 1.4826 * mad).max(1_000.0);
    let inliers: Vec<(f64, f64)> = xy.iter().zip(&residuals).filter(|(_, r)| r.abs() <= limit).map(|(p, _)| *p).collect();
    if inliers.len() >= 2 {
        let m = inliers.len() as f64;
        let mx = inliers.iter().map(|p| p.0).sum::<f64>() / m;
        let my = inliers.iter().map(|p| p.1).sum::<f64>() / m;
        let sxx: f64 = inliers.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = inliers.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        if sxx > 0.0 {
            slope = sxy / sxx;
            intercept = my - slope * mx;
        } else {
            intercept = my - slope * mx;
        }
    }
    let mut final_abs: Vec<f64> = inliers.iter().map(|&(x, y)| (y - (intercept + slope * x)).abs()).collect();
    let max_residual_ns = final_abs.iter().copied().fold(0.0, f64::max);
    Some(FitPiece {
        device_start_ns: x0,
        device_end_ns: x_end,
        offset_ns: intercept,
        drift_ppm: (slope - 1.0) * 1e6,
        count: n as u64,
        residual_ns: median(&mut final_abs),
        max_residual_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic xorshift so the test needs no RNG crate.
    fn noise(state: &mut u64) -> f64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        (*state >> 11) as f64 / (1u64 << 53) as f64
    }

    fn gaussian(state: &mut u64) -> f64 {
        let (u1, u2) = (noise(state).max(1e-12), noise(state));
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    #[test]
    fn recovers_offset_and_drift_under_jitter_and_outliers() {
        // 60 s at 100 Hz: device clock offset 12.345 ms, 100 ppm fast,
        // 1 ms Gaussian jitter and 2 % of points delayed by 5–50 ms.
        let offset_ns = 12_345_000.0;
        let drift = 100e-6;
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut input = FitInput::with_min_step(0);
        for i in 0..6_000i64 {
            let device = 7_000_000_000 + i * 10_000_000;
            let truth = offset_ns + (1.0 + drift) * (device - 7_000_000_000) as f64;
            let mut t = truth + 1e6 * gaussian(&mut rng);
            if noise(&mut rng) < 0.02 {
                t += 5e6 + 45e6 * noise(&mut rng);
            }
            input.push(device, t.round() as i64);
        }
        let fit = input.fit(1_000_000_000);
        assert_eq!(fit.pieces.len(), 1);
        let p = &fit.pieces[0];
        assert!((p.drift_ppm - 100.0).abs() < 2.0, "drift {}", p.drift_ppm);
        for i in (0..6_000i64).step_by(100) {
            let device = 7_000_000_000 + i * 10_000_000;
            let truth = offset_ns + (1.0 + drift) * (device - 7_000_000_000) as f64;
            let got = fit.map(device).unwrap();
            assert!((got - truth).abs() < 100_000.0, "at {i}: off by {} ns", got - truth);
        }
        assert!(p.residual_ns > 300_000.0 && p.residual_ns < 1_200_000.0, "{}", p.residual_ns);
    }

    #[test]
    fn breaks_at_gaps_and_marks() {
        let mut input = FitInput::with_min_step(0);
        for i in 0..100 {
            input.push(i * 1_000, 50 + i * 1_000);
        }
        // The device stops for 10 s and resumes with a new host offset.
        for i in 0..100 {
            input.push(10_000_000_000 + i * 1_000, 20_000_000_000 + i * 1_000);
        }
        input.mark_break();
        for i in 0..100 {
            input.push(10_000_100_000 + i * 1_000, 30_000_000_000 + i * 1_000);
        }
        let fit = input.fit(1_000_000);
        assert_eq!(fit.pieces.len(), 3);
        assert!((fit.map(500).unwrap() - 550.0).abs() < 1.0);
        assert!((fit.map(10_000_000_500).unwrap() - 20_000_000_500.0).abs() < 1.0);
        assert!((fit.map(10_000_100_500).unwrap() - 30_000_000_500.0).abs() < 1.0);
    }

    #[test]
    fn decimation_keeps_one_pair_per_step() {
        let mut input = FitInput::with_min_step(10_000_000);
        for i in 0..10_000 {
            input.push(i * 100_000, i * 100_000); // 10 kHz for 1 s
        }
        assert_eq!(input.len(), 100);
        assert!(fit_piece(&[]).is_none());
        let single = fit_piece(&[(5, 9)]).unwrap();
        assert_eq!(single.offset_ns, 9.0);
    }
}
