//! Cameras: nokhwa (V4L2) devices and a synthetic test pattern, behind one
//! trait. MJPEG frames are stored as they arrive; raw frames are JPEG-encoded
//! on a worker thread so encoding never stalls capture.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use tacit_schema::CameraProfile;

use super::{font, sleep_until, SourceCtx, XorShift};
use crate::clock::duration_ns;
use crate::error::CaptureError;

/// Pixel payload of a captured frame.
#[derive(Clone, Debug)]
pub enum Pixels {
    /// Already JPEG (MJPEG cameras, prerendered synthetic frames).
    Jpeg(Vec<u8>),
    /// Packed RGB, 3 bytes a pixel.
    Rgb(Vec<u8>),
    /// Packed YUYV 4:2:2, 2 bytes a pixel.
    Yuyv(Vec<u8>),
}

/// A frame as the device gave it.
#[derive(Clone, Debug)]
pub struct CapturedFrame {
    /// When the frame reached us.
    pub arrived: Instant,
    /// The device's own timestamp, ns, when it has one.
    pub device_ts_ns: Option<i64>,
    /// Frame counter of the device (or ours), gaps show device-side drops.
    pub seq: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels.
    pub pixels: Pixels,
}

/// A frame on its way to the writer: JPEG bytes stamped in session time.
#[derive(Clone, Debug)]
pub struct FrameMsg {
    /// Session time of arrival minus the profile's latency offset.
    pub t_ns: i64,
    /// Device timestamp, ns.
    pub device_ts_ns: Option<i64>,
    /// Sequence number.
    pub seq: u64,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// JPEG bytes.
    pub jpeg: Vec<u8>,
}

/// Anything that yields frames. Sources live on their capture thread (V4L2
/// handles are not `Send`), so they are opened there.
pub trait CameraSource {
    /// For messages: `camera front (/dev/video0)`.
    fn describe(&self) -> String;
    /// Waits for the next frame; `Ok(None)` when none came within ~200 ms.
    fn next_frame(&mut self, ctx: &SourceCtx) -> Result<Option<CapturedFrame>, CaptureError>;
    /// Tries to open the device again after an error.
    fn reopen(&mut self) -> Result<(), CaptureError>;
}

/// Opens the source a profile names (on the calling thread).
pub fn open(profile: &CameraProfile) -> Result<Box<dyn CameraSource>, CaptureError> {
    if profile.device == "synthetic" {
        Ok(Box::new(SyntheticCamera::new(profile)?))
    } else {
        Ok(Box::new(NokhwaCamera::open(profile)?))
    }
}

/// A camera thread that is opening its device.
pub struct Starting {
    name: String,
    handle: std::thread::JoinHandle<()>,
    init: crossbeam_channel::Receiver<Result<(), CaptureError>>,
}

impl Starting {
    /// Waits until the device is open (or failed, or 60 s passed).
    pub fn wait(self) -> Result<std::thread::JoinHandle<()>, CaptureError> {
        match self.init.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(())) => Ok(self.handle),
            Ok(Err(e)) => {
                let _ = self.handle.join();
                Err(e)
            }
            Err(_) => Err(CaptureError::Device { device: format!("camera {}", self.name), message: "did not open within 60 s".into() }),
        }
    }
}

/// Starts the camera on a thread named `cam-<name>`: it opens the device
/// there (V4L2 handles are not `Send`) and runs until stop. Several cameras
/// open in parallel; `Starting::wait` returns once this one is open.
pub fn start(
    profile: &CameraProfile,
    ctx: SourceCtx,
    offset_ns: i64,
    to_writer: Sender<FrameMsg>,
    to_encoder: Sender<CapturedFrame>,
) -> Result<Starting, CaptureError> {
    let (init_tx, init) = crossbeam_channel::bounded::<Result<(), CaptureError>>(1);
    let p = profile.clone();
    let handle = std::thread::Builder::new()
        .name(format!("cam-{}", profile.name))
        .spawn(move || match open(&p) {
            Ok(source) => {
                let _ = init_tx.send(Ok(()));
                run(source, ctx, offset_ns, to_writer, to_encoder);
            }
            Err(e) => {
                let _ = init_tx.send(Err(e));
            }
        })
        .map_err(|e| CaptureError::Device { device: format!("camera {}", profile.name), message: format!("cannot start thread: {e}") })?;
    Ok(Starting { name: profile.name.clone(), handle, init })
}

