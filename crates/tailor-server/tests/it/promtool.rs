//! A live `/metrics` scrape of a server that has seen traffic passes `promtool check
//! metrics` (Prometheus's own linter: help text, units and suffixes, types), and the alert
//! rules in `deploy/prometheus/alerts.yml` pass `promtool check rules`. promtool comes from
//! Debian's `prometheus` package, which the test command installs.

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{config, shop_events, start};
use serde_json::json;

fn promtool() -> String {
    let tool = std::env::var("TAILOR_TEST_PROMTOOL").unwrap_or_else(|_| "promtool".into());
    match Command::new(&tool).arg("--version").output() {
        Ok(o) if o.status.success() => tool,
        _ => panic!(
            "{tool} not found: run the test command (make test), which installs Debian's \
             prometheus package, or install promtool and set TAILOR_TEST_PROMTOOL"
        ),
    }
}

#[tokio::test]
async fn a_live_scrape_passes_promtool_check_metrics() {
    let tool = promtool();
    let dir = tempfile::tempdir().expect("tmp");
    let mut cfg = config(dir.path());
    cfg.lake.roll_secs = 1;
    let s = start(cfg).await;
    // Traffic on every hop: accepted, duplicate and rejected events, features,
    // recommendations with an impression and a click, a bad request.
    let (status, _) = s.post("/v1/batch", json!({ "batch": shop_events() })).await;
    assert_eq!(status, 200);
    let (status, _) = s.post("/v1/batch", json!({ "batch": shop_events() })).await;
    assert_eq!(status, 200);
    let (status, _) = s
        .post(
            "/v1/batch",
            json!({"batch": [{"type": "track", "event": "Product Viewed", "userId": "u",
                "messageId": "bad", "timestamp": "2026-01-15T08:00:00Z", "properties": {}}]}),
        )
        .await;
    assert_eq!(status, 200);
    s.wait_processed().await;
    let (status, recs) = s.get("/v1/recommendations?user_id=h1&k=3").await;
    assert_eq!(status, 200, "{recs}");
    let (status, _) = s.get("/v1/features/item/hat-1").await;
    assert_eq!(status, 200);
    let (status, _) = s.get("/v1/recommendations?k=zero").await;
    assert_eq!(status, 400);
    let text = s.metrics_text().await;
    assert!(text.contains("tailor_"), "{text}");
    // Freshness of the log stage and the process's own gauges (Prometheus names).
    for name in [
        "tailor_log_freshness_seconds",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
        "tailor_quality_check_failing",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(name)),
            "{name} missing:\n{text}"
        );
    }

    let mut child = Command::new(&tool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write scrape");
    let out = child.wait_with_output().expect("promtool output");
    assert!(
        out.status.success(),
        "promtool check metrics found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    s.server.shutdown().await.expect("shutdown");
}

#[test]
fn the_alert_rules_pass_promtool_check_rules() {
    let tool = promtool();
    let rules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/prometheus/alerts.yml"
    );
    let out = Command::new(&tool)
        .args(["check", "rules", rules])
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check rules failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SUCCESS: 14 rules found"), "{text}");
}
