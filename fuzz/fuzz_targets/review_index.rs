//! The store's `index/review.json.zst`, as a trainer's PC decodes it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tacit_session::store::review_index::ReviewIndex;

fuzz_target!(|bytes: &[u8]| {
    let _ = ReviewIndex::decode(bytes);
});
