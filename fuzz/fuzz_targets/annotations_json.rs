//! `annotations.json` read from a session folder.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let dir = tacit_fuzz::folder_with("annotations", "annotations.json", bytes);
    if let Ok(a) = tacit_session::labels::load(&dir) {
        for l in &a.labels {
            let _ = l.covers(0);
        }
    }
});
