//! The commentary microphone: a cpal input stream, a WAV file replayed in real
//! time (`file:PATH`), or a synthetic tone in noise. All three deliver blocks
//! of 16-bit PCM stamped with the session time of their first sample.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Sender, TrySendError};
use tacit_schema::MicrophoneProfile;

use super::{sleep_until, SourceCtx, XorShift};
use crate::clock::duration_ns;
use crate::error::CaptureError;

/// PCM on its way to the writer.
#[derive(Clone, Debug)]
pub struct AudioBlock {
    /// Session time of the first sample frame.
    pub t_ns: i64,
    /// Device capture time of the first sample, ns (cpal's stream clock).
    pub device_ts_ns: Option<i64>,
    /// Sample frames lost just before this block (full channel); the writer
    /// fills them with silence so sample index stays time.
    pub gap_frames: u64,
    /// Interleaved samples, `channels` per frame.
    pub samples: Vec<i16>,
}

/// What the microphone actually delivers.
#[derive(Clone, Debug, PartialEq)]
pub struct AudioFormat {
    /// Sample rate, Hz.
    pub rate_hz: u32,
    /// Channels.
    pub channels: u16,
    /// Device as opened.
    pub device: String,
    /// Sample format of the device (we store 16-bit PCM).
    pub device_format: String,
}

/// Opens the microphone the profile names and starts delivering blocks on a
/// thread named `mic-<name>`. Returns once the device is open (or failed).
pub fn start(
    profile: &MicrophoneProfile,
    ctx: SourceCtx,
    offset_ns: i64,
    tx: Sender<AudioBlock>,
) -> Result<(AudioFormat, JoinHandle<()>), CaptureError> {
    let (init_tx, init_rx) = bounded::<Result<AudioFormat, CaptureError>>(1);
    let profile = profile.clone();
    let handle = std::thread::Builder::new()
        .name(format!("mic-{}", profile.name))
        .spawn(move || {
            let device = profile.device.clone();
            if let Some(path) = device.strip_prefix("file:") {
                run_file(PathBuf::from(path), &profile, ctx, offset_ns, tx, init_tx);
            } else if device == "synthetic" {
                run_synthetic(&profile, ctx, offset_ns, tx, init_tx);
            } else {
                run_cpal(&profile, ctx, offset_ns, tx, init_tx);
            }
        })
        .map_err(|e| CaptureError::Device { device: "microphone".into(), message: format!("cannot start thread: {e}") })?;
    match init_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(format)) => Ok((format, handle)),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => Err(CaptureError::Device {
            device: format!("microphone {}", profile_name(&handle)),
            message: "did not start within 10 s".into(),
        }),
    }
}

fn profile_name(handle: &JoinHandle<()>) -> String {
    handle.thread().name().unwrap_or("?").to_string()
}

/// Tracks frames that could not be sent so the next block carries the gap.
struct Sending {
    unsent: u64,
}

