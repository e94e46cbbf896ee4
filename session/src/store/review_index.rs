//! The review index of a session in the site store
//! (`sessions/<id>/index/review.json.zst`): what Review reads to open a
//! session, made by the station at push time from its local files, so a
//! trainer's PC opens a one-hour session from the store without reading
//! its streams.
//!
//! - every stream file's message walk ([`ipc::messages`]) with the `t_ns`
//!   of each batch (every row for a camera, the first and last for a
//!   sensor): the frame and sensor indexes without a pass over the files;
//! - each sensor's overview plot ([`SensorIndex::sample`] of
//!   [`OVERVIEW_ROWS`] rows) and each microphone's waveform
//!   ([`Wav::peaks`] in [`OVERVIEW_BINS`] bins).
//!
//! JSON, zstd-compressed. A session without one (pushed by an older tacit)
//! opens too, by reading its streams through the block cache.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use tacit_schema::StreamKind;

use crate::audio::{Wav, OVERVIEW_BINS};
use crate::ipc::{self, Messages};
use crate::seek::{SensorIndex, SensorSample, OVERVIEW_ROWS};
use crate::{SessionDir, SessionError, SessionFile};

/// Where it is, inside the session's folder in the store.
pub const OBJECT: &str = "index/review.json.zst";

/// What Review needs to open a session, without its streams.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReviewIndex {
    /// 1.
    pub format_version: u32,
    /// Each `.arrows` file's walk, by file name, with `t_ns` filled in.
    pub walks: BTreeMap<String, Messages>,
    /// Each sensor stream's overview, by stream name.
    pub overviews: BTreeMap<String, SensorSample>,
    /// Each WAV's waveform, by file name.
    pub peaks: BTreeMap<String, Vec<f32>>,
}

impl ReviewIndex {
    /// Builds the index of the local session in `dir`.
    pub fn build(dir: &Path) -> Result<Self, SessionError> {
        let session = SessionDir::open(dir)?;
        let profile = session.profile()?;
        let mut out = Self { format_version: 1, ..Self::default() };
        for stream in &session.manifest().streams {
            for name in stream.files.iter().filter(|f| f.ends_with(".arrows")) {
                let path = dir.join(name);
                let mut walk = ipc::messages(&path)?;
                let every_row = stream.kind == StreamKind::Camera;
                if every_row || stream.kind == StreamKind::Sensor {
                    fill_times(&path, &mut walk, every_row)?;
                }
                out.walks.insert(name.clone(), walk);
            }
            match stream.kind {
                StreamKind::Sensor => {
                    let channels = profile.sensor_channels(&stream.name);
                    let index = SensorIndex::open(dir, stream, &channels)?;
                    out.overviews.insert(stream.name.clone(), index.sample(i64::MIN, i64::MAX, OVERVIEW_ROWS)?);
                }
                StreamKind::Audio => {
                    for name in stream.files.iter().filter(|f| f.ends_with(".wav")) {
                        // A WAV Review cannot draw is left out, not an error of the push.
                        if let Ok(peaks) = Wav::open(&dir.join(name)).and_then(|w| w.peaks(OVERVIEW_BINS)) {
                            out.peaks.insert(name.clone(), peaks);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// As stored: JSON, zstd level 3.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let json = serde_json::to_vec(self).map_err(|e| e.to_string())?;
        zstd::encode_all(json.as_slice(), 3).map_err(|e| e.to_string())
    }

    /// Reads [`ReviewIndex::encode`]'s bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        let json = zstd::decode_all(bytes).map_err(|e| format!("not a zstd stream ({e})"))?;
        let index: Self = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
        if index.format_version != 1 {
            return Err(format!("format_version {} is not one this tacit reads (1)", index.format_version));
        }
        Ok(index)
    }
}

/// The buffer of a camera batch holding its JPEG offsets: after t_ns,
/// device_ts_ns, seq, width, height (2 buffers each) and codec (3), the
/// `data` column's validity, then its offsets.
const DATA_OFFSETS: usize = 14;

/// The first column (`t_ns`) of each batch: every row, or the first and last.
fn fill_times(path: &Path, walk: &mut Messages, every_row: bool) -> Result<(), SessionError> {
    let f = SessionFile::open(path)?;
    let read = |pos: u64, n: u64| -> Result<Vec<i64>, SessionError> {
        let mut buf = vec![0u8; (n * 8) as usize];
        f.read_exact_at(&mut buf, pos).map_err(|e| SessionError::io("read", path, e))?;
        Ok(buf.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect())
    };
    for b in &mut walk.batches {
        let Some(t) = b.buffers.get(1).copied() else { continue };
        if b.compressed || b.rows == 0 || t.len < u64::from(b.rows) * 8 {
            continue;
        }
        b.t_ns = if every_row {
            // A camera batch: its JPEG offsets too.
            if let Some(o) = b.buffers.get(DATA_OFFSETS).copied().filter(|o| o.len >= (u64::from(b.rows) + 1) * 4) {
                let mut buf = vec![0u8; ((u64::from(b.rows) + 1) * 4) as usize];
                f.read_exact_at(&mut buf, o.pos).map_err(|e| SessionError::io("read", path, e))?;
                b.data_offsets = buf.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap_or([0; 4]))).collect();
            }
            read(t.pos, u64::from(b.rows))?
        } else {
            let mut v = read(t.pos, 1)?;
            v.extend(read(t.pos + (u64::from(b.rows) - 1) * 8, 1)?);
            v
        };
    }
    Ok(())
}

#[cfg(all(test, feature = "test-support"))]
mod tests {
    use super::*;

    #[test]
    fn a_built_index_round_trips_and_matches_the_walks() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = crate::builder::SessionBuilder::new("s1").seconds(2.0).tone("mic").write(tmp.path()).unwrap();
        let index = ReviewIndex::build(&dir).unwrap();
        assert!(!index.walks.is_empty() && !index.overviews.is_empty() && !index.peaks.is_empty(), "{index:?}");
        let cam = index.walks.iter().find(|(n, _)| n.starts_with("cam-")).unwrap().1;
        assert!(cam.batches.iter().all(|b| b.t_ns.len() == b.rows as usize && b.data_offsets.len() == b.rows as usize + 1));
        // The offsets are the ones FrameIndex reads: frame 0's bytes are a JPEG.
        let stream = &SessionDir::open(&dir).unwrap().manifest().streams[0].clone();
        let frames = crate::seek::FrameIndex::open(&dir, stream).unwrap();
        assert_eq!(&frames.frame(0).unwrap()[..2], [0xFF, 0xD8]);
        let plain = ipc::messages(&dir.join(index.walks.keys().next().unwrap())).unwrap();
        assert_eq!(plain.batches.len(), index.walks.values().next().unwrap().batches.len());
        assert_eq!(ReviewIndex::decode(&index.encode().unwrap()).unwrap(), index);
        assert!(ReviewIndex::decode(b"junk").unwrap_err().contains("zstd"));
    }
}
