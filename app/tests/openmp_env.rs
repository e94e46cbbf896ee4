//! `tacit` runs with `GOMP_SPINCOUNT=1000` (libgomp reads it before `main`,
//! so the binary restarts itself with it), and keeps a value the user set.

#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{ok, record, tacit};

/// GOMP_SPINCOUNT in the environment of a running `tacit record`, once its
/// session folder exists (so `main` is running, after any restart).
fn spin_of_running_recorder(user_value: Option<&str>) -> Option<String> {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    ok(tacit().args(["init", "--library"]).arg(&lib).output().unwrap());
    let mut cmd = record(&lib, &lib.join("stations/demo.toml"), &["--operator", "op", "--task", "env", "--quiet"]);
    cmd.env_remove("GOMP_SPINCOUNT").env_remove("OMP_WAIT_POLICY");
    if let Some(v) = user_value {
        cmd.env("GOMP_SPINCOUNT", v);
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let started = Instant::now();
    while !lib.join("sessions").read_dir().is_ok_and(|mut d| d.next().is_some()) {
        assert!(started.elapsed() < Duration::from_secs(60), "no session was started");
        std::thread::sleep(Duration::from_millis(50));
    }
    let environ = std::fs::read(format!("/proc/{}/environ", child.id())).unwrap();
    child.stdin.take().unwrap().write_all(b"q\n").unwrap();
    assert!(child.wait().unwrap().success());
    environ.split(|b| *b == 0).find_map(|kv| kv.strip_prefix(b"GOMP_SPINCOUNT=").map(|v| String::from_utf8_lossy(v).into_owned()))
}

#[test]
fn openmp_spin_is_set_unless_the_user_chose_one() {
    assert_eq!(spin_of_running_recorder(None).as_deref(), Some("1000"));
    assert_eq!(spin_of_running_recorder(Some("7")).as_deref(), Some("7"));
}
