//! `EmbeddedLog::open_read_only`: a snapshot of a log another process writes, that takes no
//! lock, changes nothing on disk, and refuses writes.

use crate::common;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tailor_log::{EmbeddedLog, EmbeddedOptions, Error, Log, Record};

/// Append `n` records to the single partition of topic "t", one per append.
async fn fill(log: &dyn Log, from: usize, n: usize) -> Vec<Record> {
    let mut sent = Vec::new();
    for i in from..from + n {
        let r = common::rec("same-key", &format!("value-{i:04}-{}", "y".repeat(i % 11)));
        let acks = log.append("t", vec![r.clone()]).await.expect("append");
        assert_eq!(acks[0].offset, i as u64);
        sent.push(r);
    }
    sent
}

fn values(log: &dyn Log, topic: &str, partition: u32) -> Vec<Vec<u8>> {
    common::read_all(log, topic, partition, 7)
        .into_iter()
        .map(|r| r.value.to_vec())
        .collect()
}

fn sent_values(sent: &[Record]) -> Vec<Vec<u8>> {
    sent.iter().map(|r| r.value.to_vec()).collect()
}

/// Every file under `dir` with its length and contents.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                out.insert(path.clone(), Vec::new());
                stack.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

fn read_only(dir: &Path) -> std::sync::Arc<EmbeddedLog> {
    EmbeddedLog::open_read_only(dir).expect("open read-only")
}

#[tokio::test]
async fn sees_what_a_live_writer_wrote_and_refuses_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = common::open(dir.path(), common::opts(400));
    writer.create_topic("t", 1).expect("create");
    writer.create_topic("multi", 3).expect("create");
    let sent = fill(&*writer, 0, 25).await;
    let keyed: Vec<Record> = (0..30)
        .map(|i| common::rec(&format!("k{i}"), &format!("m{i}")))
        .collect();
    writer.append("multi", keyed).await.expect("append");
    writer.commit("readers", "t", 0, 11).expect("commit");
    assert!(
        common::segment_files(dir.path(), "t", 0).len() > 2,
        "rolled"
    );

    // The writer still holds the LOCK; the read-only open does not need it.
    let before = tree(dir.path());
    let ro = read_only(dir.path());
    assert!(ro.is_read_only() && !writer.is_read_only());
    assert_eq!(ro.topics(), writer.topics());
    assert_eq!(ro.partitions("multi").expect("partitions"), 3);
    for p in 0..3 {
        assert_eq!(
            ro.end_offset("multi", p).expect("end"),
            writer.end_offset("multi", p).expect("end")
        );
        assert_eq!(values(&*ro, "multi", p), values(&*writer, "multi", p));
    }
    assert_eq!(ro.start_offset("t", 0).expect("start"), 0);
    assert_eq!(ro.end_offset("t", 0).expect("end"), 25);
    assert_eq!(values(&*ro, "t", 0), sent_values(&sent));
    let mid = ro.read("t", 0, 13, 3).expect("read");
    assert_eq!(
        mid.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![13, 14, 15]
    );
    assert_eq!(
        ro.committed("readers", "t", 0).expect("committed"),
        Some(11)
    );
    assert_eq!(ro.committed("nobody", "t", 0).expect("committed"), None);
    assert!(matches!(
        ro.read("t", 0, 26, 1),
        Err(Error::OffsetOutOfRange { end: 25, .. })
    ));

    // Writes are refused with an error that says what to do.
    match ro.append("t", vec![common::rec("k", "v")]).await {
        Err(e @ Error::ReadOnly { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
            assert!(
                msg.contains("read-only") && msg.contains("tailor serve"),
                "{msg}"
            );
        }
        other => panic!("expected ReadOnly, got {other:?}"),
    }
    assert!(matches!(
        ro.append("t", Vec::new()).await,
        Err(Error::ReadOnly { .. })
    ));
    assert!(matches!(
        ro.commit("readers", "t", 0, 20),
        Err(Error::ReadOnly { .. })
    ));
    assert!(matches!(
        ro.create_topic("new", 1),
        Err(Error::ReadOnly { .. })
    ));
    ro.create_topic("t", 1).expect("an existing topic is fine");
    assert!(matches!(
        ro.create_topic("t", 2),
        Err(Error::TopicExists { .. })
    ));
    assert!(matches!(
        ro.read("nope", 0, 0, 1),
        Err(Error::UnknownTopic(_))
    ));

    // wait_for answers from the snapshot.
    assert!(ro.wait_for("t", 0, 24, Duration::from_secs(5)).await);
    assert!(
        !ro.wait_for("t", 0, 25, Duration::from_millis(20)).await,
        "a snapshot never grows"
    );

    assert_eq!(
        tree(dir.path()),
        before,
        "the read-only view changed nothing"
    );

    // The writer is unaffected and keeps going; the snapshot does not move, a new one does.
    let more = fill(&*writer, 25, 4).await;
    assert_eq!(ro.end_offset("t", 0).expect("end"), 25);
    assert_eq!(values(&*ro, "t", 0), sent_values(&sent));
    let ro2 = read_only(dir.path());
    let mut all = sent;
    all.extend(more);
    assert_eq!(values(&*ro2, "t", 0), sent_values(&all));
    assert_eq!(
        ro2.committed("readers", "t", 0).expect("committed"),
        Some(11)
    );

    ro.close().expect("close is a no-op");
    ro.close().expect("close is a no-op");
    assert_eq!(values(&*ro, "t", 0).len(), 25, "reads work after close");
    writer.close().expect("close");
}

