//! How library crates report progress: a small trait the CLI draws with
//! indicatif and the app forwards over a channel.

/// Receives progress of a long job. Implementations must be cheap: `advance`
/// may be called often.
pub trait Progress: Send + Sync {
    /// A new phase with `total` units (0 when unknown), e.g. "transcribing".
    fn start(&self, phase: &str, total: u64);
    /// `units` more done.
    fn advance(&self, units: u64);
    /// A line for the user (a warning or a result), shown above the bar.
    fn message(&self, text: &str);
    /// The phase is over.
    fn finish(&self);
    /// The user asked to stop; long jobs check this between units and give
    /// up without leaving partial output.
    fn cancelled(&self) -> bool {
        false
    }
}

/// Progress that goes nowhere (tests, scripts).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _phase: &str, _total: u64) {}
    fn advance(&self, _units: u64) {}
    fn message(&self, _text: &str) {}
    fn finish(&self) {}
}
