//! A microphone's WAV (`mic-<name>.wav`), read: the one place above the
//! recorder that opens it. Sample index is session time (the recorder
//! writes it so, see [`crate::layout::audio_timing`] for the clock fit), so
//! [`Wav::frame_at`] turns a session time into a position.
//!
//! | reader | for |
//! |---|---|
//! | [`Wav::mono_f32`] | transcription (any PCM or float format, mixed to mono) |
//! | [`Wav::peaks`] | Review's waveform, without reading the whole file |
//! | [`Wav::pcm16_chunks`] | the tables export's audio column (16-bit, as recorded) |
//! | [`Wav::pcm16_from`] | playback from a session time |
//!
//! ```
//! # fn main() -> Result<(), tacit_session::SessionError> {
//! use tacit_session::audio::Wav;
//! let dir = tempfile::tempdir().expect("a temp dir");
//! let path = dir.path().join("mic-commentary.wav");
//! // One second of a stereo 8 kHz ramp, as the recorder would write it.
//! let spec = hound::WavSpec { channels: 2, sample_rate: 8_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
//! let mut w = hound::WavWriter::create(&path, spec).expect("a WAV writer");
//! for i in 0..8_000i16 {
//!     w.write_sample(i).expect("written");
//!     w.write_sample(-i).expect("written");
//! }
//! w.finalize().expect("finalized");
//!
//! let wav = Wav::open(&path)?;
//! assert_eq!((wav.rate_hz(), wav.channels(), wav.frames()), (8_000, 2, 8_000));
//! assert_eq!(wav.frame_at(500_000_000), 4_000); // 0.5 s
//! assert!(wav.mono_f32()?.iter().all(|&s| s == 0.0)); // the channels cancel
//! let chunks: Vec<Vec<i16>> = wav.pcm16_chunks(4_000)?.collect::<Result<_, _>>()?;
//! assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), [8_000, 8_000]);
//! assert_eq!(&chunks[1][..2], &[4_000, -4_000]);
//! # Ok(()) }
//! ```

use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::{SessionError, SessionFile};

/// Bins of the whole-session waveform Review draws.
pub const OVERVIEW_BINS: usize = 2000;

/// A WAV file of a session, opened (header read).
#[derive(Clone, Debug)]
pub struct Wav {
    path: PathBuf,
    spec: hound::WavSpec,
    frames: u32,
}

type Reader = hound::WavReader<BufReader<SessionFile>>;

