//! The site store as a library (`--library s3://…`) on real S3 servers on
//! loopback (localbucket and moto): two trainers labeling one session from
//! two "PCs" (two processes, two caches) at once keep both label sets; a
//! store session exports to the same tables as the local one while the
//! block cache stays under its limit; Review opens a store session reading
//! a few percent of it (the review index), and one without an index too; a
//! full disk under the cache fails in one clear line and the store is
//! untouched.

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use tacit_session::builder::SessionBuilder;

mod common;

use common::s3::{json_push, push, Kind, Server, BUCKET};
use common::{ok, tacit, walk, Tmpfs};

/// `tacit ARGS --library s3://BUCKET/site --endpoint …`, with its own cache folder (one PC).
fn on_store(server: &Server, cache: &Path, args: &[&str]) -> Command {
    let mut c = tacit();
    c.args(args).args(["--library", &format!("s3://{BUCKET}/site"), "--endpoint", &server.endpoint()]);
    c.env("AWS_ACCESS_KEY_ID", "test").env("AWS_SECRET_ACCESS_KEY", "test").env_remove("AWS_PROFILE").env_remove("AWS_ENDPOINT_URL");
    c.env("TACIT_CACHE_DIR", cache).env_remove("TACIT_CACHE_MB");
    c
}

/// A library of one session (camera, sensor, a 60 s microphone, a station label), pushed to the store.
fn pushed_session(server: &Server, seconds: f64) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    let n = (seconds * 48_000.0) as usize;
    let tone: Vec<i16> = (0..n).map(|i| ((i as f64 * 0.05).sin() * 8_000.0) as i16).collect();
    SessionBuilder::new("s-0001")
        .station("용접-2")
        .seconds(seconds)
        .microphone("mic", 48_000, tone)
        .label("step", "root pass", 0.0, 1.0)
        .write(&lib)
        .unwrap();
    let report = json_push(push(server, &lib, "site", &["--json"]).output().unwrap());
    assert_eq!(report["sessions"][0]["outcome"], "pushed", "{report}");
    (tmp, lib)
}

fn labels(server: &Server, cache: &Path) -> Vec<Value> {
    let listed: Value =
        serde_json::from_str(&ok(on_store(server, cache, &["label", "list", "s-0001", "--json"]).output().unwrap())).unwrap();
    listed.as_array().unwrap().clone()
}

