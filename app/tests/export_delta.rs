//! `tacit export --format delta`: Delta Lake tables in a folder and on real
//! S3 servers (localbucket and moto) on loopback. Five readers (deltalake, Polars,
//! Daft, DuckDB, `datasets`) give the folder export's answer to one query;
//! a re-run adds nothing; 20 exporters appending at once (and two racing on
//! one session) leave every session's rows exactly once, with checkpoints;
//! an export killed at a random moment and run again leaves them exactly
//! once too; a new sensor channel widens the table; `validate` and
//! `inspect` read the tables and find a missing data file.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tacit_session::builder::SessionBuilder;

mod common;

use common::s3::{Kind, Server};
use common::{ok, tacit, walk};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn python() -> PathBuf {
    let p = repo().join(".venv/bin/python");
    assert!(p.is_file(), "{} is missing: run scripts/setup", p.display());
    p
}

/// Sessions `ids` at two stations on two days: 2 s each, camera 10 fps,
/// sensor `arc` 100 Hz, two step labels.
fn library(ids: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    for (i, id) in ids.iter().enumerate() {
        SessionBuilder::new(id)
            .station(if i % 2 == 0 { "bay-1" } else { "용접-2" })
            .operator(if i % 3 == 0 { "op-a" } else { "op-b" })
            .started_at(if i % 4 < 2 { "2026-12-01T08:00:00Z" } else { "2026-12-02T09:30:00Z" })
            .label("step", "tack", 0.0, 0.5 + 0.1 * (i % 3) as f64)
            .label("step", "root pass", 0.8, 1.9)
            .label("defect", "porosity", 1.0, 1.2)
            .write(&lib)
            .unwrap();
    }
    (tmp, lib)
}

fn export(lib: &Path, out: &str, extra: &[&str]) -> Command {
    let mut c = tacit();
    c.args(["export", "--format", "delta", "--library"]).arg(lib).args(["--out", out]).args(extra);
    c
}

fn inspect(at: &str, extra: &[&str]) -> Value {
    let out = ok(tacit().args(["inspect", at, "--json"]).args(extra).output().unwrap());
    serde_json::from_str(&out).unwrap()
}

/// Rows per table, from `inspect --json`.
fn rows(summary: &Value) -> BTreeMap<String, u64> {
    summary["tables"].as_array().unwrap().iter().map(|t| (t["name"].as_str().unwrap().to_string(), t["rows"].as_u64().unwrap())).collect()
}

/// Session id → rows in `table`, read back with Python deltalake.
fn per_session(root: &str, table: &str, storage: Option<&str>) -> BTreeMap<String, u64> {
    let code = "import sys, json, collections; from deltalake import DeltaTable\n\
                so = json.loads(sys.argv[3]) if len(sys.argv) > 3 else None\n\
                t = DeltaTable(sys.argv[1] + '/' + sys.argv[2], storage_options=so).to_pyarrow_table(columns=['session_id'])\n\
                print(json.dumps(collections.Counter(t.column('session_id').to_pylist())), flush=True)\n\
                import os; os._exit(0)  # deltalake's threads can abort the interpreter's normal exit";
    let mut c = Command::new(python());
    c.args(["-c", code, root, table]);
    if let Some(s) = storage {
        c.arg(s);
    }
    let v: BTreeMap<String, u64> = serde_json::from_str(&ok(c.output().unwrap())).unwrap();
    v
}

fn validate(at: &str, extra: &[&str]) -> Output {
    tacit().args(["validate", at]).args(extra).output().unwrap()
}

