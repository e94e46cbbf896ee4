//! Helpers shared by the CLI tests.

#![allow(dead_code, clippy::unwrap_used)]

pub mod s3;

use std::path::Path;
use std::process::{Command, Output};

/// The `tacit` binary under test, without the user's library or colours.
pub fn tacit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tacit"));
    c.env_remove("TACIT_LIBRARY").env("NO_COLOR", "1");
    c
}

/// Stdout of a successful run; panics with stderr otherwise.
pub fn ok(out: Output) -> String {
    assert!(out.status.success(), "tacit failed: {}\n{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stdout).unwrap()
}

/// `tacit record ARGS --profile PROFILE --library LIB`.
pub fn record(lib: &Path, profile: &Path, args: &[&str]) -> Command {
    let mut c = tacit();
    c.arg("record").args(args).arg("--profile").arg(profile).arg("--library").arg(lib);
    c
}

/// A new library (`tacit init`) with one demo-station session per
/// (operator, task, seconds), recorded a second apart so their ids differ.
pub fn library_with(sessions: &[(&str, &str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let lib = tmp.path().join("lib");
    ok(tacit().args(["init", "--library"]).arg(&lib).output().unwrap());
    let profile = lib.join("stations/demo.toml");
    for (i, (operator, task, seconds)) in sessions.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(std::time::Duration::from_millis(1100)); // ids have one-second resolution
        }
        ok(record(&lib, &profile, &["--duration", seconds, "--operator", operator, "--task", task]).output().unwrap());
    }
    (tmp, lib)
}

/// Copies a folder tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Every file under `dir`, sorted.
pub fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Waits (up to 30 s) until something listens on loopback `port`.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "{what} did not start on port {port}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A 1 MiB tmpfs mounted at `dir` (created) for a full-disk test; unmounted on drop.
pub struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount").args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"]).arg(dir).status();
        assert!(status.is_ok_and(|s| s.success()), "this test mounts a 1 MiB tmpfs and needs root (CI and the dev machines run as root)");
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}
