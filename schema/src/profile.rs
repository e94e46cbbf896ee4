//! The station profile (TOML): cameras, microphone, sensors, label vocabulary,
//! transcription language and glossary, consent. Written once by a station
//! integrator; `tacit init` writes a commented example.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

/// A whole station profile.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationProfile {
    /// Station and site names.
    pub station: StationInfo,
    /// Consent policy.
    #[serde(default)]
    pub consent: ConsentPolicy,
    /// Cameras, in order.
    #[serde(default, rename = "camera")]
    pub cameras: Vec<CameraProfile>,
    /// The commentary microphone (at most one).
    #[serde(default)]
    pub microphone: Option<MicrophoneProfile>,
    /// Process sensors.
    #[serde(default, rename = "sensor")]
    pub sensors: Vec<SensorProfile>,
    /// Marker keys: a key typed while recording (e.g. "1") → the marker label.
    #[serde(default)]
    pub markers: BTreeMap<String, String>,
    /// Label vocabulary for review and export.
    #[serde(default)]
    pub labels: LabelVocabulary,
    /// Transcription language and glossary.
    #[serde(default)]
    pub transcription: TranscriptionProfile,
    /// The site store every session is pushed to after recording.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreProfile>,
}

/// `[store]`: the site store (S3-compatible) `tacit record` pushes each
/// finished session to; keys come from the AWS variables or `profile`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreProfile {
    /// `s3://bucket/prefix`.
    pub url: String,
    /// `http://site-store:9000` (MinIO, Ceph, Garage); unset: AWS S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The region (default `us-east-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A profile of `~/.aws/credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Remove the session from the station once verified in the store.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune: bool,
}

/// `[station]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationInfo {
    /// Short station name (`weld-cell-3`).
    pub name: String,
    /// Site or plant name.
    #[serde(default)]
    pub site: String,
}

/// `[consent]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentPolicy {
    /// Recording refuses to start until the operator confirms consent.
    #[serde(default)]
    pub required: bool,
}

/// `[[camera]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraProfile {
    /// Stream name; files are `cam-<name>.<n>.arrows`.
    pub name: String,
    /// `synthetic`, a device index (`0`) or a path (`/dev/video0`).
    pub device: String,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frames per second requested.
    pub fps: u32,
    /// Pixel format requested from a real camera: `mjpeg` (stored as is),
    /// `yuyv` or `rgb` (JPEG-encoded on a worker thread).
    #[serde(default = "default_camera_format")]
    pub format: String,
    /// JPEG quality used when tacit encodes (synthetic, yuyv, rgb).
    #[serde(default = "default_jpeg_quality")]
    pub jpeg_quality: u8,
    /// Known fixed latency of the camera pipeline, ms (subtracted from arrival).
    #[serde(default)]
    pub offset_ms: f64,
    /// Synthetic only: grain added to the pattern (0–255) so JPEG sizes look
    /// like a real scene; 0 gives small, flat frames.
    #[serde(default)]
    pub noise: u8,
    /// Synthetic only: render this many distinct frames up front and cycle
    /// through them (a load generator); 0 renders every frame live.
    #[serde(default)]
    pub prerender: u32,
}

fn default_camera_format() -> String {
    "mjpeg".into()
}

fn default_jpeg_quality() -> u8 {
    85
}

/// `[microphone]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MicrophoneProfile {
    /// Stream name; files are `mic-<name>.wav` and `mic-<name>.timing.arrows`.
    pub name: String,
    /// `default`, an ALSA/cpal device name, `synthetic`, or `file:PATH` (a WAV
    /// replayed in real time as if spoken into the microphone).
    pub device: String,
    /// Sample rate requested, Hz (a `file:` device uses the file's rate).
    #[serde(default = "default_audio_rate")]
    pub rate_hz: u32,
    /// Channels requested (1 for commentary).
    #[serde(default = "default_audio_channels")]
    pub channels: u16,
    /// Known fixed latency of the audio path, ms.
    #[serde(default)]
    pub offset_ms: f64,
}

fn default_audio_rate() -> u32 {
    48_000
}

fn default_audio_channels() -> u16 {
    1
}

/// Where a sensor's rows come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SensorKind {
    /// Lines of text from a serial port.
    Serial,
    /// Datagrams of CSV or JSON lines on a UDP address.
    Udp,
    /// Modbus TCP polling (not implemented yet).
    ModbusTcp,
    /// The built-in arc-welding model.
    Simulated,
    /// A CSV file with a time column, replayed in real time.
    Replay,
}

