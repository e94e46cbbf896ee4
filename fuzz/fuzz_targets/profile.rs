//! The station profile (TOML): parse, then validate.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(p) = tacit_schema::StationProfile::from_toml(text) {
        let _ = p.validate();
        for s in &p.sensors {
            let _ = p.sensor_channels(&s.name);
        }
    }
});
