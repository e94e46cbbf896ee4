//! `tacit model fetch`: downloads a published ggml Whisper model (the files
//! whisper.cpp publishes on Hugging Face, or the same names on a mirror
//! inside the factory), checks its SHA-1 against whisper.cpp's published
//! table, and installs it in the library's `models/` folder.
//!
//! The download goes to `ggml-<name>.bin.part` and is renamed only after the
//! length, the checksum and the ggml header check out, so a failed or
//! interrupted fetch never leaves a model that `tacit model list` would show.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha1::{Digest, Sha1};
use tacit_schema::progress::Progress;

use crate::error::TranscribeError;
use crate::models;

/// Where whisper.cpp publishes its ggml models.
pub const DEFAULT_MIRROR: &str = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main";

/// A model whisper.cpp publishes, with the SHA-1 from its `models/README.md`.
#[derive(Clone, Copy, Debug)]
pub struct Published {
    /// `tiny.en`, `base`, …
    pub name: &'static str,
    /// Rough size for the listing, MiB.
    pub mib: u32,
    /// SHA-1 of `ggml-<name>.bin`, hex.
    pub sha1: &'static str,
}

/// The models `tacit model fetch` knows, smallest first.
pub const PUBLISHED: &[Published] = &[
    Published { name: "tiny", mib: 75, sha1: "bd577a113a864445d4c299885e0cb97d4ba92b5f" },
    Published { name: "tiny.en", mib: 75, sha1: "c78c86eb1a8faa21b369bcd33207cc90d64ae9df" },
    Published { name: "base", mib: 142, sha1: "465707469ff3a37a2b9b8d8f89f2f99de7299dac" },
    Published { name: "base.en", mib: 142, sha1: "137c40403d78fd54d454da0f9bd998f78703390c" },
    Published { name: "small", mib: 466, sha1: "55356645c2b361a969dfd0ef2c5a50d530afd8d5" },
    Published { name: "small.en", mib: 466, sha1: "db8a495a91d927739e50b3fc1cc4c6b8f6c2d022" },
    Published { name: "medium", mib: 1536, sha1: "fd9727b6e1217c2f614f9b698455c4ffd82463b4" },
    Published { name: "medium.en", mib: 1536, sha1: "8c30f0e44ce9560643ebd10bbe50cd20eafd3723" },
    Published { name: "large-v1", mib: 2970, sha1: "b1caaf735c4cc1429223d5a74f0f4d0b9b59a299" },
    Published { name: "large-v2", mib: 2970, sha1: "0f4c8e34f21cf1a914c59d8b3ce882345ad349d6" },
    Published { name: "large-v2-q5_0", mib: 1080, sha1: "00e39f2196344e901b3a2bd5814807a769bd1630" },
    Published { name: "large-v3", mib: 2970, sha1: "ad82bf6a9043ceed055076d0fd39f5f186ff8062" },
    Published { name: "large-v3-q5_0", mib: 1080, sha1: "e6e2ed78495d403bef4b7cff42ef4aaadcfea8de" },
];

/// What to fetch and from where.
#[derive(Clone, Debug)]
pub struct FetchRequest {
    /// Model name (`tiny.en`, `base`, …).
    pub name: String,
    /// Base URL; the file is `<mirror>/ggml-<name>.bin`.
    pub mirror: String,
    /// Expected SHA-1 instead of the published one (a mirror that serves
    /// other files, or a model not in [`PUBLISHED`]).
    pub sha1: Option<String>,
    /// The `models/` folder to install into.
    pub dir: PathBuf,
    /// Replace a model of the same name that is already installed.
    pub force: bool,
}

/// What a fetch did.
#[derive(Clone, Debug)]
pub struct FetchReport {
    /// The installed file.
    pub path: PathBuf,
    /// Bytes downloaded (0 when it was already installed).
    pub downloaded: u64,
    /// SHA-1 checked, hex.
    pub sha1: String,
    /// The file was already installed and nothing was downloaded.
    pub already_installed: bool,
}

fn net(message: impl Into<String>) -> TranscribeError {
    TranscribeError::Network(message.into())
}