/// How a line of sensor text is laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LineFormat {
    /// Comma-separated values in channel order (optionally device time first).
    #[default]
    Csv,
    /// `key=value` pairs separated by spaces or commas.
    Kv,
    /// A JSON object per line, channel names as keys.
    Json,
}

/// Whether a channel is observed state or a commanded action (LeRobot split).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelRole {
    /// Goes to `observation.state`.
    #[default]
    State,
    /// Goes to `action`.
    Action,
}

/// One sensor channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelProfile {
    /// Column name (`current`, `voltage`, `wire_feed`).
    pub name: String,
    /// Unit (`A`, `V`, `m/min`).
    #[serde(default)]
    pub unit: String,
    /// State or action.
    #[serde(default)]
    pub role: ChannelRole,
}

/// `[[sensor]]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorProfile {
    /// Stream name; files are `sensor-<name>.arrows`.
    pub name: String,
    /// Source kind.
    pub kind: SensorKind,
    /// Nominal rate, Hz (the simulated source produces exactly this).
    pub rate_hz: f64,
    /// Channels in column order.
    pub channels: Vec<ChannelProfile>,
    /// Line layout for serial, udp and replay.
    #[serde(default)]
    pub format: LineFormat,
    /// Serial: port path (`/dev/ttyUSB0`).
    #[serde(default)]
    pub port: Option<String>,
    /// Serial: baud rate.
    #[serde(default)]
    pub baud: Option<u32>,
    /// UDP: address to bind (`127.0.0.1:9000`); Modbus: server address.
    #[serde(default)]
    pub address: Option<String>,
    /// Replay: CSV file (header row; a time column in seconds).
    #[serde(default)]
    pub file: Option<String>,
    /// Name of the device-time field (CSV column header, kv key or JSON key);
    /// its value is in seconds. For CSV without a header, `first` means the
    /// first column is device time.
    #[serde(default)]
    pub time_field: Option<String>,
    /// Known fixed latency (filters, transport), ms.
    #[serde(default)]
    pub offset_ms: f64,
}

/// `[labels]`: what a trainer may label.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelVocabulary {
    /// Work steps (`tack`, `root pass`, `fill`, `cap`).
    #[serde(default)]
    pub steps: Vec<String>,
    /// Defects (`porosity`, `undercut`).
    #[serde(default)]
    pub defects: Vec<String>,
    /// Quality scale, worst to best.
    #[serde(default)]
    pub quality: Vec<String>,
    /// Extra tiers the station declares: tier name → values.
    #[serde(default)]
    pub tiers: BTreeMap<String, Vec<String>>,
}

/// `[transcription]`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptionProfile {
    /// `ko`, `en` or `auto`.
    #[serde(default)]
    pub language: Option<String>,
    /// Trade terms that bias the decoder.
    #[serde(default)]
    pub glossary: Vec<String>,
    /// The site's transcription server (OpenAI-compatible, e.g.
    /// `http://asr.site.lan:8000`): `tacit transcribe` sends speech there
    /// first and falls back to the station's own model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The server's name for the model to use (default `whisper-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_model: Option<String>,
    /// Allow a server outside loopback and private networks (speech
    /// would leave the site).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub server_outside_site: bool,
}

/// A profile that cannot be used, with where and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// TOML syntax or a field of the wrong type.
    #[error("line {line}, key `{key}`: {message}")]
    Parse {
        /// 1-based line.
        line: usize,
        /// The key at fault (or the table header).
        key: String,
        /// What is wrong.
        message: String,
    },
    /// Parsed, but the values do not make a usable station.
    #[error("key `{key}`: {message}")]
    Invalid {
        /// Dotted path of the key (`sensor[1].port`).
        key: String,
        /// What is wrong and what to write instead.
        message: String,
    },
}

impl StationProfile {
    /// The channel names of sensor `name`, in the profile's order (empty
    /// for a sensor the profile does not declare).
    pub fn sensor_channels(&self, name: &str) -> Vec<String> {
        self.sensors.iter().find(|p| p.name == name).map(|p| p.channels.iter().map(|c| c.name.clone()).collect()).unwrap_or_default()
    }

    /// Parses and validates a profile.
    pub fn from_toml(text: &str) -> Result<Self, ProfileError> {
        let profile: StationProfile = toml::from_str(text).map_err(|e| parse_error(text, &e))?;
        profile.validate()?;
        Ok(profile)
    }

