//! Segment files: a chunked frame scanner over positional reads, the cached file handle,
//! the in-memory sparse index (offset -> position every ~4 KiB), and tail recovery at open.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::RwLock;

use super::frame::{
    decode_payload, parse_header, payload_offset, FrameError, FRAME_HEADER, MIN_PAYLOAD,
};

/// A sparse index entry is kept roughly every this many bytes.
pub const INDEX_INTERVAL: u64 = 4096;

/// File name of the segment whose first offset is `base`.
pub fn segment_file_name(base: u64) -> String {
    format!("{base:020}.log")
}

/// Base offset from a segment file name, `None` for other files.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Error of a [`Scanner`].
#[derive(Debug)]
pub(crate) enum ScanError {
    Frame(FrameError),
    Io(io::Error),
}

/// Walks the frames of `file` in `[pos, limit)` with positional reads of about `chunk` bytes,
/// verifying each checksum. Payloads are slices of the chunk (no copy per record).
pub(crate) struct Scanner<'a> {
    file: &'a File,
    pos: u64,
    limit: u64,
    chunk: Bytes,
    chunk_start: u64,
    chunk_size: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(file: &'a File, pos: u64, limit: u64, chunk_size: usize) -> Self {
        Scanner {
            file,
            pos,
            limit,
            chunk: Bytes::new(),
            chunk_start: pos,
            chunk_size: chunk_size.max(FRAME_HEADER + MIN_PAYLOAD),
        }
    }

    /// Position of the next frame (of the failing one after an error).
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Make `[self.pos, self.pos + n)` available in the chunk; the caller checked the limit.
    fn ensure(&mut self, n: usize) -> io::Result<usize> {
        let chunk_end = self.chunk_start + self.chunk.len() as u64;
        if self.pos >= self.chunk_start && self.pos + n as u64 <= chunk_end {
            return Ok((self.pos - self.chunk_start) as usize);
        }
        let len = (self.limit - self.pos).min(n.max(self.chunk_size) as u64) as usize;
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, self.pos)?;
        self.chunk = Bytes::from(buf);
        self.chunk_start = self.pos;
        Ok(0)
    }

    /// The next frame as `(frame position, verified payload)`, or `None` at the limit.
    pub fn next_frame(&mut self) -> Result<Option<(u64, Bytes)>, ScanError> {
        if self.pos >= self.limit {
            return Ok(None);
        }
        if self.limit - self.pos < FRAME_HEADER as u64 {
            return Err(ScanError::Frame(FrameError::Torn));
        }
        let at = self.ensure(FRAME_HEADER).map_err(ScanError::Io)?;
        let (len, crc) =
            parse_header(&self.chunk[at..at + FRAME_HEADER]).map_err(ScanError::Frame)?;
        let total = FRAME_HEADER + len;
        if self.pos + total as u64 > self.limit {
            return Err(ScanError::Frame(FrameError::Torn));
        }
        let at = self.ensure(total).map_err(ScanError::Io)?;
        let payload = self.chunk.slice(at + FRAME_HEADER..at + total);
        if crc32c::crc32c(&payload) != crc {
            return Err(ScanError::Frame(FrameError::BadChecksum));
        }
        let frame_pos = self.pos;
        self.pos += total as u64;
        Ok(Some((frame_pos, payload)))
    }
}

#[derive(Debug, Default)]
struct SparseIndex {
    /// `(offset, file position)` of some frames, ascending.
    entries: Vec<(u64, u64)>,
    /// False for sealed segments until their first read builds it.
    built: bool,
}

/// One segment file with its cached handle, readable length and sparse index.
#[derive(Debug)]
pub(crate) struct Segment {
    pub base: u64,
    pub path: PathBuf,
    /// Read/write handle shared by the writer (positional writes) and readers (positional reads).
    pub file: File,
    /// Bytes readers may read: whole, durable frames only.
    readable: AtomicU64,
    index: RwLock<SparseIndex>,
}

/// What validating a segment tail found.
#[derive(Debug)]
pub(crate) struct Recovery {
    /// Offset after the last good frame.
    pub end_offset: u64,
    /// Why the tail was cut (read-only: left unread), if it was.
    pub truncated: Option<String>,
}

