//! Voice-activity detection tuned for loud workshops: a welding arc is
//! broadband and loud, speech is harmonic and sits in 250–3500 Hz. Each 20 ms
//! frame is scored by how far its speech-band energy rises above the local
//! noise floor (a low percentile over a sliding window), and frames whose
//! band spectrum is as flat as noise are not speech. Runs of speech frames
//! become regions, merged across short pauses and padded.

use realfft::RealFftPlanner;
use serde::Serialize;

use crate::audio::WHISPER_RATE;

/// Detector settings (recorded in the manifest with each transcript).
#[derive(Clone, Debug, Serialize)]
pub struct VadParams {
    /// Frame length, ms.
    pub frame_ms: u32,
    /// dB above the local noise floor that counts as speech.
    pub threshold_db: f32,
    /// Band spectral flatness above which a frame is noise (0 = pure tone, 1 = white).
    pub max_flatness: f32,
    /// Window for the noise floor, s.
    pub floor_window_s: f32,
    /// Percentile of band energy taken as the floor.
    pub floor_percentile: f32,
    /// Pauses shorter than this join two regions, ms.
    pub merge_gap_ms: u32,
    /// Regions shorter than this are dropped, ms.
    pub min_speech_ms: u32,
    /// Padding added on both sides, ms.
    pub pad_ms: u32,
}

impl Default for VadParams {
    fn default() -> Self {
        Self {
            frame_ms: 20,
            threshold_db: 8.0,
            max_flatness: 0.45,
            floor_window_s: 6.0,
            floor_percentile: 0.15,
            merge_gap_ms: 500,
            min_speech_ms: 250,
            pad_ms: 300,
        }
    }
}

/// A region of speech in 16 kHz samples, `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Region {
    /// First sample.
    pub start: usize,
    /// One past the last sample.
    pub end: usize,
}

/// Per-frame features.
struct Frame {
    band_db: f32,
    flatness: f32,
}

fn frames(samples: &[f32], frame: usize) -> Vec<Frame> {
    let n_fft = frame.next_power_of_two();
    let mut planner = RealFftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(n_fft);
    let window: Vec<f32> = (0..frame).map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / frame as f32).cos()).collect();
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let bin_hz = WHISPER_RATE as f32 / n_fft as f32;
    let (lo, hi) = ((250.0 / bin_hz) as usize, ((3500.0 / bin_hz) as usize).min(n_fft / 2));
    samples
        .chunks(frame)
        .map(|chunk| {
            input.iter_mut().for_each(|x| *x = 0.0);
            for (i, (s, w)) in chunk.iter().zip(&window).enumerate() {
                input[i] = s * w;
            }
            let _ = fft.process(&mut input, &mut spectrum);
            let power: Vec<f32> = spectrum[lo..hi].iter().map(|c| c.norm_sqr() + 1e-12).collect();
            let mean = power.iter().sum::<f32>() / power.len() as f32;
            let log_mean = power.iter().map(|p| p.ln()).sum::<f32>() / power.len() as f32;
            Frame { band_db: 10.0 * mean.log10(), flatness: log_mean.exp() / mean }
        })
        .collect()
}

/// Low percentile of `values` in a window centred on each index.
fn local_floor(values: &[f32], half: usize, percentile: f32) -> Vec<f32> {
    // Evaluate every `step` frames and hold in between: a few hundred sorts
    // per hour of audio instead of one per frame.
    let step = (half / 8).max(1);
    let mut out = vec![0.0; values.len()];
    let mut i = 0;
    while i < values.len() {
        let (a, b) = (i.saturating_sub(half), (i + half + 1).min(values.len()));
        let mut w: Vec<f32> = values[a..b].to_vec();
        let k = ((w.len() - 1) as f32 * percentile) as usize;
        let (_, v, _) = w.select_nth_unstable_by(k, |x, y| x.total_cmp(y));
        let v = *v;
        for o in out.iter_mut().skip(i).take(step) {
            *o = v;
        }
        i += step;
    }
    out
}

