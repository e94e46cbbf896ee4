//! ELAN `.eaf` XML.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(annotations) = tacit_session::elan::parse(text) {
        for a in annotations {
            assert!(a.start_ms <= a.end_ms, "{a:?}");
        }
    }
});