#[tokio::test]
async fn a_torn_tail_is_left_on_disk_and_not_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = common::open(dir.path(), EmbeddedOptions::default());
    writer.create_topic("t", 1).expect("create");
    let sent = fill(&*writer, 0, 10).await;
    let seg = common::segment_files(dir.path(), "t", 0)
        .pop()
        .expect("a segment");
    let bytes = std::fs::read(&seg).expect("read");
    let frames = common::open_frames(&seg);
    let last = frames[9] as usize;
    // A writer caught mid-write: the first half of a frame after the last whole one.
    let half = &bytes[last..last + (bytes.len() - last) / 2];
    OpenOptions::new()
        .append(true)
        .open(&seg)
        .expect("open")
        .write_all(half)
        .expect("write");
    let before = std::fs::read(&seg).expect("read");

    let ro = read_only(dir.path());
    assert_eq!(ro.end_offset("t", 0).expect("end"), 10);
    assert_eq!(values(&*ro, "t", 0), sent_values(&sent));
    assert!(matches!(
        ro.read("t", 0, 11, 1),
        Err(Error::OffsetOutOfRange { .. })
    ));
    drop(ro);
    assert_eq!(
        std::fs::read(&seg).expect("read"),
        before,
        "the torn tail is still there"
    );

    // A damaged last frame is not served either, and not repaired.
    writer.close().expect("close");
    drop(writer);
    let mut damaged = before.clone();
    damaged[bytes.len() - 2] ^= 0xff;
    std::fs::write(&seg, &damaged).expect("write");
    let before = tree(dir.path());
    let ro = read_only(dir.path());
    assert_eq!(ro.end_offset("t", 0).expect("end"), 9);
    assert_eq!(values(&*ro, "t", 0), sent_values(&sent[..9]));
    drop(ro);
    assert_eq!(tree(dir.path()), before);
}

#[tokio::test]
async fn corruption_in_a_sealed_segment_is_quarantined_without_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = common::open(dir.path(), common::opts(200));
    writer.create_topic("t", 1).expect("create");
    fill(&*writer, 0, 20).await;
    writer.close().expect("close");
    drop(writer);
    let files = common::segment_files(dir.path(), "t", 0);
    assert!(files.len() > 2, "several segments");
    let mut bytes = std::fs::read(&files[0]).expect("read");
    let n = bytes.len();
    bytes[n - 2] ^= 0xff;
    std::fs::write(&files[0], &bytes).expect("write");
    let ro = read_only(dir.path());
    assert_eq!(ro.end_offset("t", 0).expect("end"), 20);
    // Quarantined (placeholders, consecutive offsets) without writing anything.
    let all = ro.read("t", 0, 0, 100).expect("read past the damage");
    assert_eq!(all.len(), 20);
    assert!(all
        .iter()
        .any(|r| r.headers.iter().any(|(k, _)| k == "tailor-quarantined")));
    assert_eq!(std::fs::read(&files[0]).expect("read"), bytes);
    assert!(!files[0]
        .parent()
        .expect("dir")
        .join("quarantine.json")
        .exists());
}

