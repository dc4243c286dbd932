//! Crash and rerun scenarios: the lake's rows equal the log's events, each exactly once.

use crate::common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use common::*;
use tailor_lake::bench::{synthetic_event, Rng};
use tailor_lake::{LakeConfig, LakeSink, Table};
use tailor_log::{Log, Record};

fn synthetic(from: u64, n: u64) -> Vec<tailor_event::Event> {
    let mut rng = Rng::new(from);
    (from..from + n)
        .map(|i| synthetic_event(i, &mut rng))
        .collect()
}

#[tokio::test]
async fn crash_between_files_and_manifest_neither_loses_nor_duplicates() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = open_log(&dir.path().join("log"));
    log.create_topic("events", 3).expect("topic");
    let lake_dir = dir.path().join("lake");
    let mut sent = synthetic(0, 400);
    append(&*log, &sent).await;

    // First run commits everything.
    let (lake, store) = FailingStore::lake(&lake_dir, -1);
    let sink = LakeSink::with_lake(lake, test_config())
        .await
        .expect("sink");
    let s = sink.run_once(&*log).await.expect("first run");
    assert_eq!(s.records, 400);
    assert_eq!(committed_keys(&lake_dir).await, expected_keys(&sent));

    // More events; the next commit "crashes" after its data files were written.
    let more = synthetic(400, 300);
    append(&*log, &more).await;
    sent.extend(more);
    store.allowed.store(0, Ordering::SeqCst);
    sink.run_once(&*log).await.expect_err("injected crash");
    let on_disk = parquet_files(&lake_dir, "events");
    let committed: Vec<String> = manifest(&lake_dir)
        .await
        .files_of(Table::Events)
        .map(|f| f.path.clone())
        .collect();
    assert!(
        on_disk.len() > committed.len(),
        "the failed flush left uncommitted files behind: {on_disk:?}"
    );
    drop(sink);

    // Restart: orphans go, the log is read again from the committed offsets.
    let (lake, _) = FailingStore::lake(&lake_dir, -1);
    let sink = LakeSink::with_lake(lake, test_config())
        .await
        .expect("reopen");
    assert_eq!(
        parquet_files(&lake_dir, "events").len(),
        committed.len(),
        "orphans deleted"
    );
    let s = sink.run_once(&*log).await.expect("rerun");
    assert_eq!(s.records, 300);
    assert_eq!(committed_keys(&lake_dir).await, expected_keys(&sent));

    // Nothing left to do; a fresh sink agrees.
    assert_eq!(sink.run_once(&*log).await.expect("again").records, 0);
    let sink = LakeSink::with_lake(
        tailor_lake::Lake::local(&lake_dir).expect("lake"),
        test_config(),
    )
    .await
    .expect("reopen");
    assert_eq!(sink.run_once(&*log).await.expect("again").commits, 0);
    let m = manifest(&lake_dir).await;
    for p in 0..3 {
        assert_eq!(
            m.offset("events", p),
            Some(log.end_offset("events", p).expect("end"))
        );
        assert_eq!(
            log.committed("lake", "events", p).expect("group"),
            Some(log.end_offset("events", p).expect("end")),
            "offsets reported to the consumer group"
        );
    }
}

/// A crash in the middle of a run that rolls several times (small `roll_bytes`).
#[tokio::test]
async fn crash_in_a_rolling_run_then_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = open_log(&dir.path().join("log"));
    log.create_topic("events", 2).expect("topic");
    let sent = synthetic(0, 1_500);
    append(&*log, &sent).await;
    let lake_dir = dir.path().join("lake");
    let config = LakeConfig {
        roll_bytes: 64 * 1024,
        ..test_config()
    };
    let (lake, _) = FailingStore::lake(&lake_dir, 3);
    let sink = LakeSink::with_lake(lake, config.clone())
        .await
        .expect("sink");
    sink.run_once(&*log)
        .await
        .expect_err("crash at the 4th commit");
    let partial = committed_keys(&lake_dir).await;
    assert!(!partial.is_empty() && partial.len() < expected_keys(&sent).len());
    assert!(partial.values().all(|&n| n == 1), "no duplicates so far");
    drop(sink);

    let (lake, _) = FailingStore::lake(&lake_dir, -1);
    let sink = LakeSink::with_lake(lake, config).await.expect("reopen");
    let s = sink.run_once(&*log).await.expect("rerun");
    assert!(s.commits > 1, "rolled by size: {s:?}");
    assert_eq!(committed_keys(&lake_dir).await, expected_keys(&sent));
}

