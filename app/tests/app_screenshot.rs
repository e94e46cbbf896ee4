//! The real app under a bare X server (Xvfb) with Mesa's software OpenGL:
//! `tacit app --screenshot` draws Review in Korean and in English and saves
//! what the GPU path rendered. scripts/setup installs xvfb and fonts-nanum.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{library_with, ok, tacit};

fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn review_renders_under_xvfb_in_korean_and_english() {
    assert!(
        Command::new("xvfb-run").arg("--help").output().is_ok(),
        "xvfb-run is missing: run scripts/setup (it installs xvfb, xauth and Mesa)"
    );
    let (tmp, lib) = library_with(&[("op-01", "root pass", "2")]);
    let session = std::fs::read_dir(lib.join("sessions")).unwrap().next().unwrap().unwrap().file_name().to_string_lossy().to_string();
    ok(tacit()
        .args(["label", "add", &session, "--tier", "step", "--value", "tack", "--from", "0.2", "--to", "1.2", "--library"])
        .arg(&lib)
        .output()
        .unwrap());
    let mut shots = Vec::new();
    for lang in ["ko", "en"] {
        let png = tmp.path().join(format!("review-{lang}.png"));
        let out = Command::new("xvfb-run")
            .args(["-a", "-s", "-screen 0 1280x800x24"])
            .arg(env!("CARGO_BIN_EXE_tacit"))
            .args(["app", "--lang", lang, "--open", &session, "--library"])
            .arg(&lib)
            .arg("--settings")
            .arg(tmp.path().join(format!("app-{lang}.json")))
            .arg("--screenshot")
            .arg(&png)
            .env("LIBGL_ALWAYS_SOFTWARE", "1")
            .env_remove("WAYLAND_DISPLAY")
            .output()
            .unwrap();
        assert!(out.status.success(), "tacit app failed: {}", String::from_utf8_lossy(&out.stderr));
        assert!(png.is_file(), "no screenshot written: {}", String::from_utf8_lossy(&out.stderr));
        let (w, h, px) = read_png(&png);
        assert_eq!((w, h), (1280, 800));
        // Not a blank window: many distinct colours (camera frame, waveform, text).
        let mut colours: Vec<[u8; 3]> = px.chunks_exact(4).map(|p| [p[0], p[1], p[2]]).collect();
        colours.sort_unstable();
        colours.dedup();
        assert!(colours.len() > 200, "only {} colours in {}", colours.len(), png.display());
        shots.push(px);
    }
    // The languages differ where the text is (the top bar), not in the camera frame.
    let row = 1280 * 4;
    let top_bar = |px: &Vec<u8>| px[..row * 28].to_vec();
    assert_ne!(top_bar(&shots[0]), top_bar(&shots[1]), "Korean and English top bars are identical");
}
