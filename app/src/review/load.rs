//! Opening a session for Review (on the `review-open` thread): the frame and
//! sensor indexes, the transcript, the annotations, the waveform.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tacit_schema::{SessionManifest, StreamKind};
use tacit_session::audio::Wav;
use tacit_session::seek::{FrameIndex, SensorIndex, SensorSample};
use tacit_session::transcript::{self, Segment};
use tacit_session::{labels, layout, SessionDir};

use super::edit::Edits;

/// Bins of the whole-session waveform.
pub(crate) const WAVE_BINS: usize = tacit_session::audio::OVERVIEW_BINS;
/// Rows sampled for each sensor plot.
pub(crate) const PLOT_ROWS: usize = tacit_session::seek::OVERVIEW_ROWS;

/// A sensor stream and its plot data.
pub(crate) struct SensorPlot {
    pub(crate) name: String,
    pub(crate) index: Arc<SensorIndex>,
    pub(crate) overview: SensorSample,
    /// Rows for the zoomed view and the range they cover.
    pub(crate) detail: Option<(i64, i64, SensorSample)>,
}

/// A session opened for review (built on the `review-open` thread).
pub struct Loaded {
    pub(crate) dir: PathBuf,
    pub(crate) manifest: SessionManifest,
    /// The annotations and their edits (undo, redo, saves in flight).
    pub(crate) edits: Edits,
    pub(crate) segments: Vec<Segment>,
    pub(crate) cams: Vec<(String, Arc<FrameIndex>)>,
    pub(crate) sensors: Vec<SensorPlot>,
    pub(crate) wave: Vec<f32>,
    /// The microphone's WAV, played from the playhead.
    pub(crate) wav: Option<PathBuf>,
    pub(crate) duration_ns: i64,
    pub(crate) opened_in: Duration,
}

pub(crate) fn open_session(dir: &Path) -> Result<Loaded, String> {
    let started = Instant::now();
    let session = SessionDir::open(dir).map_err(|e| e.to_string())?;
    let profile = session.profile().map_err(|e| e.to_string())?;
    let manifest = session.into_manifest();
    let ann = labels::load(dir).map_err(|e| e.to_string())?;
    let tpath = dir.join(layout::TRANSCRIPT);
    let segments = transcript::read_if_any(&tpath).map_err(|e| e.to_string())?.unwrap_or_default();
    let mut cams = Vec::new();
    let mut sensors = Vec::new();
    let mut wave = Vec::new();
    let mut wav = None;
    for s in &manifest.streams {
        match s.kind {
            StreamKind::Camera => cams.push((s.name.clone(), Arc::new(FrameIndex::open(dir, s).map_err(|e| e.to_string())?))),
            StreamKind::Sensor => {
                // The channels as recorded: the session's station profile.
                let channels = profile.sensor_channels(&s.name);
                let index = Arc::new(SensorIndex::open(dir, s, &channels).map_err(|e| e.to_string())?);
                // A session in the site store: the overview the station drew at push.
                let overview = match tacit_session::store::remote::overview(dir, &s.name) {
                    Some(o) => o,
                    None => index.sample(i64::MIN, i64::MAX, PLOT_ROWS).map_err(|e| e.to_string())?,
                };
                sensors.push(SensorPlot { name: s.name.clone(), index, overview, detail: None });
            }
            StreamKind::Audio if wave.is_empty() => {
                if let Some(f) = s.files.iter().find(|f| f.ends_with(".wav")) {
                    wave = waveform(&dir.join(f)).unwrap_or_default();
                    wav = Some(dir.join(f));
                }
            }
            _ => {}
        }
    }
    let duration_ns = manifest.duration_ns.max(1);
    Ok(Loaded {
        dir: dir.to_path_buf(),
        manifest,
        edits: Edits::new(ann, profile.labels),
        segments,
        cams,
        sensors,
        wave,
        wav,
        duration_ns,
        opened_in: started.elapsed(),
    })
}

/// Peak per bin over the whole file (`session::audio::Wav::peaks`: never
/// read whole, so a one-hour session opens as fast as a minute).
pub(crate) fn waveform(path: &Path) -> Result<Vec<f32>, String> {
    if let Some(peaks) = tacit_session::store::remote::peaks(path) {
        return Ok(peaks);
    }
    Wav::open(path).and_then(|w| w.peaks(WAVE_BINS)).map_err(|e| e.to_string())
}
