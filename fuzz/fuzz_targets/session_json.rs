//! `session.json`: the manifest parse, and a session folder opened with it
//! (format-version check, the status rule, the finished-session rule).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Ok(m) = tacit_schema::manifest::SessionManifest::from_json(text) {
            let _ = m.to_json();
        }
    }
    let dir = tacit_fuzz::folder_with("session", "session.json", bytes);
    if let Ok(s) = tacit_session::SessionDir::open(&dir) {
        let _ = s.require_finished();
        let _ = s.profile();
    }
});
