//! Helpers shared by the scenario tests, and backend-neutral scenarios written against
//! `dyn Log` so every backend runs the same checks.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tailor_log::{
    partition_for_key, EmbeddedLog, EmbeddedOptions, Error, Log, Record, StoredRecord,
};

pub fn opts(segment_bytes: u64) -> EmbeddedOptions {
    EmbeddedOptions {
        segment_bytes,
        ..EmbeddedOptions::default()
    }
}

pub fn open(dir: &Path, opts: EmbeddedOptions) -> Arc<EmbeddedLog> {
    EmbeddedLog::open(dir, opts).expect("open embedded log")
}

pub fn rec(key: &str, value: &str) -> Record {
    Record::new(
        Bytes::copy_from_slice(key.as_bytes()),
        Bytes::copy_from_slice(value.as_bytes()),
        1_700_000_000_000,
    )
}

/// Every record of a partition from its start offset, in `max`-sized reads.
pub fn read_all(log: &dyn Log, topic: &str, partition: u32, max: usize) -> Vec<StoredRecord> {
    let mut out = Vec::new();
    let mut next = log.start_offset(topic, partition).expect("start offset");
    let end = log.end_offset(topic, partition).expect("end offset");
    while next < end {
        let batch = log.read(topic, partition, next, max).expect("read");
        assert!(
            !batch.is_empty(),
            "read at {next} < end {end} returned nothing"
        );
        next = batch.last().expect("non-empty").offset + 1;
        out.extend(batch);
    }
    out
}

/// Segment files of a partition, ascending.
pub fn segment_files(dir: &Path, topic: &str, partition: u32) -> Vec<PathBuf> {
    let pdir = dir.join("topics").join(topic).join(partition.to_string());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&pdir)
        .expect("partition dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

/// Appends across partitions (with headers) come back identical, routed by murmur2, with
/// consecutive offsets per partition, whatever the read size.
pub async fn round_trip(log: Arc<dyn Log>) {
    log.create_topic("events", 4).expect("create topic");
    let mut sent: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
    for batch in 0..20 {
        let records: Vec<Record> = (0..25)
            .map(|i| {
                let mut r = rec(
                    &format!("user-{}", (batch * 7 + i) % 37),
                    &format!("{{\"batch\":{batch},\"i\":{i}}}"),
                );
                // Real epoch times: Kafka reads a zero timestamp as "now".
                r.timestamp_ms = 1_700_000_000_000 + batch * 1000 + i;
                if i % 3 == 0 {
                    r.headers.push((
                        "content-type".into(),
                        Bytes::from_static(b"application/json"),
                    ));
                    r.headers
                        .push(("trace".into(), Bytes::from(format!("t{batch}-{i}"))));
                }
                r
            })
            .collect();
        let acks = log.append("events", records.clone()).await.expect("append");
        assert_eq!(acks.len(), records.len());
        for (r, a) in records.into_iter().zip(acks) {
            assert_eq!(
                a.partition,
                partition_for_key(&r.key, 4),
                "routed by murmur2"
            );
            let list = sent.entry(a.partition).or_default();
            assert_eq!(
                a.offset,
                list.len() as u64,
                "offsets are consecutive per partition"
            );
            list.push(r);
        }
    }
    for p in 0..4 {
        let want = sent.remove(&p).unwrap_or_default();
        assert_eq!(log.end_offset("events", p).expect("end"), want.len() as u64);
        for max in [1, 7, 1000] {
            let got = read_all(&*log, "events", p, max);
            assert_eq!(got.len(), want.len());
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!((&*g.topic, g.partition, g.offset), ("events", p, i as u64));
                assert_eq!(
                    (&g.key, &g.value, g.timestamp_ms, &g.headers),
                    (&w.key, &w.value, w.timestamp_ms, &w.headers)
                );
            }
        }
        // Reads from the middle, and the edges of the range.
        let end = log.end_offset("events", p).expect("end");
        if end > 3 {
            let mid = log.read("events", p, end / 2, 3).expect("read middle");
            assert_eq!(
                mid.iter().map(|r| r.offset).collect::<Vec<_>>(),
                (end / 2..end / 2 + 3).collect::<Vec<_>>()
            );
        }
        assert!(log
            .read("events", p, end, 10)
            .expect("read at end")
            .is_empty());
        assert!(matches!(
            log.read("events", p, end + 1, 10),
            Err(Error::OffsetOutOfRange { .. })
        ));
    }
}

