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

const EAF: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ANNOTATION_DOCUMENT AUTHOR="" DATE="2026-11-28T09:00:00+09:00" FORMAT="3.0" VERSION="3.0">
  <HEADER MEDIA_FILE="" TIME_UNITS="milliseconds">
    <MEDIA_DESCRIPTOR MEDIA_URL="file:///lib/sessions/x/mic-lapel.wav" MIME_TYPE="audio/x-wav"/>
  </HEADER>
  <TIME_ORDER>
    <TIME_SLOT TIME_SLOT_ID="ts1" TIME_VALUE="250"/>
    <TIME_SLOT TIME_SLOT_ID="ts2" TIME_VALUE="1750"/>
    <TIME_SLOT TIME_SLOT_ID="ts3" TIME_VALUE="1000"/>
    <TIME_SLOT TIME_SLOT_ID="ts4" TIME_VALUE="1000"/>
  </TIME_ORDER>
  <TIER TIER_ID="step" LINGUISTIC_TYPE_REF="default-lt" ANNOTATOR="trainer-lee">
    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a1" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts2">
      <ANNOTATION_VALUE>root pass</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
  </TIER>
  <TIER TIER_ID="defect" LINGUISTIC_TYPE_REF="default-lt">
    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a2" TIME_SLOT_REF1="ts3" TIME_SLOT_REF2="ts4">
      <ANNOTATION_VALUE>porosity</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
  </TIER>
  <TIER TIER_ID="note" PARENT_REF="step" LINGUISTIC_TYPE_REF="symbolic">
    <ANNOTATION><REF_ANNOTATION ANNOTATION_ID="a3" ANNOTATION_REF="a1">
      <ANNOTATION_VALUE>키홀을 일정하게</ANNOTATION_VALUE></REF_ANNOTATION></ANNOTATION>
  </TIER>
  <TIER TIER_ID="transcript" LINGUISTIC_TYPE_REF="default-lt">
    <ANNOTATION><ALIGNABLE_ANNOTATION ANNOTATION_ID="a4" TIME_SLOT_REF1="ts1" TIME_SLOT_REF2="ts3">
      <ANNOTATION_VALUE>I start the root pass</ANNOTATION_VALUE></ALIGNABLE_ANNOTATION></ANNOTATION>
  </TIER>
  <LINGUISTIC_TYPE GRAPHIC_REFERENCES="false" LINGUISTIC_TYPE_ID="default-lt" TIME_ALIGNABLE="true"/>
</ANNOTATION_DOCUMENT>
"#;

#[test]
fn elan_tiers_become_labels_all_or_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let id = recorded(&lib);
    let eaf = tmp.path().join("review.eaf");
    // A value outside the vocabulary: refused, nothing written.
    std::fs::write(&eaf, EAF.replace(">porosity<", ">bubbles<")).unwrap();
    let out = label(&lib, &["import", &id, eaf.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("annotation a2 (tier defect)") && err.contains("bubbles"), "{err}");
    assert_eq!(listed(&lib, &id).as_array().unwrap().len(), 0);

    std::fs::write(&eaf, EAF).unwrap();
    let out = label(&lib, &["import", &id, eaf.to_str().unwrap(), "--offset", "0.5"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped ELAN tier \"transcript\" (1 annotations)"));
    let l = listed(&lib, &id);
    let got: Vec<(String, String, i64, i64, String)> = l
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["tier"].as_str().unwrap().into(),
                x["value"].as_str().unwrap().into(),
                x["start_ns"].as_i64().unwrap(),
                x["end_ns"].as_i64().unwrap(),
                x["author"].as_str().unwrap().into(),
            )
        })
        .collect();
    let user = std::env::var("USER").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "unknown".into());
    let mut want = vec![
        ("note".to_string(), "키홀을 일정하게".to_string(), 750_000_000, 2_250_000_000, user.clone()),
        ("step".to_string(), "root pass".to_string(), 750_000_000, 2_250_000_000, "trainer-lee".to_string()),
        ("defect".to_string(), "porosity".to_string(), 1_500_000_000, 1_500_000_000, user),
    ];
    want.sort();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    assert_eq!(got_sorted, want);
    // Not XML at all: a clear error, nothing written.
    std::fs::write(&eaf, "<ANNOTATION_DOCUMENT><TIER TIER_ID=").unwrap();
    let out = label(&lib, &["import", &id, eaf.to_str().unwrap()]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("review.eaf: line 1"));
    assert_eq!(listed(&lib, &id).as_array().unwrap().len(), 3);
}
