//! Helpers shared by the CLI tests.

#![allow(dead_code, clippy::unwrap_used)]

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
