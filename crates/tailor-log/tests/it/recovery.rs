//! Embedded log on-disk behaviour: reopen, torn and corrupt tails, corruption in sealed
//! segments, garbage after the last frame, and empty segments left by a roll.

use crate::common;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use tailor_log::{EmbeddedOptions, Error, Log, Record};

/// Append `n` records to the single partition of topic "t", one per append.
async fn fill(log: &dyn Log, from: usize, n: usize) -> Vec<Record> {
    let mut sent = Vec::new();
    for i in from..from + n {
        let r = common::rec("same-key", &format!("value-{i:04}-{}", "x".repeat(i % 13)));
        let acks = log.append("t", vec![r.clone()]).await.expect("append");
        assert_eq!(acks[0].offset, i as u64);
        sent.push(r);
    }
    sent
}

fn values(log: &dyn Log) -> Vec<String> {
    common::read_all(log, "t", 0, 1000)
        .into_iter()
        .map(|r| String::from_utf8(r.value.to_vec()).expect("utf8"))
        .collect()
}

fn sent_values(sent: &[Record]) -> Vec<String> {
    sent.iter()
        .map(|r| String::from_utf8(r.value.to_vec()).expect("utf8"))
        .collect()
}

fn flip_byte(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).expect("read segment");
    bytes[at as usize] ^= 0xff;
    std::fs::write(path, bytes).expect("write segment");
}

fn last_segment(dir: &Path) -> std::path::PathBuf {
    common::segment_files(dir, "t", 0).pop().expect("a segment")
}

#[tokio::test]
async fn reopen_preserves_records_topics_and_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sent = {
        let log = common::open(dir.path(), common::opts(300));
        log.create_topic("t", 1).expect("create");
        log.create_topic("other", 3).expect("create");
        let sent = fill(&*log, 0, 40).await;
        log.commit("readers", "t", 0, 17).expect("commit");
        log.commit("readers", "other", 2, 4).expect("commit");
        log.close().expect("close");
        log.close().expect("close is idempotent");
        assert!(matches!(
            log.append("t", vec![common::rec("k", "v")]).await,
            Err(Error::Closed)
        ));
        sent
    };
    let log = common::open(dir.path(), common::opts(300));
    let topics: Vec<_> = log
        .topics()
        .into_iter()
        .map(|t| (t.name, t.partitions))
        .collect();
    assert_eq!(topics, vec![("other".to_string(), 3), ("t".to_string(), 1)]);
    assert_eq!(log.end_offset("t", 0).expect("end"), 40);
    assert_eq!(values(&*log), sent_values(&sent));
    assert_eq!(
        log.committed("readers", "t", 0).expect("committed"),
        Some(17)
    );
    assert_eq!(
        log.committed("readers", "other", 2).expect("committed"),
        Some(4)
    );
    let more = fill(&*log, 40, 5).await;
    assert_eq!(values(&*log).len(), 45);
    assert_eq!(values(&*log)[40..], sent_values(&more)[..]);
}

#[tokio::test]
async fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _log = common::open(dir.path(), EmbeddedOptions::default());
    assert!(matches!(
        tailor_log::EmbeddedLog::open(dir.path(), EmbeddedOptions::default()),
        Err(Error::Io { .. })
    ));
}

#[tokio::test]
async fn torn_tail_is_truncated_and_writing_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sent = {
        let log = common::open(dir.path(), EmbeddedOptions::default());
        log.create_topic("t", 1).expect("create");
        fill(&*log, 0, 10).await
    };
    let seg = last_segment(dir.path());
    let len = std::fs::metadata(&seg).expect("metadata").len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open")
        .set_len(len - 5)
        .expect("truncate");

    let log = common::open(dir.path(), EmbeddedOptions::default());
    assert_eq!(log.end_offset("t", 0).expect("end"), 9);
    assert_eq!(values(&*log), sent_values(&sent[..9]));
    let more = fill(&*log, 9, 3).await;
    assert_eq!(values(&*log)[9..], sent_values(&more)[..]);
    drop(log);
    let log = common::open(dir.path(), EmbeddedOptions::default());
    assert_eq!(log.end_offset("t", 0).expect("end"), 12);
}

