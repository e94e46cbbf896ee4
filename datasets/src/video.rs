//! LeRobot `video` features: the frames of one camera, one per data row,
//! piped as JPEG into an `ffmpeg` child that writes a constant-fps MP4
//! (yuv420p, pts = n / fps). Episodes share a file; a new file starts at an
//! episode boundary once the current one passes the size limit.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::error::DatasetError;

/// The codec of `--video`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VideoCodec {
    /// H.264 (libx264, preset veryfast, crf 23): fast on small CPUs; LeRobot accepts it.
    #[default]
    H264,
    /// AV1 (libsvtav1, preset 8, crf 30): LeRobot's own default; slower to encode.
    Av1,
}

impl VideoCodec {
    /// The name in `info.json` (`video.codec`).
    pub fn name(self) -> &'static str {
        match self {
            Self::H264 => "h264",
            Self::Av1 => "av1",
        }
    }

    fn args(self) -> &'static [&'static str] {
        match self {
            Self::H264 => &["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-g", "2"],
            Self::Av1 => &["-c:v", "libsvtav1", "-preset", "8", "-crf", "30", "-g", "2"],
        }
    }
}

/// Checks that `ffmpeg` runs and has the encoder.
pub fn check_ffmpeg(codec: VideoCodec) -> Result<(), DatasetError> {
    let out = Command::new("ffmpeg").args(["-hide_banner", "-encoders"]).stdin(Stdio::null()).output().map_err(|e| {
        DatasetError::Options(format!(
            "--video needs ffmpeg on PATH ({e}); install it (`apt install ffmpeg`, or run scripts/setup), or export without --video to store JPEG images"
        ))
    })?;
    let encoder = codec.args()[1];
    if !String::from_utf8_lossy(&out.stdout).contains(encoder) {
        return Err(DatasetError::Options(format!("this ffmpeg has no {encoder} encoder; choose the other --video-codec")));
    }
    Ok(())
}

/// One camera's MP4 files, fed one JPEG per data row.
pub struct VideoWriter {
    root: PathBuf,
    key: String,
    fps: u32,
    size: (u32, u32),
    codec: VideoCodec,
    limit_bytes: u64,
    /// Index of the file being written.
    pub file_index: usize,
    /// Frames in the current file.
    pub frames_in_file: u64,
    child: Option<(Child, ChildStdin, PathBuf)>,
}

impl VideoWriter {
    /// A writer for `videos/<key>/chunk-000/file-NNN.mp4` under `root`.
    pub fn new(root: &Path, key: &str, fps: u32, size: (u32, u32), codec: VideoCodec, limit_bytes: u64) -> Self {
        Self { root: root.to_path_buf(), key: key.into(), fps, size, codec, limit_bytes, file_index: 0, frames_in_file: 0, child: None }
    }

    fn path(&self, i: usize) -> PathBuf {
        self.root.join(format!("videos/{}/chunk-000/file-{i:03}.mp4", self.key))
    }

    /// Called at an episode start: rolls to a new file past the size limit.
    pub fn begin_episode(&mut self) -> Result<(), DatasetError> {
        let big = std::fs::metadata(self.path(self.file_index)).map(|m| m.len() > self.limit_bytes).unwrap_or(false);
        if self.child.is_some() && big {
            self.finish()?;
            self.file_index += 1;
            self.frames_in_file = 0;
        }
        Ok(())
    }

    fn spawn(&mut self) -> Result<(), DatasetError> {
        let path = self.path(self.file_index);
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| DatasetError::io("create", d, e))?;
        }
        let log = path.with_extension("ffmpeg.log");
        let stderr = std::fs::File::create(&log).map_err(|e| DatasetError::io("create", &log, e))?;
        let (w, h) = self.size;
        let fps = self.fps.to_string();
        let mut child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "image2pipe", "-framerate", &fps, "-c:v", "mjpeg", "-i", "-"])
            .args(["-vf", &format!("scale={w}:{h}:flags=bilinear,format=yuv420p"), "-r", &fps])
            .args(self.codec.args())
            .args(["-pix_fmt", "yuv420p", "-an", "-f", "mp4"])
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| DatasetError::Options(format!("cannot start ffmpeg ({e}); install it or export without --video")))?;
        let stdin = child.stdin.take().ok_or_else(|| DatasetError::write("ffmpeg has no stdin", &path))?;
        self.child = Some((child, stdin, log));
        Ok(())
    }

    /// Appends one frame (JPEG bytes).
    pub fn push(&mut self, jpeg: &[u8]) -> Result<(), DatasetError> {
        if self.child.is_none() {
            self.spawn()?;
        }
        let path = self.path(self.file_index);
        let Some((_, stdin, log)) = self.child.as_mut() else { return Ok(()) };
        if let Err(e) = stdin.write_all(jpeg) {
            let why = std::fs::read_to_string(&*log).unwrap_or_default();
            return Err(DatasetError::write(format!("ffmpeg stopped taking frames ({e}): {}", why.trim()), &path));
        }
        self.frames_in_file += 1;
        Ok(())
    }

    /// Closes the current file and waits for ffmpeg; fsyncs the MP4.
    pub fn finish(&mut self) -> Result<(), DatasetError> {
        let path = self.path(self.file_index);
        if let Some((mut child, stdin, log)) = self.child.take() {
            drop(stdin);
            let status = child.wait().map_err(|e| DatasetError::io("wait for ffmpeg", &path, e))?;
            let why = std::fs::read_to_string(&log).unwrap_or_default();
            let _ = std::fs::remove_file(&log);
            if !status.success() {
                return Err(DatasetError::write(format!("ffmpeg failed ({status}): {}", why.trim()), &path));
            }
            let f = std::fs::File::open(&path).map_err(|e| DatasetError::io("open", &path, e))?;
            f.sync_all().map_err(|e| DatasetError::io("sync", &path, e))?;
        }
        Ok(())
    }
}

impl Drop for VideoWriter {
    fn drop(&mut self) {
        // An export that failed part-way: stop our ffmpeg child, by its handle.
        if let Some((mut child, stdin, _)) = self.child.take() {
            drop(stdin);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
