//! Real S3 servers on loopback for the site-store tests: localbucket and
//! moto's server mode, started by the test on a free port, with boto3
//! (scripts/s3_tool.py) as the second client that checks what they hold.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use super::{ok, tacit, wait_for_port};

pub const BUCKET: &str = "site-store";

pub fn venv() -> PathBuf {
    let v = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-s3/bin");
    assert!(v.join("python").is_file(), "{} is missing: run scripts/setup (it installs localbucket, moto and boto3)", v.display());
    v
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Kind {
    LocalBucket,
    Moto,
}

/// A real S3 server this test started, on a free loopback port.
pub struct Server {
    pub kind: Kind,
    pub port: u16,
    pub data: tempfile::TempDir,
    pub child: Option<Child>,
}

impl Server {
    pub fn start(kind: Kind) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut s = Self { kind, port, data: tempfile::tempdir().unwrap(), child: None };
        s.spawn();
        s.tool(&["mb", BUCKET]);
        s
    }

    pub fn spawn(&mut self) {
        let bin = venv();
        let mut c = match self.kind {
            Kind::LocalBucket => {
                let mut c = Command::new(bin.join("localbucket"));
                c.arg(self.data.path()).args(["--host", "127.0.0.1", "--port", &self.port.to_string()]);
                c
            }
            Kind::Moto => {
                let mut c = Command::new(bin.join("moto_server"));
                c.args(["-H", "127.0.0.1", "-p", &self.port.to_string()]);
                c
            }
        };
        let child = c.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        self.child = Some(child);
        wait_for_port(self.port, &format!("{:?}", self.kind));
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn signal(&self, sig: libc::c_int) {
        let pid = self.child.as_ref().unwrap().id() as libc::pid_t;
        // SAFETY: a signal to the server process this test started.
        unsafe { libc::kill(pid, sig) };
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// boto3 through scripts/s3_tool.py: its stdout as bytes.
    pub fn tool_bytes(&self, args: &[&str]) -> Vec<u8> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3_tool.py");
        let out = Command::new(venv().join("python")).arg(script).arg(self.endpoint()).args(args).output().unwrap();
        assert!(out.status.success(), "s3_tool {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out.stdout
    }

    /// boto3 through scripts/s3_tool.py.
    pub fn tool(&self, args: &[&str]) -> String {
        String::from_utf8(self.tool_bytes(args)).unwrap()
    }

    /// What the store holds under `prefix`: key → (size, sha256).
    pub fn objects(&self, prefix: &str) -> BTreeMap<String, (u64, String)> {
        let v: Value = serde_json::from_str(&self.tool(&["ls", BUCKET, prefix])).unwrap();
        v.as_object()
            .unwrap()
            .iter()
            .map(|(k, o)| (k.clone(), (o["size"].as_u64().unwrap(), o["sha256"].as_str().unwrap().to_string())))
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `tacit push` into `server` under `prefix`, with test keys.
pub fn push(server: &Server, lib: &Path, prefix: &str, args: &[&str]) -> Command {
    let mut c = tacit();
    c.arg("push").arg("--library").arg(lib).arg("--to").arg(format!("s3://{BUCKET}/{prefix}"));
    c.arg("--endpoint").arg(server.endpoint()).args(args);
    c.env("AWS_ACCESS_KEY_ID", "test").env("AWS_SECRET_ACCESS_KEY", "test").env_remove("AWS_PROFILE").env_remove("AWS_ENDPOINT_URL");
    c
}

pub fn json_push(out: Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap()
}
