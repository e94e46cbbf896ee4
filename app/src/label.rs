//! `tacit label …`: labels for scripts and integrators (the desktop app edits
//! the same `annotations.json` through the same `tacit_session::labels` calls).

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use tacit_schema::labels::{Change, LabelSegment, ReviewStatus};
use tacit_session::import::{self, ImportOptions, LabelFile};
use tacit_session::{labels, SessionDir};

use crate::LibraryArg;

#[derive(clap::Subcommand)]
pub enum LabelCommand {
    /// Add a label: a span (--from, --to) or a point (--at).
    Add {
        /// Session folder or id.
        session: String,
        /// step, defect, quality, note, or a tier the station profile declares.
        #[arg(long)]
        tier: String,
        /// A value from the tier's vocabulary (free text on note).
        #[arg(long)]
        value: String,
        /// Start, seconds of session time.
        #[arg(long, conflicts_with = "at")]
        from: Option<f64>,
        /// End, seconds of session time.
        #[arg(long, requires = "from")]
        to: Option<f64>,
        /// A point label at this time, seconds.
        #[arg(long)]
        at: Option<f64>,
        /// Who labels (default: $USER).
        #[arg(long)]
        author: Option<String>,
        /// draft, reviewed or rejected.
        #[arg(long, default_value = "draft")]
        status: String,
        #[command(flatten)]
        library: LibraryArg,
    },
    /// List a session's labels.
    List {
        /// Session folder or id.
        session: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        library: LibraryArg,
    },
    /// Import labels from CSV (columns tier,value,start_s,end_s[,author][,status]
    /// with a header row) or from an ELAN .eaf file (tiers named like this
    /// station's tiers; others are skipped). All labels or none.
    Import {
        /// Session folder or id.
        session: String,
        /// The CSV or .eaf file.
        file: std::path::PathBuf,
        /// Author for rows without one (default: the ELAN tier's annotator, else $USER).
        #[arg(long)]
        author: Option<String>,
        /// ELAN only: seconds to add to the file's times (ELAN's 0 is the start
        /// of the media it was made on; 0 when that is the session's audio or video).
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        offset: f64,
        #[command(flatten)]
        library: LibraryArg,
    },
    /// Remove a label by id.
    Delete {
        /// Session folder or id.
        session: String,
        /// Label id (from `tacit label list`).
        id: String,
        /// Who removes it (default: $USER).
        #[arg(long)]
        author: Option<String>,
        #[command(flatten)]
        library: LibraryArg,
    },
    /// Mark a session reviewed by a trainer (the `reviewed` flag that
    /// `tacit export --where status=reviewed` selects on), or clear it with --undo.
    Review {
        /// Session folder or id.
        session: String,
        /// Clear the flag instead.
        #[arg(long)]
        undo: bool,
        #[command(flatten)]
        library: LibraryArg,
    },
    /// Rebuild annotations.json from annotations.log.jsonl.
    Rebuild {
        /// Session folder or id.
        session: String,
        #[command(flatten)]
        library: LibraryArg,
    },
}

/// The session, refused if it is still recording or was interrupted
/// (labels are for finished sessions).
fn finished(library: &LibraryArg, session: &str) -> Result<SessionDir> {
    let s = library.open()?.open(session)?;
    s.require_finished()?;
    Ok(s)
}

fn seconds_to_ns(s: f64, what: &str) -> Result<i64> {
    import::seconds_to_ns(s, what).map_err(anyhow::Error::msg)
}

pub fn run(cmd: LabelCommand) -> Result<ExitCode> {
    match cmd {
        LabelCommand::Add { session, tier, value, from, to, at, author, status, library } => {
            let session = finished(&library, &session)?;
            let (dir, profile) = (session.path().to_path_buf(), session.profile()?);
            profile.labels.check(&tier, &value)?;
            let Some(status) = ReviewStatus::parse(&status) else { bail!("--status must be draft, reviewed or rejected (got {status:?})") };
            let (start_ns, end_ns) = match (from, to, at) {
                (_, _, Some(t)) => {
                    let t = seconds_to_ns(t, "--at")?;
                    (t, t)
                }
                (Some(f), Some(t), None) => (seconds_to_ns(f, "--from")?, seconds_to_ns(t, "--to")?),
                (Some(f), None, None) => {
                    let t = seconds_to_ns(f, "--from")?;
                    (t, t)
                }
                _ => bail!("give --from S --to S for a span, or --at S for a point"),
            };
            let draft = LabelSegment {
                status,
                ..LabelSegment::draft(String::new(), &tier, &value, (start_ns, end_ns), &labels::author(author), &labels::now_utc())
            };
            let ids = labels::add(&dir, vec![draft])?;
            println!("{} {} {:?} {:.3}–{:.3} s", ids.join(" "), tier, value, start_ns as f64 / 1e9, end_ns as f64 / 1e9);
            Ok(ExitCode::SUCCESS)
        }
        LabelCommand::List { session, json, library } => {
            let dir = library.open()?.resolve(&session)?;
            let state = labels::load(&dir)?;
            if json {
                crate::out::json(&state.labels)?;
            } else if state.labels.is_empty() {
                println!("No labels yet — add one with `tacit label add {session} --tier step --value … --from S --to S`.");
            } else {
                println!("{:<7} {:<10} {:>9} {:>9} {:<9} {:<10} value", "id", "tier", "from s", "to s", "status", "author");
                for l in &state.labels {
                    println!(
                        "{:<7} {:<10} {:>9.3} {:>9.3} {:<9} {:<10} {}",
                        l.id,
                        l.tier,
                        l.start_ns as f64 / 1e9,
                        l.end_ns as f64 / 1e9,
                        l.status.as_str(),
                        l.author,
                        l.value
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        LabelCommand::Import { session, file, author, offset, library } => {
            let session = finished(&library, &session)?;
            let (dir, profile) = (session.path().to_path_buf(), session.profile()?);
            let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let opts = ImportOptions {
                vocab: &profile.labels,
                fallback_author: labels::author(author.clone()),
                author,
                offset_s: offset,
                at_utc: labels::now_utc(),
            };
            let got = import::labels_from(&file, &text, &opts)?;
            for (tier, n) in &got.skipped_tiers {
                eprintln!(
                    "skipped ELAN tier {tier:?} ({n} annotations): not a tier of this station ({})",
                    profile.labels.tier_names().join(", ")
                );
            }
            let n = labels::add(&dir, got.labels)?.len();
            let from = if LabelFile::detect(&file, &text) == LabelFile::Elan { " from ELAN" } else { "" };
            println!("imported {n} labels{from} into {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        LabelCommand::Delete { session, id, author, library } => {
            let dir = finished(&library, &session)?.path().to_path_buf();
            labels::commit(&dir, &[Change::Delete { id: id.clone(), author: labels::author(author), at_utc: labels::now_utc() }])?;
            println!("deleted {id}");
            Ok(ExitCode::SUCCESS)
        }
        LabelCommand::Review { session, undo, library } => {
            let dir = library.open()?.resolve(&session)?;
            let m = tacit_session::set_reviewed(&dir, !undo)?;
            println!("{}: {}", m.id, if undo { "no longer marked reviewed" } else { "marked reviewed" });
            Ok(ExitCode::SUCCESS)
        }
        LabelCommand::Rebuild { session, library } => {
            let dir = finished(&library, &session)?.path().to_path_buf();
            let state = labels::rebuild(&dir)?;
            println!("rebuilt {} labels from {}", state.labels.len(), tacit_session::layout::ANNOTATIONS_LOG);
            Ok(ExitCode::SUCCESS)
        }
    }
}
