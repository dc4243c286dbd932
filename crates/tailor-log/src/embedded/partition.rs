//! One partition: its segment files, its durable end offset (with waiters), recovery at open
//! and verified reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;

use super::frame::decode_payload;
use super::segment::{parse_segment_file_name, ScanError, Scanner, Segment};
use super::sync_dir;
use super::writer::WriterState;
use crate::metrics as m;
use crate::{Error, Result, StoredRecord};

/// A read stops adding records once it holds about this many payload bytes.
pub const MAX_READ_BYTES: usize = 8 * 1024 * 1024;

pub(crate) struct Partition {
    pub topic: Arc<str>,
    pub id: u32,
    pub dir: PathBuf,
    /// Segments ascending by base offset; the last one is active. Pushed by the writer on roll.
    pub segments: RwLock<Vec<Arc<Segment>>>,
    /// Durable end offset; advanced by the writer after fsync, watched by `wait_for`.
    end: watch::Sender<u64>,
    /// Writer-thread state (uncontended: only the writer locks it).
    pub writer: Mutex<WriterState>,
    /// Ranges `[from, to)` found corrupt in sealed segments and quarantined (reported once).
    quarantined: Mutex<Vec<(u64, u64)>>,
    /// Opened read-only: nothing is written, not even `quarantine.json`.
    read_only: bool,
}

use crate::QUARANTINED_HEADER;

