//! `tacit recover`: makes an interrupted session readable again. Torn Arrow
//! stream tails are cut back to the last whole batch and ended properly, the
//! WAV header is rewritten to the audio actually on disk, and counts, times
//! and sync fits are computed from the files. Nothing readable is discarded.

use std::fs::{self, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use arrow_array::{Array, BooleanArray, Int64Array, RecordBatch, UInt64Array};
use tacit_schema::{SessionManifest, SessionStatus, StreamInfo, StreamKind};

use crate::error::CaptureError;
use crate::store;
use crate::tally::Tally;
use tacit_session::{ipc, layout, SessionDir};

/// What `recover` did.
#[derive(Debug)]
pub struct RecoverReport {
    /// The manifest as written.
    pub manifest: SessionManifest,
    /// Files whose torn tail was cut, with the bytes removed.
    pub cut: Vec<(String, u64)>,
    /// WAV files whose header was rewritten.
    pub wav_repaired: Vec<String>,
    /// Problems that left part of a stream unreadable.
    pub warnings: Vec<String>,
    /// The session was already complete; nothing was changed.
    pub already_complete: bool,
}

/// Recovers the session in `dir`.
pub fn recover(dir: &Path) -> Result<RecoverReport, CaptureError> {
    if tacit_session::is_recording(dir) {
        return Err(CaptureError::session("the session is still being recorded by a live tacit process; stop it first", dir));
    }
    // No live recorder holds it, so a `recording` manifest reads as `interrupted`.
    let mut manifest = SessionDir::open(dir)?.into_manifest();
    let mut report = RecoverReport {
        manifest: manifest.clone(),
        cut: Vec::new(),
        wav_repaired: Vec::new(),
        warnings: Vec::new(),
        already_complete: false,
    };
    if !matches!(manifest.status, SessionStatus::Recording | SessionStatus::Interrupted) {
        report.already_complete = true;
        return Ok(report);
    }
    // A recorder that died kept its reserve: free it so the repaired manifest fits.
    store::release_reserve(dir);
    let names = list_files(dir)?;
    let mut duration_ns = 0i64;
    let mut streams = Vec::new();
    for stream in &manifest.streams {
        let info = match stream.kind {
            StreamKind::Camera => recover_arrows(dir, stream, &segments(&names, &format!("cam-{}.", stream.name), true), &mut report)?,
            StreamKind::Sensor => {
                let mut info = recover_arrows(dir, stream, &segments(&names, &format!("sensor-{}", stream.name), false), &mut report)?;
                let rejects = format!("sensor-{}.rejects.arrows", stream.name);
                if names.contains(&rejects) {
                    let p = dir.join(&rejects);
                    note_cut(&mut report, &rejects, ipc::repair(&p)?);
                    info.rejects = ipc::scan(&p, |_| {})?.rows;
                    info.files.push(rejects);
                }
                info
            }
            StreamKind::Events => recover_arrows(dir, stream, &segments(&names, "events", false), &mut report)?,
            StreamKind::Audio => recover_audio(dir, stream, &names, &mut report)?,
        };
        duration_ns = duration_ns.max(info.last_t_ns.unwrap_or(0));
        streams.push(info);
    }
    manifest.streams = streams;
    manifest.duration_ns = duration_ns;
    manifest.status = SessionStatus::Recovered;
    manifest.stop_reason = "interrupted; recovered from files on disk".into();
    tacit_session::replace_manifest(dir, &manifest)?;
    report.manifest = manifest;
    Ok(report)
}

fn list_files(dir: &Path) -> Result<Vec<String>, CaptureError> {
    let entries = fs::read_dir(dir).map_err(|e| CaptureError::io("list", dir, e))?;
    Ok(entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
}

/// Segment files of a stem in order: `stem.arrows`, `stem.1.arrows`, … (or
/// `stem.0.arrows`, … when numbered from the first). `prefix` includes the
/// dot for numbered stems.
fn segments(names: &[String], stem: &str, numbered: bool) -> Vec<String> {
    let mut found: Vec<(u32, String)> = Vec::new();
    for n in names {
        let Some(rest) = n.strip_suffix(".arrows") else { continue };
        if numbered {
            if let Some(num) = rest.strip_prefix(stem).and_then(|x| x.parse::<u32>().ok()) {
                found.push((num, n.clone()));
            }
        } else if rest == stem {
            found.push((0, n.clone()));
        } else if let Some(num) = rest.strip_prefix(stem).and_then(|x| x.strip_prefix('.')).and_then(|x| x.parse::<u32>().ok()) {
            found.push((num, n.clone()));
        }
    }
    found.sort();
    found.into_iter().map(|(_, n)| n).collect()
}

fn note_cut(report: &mut RecoverReport, file: &str, cut: u64) {
    if cut > 0 {
        report.cut.push((file.to_string(), cut));
    }
}

fn column_i64<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a Int64Array> {
    batch.column_by_name(name)?.as_any().downcast_ref::<Int64Array>()
}

fn recover_arrows(dir: &Path, stream: &StreamInfo, files: &[String], report: &mut RecoverReport) -> Result<StreamInfo, CaptureError> {
    let mut tally = Tally::new();
    for f in files {
        let path = dir.join(f);
        note_cut(report, f, ipc::repair(&path)?);
        let scan = ipc::scan(&path, |batch| {
            let (Some(t), dev) = (column_i64(batch, "t_ns"), column_i64(batch, "device_ts_ns")) else { return };
            for i in 0..t.len() {
                let t_ns = t.value(i);
                if let Some(d) = dev.filter(|d| d.is_valid(i)) {
                    tally.fit.push(d.value(i), t_ns);
                }
                tally.add(1, t_ns, t_ns);
            }
        })?;
        if let Some(e) = scan.error {
            report.warnings.push(format!("{f}: {e}"));
        }
    }
    Ok(rebuild(stream, tally, files.to_vec()))
}

fn rebuild(stream: &StreamInfo, tally: Tally, files: Vec<String>) -> StreamInfo {
    let mut info = tally.into_info(&stream.name, stream.kind, files, stream.rate_hz);
    info.drops = stream.drops;
    info.errors = stream.errors;
    info.rejects = stream.rejects;
    info.offset_ns = stream.offset_ns;
    info.details = stream.details.clone();
    info
}

fn recover_audio(dir: &Path, stream: &StreamInfo, names: &[String], report: &mut RecoverReport) -> Result<StreamInfo, CaptureError> {
    let wav_name = layout::wav(&stream.name);
    let timing_name = layout::audio_timing(&stream.name);
    let mut files = Vec::new();
    let mut frames = 0u64;
    if names.contains(&wav_name) {
        match repair_wav(&dir.join(&wav_name)) {
            Ok((f, changed)) => {
                frames = f;
                if changed {
                    report.wav_repaired.push(wav_name.clone());
                }
            }
            Err(e) => report.warnings.push(e.to_string()),
        }
        files.push(wav_name);
    }
    let rate = stream.rate_hz.max(1.0);
    let frames_ns = |f: u64| (f as f64 * 1e9 / rate).round() as i64;
    let mut tally = Tally::new();
    let mut last_row_end: Option<i64> = None;
    if names.contains(&timing_name) {
        let path = dir.join(&timing_name);
        note_cut(report, &timing_name, ipc::repair(&path)?);
        ipc::scan(&path, |batch| {
            let (Some(t), Some(idx)) =
                (column_i64(batch, "t_ns"), batch.column_by_name("sample_index").and_then(|c| c.as_any().downcast_ref::<UInt64Array>()))
            else {
                return;
            };
            let xrun = batch.column_by_name("xrun").and_then(|c| c.as_any().downcast_ref::<BooleanArray>());
            for i in 0..t.len() {
                // Anchors beyond the audio on disk describe nothing readable.
                if idx.value(i) >= frames {
                    break;
                }
                if xrun.is_some_and(|x| x.value(i)) {
                    tally.fit.mark_break();
                }
                tally.fit.push(frames_ns(idx.value(i)), t.value(i));
                tally.first_t_ns.get_or_insert(t.value(i));
                last_row_end = Some(t.value(i));
            }
        })?;
        files.push(timing_name);
    }
    tally.count = frames;
    let mut info = rebuild(stream, tally, files);
    // Last sample time through the fit (sample index is the audio clock).
    if frames > 0 {
        info.last_t_ns = info.sync.as_ref().and_then(|f| f.map(frames_ns(frames - 1))).map(|t| t.round() as i64).or(last_row_end);
    }
    Ok(info)
}

/// Rewrites a WAV header to the whole frames on disk. Returns (frames, changed).
pub fn repair_wav(path: &Path) -> Result<(u64, bool), CaptureError> {
    let bad = |m: &str| CaptureError::session(format!("WAV cannot be repaired: {m}"), path);
    let mut file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| CaptureError::io("open", path, e))?;
    let len = file.metadata().map_err(|e| CaptureError::io("stat", path, e))?.len();
    let mut head = vec![0u8; len.min(4096) as usize];
    file.read_exact(&mut head).map_err(|e| CaptureError::io("read", path, e))?;
    if head.len() < 12 || &head[0..4] != b"RIFF" || &head[8..12] != b"WAVE" {
        return Err(bad("no RIFF/WAVE header (nothing was flushed)"));
    }
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let mut pos = 12usize;
    let mut block_align = None;
    let mut data = None;
    while pos + 8 <= head.len() {
        let id = &head[pos..pos + 4];
        let size = u32_at(&head, pos + 4) as usize;
        if id == b"fmt " && pos + 8 + 14 <= head.len() {
            block_align = Some(u16::from_le_bytes([head[pos + 8 + 12], head[pos + 8 + 13]]));
        }
        if id == b"data" {
            data = Some((pos, size));
            break;
        }
        pos += 8 + size + (size & 1);
    }
    let align = u64::from(block_align.filter(|a| *a > 0).ok_or_else(|| bad("no fmt chunk"))?);
    let (data_pos, declared) = data.ok_or_else(|| bad("no data chunk"))?;
    let data_start = data_pos as u64 + 8;
    let on_disk = len.saturating_sub(data_start);
    let whole = on_disk - on_disk % align;
    let frames = whole / align;
    let riff_size = u32::try_from(data_start + whole - 8).map_err(|_| bad("larger than 4 GiB"))?;
    let data_size = u32::try_from(whole).map_err(|_| bad("larger than 4 GiB"))?;
    let changed = declared as u64 != whole || u32_at(&head, 4) != riff_size || whole != on_disk;
    if changed {
        file.set_len(data_start + whole).map_err(|e| CaptureError::io("truncate", path, e))?;
        file.seek(SeekFrom::Start(4)).map_err(|e| CaptureError::io("seek", path, e))?;
        file.write_all(&riff_size.to_le_bytes()).map_err(|e| CaptureError::io("write", path, e))?;
        file.seek(SeekFrom::Start(data_pos as u64 + 4)).map_err(|e| CaptureError::io("seek", path, e))?;
        file.write_all(&data_size.to_le_bytes()).map_err(|e| CaptureError::io("write", path, e))?;
        file.sync_all().map_err(|e| CaptureError::io("sync", path, e))?;
    }
    Ok((frames, changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_header_is_rewritten_to_whole_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let spec = hound::WavSpec { channels: 2, sample_rate: 8000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for i in 0..2000 {
            w.write_sample(i as i16).unwrap();
        }
        w.flush().unwrap(); // header says 1000 frames
        std::mem::forget(w);
        // A crash after more samples reached the file but before the header
        // was updated: 250 whole frames and half of one more.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[7u8; 250 * 4 + 2]).unwrap();
        drop(f);
        let (frames, changed) = repair_wav(&path).unwrap();
        assert!(changed);
        assert_eq!(frames, 1250);
        let reader = hound::WavReader::open(&path).unwrap();
        assert_eq!(u64::from(reader.duration()), frames);
        assert_eq!(repair_wav(&path).unwrap(), (frames, false));
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.wav");
        fs::write(&path, b"not a wav").unwrap();
        let err = repair_wav(&path).unwrap_err().to_string();
        assert!(err.contains("no RIFF"), "{err}");
    }
}
