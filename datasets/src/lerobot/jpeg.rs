//! Re-encoding camera frames (`--image-size`) and their colour statistics.

/// JPEG quality of resized frames.
pub(super) const RESIZE_QUALITY: u8 = 90;

/// Decodes a JPEG, resizes it to `w`×`h` (bilinear convolution, which
/// averages over the source area when shrinking) and encodes it again.
pub fn resize_jpeg(data: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    use fast_image_resize::images::{Image, ImageRef};
    use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), opts);
    let rgb = d.decode().map_err(|e| format!("not a decodable JPEG ({e})"))?;
    let (sw, sh) = d.dimensions().ok_or("JPEG without dimensions")?;
    let src = ImageRef::new(sw as u32, sh as u32, &rgb, PixelType::U8x3).map_err(|e| e.to_string())?;
    let mut dst = Image::new(w, h, PixelType::U8x3);
    let alg = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    Resizer::new().resize(&src, &mut dst, &alg).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity((w * h) as usize / 4);
    let (w16, h16) = (u16::try_from(w).map_err(|_| "width over 65535")?, u16::try_from(h).map_err(|_| "height over 65535")?);
    jpeg_encoder::Encoder::new(&mut out, RESIZE_QUALITY)
        .encode(dst.buffer(), w16, h16, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Mean of each colour channel (0..1) of a JPEG, over every 4th pixel.
pub(super) fn jpeg_channel_means(data: &[u8]) -> Option<[f64; 3]> {
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::zune_core::colorspace::ColorSpace;
    use zune_jpeg::zune_core::options::DecoderOptions;
    let opts = DecoderOptions::default().jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(data), opts);
    let px = d.decode().ok()?;
    let mut sum = [0f64; 3];
    let mut n = 0f64;
    for p in px.chunks_exact(3).step_by(4) {
        for c in 0..3 {
            sum[c] += f64::from(p[c]);
        }
        n += 1.0;
    }
    (n > 0.0).then(|| sum.map(|s| s / n / 255.0))
}
