//! Labels imported from CSV (or ELAN, when the text starts as XML),
//! checked against a station's vocabulary.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tacit_schema::LabelVocabulary;
use tacit_session::import::{labels_from, ImportOptions};

fuzz_target!(|text: &str| {
    let vocab = LabelVocabulary {
        steps: vec!["tack".into(), "root pass".into(), "가접".into()],
        defects: vec!["porosity".into()],
        quality: vec!["bad".into(), "good".into()],
        tiers: Default::default(),
    };
    let opts =
        ImportOptions { vocab: &vocab, author: None, fallback_author: "fuzz".into(), offset_s: 0.0, at_utc: "2026-12-04T00:00:00Z".into() };
    if let Ok(imported) = labels_from(Path::new("labels.csv"), text, &opts) {
        for l in imported.labels {
            assert!(l.start_ns <= l.end_ns, "{l:?}");
        }
    }
});
