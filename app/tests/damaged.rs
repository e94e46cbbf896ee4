//! Damaged sessions never crash a reader (issue 15): every file of a
//! recorded session emptied, cut in half, bit-flipped, removed, duplicated
//! (a camera segment copied as the next one) or given a newer format
//! version, and each damaged session run through `sessions`, `inspect`,
//! `label list`, `export` (tables and LeRobot, then `validate` of what was
//! written), `transcribe` (the files it reads) and `recover` (on a copy).
//! No command panics; a command that fails names the damaged file; none but
//! `recover` changes a raw capture file, and `recover` changes only the
//! damaged one. `docs/reliability.md` lists the cases and outcomes.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{copy_dir, library_with, ok, tacit};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Damage {
    Empty,
    Half,
    Flip,
    Missing,
    Duplicate,
    NewerVersion,
}

const ALL: [Damage; 6] = [Damage::Empty, Damage::Half, Damage::Flip, Damage::Missing, Damage::Duplicate, Damage::NewerVersion];

/// Applies `damage` to `name` in `dir`; false when it does not apply to that file.
fn damage(dir: &Path, name: &str, damage: Damage) -> bool {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).unwrap();
    match damage {
        Damage::Empty => std::fs::write(&path, b"").unwrap(),
        Damage::Half => std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap(),
        Damage::Flip => {
            // Sixteen bytes spread over the file, each inverted.
            let mut b = bytes;
            let n = b.len();
            if n == 0 {
                return false;
            }
            for k in 1..=16 {
                b[n * k / 17] ^= 0xff;
            }
            std::fs::write(&path, b).unwrap();
        }
        Damage::Missing => std::fs::remove_file(&path).unwrap(),
        Damage::Duplicate => {
            let Some(next) = next_segment(name) else { return false };
            std::fs::write(dir.join(next), bytes).unwrap();
        }
        Damage::NewerVersion => {
            let text = String::from_utf8(bytes).unwrap_or_default();
            let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&text) else { return false };
            let Some(version) = v.get_mut("format_version") else { return false };
            *version = 99.into();
            std::fs::write(&path, serde_json::to_vec(&v).unwrap()).unwrap();
        }
    }
    true
}

/// `cam-0.0.arrows` → `cam-0.1.arrows`.
fn next_segment(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".arrows")?;
    let (base, k) = stem.rsplit_once('.')?;
    let k: u32 = k.parse().ok()?;
    Some(format!("{base}.{}.arrows", k + 1))
}

fn is_raw(name: &str) -> bool {
    name.ends_with(".arrows") || name.ends_with(".wav")
}

/// SHA-free fingerprint of the raw capture files: their bytes.
fn raw_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_raw(n))
        .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
        .collect()
}

struct Case<'a> {
    file: &'a str,
    damage: Damage,
    lib: &'a Path,
    session: &'a Path,
    id: &'a str,
}

/// What one command did with one damaged session.
#[derive(Default)]
struct Outcomes {
    /// Per command: runs, succeeded, failed naming the file.
    by_command: BTreeMap<String, [usize; 3]>,
    problems: Vec<String>,
}

impl Outcomes {
    /// Checks one run: no panic; a failure names the damaged file.
    fn check(&mut self, case: &Case<'_>, what: &str, out: &Output) {
        let counts = self.by_command.entry(what.to_string()).or_default();
        counts[0] += 1;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let label = format!("{what} with {} {:?}", case.file, case.damage);
        if out.status.code() == Some(101) || stderr.contains("panicked") {
            self.problems.push(format!("{label}: panicked:\n{stderr}"));
        } else if out.status.success() {
            counts[1] += 1;
        } else if names_file(&stderr, case.file) {
            counts[2] += 1;
        } else {
            self.problems.push(format!("{label}: failed without naming {}:\n{stderr}", case.file));
        }
    }
}

/// The message names the file (a duplicated segment's copy counts too).
fn names_file(stderr: &str, file: &str) -> bool {
    stderr.contains(file) || next_segment(file).is_some_and(|n| stderr.contains(&n))
}

