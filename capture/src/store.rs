//! What the recorder needs of the disk beyond the session layer: the
//! reserve that keeps room for the final manifest, and the free space.
//! (The library, the manifest and the locks are `tacit_session`'s.)

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use tacit_session::layout::RESERVE;

use crate::error::CaptureError;

/// Size of the reserve (`layout::RESERVE`).
pub const RESERVE_BYTES: usize = 256 << 10;

/// Writes the reserve file (real blocks, synced).
pub fn create_reserve(dir: &Path) -> Result<(), CaptureError> {
    let path = dir.join(RESERVE);
    let mut f = File::create(&path).map_err(|e| CaptureError::io("create", &path, e))?;
    f.write_all(&vec![0u8; RESERVE_BYTES]).map_err(|e| CaptureError::io("write", &path, e))?;
    f.sync_all().map_err(|e| CaptureError::io("sync", &path, e))
}

/// Gives the reserve back to the file system (no error if it is gone).
pub fn release_reserve(dir: &Path) {
    let _ = fs::remove_file(dir.join(RESERVE));
}

/// Free bytes on the file system holding `path` (None if it cannot be read).
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a valid out-pointer.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    (rc == 0).then(|| st.f_bavail as u64 * st.f_frsize as u64)
}