    /// Checks what TOML types cannot: names, rates, required fields per kind.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let invalid = |key: String, message: String| Err(ProfileError::Invalid { key, message });
        if self.station.name.trim().is_empty() {
            return invalid("station.name".into(), "must not be empty".into());
        }
        let mut names = HashSet::new();
        let mut check_name = |key: String, name: &str| -> Result<(), ProfileError> {
            let ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !ok {
                return invalid(
                    key,
                    format!("stream name {name:?} must be non-empty ASCII letters, digits, '-' or '_' (it becomes a file name)"),
                );
            }
            if name == "events" || !names.insert(name.to_string()) {
                return invalid(key, format!("stream name {name:?} is used twice (or is the reserved name \"events\")"));
            }
            Ok(())
        };
        for (i, cam) in self.cameras.iter().enumerate() {
            check_name(format!("camera[{i}].name"), &cam.name)?;
            if cam.width == 0 || cam.height == 0 || cam.width > 16384 || cam.height > 16384 {
                return invalid(format!("camera[{i}].width"), format!("size {}x{} is not usable", cam.width, cam.height));
            }
            if cam.fps == 0 || cam.fps > 1000 {
                return invalid(format!("camera[{i}].fps"), format!("{} fps is not usable (1–1000)", cam.fps));
            }
            if !matches!(cam.format.as_str(), "mjpeg" | "yuyv" | "rgb") {
                return invalid(format!("camera[{i}].format"), format!("{:?} is not one of \"mjpeg\", \"yuyv\", \"rgb\"", cam.format));
            }
            if !(1..=100).contains(&cam.jpeg_quality) {
                return invalid(format!("camera[{i}].jpeg_quality"), "must be 1–100".into());
            }
        }
        if let Some(mic) = &self.microphone {
            check_name("microphone.name".into(), &mic.name)?;
            if !(4_000..=384_000).contains(&mic.rate_hz) {
                return invalid("microphone.rate_hz".into(), format!("{} Hz is not usable (4000–384000)", mic.rate_hz));
            }
            if mic.channels == 0 || mic.channels > 32 {
                return invalid("microphone.channels".into(), "must be 1–32".into());
            }
        }
        for (i, s) in self.sensors.iter().enumerate() {
            check_name(format!("sensor[{i}].name"), &s.name)?;
            if !(s.rate_hz > 0.0 && s.rate_hz <= 100_000.0) {
                return invalid(format!("sensor[{i}].rate_hz"), format!("{} Hz is not usable (0–100000]", s.rate_hz));
            }
            if s.channels.is_empty() {
                return invalid(format!("sensor[{i}].channels"), "list at least one channel".into());
            }
            let mut ch = HashSet::new();
            for (j, c) in s.channels.iter().enumerate() {
                if c.name.is_empty() || matches!(c.name.as_str(), "t_ns" | "device_ts_ns") || !ch.insert(c.name.as_str()) {
                    return invalid(
                        format!("sensor[{i}].channels[{j}].name"),
                        format!("channel name {:?} is empty, reserved or used twice", c.name),
                    );
                }
            }
            let need = |field: &str, v: &Option<String>| -> Result<(), ProfileError> {
                match v {
                    Some(x) if !x.trim().is_empty() => Ok(()),
                    _ => invalid(format!("sensor[{i}].{field}"), format!("a {} sensor needs `{field}`", kind_name(s.kind))),
                }
            };
            match s.kind {
                SensorKind::Serial => need("port", &s.port)?,
                SensorKind::Udp | SensorKind::ModbusTcp => need("address", &s.address)?,
                SensorKind::Replay => need("file", &s.file)?,
                SensorKind::Simulated => {}
            }
        }
        if let Some(store) = &self.store {
            if !store.url.starts_with("s3://") || store.url.len() <= 5 {
                return invalid("store.url".into(), format!("{:?} is not a site store: write it as \"s3://bucket/prefix\"", store.url));
            }
            if let Some(e) = &store.endpoint {
                if !(e.starts_with("http://") || e.starts_with("https://")) {
                    return invalid("store.endpoint".into(), format!("{e:?} is not an endpoint: write it as \"http://HOST:PORT\""));
                }
            }
        }
        if let Some(url) = &self.transcription.server {
            let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
                return invalid(
                    "transcription.server".into(),
                    format!("{url:?} is not a server URL: write it as \"http://HOST:PORT\" (the site's transcription server)"),
                );
            }
        }
        Ok(())
    }
}

/// The profile's spelling of a sensor kind.
pub fn kind_name(kind: SensorKind) -> &'static str {
    match kind {
        SensorKind::Serial => "serial",
        SensorKind::Udp => "udp",
        SensorKind::ModbusTcp => "modbus-tcp",
        SensorKind::Simulated => "simulated",
        SensorKind::Replay => "replay",
    }
}