fn run_readers(case: &Case<'_>, out: &mut Outcomes, work: &Path) {
    let lib = case.lib;
    let id = case.id;
    let before = raw_files(case.session);
    out.check(case, "sessions", &tacit().args(["sessions", "--library"]).arg(lib).output().unwrap());
    out.check(case, "inspect", &tacit().args(["inspect", id, "--library"]).arg(lib).output().unwrap());
    out.check(case, "label list", &tacit().args(["label", "list", id, "--library"]).arg(lib).output().unwrap());
    for format in ["tacit", "lerobot"] {
        let dest = work.join(format!("export-{format}"));
        let _ = std::fs::remove_dir_all(&dest);
        let export =
            tacit().args(["export", "--session", id, "--format", format, "--library"]).arg(lib).arg("--out").arg(&dest).output().unwrap();
        out.check(case, &format!("export --format {format}"), &export);
        if export.status.success() {
            // What an export of a damaged session wrote is a valid dataset.
            let validate = tacit().arg("validate").arg(&dest).output().unwrap();
            if !validate.status.success() {
                out.problems.push(format!(
                    "validate of the {format} export with {} {:?}: {}{}",
                    case.file,
                    case.damage,
                    String::from_utf8_lossy(&validate.stdout),
                    String::from_utf8_lossy(&validate.stderr)
                ));
            }
        }
    }
    if case.file.starts_with("mic-") || ["session.json", "station.toml", "transcript.parquet"].contains(&case.file) {
        let t = tacit().args(["transcribe", id, "--language", "en", "--library"]).arg(lib).output().unwrap();
        out.check(case, "transcribe", &t);
    }
    let after = raw_files(case.session);
    if after != before {
        let changed: Vec<&String> = before.keys().chain(after.keys()).filter(|k| before.get(*k) != after.get(*k)).collect();
        out.problems.push(format!("readers with {} {:?} changed raw files {changed:?}", case.file, case.damage));
    }
}

fn run_recover(case: &Case<'_>, out: &mut Outcomes, work: &Path) {
    // On a copy: recover repairs files, which is its job.
    let copy = work.join("recover-lib");
    let _ = std::fs::remove_dir_all(&copy);
    copy_dir(case.lib, &copy);
    let session = copy.join("sessions").join(case.session.file_name().unwrap());
    let before = raw_files(&session);
    let rec = tacit().args(["recover", case.id, "--library"]).arg(&copy).output().unwrap();
    out.check(case, "recover", &rec);
    let after = raw_files(&session);
    for (name, bytes) in &before {
        if name != case.file && after.get(name) != Some(bytes) {
            out.problems.push(format!("recover with {} {:?} changed the undamaged {name}", case.file, case.damage));
        }
    }
}

fn pristine() -> (tempfile::TempDir, PathBuf, String, PathBuf) {
    let (tmp, lib) = library_with(&[("kim", "fillet weld", "3")]);
    let sessions: Vec<PathBuf> = std::fs::read_dir(lib.join("sessions")).unwrap().flatten().map(|e| e.path()).collect();
    let session = sessions[0].clone();
    let id = session.file_name().unwrap().to_string_lossy().into_owned();
    for (tier, value, from, to) in [("step", "tack", "0", "1"), ("step", "root pass", "1", "2.5")] {
        ok(tacit()
            .args(["label", "add", &id, "--tier", tier, "--value", value, "--from", from, "--to", to, "--library"])
            .arg(&lib)
            .output()
            .unwrap());
    }
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/models/tiny.en-ct2");
    assert!(model.join("model.bin").is_file(), "run scripts/setup first (it fetches the test model)");
    ok(tacit().args(["model", "import"]).arg(&model).arg("--library").arg(&lib).output().unwrap());
    // A transcript too, so that it is damaged like the rest.
    ok(tacit().args(["transcribe", &id, "--language", "en", "--library"]).arg(&lib).output().unwrap());
    assert!(session.join("transcript.parquet").is_file());
    (tmp, lib, id, session)
}

#[test]
fn every_damaged_file_is_reported_and_nothing_panics_or_changes_raw_files() {
    let (tmp, lib, id, session) = pristine();
    let files: Vec<String> = {
        let mut f: Vec<String> = std::fs::read_dir(&session)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().unwrap().is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && !n.ends_with(".lock") && n != "reserve")
            .collect();
        f.sort();
        f
    };
    assert!(files.iter().any(|f| f.starts_with("cam-")) && files.iter().any(|f| f.ends_with(".wav")), "{files:?}");
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let mut outcomes = Outcomes::default();
    let mut cases = 0;
    for file in &files {
        for kind in ALL {
            // A fresh damaged library per case.
            let case_lib = work.join("lib");
            let _ = std::fs::remove_dir_all(&case_lib);
            copy_dir(&lib, &case_lib);
            let case_session = case_lib.join("sessions").join(&id);
            if !damage(&case_session, file, kind) {
                continue;
            }
            cases += 1;
            let case = Case { file, damage: kind, lib: &case_lib, session: &case_session, id: &id };
            run_readers(&case, &mut outcomes, &work);
            run_recover(&case, &mut outcomes, &work);
        }
    }
    eprintln!("damaged sessions: {cases} cases over {} files ({files:?}), {} problems", files.len(), outcomes.problems.len());
    eprintln!("| command | runs | succeeded | failed naming the file |\n|---|---|---|---|");
    for (what, [ran, good, clear]) in &outcomes.by_command {
        eprintln!("| `{what}` | {ran} | {good} | {clear} |");
    }
    assert!(outcomes.problems.is_empty(), "{} problems:\n{}", outcomes.problems.len(), outcomes.problems.join("\n---\n"));
}