#[test]
fn two_trainers_labeling_one_session_in_the_store_at_once_keep_both_label_sets() {
    for kind in [Kind::LocalBucket, Kind::Moto] {
        let server = Server::start(kind);
        let (tmp, _lib) = pushed_session(&server, 4.0);
        const EACH: usize = 6;
        std::thread::scope(|s| {
            for who in ["김민수", "lee"] {
                let (server, cache) = (&server, tmp.path().join(format!("pc-{who}")));
                s.spawn(move || {
                    for i in 0..EACH {
                        let at = format!("{:.1}", 0.1 + i as f64 * 0.5);
                        let value = format!("{who} {i}");
                        let args = ["label", "add", "s-0001", "--tier", "note", "--value", &value, "--at", &at, "--author", who];
                        ok(on_store(server, &cache, &args).output().unwrap());
                    }
                });
            }
        });
        // A third PC reads the merged state.
        let third = tmp.path().join("pc-third");
        let all = labels(&server, &third);
        assert_eq!(all.len(), 1 + 2 * EACH, "{kind:?}: the station's label and both trainers' {EACH}: {all:?}");
        let mut ids: Vec<&str> = all.iter().map(|l| l["id"].as_str().unwrap()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "{kind:?}: every label has an id of its own: {all:?}");
        for who in ["김민수", "lee"] {
            let mine: Vec<&str> = all.iter().filter(|l| l["author"] == who).map(|l| l["value"].as_str().unwrap()).collect();
            assert_eq!(mine.len(), EACH, "{kind:?}: {who}'s labels: {all:?}");
        }
        // Each author's history is its own append-only log in the store; ids were claimed.
        let held = server.objects("site/sessions/s-0001/annotations.d/");
        let entries = |who: &str| held.keys().filter(|k| k.contains(&format!("/authors/{who}/"))).count();
        // (object_store percent-encodes a folder name outside ASCII)
        assert_eq!((entries("%EA%B9%80%EB%AF%BC%EC%88%98"), entries("lee")), (EACH, EACH), "{kind:?}: {:?}", held.keys());
        assert_eq!(held.keys().filter(|k| k.contains("/ids/")).count(), 2 * EACH, "{kind:?}");
        // The merged state in the store, for readers outside tacit.
        let state: Value = serde_json::from_str(&server.tool(&["cat", BUCKET, "site/sessions/s-0001/annotations.json"])).unwrap();
        assert_eq!(state["labels"].as_array().unwrap().len(), 1 + 2 * EACH, "{kind:?}: {state}");

        // lee deletes one of 김민수's labels; 김민수's PC, checked out before, sees it after.
        let victim = all.iter().find(|l| l["author"] == "김민수").unwrap()["id"].as_str().unwrap().to_string();
        ok(on_store(&server, &tmp.path().join("pc-lee"), &["label", "delete", "s-0001", &victim, "--author", "lee"]).output().unwrap());
        let after = labels(&server, &tmp.path().join("pc-김민수"));
        assert_eq!(after.len(), 2 * EACH, "{kind:?}");
        assert!(after.iter().all(|l| l["id"] != victim.as_str()), "{kind:?}");
        // The reviewed flag goes to the store's manifest.
        ok(on_store(&server, &third, &["label", "review", "s-0001"]).output().unwrap());
        let manifest: Value = serde_json::from_str(&server.tool(&["cat", BUCKET, "site/sessions/s-0001/session.json"])).unwrap();
        assert_eq!(manifest["reviewed"], true, "{kind:?}");
        // The start of one id names it; an id the store lacks says how to list them.
        let by_prefix = ok(on_store(&server, &third, &["label", "list", "s-00", "--json"]).output().unwrap());
        assert_eq!(serde_json::from_str::<Value>(&by_prefix).unwrap().as_array().unwrap().len(), 2 * EACH, "{kind:?}");
        let missing = on_store(&server, &third, &["label", "list", "s-0404"]).output().unwrap();
        let err = String::from_utf8_lossy(&missing.stderr);
        assert!(!missing.status.success() && err.contains("no such session"), "{kind:?}: {err}");
        let shown = ok(on_store(&server, &third, &["inspect", "s-0001"]).output().unwrap());
        assert!(shown.contains("reviewed") && shown.contains(&format!("s3://{BUCKET}/site/sessions/s-0001")), "{kind:?}: {shown}");
    }
}

/// Every Parquet file of a tacit-tables dataset: relative path → bytes.
fn tables(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| (p.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&p).unwrap()))
        .collect()
}

fn cache_bytes(cache: &Path) -> u64 {
    walk(&cache.join("blocks")).iter().map(|p| std::fs::metadata(p).unwrap().len()).sum()
}

