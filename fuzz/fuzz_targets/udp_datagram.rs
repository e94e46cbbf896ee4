//! UDP datagrams (the first byte: the line format), each one or more lines.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tacit_capture::source::lines::LineParser;
use tacit_capture::source::sensor::SensorBatch;
use tacit_schema::LineFormat;

fuzz_target!(|bytes: &[u8]| {
    let Some((&pick, rest)) = bytes.split_first() else { return };
    let format = [LineFormat::Csv, LineFormat::Kv, LineFormat::Json][usize::from(pick % 3)];
    let parser = LineParser::new(format, tacit_fuzz::channels(), Some("t".into()));
    let mut batch = SensorBatch::default();
    for (i, datagram) in rest.split(|&b| b == 0).enumerate() {
        batch.push_datagram(&parser, datagram, i as i64);
    }
    assert_eq!(batch.values.len(), batch.rows() * 3);
});
