//! A CTranslate2 `model.bin`, as `tacit model import` reads it.
#![no_main]
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tacit_transcribe::ct2::Ct2Model;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(m) = Ct2Model::read(bytes, Path::new("model.bin")) {
        for name in m.variables.keys() {
            let _ = m.weights_f32(name);
        }
        let _ = m.to_bytes();
    }
});