/// Speech regions of 16 kHz mono audio.
pub fn detect(samples: &[f32], p: &VadParams) -> Vec<Region> {
    let frame = (WHISPER_RATE * p.frame_ms / 1000) as usize;
    regions_from_frames(&frame_decisions(samples, p), frame, samples.len(), p)
}

/// The per-frame speech decision (`frame_ms` frames), before smoothing.
pub fn frame_decisions(samples: &[f32], p: &VadParams) -> Vec<bool> {
    let frame = (WHISPER_RATE * p.frame_ms / 1000) as usize;
    if samples.len() < frame {
        return Vec::new();
    }
    let feats = frames(samples, frame);
    let band: Vec<f32> = feats.iter().map(|f| f.band_db).collect();
    let half = (p.floor_window_s * 1000.0 / p.frame_ms as f32 / 2.0) as usize;
    let floor = local_floor(&band, half.max(1), p.floor_percentile);
    feats.iter().zip(&floor).map(|(f, fl)| f.band_db - fl > p.threshold_db && f.flatness < p.max_flatness).collect()
}

/// Regions from per-frame decisions (of any detector): smoothed over five
/// frames, runs joined across pauses shorter than `merge_gap_ms`, runs
/// shorter than `min_speech_ms` dropped, `pad_ms` added on both sides.
pub fn regions_from_frames(speech: &[bool], frame: usize, n_samples: usize, p: &VadParams) -> Vec<Region> {
    // Smooth: a frame is speech if most of its 5-frame neighbourhood is.
    let smooth: Vec<bool> =
        (0..speech.len()).map(|i| speech[i.saturating_sub(2)..(i + 3).min(speech.len())].iter().filter(|s| **s).count() >= 3).collect();
    let ms_to_frames = |ms: u32| (ms / p.frame_ms) as usize;
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < smooth.len() {
        if smooth[i] {
            let s = i;
            while i < smooth.len() && smooth[i] {
                i += 1;
            }
            match runs.last_mut() {
                Some(last) if s - last.1 <= ms_to_frames(p.merge_gap_ms) => last.1 = i,
                _ => runs.push((s, i)),
            }
        } else {
            i += 1;
        }
    }
    let pad = ms_to_frames(p.pad_ms);
    let mut regions: Vec<Region> = Vec::new();
    for (s, e) in runs.into_iter().filter(|(s, e)| e - s >= ms_to_frames(p.min_speech_ms)) {
        let start = s.saturating_sub(pad) * frame;
        let end = ((e + pad) * frame).min(n_samples);
        match regions.last_mut() {
            Some(last) if start <= last.end => last.end = end,
            _ => regions.push(Region { start, end }),
        }
    }
    regions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, amp: f32, seed: u64) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                amp * ((s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0)
            })
            .collect()
    }

    /// A crude vowel: harmonics of 140 Hz under a 700 Hz formant.
    fn vowel(n: usize, amp: f32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                (1..25)
                    .map(|h| {
                        let f = 140.0 * h as f32;
                        let gain = (-((f - 700.0) / 600.0).powi(2)).exp();
                        gain * (std::f32::consts::TAU * f * t).sin()
                    })
                    .sum::<f32>()
                    * amp
            })
            .collect()
    }

    #[test]
    fn finds_voiced_speech_in_noise_and_nothing_in_noise_alone() {
        let mut audio = noise(16_000 * 12, 0.05, 7);
        let v = vowel(16_000 * 2, 0.08);
        for (i, s) in v.iter().enumerate() {
            audio[16_000 * 5 + i] += s;
        }
        let regions = detect(&audio, &VadParams::default());
        assert_eq!(regions.len(), 1, "{regions:?}");
        let r = regions[0];
        assert!(r.start <= 16_000 * 5 && r.start >= 16_000 * 4, "{r:?}");
        assert!(r.end >= 16_000 * 7 && r.end <= 16_000 * 8, "{r:?}");
        assert!(detect(&noise(16_000 * 12, 0.05, 9), &VadParams::default()).is_empty());
        assert!(detect(&[0.0; 100], &VadParams::default()).is_empty());
    }
}
