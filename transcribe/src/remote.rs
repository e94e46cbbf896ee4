//! The site's transcription server: an OpenAI-compatible
//! `/v1/audio/transcriptions` endpoint (whisper.cpp's server, faster-whisper
//! servers, vLLM) that runs a model too big for a station PC.
//!
//! A station sends it the same packed speech chunks it would decode itself,
//! as 16 kHz WAV, and maps what comes back into track time exactly like a
//! local result. Nothing leaves the site: a URL whose host is not on a
//! loopback, private or link-local address is refused unless the station
//! profile allows it (`[transcription] server_outside_site = true`).

use std::io::Cursor;
use std::net::{IpAddr, ToSocketAddrs};
use std::time::Duration;

use serde_json::Value;

use crate::audio::WHISPER_RATE;
use crate::engine::RawWord;
use crate::error::TranscribeError;
use crate::session::ChunkSegment;

/// How to reach the server.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RemoteParams {
    /// Server URL: a base (`http://asr.site:8000`, `…/v1`) or the full
    /// transcription endpoint.
    pub url: String,
    /// Model name sent with each request (the server's name for it).
    pub model: String,
    /// Allow a host outside loopback and private networks.
    pub outside_site: bool,
    /// Further attempts after a failed request (connection refused or
    /// reset, timeout, HTTP 429 or 5xx).
    pub retries: u32,
    /// Time limit of one request, s (a 28 s chunk on a busy server).
    pub timeout_s: u64,
    /// Bearer token (`TACIT_TRANSCRIBE_API_KEY`), never written anywhere.
    #[serde(skip)]
    pub api_key: Option<String>,
}

impl Default for RemoteParams {
    fn default() -> Self {
        Self { url: String::new(), model: "whisper-1".into(), outside_site: false, retries: 3, timeout_s: 120, api_key: None }
    }
}

/// What a server said about one chunk.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteAnswer {
    /// Segments in chunk time.
    pub segments: Vec<ChunkSegment>,
    /// Language code the server reports (or the one asked for).
    pub language: String,
    /// Whether the word times are the server's own (`false`: the server
    /// gave segment times only, and words were spread over their segment
    /// by length).
    pub server_word_times: bool,
}

/// A client of one transcription endpoint.
pub struct RemoteEngine {
    endpoint: String,
    params: RemoteParams,
    agent: ureq::Agent,
    /// Requests that had to be sent again.
    retried: std::sync::atomic::AtomicU32,
}

