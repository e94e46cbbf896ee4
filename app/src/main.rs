//! `tacit`: the command line and the desktop app (`tacit app`) over the
//! library crates. Each command is a few lines of glue; the work is in the
//! libraries.

mod audio_out;
mod bench;
mod bench_delta;
mod bench_export;
mod bench_push;
mod bench_review;
mod bench_review_store;
mod bench_transcribe;
mod demo;
mod export;
mod gui;
mod label;
mod out;
mod progress;
mod push;
mod record;
mod review;
mod sessions;
mod transcribe;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

/// The demo station profile that `tacit init` writes and `tacit demo` records.
pub const DEMO_PROFILE: &str = include_str!("demo.toml");

#[derive(Parser)]
#[command(name = "tacit", version, about = "Capture skilled workers' know-how as labeled, synchronized datasets")]
struct Cli {
    /// Without a command: the desktop app when a display is available.
    #[command(subcommand)]
    command: Option<Command>,
    /// No progress or notes on stderr (results, warnings and errors still print).
    #[arg(long, short, global = true)]
    quiet: bool,
}

#[derive(clap::Args, Clone, Default)]
struct LibraryArg {
    /// Library folder (default: $TACIT_LIBRARY, else the user data folder),
    /// or the site store, s3://bucket/prefix: its sessions are read with
    /// ranged reads through a bounded local cache ($TACIT_CACHE_DIR,
    /// $TACIT_CACHE_MB, default 2048).
    #[arg(long, env = "TACIT_LIBRARY")]
    library: Option<PathBuf>,
    #[command(flatten)]
    store: push::StoreArgs,
}

impl LibraryArg {
    /// The library folder (a store URL as given).
    fn path(&self) -> PathBuf {
        self.library.clone().unwrap_or_else(default_library)
    }

    /// The store URL when `--library` names the site store.
    fn store_url(&self) -> Option<String> {
        self.library.as_ref().and_then(|p| p.to_str()).filter(|s| tacit_session::store::StoreUrl::is_store(s)).map(str::to_string)
    }

    /// The library: a folder, or the site store connected.
    fn open(&self) -> Result<Lib> {
        let Some(url) = self.store_url() else { return Ok(Lib::Folder(tacit_session::Library::at(self.path()))) };
        Ok(Lib::Store(tacit_session::store::StoreLibrary::connect(&url, &self.store.options(None))?))
    }

    /// A library folder for what only a local library holds (models,
    /// station profiles): the given folder, or for a store the default one.
    fn local_path(&self) -> PathBuf {
        if self.store_url().is_some() {
            return std::env::var_os("TACIT_LOCAL_LIBRARY").map(PathBuf::from).unwrap_or_else(default_library);
        }
        self.path()
    }

    /// Refuses the site store for a command that works on a station's own folder.
    fn require_folder(&self, command: &str) -> Result<PathBuf> {
        if let Some(url) = self.store_url() {
            anyhow::bail!("`tacit {command}` works on a station's own library folder, not on the site store ({url})");
        }
        Ok(self.path())
    }
}

/// `--library` of a command that writes a station's own folder (`record`):
/// a folder only, and no store options (`--profile` is the station's there).
#[derive(clap::Args, Clone, Default)]
struct FolderArg {
    /// Library folder (default: $TACIT_LIBRARY, else the user data folder).
    #[arg(long, env = "TACIT_LIBRARY")]
    library: Option<PathBuf>,
}

impl FolderArg {
    fn path(&self) -> PathBuf {
        self.library.clone().unwrap_or_else(default_library)
    }
}

/// A library opened: a folder, or the site store (sessions checked out
/// into the local cache on the way).
enum Lib {
    Folder(tacit_session::Library),
    Store(tacit_session::store::StoreLibrary),
}

impl Lib {
    /// The session folder of `session` (a folder, an id, or for the store an id or its start).
    fn resolve(&self, session: &str) -> Result<PathBuf> {
        Ok(match self {
            Self::Folder(l) => l.resolve(session)?,
            Self::Store(s) => s.open(session)?,
        })
    }

    /// The session, opened.
    fn open(&self, session: &str) -> Result<tacit_session::SessionDir> {
        Ok(tacit_session::SessionDir::open(&self.resolve(session)?)?)
    }

    /// The sessions named (all when none is) that pass `filter`.
    fn select(&self, sessions: &[String], filter: &tacit_session::SessionFilter) -> Result<Vec<PathBuf>> {
        Ok(match self {
            Self::Folder(l) => l.select(sessions, filter)?,
            Self::Store(s) => s.select(sessions, filter)?,
        })
    }

    /// Where it is, for messages.
    fn name(&self) -> String {
        match self {
            Self::Folder(l) => l.root().display().to_string(),
            Self::Store(s) => s.store().url().to_string(),
        }
    }
}

