//! Audio preparation: a session's WAV as mono f32 at 16 kHz, what Whisper eats.

use std::path::Path;

use tacit_session::audio::Wav;

use crate::error::TranscribeError;

/// Whisper's sample rate.
pub const WHISPER_RATE: u32 = 16_000;

/// Mono f32 samples at 16 kHz, and the rate of the source.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// Samples in [-1, 1] at 16 kHz.
    pub samples: Vec<f32>,
    /// The WAV's own rate.
    pub source_rate: u32,
    /// Frames in the WAV.
    pub source_frames: u64,
}

/// Reads a WAV (any PCM or float format, through `session::audio`), mixes
/// it to mono and resamples it to 16 kHz.
pub fn load(path: &Path) -> Result<Prepared, TranscribeError> {
    let bad = |message: String| TranscribeError::Session { message, path: path.to_path_buf() };
    let wav = Wav::open(path).map_err(|e| bad(e.to_string()))?;
    let mono = wav.mono_f32().map_err(|e| bad(e.to_string()))?;
    let source_frames = mono.len() as u64;
    let samples = resample(&mono, wav.rate_hz(), WHISPER_RATE).map_err(bad)?;
    Ok(Prepared { samples, source_rate: wav.rate_hz(), source_frames })
}

/// Resamples mono audio (FFT resampler, no leading delay, no trailing pad).
pub fn resample(mono: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, String> {
    use rubato::audioadapter_buffers::direct::InterleavedSlice;
    use rubato::{Fft, FixedSync, Resampler};
    if from_hz == to_hz || mono.is_empty() {
        return Ok(mono.to_vec());
    }
    let mut resampler = Fft::<f32>::new(from_hz as usize, to_hz as usize, 1024, 1, FixedSync::Input)
        .map_err(|e| format!("cannot resample {from_hz} Hz to {to_hz} Hz: {e}"))?;
    let input = InterleavedSlice::new(mono, 1, mono.len()).map_err(|e| e.to_string())?;
    let out = resampler.process_all(&input, mono.len(), None).map_err(|e| e.to_string())?;
    Ok(out.take_data())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resampling_keeps_length_and_pitch() {
        let from = 48_000;
        let tone: Vec<f32> = (0..from).map(|i| (std::f32::consts::TAU * 440.0 * i as f32 / from as f32).sin()).collect();
        let out = resample(&tone, from as u32, 16_000).unwrap();
        assert!((out.len() as i64 - 16_000).abs() <= 2, "{}", out.len());
        // Zero crossings of a 440 Hz tone over 1 s: ~880.
        let crossings = out.windows(2).filter(|w| w[0] <= 0.0 && w[1] > 0.0).count();
        assert!((438..=442).contains(&crossings), "{crossings}");
        assert_eq!(resample(&tone[..10], 16_000, 16_000).unwrap().len(), 10);
    }
}
