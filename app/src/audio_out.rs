//! Review's audio: the session's WAV played through cpal from the playhead.
//!
//! ```text
//! audio-feed thread: WAV (session::audio, seek to playhead) ─► speed/rate/channels ─► bounded chunks
//! cpal callback:     takes chunks without blocking; silence when none are ready
//! ```
//!
//! The playhead clock stays the master: a seek, a pause or a speed change
//! stops the stream and starts a new one at the playhead. Speeds other than
//! 1× pick the nearest sample (pitch changes, as on a tape).
//!
//! Review never opens the file or the device itself: it sends commands to
//! the `review-audio` thread ([`Controller`]), which owns the stream (a cpal
//! stream cannot move between threads) and acts on the newest command only.

use std::path::{Path, PathBuf};

use cpal::traits::{DeviceTrait, StreamTrait};
use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};

/// Samples per chunk handed from the feeder to the callback.
const CHUNK_FRAMES: usize = 1024;

/// A playing output stream; dropping it stops the sound and the feeder.
pub struct Player {
    _stream: cpal::Stream,
    /// The device's name, for the status line.
    pub device: String,
}

/// Starts playing `wav` from session time `from_ns` (sample index = time,
/// as the recorder writes it) at `speed`, on `device` (or the default output).
pub fn play(wav: &Path, from_ns: i64, speed: f32, device: Option<&str>) -> Result<Player, String> {
    let file = tacit_session::audio::Wav::open(wav).map_err(|e| e.to_string())?;
    let mut reader = file.pcm16_from(from_ns).map_err(|e| e.to_string())?;
    let spec = file.spec();

    let device = tacit_capture::source::audio::find_output_device(device.filter(|n| !n.is_empty()).unwrap_or("default"))?;
    let name = device.to_string();
    // The file's own rate and channels as i16 when the device takes them (bit-exact), else its default.
    let exact = device.supported_output_configs().ok().and_then(|mut c| {
        c.find(|r| {
            r.channels() == spec.channels
                && r.sample_format() == cpal::SampleFormat::I16
                && r.min_sample_rate() <= spec.sample_rate
                && spec.sample_rate <= r.max_sample_rate()
        })
    });
    let (config, format) = match exact {
        Some(r) => (r.with_sample_rate(spec.sample_rate).config(), cpal::SampleFormat::I16),
        None => {
            let d = device.default_output_config().map_err(|e| format!("{name}: no output format: {e}"))?;
            (d.config(), d.sample_format())
        }
    };
    let out_channels = usize::from(config.channels);
    let in_channels = usize::from(spec.channels.max(1));
    // Source frames per output frame.
    let step = f64::from(spec.sample_rate) * f64::from(speed.clamp(0.25, 4.0)) / f64::from(config.sample_rate);

    let (tx, rx) = bounded::<Vec<i16>>(8);
    std::thread::Builder::new()
        .name("audio-feed".into())
        .spawn(move || {
            let mut samples = reader.samples::<i16>();
            let mut frame = vec![0i16; in_channels];
            let mut have: f64 = -1.0; // index of the frame in `frame`
            let mut pos: f64 = 0.0;
            loop {
                let mut chunk = Vec::with_capacity(CHUNK_FRAMES * out_channels);
                for _ in 0..CHUNK_FRAMES {
                    while have < pos.floor() {
                        for s in frame.iter_mut() {
                            match samples.next() {
                                Some(Ok(v)) => *s = v,
                                _ => {
                                    // End of the file: send what is left, then stop.
                                    if !chunk.is_empty() {
                                        let _ = tx.send(chunk);
                                    }
                                    return;
                                }
                            }
                        }
                        have += 1.0;
                    }
                    for c in 0..out_channels {
                        chunk.push(frame[c.min(in_channels - 1)]);
                    }
                    pos += step;
                }
                if tx.send(chunk).is_err() {
                    return; // the stream was dropped
                }
            }
        })
        .map_err(|e| format!("cannot start the audio-feed thread: {e}"))?;

    let on_error = |e: cpal::Error| tracing::warn!("audio output: {e}");
    let stream = match format {
        cpal::SampleFormat::I16 => {
            let mut feed = Feed::new(rx);
            device.build_output_stream::<i16, _, _>(config, move |out: &mut [i16], _| feed.fill(out, |s| s), on_error, None)
        }
        cpal::SampleFormat::F32 => {
            let mut feed = Feed::new(rx);
            device.build_output_stream::<f32, _, _>(
                config,
                move |out: &mut [f32], _| feed.fill(out, |s| f32::from(s) / 32768.0),
                on_error,
                None,
            )
        }
        other => return Err(format!("{name}: output sample format {other:?} is not supported (i16 or f32)")),
    }
    .map_err(|e| format!("{name}: cannot open the output: {e}"))?;
    stream.play().map_err(|e| format!("{name}: cannot start the output: {e}"))?;
    Ok(Player { _stream: stream, device: name })
}