impl Wav {
    /// Opens `path` and reads its header.
    pub fn open(path: &Path) -> Result<Self, SessionError> {
        let r = reader(path)?;
        Ok(Self { path: path.to_path_buf(), spec: r.spec(), frames: r.duration() })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frames per second.
    pub fn rate_hz(&self) -> u32 {
        self.spec.sample_rate
    }

    /// Channels (interleaved).
    pub fn channels(&self) -> u16 {
        self.spec.channels
    }

    /// Frames (samples per channel) in the file.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Its length in seconds.
    pub fn seconds(&self) -> f64 {
        f64::from(self.frames) / f64::from(self.spec.sample_rate.max(1))
    }

    /// The format: channels, rate, bits, int or float.
    pub fn spec(&self) -> hound::WavSpec {
        self.spec
    }

    /// The frame at session time `t_ns` (clamped to the file).
    pub fn frame_at(&self, t_ns: i64) -> u32 {
        let f = i128::from(t_ns.max(0)) * i128::from(self.spec.sample_rate) / 1_000_000_000;
        f.min(i128::from(self.frames)) as u32
    }

    fn bad(&self, what: impl std::fmt::Display) -> SessionError {
        SessionError::invalid(format!("{what}; `tacit recover` repairs a WAV cut short"), &self.path)
    }

    /// Every sample as f32 in [-1, 1], the channels mixed to mono.
    pub fn mono_f32(&self) -> Result<Vec<f32>, SessionError> {
        let mut r = reader(&self.path)?;
        let interleaved: Vec<f32> = match self.spec.sample_format {
            hound::SampleFormat::Float => r.samples::<f32>().collect::<Result<_, _>>(),
            hound::SampleFormat::Int => {
                let scale = 1.0 / (1u64 << (self.spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
                r.samples::<i32>().map(|s| s.map(|v| v as f32 * scale)).collect::<Result<_, _>>()
            }
        }
        .map_err(|e| self.bad(format_args!("cannot decode the WAV's samples ({e})")))?;
        let channels = usize::from(self.spec.channels.max(1));
        Ok(interleaved.chunks(channels).map(|f| f.iter().sum::<f32>() / channels as f32).collect())
    }

    /// The loudest sample (0..1) in each of `bins` equal parts of the file,
    /// from a short read at the start of each: an hour opens as fast as a
    /// minute. 16-bit PCM only.
    pub fn peaks(&self, bins: usize) -> Result<Vec<f32>, SessionError> {
        self.require_pcm16()?;
        let mut r = reader(&self.path)?;
        let mut out = Vec::with_capacity(bins);
        if self.frames == 0 {
            return Ok(out);
        }
        let ch = u32::from(self.spec.channels.max(1));
        let read = 256u32.min(self.frames);
        for b in 0..bins as u64 {
            let at = (b * u64::from(self.frames) / bins as u64) as u32;
            r.seek(at.min(self.frames - read)).map_err(|e| self.bad(format_args!("cannot seek ({e})")))?;
            let peak = r.samples::<i16>().take((read * ch) as usize).filter_map(Result::ok).map(|s| s.unsigned_abs()).max().unwrap_or(0);
            out.push(f32::from(peak) / 32768.0);
        }
        Ok(out)
    }

    /// The samples as recorded (16-bit PCM, interleaved), `frames_per_chunk`
    /// frames at a time; the last chunk may be shorter.
    pub fn pcm16_chunks(&self, frames_per_chunk: u32) -> Result<Pcm16Chunks, SessionError> {
        self.require_pcm16()?;
        let per_chunk = frames_per_chunk.max(1) as usize * usize::from(self.spec.channels.max(1));
        Ok(Pcm16Chunks { wav: self.clone(), reader: reader(&self.path)?, per_chunk })
    }

    /// A reader of the 16-bit samples from session time `t_ns` on, for
    /// playback.
    pub fn pcm16_from(&self, t_ns: i64) -> Result<Reader, SessionError> {
        self.require_pcm16()?;
        let mut r = reader(&self.path)?;
        r.seek(self.frame_at(t_ns)).map_err(|e| self.bad(format_args!("cannot seek ({e})")))?;
        Ok(r)
    }

    fn require_pcm16(&self) -> Result<(), SessionError> {
        if self.spec.bits_per_sample != 16 || self.spec.sample_format != hound::SampleFormat::Int {
            return Err(self.bad("the WAV is not 16-bit PCM as tacit records it"));
        }
        Ok(())
    }
}

/// Chunks of a WAV's 16-bit samples ([`Wav::pcm16_chunks`]).
pub struct Pcm16Chunks {
    wav: Wav,
    reader: Reader,
    per_chunk: usize,
}

impl Iterator for Pcm16Chunks {
    type Item = Result<Vec<i16>, SessionError>;

    fn next(&mut self) -> Option<Self::Item> {
        // Capacity grows past 1 Mi samples as needed (a chunk may be "all").
        let mut buf = Vec::with_capacity(self.per_chunk.min(1 << 20));
        for v in self.reader.samples::<i16>().take(self.per_chunk) {
            match v {
                Ok(v) => buf.push(v),
                Err(e) => return Some(Err(self.wav.bad(format_args!("cannot decode the WAV's samples ({e})")))),
            }
        }
        (!buf.is_empty()).then_some(Ok(buf))
    }
}

fn reader(path: &Path) -> Result<Reader, SessionError> {
    let file = SessionFile::open(path)?;
    hound::WavReader::new(BufReader::with_capacity(1 << 16, file)).map_err(|e| match e {
        hound::Error::IoError(cause) => SessionError::io("read", path, cause),
        e => SessionError::invalid(format!("not a WAV tacit can read ({e}); `tacit recover` repairs a WAV cut short"), path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, frames: u32, spec: hound::WavSpec) {
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..frames * u32::from(spec.channels) {
            w.write_sample(((i % 200) as i16 - 100) * 100).unwrap();
        }
        w.finalize().unwrap();
    }

    #[test]
    fn peaks_come_from_short_reads_and_bad_files_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let spec = hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        write(&path, 16_000, spec);
        let wav = Wav::open(&path).unwrap();
        let peaks = wav.peaks(100).unwrap();
        assert_eq!(peaks.len(), 100);
        assert!(peaks.iter().all(|p| (p - 10_000.0 / 32768.0).abs() < 1e-3), "{peaks:?}");
        assert_eq!(wav.frame_at(i64::MAX), 16_000, "clamped to the file");
        assert_eq!(wav.pcm16_from(999_000_000).unwrap().samples::<i16>().count(), 16);

        let float = dir.path().join("f.wav");
        write(&float, 10, hound::WavSpec { bits_per_sample: 32, sample_format: hound::SampleFormat::Int, ..spec });
        let err = Wav::open(&float).unwrap().peaks(4).unwrap_err().to_string();
        assert!(err.contains("not 16-bit PCM") && err.contains("f.wav"), "{err}");

        std::fs::write(dir.path().join("x.wav"), b"not a wav").unwrap();
        let err = Wav::open(&dir.path().join("x.wav")).unwrap_err().to_string();
        assert!(err.contains("not a WAV") && err.contains("tacit recover"), "{err}");
        let err = Wav::open(&dir.path().join("missing.wav")).unwrap_err().to_string();
        assert!(err.starts_with("cannot open") && err.contains("missing.wav"), "{err}");
    }
}
