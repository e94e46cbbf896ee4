//! Audio preparation: a session's WAV as mono f32 at 16 kHz, what Whisper eats.

use std::path::Path;

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

/// Reads a WAV (any PCM or float format), mixes it to mono and resamples it
/// to 16 kHz.
pub fn load(path: &Path) -> Result<Prepared, TranscribeError> {
    let bad = |m: String| TranscribeError::Session { message: m, path: path.to_path_buf() };
    let mut reader = hound::WavReader::open(path).map_err(|e| bad(format!("cannot read WAV ({e})")))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader.samples::<i32>().map(|s| s.map(|v| v as f32 * scale)).collect::<Result<_, _>>()
        }
    }
    .map_err(|e| bad(format!("cannot decode WAV samples ({e})")))?;
    let mono: Vec<f32> = interleaved.chunks(channels).map(|f| f.iter().sum::<f32>() / channels as f32).collect();
    let source_frames = mono.len() as u64;
    let samples = resample(&mono, spec.sample_rate, WHISPER_RATE).map_err(bad)?;
    Ok(Prepared { samples, source_rate: spec.sample_rate, source_frames })
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
