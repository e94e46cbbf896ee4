//! Process sensors: serial lines, UDP datagrams, a replayed CSV file and a
//! simulated arc-welding power source, behind one trait. Modbus TCP polling
//! will be one more implementation of the same trait.

use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use tacit_schema::{SensorKind, SensorProfile};

use super::lines::LineParser;
use super::{sleep_until, SourceCtx, XorShift};
use crate::clock::duration_ns;
use crate::error::CaptureError;

/// Longest line kept whole; longer runs without a newline are rejected.
pub const MAX_LINE: usize = 4096;

/// Rows (and rejected lines) on their way to the writer.
#[derive(Clone, Debug, Default)]
pub struct SensorBatch {
    /// Session time of each row.
    pub t_ns: Vec<i64>,
    /// Device time of each row, ns.
    pub device_ts_ns: Vec<Option<i64>>,
    /// Row-major values, `channels` per row.
    pub values: Vec<Option<f64>>,
    /// Lines that did not parse: (session time, raw text, reason).
    pub rejects: Vec<(i64, String, String)>,
}

impl SensorBatch {
    /// Rows in the batch.
    pub fn rows(&self) -> usize {
        self.t_ns.len()
    }

    /// Nothing in it.
    pub fn is_empty(&self) -> bool {
        self.t_ns.is_empty() && self.rejects.is_empty()
    }

    /// One UDP datagram received at `t_ns`: one or more lines.
    pub fn push_datagram(&mut self, parser: &LineParser, bytes: &[u8], t_ns: i64) {
        let text = String::from_utf8_lossy(bytes);
        for line in text.split('\n') {
            self.push_line(parser, line, t_ns);
        }
    }

    fn push_line(&mut self, parser: &LineParser, line: &str, t_ns: i64) {
        match parser.parse(line) {
            Ok(Some(row)) => {
                self.t_ns.push(t_ns);
                self.device_ts_ns.push(row.device_time_s.map(|s| (s * 1e9).round() as i64));
                self.values.extend(row.values);
            }
            Ok(None) => {}
            Err(reason) => self.rejects.push((t_ns, line.trim_end_matches(['\r', '\n']).to_string(), reason)),
        }
    }
}

/// Anything that yields sensor rows.
pub trait SensorSource: Send {
    /// For messages: `sensor arc (serial /dev/ttyUSB0)`.
    fn describe(&self) -> String;
    /// Adds what arrived (waiting at most ~200 ms) to `batch`, stamping rows
    /// with session time of arrival.
    fn read(&mut self, ctx: &SourceCtx, batch: &mut SensorBatch) -> Result<(), CaptureError>;
    /// Tries to open the device again after an error.
    fn reopen(&mut self) -> Result<(), CaptureError>;
}

/// Opens the source a profile names.
pub fn open(profile: &SensorProfile) -> Result<Box<dyn SensorSource>, CaptureError> {
    let parser = LineParser::new(profile.format, profile.channels.iter().map(|c| c.name.clone()).collect(), profile.time_field.clone());
    Ok(match profile.kind {
        SensorKind::Simulated => Box::new(SimulatedArc::new(profile)),
        SensorKind::Serial => Box::new(SerialSensor::open(profile, parser)?),
        SensorKind::Udp => Box::new(UdpSensor::open(profile, parser)?),
        SensorKind::Replay => Box::new(ReplaySensor::open(profile, parser)?),
        SensorKind::ModbusTcp => {
            return Err(CaptureError::Unsupported(format!(
                "sensor {}: kind \"modbus-tcp\" is not implemented yet; use serial, udp, replay or simulated",
                profile.name
            )))
        }
    })
}

