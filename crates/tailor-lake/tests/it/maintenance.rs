//! Compaction keeps the rows and switches atomically; retention drops old partitions only.

use crate::common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use common::*;
use serde_json::json;
use tailor_lake::{Lake, LakeConfig, LakeSink, Table, Warehouse};
use tailor_log::{Log, Record};

const DAY: i64 = 86_400_000;
const D0: i64 = 1_768_435_200_000; // 2026-01-15T00:00:00Z

fn view(i: usize, t: i64) -> tailor_event::Event {
    event(
        &format!("m{i}"),
        "Order Completed",
        Some("u1"),
        None,
        t,
        json!({"order_id": format!("o{i}"), "products": [{"product_id": "a", "price": 1}, {"product_id": "b", "price": 2}]}),
    )
}

/// Five runs over the same two hours leave five files in each hive partition.
async fn five_rounds(
    dir: &std::path::Path,
    config: LakeConfig,
) -> (
    Arc<tailor_log::EmbeddedLog>,
    LakeSink,
    Vec<tailor_event::Event>,
) {
    let log = open_log(&dir.join("log"));
    log.create_topic("events", 2).expect("topic");
    let sink = LakeSink::with_lake(Lake::local(&dir.join("lake")).expect("lake"), config)
        .await
        .expect("sink");
    let mut sent = Vec::new();
    for round in 0..5 {
        let evs: Vec<_> = (0..20)
            .map(|i| view(round * 100 + i, D0 + 3_600_000 * (i as i64 % 2) + i as i64))
            .collect();
        append(&*log, &evs).await;
        sent.extend(evs);
        sink.run_once(&*log).await.expect("run");
    }
    (log, sink, sent)
}

#[tokio::test]
async fn compaction_keeps_the_row_multiset_and_deletes_inputs_after_grace() {
    let dir = tempfile::tempdir().expect("tmp");
    let now = Arc::new(AtomicI64::new(D0 + DAY));
    let config = LakeConfig {
        gc_grace_secs: 600,
        ..test_config()
    };
    let (_log, sink, sent) = five_rounds(dir.path(), config).await;
    let now2 = now.clone();
    let sink = sink.with_clock(Arc::new(move || now2.load(Ordering::SeqCst)));
    let lake_dir = dir.path().join("lake");
    let before = committed_keys(&lake_dir).await;
    assert_eq!(before, expected_keys(&sent));
    assert_eq!(
        manifest(&lake_dir).await.files_of(Table::Events).count(),
        10
    );

    let wh = Warehouse::new(Lake::local(&lake_dir).expect("lake"))
        .await
        .expect("wh");
    let count = |b: Vec<arrow::array::RecordBatch>| tailor_lake::to_csv(&b).expect("csv");
    let total_before = count(
        wh.query("SELECT count(*) AS n, sum(price) AS p FROM events")
            .await
            .expect("q"),
    );

    let stats = sink.compact().await.expect("compact");
    assert_eq!(
        (stats.partitions, stats.files_in, stats.files_out),
        (2, 10, 2)
    );
    let m = manifest(&lake_dir).await;
    let files: Vec<_> = m.files_of(Table::Events).collect();
    assert_eq!(files.len(), 2);
    assert!(files.iter().all(|f| f.path.contains("/c-")));
    assert_eq!(committed_keys(&lake_dir).await, before);
    assert_eq!(
        count(
            wh.query("SELECT count(*) AS n, sum(price) AS p FROM events")
                .await
                .expect("q")
        ),
        total_before
    );
    // Replaced files stay for readers during the grace period, then go.
    assert_eq!(parquet_files(&lake_dir, "events").len(), 12);
    assert_eq!(m.removed.len(), 10);
    now.fetch_add(601_000, Ordering::SeqCst);
    assert_eq!(sink.compact().await.expect("nothing to do").partitions, 0);
    assert_eq!(parquet_files(&lake_dir, "events").len(), 2);
}

