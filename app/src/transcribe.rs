//! `tacit model …` and `tacit transcribe`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use serde_json::json;
use tacit_transcribe::engine::DecodeParams;
use tacit_transcribe::models;
use tacit_transcribe::remote::RemoteParams;
use tacit_transcribe::vad::VadParams;
use tacit_transcribe::TranscribeOptions;

use crate::progress::CliProgress;
use crate::LibraryArg;

#[derive(clap::Subcommand)]
pub enum ModelCommand {
    /// Convert a CTranslate2 (faster-whisper) Whisper model to ggml.
    Import {
        /// Folder with model.bin (or model.bin.part1, part2, …), tokenizer.json.
        ct2_dir: PathBuf,
        /// Output file (default: <library>/models/ggml-<size>[-q8_0].bin).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Weight type: f16 (lossless) or q8_0 (about half the size, faster, lossy).
        #[arg(long, default_value = "f16", value_parser = ["f16", "q8_0"])]
        weights: String,
        #[command(flatten)]
        library: LibraryArg,
    },
    /// Download a published ggml model (tiny, base, small, … and .en) and check its SHA-1.
    /// Without NAME, lists the models that can be fetched.
    Fetch {
        /// Model name, e.g. tiny.en or base (multilingual, for Korean).
        name: Option<String>,
        /// Where to download from: `<mirror>/ggml-<name>.bin`.
        #[arg(long, env = "TACIT_MODEL_MIRROR", default_value = tacit_transcribe::fetch::DEFAULT_MIRROR)]
        mirror: String,
        /// Expected SHA-1 instead of the published one (for other files on a mirror).
        #[arg(long)]
        sha1: Option<String>,
        /// Replace an installed model of the same name.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        library: LibraryArg,
    },
    /// List the models in the library.
    List {
        #[command(flatten)]
        library: LibraryArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// Arguments of `tacit transcribe`.
#[derive(clap::Args)]
pub struct TranscribeArgs {
    /// Session folder or id.
    pub session: String,
    #[command(flatten)]
    pub library: LibraryArg,
    /// Model name (from `tacit model list`), ggml file (whisper.cpp), or
    /// CTranslate2 folder as faster-whisper uses it (the CTranslate2 engine,
    /// in builds with the `ctranslate2` feature, as scripts/ build).
    #[arg(long)]
    pub model: Option<String>,
    /// Language: ko, en or auto (default: the station profile's).
    #[arg(long)]
    pub language: Option<String>,
    /// CPU threads.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Decode all audio, not only what the voice-activity detector finds.
    #[arg(long)]
    pub no_vad: bool,
    /// Audio stream to transcribe (default: the first).
    #[arg(long)]
    pub stream: Option<String>,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Who transcribes: `local` (this PC's model), `remote` (the site's
    /// server) or `auto` (the server when one is named, else local).
    #[arg(long, default_value = "auto", value_parser = ["auto", "local", "remote"])]
    pub engine: String,
    /// The site's OpenAI-compatible transcription server, e.g.
    /// http://asr.site.lan:8000 (default: `server` in the station profile).
    #[arg(long, env = "TACIT_TRANSCRIBE_URL")]
    pub url: Option<String>,
    /// The server's name for its model (default: `server_model` in the profile, else whisper-1).
    #[arg(long)]
    pub server_model: Option<String>,
    /// Further attempts after a failed request to the server.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Time limit of one request to the server, s.
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
    /// Fail instead of transcribing with the local model when the server cannot be used.
    #[arg(long)]
    pub no_fallback: bool,
    /// Beam search with N beams (the CTranslate2 engine; default greedy, 1).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub beam: u16,
    /// Keep numbers as Whisper wrote them (default: spoken numbers with a
    /// unit or counter become digits, "이백 암페어" → "200 A").
    #[arg(long)]
    pub spoken_numbers: bool,
}

fn models_dir(lib: &Path) -> PathBuf {
    lib.join("models")
}

pub fn model(cmd: ModelCommand) -> Result<ExitCode> {
    match cmd {
        ModelCommand::Import { ct2_dir, out, weights, library } => {
            let weights =
                if weights == "q8_0" { tacit_transcribe::import::WeightType::Q8_0 } else { tacit_transcribe::import::WeightType::F16 };
            let lib = library.path();
            let out = match out {
                Some(o) => o,
                None => {
                    // Name it after its size: read the model's shape first.
                    let model = tacit_transcribe::import::read_model(&ct2_dir)?;
                    let n_vocab = model.get("decoder/embeddings/weight").map(|v| v.dims[0]).unwrap_or(0);
                    let width = model.get("encoder/conv1/weight").map(|v| v.dims[0]).unwrap_or(0);
                    let dir = models_dir(&lib);
                    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
                    dir.join(format!("ggml-{}{}.bin", models::size_name(width as u32, n_vocab >= 51_865), weights.suffix()))
                }
            };
            crate::out::say!("converting {} → {}", ct2_dir.display(), out.display());
            let report = tacit_transcribe::import::import_as(&ct2_dir, &out, weights)?;
            if report.dequantized {
                eprintln!("warning: quantized weights were dequantized to f16; the result is lossy");
            }
            let car = models::write_sidecar(&out, &format!("imported from {}", ct2_dir.display()))?;
            println!(
                "{} ({} bytes, {} tensors, {} layers, {}) sha256 {}",
                out.display(),
                report.bytes,
                report.tensors,
                report.layers.0,
                if report.multilingual() { "multilingual" } else { "English only" },
                car.sha256
            );
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::Fetch { name, mirror, sha1, force, library } => {
            let Some(name) = name else {
                println!("{:<14} {:>9}  sha1 (published by whisper.cpp)", "name", "size");
                for p in tacit_transcribe::fetch::PUBLISHED {
                    println!("{:<14} {:>5} MiB  {}", p.name, p.mib, p.sha1);
                }
                println!("Models ending in .en are English only; the others are multilingual (Korean needs one of those).");
                return Ok(ExitCode::SUCCESS);
            };
            let req = tacit_transcribe::fetch::FetchRequest { name, mirror, sha1, dir: models_dir(&library.path()), force };
            let progress = CliProgress::new();
            let report = tacit_transcribe::fetch::fetch(&req, &progress)?;
            if report.already_installed {
                println!("{} is already installed (SHA-1 {} checks out)", report.path.display(), report.sha1);
            } else {
                println!("{} ({} bytes, SHA-1 {} checks out)", report.path.display(), report.downloaded, report.sha1);
            }
            Ok(ExitCode::SUCCESS)
        }
        ModelCommand::List { library, json } => {
            let list = models::list(&models_dir(&library.path()))?;
            if json {
                crate::out::json(&list)?;
            } else if list.is_empty() {
                println!("No models in {} — import one with `tacit model import CT2_DIR`.", models_dir(&library.path()).display());
            } else {
                println!("{:<12} {:>10} {:<13} {:<8} source", "name", "size (MB)", "languages", "layers");
                for m in list {
                    println!(
                        "{:<12} {:>10.1} {:<13} {:<8} {}",
                        m.name,
                        m.bytes as f64 / 1e6,
                        m.languages,
                        format!("{}+{}", m.layers.0, m.layers.1),
                        m.source.unwrap_or_default()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn transcribe(args: TranscribeArgs) -> Result<ExitCode> {
    let lib = args.library.local_path();
    let dir = args.library.open()?.resolve(&args.session)?;
    if let Some(l) = &args.language {
        if !(l == "auto" || (l.len() == 2 && l.chars().all(|c| c.is_ascii_lowercase()))) {
            bail!("--language must be a two-letter code such as ko or en, or auto (got {l:?})");
        }
    }
    // The model must fit the language that will be used: the flag, else the station's.
    let session = tacit_session::SessionDir::open(&dir)?;
    session.require_finished()?;
    let station = session.profile().map(|p| p.transcription).unwrap_or_default();
    let language_hint = args.language.clone().or(station.language.clone()).unwrap_or_else(|| "auto".into());
    let url = args.url.clone().filter(|u| !u.trim().is_empty()).or(station.server.clone());
    let remote = match (args.engine.as_str(), url) {
        ("local", _) => None,
        ("remote", None) => {
            bail!("--engine remote needs the server: give --url URL, or `server` under [transcription] in the station profile")
        }
        (_, Some(url)) => Some(RemoteParams {
            url,
            model: args.server_model.clone().or(station.server_model.clone()).unwrap_or_else(|| "whisper-1".into()),
            outside_site: station.server_outside_site,
            retries: args.retries,
            timeout_s: args.timeout,
            api_key: std::env::var("TACIT_TRANSCRIBE_API_KEY").ok().filter(|k| !k.is_empty()),
        }),
        (_, None) => None,
    };
    let model = match models::resolve(&models_dir(&lib), args.model.as_deref(), &language_hint) {
        Ok(m) => Some(m),
        // With a server, the local model is only the fallback.
        Err(e) if remote.is_some() => {
            if !args.no_fallback {
                eprintln!("note: no local model to fall back to if the server fails ({e})");
            }
            None
        }
        Err(e) => return Err(e.into()),
    };
    let mut decode = DecodeParams { numbers_as_digits: !args.spoken_numbers, beam_size: args.beam.into(), ..DecodeParams::default() };
    if let Some(t) = args.threads {
        decode.threads = t.max(1);
    }
    let opts = TranscribeOptions {
        model: model.clone(),
        remote,
        fallback: !args.no_fallback,
        stream: args.stream.clone(),
        language: args.language.clone(),
        decode,
        vad: (!args.no_vad).then(VadParams::default),
    };
    let progress = CliProgress::new();
    let summary =
        tacit_transcribe::transcribe_session(&dir, &opts, &progress).with_context(|| format!("cannot transcribe {}", dir.display()))?;
    if let Some(reason) = &summary.fell_back {
        eprintln!("warning: {reason}\n         transcribed with the local model {} instead", summary.engine);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "transcript": summary.path, "segments": summary.segments, "words": summary.words, "audio_s": summary.audio_s,
                "speech_s": summary.speech_s, "decode_s": summary.decode_s, "language": summary.language, "model": model,
                "engine": summary.engine, "fell_back": summary.fell_back,
            }))?
        );
    } else {
        println!(
            "{}: {} segments, {} words ({}) from {:.1} s of speech in {:.1} s of audio, decoded in {:.1} s by {}",
            summary.path.display(),
            summary.segments,
            summary.words,
            summary.language,
            summary.speech_s,
            summary.audio_s,
            summary.decode_s,
            summary.engine
        );
    }
    Ok(ExitCode::SUCCESS)
}
