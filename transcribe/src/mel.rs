//! Whisper's mel filter bank (Slaney scale and norm, as `librosa.filters.mel`
//! with sr 16000, n_fft 400), reproducing OpenAI's table bit for bit, and the
//! log-mel spectrogram of one 30 s window (what the CTranslate2 engine feeds
//! its encoder; whisper.cpp computes its own).

/// Bins of a 400-point real FFT.
pub const N_FFT_BINS: usize = 201;

const F_SP: f64 = 200.0 / 3.0;

/// The mel of 1000 Hz, computed as librosa does (14.999999999999998, not 15:
/// the last bit matters for a bit-exact table).
fn min_log_mel() -> f64 {
    1000.0 / F_SP
}

fn hz_to_mel(f: f64) -> f64 {
    if f < 1000.0 {
        f / F_SP
    } else {
        min_log_mel() + (f / 1000.0).ln() / (6.4f64.ln() / 27.0)
    }
}

fn mel_to_hz(m: f64) -> f64 {
    if m < min_log_mel() {
        F_SP * m
    } else {
        1000.0 * ((6.4f64.ln() / 27.0) * (m - min_log_mel())).exp()
    }
}

/// `n_mels` × 201 filters, row-major.
pub fn filters(n_mels: usize) -> Vec<f32> {
    let mel_max = hz_to_mel(8000.0);
    let f: Vec<f64> = (0..n_mels + 2)
        .map(|j| {
            let m = if j == n_mels + 1 { mel_max } else { j as f64 * (mel_max / (n_mels + 1) as f64) };
            mel_to_hz(m)
        })
        .collect();
    let mut out = Vec::with_capacity(n_mels * N_FFT_BINS);
    for i in 0..n_mels {
        for k in 0..N_FFT_BINS {
            let freq = k as f64 * 40.0;
            let lower = -(f[i] - freq) / (f[i + 1] - f[i]);
            let upper = (f[i + 2] - freq) / (f[i + 2] - f[i + 1]);
            // numpy's maximum(0, x) keeps x = -0.0 (at W[0][0]); f64::max would not.
            let m = lower.min(upper);
            let w = if m < 0.0 { 0.0 } else { m };
            let enorm = 2.0 / (f[i + 2] - f[i]);
            out.push((f64::from(w as f32) * enorm) as f32);
        }
    }
    out
}

/// Samples between frames (10 ms at 16 kHz).
pub const HOP: usize = 160;
/// FFT length (25 ms).
const N_FFT: usize = 400;
/// Frames of one 30 s window.
pub const FRAMES: usize = 3_000;

/// The log-mel spectrogram of up to 30 s of 16 kHz audio, padded with
/// silence to 30 s, as OpenAI's `log_mel_spectrogram` makes it: a periodic
/// Hann window, the STFT centred on each frame (reflected at the edges),
/// power, the mel filters, `log10` (floored at 1e-10), floored again at 8
/// below the maximum, then `(x + 4) / 4`. `n_mels` × `FRAMES`, row-major.
pub fn log_mel(samples: &[f32], n_mels: usize, filters: &[f32]) -> Vec<f32> {
    let n = FRAMES * HOP;
    let mut audio = vec![0f32; n];
    let take = samples.len().min(n);
    audio[..take].copy_from_slice(&samples[..take]);
    // Reflect-pad by half a window on each side.
    let half = N_FFT / 2;
    let mut padded = Vec::with_capacity(n + N_FFT);
    padded.extend((1..=half).rev().map(|i| audio[i]));
    padded.extend_from_slice(&audio);
    padded.extend((1..=half).map(|i| audio[n - 1 - i]));
    let window: Vec<f32> = (0..N_FFT).map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos()) as f32).collect();
    let fft = realfft::RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    // Each filter's non-zero bins (about 5 of 201).
    let spans: Vec<(usize, usize)> = (0..n_mels)
        .map(|m| {
            let row = &filters[m * N_FFT_BINS..(m + 1) * N_FFT_BINS];
            let lo = row.iter().position(|w| *w != 0.0).unwrap_or(0);
            let hi = row.iter().rposition(|w| *w != 0.0).map_or(0, |i| i + 1);
            (lo, hi.max(lo))
        })
        .collect();
    let mut out = vec![0f32; n_mels * FRAMES];
    let mut power = vec![0f32; N_FFT_BINS];
    for f in 0..FRAMES {
        let frame = &padded[f * HOP..f * HOP + N_FFT];
        for ((x, s), w) in input.iter_mut().zip(frame).zip(&window) {
            *x = s * w;
        }
        // Lengths match the plan, so this cannot fail.
        if fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch).is_err() {
            continue;
        }
        for (p, c) in power.iter_mut().zip(&spectrum) {
            *p = c.norm_sqr();
        }
        for (m, &(lo, hi)) in spans.iter().enumerate() {
            let row = &filters[m * N_FFT_BINS..(m + 1) * N_FFT_BINS];
            let e: f32 = row[lo..hi].iter().zip(&power[lo..hi]).map(|(w, p)| w * p).sum();
            out[m * FRAMES + f] = e.max(1e-10).log10();
        }
    }
    let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in &mut out {
        *v = (v.max(max - 8.0) + 4.0) / 4.0;
    }
    out
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    fn sha(values: &[f32]) -> String {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn matches_openai_tables() {
        let m80 = filters(80);
        assert_eq!(m80.len() * 4, 64_320);
        assert_eq!(m80[1], 0.024862595);
        assert_eq!(m80.iter().filter(|v| **v != 0.0).count(), 391);
        let sum: f64 = m80.iter().map(|v| f64::from(*v)).sum();
        assert!((sum - 1.999024092387117).abs() < 1e-12, "{sum}");
        assert_eq!(sha(&m80), "4f2701b1d287d74a0dc9871026e9519d98cb76426615f2539b0d151a0ae4ec2e");
        assert_eq!(sha(&filters(128)), "2a5f9822897750e047c85dea37cc268d3be0ecfd23c28a5f10da129d99d05afe");
    }

    #[test]
    fn log_mel_of_a_tone_peaks_in_its_band_and_silence_sits_at_the_floor() {
        // 1 s of 1 kHz, then silence padding to 30 s.
        let tone: Vec<f32> = (0..16_000).map(|i| (2.0 * std::f32::consts::PI * 1_000.0 * i as f32 / 16_000.0).sin() * 0.5).collect();
        let f = filters(80);
        let m = log_mel(&tone, 80, &f);
        assert_eq!(m.len(), 80 * FRAMES);
        let frame = |i: usize| (0..80).map(|b| m[b * FRAMES + i]).collect::<Vec<_>>();
        let mid = frame(50);
        let peak = mid.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).unwrap_or(0);
        // 1 kHz lies at mel 15 of 45.25 (the top at 8 kHz): bin 15/45.25*81 ≈ 26.
        assert!((25..=27).contains(&peak), "peak in band {peak}");
        let max = m.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        // Silence is floored 8 (log10 units) below the maximum.
        let floor = (max * 4.0 - 4.0 - 8.0 + 4.0) / 4.0;
        assert!((frame(2_000)[10] - floor).abs() < 1e-5);
    }
}
