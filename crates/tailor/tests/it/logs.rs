//! `tailor serve --log-format json`: every line on stderr is one JSON object with a level
//! and a message, and neither user ids nor API keys appear in the log.

use crate::common;

use std::io::Read;

use common::{free_port, stop_gracefully, wait_ready};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_one_object_per_line_without_user_ids_or_keys() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let user = "user-7f3a-private";
    let write_key = "wk_private_write_key_1234";
    let secret_key = "sk_private_secret_key_5678";
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args([
            "--log-format",
            "json",
            "serve",
            "--data-dir",
            &dir.path().to_string_lossy(),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("TAILOR_LOG", "debug,hyper=info,h2=info,reqwest=info")
        .env(
            "TAILOR__COLLECTOR__WRITE_KEYS",
            format!("[\"{write_key}\"]"),
        )
        .env(
            "TAILOR__COLLECTOR__SECRET_KEYS",
            format!("[\"{secret_key}\"]"),
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn tailor serve");
    // Drained as it is written: a full pipe would block the server's logging.
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).expect("read stderr");
        text
    });
    let http = reqwest::Client::new();
    wait_ready(&http, &url).await;
    // Accepted, rejected and unauthorized traffic, a recommendation and a feature read.
    let events = json!({"batch": [
        {"type": "track", "event": "Product Viewed", "userId": user, "messageId": "m1",
         "properties": {"product_id": "p1"}},
        {"type": "track", "event": "Product Viewed", "userId": user, "messageId": "m2",
         "properties": {"price": 3}},
    ]});
    let r = http
        .post(format!("{url}/v1/batch"))
        .basic_auth(write_key, Some(""))
        .json(&events)
        .send()
        .await
        .expect("batch");
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{url}/v1/batch"))
        .basic_auth("wk_wrong_key", Some(""))
        .json(&events)
        .send()
        .await
        .expect("batch");
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{url}/v1/recommendations?user_id={user}"))
        .bearer_auth(secret_key)
        .send()
        .await
        .expect("recs");
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("{url}/v1/features/user/{user}"))
        .bearer_auth(secret_key)
        .send()
        .await
        .expect("features");
    assert!(r.status() == 200 || r.status() == 404);
    stop_gracefully(child);
    let text = reader.join().expect("stderr reader");

    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "too few log lines:\n{text}");
    for line in &lines {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"));
        assert!(v["level"].is_string(), "no level: {line}");
        assert!(v["timestamp"].is_string(), "no timestamp: {line}");
        assert!(v["message"].is_string(), "no message: {line}");
    }
    for secret in [user, write_key, secret_key, "wk_wrong_key"] {
        assert!(
            !text.contains(secret),
            "{secret:?} appears in the log:\n{text}"
        );
    }
    assert!(text.contains("tailor listening"), "{text}");
}