impl Sending {
    fn send(&mut self, ctx: &SourceCtx, tx: &Sender<AudioBlock>, mut block: AudioBlock, channels: u16) -> bool {
        let frames = (block.samples.len() / usize::from(channels.max(1))) as u64;
        block.gap_frames = self.unsent;
        let last = block.t_ns;
        match tx.try_send(block) {
            Ok(()) => {
                self.unsent = 0;
                ctx.stats.captured.fetch_add(frames, Ordering::Relaxed);
                ctx.stats.last_t_ns.store(last, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) => {
                self.unsent += frames;
                ctx.stats.drops.fetch_add(frames, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

/// Paced block producer shared by the file and synthetic sources.
fn run_paced(
    ctx: &SourceCtx,
    offset_ns: i64,
    rate_hz: u32,
    channels: u16,
    tx: &Sender<AudioBlock>,
    mut fill: impl FnMut(&mut Vec<i16>, usize),
) {
    let block_frames = (rate_hz / 100).max(1) as u64; // 10 ms
    let start = Instant::now();
    let mut next_frame = 0u64;
    let mut sending = Sending { unsent: 0 };
    while !ctx.stopping() {
        let end = next_frame + block_frames;
        let due = start + Duration::from_nanos(end * 1_000_000_000 / u64::from(rate_hz));
        if !sleep_until(ctx, due) {
            break;
        }
        let first_at = start + Duration::from_nanos(next_frame * 1_000_000_000 / u64::from(rate_hz));
        let mut samples = Vec::with_capacity(block_frames as usize * usize::from(channels));
        fill(&mut samples, block_frames as usize);
        let t_ns = ctx.clock.ns_at(first_at) - offset_ns;
        let block = AudioBlock { t_ns, device_ts_ns: Some(duration_ns(first_at - start)), gap_frames: 0, samples };
        if !sending.send(ctx, tx, block, channels) {
            break;
        }
        next_frame = end;
    }
}

fn run_synthetic(
    profile: &MicrophoneProfile,
    ctx: SourceCtx,
    offset_ns: i64,
    tx: Sender<AudioBlock>,
    init: Sender<Result<AudioFormat, CaptureError>>,
) {
    let format =
        AudioFormat { rate_hz: profile.rate_hz, channels: profile.channels, device: "synthetic".into(), device_format: "i16".into() };
    let _ = init.send(Ok(format));
    let mut rng = XorShift::new(0x5EED);
    let mut n = 0u64;
    let rate = f64::from(profile.rate_hz);
    let channels = usize::from(profile.channels);
    run_paced(&ctx, offset_ns, profile.rate_hz, profile.channels, &tx, |out, frames| {
        for _ in 0..frames {
            let t = n as f64 / rate;
            // A 220 Hz hum that swells every 2 s, over a noise floor.
            let env = 0.5 + 0.5 * (std::f64::consts::TAU * 0.5 * t).sin();
            let v = 3000.0 * env * (std::f64::consts::TAU * 220.0 * t).sin() + 300.0 * rng.normal();
            let s = v.clamp(-32768.0, 32767.0) as i16;
            out.extend(std::iter::repeat_n(s, channels));
            n += 1;
        }
    });
}

fn run_file(
    path: PathBuf,
    profile: &MicrophoneProfile,
    ctx: SourceCtx,
    offset_ns: i64,
    tx: Sender<AudioBlock>,
    init: Sender<Result<AudioFormat, CaptureError>>,
) {
    let device = format!("microphone {} (file {})", profile.name, path.display());
    let reader = match hound::WavReader::open(&path) {
        Ok(r) => r,
        Err(e) => {
            let _ = init.send(Err(CaptureError::Device { device, message: format!("cannot read WAV: {e}") }));
            return;
        }
    };
    let spec = reader.spec();
    let format = AudioFormat {
        rate_hz: spec.sample_rate,
        channels: spec.channels,
        device: format!("file:{}", path.display()),
        device_format: format!("{:?}{}", spec.sample_format, spec.bits_per_sample),
    };
    let _ = init.send(Ok(format));
    // Decode lazily; at the end of the file the microphone goes on hearing silence.
    let mut samples: Box<dyn Iterator<Item = i16>> = match spec.sample_format {
        hound::SampleFormat::Float => {
            Box::new(reader.into_samples::<f32>().map_while(Result::ok).map(|s| (s * 32767.0).clamp(-32768.0, 32767.0) as i16))
        }
        hound::SampleFormat::Int => {
            let shift = i32::from(spec.bits_per_sample) - 16;
            Box::new(reader.into_samples::<i32>().map_while(Result::ok).map(move |s| {
                if shift >= 0 {
                    (s >> shift) as i16
                } else {
                    (s << -shift) as i16
                }
            }))
        }
    };
    let channels = usize::from(spec.channels);
    let mut ended = false;
    let ctx2 = ctx.clone();
    run_paced(&ctx, offset_ns, spec.sample_rate, spec.channels, &tx, |out, frames| {
        for _ in 0..frames * channels {
            match samples.next() {
                Some(s) => out.push(s),
                None => {
                    if !ended {
                        ended = true;
                        ctx2.event(tacit_schema::tables::event_kind::MARKER, "microphone file finished");
                    }
                    out.push(0);
                }
            }
        }
    });
}

/// Finds a cpal input device by name (`default`, an ALSA PCM such as `hw:1,0`,
/// or a cpal id such as `alsa:hw:1,0`).
pub fn find_cpal_device(name: &str) -> Result<cpal::Device, String> {
    find_device(name, false)
}

/// Finds a cpal output device the same way (Review's sound).
pub fn find_output_device(name: &str) -> Result<cpal::Device, String> {
    find_device(name, true)
}

fn find_device(name: &str, output: bool) -> Result<cpal::Device, String> {
    use cpal::traits::{DeviceTrait, HostTrait};
    let host = cpal::default_host();
    let what = if output { "output" } else { "input" };
    if name == "default" {
        let d = if output { host.default_output_device() } else { host.default_input_device() };
        return d.ok_or_else(|| format!("no default {what} device"));
    }
    let devices =
        if output { host.output_devices() } else { host.input_devices() }.map_err(|e| format!("cannot list {what} devices: {e}"))?;
    let mut seen = Vec::new();
    for d in devices {
        let id = d.id().map(|i| i.to_string()).unwrap_or_default();
        let label = d.to_string();
        if label == name || id == name || id.split_once(':').map(|(_, rest)| rest) == Some(name) {
            return Ok(d);
        }
        seen.push(if id.is_empty() { label } else { id });
    }
    Err(format!("no {what} device {name:?}; {what}s found: {}", if seen.is_empty() { "none".into() } else { seen.join(", ") }))
}

fn run_cpal(
    profile: &MicrophoneProfile,
    ctx: SourceCtx,
    offset_ns: i64,
    tx: Sender<AudioBlock>,
    init: Sender<Result<AudioFormat, CaptureError>>,
) {
    use cpal::traits::{DeviceTrait, StreamTrait};
    let device_label = format!("microphone {} ({})", profile.name, profile.device);
    let fail = |message: String| CaptureError::Device { device: device_label.clone(), message };
    let device = match find_cpal_device(&profile.device) {
        Ok(d) => d,
        Err(e) => {
            let _ = init.send(Err(fail(format!("{e}; run `tacit devices` to list inputs"))));
            return;
        }
    };
    let configs = match device.supported_input_configs() {
        Ok(c) => c.collect::<Vec<_>>(),
        Err(e) => {
            let _ = init.send(Err(fail(format!("cannot query formats: {e}"))));
            return;
        }
    };
    let rate = profile.rate_hz;
    let pick = |fmt: cpal::SampleFormat| {
        configs.iter().find(|c| {
            c.channels() == profile.channels && c.sample_format() == fmt && c.min_sample_rate() <= rate && rate <= c.max_sample_rate()
        })
    };
    let Some(range) = pick(cpal::SampleFormat::I16).or_else(|| pick(cpal::SampleFormat::F32)) else {
        let offered: Vec<String> = configs
            .iter()
            .map(|c| format!("{}ch {:?} {}-{} Hz", c.channels(), c.sample_format(), c.min_sample_rate(), c.max_sample_rate()))
            .collect();
        let _ = init.send(Err(fail(format!(
            "does not offer {} ch at {rate} Hz as i16 or f32; it offers: {}",
            profile.channels,
            offered.join("; ")
        ))));
        return;
    };
    let sample_format = range.sample_format();
    let config = range.with_sample_rate(rate).config();
    let channels = profile.channels;
    let err_ctx = ctx.clone();
    let on_error = move |e: cpal::Error| err_ctx.device_error(&format!("audio stream error: {e}"));

    // Session time of the block's first sample: now, minus how long ago the
    // device says it captured it.
    fn stamp(ctx: &SourceCtx, info: &cpal::InputCallbackInfo, offset_ns: i64) -> (i64, Option<i64>) {
        let now = ctx.clock.now_ns();
        let ts = info.timestamp();
        let lag = duration_ns(ts.callback.saturating_duration_since(ts.capture));
        (now - lag - offset_ns, i64::try_from(ts.capture.as_nanos()).ok())
    }

    let stream = match sample_format {
        cpal::SampleFormat::I16 => {
            let (ctx, tx) = (ctx.clone(), tx.clone());
            let mut sending = Sending { unsent: 0 };
            device.build_input_stream::<i16, _, _>(
                config,
                move |data: &[i16], info: &cpal::InputCallbackInfo| {
                    let (t_ns, device_ts_ns) = stamp(&ctx, info, offset_ns);
                    let block = AudioBlock { t_ns, device_ts_ns, gap_frames: 0, samples: data.to_vec() };
                    sending.send(&ctx, &tx, block, channels);
                },
                on_error,
                None,
            )
        }
        _ => {
            let (ctx, tx) = (ctx.clone(), tx.clone());
            let mut sending = Sending { unsent: 0 };
            device.build_input_stream::<f32, _, _>(
                config,
                move |data: &[f32], info: &cpal::InputCallbackInfo| {
                    let (t_ns, device_ts_ns) = stamp(&ctx, info, offset_ns);
                    let samples = data.iter().map(|s| (s * 32767.0).clamp(-32768.0, 32767.0) as i16).collect();
                    let block = AudioBlock { t_ns, device_ts_ns, gap_frames: 0, samples };
                    sending.send(&ctx, &tx, block, channels);
                },
                on_error,
                None,
            )
        }
    };
    let stream = match stream {
        Ok(s) => s,
        Err(e) => {
            let _ = init.send(Err(fail(format!("cannot open stream: {e}"))));
            return;
        }
    };
    if let Err(e) = stream.play() {
        let _ = init.send(Err(fail(format!("cannot start stream: {e}"))));
        return;
    }
    let _ =
        init.send(Ok(AudioFormat { rate_hz: rate, channels, device: profile.device.clone(), device_format: format!("{sample_format:?}") }));
    // The stream lives on this thread until stop.
    while !ctx.stopping() {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stream);
    drop(tx);
}