/// Dead letters get their own table; a record of `events` that is not an event is kept
/// there too instead of being dropped.
#[tokio::test]
async fn dead_letters_and_undecodable_records() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = open_log(&dir.path().join("log"));
    log.create_topic("events", 1).expect("topic");
    log.create_topic("events.dead-letter", 1).expect("topic");
    let good = synthetic(0, 10);
    append(&*log, &good).await;
    log.append(
        "events",
        vec![Record::new("k", "{not json", 1_768_471_200_000)],
    )
    .await
    .expect("garbage");
    let dl = serde_json::json!({
        "received_at": "2026-01-15T10:00:00.000Z", "endpoint": "/v1/batch", "index": 2,
        "message_id": "bad-1", "reason": "properties.price: must be a number",
        "raw": "{\"event\":\"Product Added\"}"
    });
    log.append(
        "events.dead-letter",
        vec![
            Record::new("bad-1", dl.to_string(), 1),
            Record::new("", Bytes::from_static(b"\xff\xfe"), 1_768_471_200_000),
        ],
    )
    .await
    .expect("dead letters");

    let lake_dir = dir.path().join("lake");
    let sink = LakeSink::open(
        &LakeConfig {
            url: lake_dir.to_string_lossy().into_owned(),
            ..test_config()
        },
        dir.path(),
    )
    .await
    .expect("sink");
    let s = sink.run_once(&*log).await.expect("run");
    assert_eq!(s.records, 13);
    assert_eq!(s.undecodable, 1);
    assert_eq!(s.dead_letter_rows, 3);
    assert_eq!(committed_keys(&lake_dir).await, expected_keys(&good));

    let m = manifest(&lake_dir).await;
    let files: Vec<_> = m.files_of(Table::DeadLetters).collect();
    assert!(files.iter().all(|f| f.path.starts_with("dead_letters/dt=")));
    let wh = tailor_lake::Warehouse::new(sink.lake().clone())
        .await
        .expect("wh");
    let out = wh
        .query("SELECT endpoint, \"index\", message_id, reason, CAST(dt AS VARCHAR) AS dt FROM dead_letters ORDER BY log_topic, log_offset")
        .await
        .expect("query");
    let text = tailor_lake::to_csv(&out).expect("csv");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "endpoint,index,message_id,reason,dt");
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[1], "log:events,,,the lake sink could not decode this event record: key must be a string at line 1 column 2,2026-01-15");
    assert_eq!(
        lines[2],
        "/v1/batch,2,bad-1,properties.price: must be a number,2026-01-15"
    );
    assert!(lines[3].starts_with("log:events.dead-letter,,,"), "{text}");
}

/// The long-running loop rolls by size, commits on shutdown, and resumes where it stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_loop_rolls_and_commits_on_shutdown() {
    let dir = tempfile::tempdir().expect("tmp");
    let log: Arc<dyn Log> = open_log(&dir.path().join("log"));
    log.create_topic("events", 2).expect("topic");
    let lake_dir = dir.path().join("lake");
    let config = LakeConfig {
        roll_bytes: 64 * 1024,
        roll_secs: 3600,
        ..test_config()
    };
    let sink = Arc::new(
        LakeSink::with_lake(
            tailor_lake::Lake::local(&lake_dir).expect("lake"),
            config.clone(),
        )
        .await
        .expect("sink"),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = {
        let (sink, log) = (sink.clone(), log.clone());
        tokio::spawn(async move {
            sink.run(log, async {
                let _ = stopped.await;
            })
            .await
        })
    };
    let sent = synthetic(0, 800);
    append(&*log, &sent).await;
    // Size-based rolls commit while the loop runs; poll with a deadline.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while manifest(&lake_dir).await.version < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no roll by size");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.send(()).expect("stop");
    let stats = task.await.expect("join").expect("run");
    assert_eq!(stats.records, 800);
    assert_eq!(committed_keys(&lake_dir).await, expected_keys(&sent));
}
