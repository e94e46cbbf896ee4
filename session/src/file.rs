//! A session file opened for reading, wherever it is: on the local disk, or
//! in the site store behind a checked-out session ([`crate::store::remote`]),
//! read there with ranged reads through the bounded block cache. Every
//! reader of stream files (the IPC walk, seeking, export's cursors, WAV)
//! opens through [`SessionFile::open`], so a session in the store reads
//! with the same calls as one on disk.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::store::cache::{RemoteObject, BLOCK_BYTES};
use crate::SessionError;

/// True when the session file `path` is there: on the disk, or in the
/// store for a checked-out session's stream file.
pub fn exists(path: &Path) -> bool {
    crate::store::remote::object_for(path).is_some() || path.is_file()
}

/// Reads from the store this long or longer fetch just their bytes.
pub const EXACT_READ: usize = 16 << 10;

/// A session file, readable at any offset and as a stream.
#[derive(Debug)]
pub struct SessionFile {
    inner: Inner,
    len: u64,
    pos: u64,
}

#[derive(Debug)]
enum Inner {
    Local(File),
    Remote { object: Arc<RemoteObject>, last: Mutex<Option<(u64, Bytes)>> },
}

impl SessionFile {
    /// Opens `path`: a file of a checked-out store session reads from the
    /// store, anything else from the disk.
    pub fn open(path: &Path) -> Result<Self, SessionError> {
        if let Some(object) = crate::store::remote::object_for(path) {
            let len = object.size();
            return Ok(Self { inner: Inner::Remote { object, last: Mutex::new(None) }, len, pos: 0 });
        }
        let f = File::open(path).map_err(|e| SessionError::io("open", path, e))?;
        let len = f.metadata().map_err(|e| SessionError::io("read", path, e))?.len();
        Ok(Self { inner: Inner::Local(f), len, pos: 0 })
    }

    /// The file's length when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty file.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fills `buf` from offset `pos`; an end of file first is an error.
    ///
    /// From the store, a read of [`EXACT_READ`] or more (a JPEG frame, a run
    /// of sensor rows) is one ranged GET of just those bytes unless its block
    /// is cached already; smaller reads (message headers) go through the
    /// block cache, where their neighbours are.
    pub fn read_exact_at(&self, mut buf: &mut [u8], mut pos: u64) -> io::Result<()> {
        match &self.inner {
            Inner::Local(f) => f.read_exact_at(buf, pos),
            Inner::Remote { object, .. } if buf.len() >= EXACT_READ && !object.has_block(pos / BLOCK_BYTES) => {
                if pos + buf.len() as u64 > self.len {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file ends before the bytes asked for"));
                }
                let bytes = object.range(pos, buf.len())?;
                buf.copy_from_slice(&bytes);
                Ok(())
            }
            Inner::Remote { .. } => {
                while !buf.is_empty() {
                    let n = self.read_remote(buf, pos)?;
                    if n == 0 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file ends before the bytes asked for"));
                    }
                    buf = &mut buf[n..];
                    pos += n as u64;
                }
                Ok(())
            }
        }
    }

    /// Reads what one block holds of `buf` at `pos` (0 at the end).
    fn read_remote(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let Inner::Remote { object, last } = &self.inner else { return Ok(0) };
        if pos >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let index = pos / BLOCK_BYTES;
        let block = {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            match &*last {
                Some((i, b)) if *i == index => b.clone(),
                _ => {
                    let b = object.block(index)?;
                    *last = Some((index, b.clone()));
                    b
                }
            }
        };
        let at = (pos - index * BLOCK_BYTES) as usize;
        let n = buf.len().min(block.len().saturating_sub(at));
        buf[..n].copy_from_slice(&block[at..at + n]);
        Ok(n)
    }
}

impl Read for SessionFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.inner {
            Inner::Local(f) => f.read(buf)?,
            Inner::Remote { .. } => self.read_remote(buf, self.pos)?,
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for SessionFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = match &mut self.inner {
            Inner::Local(f) => f.seek(to)?,
            Inner::Remote { .. } => {
                let target = match to {
                    SeekFrom::Start(p) => Some(p),
                    SeekFrom::End(d) => self.len.checked_add_signed(d),
                    SeekFrom::Current(d) => self.pos.checked_add_signed(d),
                };
                target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start of the file"))?
            }
        };
        Ok(self.pos)
    }
}