fn default_library() -> PathBuf {
    dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("tacit")
}

#[derive(Subcommand)]
enum Command {
    /// Create a library with a commented demo station profile.
    Init {
        #[command(flatten)]
        library: LibraryArg,
        /// Overwrite an existing stations/demo.toml.
        #[arg(long)]
        force: bool,
    },
    /// List cameras, audio inputs and serial ports.
    Devices {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Record a session from a station profile.
    Record(record::RecordArgs),
    /// List the sessions in a library.
    Sessions {
        #[command(flatten)]
        library: LibraryArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show one session (a folder path or an id in the library), or a dataset folder.
    Inspect {
        /// Session folder or id, or a dataset (LeRobot v3.0, tacit tables,
        /// or Delta tables in a folder or at s3://bucket/prefix).
        session: String,
        #[command(flatten)]
        library: LibraryArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Make an interrupted session readable again.
    Recover {
        /// Session folder or id.
        session: String,
        #[command(flatten)]
        library: LibraryArg,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Record a short session from the demo station (no hardware needed),
    /// with spoken commentary when espeak-ng is installed, and transcribe it
    /// when a model is in the library.
    Demo {
        #[command(flatten)]
        library: LibraryArg,
        /// Seconds to record (default: the commentary's length, or 10).
        #[arg(long)]
        duration: Option<f64>,
    },
    /// Whisper models: import, list.
    Model {
        #[command(subcommand)]
        which: transcribe::ModelCommand,
    },
    /// Export sessions as a dataset (LeRobot v3.0).
    Export(export::ExportArgs),
    /// Check a dataset against its format's spec; every defect with file and row.
    Validate {
        /// The dataset folder (Delta tables: a folder or s3://bucket/prefix).
        dataset: PathBuf,
        #[command(flatten)]
        store: push::StoreArgs,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Labels (steps, defects, quality, notes) on a session's timeline.
    Label {
        #[command(subcommand)]
        which: label::LabelCommand,
    },
    /// Send the library's sessions to the site store (s3://bucket/prefix): resumable, verified, manifest last.
    Push(push::PushArgs),
    /// Transcribe a session's commentary with Whisper, on this PC or the site's server.
    Transcribe(transcribe::TranscribeArgs),
    /// Open the desktop app: Library, Record, Review, Export.
    App(gui::AppArgs),
    /// Play a session's commentary through the speakers (what Review plays).
    Play {
        /// Session folder or id.
        session: String,
        #[command(flatten)]
        library: LibraryArg,
        /// Start, seconds of session time.
        #[arg(long, default_value_t = 0.0)]
        from: f64,
        /// Seconds to play (default: to the end).
        #[arg(long)]
        seconds: Option<f64>,
        /// 0.25 to 4 (pitch changes with speed).
        #[arg(long, default_value_t = 1.0)]
        speed: f32,
        /// Output device: an ALSA PCM name or cpal id (default: $TACIT_AUDIO_OUT, else the system default).
        #[arg(long, env = "TACIT_AUDIO_OUT")]
        device: Option<String>,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        which: bench::BenchCommand,
    },
}

/// OpenMP's spin before a waiting worker thread sleeps. libgomp reads it
/// once, when it is loaded (before `main`), so tacit sets it and starts
/// itself again. A station PC is never idle: with another process busy on
/// one of the two cores, the English commentary took 4.6 s to transcribe
/// with libgomp's default, 3.1–3.3 s with `OMP_WAIT_POLICY=PASSIVE` and
/// 3.4–3.6 s with a spin of 1000; idle, 1.8–2.1 s default, 2.8 s passive,
/// 1.9 s with 1000 (docs/performance.md). A value the user set is kept.
const GOMP_SPINCOUNT: &str = "1000";

fn set_openmp_spin_and_restart() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("GOMP_SPINCOUNT").is_some() || std::env::var_os("OMP_WAIT_POLICY").is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // exec only returns on failure; then tacit runs on with libgomp's default.
    let err = std::process::Command::new(&exe).arg0(arg0).args(args).env("GOMP_SPINCOUNT", GOMP_SPINCOUNT).exec();
    tracing::debug!("could not restart with GOMP_SPINCOUNT set ({err}); using libgomp's default spin");
}

/// CTranslate2 uses Intel MKL only on genuine Intel CPUs unless
/// `CT2_USE_MKL` says otherwise, and tacit's build has no other matrix
/// backend: on an AMD CPU the CTranslate2 engine would refuse int8. MKL runs
/// on AMD's AVX2/AVX-512 too, so tacit asks for it unless the user chose.
fn use_mkl_on_every_cpu() {
    if std::env::var_os("CT2_USE_MKL").is_none() {
        // No other thread exists yet (first thing in main), so changing the
        // environment cannot race a reader.
        std::env::set_var("CT2_USE_MKL", "1");
    }
}

fn main() -> ExitCode {
    use_mkl_on_every_cpu();
    set_openmp_spin_and_restart();
    let filter = tracing_subscriber::EnvFilter::try_from_env("TACIT_LOG")
        // delta-rs logs what tacit does on purpose (no statistics for JPEG
        // bytes, a commit conflicting with another exporter's and redone);
        // its failures reach the user as tacit's own one-line errors.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,deltalake_core=off,buoyant_kernel=off,buoyant_kernel_engine=off"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::env::var_os("NO_COLOR").is_none()).init();
    let cli = Cli::parse();
    out::set_quiet(cli.quiet);
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let Some(command) = cli.command else {
        if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() {
            return gui::run(gui::AppArgs {
                library: None,
                open: None,
                lang: None,
                screenshot: None,
                settings: None,
                place: None,
                store: push::StoreArgs::default(),
            });
        }
        use clap::CommandFactory;
        Cli::command().print_help()?;
        crate::out::say!("\nNo display (DISPLAY/WAYLAND_DISPLAY unset): use a command above, or `xvfb-run tacit app`.");
        return Ok(ExitCode::from(2));
    };
    match command {
        Command::Init { library, force } => {
            let path = init_library(&library.path(), force)?;
            println!("Library ready. Demo station profile: {}", path.display());
            println!(
                "Record with: tacit record --library {} --profile {} --duration 10 --operator op-01 --task \"demo\"",
                library.path().display(),
                path.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Devices { json } => {
            let list = tacit_capture::devices::list();
            if json {
                crate::out::json(&list)?;
            } else {
                sessions::print_devices(&list);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Record(args) => record::run(args),
        Command::Sessions { library, json } => sessions::list(&library, json),
        Command::Inspect { session, library, json } => sessions::inspect(&library, &session, json),
        Command::Recover { session, library, json } => sessions::recover(&library.require_folder("recover")?, &session, json),
        Command::Demo { library, duration } => demo::run(&library.require_folder("demo")?, duration),
        Command::Model { which } => transcribe::model(which),
        Command::Transcribe(args) => transcribe::transcribe(args),
        Command::Label { which } => label::run(which),
        Command::Export(args) => export::run(args),
        Command::Push(args) => push::run(args),
        Command::Validate { dataset, store, json } => export::validate(&dataset, &store, json),
        Command::App(args) => gui::run(args),
        Command::Play { session, library, from, seconds, speed, device } => play(&library.open()?, &session, from, seconds, speed, device),
        Command::Bench { which } => bench::run(which),
    }
}

/// `tacit play`: the session's microphone WAV from `from` seconds.
fn play(lib: &Lib, session: &str, from: f64, seconds: Option<f64>, speed: f32, device: Option<String>) -> Result<ExitCode> {
    let dir = lib.resolve(session)?;
    let m = tacit_session::SessionDir::open(&dir).map(tacit_session::SessionDir::into_manifest)?;
    let Some(wav) =
        m.streams.iter().filter(|s| s.kind == tacit_schema::StreamKind::Audio).flat_map(|s| s.files.iter()).find(|f| f.ends_with(".wav"))
    else {
        anyhow::bail!("{} has no audio stream", m.id);
    };
    if !(0.25..=4.0).contains(&speed) || !from.is_finite() || from < 0.0 {
        anyhow::bail!("--speed takes 0.25–4 and --from a time ≥ 0 (got {speed}, {from})");
    }
    let left_s = (m.duration_ns as f64 / 1e9 - from).max(0.0) / f64::from(speed);
    let play_s = seconds.unwrap_or(left_s).min(left_s);
    let player = audio_out::play(&dir.join(wav), (from * 1e9) as i64, speed, device.as_deref()).map_err(anyhow::Error::msg)?;
    crate::out::say!("playing {} from {from:.1} s on {} ({play_s:.1} s)", m.id, player.device);
    std::thread::sleep(std::time::Duration::from_secs_f64(play_s + 0.2));
    drop(player);
    Ok(ExitCode::SUCCESS)
}

/// Creates the library folders and writes `stations/demo.toml` unless it exists.
pub(crate) fn init_library(root: &std::path::Path, force: bool) -> Result<PathBuf> {
    let lib = tacit_session::Library::create(root).with_context(|| format!("cannot create library {}", root.display()))?;
    let path = lib.stations_dir().join("demo.toml");
    if force || !path.exists() {
        std::fs::write(&path, DEMO_PROFILE).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }

    #[test]
    fn demo_profile_is_valid() {
        let p = tacit_schema::StationProfile::from_toml(super::DEMO_PROFILE).unwrap();
        assert_eq!(p.station.name, "demo");
        assert_eq!(p.markers.get("3").map(String::as_str), Some("spatter"));
    }
}
