//! `annotations.log.jsonl`: decoded, then every change applied to a state
//! (what `tacit label rebuild` and the store's merge do).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tacit_schema::labels::Annotations;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(changes) = tacit_session::labels::decode_log(bytes) {
        let mut state = Annotations::default();
        for c in &changes {
            let _ = state.apply(c);
        }
    }
});