/// Runs a sensor until stop, sending batches to its writer.
pub fn run(mut source: Box<dyn SensorSource>, ctx: SourceCtx, offset_ns: i64, to_writer: Sender<SensorBatch>) {
    while !ctx.stopping() {
        let mut batch = SensorBatch::default();
        match source.read(&ctx, &mut batch) {
            Ok(()) => ctx.device_ok(),
            Err(e) => {
                ctx.device_error(&e.to_string());
                if !sleep_until(&ctx, Instant::now() + Duration::from_secs(1)) {
                    break;
                }
                if source.reopen().is_ok() {
                    ctx.device_ok();
                }
            }
        }
        if batch.is_empty() {
            continue;
        }
        for t in batch.t_ns.iter_mut() {
            *t -= offset_ns;
        }
        for r in batch.rejects.iter_mut() {
            r.0 -= offset_ns;
        }
        let rows = batch.rows() as u64;
        let rejects = batch.rejects.len() as u64;
        let last = batch.t_ns.last().copied().unwrap_or(-1);
        if !ctx.offer(&to_writer, batch, rows, last) {
            break;
        }
        ctx.stats.rejects.fetch_add(rejects, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Splits a byte stream (a serial port's reads) into lines, keeping a
/// partial line between reads and cutting runaway lines at `MAX_LINE`.
#[derive(Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// The next bytes read at `t_ns`: each whole line parsed into `batch`.
    pub fn feed(&mut self, bytes: &[u8], t_ns: i64, parser: &LineParser, batch: &mut SensorBatch) {
        for &b in bytes {
            if b == b'\n' {
                let line = String::from_utf8_lossy(&self.pending).into_owned();
                batch.push_line(parser, &line, t_ns);
                self.pending.clear();
            } else {
                self.pending.push(b);
                if self.pending.len() > MAX_LINE {
                    let raw = String::from_utf8_lossy(&self.pending).into_owned();
                    batch.rejects.push((t_ns, raw, format!("line longer than {MAX_LINE} bytes without a newline")));
                    self.pending.clear();
                }
            }
        }
    }
}

/// Lines from a serial port (or a pseudo-terminal).
pub struct SerialSensor {
    name: String,
    port_path: String,
    baud: u32,
    port: Option<Box<dyn serialport::SerialPort>>,
    parser: LineParser,
    splitter: LineSplitter,
}

impl SerialSensor {
    /// Opens the port at the profile's baud rate (115200 if unset).
    pub fn open(profile: &SensorProfile, parser: LineParser) -> Result<Self, CaptureError> {
        let mut s = Self {
            name: profile.name.clone(),
            port_path: profile.port.clone().unwrap_or_default(),
            baud: profile.baud.unwrap_or(115_200),
            port: None,
            parser,
            splitter: LineSplitter::default(),
        };
        s.reopen()?;
        Ok(s)
    }
}

impl SensorSource for SerialSensor {
    fn describe(&self) -> String {
        format!("sensor {} (serial {} at {} baud)", self.name, self.port_path, self.baud)
    }

    fn read(&mut self, ctx: &SourceCtx, batch: &mut SensorBatch) -> Result<(), CaptureError> {
        let device = self.describe();
        let port = self.port.as_mut().ok_or_else(|| CaptureError::Device { device: device.clone(), message: "not open".into() })?;
        let mut buf = [0u8; 4096];
        match port.read(&mut buf) {
            Ok(0) => {
                self.port = None;
                Err(CaptureError::Device { device, message: "port closed (device unplugged?)".into() })
            }
            Ok(n) => {
                let t_ns = ctx.clock.now_ns();
                self.splitter.feed(&buf[..n], t_ns, &self.parser, batch);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => {
                self.port = None;
                Err(CaptureError::Device { device, message: format!("read failed: {e}") })
            }
        }
    }

    fn reopen(&mut self) -> Result<(), CaptureError> {
        self.port = None;
        let port =
            serialport::new(&self.port_path, self.baud).timeout(Duration::from_millis(200)).open().map_err(|e| CaptureError::Device {
                device: self.describe(),
                message: format!("cannot open: {e}; check the port with `tacit devices` and that you may read it (group dialout)"),
            })?;
        self.port = Some(port);
        Ok(())
    }
}

/// Datagrams of CSV or JSON lines on a UDP address.
pub struct UdpSensor {
    name: String,
    address: String,
    socket: Option<UdpSocket>,
    parser: LineParser,
}

impl UdpSensor {
    /// Binds the profile's address.
    pub fn open(profile: &SensorProfile, parser: LineParser) -> Result<Self, CaptureError> {
        let mut s = Self { name: profile.name.clone(), address: profile.address.clone().unwrap_or_default(), socket: None, parser };
        s.reopen()?;
        Ok(s)
    }

    /// The bound address (useful when the profile asked for port 0).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.socket.as_ref().and_then(|s| s.local_addr().ok())
    }
}

impl SensorSource for UdpSensor {
    fn describe(&self) -> String {
        format!("sensor {} (udp {})", self.name, self.address)
    }

    fn read(&mut self, ctx: &SourceCtx, batch: &mut SensorBatch) -> Result<(), CaptureError> {
        let device = self.describe();
        let socket = self.socket.as_ref().ok_or_else(|| CaptureError::Device { device: device.clone(), message: "not bound".into() })?;
        let mut buf = vec![0u8; 65_536];
        match socket.recv_from(&mut buf) {
            Ok((n, _)) => {
                batch.push_datagram(&self.parser, &buf[..n], ctx.clock.now_ns());
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
            Err(e) => Err(CaptureError::Device { device, message: format!("receive failed: {e}") }),
        }
    }

    fn reopen(&mut self) -> Result<(), CaptureError> {
        let socket = UdpSocket::bind(&self.address).map_err(|e| CaptureError::Device {
            device: self.describe(),
            message: format!("cannot bind: {e}; is another program using the port?"),
        })?;
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .map_err(|e| CaptureError::Device { device: self.describe(), message: e.to_string() })?;
        self.socket = Some(socket);
        Ok(())
    }
}

/// A CSV file with a header and a time column (seconds), replayed in real time.
pub struct ReplaySensor {
    name: String,
    path: PathBuf,
    lines: std::io::Lines<BufReader<std::fs::File>>,
    parser: LineParser,
    first_time_s: Option<f64>,
    started: Option<Instant>,
    pending: Option<(f64, String)>,
    finished: bool,
    line_no: usize,
}

impl ReplaySensor {
    /// Opens the file and reads its header.
    pub fn open(profile: &SensorProfile, mut parser: LineParser) -> Result<Self, CaptureError> {
        let path = PathBuf::from(profile.file.clone().unwrap_or_default());
        let device = format!("sensor {} (replay {})", profile.name, path.display());
        let file = std::fs::File::open(&path)
            .map_err(|e| CaptureError::Device { device: device.clone(), message: format!("cannot open: {e}") })?;
        let mut lines = BufReader::new(file).lines();
        let header = match lines.next() {
            Some(Ok(h)) => h,
            _ => return Err(CaptureError::Device { device, message: "file is empty; it needs a header row".into() }),
        };
        if profile.time_field.is_none() {
            parser = LineParser::new(profile.format, profile.channels.iter().map(|c| c.name.clone()).collect(), Some("t".into()));
        }
        parser.set_header(&header).map_err(|message| CaptureError::Device { device, message })?;
        Ok(Self {
            name: profile.name.clone(),
            path,
            lines,
            parser,
            first_time_s: None,
            started: None,
            pending: None,
            finished: false,
            line_no: 1,
        })
    }
}

impl SensorSource for ReplaySensor {
    fn describe(&self) -> String {
        format!("sensor {} (replay {})", self.name, self.path.display())
    }

    fn read(&mut self, ctx: &SourceCtx, batch: &mut SensorBatch) -> Result<(), CaptureError> {
        if self.finished {
            sleep_until(ctx, Instant::now() + Duration::from_millis(200));
            return Ok(());
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let horizon = Instant::now() + Duration::from_millis(10);
        loop {
            let (time_s, line) = match self.pending.take() {
                Some(p) => p,
                None => match self.lines.next() {
                    None => {
                        self.finished = true;
                        ctx.event(tacit_schema::tables::event_kind::STOP, "replay file finished");
                        return Ok(());
                    }
                    Some(Err(e)) => {
                        self.finished = true;
                        return Err(CaptureError::Device {
                            device: self.describe(),
                            message: format!("read failed at line {}: {e}", self.line_no + 1),
                        });
                    }
                    Some(Ok(line)) => {
                        self.line_no += 1;
                        match self.parser.parse(&line) {
                            Ok(Some(row)) => (row.device_time_s.unwrap_or(0.0), line),
                            Ok(None) => continue,
                            Err(reason) => {
                                batch.rejects.push((ctx.clock.now_ns(), line, format!("line {}: {reason}", self.line_no)));
                                continue;
                            }
                        }
                    }
                },
            };
            let first = *self.first_time_s.get_or_insert(time_s);
            let due = started + Duration::from_secs_f64((time_s - first).max(0.0));
            if due > horizon {
                self.pending = Some((time_s, line));
                if batch.is_empty() {
                    sleep_until(ctx, due.min(Instant::now() + Duration::from_millis(200)));
                }
                return Ok(());
            }
            if due > Instant::now() && !sleep_until(ctx, due) {
                return Ok(());
            }
            batch.push_line(&self.parser, &line, ctx.clock.now_ns());
        }
    }

    fn reopen(&mut self) -> Result<(), CaptureError> {
        Ok(())
    }
}

/// A GMAW (MIG) power source in short-circuit transfer: arc on 4 s, off 1 s;
/// while on, current and voltage with noise and short circuits at ~80 Hz
/// (voltage collapses, current spikes for 2–5 ms); wire feed drifts slowly;
/// travel speed is 0 with the arc off and slower in each bead's first second.
/// Channels named `current`, `voltage`, `wire_feed` and `travel_speed` follow the model; any
/// other channel is a slow sine with noise.
pub struct SimulatedArc {
    name: String,
    channels: Vec<String>,
    rate_hz: f64,
    next_index: u64,
    started: Option<Instant>,
    short_left: u32,
    rng: XorShift,
}

impl SimulatedArc {
    /// A model producing exactly `rate_hz` rows a second.
    pub fn new(profile: &SensorProfile) -> Self {
        Self {
            name: profile.name.clone(),
            channels: profile.channels.iter().map(|c| c.name.clone()).collect(),
            rate_hz: profile.rate_hz,
            next_index: 0,
            started: None,
            short_left: 0,
            rng: XorShift::new(0xA5C_u64 ^ profile.rate_hz.to_bits()),
        }
    }

    fn sample(&mut self, index: u64, out: &mut Vec<Option<f64>>) {
        let ts = index as f64 / self.rate_hz;
        let arc_on = ts % 5.0 < 4.0;
        if arc_on && self.short_left == 0 && self.rng.unit() < 80.0 / self.rate_hz {
            self.short_left = ((0.002 + 0.003 * self.rng.unit()) * self.rate_hz).ceil() as u32;
        }
        let shorting = arc_on && self.short_left > 0;
        self.short_left = self.short_left.saturating_sub(1);
        for (k, ch) in self.channels.iter().enumerate() {
            let noise = self.rng.normal();
            let v = match ch.as_str() {
                "current" if !arc_on => 0.5 * noise.abs(),
                "current" if shorting => 280.0 + 15.0 * noise,
                "current" => 150.0 + 4.0 * noise + 6.0 * (ts * 3.0).sin(),
                "voltage" if !arc_on => 62.0 + 0.2 * noise,
                "voltage" if shorting => 3.0 + 0.5 * noise,
                "voltage" => 22.0 + 0.6 * noise,
                "wire_feed" => 8.0 + 0.3 * (ts * 0.2).sin() + 0.02 * noise,
                // The welder's hand: slower in each bead's first second, then steady.
                "travel_speed" if !arc_on => 0.0,
                "travel_speed" => 30.0 - 8.0 * (1.0 - (ts % 5.0)).max(0.0) + 0.5 * noise,
                _ => 10.0 * (std::f64::consts::TAU * 0.5 * ts + k as f64).sin() + 0.1 * noise,
            };
            out.push(Some(v));
        }
    }
}

impl SensorSource for SimulatedArc {
    fn describe(&self) -> String {
        format!("sensor {} (simulated arc at {} Hz)", self.name, self.rate_hz)
    }

    fn read(&mut self, ctx: &SourceCtx, batch: &mut SensorBatch) -> Result<(), CaptureError> {
        let started = *self.started.get_or_insert_with(Instant::now);
        // Produce in 10 ms blocks (or one row per block below 100 Hz).
        let block = ((self.rate_hz / 100.0).round() as u64).max(1);
        let end = self.next_index + block;
        let due = started + Duration::from_secs_f64(end as f64 / self.rate_hz);
        if !sleep_until(ctx, due) {
            return Ok(());
        }
        let now_ns = ctx.clock.now_ns();
        let period_ns = 1e9 / self.rate_hz;
        for index in self.next_index..end {
            let age = ((end - 1 - index) as f64 * period_ns).round() as i64;
            batch.t_ns.push(now_ns - age);
            batch.device_ts_ns.push(Some((index as f64 * period_ns).round() as i64));
            self.sample(index, &mut batch.values);
        }
        self.next_index = end;
        Ok(())
    }

    fn reopen(&mut self) -> Result<(), CaptureError> {
        Ok(())
    }
}

/// The duration of one period at `rate_hz`, ns.
pub fn period_ns(rate_hz: f64) -> i64 {
    duration_ns(Duration::from_secs_f64(1.0 / rate_hz.max(1e-9)))
}