#[test]
fn readers_agree_a_rerun_adds_nothing_and_validate_finds_a_missing_file() {
    let ids = ["s-a", "s-b", "s-c", "s-d", "s-e"];
    let (tmp, lib) = library(&ids);
    let out = tmp.path().join("delta");
    let out_s = out.to_str().unwrap();
    let said = ok(export(&lib, out_s, &["--split", "train=0.6,test=0.4", "--group-by", "operator"]).output().unwrap());
    assert!(said.contains("5 sessions added (0 already there)"), "{said}");
    // The folder export of the same sessions is the reference for the readers.
    let folder = tmp.path().join("tables");
    ok(tacit().args(["export", "--format", "tacit", "--library"]).arg(&lib).arg("--out").arg(&folder).output().unwrap());
    let script = repo().join("scripts/interop_delta.py");
    let readers = ok(Command::new(python()).arg(&script).arg(&out).arg(&folder).output().unwrap());
    for r in ["deltalake", "polars", "daft", "duckdb", "datasets"] {
        assert!(readers.contains(&format!("PASS {r}")), "{readers}");
    }

    let before = inspect(out_s, &[]);
    assert_eq!(before["episodes"], 5);
    let r = rows(&before);
    assert_eq!(r["frames-front"], 5 * 20);
    assert_eq!(r["sensors-arc"], 5 * 200);
    assert_eq!(r["labels"], 5 * 3);
    // Partitioned by station and day; a group never straddles splits.
    let eps = per_session(out_s, "episodes", None);
    assert_eq!(eps.len(), 5);
    assert!(eps.values().all(|&n| n == 1));
    assert!(
        out.join("sensors-arc/station=bay-1/date=2026-12-01").is_dir(),
        "{:?}",
        std::fs::read_dir(out.join("sensors-arc")).unwrap().collect::<Vec<_>>()
    );
    let splits = ok(Command::new(python())
        .args(["-c", "import sys; from deltalake import DeltaTable; t = DeltaTable(sys.argv[1]).to_pyarrow_table(); print(sorted(set(zip(t.column('operator').to_pylist(), t.column('split').to_pylist()))), flush=True); import os; os._exit(0)"])
        .arg(out.join("episodes"))
        .output()
        .unwrap());
    assert_eq!(splits.matches("op-a").count(), 1, "op-a is in one split: {splits}");
    assert_eq!(splits.matches("op-b").count(), 1, "op-b is in one split: {splits}");

    // Again: nothing added, nothing duplicated.
    let again = ok(export(&lib, out_s, &[]).output().unwrap());
    assert!(again.contains("0 sessions added (5 already there)"), "{again}");
    assert_eq!(rows(&inspect(out_s, &[])), r);
    // Another split on the same dataset is refused.
    let other = export(&lib, out_s, &["--split", "train=0.5,val=0.5"]).output().unwrap();
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("is split train=0.6"), "{}", String::from_utf8_lossy(&other.stderr));

    let v = validate(out_s, &[]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    assert!(String::from_utf8_lossy(&v.stdout).contains("5 episodes, 100 frames — valid"), "{}", String::from_utf8_lossy(&v.stdout));
    // A data file lost from under the log is found, by name.
    let victim = walk(&out.join("labels")).into_iter().find(|p| p.extension().is_some_and(|e| e == "parquet")).unwrap();
    std::fs::remove_file(&victim).unwrap();
    let v = validate(out_s, &[]);
    assert!(!v.status.success());
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(text.contains("missing: the log lists it"), "{text}");
    assert!(text.contains(victim.file_name().unwrap().to_str().unwrap()), "{text}");
}

/// Starts `n` exporters at once, each with its own sessions, and waits.
fn concurrently(cmds: Vec<Command>) -> Vec<Output> {
    let children: Vec<Child> = cmds.into_iter().map(|mut c| c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()).collect();
    children.into_iter().map(|c| c.wait_with_output().unwrap()).collect()
}