impl RemoteEngine {
    /// Checks the URL (scheme, host, the site rule) and prepares a client;
    /// it sends nothing yet.
    pub fn new(params: RemoteParams) -> Result<Self, TranscribeError> {
        let url = endpoint(&params.url).map_err(|message| refused(&params.url, message))?;
        check_site(&url, params.outside_site).map_err(|e| match e {
            SiteError::Outside(m) => refused(&params.url, m),
            SiteError::Unresolved(m) => TranscribeError::Remote { url: params.url.clone(), message: m, can_fall_back: true },
        })?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(params.timeout_s.max(1)))
            .redirects(0)
            .build();
        Ok(Self { endpoint: url.to_string(), params, agent, retried: std::sync::atomic::AtomicU32::new(0) })
    }

    /// The endpoint requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Requests sent again so far.
    pub fn retried(&self) -> u32 {
        self.retried.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Transcribes one chunk of 16 kHz audio. `language` is a code or
    /// `auto`; `prompt` may be empty.
    pub fn transcribe(&self, samples: &[f32], language: &str, prompt: &str) -> Result<RemoteAnswer, TranscribeError> {
        let wav = wav_bytes(samples);
        let boundary = format!("tacit-form-boundary-{:016x}", wav.len() as u64 ^ samples.len() as u64 ^ 0x7461_6369_7400);
        let mut fields: Vec<(&str, &str)> = vec![
            ("model", &self.params.model),
            // faster-whisper-server 0.0.x reads the model from this field.
            ("model_name", &self.params.model),
            ("response_format", "verbose_json"),
            ("timestamp_granularities[]", "word"),
            ("timestamp_granularities[]", "segment"),
            ("temperature", "0"),
        ];
        if language != "auto" && !language.is_empty() {
            fields.push(("language", language));
        }
        if !prompt.is_empty() {
            fields.push(("prompt", prompt));
        }
        let body = multipart(&boundary, &fields, &wav);
        let content_type = format!("multipart/form-data; boundary={boundary}");
        let mut attempt = 0;
        loop {
            let mut req = self.agent.post(&self.endpoint).set("Content-Type", &content_type);
            if let Some(key) = &self.params.api_key {
                req = req.set("Authorization", &format!("Bearer {key}"));
            }
            let failure = match req.send_bytes(&body) {
                Ok(resp) => {
                    let text = resp.into_string().map_err(|e| self.error(format!("cannot read the answer: {e}")))?;
                    let json: Value = serde_json::from_str(&text)
                        .map_err(|e| self.error(format!("answer is not JSON ({e}): {}", text.chars().take(200).collect::<String>())))?;
                    return parse_answer(&json, samples.len(), language).map_err(|m| self.error(m));
                }
                Err(ureq::Error::Status(code, resp)) => {
                    let detail = resp.into_string().unwrap_or_default();
                    let detail = error_message(&detail);
                    if code == 429 || code >= 500 {
                        format!("HTTP {code}: {detail}")
                    } else {
                        let hint = match code {
                            401 | 403 => " (set TACIT_TRANSCRIBE_API_KEY to the server's key)",
                            404 => " (is the URL the server's /v1/audio/transcriptions endpoint?)",
                            _ => " (check the model name: --server-model, or server_model in the profile)",
                        };
                        return Err(self.error(format!("HTTP {code}: {detail}{hint}")));
                    }
                }
                Err(ureq::Error::Transport(t)) => format!("unreachable: {t}"),
            };
            if attempt >= self.params.retries {
                let tries = attempt + 1;
                return Err(self.error(format!("{failure} (after {tries} attempt{})", if tries == 1 { "" } else { "s" })));
            }
            // 0.5, 1, 2, 4, 4 … s: a server that is restarting or loading its
            // model gets time; a station does not wait long for a dead one.
            let wait = Duration::from_millis(500u64 << attempt.min(3));
            tracing::warn!(endpoint = %self.endpoint, attempt = attempt + 1, "{failure}; retrying in {:.1} s", wait.as_secs_f32());
            std::thread::sleep(wait);
            attempt += 1;
            self.retried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A failure of the server (not of the settings): the local model may stand in.
    fn error(&self, message: String) -> TranscribeError {
        TranscribeError::Remote { url: self.endpoint.clone(), message, can_fall_back: true }
    }
}

fn refused(url: &str, message: String) -> TranscribeError {
    TranscribeError::Remote { url: url.to_string(), message, can_fall_back: false }
}

/// The transcription endpoint of a server URL: a bare host or `/v1` gets
/// `/v1/audio/transcriptions` added; any other path is taken as given.
pub fn endpoint(url: &str) -> Result<url::Url, String> {
    let parsed = url::Url::parse(url.trim()).map_err(|e| format!("not a URL ({e}); write it as http://HOST:PORT"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("scheme {:?} is not http or https", parsed.scheme()));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("the URL names no host".into());
    }
    let mut out = parsed.clone();
    let path = parsed.path().trim_end_matches('/');
    match path {
        "" => out.set_path("/v1/audio/transcriptions"),
        p if p.ends_with("/v1") => out.set_path(&format!("{p}/audio/transcriptions")),
        _ => {}
    }
    Ok(out)
}

enum SiteError {
    Outside(String),
    Unresolved(String),
}

/// Whether an address is on the site: loopback, private (RFC 1918, IPv6
/// unique local) or link-local.
pub fn on_site(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return on_site(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The site rule: every address the host stands for must be on the site
/// (a name is resolved; nothing is sent to it).
fn check_site(endpoint: &url::Url, outside_allowed: bool) -> Result<(), SiteError> {
    if outside_allowed {
        return Ok(());
    }
    let port = endpoint.port_or_known_default().unwrap_or(80);
    let addrs: Vec<IpAddr> = match endpoint.host() {
        Some(url::Host::Ipv4(a)) => vec![IpAddr::V4(a)],
        Some(url::Host::Ipv6(a)) => vec![IpAddr::V6(a)],
        Some(url::Host::Domain(name)) => (name, port)
            .to_socket_addrs()
            .map_err(|e| SiteError::Unresolved(format!("cannot resolve {name}: {e}")))?
            .map(|a| a.ip())
            .collect(),
        None => Vec::new(),
    };
    match addrs.iter().find(|a| !on_site(**a)) {
        Some(a) => Err(SiteError::Outside(format!(
            "{a} is outside the site (not a loopback, private or link-local address), and speech stays on the site; \
             if this server is yours, allow it with `server_outside_site = true` under [transcription] in the station profile"
        ))),
        None => Ok(()),
    }
}

/// 16-bit mono WAV at 16 kHz.
fn wav_bytes(samples: &[f32]) -> Vec<u8> {
    let spec = hound::WavSpec { channels: 1, sample_rate: WHISPER_RATE, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut out = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    // Writing to memory cannot fail but for sizes beyond 4 GiB.
    if let Ok(mut w) = hound::WavWriter::new(&mut out, spec) {
        for &s in samples {
            let _ = w.write_sample((s.clamp(-1.0, 1.0) * 32_767.0).round() as i16);
        }
        let _ = w.finalize();
    }
    out.into_inner()
}

/// A `multipart/form-data` body: text fields, then the audio as `file`.
fn multipart(boundary: &str, fields: &[(&str, &str)], wav: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(wav.len() + 1024);
    for (name, value) in fields {
        body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"chunk.wav\"\r\nContent-Type: audio/wav\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(wav);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

/// The message of an OpenAI-style error body, or the body itself.
fn error_message(body: &str) -> String {
    let v: Option<Value> = serde_json::from_str(body).ok();
    let m = v.as_ref().and_then(|v| {
        v.pointer("/error/message").or_else(|| v.pointer("/detail/error/message")).or_else(|| v.get("detail")).or_else(|| v.get("error"))
    });
    match m {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => body.chars().take(200).collect(),
    }
}

/// Seconds of the chunk to chunk samples, within the chunk.
fn at(seconds: f64, len: usize) -> usize {
    if !seconds.is_finite() || seconds <= 0.0 {
        return 0;
    }
    ((seconds * f64::from(WHISPER_RATE)).round() as usize).min(len)
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

/// Language names some servers report instead of codes.
fn language_code(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "english" => "en",
        "korean" => "ko",
        "japanese" => "ja",
        "chinese" => "zh",
        "german" => "de",
        "french" => "fr",
        "spanish" => "es",
        "vietnamese" => "vi",
        "thai" => "th",
        "indonesian" => "id",
        _ => return None,
    })
}

/// Reads a `verbose_json` answer (or a plain `json` one: text only) into
/// segments with words in chunk samples. Word times come from `words` at
/// the top (OpenAI) or in each segment (faster-whisper, whisper.cpp); a
/// server that gives neither gets its segment's words spread by length.
pub fn parse_answer(json: &Value, len: usize, asked: &str) -> Result<RemoteAnswer, String> {
    let language = match json.get("language").and_then(Value::as_str).map(str::trim) {
        Some(l) if l.len() == 2 => l.to_ascii_lowercase(),
        Some(l) if language_code(l).is_some() => language_code(l).unwrap_or_default().to_string(),
        _ if asked != "auto" && !asked.is_empty() => asked.to_string(),
        Some(l) if !l.is_empty() => l.to_ascii_lowercase(),
        _ => "unknown".into(),
    };
    let word_of = |w: &Value| -> Option<RawWord> {
        let text = w.get("word").or_else(|| w.get("text")).and_then(Value::as_str)?.trim().to_string();
        let (start, end) = (num(w, "start")?, num(w, "end")?);
        (!text.is_empty()).then(|| {
            let start = at(start, len);
            RawWord { text, start, end: at(end, len).max(start), probability: num(w, "probability").unwrap_or(f64::NAN) as f32 }
        })
    };
    let top_words: Vec<RawWord> =
        json.get("words").and_then(Value::as_array).map(|a| a.iter().filter_map(word_of).collect()).unwrap_or_default();
    let raw_segments: Vec<Value> = match json.get("segments").and_then(Value::as_array) {
        Some(a) => a.clone(),
        None => match json.get("text").and_then(Value::as_str) {
            Some(t) => vec![serde_json::json!({ "text": t, "start": 0.0, "end": len as f64 / f64::from(WHISPER_RATE) })],
            None => {
                return Err(format!("answer has neither segments nor text: {}", json.to_string().chars().take(200).collect::<String>()))
            }
        },
    };
    let mut server_word_times = !top_words.is_empty();
    let mut segments = Vec::new();
    for s in &raw_segments {
        let text = s.get("text").and_then(Value::as_str).unwrap_or_default().trim().to_string();
        if text.is_empty() || crate::engine::is_annotation(&text) {
            continue;
        }
        let start = at(num(s, "start").unwrap_or(0.0), len);
        let end = at(num(s, "end").unwrap_or(0.0), len).max(start);
        let avg_logprob = num(s, "avg_logprob").unwrap_or(0.0) as f32;
        let no_speech_prob = num(s, "no_speech_prob").unwrap_or(0.0) as f32;
        let own: Vec<RawWord> =
            s.get("words").and_then(Value::as_array).map(|a| a.iter().filter_map(word_of).collect()).unwrap_or_default();
        let mut words = if !own.is_empty() {
            server_word_times = true;
            own
        } else if !top_words.is_empty() {
            // OpenAI's words belong to the segment their middle falls in.
            top_words.iter().filter(|w| (start..end.max(start + 1)).contains(&((w.start + w.end) / 2))).cloned().collect()
        } else {
            Vec::new()
        };
        if words.is_empty() {
            words = spread(&text, start, end);
        }
        // A word without the server's probability gets its segment's mean
        // token probability.
        let seg_p = avg_logprob.exp().clamp(0.0, 1.0);
        for w in &mut words {
            if !w.probability.is_finite() {
                w.probability = seg_p;
            }
        }
        segments.push(ChunkSegment { text, avg_logprob, no_speech_prob, words });
    }
    Ok(RemoteAnswer { segments, language, server_word_times })
}

/// A segment's words (split at spaces) over its time, each as long as its
/// share of letters: an estimate for servers that give segment times only.
pub(crate) fn spread(text: &str, start: usize, end: usize) -> Vec<RawWord> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let weight = |w: &str| w.chars().filter(|c| c.is_alphanumeric()).count().max(1);
    let total: usize = words.iter().map(|w| weight(w)).sum();
    let span = end.saturating_sub(start);
    let mut done = 0;
    words
        .iter()
        .map(|w| {
            let a = start + span * done / total.max(1);
            done += weight(w);
            let b = start + span * done / total.max(1);
            RawWord { text: (*w).to_string(), start: a, end: b, probability: f32::NAN }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoints_and_the_site_rule() {
        assert_eq!(endpoint("http://127.0.0.1:8000").unwrap().as_str(), "http://127.0.0.1:8000/v1/audio/transcriptions");
        assert_eq!(endpoint("http://10.0.0.5:8000/v1/").unwrap().as_str(), "http://10.0.0.5:8000/v1/audio/transcriptions");
        assert_eq!(endpoint("http://asr:9000/inference").unwrap().as_str(), "http://asr:9000/inference");
        assert!(endpoint("ftp://10.0.0.5/").unwrap_err().contains("not http"));
        assert!(endpoint("10.0.0.5:8000").is_err());
        for ip in ["127.0.0.1", "10.1.2.3", "172.16.0.9", "192.168.1.20", "169.254.3.4", "::1", "fd12::5", "fe80::1", "::ffff:192.168.0.1"]
        {
            assert!(on_site(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "203.0.113.5", "172.32.0.1", "2001:db8::1", "::ffff:8.8.8.8"] {
            assert!(!on_site(ip.parse().unwrap()), "{ip}");
        }
        // Refused before anything is sent, with what to do.
        let p = RemoteParams { url: "http://203.0.113.5:8000".into(), ..RemoteParams::default() };
        match RemoteEngine::new(p.clone()) {
            Err(TranscribeError::Remote { message, can_fall_back, .. }) => {
                assert!(message.contains("outside the site") && message.contains("server_outside_site"), "{message}");
                assert!(!can_fall_back);
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert!(RemoteEngine::new(RemoteParams { outside_site: true, ..p }).is_ok());
        assert!(RemoteEngine::new(RemoteParams { url: "http://localhost:1".into(), ..RemoteParams::default() }).is_ok());
    }

    #[test]
    fn answers_with_and_without_word_times() {
        let len = 16_000 * 10;
        // OpenAI: words at the top level, language by name.
        let a = parse_answer(
            &json!({"language": "korean", "text": "이백 암페어. 좋아요", "segments": [
                {"start": 0.5, "end": 2.0, "text": " 이백 암페어.", "avg_logprob": -0.1, "no_speech_prob": 0.01},
                {"start": 3.0, "end": 4.0, "text": " 좋아요"}],
              "words": [{"word": "이백", "start": 0.5, "end": 1.0}, {"word": "암페어", "start": 1.0, "end": 2.0},
                        {"word": "좋아요", "start": 3.0, "end": 4.0}]}),
            len,
            "auto",
        )
        .unwrap();
        assert_eq!(a.language, "ko");
        assert!(a.server_word_times);
        assert_eq!(a.segments.len(), 2);
        assert_eq!(
            a.segments[0].words.iter().map(|w| (w.text.as_str(), w.start, w.end)).collect::<Vec<_>>(),
            [("이백", 8_000, 16_000), ("암페어", 16_000, 32_000)]
        );
        assert!((a.segments[0].words[0].probability - (-0.1f32).exp()).abs() < 1e-6);
        // Segment times only: words spread by length, inside the segment;
        // times past the chunk are clipped to it.
        let b = parse_answer(
            &json!({"language": "en", "segments": [{"start": 1.0, "end": 3.0, "text": " Keyhole in root", "avg_logprob": -0.3},
                                                  {"start": 9.0, "end": 12.0, "text": " [BLANK_AUDIO]"},
                                                  {"start": 9.0, "end": 12.0, "text": " stop"}]}),
            len,
            "en",
        )
        .unwrap();
        assert!(!b.server_word_times);
        let w = &b.segments[0].words;
        assert_eq!(w.iter().map(|w| w.text.as_str()).collect::<Vec<_>>(), ["Keyhole", "in", "root"]);
        assert_eq!((w[0].start, w[2].end), (16_000, 48_000));
        assert!(w[0].end - w[0].start > w[1].end - w[1].start, "longer words take longer");
        assert_eq!(b.segments.len(), 2, "annotations dropped");
        assert_eq!(b.segments[1].words[0].end, len);
        // Plain json: one segment over the chunk; rubbish is an error.
        let c = parse_answer(&json!({"text": "hello there"}), len, "en").unwrap();
        assert_eq!((c.segments[0].words[0].start, c.segments[0].words[1].end), (0, len));
        assert!(parse_answer(&json!({"ok": true}), len, "en").unwrap_err().contains("neither"));
    }

    #[test]
    fn multipart_body_carries_fields_and_audio() {
        let wav = wav_bytes(&[0.0, 0.5, -1.0]);
        assert_eq!(&wav[..4], b"RIFF");
        assert_eq!(wav.len(), 44 + 6);
        let body = multipart("B", &[("model", "base"), ("language", "ko")], &wav);
        let text = String::from_utf8_lossy(&body);
        assert!(text.starts_with("--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nbase\r\n--B\r\n"));
        assert!(text.contains("name=\"file\"; filename=\"chunk.wav\""));
        assert!(text.ends_with("\r\n--B--\r\n"));
        assert_eq!(error_message(r#"{"error": {"message": "unknown model"}}"#), "unknown model");
        assert_eq!(error_message(r#"{"detail": {"error": {"message": "bad format"}}}"#), "bad format");
    }
}
