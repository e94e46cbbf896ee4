//! `tacit label …`: labels for scripts and integrators (the desktop app edits
//! the same `annotations.json` through the same `tacit_session::labels` calls).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use tacit_schema::labels::{Change, LabelSegment, ReviewStatus};
use tacit_session::{labels, Library, SessionDir};

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

/// Sets or clears the session's `reviewed` flag (a locked manifest
/// update: a transcription finishing meanwhile keeps it); the CLI's
/// `tacit label review` and the app's Review screen both use it.
pub(crate) fn set_reviewed(dir: &Path, reviewed: bool) -> Result<tacit_schema::SessionManifest> {
    let mut session = tacit_session::SessionDir::open(dir)?;
    session.update_manifest(|m| m.reviewed = reviewed)?;
    Ok(session.into_manifest())
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn author_or_user(a: Option<String>) -> String {
    a.or_else(|| std::env::var("USER").ok()).filter(|s| !s.is_empty()).unwrap_or_else(|| "unknown".into())
}

/// The session, refused if it is still recording or was interrupted
/// (labels are for finished sessions).
fn finished(library: &LibraryArg, session: &str) -> Result<SessionDir> {
    let s = Library::at(library.path()).open(session)?;
    s.require_finished()?;
    Ok(s)
}

fn seconds_to_ns(s: f64, what: &str) -> Result<i64> {
    if !s.is_finite() || s < 0.0 {
        bail!("{what} must be a time in seconds ≥ 0 (got {s})");
    }
    Ok((s * 1e9).round() as i64)
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
            let state = labels::load(&dir)?;
            let t = now();
            let label = LabelSegment {
                status,
                ..LabelSegment::draft(labels::next_id(&dir, &state), &tier, &value, (start_ns, end_ns), &author_or_user(author), &t)
            };
            labels::commit(&dir, &[Change::Add { label: label.clone() }])?;
            println!("{} {} {:?} {:.3}–{:.3} s", label.id, label.tier, label.value, start_ns as f64 / 1e9, end_ns as f64 / 1e9);
            Ok(ExitCode::SUCCESS)
        }
        LabelCommand::List { session, json, library } => {
            let dir = Library::at(library.path()).resolve(&session)?;
            let state = labels::load(&dir)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&state.labels)?);
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
            let is_eaf = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("eaf")) || text.trim_start().starts_with('<');
            if is_eaf {
                return import_elan(&dir, &profile, &file, &text, author, offset);
            }
            let state = labels::load(&dir)?;
            let first_id = labels::next_number(&dir, &state);
            let default_author = author_or_user(author);
            let t = now();
            let mut changes = Vec::new();
            let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
            let Some((_, header)) = lines.next() else { bail!("{} is empty", file.display()) };
            let cols: Vec<String> = split_csv(header).iter().map(|c| c.trim().to_ascii_lowercase()).collect();
            let col = |name: &str| cols.iter().position(|c| c == name);
            let (Some(ti), Some(vi), Some(si)) = (col("tier"), col("value"), col("start_s")) else {
                bail!(
                    "{} line 1: the header must name tier, value, start_s (and end_s, author, status if given); got {header:?}",
                    file.display()
                )
            };
            let (ei, ai, sti) = (col("end_s"), col("author"), col("status"));
            let mut errors = Vec::new();
            for (i, line) in lines {
                let n = i + 1;
                let f = split_csv(line);
                let get = |k: Option<usize>| k.and_then(|k| f.get(k)).map(|s| s.trim().to_string()).unwrap_or_default();
                let (tier, value) = (get(Some(ti)), get(Some(vi)));
                let row = (|| -> Result<LabelSegment> {
                    profile.labels.check(&tier, &value)?;
                    let start: f64 = get(Some(si)).parse().with_context(|| format!("start_s {:?} is not a number", get(Some(si))))?;
                    let end_text = get(ei);
                    let end: f64 = if end_text.is_empty() {
                        start
                    } else {
                        end_text.parse().with_context(|| format!("end_s {end_text:?} is not a number"))?
                    };
                    let status_text = get(sti);
                    let status = if status_text.is_empty() {
                        ReviewStatus::Draft
                    } else {
                        ReviewStatus::parse(&status_text)
                            .with_context(|| format!("status {status_text:?} is not draft, reviewed or rejected"))?
                    };
                    let a = get(ai);
                    let span = (seconds_to_ns(start, "start_s")?, seconds_to_ns(end, "end_s")?);
                    let author = if a.is_empty() { default_author.as_str() } else { a.as_str() };
                    Ok(LabelSegment {
                        status,
                        ..LabelSegment::draft(labels::label_id(first_id + changes.len()), &tier, &value, span, author, &t)
                    })
                })();
                match row {
                    Ok(label) => changes.push(Change::Add { label }),
                    Err(e) => errors.push(format!("{} line {n}: {e:#}", file.display())),
                }
            }
            if !errors.is_empty() {
                bail!("nothing imported; fix these rows:\n  {}", errors.join("\n  "));
            }
            labels::commit(&dir, &changes)?;
            println!("imported {} labels into {}", changes.len(), dir.display());
            Ok(ExitCode::SUCCESS)
        }
        LabelCommand::Delete { session, id, author, library } => {
            let dir = finished(&library, &session)?.path().to_path_buf();
            labels::commit(&dir, &[Change::Delete { id: id.clone(), author: author_or_user(author), at_utc: now() }])?;
            println!("deleted {id}");
            Ok(ExitCode::SUCCESS)
        }
        LabelCommand::Review { session, undo, library } => {
            let dir = Library::at(library.path()).resolve(&session)?;
            let m = set_reviewed(&dir, !undo)?;
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

/// `tacit label import SESSION FILE.eaf`: every annotation on a tier this
/// station knows becomes a label (reference annotations take their parent's
/// times); other tiers are skipped and named; a value outside the vocabulary
/// stops the import with nothing written.
fn import_elan(
    dir: &std::path::Path,
    profile: &tacit_schema::StationProfile,
    file: &std::path::Path,
    text: &str,
    author: Option<String>,
    offset: f64,
) -> Result<ExitCode> {
    if !offset.is_finite() {
        bail!("--offset must be a number of seconds");
    }
    let annotations = tacit_datasets::elan::parse(text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let tiers = profile.labels.tier_names();
    let state = labels::load(dir)?;
    let first_id = labels::next_number(dir, &state);
    let fallback = author_or_user(author.clone());
    let t = now();
    let mut changes = Vec::new();
    let mut errors = Vec::new();
    let mut skipped: std::collections::BTreeMap<String, usize> = Default::default();
    for a in &annotations {
        if !tiers.contains(&a.tier) {
            *skipped.entry(a.tier.clone()).or_default() += 1;
            continue;
        }
        let row = (|| -> Result<LabelSegment> {
            profile.labels.check(&a.tier, &a.value)?;
            let ns = |ms: i64| seconds_to_ns(ms as f64 / 1e3 + offset, "time (with --offset)");
            let who = author.clone().or_else(|| a.annotator.clone()).unwrap_or_else(|| fallback.clone());
            Ok(LabelSegment::draft(
                labels::label_id(first_id + changes.len()),
                &a.tier,
                &a.value,
                (ns(a.start_ms)?, ns(a.end_ms)?),
                &who,
                &t,
            ))
        })();
        match row {
            Ok(label) => changes.push(Change::Add { label }),
            Err(e) => errors.push(format!("{} annotation {} (tier {}): {e:#}", file.display(), a.id, a.tier)),
        }
    }
    if !errors.is_empty() {
        bail!("nothing imported; fix these annotations:\n  {}", errors.join("\n  "));
    }
    for (tier, n) in &skipped {
        eprintln!("skipped ELAN tier {tier:?} ({n} annotations): not a tier of this station ({})", tiers.join(", "));
    }
    if changes.is_empty() {
        bail!("{} has no annotation on this station's tiers ({}); nothing imported", file.display(), tiers.join(", "));
    }
    labels::commit(dir, &changes)?;
    println!("imported {} labels from ELAN into {}", changes.len(), dir.display());
    Ok(ExitCode::SUCCESS)
}

/// Splits one CSV line (RFC 4180 quotes, `""` inside quotes).
fn split_csv(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}
