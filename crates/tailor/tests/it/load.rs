//! Load test: `scripts/load.sh` drives a child `tailor serve` (this build) with two wrk
//! processes at once for a few seconds, Segment batches to `/v1/batch` and recommendations
//! for many users. Every batch and every recommendation request must be answered 2xx with no
//! socket error, each batch wrk sent must have been answered before wrk stopped, and once
//! the server has caught up its log, its processed count and its metrics must hold exactly
//! the events wrk's ingest side got acknowledged. wrk comes from Debian (`scripts/test.sh`
//! installs it); the test fails without it. No assertion on speed: the figures are printed.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common;
use common::{
    free_port, get_json, get_text, metric, spawn_serve, stop_gracefully, wait_ready, Server,
};

fn num(row: &Value, key: &str) -> u64 {
    row[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {row}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrk_on_ingest_and_recommendations_at_once_fails_nothing_and_loses_nothing() {
    match Command::new("wrk").arg("--version").output() {
        Ok(_) => {}
        Err(e) => {
            panic!("wrk is not installed ({e}): scripts/test.sh installs it (Debian package wrk)")
        }
    }
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = Server(Some(spawn_serve(
        dir.path().to_str().expect("utf-8 path"),
        port,
    )));
    let http = reqwest::Client::new();
    wait_ready(&http, &url).await;

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/load.sh");
    let args = [
        "--url",
        url.as_str(),
        "--duration",
        "5",
        "--ingest-connections",
        "4",
        "--recs-connections",
        "4",
        "--batch",
        "20",
        "--users",
        "500",
        "--items",
        "300",
        "--timeout",
        "10",
        "--no-install",
    ];
    let mut cmd = Command::new("bash");
    cmd.arg(&script).args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run scripts/load.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "scripts/load.sh failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
    let rows: Vec<Value> = stdout
        .lines()
        .filter(|l| l.starts_with("{\"scenario\""))
        .map(|l| serde_json::from_str(l).expect("a JSON summary line"))
        .collect();
    let row = |name: &str| -> Value {
        rows.iter()
            .find(|r| r["scenario"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} summary in:\n{stdout}"))
    };
    let (ingest, recs) = (row("ingest"), row("recommend"));

    // Both sides ran, and nothing failed.
    for r in [&ingest, &recs] {
        assert!(num(r, "requests") > 0, "no request made: {r}");
        for key in [
            "non_2xx",
            "connect_errors",
            "read_errors",
            "write_errors",
            "timeouts",
            "errors",
        ] {
            assert_eq!(num(r, key), 0, "{key}: {r}");
        }
    }
    // Every batch wrk sent was answered before it stopped, and every event accepted.
    let acked = num(&ingest, "events_acked");
    assert_eq!(num(&ingest, "unanswered"), 0, "{ingest}");
    assert_eq!(acked, num(&ingest, "events_sent"), "{ingest}");
    assert_eq!(num(&ingest, "duplicates"), 0, "{ingest}");
    assert_eq!(num(&ingest, "rejected"), 0, "{ingest}");
    // Recommendations came from the events sent meanwhile, not only empty lists.
    assert!(num(&recs, "empty") < num(&recs, "requests"), "{recs}");

    // The server caught up: its log holds exactly the acknowledged events, processed once.
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let (code, s) = get_json(&http, &format!("{url}/v1/status")).await;
        assert_eq!(code, 200, "{s}");
        if s["live"]["lag"] == 0 {
            break s;
        }
        assert!(Instant::now() < deadline, "not processed within 60 s: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stored: u64 = status["log"]["events_end_offsets"]
        .as_array()
        .expect("end offsets")
        .iter()
        .map(|v| v.as_u64().expect("offset"))
        .sum();
    assert_eq!(stored, acked, "events in the log: {status}");
    assert_eq!(status["log"]["dead_letter_end_offset"], 0, "{status}");
    assert_eq!(
        status["live"]["events_processed"].as_u64(),
        Some(acked),
        "{status}"
    );
    let metrics = get_text(&http, &format!("{url}/metrics")).await;
    assert_eq!(
        metric(&metrics, "tailor_collector_events_accepted_total", &[]),
        Some(acked as f64),
        "accepted events counted by the collector"
    );
    // The server answered exactly the batches wrk counted: none was cut off at the end.
    assert_eq!(
        metric(
            &metrics,
            "tailor_http_requests_total",
            &["route=\"/v1/batch\"", "status=\"200\""]
        ),
        Some(num(&ingest, "requests") as f64),
        "/v1/batch answers"
    );

    stop_gracefully(server.0.take().expect("server"));
}