#[tokio::test]
async fn a_crash_during_compaction_changes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let (log, sink, sent) = five_rounds(dir.path(), test_config()).await;
    drop(sink);
    let lake_dir = dir.path().join("lake");
    let (lake, _) = FailingStore::lake(&lake_dir, 0);
    let sink = LakeSink::with_lake(lake, test_config())
        .await
        .expect("sink");
    sink.compact().await.expect_err("crash at the commit");
    assert_eq!(
        parquet_files(&lake_dir, "events").len(),
        12,
        "outputs written, not committed"
    );
    assert_eq!(committed_keys(&lake_dir).await, expected_keys(&sent));
    drop(sink);
    let sink = LakeSink::with_lake(Lake::local(&lake_dir).expect("lake"), test_config())
        .await
        .expect("reopen");
    assert_eq!(
        parquet_files(&lake_dir, "events").len(),
        10,
        "orphans deleted"
    );
    sink.compact().await.expect("compact");
    assert_eq!(committed_keys(&lake_dir).await, expected_keys(&sent));
    assert_eq!(sink.run_once(&*log).await.expect("run").records, 0);
}

#[tokio::test]
async fn retention_drops_old_partitions_only() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = open_log(&dir.path().join("log"));
    log.create_topic("events", 1).expect("topic");
    log.create_topic("events.dead-letter", 1).expect("topic");
    // One event per day, D0-9 .. D0.
    let evs: Vec<_> = (0..10)
        .map(|d| view(d, D0 - DAY * (9 - d as i64) + 5))
        .collect();
    append(&*log, &evs).await;
    for d in [0, 9] {
        let v = json!({"received_at": tailor_event::time::format_ms(D0 - DAY * (9 - d)), "reason": "r", "raw": "x"});
        log.append(
            "events.dead-letter",
            vec![Record::new("", v.to_string(), 0)],
        )
        .await
        .expect("dl");
    }
    let lake_dir = dir.path().join("lake");
    let config = LakeConfig {
        retention_days: 3,
        ..test_config()
    };
    let sink = LakeSink::with_lake(Lake::local(&lake_dir).expect("lake"), config)
        .await
        .expect("sink");
    sink.run_once(&*log).await.expect("run");
    // Now is D0 12:00: days before D0-3 go, D0-3 ..= D0 stay.
    let stats = sink.apply_retention(D0 + DAY / 2).await.expect("retention");
    assert_eq!((stats.partitions, stats.files), (7, 7));
    let m = manifest(&lake_dir).await;
    let mut days: Vec<&str> = m.files.iter().map(|f| f.dt.as_str()).collect();
    days.sort();
    assert_eq!(
        days,
        [
            "2026-01-12",
            "2026-01-13",
            "2026-01-14",
            "2026-01-15",
            "2026-01-15"
        ],
        "4 event days and the newer dead letter"
    );
    assert_eq!(parquet_files(&lake_dir, "events").len(), 4);
    assert_eq!(parquet_files(&lake_dir, "dead_letters").len(), 1);
    let expect = expected_keys(&evs[6..]);
    assert_eq!(committed_keys(&lake_dir).await, expect);
    // The log is not read again for the dropped days.
    assert_eq!(sink.run_once(&*log).await.expect("run").records, 0);
    assert_eq!(
        sink.apply_retention(D0 + DAY / 2)
            .await
            .expect("again")
            .files,
        0
    );
}

#[tokio::test]
async fn the_running_sink_leaves_open_partitions_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    let (_log, sink, sent) = five_rounds(dir.path(), test_config()).await;
    // Hour 00 has ended at D0 + 1h, hour 01 has not.
    let stats = sink
        .compact_closed_before(D0 + 3_600_000)
        .await
        .expect("compact");
    assert_eq!((stats.partitions, stats.files_in), (1, 5));
    let m = sink.manifest().await;
    let hours: Vec<(Option<u8>, bool)> = m
        .files_of(Table::Events)
        .map(|f| (f.hour, f.path.contains("/c-")))
        .collect();
    assert_eq!(hours.iter().filter(|(h, c)| *h == Some(0) && *c).count(), 1);
    assert_eq!(
        hours.iter().filter(|(h, c)| *h == Some(1) && !*c).count(),
        5
    );
    assert_eq!(
        committed_keys(&dir.path().join("lake")).await,
        expected_keys(&sent)
    );
}
