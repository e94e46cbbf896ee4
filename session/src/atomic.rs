//! Crash-safe replacement of small files, and [`Staging`]: a folder that is
//! removed unless its work completes.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::SessionError;

/// Replaces a small file atomically: a temp file beside it, fsync, rename,
/// fsync of the folder. A crash leaves the old or the new content, never a
/// mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SessionError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(SessionError::io("write", &tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| SessionError::io("replace", path, e))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A folder being written before it becomes the real thing (an export's
/// temp folder, a session folder while its recording starts). Dropped
/// without [`Staging::keep`] — an error, a `?`, a panic — it is removed, so a
/// failed step leaves nothing half-written behind. The one guard type of
/// this kind: exporters and `Recorder::start` use it.
#[derive(Debug)]
pub struct Staging {
    path: PathBuf,
    armed: bool,
}

impl Staging {
    /// Guards `path` (it need not exist yet).
    pub fn new(path: PathBuf) -> Self {
        Self { path, armed: true }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The work completed: the folder stays (or was renamed away); returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.armed = false;
        std::mem::take(&mut self.path)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let e = write_atomic(&dir.path().join("missing/a.json"), b"x").unwrap_err().to_string();
        assert!(e.contains("cannot write") && e.contains("missing"), "{e}");
    }

    #[test]
    fn staging_is_removed_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".out.tmp");
        {
            let s = Staging::new(p.clone());
            std::fs::create_dir_all(s.path().join("data")).unwrap();
            std::fs::write(s.path().join("data/a"), b"x").unwrap();
        } // an error path: dropped
        assert!(!p.exists());
        let s = Staging::new(p.clone());
        std::fs::create_dir_all(s.path()).unwrap();
        assert_eq!(s.keep(), p);
        assert!(p.is_dir(), "kept");
    }
}
