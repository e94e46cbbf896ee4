//! What the fuzz targets share: a scratch folder per process for the
//! readers that take a path, and the station the text parsers are set up for.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A folder of this process (in `$TMPDIR`), made once, for the file readers.
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tacit-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a scratch folder in $TMPDIR");
        dir
    })
}

/// `bytes` written to `name` in a fresh subfolder `sub` of [`scratch`]
/// (nothing else left in it from an earlier input); the subfolder.
pub fn folder_with(sub: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let dir = scratch().join(sub);
    let _ = std::fs::remove_dir_all(&dir);
    let file = dir.join(name);
    std::fs::create_dir_all(file.parent().expect("a parent")).expect("the scratch folder");
    std::fs::write(&file, bytes).expect("a scratch file");
    dir
}

/// The sensor channels the line parsers are given.
pub fn channels() -> Vec<String> {
    ["current_a", "voltage_v", "wire_mm_s"].iter().map(|s| s.to_string()).collect()
}