impl Segment {
    /// Create a new, empty segment file (fails if it exists).
    pub fn create(dir: &Path, base: u64) -> io::Result<Segment> {
        let path = dir.join(segment_file_name(base));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Segment::new(base, path, file, 0, true))
    }

    /// Open an existing segment; its index is built lazily on first read.
    pub fn open(path: PathBuf, base: u64) -> io::Result<Segment> {
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        let len = file.metadata()?.len();
        Ok(Segment::new(base, path, file, len, false))
    }

    /// Open an existing segment for reading only (the handle cannot write).
    pub fn open_read_only(path: PathBuf, base: u64) -> io::Result<Segment> {
        let file = OpenOptions::new().read(true).open(&path)?;
        let len = file.metadata()?.len();
        Ok(Segment::new(base, path, file, len, false))
    }

    fn new(base: u64, path: PathBuf, file: File, readable: u64, built: bool) -> Segment {
        Segment {
            base,
            path,
            file,
            readable: AtomicU64::new(readable),
            index: RwLock::new(SparseIndex {
                entries: Vec::new(),
                built,
            }),
        }
    }

    pub fn readable(&self) -> u64 {
        self.readable.load(Ordering::Acquire)
    }

    pub fn set_readable(&self, len: u64) {
        self.readable.store(len, Ordering::Release);
    }

    /// Record that the frame of `offset` starts at `pos` (the writer calls this in order).
    pub fn push_index(&self, offset: u64, pos: u64) {
        self.index.write().entries.push((offset, pos));
    }

    /// Drop index entries at or after `offset` (rollback of an unacknowledged write).
    pub fn truncate_index(&self, offset: u64) {
        self.index.write().entries.retain(|&(o, _)| o < offset);
    }

    /// Position of the last index entry.
    pub fn last_index_pos(&self) -> Option<u64> {
        self.index.read().entries.last().map(|&(_, p)| p)
    }

    /// The indexed `(offset, position)` at or before `offset` to start scanning from,
    /// building the index of a sealed segment on first use.
    pub fn seek(&self, offset: u64) -> io::Result<(u64, u64)> {
        if !self.index.read().built {
            self.build_index()?;
        }
        let idx = self.index.read();
        let i = idx.entries.partition_point(|&(o, _)| o <= offset);
        Ok(if i == 0 {
            (self.base, 0)
        } else {
            idx.entries[i - 1]
        })
    }

    /// Index a sealed segment by walking its frames. Stops quietly at the first bad frame:
    /// a read that reaches it reports the corruption.
    fn build_index(&self) -> io::Result<()> {
        let mut entries = Vec::new();
        let mut scanner = Scanner::new(&self.file, 0, self.readable(), 1 << 20);
        let mut last_pos: Option<u64> = None;
        while let Ok(Some((pos, payload))) = scanner.next_frame() {
            let Some(offset) = payload_offset(&payload) else {
                break;
            };
            if last_pos.is_none_or(|lp| pos - lp >= INDEX_INTERVAL) {
                entries.push((offset, pos));
                last_pos = Some(pos);
            }
        }
        let mut idx = self.index.write();
        if !idx.built {
            idx.entries = entries;
            idx.built = true;
        }
        Ok(())
    }

    /// Walk the frames from the start and stop at the first bad one (checksum, structure or
    /// an offset out of sequence from `base`). Touches neither the file nor `self`.
    fn scan_valid(&self) -> io::Result<TailScan> {
        let len = self.file.metadata()?.len();
        let mut scanner = Scanner::new(&self.file, 0, len, 1 << 20);
        let mut expected = self.base;
        let mut entries = Vec::new();
        let mut last_pos: Option<u64> = None;
        let problem = loop {
            match scanner.next_frame() {
                Ok(None) => break None,
                Ok(Some((pos, payload))) => match decode_payload(&payload) {
                    Ok(d) if d.offset == expected => {
                        if last_pos.is_none_or(|lp| pos - lp >= INDEX_INTERVAL) {
                            entries.push((d.offset, pos));
                            last_pos = Some(pos);
                        }
                        expected += 1;
                    }
                    Ok(d) => {
                        break Some((
                            pos,
                            format!("offset {} where {expected} was expected", d.offset),
                        ))
                    }
                    Err(e) => break Some((pos, e.to_string())),
                },
                Err(ScanError::Frame(e)) => break Some((scanner.pos(), e.to_string())),
                Err(ScanError::Io(e)) => return Err(e),
            }
        };
        Ok(TailScan {
            len,
            end_offset: expected,
            problem,
            entries,
        })
    }

    /// Make the first `good_len` bytes readable, with the index built by the scan.
    fn install(&self, good_len: u64, entries: Vec<(u64, u64)>) {
        self.set_readable(good_len);
        let mut idx = self.index.write();
        idx.entries = entries;
        idx.built = true;
    }

    /// Fully validate this (last) segment: checksums, structure and consecutive offsets from
    /// `base`. The file is truncated to the last good frame; the index is rebuilt.
    pub fn recover(&self, fsync: bool) -> io::Result<Recovery> {
        let scan = self.scan_valid()?;
        let len = scan.len;
        let good_len = scan.problem.as_ref().map_or(len, |(pos, _)| *pos);
        let truncated = match scan.problem {
            None => None,
            Some((pos, reason)) => {
                self.file.set_len(pos)?;
                if fsync {
                    self.file.sync_all()?;
                }
                Some(format!("{reason} at byte {pos} of {len}; kept {pos} bytes"))
            }
        };
        self.install(good_len, scan.entries);
        Ok(Recovery {
            end_offset: scan.end_offset,
            truncated,
        })
    }

    /// Like [`Segment::recover`] but never writes: the readable length stops before the first
    /// bad frame (a torn tail, or one a live writer is still writing) and the file is left as
    /// it is. `truncated` then says what was left unread.
    pub fn validate_read_only(&self) -> io::Result<Recovery> {
        let scan = self.scan_valid()?;
        let len = scan.len;
        let good_len = scan.problem.as_ref().map_or(len, |(pos, _)| *pos);
        let truncated = scan
            .problem
            .map(|(pos, reason)| format!("{reason} at byte {pos} of {len}; not reading past it"));
        self.install(good_len, scan.entries);
        Ok(Recovery {
            end_offset: scan.end_offset,
            truncated,
        })
    }
}