#[test]
fn twenty_exporters_at_once_and_a_killed_export_leave_every_session_exactly_once() {
    let ids: Vec<String> = (0..22).map(|i| format!("c-{i:02}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let (tmp, lib) = library(&refs);
    let out = tmp.path().join("delta");
    let out_s = out.to_str().unwrap().to_string();
    // 20 exporters, one session each, plus two more racing on c-00.
    let mut cmds: Vec<Command> = ids[..20].iter().map(|id| export(&lib, &out_s, &["--session", id, "--json"])).collect();
    cmds.push(export(&lib, &out_s, &["--session", "c-00", "--json"]));
    cmds.push(export(&lib, &out_s, &["--session", "c-00", "--json"]));
    let outs = concurrently(cmds);
    let mut conflicts = 0;
    for o in &outs {
        let text = ok(o.clone());
        let v: Value = serde_json::from_str(&text).unwrap();
        conflicts += v["conflicts"].as_u64().unwrap() + v["retries"].as_u64().unwrap();
    }
    eprintln!("20 + 2 exporters: {conflicts} retries and conflicts redone");
    let eps = per_session(&out_s, "episodes", None);
    assert_eq!(eps.len(), 20, "{eps:?}");
    assert!(eps.values().all(|&n| n == 1), "{eps:?}");
    for (table, each) in [("frames-front", 20), ("sensors-arc", 200), ("labels", 3)] {
        let got = per_session(&out_s, table, None);
        assert_eq!(got.len(), 20, "{table}: {got:?}");
        assert!(got.values().all(|&n| n == each), "{table}: {got:?}");
    }
    // Checkpoints every 10 commits keep readers off thousands of JSON entries.
    assert!(out.join("sensors-arc/_delta_log/_last_checkpoint").is_file());
    let v = validate(&out_s, &[]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));

    // Killed at a random moment (any table, any stage), then run again: exactly once.
    let seed = std::process::id() as u64;
    let mut child = export(&lib, &out_s, &["--session", "c-20", "c-21"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let delay = Duration::from_millis(200 + seed % 1500);
    let t0 = Instant::now();
    while t0.elapsed() < delay && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("killed after {delay:?}");
    ok(export(&lib, &out_s, &["--session", "c-20", "c-21"]).output().unwrap());
    let eps = per_session(&out_s, "episodes", None);
    assert_eq!(eps.len(), 22);
    for (table, each) in [("frames-front", 20), ("sensors-arc", 200), ("events", 0), ("labels", 3)] {
        let got = per_session(&out_s, table, None);
        if each > 0 {
            assert!(got.len() == 22 && got.values().all(|&n| n == each), "{table}: {got:?}");
        }
    }
    let v = validate(&out_s, &[]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

#[test]
fn a_new_sensor_channel_widens_the_table() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    SessionBuilder::new("old").write(&lib).unwrap();
    SessionBuilder::new("new")
        .no_sensors()
        .sensor("arc", 100.0, &[("current", "state"), ("voltage", "state"), ("wire_feed", "action"), ("gas_flow", "state")])
        .write(&lib)
        .unwrap();
    let out = tmp.path().join("delta");
    let out_s = out.to_str().unwrap();
    ok(export(&lib, out_s, &["--session", "old"]).output().unwrap());
    let said = ok(export(&lib, out_s, &["--session", "new"]).output().unwrap());
    assert!(said.contains("1 schema change"), "{said}");
    let s = inspect(out_s, &[]);
    let arc = s["tables"].as_array().unwrap().iter().find(|t| t["name"] == "sensors-arc").unwrap();
    assert!(arc["columns"].as_array().unwrap().iter().any(|c| c == "gas_flow"), "{arc}");
    let nulls = ok(Command::new(python())
        .args([
            "-c",
            "import sys; from deltalake import DeltaTable; t = DeltaTable(sys.argv[1]).to_pyarrow_table().to_pydict(); \
             print(sorted(set((s, g is None) for s, g in zip(t['session_id'], t['gas_flow']))), flush=True); import os; os._exit(0)",
        ])
        .arg(out.join("sensors-arc"))
        .output()
        .unwrap());
    assert_eq!(nulls.trim(), "[('new', False), ('old', True)]");
}

#[test]
fn delta_tables_on_the_site_store_with_concurrent_exporters() {
    // Two servers, so nothing rests on one server's quirks.
    for kind in [Kind::LocalBucket, Kind::Moto] {
        delta_on_the_store(kind);
    }
}

#[allow(clippy::too_many_lines, reason = "one end-to-end scenario, checked step by step")]
fn delta_on_the_store(kind: Kind) {
    let server = Server::start(kind);
    let ids = ["r-0", "r-1", "r-2", "r-3", "r-4", "r-5"];
    let (tmp, lib) = library(&ids);
    let url = "s3://site-store/tables";
    let ep = server.endpoint();
    let with_keys = |mut c: Command| {
        c.env("AWS_ACCESS_KEY_ID", "tacit").env("AWS_SECRET_ACCESS_KEY", "tacit-secret").env_remove("AWS_PROFILE");
        c
    };
    let cmds: Vec<Command> = ids.iter().map(|id| with_keys(export(&lib, url, &["--session", id, "--endpoint", &ep]))).collect();
    for o in concurrently(cmds) {
        ok(o);
    }
    let storage = serde_json::json!({
        "AWS_ENDPOINT_URL": ep, "AWS_ACCESS_KEY_ID": "tacit", "AWS_SECRET_ACCESS_KEY": "tacit-secret",
        "AWS_REGION": "us-east-1", "AWS_ALLOW_HTTP": "true", "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
    })
    .to_string();
    let eps = per_session("s3://site-store/tables", "episodes", Some(&storage));
    assert_eq!(eps.len(), 6, "{kind:?}: {eps:?}");
    assert!(eps.values().all(|&n| n == 1));
    let sensors = per_session("s3://site-store/tables", "sensors-arc", Some(&storage));
    assert!(sensors.len() == 6 && sensors.values().all(|&n| n == 200), "{sensors:?}");
    // Again: nothing added.
    let again = ok(with_keys(export(&lib, url, &["--endpoint", &ep])).output().unwrap());
    assert!(again.contains("0 sessions added (6 already there)"), "{again}");
    let mut v = with_keys(tacit());
    let v = v.args(["validate", url, "--endpoint", &ep]).output().unwrap();
    assert!(v.status.success(), "{}{}", String::from_utf8_lossy(&v.stdout), String::from_utf8_lossy(&v.stderr));
    // The readers that speak S3 here (deltalake, Polars, Daft) give the folder export's answer.
    let folder = tmp.path().join("tables");
    ok(tacit().args(["export", "--format", "tacit", "--library"]).arg(&lib).arg("--out").arg(&folder).output().unwrap());
    let readers = ok(Command::new(python())
        .arg(repo().join("scripts/interop_delta.py"))
        .arg(url)
        .arg(&folder)
        .args(["--storage-json", &storage])
        .output()
        .unwrap());
    for r in ["deltalake", "polars", "daft"] {
        assert!(readers.contains(&format!("PASS {r}")), "{readers}");
    }
    // A dead store: one line, nothing written.
    drop(server);
    let dead = with_keys(export(&lib, url, &["--endpoint", &ep])).output().unwrap();
    assert!(!dead.status.success());
    let err = String::from_utf8_lossy(&dead.stderr);
    assert!(err.contains("cannot reach the store"), "{kind:?}: {err}");
}
