//! A tables dataset's `tacit.json`, validated and summarized (`tacit
//! validate`, `tacit inspect`, `export --append`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let dir = tacit_fuzz::folder_with("tables", "tacit.json", bytes);
    let _ = tacit_datasets::validate_tacit(&dir);
    let _ = tacit_datasets::summarize_tacit(&dir);
    let _ = tacit_datasets::DatasetFormat::detect(&dir);
});
