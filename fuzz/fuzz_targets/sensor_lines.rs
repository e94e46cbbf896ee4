//! Sensor lines: CSV (with or without a header), `key=value` and JSON. The
//! first byte picks the format.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tacit_capture::source::lines::LineParser;
use tacit_schema::LineFormat;

fuzz_target!(|bytes: &[u8]| {
    let Some((&pick, rest)) = bytes.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let format = [LineFormat::Csv, LineFormat::Kv, LineFormat::Json][usize::from(pick % 3)];
    let time = ["t", "first", "time_s"][usize::from(pick / 3 % 3)];
    let mut parser = LineParser::new(format, tacit_fuzz::channels(), Some(time.to_string()));
    let mut lines = text.lines();
    if pick & 0x80 != 0 {
        if let Some(header) = lines.next() {
            let _ = parser.set_header(header);
        }
    }
    for line in lines {
        let _ = parser.parse(line);
    }
});
