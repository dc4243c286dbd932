//! `tailor forget USER` on a data directory (no server running) and against a running
//! server (`--url`): the receipt names what was erased, and the offline tools — `tailor
//! sql`, `tailor log dump`, `tailor features show`, `tailor dead-letters` — no longer see
//! the user.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{json, Value};

use crate::common;
use common::{free_port, spawn_serve, stop_gracefully, wait_ready};

fn tailor(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("TAILOR_LOG", "warn")
        .output()
        .expect("run tailor")
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn line(user: &str, item: &str, id: &str, minute: u32) -> String {
    json!({"type": "track", "event": "Product Viewed", "userId": user, "messageId": id,
           "timestamp": format!("2026-01-15T10:{minute:02}:00Z"),
           "properties": {"product_id": item, "category": "shoes"}})
    .to_string()
}

fn count(data: &Path, query: &str) -> String {
    ok(tailor(data, &["sql", query, "--format", "csv"]), "sql")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forget_offline_and_through_a_running_server() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let events = [
        line("keep", "P1", "m1", 0),
        line("gone@example.com", "P2", "m2", 1),
        line("gone@example.com", "P3", "m3", 2),
        line("other-gone", "P4", "m4", 3),
        line("keep", "P5", "m5", 4),
    ];
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, events.join("\n")).expect("events");
    ok(
        tailor(
            &data,
            &[
                "import",
                file.to_str().expect("utf-8"),
                "--format",
                "segment-ndjson",
            ],
        ),
        "import",
    );

    // Offline: the command opens the data directory itself (the lake has not even been
    // written yet: the erasure waits for the sink to commit, then rewrites).
    let out = ok(tailor(&data, &["forget", "gone@example.com"]), "forget");
    let receipt: Value = serde_json::from_str(&out).expect("receipt json");
    assert_eq!(receipt["lake"]["event_rows"], 2, "{receipt}");
    assert_eq!(
        receipt["features"]["feature_entities"]
            .as_u64()
            .map(|n| n > 0),
        Some(true)
    );
    assert!(!out.contains("gone@example.com"));

    let by = |u: &str| format!("SELECT count(*) AS n FROM events WHERE user_id = '{u}'");
    assert_eq!(count(&data, &by("gone@example.com")).trim(), "n\n0");
    assert_eq!(count(&data, &by("keep")).trim(), "n\n2");
    let dump = ok(tailor(&data, &["log", "dump", "--topic", "events"]), "dump");
    assert!(!dump.contains("gone@example.com"), "{dump}");
    assert_eq!(dump.lines().count(), 3, "{dump}");
    let show = tailor(&data, &["features", "show", "user", "gone@example.com"]);
    assert!(
        !String::from_utf8_lossy(&show.stdout).contains("P2"),
        "{}",
        String::from_utf8_lossy(&show.stdout)
    );

    // A bad id is refused with a reason naming it.
    let bad = tailor(&data, &["forget", ""]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("USER"));

    // With a server running, the data directory is taken: the command says to use --url,
    // and --url erases through the server.
    let port = free_port();
    let child = spawn_serve(data.to_str().expect("utf-8"), port);
    let url = format!("http://127.0.0.1:{port}");
    wait_ready(&reqwest::Client::new(), &url).await;
    let busy = tailor(&data, &["forget", "other-gone"]);
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("--url"),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );
    let out = ok(
        tailor(&data, &["forget", "other-gone", "--url", &url]),
        "forget --url",
    );
    let receipt: Value = serde_json::from_str(&out).expect("receipt json");
    assert_eq!(receipt["lake"]["event_rows"], 1, "{receipt}");
    stop_gracefully(child);
    assert_eq!(count(&data, &by("other-gone")).trim(), "n\n0");
    assert_eq!(
        count(&data, "SELECT count(*) AS n FROM events").trim(),
        "n\n2"
    );
}
