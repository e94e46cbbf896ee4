//! A serial port's byte stream, in reads of fuzzed lengths, through the
//! line splitter into the `key=value` parser (the first byte: read length).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tacit_capture::source::lines::LineParser;
use tacit_capture::source::sensor::{LineSplitter, SensorBatch};
use tacit_schema::LineFormat;

fuzz_target!(|bytes: &[u8]| {
    let Some((&chunk, rest)) = bytes.split_first() else { return };
    let parser = LineParser::new(LineFormat::Kv, tacit_fuzz::channels(), Some("t".into()));
    let mut splitter = LineSplitter::default();
    let mut batch = SensorBatch::default();
    for (i, read) in rest.chunks(usize::from(chunk).max(1)).enumerate() {
        splitter.feed(read, i as i64, &parser, &mut batch);
    }
    assert_eq!(batch.values.len(), batch.rows() * 3);
});