#[tokio::test]
async fn torn_header_is_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let log = common::open(dir.path(), EmbeddedOptions::default());
        log.create_topic("t", 1).expect("create");
        fill(&*log, 0, 3).await;
    }
    let seg = last_segment(dir.path());
    let mut f = OpenOptions::new().append(true).open(&seg).expect("open");
    f.write_all(&[200, 0, 0]).expect("partial header");
    drop(f);
    let log = common::open(dir.path(), EmbeddedOptions::default());
    assert_eq!(log.end_offset("t", 0).expect("end"), 3);
    fill(&*log, 3, 2).await;
    assert_eq!(values(&*log).len(), 5);
}

#[tokio::test]
async fn corrupt_last_frame_is_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sent = {
        let log = common::open(dir.path(), EmbeddedOptions::default());
        log.create_topic("t", 1).expect("create");
        fill(&*log, 0, 10).await
    };
    let seg = last_segment(dir.path());
    let len = std::fs::metadata(&seg).expect("metadata").len();
    flip_byte(&seg, len - 3); // inside the last frame's value
    let log = common::open(dir.path(), EmbeddedOptions::default());
    assert_eq!(log.end_offset("t", 0).expect("end"), 9);
    assert_eq!(values(&*log), sent_values(&sent[..9]));
    assert_eq!(fill(&*log, 9, 1).await.len(), 1);
}

#[tokio::test]
async fn corruption_mid_tail_drops_everything_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sent = {
        let log = common::open(dir.path(), EmbeddedOptions::default());
        log.create_topic("t", 1).expect("create");
        fill(&*log, 0, 10).await
    };
    let seg = last_segment(dir.path());
    // The length field of the 5th frame claims far more than the file holds.
    let first = common::open_frames(&seg);
    let at = first[4];
    let mut bytes = std::fs::read(&seg).expect("read");
    bytes[at as usize..at as usize + 4].copy_from_slice(&(1u32 << 30).to_le_bytes());
    std::fs::write(&seg, bytes).expect("write");
    let log = common::open(dir.path(), EmbeddedOptions::default());
    assert_eq!(log.end_offset("t", 0).expect("end"), 4);
    assert_eq!(values(&*log), sent_values(&sent[..4]));
    assert_eq!(std::fs::metadata(&seg).expect("metadata").len(), at);
}

#[tokio::test]
async fn garbage_after_the_last_frame_is_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sent = {
        let log = common::open(dir.path(), EmbeddedOptions::default());
        log.create_topic("t", 1).expect("create");
        fill(&*log, 0, 6).await
    };
    let seg = last_segment(dir.path());
    let len = std::fs::metadata(&seg).expect("metadata").len();
    let mut f = OpenOptions::new().append(true).open(&seg).expect("open");
    f.write_all(&[0xAB; 1000]).expect("garbage");
    drop(f);
    let log = common::open(dir.path(), EmbeddedOptions::default());
    assert_eq!(std::fs::metadata(&seg).expect("metadata").len(), len);
    assert_eq!(log.end_offset("t", 0).expect("end"), 6);
    let more = fill(&*log, 6, 2).await;
    let mut all = sent;
    all.extend(more);
    assert_eq!(values(&*log), sent_values(&all));
}