/// What the `review-audio` thread is asked to do.
enum Command {
    /// Play `wav` from `from_ns` at `speed` (replacing what plays).
    Play { wav: PathBuf, from_ns: i64, speed: f32 },
    /// Silence.
    Stop,
}

/// Review's handle on the `review-audio` thread: commands in, errors out.
pub struct Controller {
    tx: Sender<Command>,
    errors: Receiver<String>,
}

impl Controller {
    /// Starts the thread; it plays on `device` (or the default output).
    pub fn start(device: Option<String>) -> std::io::Result<Self> {
        let (tx, rx) = bounded::<Command>(16);
        let (err_tx, errors) = bounded::<String>(4);
        std::thread::Builder::new().name("review-audio".into()).spawn(move || {
            let mut player: Option<Player> = None;
            while let Ok(mut cmd) = rx.recv() {
                // Seeks pile up while scrubbing: only the newest counts.
                while let Ok(newer) = rx.try_recv() {
                    cmd = newer;
                }
                player = None;
                if let Command::Play { wav, from_ns, speed } = cmd {
                    match play(&wav, from_ns, speed, device.as_deref()) {
                        Ok(p) => player = Some(p),
                        Err(e) => {
                            tracing::warn!("no sound: {e}");
                            let _ = err_tx.try_send(e);
                        }
                    }
                }
            }
            drop(player);
        })?;
        Ok(Self { tx, errors })
    }

    /// Plays `wav` from `from_ns` at `speed`.
    pub fn play(&self, wav: &Path, from_ns: i64, speed: f32) {
        let _ = self.tx.try_send(Command::Play { wav: wav.to_path_buf(), from_ns, speed });
    }

    /// Stops the sound.
    pub fn stop(&self) {
        let _ = self.tx.try_send(Command::Stop);
    }

    /// Why the last start failed, once.
    pub fn error(&self) -> Option<String> {
        self.errors.try_recv().ok()
    }
}

/// The callback's side: chunks in, silence when the feeder is behind.
struct Feed {
    rx: Receiver<Vec<i16>>,
    chunk: Vec<i16>,
    at: usize,
}

impl Feed {
    fn new(rx: Receiver<Vec<i16>>) -> Self {
        Self { rx, chunk: Vec::new(), at: 0 }
    }

    fn fill<T: Copy + Default>(&mut self, out: &mut [T], convert: impl Fn(i16) -> T) {
        for o in out.iter_mut() {
            if self.at >= self.chunk.len() {
                match self.rx.try_recv() {
                    Ok(c) => {
                        self.chunk = c;
                        self.at = 0;
                    }
                    Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => {
                        *o = T::default();
                        continue;
                    }
                }
            }
            *o = convert(self.chunk[self.at]);
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn next_error(c: &Controller) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(e) = c.error() {
                return Some(e);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// The `review-audio` thread opens the file and the device itself and
    /// reports why it could not, once per failed start, without blocking
    /// the caller (Review's UI thread).
    #[test]
    fn the_audio_thread_reports_a_missing_file_and_a_missing_device() {
        let dir = tempfile::tempdir().unwrap();
        let c = Controller::start(Some("tacit-no-such-device".into())).unwrap();
        c.play(&dir.path().join("mic-gone.wav"), 0, 1.0);
        let e = next_error(&c).expect("an error for the missing WAV");
        assert!(e.contains("mic-gone.wav"), "{e}");
        assert_eq!(c.error(), None, "reported once");

        let wav = dir.path().join("mic-lapel.wav");
        let spec = hound::WavSpec { channels: 1, sample_rate: 16_000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let mut w = hound::WavWriter::create(&wav, spec).unwrap();
        for i in 0..16_000 {
            w.write_sample((i % 100) as i16).unwrap();
        }
        w.finalize().unwrap();
        c.play(&wav, 500_000_000, 1.0);
        let e = next_error(&c).expect("an error for the missing device");
        assert!(e.contains("tacit-no-such-device"), "{e}");
        c.stop();
    }
}
