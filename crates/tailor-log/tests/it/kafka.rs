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

/// Polls every member until `done` holds of their assignments (or panics after 60 s),
/// returning them.
fn poll_until(
    members: &[&dyn tailor_log::Membership],
    done: impl Fn(&[Vec<u32>]) -> bool,
) -> Vec<Vec<u32>> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        for m in members {
            m.poll(Duration::from_millis(100)).expect("poll");
        }
        let now: Vec<Vec<u32>> = members.iter().map(|m| m.assigned()).collect();
        if done(&now) {
            return now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the group did not settle: {now:?}"
        );
    }
}

/// Two members of one group share the topic's partitions, each partition owned by one;
/// partitions taken from the first reach its revoke hook before the second gets them; when
/// one leaves, the other owns everything. The embedded log has no groups and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_members_share_partitions_and_hand_them_over() {
    let log = kafka(options());
    log.create_topic("events", 4).expect("topic");
    let revoked = Arc::new(parking_lot::Mutex::new(Vec::<u32>::new()));
    let hook = {
        let revoked = revoked.clone();
        Arc::new(move |ps: &[u32]| {
            revoked.lock().extend_from_slice(ps);
            Vec::new()
        }) as tailor_log::RevokeHook
    };
    let session = Duration::from_secs(6);
    let a = log
        .join_group("procs", "events", session, hook)
        .expect("join a");
    let all = poll_until(&[a.as_ref()], |n| n[0].len() == 4);
    assert_eq!(all[0], vec![0, 1, 2, 3]);
    assert_eq!(a.rebalances(), 1);

    let b = log
        .join_group("procs", "events", session, Arc::new(|_: &[u32]| Vec::new()))
        .expect("join b");
    let split = poll_until(&[a.as_ref(), b.as_ref()], |n| {
        !n[0].is_empty() && !n[1].is_empty() && n[0].len() + n[1].len() == 4
    });
    let mut union: Vec<u32> = split.concat();
    union.sort_unstable();
    assert_eq!(
        union,
        vec![0, 1, 2, 3],
        "each partition owned once: {split:?}"
    );
    // A member commits the offsets of what it owns, in the group's name.
    let mine = split[0][0];
    a.commit(&[(mine, 7)]).expect("commit as a member");
    assert_eq!(
        log.committed("procs", "events", mine).expect("committed"),
        Some(7)
    );
    assert!(
        split[1].iter().all(|p| revoked.lock().contains(p)),
        "what b got, a gave up through its hook first: {split:?}, revoked {:?}",
        revoked.lock()
    );

    a.leave();
    let after = poll_until(&[b.as_ref()], |n| n[0].len() == 4);
    assert_eq!(after[0], vec![0, 1, 2, 3]);
    b.leave();

    let dir = tempfile::tempdir().expect("tmp");
    let embedded = tailor_log::EmbeddedLog::open(dir.path(), Default::default()).expect("open");
    let err = embedded
        .join_group("procs", "events", session, Arc::new(|_: &[u32]| Vec::new()))
        .err()
        .expect("no groups on the embedded log");
    assert!(err.to_string().contains("kafka://"), "{err}");
}