#[tokio::test]
async fn corruption_in_a_sealed_segment_is_quarantined_never_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sent = {
        let log = common::open(dir.path(), common::opts(200));
        log.create_topic("t", 1).expect("create");
        fill(&*log, 0, 30).await
    };
    let files = common::segment_files(dir.path(), "t", 0);
    assert!(files.len() > 3, "several segments");
    let first_len = std::fs::metadata(&files[0]).expect("metadata").len();
    flip_byte(&files[0], first_len - 2);
    let log = common::open(dir.path(), common::opts(200));
    assert_eq!(
        log.end_offset("t", 0).expect("end"),
        30,
        "only the last segment is repaired at open"
    );
    // The damaged frame and the rest of its segment are quarantined: readers get
    // placeholders without data at those offsets (so every consumer moves on), then the
    // next segment's records; the range is reported in quarantine.json.
    let second_base: u64 = files[1]
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .expect("base offset");
    let all = log.read("t", 0, 0, 100).expect("read past the damage");
    let offsets: Vec<u64> = all.iter().map(|r| r.offset).collect();
    assert_eq!(
        offsets,
        (0..30).collect::<Vec<u64>>(),
        "offsets stay consecutive"
    );
    let quarantined: Vec<u64> = all
        .iter()
        .filter(|r| r.headers.iter().any(|(k, _)| k == "tailor-quarantined"))
        .map(|r| r.offset)
        .collect();
    assert_eq!(
        quarantined,
        vec![second_base - 1],
        "only the damaged record"
    );
    for r in &all {
        if quarantined.contains(&r.offset) {
            assert_ne!(
                r.value, sent[r.offset as usize].value,
                "damaged data served"
            );
        } else {
            assert_eq!(r.value, sent[r.offset as usize].value);
        }
    }
    let report = std::fs::read_to_string(files[0].parent().expect("dir").join("quarantine.json"))
        .expect("quarantine.json");
    assert!(
        report.contains(&format!("\"to\":{second_base}")),
        "{report}"
    );
    // A read inside the quarantined range gets placeholders up to its end.
    let inside = log.read("t", 0, second_base - 1, 2).expect("read inside");
    assert_eq!(inside.len(), 2);
    assert!(inside[0]
        .headers
        .iter()
        .any(|(k, _)| k == "tailor-quarantined"));
    assert_eq!(inside[1].value, sent[second_base as usize].value);
    // Records before the damaged one are still served; the damaged one never is.
    let ok = log.read("t", 0, 0, 1).expect("first record is intact");
    assert_eq!(ok[0].value, sent[0].value);
    // Later segments are unaffected.
    let later = log.read("t", 0, second_base, 100).expect("later segments");
    assert_eq!(later.len() as u64, 30 - second_base);
    assert_eq!(later.last().expect("records").value, sent[29].value);
}

#[tokio::test]
async fn empty_segments_left_by_a_roll_are_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sent = {
        let log = common::open(dir.path(), EmbeddedOptions::default());
        log.create_topic("t", 1).expect("create");
        fill(&*log, 0, 5).await
    };
    let pdir = dir.path().join("topics/t/0");
    // A crash right after a roll created the next segment, and one whose base ran ahead.
    std::fs::write(pdir.join(format!("{:020}.log", 5)), b"").expect("empty segment");
    std::fs::write(pdir.join(format!("{:020}.log", 9)), b"\x01\x02").expect("torn segment");
    let log = common::open(dir.path(), EmbeddedOptions::default());
    assert_eq!(log.end_offset("t", 0).expect("end"), 5);
    assert_eq!(common::segment_files(dir.path(), "t", 0).len(), 1);
    let more = fill(&*log, 5, 2).await;
    let mut all = sent;
    all.extend(more);
    assert_eq!(values(&*log), sent_values(&all));
}

#[tokio::test]
async fn topics_without_meta_are_ignored_and_can_be_created_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("topics/half/0")).expect("dirs");
    std::fs::create_dir_all(dir.path().join("topics/..bad name")).expect("dirs");
    let log = common::open(dir.path(), EmbeddedOptions::default());
    assert!(log.topics().is_empty());
    log.create_topic("half", 2)
        .expect("create over the unfinished one");
    assert_eq!(log.partitions("half").expect("partitions"), 2);
}
