//! Session time: `t_ns` is an `i64` count of nanoseconds since the session
//! started (the recorder's `Instant`). Helpers here convert at the edges only.

/// Nanoseconds in one second.
pub const NS_PER_S: i64 = 1_000_000_000;

/// Seconds (as typed by a person, e.g. `--from 1.5`) to nanoseconds, rounded.
pub fn secs_to_ns(secs: f64) -> i64 {
    (secs * NS_PER_S as f64).round() as i64
}

/// Nanoseconds to seconds, for display only.
pub fn ns_to_secs(t_ns: i64) -> f64 {
    t_ns as f64 / NS_PER_S as f64
}

/// Milliseconds (profile offsets) to nanoseconds, rounded.
pub fn ms_to_ns(ms: f64) -> i64 {
    (ms * 1e6).round() as i64
}

/// `h:mm:ss.mmm` for people.
pub fn format_ns(t_ns: i64) -> String {
    let sign = if t_ns < 0 { "-" } else { "" };
    let t = t_ns.unsigned_abs();
    let ms = (t / 1_000_000) % 1000;
    let s = (t / 1_000_000_000) % 60;
    let m = (t / 60_000_000_000) % 60;
    let h = t / 3_600_000_000_000;
    format!("{sign}{h}:{m:02}:{s:02}.{ms:03}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip() {
        assert_eq!(secs_to_ns(1.5), 1_500_000_000);
        assert_eq!(ms_to_ns(-2.25), -2_250_000);
        assert_eq!(format_ns(3_723_004_000_000), "1:02:03.004");
        assert_eq!(format_ns(-1_000_000), "-0:00:00.001");
        assert!((ns_to_secs(250_000_000) - 0.25).abs() < 1e-12);
    }
}
