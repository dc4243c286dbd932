//! Target `log_segment`: opening an embedded log whose segment files hold arbitrary bytes —
//! the read-only snapshot tools use and, with flag bit 2, the writer's recovery (tail
//! truncation) — then reading every record, seeking to each offset, and appending.
//!
//! Input: `flags, split (u16 LE), base, bytes`. The bytes are one segment file at base
//! offset 0, or with flag bit 0 two: `bytes[..split]` at base 0 and the rest at base
//! `base + 1`. Flag bit 1 fixes frame checksums (see [`crate::log_frame::fix_checksums`]).
//!
//! Properties: no panic; a log directory whose segments hold garbage still opens (read-only
//! and for writing); reads return consecutive offsets or [`Error::Corrupt`], never bad data;
//! a read at any offset returns what the full scan returned there; the writer's recovery
//! keeps exactly what the read-only snapshot reads, and appends resume at its end offset.

use std::path::Path;

use futures::executor::block_on;
use tailor_log::{EmbeddedLog, EmbeddedOptions, Error, Log, Record, StoredRecord};

use crate::log_frame::fix_checksums;

const TOPIC: &str = "events";

pub fn run(data: &[u8]) {
    if data.len() < 4 {
        return;
    }
    let flags = data[0];
    let split = usize::from(u16::from_le_bytes([data[1], data[2]]));
    let base = u64::from(data[3]) + 1;
    let bytes = &data[4..];
    let mut files: Vec<(u64, Vec<u8>)> = if flags & 1 == 1 {
        let split = split.min(bytes.len());
        vec![
            (0, bytes[..split].to_vec()),
            (base, bytes[split..].to_vec()),
        ]
    } else {
        vec![(0, bytes.to_vec())]
    };
    if flags & 2 == 2 {
        for (_, f) in &mut files {
            fix_checksums(f);
        }
    }
    let dir = scratch_dir();
    write_log(dir.path(), &files);

    let log = EmbeddedLog::open_read_only(dir.path())
        .expect("a log whose segments hold garbage opens read-only");
    let snapshot = read_all(&*log);
    check_seeks(&*log, &snapshot);
    drop(log);

    if flags & 4 == 4 {
        let opts = EmbeddedOptions {
            fsync: false,
            ..EmbeddedOptions::default()
        };
        let log = EmbeddedLog::open(dir.path(), opts)
            .expect("a log whose segments hold garbage opens for writing");
        let recovered = read_all(&*log);
        assert_eq!(
            recovered, snapshot,
            "recovery keeps other records than the read-only snapshot reads"
        );
        let end = recovered.end;
        let appended = block_on(log.append(TOPIC, vec![Record::new("k", "appended", 7)]))
            .expect("appending after recovery");
        assert_eq!(appended[0].offset, end, "appends resume at the end offset");
        let back = log
            .read(TOPIC, 0, end, 1)
            .expect("reading the record appended after recovery");
        assert_eq!(back.len(), 1);
        assert_eq!(&back[0].value[..], b"appended");
        log.close().expect("closing the log");
    }
}

fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let builder = || {
        let mut b = tempfile::Builder::new();
        b.prefix("tailor-fuzz-log");
        b
    };
    if shm.is_dir() {
        if let Ok(d) = builder().tempdir_in(shm) {
            return d;
        }
    }
    builder().tempdir().expect("a temporary directory")
}

fn write_log(dir: &Path, files: &[(u64, Vec<u8>)]) {
    let topic = dir.join("topics").join(TOPIC);
    let partition = topic.join("0");
    std::fs::create_dir_all(&partition).expect("creating the partition directory");
    std::fs::write(topic.join("meta.json"), br#"{"partitions": 1}"#).expect("meta.json");
    for (base, bytes) in files {
        std::fs::write(partition.join(format!("{base:020}.log")), bytes).expect("a segment");
    }
}

/// What a full scan of partition 0 found.
#[derive(Debug, PartialEq)]
struct Scan {
    start: u64,
    end: u64,
    /// Every record from `start`, or the records before the first corrupt one and the error.
    records: Result<Vec<StoredRecord>, (Vec<StoredRecord>, String)>,
}

fn read_all(log: &dyn Log) -> Scan {
    let start = log.start_offset(TOPIC, 0).expect("start offset");
    let end = log.end_offset(TOPIC, 0).expect("end offset");
    assert!(start <= end);
    let mut out: Vec<StoredRecord> = Vec::new();
    let mut at = start;
    while at < end {
        match log.read(TOPIC, 0, at, 7) {
            Ok(records) => {
                assert!(!records.is_empty(), "an empty read below the end offset");
                for (i, r) in records.iter().enumerate() {
                    assert_eq!(r.offset, at + i as u64, "offsets out of sequence");
                }
                at += records.len() as u64;
                out.extend(records);
            }
            Err(e) => {
                assert!(matches!(e, Error::Corrupt { .. }), "unexpected error {e}");
                return Scan {
                    start,
                    end,
                    records: Err((out, e.to_string())),
                };
            }
        }
    }
    assert_eq!(log.read(TOPIC, 0, end, 1).map(|r| r.len()).ok(), Some(0));
    Scan {
        start,
        end,
        records: Ok(out),
    }
}

/// A read of one record at each offset (the first 64) agrees with the full scan.
fn check_seeks(log: &dyn Log, scan: &Scan) {
    let good = match &scan.records {
        Ok(r) | Err((r, _)) => r,
    };
    for (i, want) in good.iter().enumerate().take(64) {
        let got = log
            .read(TOPIC, 0, scan.start + i as u64, 1)
            .expect("a record the scan read reads again");
        assert_eq!(got.as_slice(), std::slice::from_ref(want));
    }
}