/// Many tasks append concurrently: every acknowledged record is readable exactly once, and
/// each task's records keep their order within a partition.
pub async fn concurrent_appends(
    log: Arc<dyn Log>,
    partitions: u32,
    tasks: usize,
    appends: usize,
    per_append: usize,
) {
    log.create_topic("events", partitions)
        .expect("create topic");
    let mut handles = Vec::new();
    for t in 0..tasks {
        let log = Arc::clone(&log);
        handles.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for a in 0..appends {
                let records: Vec<Record> = (0..per_append)
                    .map(|i| {
                        rec(
                            &format!("user-{}", (t * 31 + a * 7 + i) % 101),
                            &format!("{t}/{a}/{i}"),
                        )
                    })
                    .collect();
                let values: Vec<Bytes> = records.iter().map(|r| r.value.clone()).collect();
                loop {
                    match log.append("events", records.clone()).await {
                        Ok(acks) => {
                            acked.extend(acks.into_iter().zip(values.iter().cloned()));
                            break;
                        }
                        Err(Error::Backpressure) => {
                            tokio::time::sleep(Duration::from_millis(1)).await
                        }
                        Err(e) => panic!("append failed: {e}"),
                    }
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for h in handles {
        acked.extend(h.await.expect("task"));
    }
    assert_eq!(acked.len(), tasks * appends * per_append);
    let mut seen = HashSet::new();
    let mut total = 0;
    for p in 0..partitions {
        let records = read_all(&*log, "events", p, 500);
        let mut last_seq_of_task: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.offset, i as u64);
            let v = String::from_utf8(r.value.to_vec()).expect("utf8");
            assert!(seen.insert(v.clone()), "record {v} stored twice");
            let mut parts = v.split('/').map(|x| x.parse::<usize>().expect("number"));
            let (t, a, i) = (
                parts.next().expect("t"),
                parts.next().expect("a"),
                parts.next().expect("i"),
            );
            if let Some(prev) = last_seq_of_task.insert(t.to_string(), (a, i)) {
                assert!(
                    prev < (a, i),
                    "task {t}'s records out of order in partition {p}"
                );
            }
        }
        total += records.len();
    }
    assert_eq!(total, acked.len());
    for (ack, value) in acked {
        let got = log
            .read("events", ack.partition, ack.offset, 1)
            .expect("read acked");
        assert_eq!(got[0].value, value, "ack {ack:?} points at its record");
    }
}

/// `wait_for` wakes when a record lands and times out otherwise.
pub async fn wait_for_wakes_and_times_out(log: Arc<dyn Log>) {
    log.create_topic("events", 1).expect("create topic");
    assert!(
        !log.wait_for("events", 0, 0, Duration::from_millis(30))
            .await,
        "nothing written yet"
    );
    let waiter = tokio::spawn(log.wait_for("events", 0, 0, Duration::from_secs(30)));
    let acks = log
        .append("events", vec![rec("k", "v")])
        .await
        .expect("append");
    assert_eq!(acks[0].offset, 0);
    assert!(waiter.await.expect("waiter task"), "woken by the append");
    assert!(
        log.wait_for("events", 0, 0, Duration::from_millis(1)).await,
        "already past"
    );
    assert!(
        !log.wait_for("events", 0, 1, Duration::from_millis(30))
            .await,
        "offset 1 not written"
    );
    assert!(
        !log.wait_for("nope", 0, 0, Duration::from_secs(30)).await,
        "unknown topic"
    );
    assert!(
        !log.wait_for("events", 9, 0, Duration::from_secs(30)).await,
        "unknown partition"
    );
}

/// Topic and group names that could escape the directory are refused, as are other misuses.
pub async fn rejects_bad_names_and_misuse(log: Arc<dyn Log>) {
    for bad in [
        "", ".", "..", "../etc", "a/b", "a\\b", "sp ace", "ünï", "x\0y",
    ] {
        assert!(
            matches!(log.create_topic(bad, 1), Err(Error::InvalidName { .. })),
            "topic {bad:?}"
        );
    }
    assert!(matches!(
        log.create_topic(&"x".repeat(201), 1),
        Err(Error::InvalidName { .. })
    ));
    log.create_topic("events", 2).expect("create");
    log.create_topic("events", 2).expect("idempotent");
    assert!(matches!(
        log.create_topic("events", 3),
        Err(Error::TopicExists {
            existing: 2,
            requested: 3,
            ..
        })
    ));
    assert!(matches!(
        log.create_topic("zero", 0),
        Err(Error::InvalidPartitionCount(0))
    ));
    for bad in ["", "..", "../../etc/passwd", "g/h"] {
        assert!(
            matches!(
                log.commit(bad, "events", 0, 1),
                Err(Error::InvalidName { .. })
            ),
            "group {bad:?}"
        );
        assert!(
            matches!(
                log.committed(bad, "events", 0),
                Err(Error::InvalidName { .. })
            ),
            "group {bad:?}"
        );
    }
    assert!(matches!(
        log.append("missing", vec![rec("k", "v")]).await,
        Err(Error::UnknownTopic(_))
    ));
    assert!(matches!(
        log.read("events", 2, 0, 1),
        Err(Error::UnknownPartition { .. })
    ));
    assert!(matches!(
        log.end_offset("missing", 0),
        Err(Error::UnknownTopic(_))
    ));
    assert!(log
        .append("events", Vec::new())
        .await
        .expect("empty append")
        .is_empty());
    let names: Vec<_> = log
        .topics()
        .into_iter()
        .map(|t| (t.name, t.partitions))
        .collect();
    assert_eq!(names, vec![("events".to_string(), 2)]);
}

/// Committed offsets are per group, topic and partition, and can move backwards (a reset).
pub async fn commits(log: Arc<dyn Log>) {
    log.create_topic("events", 2).expect("create");
    assert_eq!(log.committed("g1", "events", 0).expect("committed"), None);
    log.commit("g1", "events", 0, 5).expect("commit");
    log.commit("g1", "events", 1, 9).expect("commit");
    log.commit("g2", "events", 0, 1).expect("commit");
    log.commit("g1", "events", 0, 3).expect("commit");
    assert_eq!(
        log.committed("g1", "events", 0).expect("committed"),
        Some(3)
    );
    assert_eq!(
        log.committed("g1", "events", 1).expect("committed"),
        Some(9)
    );
    assert_eq!(
        log.committed("g2", "events", 0).expect("committed"),
        Some(1)
    );
    assert_eq!(log.committed("g2", "events", 1).expect("committed"), None);
    assert!(matches!(
        log.commit("g1", "missing", 0, 1),
        Err(Error::UnknownTopic(_))
    ));
}

/// Start positions of the frames of a segment file (walking the length fields).
pub fn open_frames(path: &Path) -> Vec<u64> {
    let bytes = std::fs::read(path).expect("read segment");
    let mut at = 0usize;
    let mut out = Vec::new();
    while at + 8 <= bytes.len() {
        out.push(at as u64);
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        at += 8 + len;
    }
    out
}