#[tokio::test]
async fn an_empty_segment_after_a_roll_is_skipped_not_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = common::open(dir.path(), EmbeddedOptions::default());
    writer.create_topic("t", 1).expect("create");
    let sent = fill(&*writer, 0, 5).await;
    writer.close().expect("close");
    drop(writer);
    let pdir = dir.path().join("topics/t/0");
    std::fs::write(pdir.join(format!("{:020}.log", 5)), b"").expect("empty segment");
    let before = tree(dir.path());
    let ro = read_only(dir.path());
    assert_eq!(ro.end_offset("t", 0).expect("end"), 5);
    assert_eq!(values(&*ro, "t", 0), sent_values(&sent));
    drop(ro);
    assert_eq!(tree(dir.path()), before);
}

#[tokio::test]
async fn no_lock_is_taken_or_created() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let writer = common::open(dir.path(), EmbeddedOptions::default());
        writer.create_topic("t", 1).expect("create");
        fill(&*writer, 0, 3).await;
    }
    std::fs::remove_file(dir.path().join("LOCK")).expect("remove LOCK");
    std::fs::remove_dir(dir.path().join("groups")).expect("remove empty groups");
    let ro = read_only(dir.path());
    assert_eq!(ro.end_offset("t", 0).expect("end"), 3);
    assert_eq!(ro.committed("g", "t", 0).expect("committed"), None);
    assert!(!dir.path().join("LOCK").exists());
    assert!(!dir.path().join("groups").exists());
    // A writer can open the directory while the read-only view is open.
    let writer = common::open(dir.path(), EmbeddedOptions::default());
    fill(&*writer, 3, 1).await;
    assert_eq!(ro.end_offset("t", 0).expect("end"), 3);
}

#[test]
fn a_missing_or_empty_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("does-not-exist");
    match EmbeddedLog::open_read_only(&missing) {
        Err(e @ Error::NoLog { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(&missing.display().to_string()), "{msg}");
            assert!(
                msg.contains("tailor serve") && msg.contains("--data-dir"),
                "{msg}"
            );
        }
        other => panic!("expected NoLog, got {other:?}"),
    }
    assert!(!missing.exists(), "nothing is created");

    assert!(matches!(
        EmbeddedLog::open_read_only(dir.path()),
        Err(Error::NoLog { .. })
    ));
    std::fs::create_dir_all(dir.path().join("topics/unfinished/0")).expect("dirs");
    assert!(matches!(
        EmbeddedLog::open_read_only(dir.path()),
        Err(Error::NoLog { .. })
    ));
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").expect("write");
    assert!(matches!(
        EmbeddedLog::open_read_only(&file),
        Err(Error::NoLog { .. })
    ));
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(entries.len(), 2, "only what the test made: {entries:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_taken_while_the_writer_appends_and_rolls_are_consistent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let writer = common::open(
        dir.path(),
        EmbeddedOptions {
            fsync: false,
            ..common::opts(600)
        },
    );
    writer.create_topic("t", 1).expect("create");
    let appending = {
        let writer = std::sync::Arc::clone(&writer);
        tokio::spawn(async move { fill(&*writer, 0, 400).await })
    };
    let mut last_end = 0;
    let mut snapshots = 0;
    while !appending.is_finished() || snapshots == 0 {
        let ro = read_only(dir.path());
        let end = ro.end_offset("t", 0).expect("end");
        assert!(end >= last_end, "snapshots only grow: {end} < {last_end}");
        let got = common::read_all(&*ro, "t", 0, 50);
        assert_eq!(got.len() as u64, end);
        for (i, r) in got.iter().enumerate() {
            let want = format!("value-{i:04}-{}", "y".repeat(i % 11));
            assert_eq!((r.offset, &r.value[..]), (i as u64, want.as_bytes()));
        }
        last_end = end;
        snapshots += 1;
    }
    let sent = appending.await.expect("appender");
    let ro = read_only(dir.path());
    assert_eq!(values(&*ro, "t", 0), sent_values(&sent));
    assert!(snapshots > 1, "took {snapshots} snapshots");
}
