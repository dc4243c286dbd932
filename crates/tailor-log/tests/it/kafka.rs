//! The backend-neutral scenarios of `common`, run against a real Kafka-protocol broker.
//!
//! The broker's address comes from `TAILOR_TEST_KAFKA` (`host:port`); the test command
//! (`scripts/test.sh`) starts one (tansu) on a free loopback port and sets it. Without it
//! these tests fail and say so: a backend that was never exercised is not tested.

use crate::common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tailor_log::{Error, KafkaLog, KafkaOptions, Log};

fn broker() -> String {
    std::env::var("TAILOR_TEST_KAFKA").unwrap_or_else(|_| {
        panic!(
            "TAILOR_TEST_KAFKA is not set: run the test command (make test), which starts a \
             Kafka-protocol broker, or start one yourself (e.g. `tansu broker --storage-engine \
             memory://tansu/ --listener-url tcp://127.0.0.1:9092 --advertised-listener-url \
             tcp://127.0.0.1:9092`) and set TAILOR_TEST_KAFKA=127.0.0.1:9092"
        )
    })
}

/// A fresh namespace of topics for one test: `kafka://broker/t<unique>`.
fn options() -> KafkaOptions {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    let topic = format!(
        "t{nanos:x}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let mut o = KafkaOptions::from_url(&format!("kafka://{}/{topic}", broker())).expect("url");
    o.replication_factor = 1;
    one_record_per_batch(&mut o);
    o
}

/// tansu 0.6 (the test broker) reports a partition's high watermark as the last batch's
/// base offset + 1, not its last offset + 1: with several records per produced batch the
/// end offset lags what was acknowledged. Real Kafka does not; the tests send one record
/// per batch so the broker's offsets are right and everything else is exercised as is.
pub fn one_record_per_batch(o: &mut KafkaOptions) {
    o.properties.insert("batch.num.messages".into(), "1".into());
}

fn kafka(opts: KafkaOptions) -> Arc<dyn Log> {
    KafkaLog::open(opts).expect("connect to the test broker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip() {
    common::round_trip(kafka(options())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_from_many_tasks() {
    common::concurrent_appends(kafka(options()), 4, 8, 10, 50).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_with_a_tiny_producer_queue() {
    let opts = KafkaOptions {
        max_queued_records: 60,
        ..options()
    };
    common::concurrent_appends(kafka(opts), 3, 8, 10, 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_wakes_and_times_out() {
    common::wait_for_wakes_and_times_out(kafka(options())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_bad_names_and_misuse() {
    common::rejects_bad_names_and_misuse(kafka(options())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits() {
    let opts = options();
    // Group names are cluster-wide: keep this run's apart from earlier runs' on a
    // long-lived broker by using a fresh topic namespace (offsets are per topic).
    common::commits(kafka(opts)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_does_not_fit_the_queue_is_refused_whole() {
    let opts = KafkaOptions {
        max_queued_records: 10,
        ..options()
    };
    let log = kafka(opts);
    log.create_topic("events", 1).expect("create");
    let too_many: Vec<_> = (0..11).map(|i| common::rec("k", &i.to_string())).collect();
    assert!(matches!(
        log.append("events", too_many).await,
        Err(Error::Backpressure)
    ));
    assert_eq!(
        log.end_offset("events", 0).expect("end"),
        0,
        "nothing queued"
    );
    let fits: Vec<_> = (0..10).map(|i| common::rec("k", &i.to_string())).collect();
    assert_eq!(log.append("events", fits).await.expect("append").len(), 10);
    assert_eq!(log.end_offset("events", 0).expect("end"), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_client_sees_the_same_topics_records_and_offsets() {
    let opts = options();
    let writer = kafka(opts.clone());
    writer.create_topic("events", 3).expect("create");
    let records: Vec<_> = (0..30)
        .map(|i| common::rec(&format!("user-{i}"), &format!("v{i}")))
        .collect();
    writer.append("events", records).await.expect("append");
    writer.commit("live", "events", 1, 2).expect("commit");
    writer.close().expect("close");
    assert!(matches!(
        writer.append("events", vec![common::rec("k", "v")]).await,
        Err(Error::Closed)
    ));

    let reader = kafka(opts);
    assert_eq!(reader.partitions("events").expect("partitions"), 3);
    let total: usize = (0..3)
        .map(|p| common::read_all(&*reader, "events", p, 100).len())
        .sum();
    assert_eq!(total, 30);
    assert_eq!(
        reader.committed("live", "events", 1).expect("committed"),
        Some(2)
    );
    // A tailing read waits for what comes next.
    let w = tokio::spawn(reader.wait_for("events", 0, 1_000, Duration::from_millis(200)));
    assert!(!w.await.expect("task"));
}
