//! A microphone's WAV file: the header, the waveform, the samples.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tacit_session::audio::Wav;

fuzz_target!(|bytes: &[u8]| {
    let dir = tacit_fuzz::folder_with("wav", "mic-0.wav", bytes);
    let Ok(wav) = Wav::open(&dir.join("mic-0.wav")) else { return };
    let _ = wav.seconds();
    let _ = wav.frame_at(1_000_000_000);
    let _ = wav.peaks(64);
    let _ = wav.mono_f32();
    if let Ok(chunks) = wav.pcm16_chunks(4800) {
        for c in chunks.take(64) {
            let _ = c;
        }
    }
});
