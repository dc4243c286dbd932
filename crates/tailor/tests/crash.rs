//! Crash test: a child `tailor serve` is killed with SIGKILL while clients send batches.
//! After restart (and the clients' retries of unanswered batches, as SDKs do) every
//! acknowledged `messageId` is in the log exactly once, the processed count equals the
//! number of acknowledged events, and the Parquet lake (written every second, so the kills
//! also hit lake writes and commits) holds exactly one row per acknowledged event.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;
use common::{free_port, stop_gracefully, wait_ready};

const ROUNDS: usize = 3;
const SENDERS: usize = 6;
const BATCH: usize = 50;

fn spawn_server(dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(["serve", "--data-dir"])
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("TAILOR__LIVE__CHECKPOINT_INTERVAL_SECS", "1")
        .env("TAILOR__LAKE__ROLL_SECS", "1")
        .env("TAILOR_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn tailor serve")
}

fn batch(ids: &[String]) -> Value {
    let events: Vec<Value> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"type": "track", "event": "Product Viewed", "userId": format!("user-{}", i % 17),
                   "messageId": id, "timestamp": "2026-01-15T10:00:00Z",
                   "properties": {"product_id": format!("P{}", i % 23), "category": "c"}})
        })
        .collect();
    json!({"batch": events})
}

/// Outcome bookkeeping shared by the senders.
#[derive(Default)]
struct Book {
    acked: HashSet<String>,
    unanswered: Vec<Vec<String>>,
}

async fn send(http: &reqwest::Client, url: &str, ids: &[String]) -> bool {
    match http
        .post(format!("{url}/v1/batch"))
        .json(&batch(ids))
        .timeout(Duration::from_secs(10))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => {
            let v: Value = r.json().await.unwrap_or(Value::Null);
            v["success"] == true
        }
        _ => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_event_and_counts_nothing_twice() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let book = Arc::new(Mutex::new(Book::default()));
    let mut next_id = 0usize;
    for round in 0..ROUNDS {
        let mut child = spawn_server(dir.path(), port);
        wait_ready(&http, &url).await;
        // Retry what the previous crash left unanswered, as an SDK does.
        let retry: Vec<Vec<String>> = std::mem::take(&mut book.lock().expect("book").unanswered);
        for ids in retry {
            assert!(
                send(&http, &url, &ids).await,
                "retry after restart must be acknowledged"
            );
            book.lock().expect("book").acked.extend(ids);
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut tasks = Vec::new();
        for s in 0..SENDERS {
            let (http, url, book, stop) = (http.clone(), url.clone(), book.clone(), stop.clone());
            let base = next_id + s * 1_000_000;
            tasks.push(tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 2_000 {
                    let ids: Vec<String> = (0..BATCH)
                        .map(|i| format!("r{round}-s{s}-{}", base + n * BATCH + i))
                        .collect();
                    n += 1;
                    if send(&http, &url, &ids).await {
                        book.lock().expect("book").acked.extend(ids);
                    } else {
                        book.lock().expect("book").unanswered.push(ids);
                        break;
                    }
                }
            }));
        }
        next_id += SENDERS * 1_000_000 * 10;
        tokio::time::sleep(Duration::from_millis(400 + 350 * round as u64)).await;
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in tasks {
            t.await.expect("sender");
        }
    }
    // Final start: retry the rest, wait until processed.
    let child = spawn_server(dir.path(), port);
    wait_ready(&http, &url).await;
    let retry: Vec<Vec<String>> = std::mem::take(&mut book.lock().expect("book").unanswered);
    for ids in retry {
        assert!(send(&http, &url, &ids).await);
        book.lock().expect("book").acked.extend(ids);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        let s: Value = http
            .get(format!("{url}/v1/status"))
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("json");
        if s["live"]["lag"] == 0 {
            break s;
        }
        assert!(Instant::now() < deadline, "not processed: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let acked = book.lock().expect("book").acked.clone();
    assert!(
        acked.len() > 1_000,
        "the test sent too little to mean anything: {}",
        acked.len()
    );

    // What the log holds, through the CLI, while the server runs.
    let dump = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(["log", "dump", "--topic", "events", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("log dump");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in String::from_utf8_lossy(&dump.stdout).lines() {
        let rec: Value = serde_json::from_str(line).expect("ndjson");
        let id = rec["value"]["message_id"]
            .as_str()
            .expect("message_id")
            .to_owned();
        *counts.entry(id).or_default() += 1;
    }
    let missing: Vec<&String> = acked
        .iter()
        .filter(|id| !counts.contains_key(*id))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not in the log: {missing:?}"
    );
    let twice: Vec<(&String, &usize)> = counts.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "stored more than once: {twice:?}");
    assert_eq!(
        counts.len(),
        acked.len(),
        "the log holds exactly the acknowledged events"
    );
    assert_eq!(
        status["live"]["events_processed"].as_u64(),
        Some(acked.len() as u64),
        "processed once each: {status}"
    );

    // Graceful stop with SIGTERM drains and exits 0.
    stop_gracefully(child);

    // The lake, after the kills and the clean stop: one row per acknowledged event.
    let sql = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(["sql", "--format", "json", "--data-dir"])
        .arg(dir.path())
        .arg("SELECT message_id, count(*) AS n FROM events GROUP BY message_id")
        .output()
        .expect("tailor sql");
    assert!(
        sql.status.success(),
        "{}",
        String::from_utf8_lossy(&sql.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&sql.stdout).expect("json rows");
    let in_lake: HashMap<String, u64> = rows
        .iter()
        .map(|r| {
            (
                r["message_id"].as_str().expect("id").to_owned(),
                r["n"].as_u64().expect("n"),
            )
        })
        .collect();
    let dupes: Vec<_> = in_lake.iter().filter(|(_, n)| **n != 1).take(5).collect();
    assert!(dupes.is_empty(), "lake rows not exactly once: {dupes:?}");
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !in_lake.contains_key(*id))
        .take(5)
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged but not in the lake: {lost:?}"
    );
    assert_eq!(
        in_lake.len(),
        acked.len(),
        "the lake holds exactly the acknowledged events"
    );
}
