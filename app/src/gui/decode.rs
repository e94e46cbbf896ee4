//! One background thread that turns JPEG bytes into images for the screen
//! (Record's preview and Review's frames), so decoding never runs on the UI
//! thread. Requests queue in a small bounded channel; when the user scrubs
//! faster than frames decode, older requests for the same view are skipped.

use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

/// Where a decoded image goes (a camera in Record or Review).
pub type ViewKey = String;

pub use crate::review::frame::Source;

/// A request.
pub struct Request {
    /// Which view.
    pub key: ViewKey,
    /// Session time the image is for.
    pub t_ns: i64,
    /// What to decode.
    pub source: Source,
    /// When the UI asked (for the seek-latency readout).
    pub asked: Instant,
}

/// A decoded image.
pub struct Decoded {
    /// Which view.
    pub key: ViewKey,
    /// Session time.
    pub t_ns: i64,
    /// The picture, or why there is none.
    pub image: Result<egui::ColorImage, String>,
    /// When the UI asked.
    pub asked: Instant,
}

/// The decoder thread's two ends.
pub struct Decoder {
    tx: Sender<Request>,
    rx: Receiver<Decoded>,
}

impl Decoder {
    /// Starts the thread; it wakes the UI after each image.
    pub fn start(ctx: egui::Context) -> std::io::Result<Self> {
        let (tx, req_rx) = bounded::<Request>(16);
        let (out_tx, rx) = bounded::<Decoded>(16);
        std::thread::Builder::new().name("ui-decode".into()).spawn(move || {
            while let Ok(first) = req_rx.recv() {
                // Keep only the newest request per view.
                let mut latest: Vec<Request> = vec![first];
                while let Ok(r) = req_rx.try_recv() {
                    latest.retain(|q| q.key != r.key);
                    latest.push(r);
                }
                for r in latest {
                    let image = decode(&r.source);
                    if out_tx.send(Decoded { key: r.key, t_ns: r.t_ns, image, asked: r.asked }).is_err() {
                        return;
                    }
                    ctx.request_repaint();
                }
            }
        })?;
        Ok(Self { tx, rx })
    }

    /// Asks for an image; `false` when the queue is full (ask again next frame).
    pub fn ask(&self, key: &str, t_ns: i64, source: Source) -> bool {
        match self.tx.try_send(Request { key: key.to_string(), t_ns, source, asked: Instant::now() }) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        }
    }

    /// Images decoded since the last call.
    pub fn drain(&self) -> Vec<Decoded> {
        self.rx.try_iter().collect()
    }
}

pub(crate) fn decode(source: &Source) -> Result<egui::ColorImage, String> {
    let rgb = crate::review::frame::decode_rgb(source)?;
    Ok(egui::ColorImage::from_rgb([rgb.width, rgb.height], &rgb.pixels))
}