/// What [`Segment::scan_valid`] found.
struct TailScan {
    /// File length at the scan.
    len: u64,
    /// Offset after the last good frame.
    end_offset: u64,
    /// Position and description of the first bad frame.
    problem: Option<(u64, String)>,
    /// Sparse index of the good frames.
    entries: Vec<(u64, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names() {
        assert_eq!(segment_file_name(42), "00000000000000000042.log");
        assert_eq!(
            parse_segment_file_name("00000000000000000042.log"),
            Some(42)
        );
        for bad in [
            "42.log",
            "0000000000000000004x.log",
            "00000000000000000042.tmp",
            "99999999999999999999.log",
        ] {
            assert_eq!(parse_segment_file_name(bad), None, "{bad}");
        }
    }

    fn write_frames(dir: &Path, base: u64, sizes: &[usize]) -> (Segment, Vec<Vec<u8>>) {
        let seg = Segment::create(dir, base).expect("create segment");
        let mut buf = Vec::new();
        let mut values = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let value: Vec<u8> = (0..n).map(|j| (i + j) as u8).collect();
            let record = crate::Record::new(Bytes::from_static(b"k"), value.clone(), 0);
            super::super::frame::encode_frame(&mut buf, base + i as u64, &record);
            values.push(value);
        }
        seg.file.write_all_at(&buf, 0).expect("write frames");
        seg.set_readable(buf.len() as u64);
        (seg, values)
    }

    #[test]
    fn scanner_handles_frames_straddling_chunks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sizes: Vec<usize> = (0..60).map(|i| (i * 37) % 300).collect();
        let (seg, values) = write_frames(dir.path(), 100, &sizes);
        for chunk in [1, 50, 64, 1000, 1 << 20] {
            let mut scanner = Scanner::new(&seg.file, 0, seg.readable(), chunk);
            let mut n = 0;
            while let Some((_, payload)) = scanner.next_frame().expect("valid frames") {
                let d = decode_payload(&payload).expect("decodes");
                assert_eq!(d.offset, 100 + n as u64);
                assert_eq!(&d.value[..], &values[n][..]);
                n += 1;
            }
            assert_eq!(n, sizes.len(), "chunk {chunk}");
        }
    }

    #[test]
    fn sealed_segment_index_is_built_lazily_and_seeks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (seg, _) = write_frames(dir.path(), 0, &[1000; 40]);
        let reopened = Segment::open(seg.path.clone(), 0).expect("open");
        assert_eq!(reopened.seek(0).expect("seek"), (0, 0));
        let (offset, pos) = reopened.seek(39).expect("seek");
        assert!(
            offset > 0 && offset <= 39 && pos > 0,
            "an entry past the start: {offset} @ {pos}"
        );
        let mut scanner = Scanner::new(&reopened.file, pos, reopened.readable(), 4096);
        let (_, payload) = scanner.next_frame().expect("frame").expect("some");
        assert_eq!(payload_offset(&payload), Some(offset));
    }

    #[test]
    fn recovery_keeps_good_frames_and_cuts_the_rest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (seg, _) = write_frames(dir.path(), 7, &[10, 20, 30]);
        let good = seg.readable();
        seg.file
            .write_all_at(b"\x05\x00\x00", good)
            .expect("torn header");
        let reopened = Segment::open(seg.path.clone(), 7).expect("open");
        let rec = reopened.recover(false).expect("recover");
        assert_eq!(rec.end_offset, 10);
        assert!(rec.truncated.is_some());
        assert_eq!(reopened.readable(), good);
        assert_eq!(reopened.file.metadata().expect("metadata").len(), good);
        // A segment whose first frame is not its base offset keeps nothing.
        let wrong = Segment::open(seg.path.clone(), 3).expect("open");
        assert_eq!(wrong.recover(false).expect("recover").end_offset, 3);
        assert_eq!(wrong.readable(), 0);
    }
}
