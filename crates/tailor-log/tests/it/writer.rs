//! Embedded writer behaviour: backpressure from the bounded queue, limits, and rollback of a
//! group whose I/O failed.

use crate::common;

use std::sync::Arc;

use bytes::Bytes;
use tailor_log::{EmbeddedOptions, Error, Log, Record};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_answers_backpressure_and_acks_stay_readable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = EmbeddedOptions {
        queue_capacity: 1,
        ..EmbeddedOptions::default()
    };
    let log = common::open(dir.path(), opts);
    log.create_topic("events", 4).expect("create");
    let value = Bytes::from(vec![b'v'; 8 * 1024]);
    // Queue far more than the writer can take while it writes and fsyncs ~1 MB per request.
    let futures: Vec<_> = (0..200)
        .map(|n| {
            let records = (0..100)
                .map(|i| Record::new(format!("user-{n}-{i}"), value.clone(), n))
                .collect();
            log.append("events", records)
        })
        .collect();
    let mut ok = Vec::new();
    let mut backpressure = 0;
    for f in futures {
        match f.await {
            Ok(acks) => ok.extend(acks),
            Err(Error::Backpressure) => backpressure += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(
        backpressure > 0,
        "a queue of 1 must refuse some of 200 immediate appends"
    );
    assert!(!ok.is_empty());
    let total: u64 = (0..4)
        .map(|p| log.end_offset("events", p).expect("end"))
        .sum();
    assert_eq!(
        total,
        ok.len() as u64,
        "refused appends left nothing behind"
    );
    for a in ok {
        let r = log
            .read("events", a.partition, a.offset, 1)
            .expect("read acked");
        assert_eq!(r[0].value, value);
    }
}

#[tokio::test]
async fn limits_are_enforced_before_queuing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = EmbeddedOptions {
        max_records_per_append: 3,
        ..EmbeddedOptions::default()
    };
    let log = common::open(dir.path(), opts);
    log.create_topic("t", 1).expect("create");
    let four = (0..4).map(|i| common::rec("k", &i.to_string())).collect();
    assert!(matches!(
        log.append("t", four).await,
        Err(Error::TooManyRecords { count: 4, max: 3 })
    ));
    let huge = Record::new("k", vec![0u8; 65 * 1024 * 1024], 0);
    assert!(matches!(
        log.append("t", vec![huge]).await,
        Err(Error::RecordTooLarge { .. })
    ));
    assert_eq!(log.end_offset("t", 0).expect("end"), 0);
}

#[tokio::test]
async fn failed_group_is_rolled_back_and_writing_continues() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = common::open(dir.path(), common::opts(400));
    log.create_topic("t", 1).expect("create");
    let first: Vec<Record> = (0..3)
        .map(|i| common::rec("k", &format!("first-{i}")))
        .collect();
    log.append("t", first.clone()).await.expect("append");
    let end = log.end_offset("t", 0).expect("end");
    let size_before: u64 = common::segment_files(dir.path(), "t", 0)
        .iter()
        .map(|p| std::fs::metadata(p).expect("metadata").len())
        .sum();

    // The next roll must create segment `<end + k>.log` for some k; squat every candidate name
    // with a directory so segment creation fails inside the group.
    let pdir = dir.path().join("topics/t/0");
    let squatted: Vec<_> = (end..end + 20)
        .map(|b| pdir.join(format!("{b:020}.log")))
        .collect();
    for p in &squatted {
        std::fs::create_dir(p).expect("squat");
    }
    let big: Vec<Record> = (0..10)
        .map(|i| common::rec("k", &format!("big-{i}-{}", "x".repeat(100))))
        .collect();
    match log.append("t", big.clone()).await {
        Err(Error::Io { .. }) => {}
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert_eq!(
        log.end_offset("t", 0).expect("end"),
        end,
        "nothing of the failed group is visible"
    );
    let size_after: u64 = common::segment_files(dir.path(), "t", 0)
        .iter()
        .filter(|p| p.is_file())
        .map(|p| std::fs::metadata(p).expect("metadata").len())
        .sum();
    assert_eq!(
        size_after, size_before,
        "the failed group's bytes were truncated away"
    );

    for p in &squatted {
        std::fs::remove_dir(p).expect("unsquat");
    }
    let acks = log
        .append("t", big.clone())
        .await
        .expect("append after the failure");
    assert_eq!(
        acks[0].offset, end,
        "offsets continue where the durable log ended"
    );
    let all = common::read_all(&*log, "t", 0, 100);
    let want: Vec<Bytes> = first.iter().chain(&big).map(|r| r.value.clone()).collect();
    assert_eq!(
        all.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
        want
    );
    drop(all);
    drop(log);
    let log = common::open(dir.path(), common::opts(400));
    assert_eq!(log.end_offset("t", 0).expect("end"), end + 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_without_fsync_are_readable_and_survive_close() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = EmbeddedOptions {
        fsync: false,
        ..EmbeddedOptions::default()
    };
    let log: Arc<dyn Log> = common::open(dir.path(), opts.clone());
    common::concurrent_appends(Arc::clone(&log), 4, 8, 10, 100).await;
    log.close().expect("close");
    drop(log);
    let log = common::open(dir.path(), opts);
    let total: u64 = (0..4)
        .map(|p| log.end_offset("events", p).expect("end"))
        .sum();
    assert_eq!(total, 8 * 10 * 100);
}
