//! Known commentary for tests, benchmarks and the demo: espeak-ng speaks a
//! welding commentary phrase by phrase, the phrases are laid out at known
//! times with silences between them, and welding-like noise can be mixed in
//! at a stated SNR. Because we place every phrase, we know when each was
//! spoken; one-word phrases give exact word onsets.

use std::path::Path;
use std::process::Command;

use crate::audio::{resample, WHISPER_RATE};
use crate::error::TranscribeError;

/// The commentary: a welder talking through a root pass, with the trade
/// terms the glossary holds. About a minute at 150 words per minute.
pub const COMMENTARY: &[&str] = &[
    "I start the root pass on a thick steel plate.",
    "Keyhole.",
    "Watch the keyhole at the front of the puddle, it should stay the same size.",
    "If the travel speed is too high you get undercut along the toe.",
    "Undercut.",
    "Now I slow down a little and add more wire.",
    "Gas problems show up as porosity in the bead.",
    "Porosity.",
    "Keep the torch angle steep and the stick out short.",
    "The arc sounds steady and smooth, so the voltage is right.",
    "Spatter.",
    "At the end of the joint I fill the crater before I stop.",
];

/// A phrase as laid out in the audio.
#[derive(Clone, Debug, PartialEq)]
pub struct Placed {
    /// The text spoken.
    pub text: String,
    /// First sample of speech (after trimming espeak's own silence), 16 kHz.
    pub start: usize,
    /// One past the last sample of speech.
    pub end: usize,
}

/// Speaks `text` with espeak-ng (`voice` e.g. `en-us`, `ko`) as 16 kHz mono
/// f32, with leading and trailing silence trimmed.
pub fn speak(text: &str, voice: &str, words_per_minute: u32) -> Result<Vec<f32>, TranscribeError> {
    // One folder per call (tests speak in parallel), removed afterwards.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tacit-espeak-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| TranscribeError::io("create", &dir, e))?;
    let wav = dir.join("speech.wav");
    let out = Command::new("espeak-ng").args(["-v", voice, "-s", &words_per_minute.to_string(), "-w"]).arg(&wav).arg(text).output();
    let out = out.map_err(|e| {
        let _ = std::fs::remove_dir_all(&dir);
        TranscribeError::io("run espeak-ng (install it: scripts/setup)", Path::new("espeak-ng"), e)
    })?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(TranscribeError::Session { message: format!("espeak-ng failed: {}", String::from_utf8_lossy(&out.stderr)), path: wav });
    }
    let prepared = crate::audio::load(&wav);
    let _ = std::fs::remove_dir_all(&dir);
    let prepared = prepared?;
    let s = prepared.samples;
    let loud = |x: &f32| x.abs() > 0.01;
    let first = s.iter().position(loud).unwrap_or(0);
    let last = s.iter().rposition(loud).map(|i| i + 1).unwrap_or(s.len());
    Ok(s[first..last.max(first)].to_vec())
}

/// Lays phrases out after `lead_s` of silence, `gap_s` apart, ending with
/// `tail_s` of silence.
pub fn lay_out(phrases: &[&str], voice: &str, lead_s: f32, gap_s: f32, tail_s: f32) -> Result<(Vec<f32>, Vec<Placed>), TranscribeError> {
    let sec = |s: f32| (s * WHISPER_RATE as f32) as usize;
    let mut audio = vec![0.0; sec(lead_s)];
    let mut placed = Vec::new();
    for (i, p) in phrases.iter().enumerate() {
        if i > 0 {
            audio.extend(std::iter::repeat_n(0.0, sec(gap_s)));
        }
        let speech = speak(p, voice, 150)?;
        let start = audio.len();
        audio.extend_from_slice(&speech);
        placed.push(Placed { text: p.to_string(), start, end: audio.len() });
    }
    audio.extend(std::iter::repeat_n(0.0, sec(tail_s)));
    Ok((audio, placed))
}