impl Partition {
    /// Open (or create) the partition directory, validating and repairing the tail.
    pub fn open(topic: Arc<str>, id: u32, dir: PathBuf, fsync: bool) -> Result<Partition> {
        let ctx = |what: &str| format!("{what} {}", dir.display());
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(ctx("creating partition directory"), e))?;
        let mut segments = open_segments(&dir, false)?;
        if segments.is_empty() {
            let seg = Segment::create(&dir, 0)
                .map_err(|e| Error::io(ctx("creating first segment in"), e))?;
            segments.push(Arc::new(seg));
            if fsync {
                sync_dir(&dir).map_err(|e| Error::io(ctx("syncing directory"), e))?;
            }
        }
        let end = loop {
            let last = Arc::clone(segments.last().expect("at least one segment"));
            let rec = last
                .recover(fsync)
                .map_err(|e| Error::io(format!("recovering segment {}", last.path.display()), e))?;
            if let Some(reason) = &rec.truncated {
                tracing::warn!(
                    topic = %topic, partition = id, segment = %last.path.display(), %reason,
                    "truncated torn or corrupt log tail; unacknowledged writes dropped"
                );
                metrics::counter!(m::RECOVERED_TRUNCATIONS_TOTAL).increment(1);
            }
            // An empty last segment after a roll carries nothing: drop it so the previous
            // segment's tail is validated too (a crash between roll and first write).
            if last.readable() == 0 && segments.len() > 1 {
                std::fs::remove_file(&last.path).map_err(|e| {
                    Error::io(format!("removing empty segment {}", last.path.display()), e)
                })?;
                if fsync {
                    sync_dir(&dir).map_err(|e| Error::io(ctx("syncing directory"), e))?;
                }
                segments.pop();
                continue;
            }
            break rec.end_offset;
        };
        let active = Arc::clone(segments.last().expect("at least one segment"));
        let writer = WriterState::new(active, end);
        metrics::gauge!(m::END_OFFSET, "topic" => topic.to_string(), "partition" => id.to_string())
            .set(end as f64);
        Ok(Partition {
            topic,
            id,
            dir,
            segments: RwLock::new(segments),
            end: watch::Sender::new(end),
            writer: Mutex::new(writer),
            quarantined: Mutex::new(Vec::new()),
            read_only: false,
        })
    }

    /// Open an existing partition for reading only, as a snapshot: every segment but the last
    /// is checked on read as usual; the last is read up to its first torn or invalid frame
    /// (a live writer may be mid-write), and nothing on disk is changed.
    pub fn open_read_only(topic: Arc<str>, id: u32, dir: PathBuf) -> Result<Partition> {
        let mut segments = open_segments(&dir, true)?;
        let end = loop {
            let Some(last) = segments.last().cloned() else {
                return Err(Error::Metadata {
                    path: dir.display().to_string(),
                    reason: "the partition has no segment files".into(),
                });
            };
            let rec = last
                .validate_read_only()
                .map_err(|e| Error::io(format!("reading segment {}", last.path.display()), e))?;
            if let Some(reason) = &rec.truncated {
                tracing::debug!(
                    topic = %topic, partition = id, segment = %last.path.display(), %reason,
                    "read-only open: not reading an incomplete or torn tail"
                );
            }
            // An empty last segment (a roll that has not written yet): the previous one ends
            // the snapshot, as at a writable open, but nothing is removed.
            if last.readable() == 0 && segments.len() > 1 {
                segments.pop();
                continue;
            }
            break rec.end_offset;
        };
        let active = Arc::clone(segments.last().expect("at least one segment"));
        Ok(Partition {
            topic,
            id,
            dir,
            segments: RwLock::new(segments),
            end: watch::Sender::new(end),
            writer: Mutex::new(WriterState::new(active, end)),
            quarantined: Mutex::new(Vec::new()),
            read_only: true,
        })
    }

    pub fn end_offset(&self) -> u64 {
        *self.end.borrow()
    }

    pub fn start_offset(&self) -> u64 {
        self.segments.read().first().map_or(0, |s| s.base)
    }

    /// Make offsets below `end` visible and wake waiters. Called by the writer after fsync.
    pub fn publish(&self, end: u64) {
        self.end.send_replace(end);
        metrics::gauge!(m::END_OFFSET, "topic" => self.topic.to_string(), "partition" => self.id.to_string())
            .set(end as f64);
    }

    /// Resolves `true` once the end offset passes `offset`, `false` after `timeout`.
    pub fn wait_for(
        &self,
        offset: u64,
        timeout: Duration,
    ) -> impl std::future::Future<Output = bool> + 'static {
        let mut rx = self.end.subscribe();
        async move {
            matches!(
                tokio::time::timeout(timeout, rx.wait_for(|&end| end > offset)).await,
                Ok(Ok(_))
            )
        }
    }

    /// Quarantines `[from, next.base)` of a sealed segment whose bytes from `from` on failed
    /// verification (the frame boundaries after a bad frame cannot be trusted; the next
    /// segment starts clean). Reported once per range: an error log, a metric, and
    /// `quarantine.json` in the partition directory (best effort). `None` when `seg` is the
    /// last segment: there is no clean place to resume, and the read fails as corrupt.
    fn quarantine(
        &self,
        seg: &Segment,
        next: Option<&Arc<Segment>>,
        from: u64,
        position: u64,
        reason: &str,
    ) -> Option<u64> {
        let to = next?.base;
        let mut q = self.quarantined.lock();
        if !q.contains(&(from, to)) {
            q.push((from, to));
            metrics::counter!(m::QUARANTINED_RECORDS_TOTAL, "topic" => self.topic.to_string(), "partition" => self.id.to_string())
                .increment(to.saturating_sub(from));
            tracing::error!(
                topic = %self.topic, partition = self.id, from, to, segment = %seg.path.display(), position, %reason,
                "corrupt log records quarantined: readers get placeholders without data for this range"
            );
            let listed: Vec<serde_json::Value> = q
                .iter()
                .map(|(f, t)| serde_json::json!({"from": f, "to": t}))
                .collect();
            let report = serde_json::json!({"quarantined": listed, "last_reason": reason});
            if !self.read_only {
                if let Err(e) = std::fs::write(self.dir.join("quarantine.json"), report.to_string())
                {
                    tracing::warn!(error = %e, "could not write quarantine.json");
                }
            }
        }
        Some(to)
    }

    fn corrupt(&self, seg: &Segment, offset: u64, position: u64, reason: String) -> Error {
        metrics::counter!(m::CORRUPT_READS_TOTAL, "topic" => self.topic.to_string(), "partition" => self.id.to_string())
            .increment(1);
        tracing::error!(
            topic = %self.topic, partition = self.id, offset, segment = %seg.path.display(), position, %reason,
            "corrupt record in log; refusing to serve it"
        );
        Error::Corrupt {
            topic: self.topic.to_string(),
            partition: self.id,
            offset,
            segment: seg.base,
            position,
            reason,
        }
    }

    /// Read up to `max_records` durable records from `offset`, verifying every frame on the way
    /// (checksum, structure, consecutive offsets).
    pub fn read(&self, offset: u64, max_records: usize) -> Result<Vec<StoredRecord>> {
        let end = self.end_offset();
        let start = self.start_offset();
        if offset < start || offset > end {
            return Err(Error::OffsetOutOfRange {
                topic: self.topic.to_string(),
                partition: self.id,
                offset,
                start,
                end,
            });
        }
        let limit = max_records.min((end - offset).try_into().unwrap_or(usize::MAX));
        if limit == 0 {
            return Ok(Vec::new());
        }
        let segments: Vec<Arc<Segment>> = {
            let all = self.segments.read();
            let first = all.partition_point(|s| s.base <= offset).saturating_sub(1);
            all[first..].to_vec()
        };
        let mut out = Vec::with_capacity(limit.min(4096));
        let mut want = offset;
        let mut bytes = 0usize;
        for (n, seg) in segments.iter().enumerate() {
            let (mut expected, pos) = if n == 0 {
                seg.seek(offset)
                    .map_err(|e| Error::io(format!("indexing segment {}", seg.path.display()), e))?
            } else {
                (seg.base, 0)
            };
            if n > 0 && seg.base != want {
                let reason = format!(
                    "segment starts at offset {} but {want} was expected",
                    seg.base
                );
                return Err(self.corrupt(seg, want, 0, reason));
            }
            let chunk = (limit - out.len())
                .saturating_mul(512)
                .clamp(16 << 10, 1 << 20);
            let mut scanner = Scanner::new(&seg.file, pos, seg.readable(), chunk);
            let next = segments.get(n + 1);
            loop {
                if out.len() >= limit || bytes >= MAX_READ_BYTES {
                    return Ok(out);
                }
                let bad = match scanner.next_frame() {
                    Ok(Some((frame_pos, payload))) => match decode_payload(&payload) {
                        Ok(d) if d.offset == expected => Ok((d, payload.len())),
                        Ok(d) => Err((
                            frame_pos,
                            format!(
                                "offset out of sequence: found {} where {expected} was expected",
                                d.offset
                            ),
                        )),
                        Err(e) => Err((frame_pos, e.to_string())),
                    },
                    Ok(None) => break,
                    Err(ScanError::Frame(e)) => Err((scanner.pos(), e.to_string())),
                    Err(ScanError::Io(e)) => {
                        return Err(Error::io(
                            format!("reading segment {}", seg.path.display()),
                            e,
                        ));
                    }
                };
                let (d, size) = match bad {
                    Ok(found) => found,
                    Err((position, reason)) => {
                        let Some(to) = self.quarantine(seg, next, expected, position, &reason)
                        else {
                            return Err(self.corrupt(seg, expected, position, reason));
                        };
                        // Placeholders keep offsets consecutive, so every consumer moves
                        // past the range (and reports it: they cannot be decoded).
                        while want < to && out.len() < limit {
                            out.push(StoredRecord {
                                topic: Arc::clone(&self.topic),
                                partition: self.id,
                                offset: want,
                                timestamp_ms: 0,
                                key: bytes::Bytes::new(),
                                value: bytes::Bytes::from_static(b"{\"quarantined\":true}"),
                                headers: vec![(
                                    QUARANTINED_HEADER.to_owned(),
                                    bytes::Bytes::from(reason.clone()),
                                )],
                            });
                            want += 1;
                        }
                        if want < to {
                            return Ok(out);
                        }
                        break;
                    }
                };
                expected += 1;
                if d.offset >= want {
                    bytes += size;
                    want = d.offset + 1;
                    out.push(StoredRecord {
                        topic: Arc::clone(&self.topic),
                        partition: self.id,
                        offset: d.offset,
                        timestamp_ms: d.timestamp_ms,
                        key: d.key,
                        value: d.value,
                        headers: d.headers,
                    });
                }
            }
        }
        if out.len() < limit {
            let last = segments.last().expect("at least one segment");
            let reason = format!("records {want}..{end} are missing from the segment files");
            return Err(self.corrupt(last, want, last.readable(), reason));
        }
        Ok(out)
    }
}

/// Open the segment files of a partition directory, ascending by base offset. A read-only
/// open skips files that vanish between listing and opening (a live writer's rollback).
fn open_segments(dir: &Path, read_only: bool) -> Result<Vec<Arc<Segment>>> {
    let ctx = |what: &str| format!("{what} {}", dir.display());
    let mut found: Vec<(u64, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(ctx("listing"), e))? {
        let entry = entry.map_err(|e| Error::io(ctx("listing"), e))?;
        let name = entry.file_name();
        if let Some(base) = name.to_str().and_then(parse_segment_file_name) {
            found.push((base, entry.path()));
        }
    }
    found.sort_unstable_by_key(|(base, _)| *base);
    let mut segments = Vec::with_capacity(found.len().max(1));
    for (base, path) in found {
        let opened = if read_only {
            Segment::open_read_only(path.clone(), base)
        } else {
            Segment::open(path.clone(), base)
        };
        match opened {
            Ok(seg) => segments.push(Arc::new(seg)),
            Err(e) if read_only && e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("opening segment {}", path.display()), e)),
        }
    }
    Ok(segments)
}
