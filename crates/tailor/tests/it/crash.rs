//! Crash matrix: a child `tailor serve` under client load dies, round after round, either by
//! SIGKILL at a random moment or at a failpoint (`TAILOR_FAILPOINT`, see
//! `tailor_log::failpoint`): between a log write and its fsync, between the fsync and the
//! answer, around the checkpoint's rename, before a lake commit, before a compaction's
//! commit, before a trained model's promotion. After each restart (and the clients' retries
//! of unanswered batches, as SDKs do) the server must be ready within a bound; at the end
//! every acknowledged `messageId` is in the log exactly once, the processed count equals the
//! number of acknowledged events, the Parquet lake holds exactly one row per acknowledged
//! event, and the features served from the checkpoint equal a replay from offset 0.
//!
//! The schedule is drawn from a seed (printed; `TAILOR_CRASH_SEED` replays one).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common;
use common::{free_port, stop_gracefully, wait_ready};

const ROUNDS: usize = 24;
const SENDERS: usize = 6;
const BATCH: usize = 50;
/// Longest a restarted server may take to answer `/ready`.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// How a round ends.
#[derive(Debug, Clone, Copy)]
enum Death {
    /// SIGKILL after this many milliseconds of load.
    Kill(u64),
    /// Abort at the `n`th hit of a failpoint (SIGKILL after 4 s if it is not reached).
    Failpoint(&'static str, u64),
}

const FAILPOINTS: [&str; 7] = [
    "log.after_write",
    "log.after_fsync",
    "checkpoint.before_rename",
    "checkpoint.after_rename",
    "lake.before_commit",
    "lake.compaction.before_commit",
    "model.before_promote",
];

/// xorshift64*: the schedule must replay from its seed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Every failpoint three times, the rest random kills, in a seeded order.
fn schedule(seed: u64) -> Vec<Death> {
    let mut rng = seed.max(1);
    let mut rounds: Vec<Death> = FAILPOINTS
        .iter()
        .cycle()
        .take(3 * FAILPOINTS.len())
        .map(|fp| {
            let at = match *fp {
                // Group commits come by the hundred: die somewhere among the first ones.
                "log.after_write" | "log.after_fsync" => 1 + next(&mut rng) % 40,
                _ => 1 + next(&mut rng) % 2,
            };
            Death::Failpoint(fp, at)
        })
        .collect();
    while rounds.len() < ROUNDS {
        rounds.push(Death::Kill(200 + next(&mut rng) % 1300));
    }
    for i in (1..rounds.len()).rev() {
        rounds.swap(i, (next(&mut rng) % (i as u64 + 1)) as usize);
    }
    rounds
}

fn spawn_server(dir: &Path, port: u16, death: Option<Death>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tailor"));
    cmd.args(["serve", "--data-dir"])
        .arg(dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("TAILOR__LIVE__CHECKPOINT_INTERVAL_SECS", "1")
        .env("TAILOR__LAKE__ROLL_SECS", "1")
        .env("TAILOR__LAKE__COMPACT_MIN_FILES", "2")
        .env("TAILOR_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(Death::Failpoint(name, at)) = death {
        cmd.env("TAILOR_FAILPOINT", format!("{name}@{at}"));
        if name == "model.before_promote" {
            // Train continuously so the failpoint is reached.
            cmd.env("TAILOR__MODELS__RETRAIN", "true")
                .env("TAILOR__MODELS__FULL_EVERY_SECS", "1")
                .env("TAILOR__MODELS__INCREMENTAL_EVERY_SECS", "1")
                .env("TAILOR__MODELS__MIN_INTERACTIONS", "10");
        }
    }
    cmd.spawn().expect("spawn tailor serve")
}

/// Starts the server and waits for `/ready`, asserting it came within [`READY_WITHIN`].
async fn start_ready(
    dir: &Path,
    port: u16,
    death: Option<Death>,
    http: &reqwest::Client,
    url: &str,
) -> (Child, Duration) {
    let started = Instant::now();
    let child = spawn_server(dir, port, death);
    wait_ready(http, url).await;
    let took = started.elapsed();
    assert!(
        took < READY_WITHIN,
        "ready after {took:?} (bound {READY_WITHIN:?}) before {death:?}"
    );
    (child, took)
}

/// A user's or item's feature values as `tailor features show` computes them.
fn features_show(dir: &Path, entity: &str, id: &str) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(["features", "show", entity, id, "--data-dir"])
        .arg(dir)
        .env("TAILOR_LOG", "error")
        .output()
        .expect("features show");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("features json")
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
async fn crash_matrix_loses_no_acknowledged_event_and_counts_nothing_twice() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let book = Arc::new(Mutex::new(Book::default()));
    let seed = std::env::var("TAILOR_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let rounds = schedule(seed);
    eprintln!("crash matrix: TAILOR_CRASH_SEED={seed}: {rounds:?}");
    let mut next_id = 0usize;
    let mut ready_times = Vec::new();
    let mut by_failpoint = 0;
    for (round, death) in rounds.iter().copied().enumerate() {
        let (mut child, took) = start_ready(dir.path(), port, Some(death), &http, &url).await;
        ready_times.push(took);
        // Retry what the previous crash left unanswered, as an SDK does.
        let retry: Vec<Vec<String>> = std::mem::take(&mut book.lock().expect("book").unanswered);
        for ids in retry {
            if send(&http, &url, &ids).await {
                book.lock().expect("book").acked.extend(ids);
            } else {
                // A failpoint can strike during the retry itself: retry again next round.
                book.lock().expect("book").unanswered.push(ids);
            }
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
        match death {
            Death::Kill(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                child.kill().expect("SIGKILL");
            }
            Death::Failpoint(..) => {
                let deadline = Instant::now() + Duration::from_secs(4);
                loop {
                    if child.try_wait().expect("try_wait").is_some() {
                        by_failpoint += 1;
                        break;
                    }
                    if Instant::now() >= deadline {
                        child.kill().expect("SIGKILL");
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        child.wait().expect("reap");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in tasks {
            t.await.expect("sender");
        }
    }
    eprintln!(
        "crash matrix: {} rounds, {by_failpoint} died at their failpoint; ready after a restart within {:?} at most",
        rounds.len(),
        ready_times.iter().max()
    );
    assert!(
        by_failpoint >= 2 * FAILPOINTS.len(),
        "only {by_failpoint} rounds reached their failpoint: the matrix did not test what it claims"
    );
    // Final start: retry the rest, wait until processed.
    let (child, _) = start_ready(dir.path(), port, None, &http, &url).await;
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

    // Features served from the checkpoint the kills left equal a replay from offset 0.
    let entities = [
        ("user", "user-0"),
        ("user", "user-5"),
        ("user", "user-16"),
        ("item", "P0"),
        ("item", "P11"),
        ("item", "P22"),
        ("global", "global"),
    ];
    let resumed: Vec<Value> = entities
        .iter()
        .map(|(e, id)| features_show(dir.path(), e, id))
        .collect();
    let ckpt = dir.path().join("checkpoints").join("live.ckpt");
    std::fs::rename(&ckpt, ckpt.with_extension("resumed")).expect("move checkpoint away");
    for ((e, id), before) in entities.iter().zip(&resumed) {
        let replayed = features_show(dir.path(), e, id);
        assert_eq!(
            &replayed, before,
            "{e} {id}: checkpoint + log differs from a replay from offset 0"
        );
    }
}
