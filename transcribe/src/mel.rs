//! Whisper's mel filter bank (Slaney scale and norm, as `librosa.filters.mel`
//! with sr 16000, n_fft 400), reproducing OpenAI's table bit for bit.

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
}