/// Welding-like noise: broadband hiss, mains hum, and short-circuit pops of
/// a MIG arc (~80 a second) that come and go with the arc (on 4 s, off 1 s).
pub fn welding_noise(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.max(1);
    let mut rand = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f32 / (1u64 << 53) as f32
    };
    let mut out = Vec::with_capacity(n);
    let mut lp = 0.0f32;
    let mut pop = 0.0f32;
    for i in 0..n {
        let t = i as f32 / WHISPER_RATE as f32;
        let arc = t % 5.0 < 4.0;
        let white = rand() * 2.0 - 1.0;
        lp = 0.7 * lp + 0.3 * white; // a little colour
        if arc && rand() < 80.0 / WHISPER_RATE as f32 {
            pop = 1.0;
        }
        pop *= 0.995;
        let crackle = pop * (rand() * 2.0 - 1.0);
        let hum = 0.2 * (std::f32::consts::TAU * 100.0 * t).sin();
        out.push(if arc { 0.6 * lp + 0.8 * crackle + hum } else { 0.15 * lp + 0.5 * hum });
    }
    out
}

fn rms(x: &[f32]) -> f32 {
    (x.iter().map(|v| v * v).sum::<f32>() / x.len().max(1) as f32).sqrt()
}

/// Mixes `noise` into `speech` so that speech (measured over `placed`
/// phrases) sits `snr_db` above the noise. Scales the result to avoid clipping.
pub fn mix(speech: &[f32], placed: &[Placed], noise: &[f32], snr_db: f32) -> Vec<f32> {
    let voiced: Vec<f32> = placed.iter().flat_map(|p| speech[p.start..p.end].iter().copied()).collect();
    let gain = rms(&voiced) / (rms(noise).max(1e-9) * 10f32.powf(snr_db / 20.0));
    let mut out: Vec<f32> = speech.iter().zip(noise.iter().cycle()).map(|(s, n)| s + gain * n).collect();
    let peak = out.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if peak > 0.98 {
        out.iter_mut().for_each(|v| *v *= 0.98 / peak);
    }
    out
}

/// Writes 16 kHz mono 16-bit PCM.
pub fn write_wav(path: &Path, samples: &[f32]) -> Result<(), TranscribeError> {
    let spec = hound::WavSpec { channels: 1, sample_rate: WHISPER_RATE, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let err = |e: hound::Error| TranscribeError::Session { message: format!("cannot write WAV ({e})"), path: path.to_path_buf() };
    let mut w = hound::WavWriter::create(path, spec).map_err(err)?;
    for s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16).map_err(err)?;
    }
    w.finalize().map_err(err)
}

/// Lowercase words without punctuation, for scoring.
pub fn normalize(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|w| w.chars().filter(|c| c.is_alphanumeric() || *c == '\'').collect::<String>().to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word error rate of `hyp` against `reference` (edit distance / reference words).
pub fn wer(reference: &[String], hyp: &[String]) -> f64 {
    let (n, m) = (reference.len(), hyp.len());
    let mut prev: Vec<usize> = (0..=m).collect();
    for i in 1..=n {
        let mut cur = vec![i; m + 1];
        for j in 1..=m {
            let sub = prev[j - 1] + usize::from(reference[i - 1] != hyp[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        prev = cur;
    }
    prev[m] as f64 / n.max(1) as f64
}

/// Resamples espeak output (kept public for callers with other rates).
pub fn to_16k(samples: &[f32], rate: u32) -> Result<Vec<f32>, String> {
    resample(samples, rate, WHISPER_RATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wer_counts_edits() {
        let r = normalize("The keyhole, at the front!");
        assert_eq!(r, ["the", "keyhole", "at", "the", "front"]);
        assert_eq!(wer(&r, &r), 0.0);
        assert!((wer(&r, &normalize("the key hole at front")) - 3.0 / 5.0).abs() < 1e-9);
        assert_eq!(wer(&r, &[]), 1.0);
    }

    #[test]
    fn noise_is_mixed_at_the_stated_snr() {
        let speech: Vec<f32> = (0..16_000).map(|i| 0.3 * (i as f32 * 0.05).sin()).collect();
        let placed = [Placed { text: "x".into(), start: 0, end: 16_000 }];
        let noise = welding_noise(16_000, 3);
        let mixed = mix(&speech, &placed, &noise, 10.0);
        let residual: Vec<f32> = mixed.iter().zip(&speech).map(|(m, s)| m - s).collect();
        let snr = 20.0 * (rms(&speech) / rms(&residual)).log10();
        assert!((snr - 10.0).abs() < 0.1, "{snr}");
    }
}