#[test]
fn a_store_session_exports_the_same_tables_through_a_cache_smaller_than_it() {
    let server = Server::start(Kind::LocalBucket);
    // A 2-minute session: the WAV alone is 11.5 MB, the cache 8 MiB.
    let (tmp, lib) = pushed_session(&server, 120.0);
    let local = tmp.path().join("local-ds");
    ok(tacit().args(["export", "--format", "tacit", "--library"]).arg(&lib).arg("--out").arg(&local).output().unwrap());
    let cache = tmp.path().join("cache");
    let remote = tmp.path().join("store-ds");
    let mut c = on_store(&server, &cache, &["export", "--format", "tacit", "--out", remote.to_str().unwrap()]);
    ok(c.env("TACIT_CACHE_MB", "8").output().unwrap());
    let (a, b) = (tables(&local), tables(&remote));
    assert!(a.len() >= 5, "{:?}", a.keys());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, bytes) in &a {
        assert!(b[k] == *bytes, "{} differs between the local and the store export", k.display());
    }
    let used = cache_bytes(&cache);
    assert!(used > 0 && used <= 8 << 20, "the cache holds {used} bytes, its limit is 8 MiB");
    // A second export reads what the cache kept and is the same again.
    let again = tmp.path().join("store-ds-2");
    let mut c = on_store(&server, &cache, &["export", "--format", "tacit", "--out", again.to_str().unwrap()]);
    ok(c.env("TACIT_CACHE_MB", "8").output().unwrap());
    assert!(tables(&again) == b);
    // Commands that write raw captures refuse the store.
    let out = on_store(&server, &cache, &["recover", "s-0001"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("station's own library folder"), "{err}");
}

#[test]
fn a_full_disk_under_the_cache_fails_in_one_clear_line_and_the_store_is_untouched() {
    let server = Server::start(Kind::LocalBucket);
    let (tmp, _lib) = pushed_session(&server, 60.0);
    let before = server.objects("site/");
    let mount = tmp.path().join("small");
    let _guard = Tmpfs::mount(&mount);
    let out_dir = tmp.path().join("ds");
    let out = on_store(&server, &mount, &["export", "--format", "tacit", "--out", out_dir.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("is full") && err.contains("TACIT_CACHE_DIR") && err.contains(mount.to_str().unwrap()), "{err}");
    assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1, "one error line: {err}");
    assert!(!err.contains("not an Arrow stream"), "a full disk is not a damaged file: {err}");
    assert_eq!(server.objects("site/"), before, "the store is unchanged");
    // With room, the same command works.
    ok(on_store(&server, &tmp.path().join("roomy"), &["export", "--format", "tacit", "--out", out_dir.to_str().unwrap()])
        .output()
        .unwrap());
}

/// `tacit bench review-probe` (Review's open and seeks) on the store session: its JSON.
fn review_probe(server: &Server, cache: &Path) -> Value {
    let out = on_store(server, cache, &["bench", "review-probe", "s-0001", "--seeks", "5"]).output().unwrap();
    serde_json::from_str(&ok(out)).unwrap()
}

#[test]
fn review_opens_a_store_session_from_its_index_without_reading_its_streams() {
    let server = Server::start(Kind::LocalBucket);
    let (tmp, lib) = pushed_session(&server, 60.0);
    let size: u64 = walk(&lib.join("sessions/s-0001")).iter().map(|p| std::fs::metadata(p).unwrap().len()).sum();
    let with_index = review_probe(&server, &tmp.path().join("pc-1"));
    let fetched = with_index["store_fetched_bytes"].as_u64().unwrap();
    assert!(with_index["frames"].as_u64().unwrap() > 0);
    // The index (58 kB here) and the small files, never the WAV or the sensor
    // stream; this camera's frames are tiny, so their 1 MB file comes as one
    // block (a 720p frame is a ranged read of its own bytes).
    assert!(fetched * 4 < size, "opening and 5 seeks fetched {fetched} of the session's {size} bytes");
    // A session pushed without an index (an older tacit) opens too, by reading its streams.
    server.tool(&["rm", BUCKET, "site/sessions/s-0001/index/review.json.zst"]);
    let without = review_probe(&server, &tmp.path().join("pc-2"));
    assert_eq!(without["frames"], with_index["frames"]);
    assert!(without["store_fetched_bytes"].as_u64().unwrap() > fetched, "{without}");
    // The next push puts the index back.
    let again = json_push(push(&server, &lib, "site", &["--json"]).output().unwrap());
    assert_eq!(again["sessions"][0]["outcome"], "up-to-date", "{again}");
    assert!(server.objects("site/sessions/s-0001/index/").len() == 1, "the index is back");
}