fn parse_error(text: &str, e: &toml::de::Error) -> ProfileError {
    let message = e.message().trim().to_string();
    let start = e.span().map(|s| s.start).unwrap_or(0).min(text.len());
    let line = text[..start].matches('\n').count() + 1;
    let line_text = text.lines().nth(line - 1).unwrap_or("").trim();
    // A message about a missing or unknown field names it; otherwise the key is
    // what stands left of `=` on the offending line, or the table header.
    let key = backticked(&message)
        .or_else(|| line_text.split_once('=').map(|(k, _)| k.trim().to_string()))
        .unwrap_or_else(|| line_text.to_string());
    ProfileError::Parse { line, key, message }
}

fn backticked(message: &str) -> Option<String> {
    let rest = message.split_once('`')?.1;
    let (key, _) = rest.split_once('`')?;
    (message.starts_with("missing field") || message.starts_with("unknown field")).then(|| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[station]
name = "cell-3"

[[camera]]
name = "front"
device = "synthetic"
width = 320
height = 240
fps = 10

[[sensor]]
name = "arc"
kind = "simulated"
rate_hz = 1000
channels = [{ name = "current", unit = "A" }, { name = "wire", role = "action" }]
"#;

    #[test]
    fn good_profile_parses() {
        let p = StationProfile::from_toml(GOOD).unwrap();
        assert_eq!(p.cameras[0].format, "mjpeg");
        assert_eq!(p.sensors[0].channels[1].role, ChannelRole::Action);
        assert!(p.microphone.is_none());
    }

    fn parse_err(text: &str) -> (usize, String, String) {
        match StationProfile::from_toml(text).unwrap_err() {
            ProfileError::Parse { line, key, message } => (line, key, message),
            other => panic!("expected a parse error, got {other}"),
        }
    }

    #[test]
    fn the_transcription_server_is_a_url() {
        let with = format!("{GOOD}\n[transcription]\nserver = \"http://10.0.0.5:8000\"\nserver_model = \"large-v3\"\n");
        let p = StationProfile::from_toml(&with).unwrap();
        assert_eq!(p.transcription.server.as_deref(), Some("http://10.0.0.5:8000"));
        assert!(!p.transcription.server_outside_site);
        let bad = with.replace("http://10.0.0.5:8000", "10.0.0.5:8000");
        match StationProfile::from_toml(&bad) {
            Err(ProfileError::Invalid { key, message }) => {
                assert_eq!(key, "transcription.server");
                assert!(message.contains("http://HOST:PORT"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let bad = GOOD.replace("fps = 10", "fps = \"ten\"");
        let (line, key, _) = parse_err(&bad);
        assert_eq!(line, 10);
        assert_eq!(key, "fps");
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let bad = GOOD.replace("height = 240", "height = 240\nheigth = 240");
        let (line, key, message) = parse_err(&bad);
        assert_eq!(line, 10);
        assert_eq!(key, "heigth");
        assert!(message.contains("unknown field"), "{message}");
    }

    #[test]
    fn syntax_error_names_line() {
        let bad = GOOD.replace("width = 320", "width = = 320");
        let (line, key, _) = parse_err(&bad);
        assert_eq!(line, 8);
        assert_eq!(key, "width");
    }

    #[test]
    fn missing_field_names_key() {
        let bad = GOOD.replace("device = \"synthetic\"\n", "");
        let (_, key, message) = parse_err(&bad);
        assert_eq!(key, "device");
        assert!(message.contains("missing field"), "{message}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let cases = [
            (GOOD.replace("fps = 10", "fps = 0"), "camera[0].fps"),
            (GOOD.replace("kind = \"simulated\"", "kind = \"serial\""), "sensor[0].port"),
            (GOOD.replace("name = \"arc\"", "name = \"front\""), "sensor[0].name"),
            (GOOD.replace("name = \"arc\"", "name = \"a/b\""), "sensor[0].name"),
            (GOOD.replace("name = \"wire\"", "name = \"current\""), "sensor[0].channels[1].name"),
            (GOOD.replace("rate_hz = 1000", "rate_hz = -5"), "sensor[0].rate_hz"),
        ];
        for (text, want) in cases {
            match StationProfile::from_toml(&text) {
                Err(ProfileError::Invalid { key, .. }) => assert_eq!(key, want),
                other => panic!("{want}: expected invalid, got {other:?}"),
            }
        }
    }
}
