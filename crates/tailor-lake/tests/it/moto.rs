//! moto's S3 server for tests (installed into `.venv` by `scripts/test.sh`), started on a
//! free loopback port with one bucket. Also compiled into tailor-server's tests (`#[path]`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// The Python with `moto[server]`: `$TAILOR_TEST_PYTHON`, else the workspace's `.venv`.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TAILOR_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
}

pub struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts moto's S3 server and creates `bucket`; returns the endpoint.
pub fn start_s3(bucket: &str) -> (Moto, String) {
    let py = python();
    assert!(
        py.exists(),
        "{} not found: run ./scripts/test.sh (it installs moto[server] into .venv) or set TAILOR_TEST_PYTHON",
        py.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new(&py)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto server (pip install 'moto[server]')");
    let moto = Moto(child);
    let endpoint = format!("http://127.0.0.1:{port}");
    let script = format!(
        "import boto3,time\n\
         s3=boto3.client('s3',endpoint_url='{endpoint}',region_name='us-east-1',\
         aws_access_key_id='test',aws_secret_access_key='test')\n\
         for i in range(200):\n\
         \x20   try:\n\
         \x20       s3.create_bucket(Bucket='{bucket}'); break\n\
         \x20   except Exception:\n\
         \x20       time.sleep(0.05)\n\
         else:\n\
         \x20   raise SystemExit('moto did not start')\n"
    );
    let started = Instant::now();
    let ok = Command::new(&py)
        .args(["-c", &script])
        .status()
        .expect("create bucket");
    assert!(
        ok.success(),
        "moto S3 server not ready after {:?}",
        started.elapsed()
    );
    (moto, endpoint)
}