/// Runs a camera until stop: frames go to `to_writer` (JPEG) or `to_encoder`.
pub fn run(
    mut source: Box<dyn CameraSource>,
    ctx: SourceCtx,
    offset_ns: i64,
    to_writer: Sender<FrameMsg>,
    to_encoder: Sender<CapturedFrame>,
) {
    while !ctx.stopping() {
        match source.next_frame(&ctx) {
            Ok(Some(frame)) => {
                ctx.device_ok();
                let t_ns = ctx.clock.ns_at(frame.arrived) - offset_ns;
                match frame.pixels {
                    Pixels::Jpeg(jpeg) => {
                        let msg = FrameMsg {
                            t_ns,
                            device_ts_ns: frame.device_ts_ns,
                            seq: frame.seq,
                            width: frame.width,
                            height: frame.height,
                            jpeg,
                        };
                        if !ctx.offer(&to_writer, msg, 1, t_ns) {
                            break;
                        }
                    }
                    _ => {
                        if !ctx.offer(&to_encoder, frame, 1, t_ns) {
                            break;
                        }
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                ctx.device_error(&e.to_string());
                if !sleep_until(&ctx, Instant::now() + Duration::from_secs(1)) {
                    break;
                }
                if source.reopen().is_ok() {
                    ctx.device_ok();
                }
            }
        }
    }
}

/// Encodes raw frames to JPEG and forwards them; runs until the capture side hangs up.
pub fn run_encoder(ctx: SourceCtx, offset_ns: i64, quality: u8, from_camera: Receiver<CapturedFrame>, to_writer: Sender<FrameMsg>) {
    for frame in from_camera {
        let t_ns = ctx.clock.ns_at(frame.arrived) - offset_ns;
        let jpeg = match encode_jpeg(&frame, quality) {
            Ok(j) => j,
            Err(e) => {
                ctx.device_error(&format!("JPEG encoding failed: {e}"));
                continue;
            }
        };
        let msg = FrameMsg { t_ns, device_ts_ns: frame.device_ts_ns, seq: frame.seq, width: frame.width, height: frame.height, jpeg };
        // The writer is not a device: block briefly rather than drop twice.
        if to_writer.send_timeout(msg, Duration::from_millis(500)).is_err() {
            ctx.stats.drops.fetch_add(1, Ordering::Relaxed);
            ctx.stats.captured.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// JPEG-encodes RGB or YUYV pixels.
pub fn encode_jpeg(frame: &CapturedFrame, quality: u8) -> Result<Vec<u8>, String> {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let (w16, h16) = (
        u16::try_from(frame.width).map_err(|_| "frame too wide for JPEG".to_string())?,
        u16::try_from(frame.height).map_err(|_| "frame too tall for JPEG".to_string())?,
    );
    let mut out = Vec::with_capacity(w * h / 4);
    let encoder = jpeg_encoder::Encoder::new(&mut out, quality);
    match &frame.pixels {
        Pixels::Jpeg(j) => return Ok(j.clone()),
        Pixels::Rgb(rgb) => {
            if rgb.len() < w * h * 3 {
                return Err(format!("RGB frame has {} bytes, expected {}", rgb.len(), w * h * 3));
            }
            encoder.encode(&rgb[..w * h * 3], w16, h16, jpeg_encoder::ColorType::Rgb)
        }
        Pixels::Yuyv(yuyv) => {
            if yuyv.len() < w * h * 2 {
                return Err(format!("YUYV frame has {} bytes, expected {}", yuyv.len(), w * h * 2));
            }
            // Expand 4:2:2 to 4:4:4 YCbCr; the encoder subsamples again.
            let mut ycc = Vec::with_capacity(w * h * 3);
            for px in yuyv[..w * h * 2].chunks_exact(4) {
                let (y0, u, y1, v) = (px[0], px[1], px[2], px[3]);
                ycc.extend_from_slice(&[y0, u, v, y1, u, v]);
            }
            encoder.encode(&ycc, w16, h16, jpeg_encoder::ColorType::Ycbcr)
        }
    }
    .map_err(|e| e.to_string())?;
    Ok(out)
}

/// A moving test pattern with the frame number and session time drawn in.
pub struct SyntheticCamera {
    name: String,
    width: u32,
    height: u32,
    period: Duration,
    noise: u8,
    quality: u8,
    prerendered: Vec<Vec<u8>>,
    next_seq: u64,
    started: Option<Instant>,
    rng: XorShift,
}

impl SyntheticCamera {
    /// Builds the pattern source (and prerenders frames if asked).
    pub fn new(p: &CameraProfile) -> Result<Self, CaptureError> {
        let mut cam = Self {
            name: p.name.clone(),
            width: p.width,
            height: p.height,
            period: Duration::from_nanos(1_000_000_000 / u64::from(p.fps.max(1))),
            noise: p.noise,
            quality: p.jpeg_quality,
            prerendered: Vec::new(),
            next_seq: 0,
            started: None,
            rng: XorShift::new(0xC0FFEE ^ u64::from(p.width)),
        };
        for k in 0..p.prerender {
            let rgb = cam.render(u64::from(k), i64::from(k) * duration_ns(cam.period));
            let frame = CapturedFrame {
                arrived: Instant::now(),
                device_ts_ns: None,
                seq: 0,
                width: cam.width,
                height: cam.height,
                pixels: Pixels::Rgb(rgb),
            };
            let jpeg = encode_jpeg(&frame, cam.quality).map_err(|message| CaptureError::Device { device: cam.describe(), message })?;
            cam.prerendered.push(jpeg);
        }
        Ok(cam)
    }

    /// Renders frame `seq` at session time `t_ns` as RGB.
    pub fn render(&mut self, seq: u64, t_ns: i64) -> Vec<u8> {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut rgb = vec![0u8; w * h * 3];
        let shift = (seq as usize * 4) % w.max(1);
        let box_x = (seq as usize * 7) % w.max(1);
        let box_y = h / 3;
        let box_s = (h / 5).max(4);
        for y in 0..h {
            for x in 0..w {
                let i = (y * w + x) * 3;
                let bar = ((x + shift) * 8 / w.max(1)) as u8;
                let mut px: [u8; 3] =
                    [if bar & 1 != 0 { 200 } else { 40 }, if bar & 2 != 0 { 200 } else { 40 }, if bar & 4 != 0 { 200 } else { 40 }];
                px[0] = px[0].saturating_add((y * 55 / h.max(1)) as u8);
                if x >= box_x && x < box_x + box_s && y >= box_y && y < box_y + box_s {
                    px = [255, 140, 0];
                }
                if self.noise > 0 {
                    let r = self.rng.next_u64();
                    for (c, v) in px.iter_mut().enumerate() {
                        let n = ((r >> (c * 8)) & 0xFF) as i16 * i16::from(self.noise) / 255;
                        *v = (i16::from(*v) + n - i16::from(self.noise) / 2).clamp(0, 255) as u8;
                    }
                }
                rgb[i..i + 3].copy_from_slice(&px);
            }
        }
        let scale = (h / 120).max(1);
        let text = format!("#{seq} t={:.3}s", t_ns as f64 / 1e9);
        font::draw_text(&mut rgb, w, h, 8, 8, scale, &text);
        rgb
    }
}

impl CameraSource for SyntheticCamera {
    fn describe(&self) -> String {
        format!("camera {} (synthetic {}x{})", self.name, self.width, self.height)
    }

    fn next_frame(&mut self, ctx: &SourceCtx) -> Result<Option<CapturedFrame>, CaptureError> {
        let start = *self.started.get_or_insert_with(Instant::now);
        let due = start + self.period * u32::try_from(self.next_seq).unwrap_or(u32::MAX);
        if !sleep_until(ctx, due) {
            return Ok(None);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        // A camera that falls a whole frame behind skips slots, as real ones do.
        let now = Instant::now();
        let late = now.saturating_duration_since(due);
        if late > self.period {
            let skipped = (late.as_nanos() / self.period.as_nanos().max(1)) as u64;
            self.next_seq += skipped;
            ctx.stats.drops.fetch_add(skipped, Ordering::Relaxed);
        }
        let device_ts_ns = duration_ns(self.period) * seq as i64;
        let pixels = if self.prerendered.is_empty() {
            let t_ns = ctx.clock.ns_at(due);
            Pixels::Rgb(self.render(seq, t_ns))
        } else {
            Pixels::Jpeg(self.prerendered[(seq % self.prerendered.len() as u64) as usize].clone())
        };
        Ok(Some(CapturedFrame {
            arrived: Instant::now(),
            device_ts_ns: Some(device_ts_ns),
            seq,
            width: self.width,
            height: self.height,
            pixels,
        }))
    }

    fn reopen(&mut self) -> Result<(), CaptureError> {
        Ok(())
    }
}

/// A V4L2 camera through nokhwa.
pub struct NokhwaCamera {
    profile: CameraProfile,
    camera: Option<nokhwa::Camera>,
    seq: u64,
}

fn camera_index(device: &str) -> nokhwa::utils::CameraIndex {
    match device.parse::<u32>() {
        Ok(n) => nokhwa::utils::CameraIndex::Index(n),
        Err(_) => match device.strip_prefix("/dev/video").and_then(|n| n.parse::<u32>().ok()) {
            Some(n) => nokhwa::utils::CameraIndex::Index(n),
            None => nokhwa::utils::CameraIndex::String(device.to_string()),
        },
    }
}

impl NokhwaCamera {
    /// Opens the device with the profile's size, rate and format.
    pub fn open(profile: &CameraProfile) -> Result<Self, CaptureError> {
        let mut cam = Self { profile: profile.clone(), camera: None, seq: 0 };
        cam.reopen()?;
        Ok(cam)
    }
}

impl CameraSource for NokhwaCamera {
    fn describe(&self) -> String {
        format!("camera {} ({})", self.profile.name, self.profile.device)
    }

    fn next_frame(&mut self, _ctx: &SourceCtx) -> Result<Option<CapturedFrame>, CaptureError> {
        let device = self.describe();
        let camera = self.camera.as_mut().ok_or_else(|| CaptureError::Device { device: device.clone(), message: "not open".into() })?;
        let buffer =
            camera.frame().map_err(|e| CaptureError::Device { device: device.clone(), message: format!("frame capture failed: {e}") });
        let buffer = match buffer {
            Ok(b) => b,
            Err(e) => {
                self.camera = None;
                return Err(e);
            }
        };
        let arrived = Instant::now();
        let res = buffer.resolution();
        let bytes = buffer.buffer().to_vec();
        let pixels = match buffer.source_frame_format() {
            nokhwa::utils::FrameFormat::MJPEG => Pixels::Jpeg(bytes),
            nokhwa::utils::FrameFormat::YUYV => Pixels::Yuyv(bytes),
            nokhwa::utils::FrameFormat::RAWRGB => Pixels::Rgb(bytes),
            other => {
                return Err(CaptureError::Device {
                    device,
                    message: format!("camera delivered {other:?}; set format to mjpeg, yuyv or rgb"),
                });
            }
        };
        let seq = self.seq;
        self.seq += 1;
        Ok(Some(CapturedFrame {
            arrived,
            device_ts_ns: buffer.capture_timestamp().map(duration_ns),
            seq,
            width: res.width(),
            height: res.height(),
            pixels,
        }))
    }

    fn reopen(&mut self) -> Result<(), CaptureError> {
        use nokhwa::utils::{CameraFormat, FrameFormat, RequestedFormat, RequestedFormatType};
        self.camera = None;
        let p = &self.profile;
        let format = match p.format.as_str() {
            "yuyv" => FrameFormat::YUYV,
            "rgb" => FrameFormat::RAWRGB,
            _ => FrameFormat::MJPEG,
        };
        let wanted = CameraFormat::new_from(p.width, p.height, format, p.fps);
        let formats = [format];
        let requested = RequestedFormat::with_formats(RequestedFormatType::Closest(wanted), &formats);
        let device = self.describe();
        let mut camera = nokhwa::Camera::new(camera_index(&p.device), requested).map_err(|e| CaptureError::Device {
            device: device.clone(),
            message: format!("cannot open ({e}); check `tacit devices` for cameras and their formats"),
        })?;
        camera.open_stream().map_err(|e| CaptureError::Device { device, message: format!("cannot start streaming: {e}") })?;
        self.camera = Some(camera);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(w: u32, h: u32) -> CameraProfile {
        CameraProfile {
            name: "t".into(),
            device: "synthetic".into(),
            width: w,
            height: h,
            fps: 30,
            format: "mjpeg".into(),
            jpeg_quality: 80,
            offset_ms: 0.0,
            noise: 0,
            prerender: 0,
        }
    }

    #[test]
    fn synthetic_frames_encode_to_valid_jpeg_that_differ() {
        let mut cam = SyntheticCamera::new(&profile(160, 120)).unwrap();
        let a = cam.render(1, 33_000_000);
        let b = cam.render(2, 66_000_000);
        assert_ne!(a, b);
        let frame = CapturedFrame { arrived: Instant::now(), device_ts_ns: None, seq: 1, width: 160, height: 120, pixels: Pixels::Rgb(a) };
        let jpeg = encode_jpeg(&frame, 80).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9]);
    }

    #[test]
    fn yuyv_and_short_buffers() {
        let frame =
            CapturedFrame { arrived: Instant::now(), device_ts_ns: None, seq: 0, width: 4, height: 2, pixels: Pixels::Yuyv(vec![128; 16]) };
        assert!(encode_jpeg(&frame, 80).unwrap().starts_with(&[0xFF, 0xD8]));
        let short = CapturedFrame { pixels: Pixels::Rgb(vec![0; 5]), ..frame };
        assert!(encode_jpeg(&short, 80).unwrap_err().contains("expected 24"));
    }

    #[test]
    fn noise_makes_frames_realistically_large() {
        let mut p = profile(1280, 720);
        p.noise = 60;
        p.jpeg_quality = 90;
        p.prerender = 1;
        let cam = SyntheticCamera::new(&p).unwrap();
        let size = cam.prerendered[0].len();
        assert!(size > 80_000, "{size} bytes");
    }
}
