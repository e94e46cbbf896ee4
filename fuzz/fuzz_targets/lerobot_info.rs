//! A LeRobot dataset's `meta/info.json`, validated and summarized.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let dir = tacit_fuzz::folder_with("lerobot", "meta/info.json", bytes);
    let _ = tacit_datasets::validate_lerobot(&dir);
    let _ = tacit_datasets::summarize_lerobot(&dir);
});
