//! The library's `models/` folder: ggml files with a JSON sidecar saying
//! where each came from.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::TranscribeError;

/// What `tacit model list` shows.
#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    /// `tiny.en`, `base`, …
    pub name: String,
    /// The ggml file.
    pub path: PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// `en` or `multilingual`.
    pub languages: String,
    /// Layers (encoder, decoder) and width.
    pub layers: (u32, u32),
    /// Model width.
    pub width: u32,
    /// Where it came from (sidecar), if known.
    pub source: Option<String>,
}

/// The sidecar `<file>.json` written beside an imported or fetched model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sidecar {
    /// Where the model came from (a folder, a package, a URL).
    pub source: String,
    /// SHA-256 of the ggml file.
    pub sha256: String,
    /// RFC 3339 UTC.
    pub created_at_utc: String,
}

/// Header fields of a ggml Whisper file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Vocabulary size.
    pub n_vocab: u32,
    /// Width.
    pub n_audio_state: u32,
    /// Encoder layers.
    pub n_audio_layer: u32,
    /// Decoder layers.
    pub n_text_layer: u32,
}

/// Reads the header of a ggml file.
pub fn read_header(path: &Path) -> Result<Header, TranscribeError> {
    let mut f = std::fs::File::open(path).map_err(|e| TranscribeError::io("open", path, e))?;
    let mut b = [0u8; 48];
    f.read_exact(&mut b).map_err(|_| TranscribeError::model("too short to be a ggml model", path))?;
    let u = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    if u(0) != 0x6767_6d6c {
        return Err(TranscribeError::model("not a ggml Whisper model (bad magic)", path));
    }
    Ok(Header { n_vocab: u(4), n_audio_state: u(12), n_audio_layer: u(20), n_text_layer: u(36) })
}

/// Whisper's size names by width.
pub fn size_name(width: u32, multilingual: bool) -> String {
    let base = match width {
        384 => "tiny",
        512 => "base",
        768 => "small",
        1024 => "medium",
        1280 => "large",
        _ => "custom",
    };
    if multilingual {
        base.to_string()
    } else {
        format!("{base}.en")
    }
}

/// `ggml-<name>.bin` → `<name>`; a CTranslate2 folder → its name.
pub fn name_of(path: &Path) -> String {
    if path.is_dir() {
        return path.file_name().and_then(|s| s.to_str()).unwrap_or("model").to_string();
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    stem.strip_prefix("ggml-").unwrap_or(stem).to_string()
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, TranscribeError> {
    digest_file::<Sha256>(path)
}

/// A file's digest with any RustCrypto hash, hex.
pub fn digest_file<D: Digest>(path: &Path) -> Result<String, TranscribeError> {
    let mut f = std::fs::File::open(path).map_err(|e| TranscribeError::io("open", path, e))?;
    let mut h = D::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| TranscribeError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Bytes as lowercase hex: the one in the session layer.
pub use tacit_session::store::hex;

/// Sidecar path of a model file.
pub fn sidecar_path(model: &Path) -> PathBuf {
    model.with_extension("json")
}

/// Writes the sidecar.
pub fn write_sidecar(model: &Path, source: &str) -> Result<Sidecar, TranscribeError> {
    let car = Sidecar {
        source: source.to_string(),
        sha256: sha256_file(model)?,
        created_at_utc: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    };
    let path = sidecar_path(model);
    let text = serde_json::to_string_pretty(&car).unwrap_or_default();
    tacit_session::write_atomic(&path, text.as_bytes())?;
    Ok(car)
}

/// Every `*.bin` ggml model in a folder.
pub fn list(dir: &Path) -> Result<Vec<ModelInfo>, TranscribeError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(TranscribeError::io("list", dir, e)),
    };
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "bin")).collect();
    paths.sort();
    for path in paths {
        let Ok(h) = read_header(&path) else { continue };
        let multilingual = h.n_vocab >= 51_865;
        let source =
            std::fs::read_to_string(sidecar_path(&path)).ok().and_then(|t| serde_json::from_str::<Sidecar>(&t).ok()).map(|s| s.source);
        out.push(ModelInfo {
            name: name_of(&path),
            bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
            path,
            languages: if multilingual { "multilingual".into() } else { "en".into() },
            layers: (h.n_audio_layer, h.n_text_layer),
            width: h.n_audio_state,
            source,
        });
    }
    Ok(out)
}

/// True for a CTranslate2 model folder (`config.json` and `model.bin` or its parts).
pub fn is_ct2_folder(p: &Path) -> bool {
    p.join("config.json").is_file() && (p.join("model.bin").is_file() || p.join("model.bin.part1").is_file())
}

/// A model by file path, CTranslate2 folder, or by name in `dir`; with no spec, the only model
/// there (or the English tiny one for `en`, a multilingual one otherwise).
pub fn resolve(dir: &Path, spec: Option<&str>, language: &str) -> Result<PathBuf, TranscribeError> {
    if let Some(s) = spec {
        let p = PathBuf::from(s);
        // A ggml file (whisper.cpp), or a CTranslate2 folder (the CTranslate2 engine).
        if p.is_file() || is_ct2_folder(&p) {
            return Ok(p);
        }
        let named = dir.join(format!("ggml-{s}.bin"));
        if named.is_file() {
            return Ok(named);
        }
        if is_ct2_folder(&dir.join(s)) {
            return Ok(dir.join(s));
        }
        return Err(TranscribeError::model(
            format!("no model {s:?} (give a ggml file, a CTranslate2 folder, or a name from `tacit model list`)"),
            dir,
        ));
    }
    let models = list(dir)?;
    // Any model fits English; other languages need a multilingual one, and
    // `auto` takes an English-only model only when nothing else is there.
    let multilingual_exists = models.iter().any(|m| m.languages == "multilingual");
    let fits = |m: &&ModelInfo| language == "en" || m.languages == "multilingual" || (language == "auto" && !multilingual_exists);
    let pick = models.iter().filter(fits).min_by_key(|m| (m.languages == "en" && language != "en", m.bytes));
    pick.map(|m| m.path.clone()).ok_or_else(|| {
        TranscribeError::model(
            format!("no model for language {language:?}: import one with `tacit model import CT2_DIR` (a multilingual model for Korean) or fetch one with `tacit model fetch base`"),
            dir,
        )
    })
}