/// Known names, for messages.
pub fn known_names() -> String {
    PUBLISHED.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// SHA-1 of a file, hex.
pub fn sha1_file(path: &Path) -> Result<String, TranscribeError> {
    models::digest_file::<Sha1>(path)
}

/// Downloads, verifies and installs a model. Progress counts bytes.
pub fn fetch(req: &FetchRequest, progress: &dyn Progress) -> Result<FetchReport, TranscribeError> {
    if !valid_name(&req.name) {
        return Err(net(format!("{:?} is not a model name (letters, digits, '.', '-', '_'); known: {}", req.name, known_names())));
    }
    let expected = match (&req.sha1, PUBLISHED.iter().find(|p| p.name == req.name)) {
        (Some(s), _) => {
            let s = s.trim().to_ascii_lowercase();
            if s.len() != 40 || !s.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(net(format!("--sha1 must be 40 hex digits (got {s:?})")));
            }
            s
        }
        (None, Some(p)) => p.sha1.to_string(),
        (None, None) => {
            return Err(net(format!(
                "no published checksum for {:?}: known models are {}; for another file on your mirror give its --sha1",
                req.name,
                known_names()
            )))
        }
    };
    let file = format!("ggml-{}.bin", req.name);
    let dest = req.dir.join(&file);
    if dest.is_file() && !req.force {
        let have = sha1_file(&dest)?;
        if have == expected {
            return Ok(FetchReport { path: dest, downloaded: 0, sha1: have, already_installed: true });
        }
        return Err(TranscribeError::model(
            format!("a different {file} is already installed (SHA-1 {have}, the download would be {expected}); pass --force to replace it"),
            &dest,
        ));
    }
    std::fs::create_dir_all(&req.dir).map_err(|e| TranscribeError::io("create", &req.dir, e))?;
    let url = format!("{}/{file}", req.mirror.trim_end_matches('/'));
    let part = req.dir.join(format!("{file}.part"));
    let result = download(&url, &part, &expected, progress);
    let downloaded = match result {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
    };
    if let Err(e) = models::read_header(&part) {
        let _ = std::fs::remove_file(&part);
        return Err(net(format!("{url} is not a ggml Whisper model ({e}); nothing was installed")));
    }
    std::fs::rename(&part, &dest).map_err(|e| TranscribeError::io("rename into place", &dest, e))?;
    models::write_sidecar(&dest, &url)?;
    Ok(FetchReport { path: dest, downloaded, sha1: expected, already_installed: false })
}

fn download(url: &str, part: &Path, expected_sha1: &str, progress: &dyn Progress) -> Result<u64, TranscribeError> {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(15))
        .timeout_read(Duration::from_secs(60))
        .try_proxy_from_env(true)
        .user_agent(concat!("tacit/", env!("CARGO_PKG_VERSION")))
        .build();
    let response = match agent.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(code, r)) => {
            return Err(net(format!(
                "{url} answered {code} {}: the server does not have this model (check the name, or --mirror)",
                r.status_text()
            )))
        }
        Err(ureq::Error::Transport(t)) => {
            return Err(net(format!(
                "cannot download {url}: {t}. This machine looks offline or the server is blocked. \
                 Copy a ggml model file into {} from another machine, point --mirror (or TACIT_MODEL_MIRROR) at a server \
                 inside the factory, or convert a CTranslate2 model with `tacit model import CT2_DIR`",
                part.parent().unwrap_or(Path::new(".")).display()
            )))
        }
    };
    let total: Option<u64> = response.header("Content-Length").and_then(|v| v.trim().parse().ok());
    progress.start("downloading", total.unwrap_or(0));
    let mut reader = response.into_reader();
    let mut out = std::fs::File::create(part).map_err(|e| TranscribeError::io("create", part, e))?;
    let mut hasher = Sha1::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut got = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                progress.finish();
                let of = total.map(|t| format!(" of {t}")).unwrap_or_default();
                return Err(net(format!(
                    "the download of {url} broke off after {got}{of} bytes ({e}); nothing was installed, run the command again"
                )));
            }
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| TranscribeError::io("write", part, e))?;
        got += n as u64;
        progress.advance(n as u64);
    }
    progress.finish();
    if let Some(t) = total {
        if got != t {
            return Err(net(format!(
                "the download of {url} broke off after {got} of {t} bytes; nothing was installed, run the command again"
            )));
        }
    }
    out.sync_all().map_err(|e| TranscribeError::io("sync", part, e))?;
    let have = models::hex(&hasher.finalize());
    if have != expected_sha1 {
        return Err(net(format!(
            "{url} has SHA-1 {have}, not the published {expected_sha1}: the server sent a different or damaged file; nothing was installed"
        )));
    }
    Ok(got)
}
