//! The official Segment Python SDK (installed from PyPI by `scripts/test.sh`) sends to the
//! collector unchanged; every event it sends must be stored.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::{config, start};
use serde_json::Value;

/// The Python that has `segment-analytics-python`: `$TAILOR_TEST_PYTHON`, else the
/// workspace's `.venv` made by `scripts/test.sh`.
fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TAILOR_TEST_PYTHON") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
}

#[tokio::test]
async fn official_segment_python_sdk_is_accepted() {
    let py = python();
    let probe = Command::new(&py)
        .args(["-c", "import segment.analytics"])
        .output();
    assert!(
        probe.as_ref().is_ok_and(|o| o.status.success()),
        "{} cannot import segment.analytics: run `make test` (scripts/test.sh installs \
         segment-analytics-python into .venv) or set TAILOR_TEST_PYTHON",
        py.display()
    );
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.collector.write_keys = vec!["sdk-key".into()];
    let s = start(cfg).await;
    let script = format!("{}/tests/sdk/segment_send.py", env!("CARGO_MANIFEST_DIR"));
    let url = s.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(py)
            .arg(script)
            .arg(url)
            .arg("sdk-key")
            .output()
    })
    .await
    .expect("join")
    .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "SDK failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent: Vec<String> = serde_json::from_str(stdout.trim()).expect("ids");
    assert_eq!(sent.len(), 35);
    let status = s.wait_processed().await;
    assert_eq!(status["live"]["events_processed"], 35, "{status}");
    let (_, dl) = s.get("/v1/dead-letters").await;
    assert_eq!(
        dl["dead_letters"],
        Value::Array(vec![]),
        "no SDK event rejected: {dl}"
    );
    // The purchases were understood: the bought item is not recommended back.
    let (_, recs) = s.get("/v1/recommendations?user_id=sdk-user-0").await;
    assert!(
        recs["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["item_id"] != "SDK-P0"),
        "{recs}"
    );
    s.server.shutdown().await.expect("shutdown");
}
