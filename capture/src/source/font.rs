//! A 5×7 bitmap font for the characters the synthetic camera draws into its
//! frames (frame number and session time), so a frame identifies itself.

/// Rows of a glyph, 5 bits each (MSB left), top to bottom.
fn glyph(c: char) -> [u8; 7] {
    match c {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        ':' => [0, 0x0C, 0x0C, 0, 0x0C, 0x0C, 0],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        '=' => [0, 0, 0x1F, 0, 0x1F, 0, 0],
        't' => [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06],
        's' => [0, 0, 0x0E, 0x10, 0x0E, 0x01, 0x1E],
        'n' => [0, 0, 0x16, 0x19, 0x11, 0x11, 0x11],
        _ => [0; 7],
    }
}

/// Draws `text` into an RGB buffer at (x, y), each font pixel `scale`² pixels,
/// white on a black box. Clips at the frame edges.
pub fn draw_text(rgb: &mut [u8], width: usize, height: usize, x: usize, y: usize, scale: usize, text: &str) {
    let cell = 6 * scale;
    let box_w = text.chars().count() * cell + scale;
    let box_h = 9 * scale;
    for py in y..(y + box_h).min(height) {
        for px in x..(x + box_w).min(width) {
            let i = (py * width + px) * 3;
            rgb[i..i + 3].copy_from_slice(&[0, 0, 0]);
        }
    }
    for (n, c) in text.chars().enumerate() {
        let rows = glyph(c);
        for (row, bits) in rows.iter().enumerate() {
            for col in 0..5 {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let px = x + scale + n * cell + col * scale + dx;
                        let py = y + scale + row * scale + dy;
                        if px < width && py < height {
                            let i = (py * width + px) * 3;
                            rgb[i..i + 3].copy_from_slice(&[255, 255, 255]);
                        }
                    }
                }
            }
        }
    }
}
