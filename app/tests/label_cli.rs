//! `tacit label`: add, import, list, delete, rebuild on a recorded session,
//! with the station's vocabulary enforced and nothing written on refusal.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;

use serde_json::Value;

mod common;

use common::{ok, record, tacit};

fn recorded(lib: &Path) -> String {
    ok(tacit().args(["init", "--library"]).arg(lib).output().unwrap());
    let profile = lib.join("stations/demo.toml");
    ok(record(lib, &profile, &["--duration", "2", "--operator", "op-01", "--task", "fillet weld"]).output().unwrap());
    let list: Value = serde_json::from_str(&ok(tacit().args(["sessions", "--json", "--library"]).arg(lib).output().unwrap())).unwrap();
    list[0]["id"].as_str().unwrap().to_string()
}

fn label(lib: &Path, args: &[&str]) -> std::process::Output {
    tacit().arg("label").args(args).arg("--library").arg(lib).output().unwrap()
}

fn listed(lib: &Path, id: &str) -> Value {
    serde_json::from_str(&ok(label(lib, &["list", id, "--json"]))).unwrap()
}

#[test]
fn labels_follow_the_vocabulary_and_every_change_is_logged() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let id = recorded(&lib);
    let dir = lib.join("sessions").join(&id);

    ok(label(&lib, &["add", &id, "--tier", "step", "--value", "root pass", "--from", "0.5", "--to", "1.5", "--author", "kim"]));
    ok(label(&lib, &["add", &id, "--tier", "defect", "--value", "porosity", "--at", "1.2"]));
    let out = label(&lib, &["add", &id, "--tier", "step", "--value", "cap", "--from", "1", "--to", "2"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"cap\" is not a step") && err.contains("\"cap pass\""), "{err}");
    let out = label(&lib, &["add", &id, "--tier", "colour", "--value", "red", "--at", "1"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("step, defect, quality, note"));

    // CSV import is all or nothing.
    let csv = tmp.path().join("labels.csv");
    std::fs::write(
        &csv,
        "tier,value,start_s,end_s,status\nstep,tack,0,0.5,reviewed\nnote,\"아크 길이, 짧게\",1.0,1.5,\nquality,superb,2,3,\n",
    )
    .unwrap();
    let out = label(&lib, &["import", &id, csv.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("line 4") && err.contains("\"superb\""), "{err}");
    assert_eq!(listed(&lib, &id).as_array().unwrap().len(), 2);
    std::fs::write(&csv, "tier,value,start_s,end_s,status\nstep,tack,0,0.5,reviewed\nnote,\"아크 길이, 짧게\",1.0,1.5,\n").unwrap();
    ok(label(&lib, &["import", &id, csv.to_str().unwrap()]));

    let all = listed(&lib, &id);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[0]["value"], "tack"); // sorted by start
    assert_eq!(all[0]["status"], "reviewed");
    assert_eq!(all[0]["start_ns"], 0);
    assert_eq!(all[0]["end_ns"], 500_000_000);
    let note = all.iter().find(|l| l["tier"] == "note").unwrap();
    assert_eq!(note["value"], "아크 길이, 짧게");
    let point = all.iter().find(|l| l["tier"] == "defect").unwrap();
    assert_eq!(point["start_ns"], point["end_ns"]);

    ok(label(&lib, &["delete", &id, point["id"].as_str().unwrap()]));
    assert_eq!(listed(&lib, &id).as_array().unwrap().len(), 3);
    let log = std::fs::read_to_string(dir.join("annotations.log.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 5, "{log}"); // 2 adds, 2 imported, 1 delete

    // The state file lost: rebuilt from the log, identical.
    let before = std::fs::read_to_string(dir.join("annotations.json")).unwrap();
    std::fs::write(dir.join("annotations.json"), "{").unwrap();
    assert!(!label(&lib, &["list", &id]).status.success());
    ok(label(&lib, &["rebuild", &id]));
    assert_eq!(std::fs::read_to_string(dir.join("annotations.json")).unwrap(), before);
}
