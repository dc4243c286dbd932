//! Helpers shared by the CLI scenario tests that run `tailor serve`.
// Each test binary uses a subset of these helpers.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Polls `{url}/ready` until the server answers 2xx (30 s deadline).
pub async fn wait_ready(http: &reqwest::Client, url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{url}/ready")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "server not ready within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stops a child `tailor serve` with SIGTERM and asserts it drained and exited 0.
pub fn stop_gracefully(mut child: std::process::Child) {
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "SIGTERM exit: {exit:?}");
}

/// Starts `tailor serve` on `127.0.0.1:port` over `data` (output discarded).
pub fn spawn_serve(data: &str, port: u16) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args([
            "serve",
            "--data-dir",
            data,
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("TAILOR_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn tailor serve")
}

/// GETs `url` and returns the body as text (a `/metrics` scrape).
pub async fn get_text(http: &reqwest::Client, url: &str) -> String {
    let resp = http.get(url).send().await.expect("get");
    resp.text().await.expect("body text")
}

/// GETs `url` and parses the JSON answer (any status).
pub async fn get_json(http: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    let resp = http.get(url).send().await.expect("get");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(serde_json::Value::Null))
}

/// Kills a child server if the test fails before its graceful stop.
pub struct Server(pub Option<std::process::Child>);

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The value of the metric sample whose line starts with `name` and holds every label.
pub fn metric(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with([' ', '{']))
        })
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
