//! The offline commands end to end on a real data directory: events imported into the log,
//! `tailor serve` writes them to the lake, then `tailor features training-set` builds
//! point-in-time training data from the lake, and `tailor features backfill` rebuilds the
//! checkpoint from the lake with the same feature values.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

use crate::common;
use common::{free_port, stop_gracefully, wait_ready};

fn tailor(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("TAILOR_LOG", "warn")
        .output()
        .expect("run tailor");
    assert!(
        out.status.success(),
        "tailor {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn line(user: &str, item: &str, id: &str, time: &str) -> String {
    json!({"type": "track", "event": "Product Viewed", "userId": user, "messageId": id,
           "timestamp": time, "properties": {"product_id": item, "category": "shoes", "price": 5}})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_set_and_backfill_from_a_served_lake() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    // u's P-future (10:03) is logged before P-late (10:01).
    let events = [
        line("u", "P-past", "m1", "2026-01-15T10:00:00Z"),
        line("u", "P-future", "m2", "2026-01-15T10:03:00Z"),
        line("u", "P-late", "m3", "2026-01-15T10:01:00Z"),
        line("v", "P-v", "m4", "2026-01-15T10:00:30Z"),
    ];
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, events.join("\n")).expect("events");
    tailor(
        &data,
        &[
            "import",
            file.to_str().expect("utf-8"),
            "--format",
            "segment-ndjson",
        ],
    );

    // Serve once: the processor and the lake sink consume the log; SIGTERM commits the lake.
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("TAILOR_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_ready(&http, &url).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let served: Value = loop {
        let r = http
            .get(format!("{url}/v1/features/user/u"))
            .send()
            .await
            .expect("features");
        if r.status().is_success() {
            let row: Value = r.json().await.expect("json");
            if row["values"]["user_last_items"].as_array().map(Vec::len) == Some(3) {
                break row;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "features never appeared"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    stop_gracefully(child);

    // Training data at 10:02 sees P-past and P-late, never P-future.
    let labels = dir.path().join("labels.csv");
    std::fs::write(
        &labels,
        "user_id,timestamp,converted\nu,2026-01-15T10:02:00Z,1\nv,2026-01-15T10:02:00Z,0\nnobody,2026-01-15T10:02:00Z,0\n",
    )
    .expect("labels");
    let out = dir.path().join("train.parquet");
    let run = tailor(
        &data,
        &[
            "features",
            "training-set",
            "--labels",
            labels.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
        ],
    );
    let summary = String::from_utf8_lossy(&run.stdout);
    assert!(summary.contains("wrote 3 rows"), "{summary}");
    assert!(
        summary.contains("2 with features, 1 with no event"),
        "{summary}"
    );
    assert!(summary.contains("4 lake events replayed"), "{summary}");
    let bytes = std::fs::read(&out).expect("parquet written");
    assert_eq!(&bytes[..4], b"PAR1");

    // Backfill: a checkpoint rebuilt from the lake gives the values the server served.
    let show = |data: &Path| -> Value {
        let out = tailor(data, &["features", "show", "user", "u"]);
        serde_json::from_slice(&out.stdout).expect("show json")
    };
    let before = show(&data);
    assert_eq!(before["values"], served["values"]);
    std::fs::remove_file(data.join("checkpoints").join("live.ckpt")).expect("remove checkpoint");
    let run = tailor(&data, &["features", "backfill"]);
    let summary = String::from_utf8_lossy(&run.stdout);
    assert!(summary.contains("from 4 lake events"), "{summary}");
    assert!(data.join("checkpoints").join("live.ckpt").is_file());
    assert_eq!(show(&data), before);
}
