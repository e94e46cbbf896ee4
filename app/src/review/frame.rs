//! Camera frames as RGB pixels: JPEG bytes from a live tap or a frame read
//! from a [`FrameIndex`], decoded by zune-jpeg.

use std::sync::Arc;

use tacit_session::seek::FrameIndex;

/// What to decode: the bytes, or a frame to read from an index first.
pub enum Source {
    /// JPEG bytes in memory (live preview).
    Bytes(Arc<[u8]>),
    /// Frame `i` of a seekable camera stream (Review).
    Frame(Arc<FrameIndex>, usize),
}

/// Decoded pixels: width, height, RGB bytes (`w × h × 3`).
pub struct Rgb {
    /// Width, px.
    pub width: usize,
    /// Height, px.
    pub height: usize,
    /// Row-major RGB.
    pub pixels: Vec<u8>,
}

/// Reads (for an index frame) and decodes one JPEG.
pub fn decode_rgb(source: &Source) -> Result<Rgb, String> {
    let bytes: std::borrow::Cow<'_, [u8]> = match source {
        Source::Bytes(b) => std::borrow::Cow::Borrowed(b),
        Source::Frame(index, i) => std::borrow::Cow::Owned(index.frame(*i).map_err(|e| e.to_string())?),
    };
    let options =
        zune_jpeg::zune_core::options::DecoderOptions::default().jpeg_set_out_colorspace(zune_jpeg::zune_core::colorspace::ColorSpace::RGB);
    let mut dec = zune_jpeg::JpegDecoder::new_with_options(zune_jpeg::zune_core::bytestream::ZCursor::new(bytes.as_ref()), options);
    let pixels = dec.decode().map_err(|e| format!("not a readable JPEG ({e})"))?;
    let (width, height) = dec.dimensions().ok_or("JPEG without dimensions")?;
    if pixels.len() != width * height * 3 {
        return Err(format!("JPEG decoded to {} bytes for {width}×{height}", pixels.len()));
    }
    Ok(Rgb { width, height, pixels })
}
