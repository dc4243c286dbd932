//! The group-commit writer: one OS thread takes the first queued append, drains whatever else
//! is already queued, encodes everything into one buffer per partition, writes each buffer
//! once, fsyncs every touched file (in parallel when several are dirty), then publishes the
//! new end offsets and acknowledges. A failed group is rolled back on disk and every request
//! in it fails; if the rollback itself fails the writer refuses all further writes.

use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::oneshot;

use super::frame::{encode_frame, framed_len};
use super::partition::Partition;
use super::segment::{Segment, INDEX_INTERVAL};
use super::{sync_dir, Topic};
use crate::metrics as m;
use crate::{Appended, Error, Record, Result};

/// One `append` call waiting for the writer.
pub(crate) struct Request {
    pub topic: Arc<Topic>,
    pub records: Vec<Record>,
    /// Partition of each record, computed by the caller.
    pub partitions: Vec<u32>,
    pub reply: oneshot::Sender<Result<Vec<Appended>>>,
}

/// On-disk state of a partition before the current group touched it.
struct Checkpoint {
    active: Arc<Segment>,
    len: u64,
    next_offset: u64,
}

/// Writer-side state of one partition.
pub(crate) struct WriterState {
    active: Arc<Segment>,
    /// Length of `active` including `buf`.
    len: u64,
    /// Bytes of `active` already in the file (`len - buf.len()`).
    written: u64,
    next_offset: u64,
    /// Frames encoded by the current group, not yet written.
    buf: Vec<u8>,
    last_index_pos: Option<u64>,
    /// Set while the current group has touched this partition.
    checkpoint: Option<Checkpoint>,
    /// Segments sealed by a roll during the current group, with their final length.
    sealed: Vec<(Arc<Segment>, u64)>,
}

impl WriterState {
    pub fn new(active: Arc<Segment>, next_offset: u64) -> Self {
        let len = active.readable();
        let last_index_pos = active.last_index_pos();
        WriterState {
            active,
            len,
            written: len,
            next_offset,
            buf: Vec::new(),
            last_index_pos,
            checkpoint: None,
            sealed: Vec::new(),
        }
    }

    /// Active segment (for close-time fsync).
    pub fn active(&self) -> &Arc<Segment> {
        &self.active
    }

    fn begin(&mut self) {
        self.checkpoint = Some(Checkpoint {
            active: Arc::clone(&self.active),
            len: self.written,
            next_offset: self.next_offset,
        });
    }

    /// Write the pending buffer to the active file, and fsync it when `fsync`.
    fn flush(&mut self, fsync: bool) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.active.file.write_all_at(&self.buf, self.written)?;
            self.written = self.len;
            self.buf.clear();
        }
        if fsync {
            let t = Instant::now();
            self.active.file.sync_data()?;
            metrics::histogram!(m::FSYNC_SECONDS).record(t.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// Encode one record at the next offset, rolling the segment first if it is full.
    fn append(
        &mut self,
        part: &Partition,
        record: &Record,
        opts: &super::EmbeddedOptions,
    ) -> io::Result<u64> {
        let frame = framed_len(record)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?
            as u64;
        if self.len > 0 && self.len + frame > opts.segment_bytes {
            self.roll(part, opts.fsync)?;
        }
        let offset = self.next_offset;
        if self
            .last_index_pos
            .is_none_or(|p| self.len - p >= INDEX_INTERVAL)
        {
            self.active.push_index(offset, self.len);
            self.last_index_pos = Some(self.len);
        }
        let before = self.buf.len();
        encode_frame(&mut self.buf, offset, record);
        self.len += (self.buf.len() - before) as u64;
        self.next_offset += 1;
        Ok(offset)
    }

    /// Seal the active segment (write + fsync it now) and start a new one at the next offset.
    fn roll(&mut self, part: &Partition, fsync: bool) -> io::Result<()> {
        self.flush(fsync)?;
        let seg = Arc::new(Segment::create(&part.dir, self.next_offset)?);
        if fsync {
            sync_dir(&part.dir)?;
        }
        self.sealed.push((Arc::clone(&self.active), self.len));
        part.segments.write().push(Arc::clone(&seg));
        self.active = seg;
        self.len = 0;
        self.written = 0;
        self.last_index_pos = None;
        Ok(())
    }

    /// The group is durable: make its records readable.
    fn publish(&mut self, part: &Partition) {
        for (seg, len) in self.sealed.drain(..) {
            seg.set_readable(len);
        }
        self.active.set_readable(self.len);
        self.checkpoint = None;
        part.publish(self.next_offset);
    }

    /// The group failed: put the partition back as it was before the group, on disk and in
    /// memory. Nothing of the group was published, so readers never saw any of it.
    fn rollback(&mut self, part: &Partition, fsync: bool) -> io::Result<()> {
        let Some(cp) = self.checkpoint.take() else {
            return Ok(());
        };
        self.buf.clear();
        self.sealed.clear();
        let mut removed = false;
        {
            let mut segments = part.segments.write();
            while segments.last().is_some_and(|s| s.base > cp.active.base) {
                if let Some(seg) = segments.pop() {
                    match std::fs::remove_file(&seg.path) {
                        Ok(()) => removed = true,
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        if removed && fsync {
            sync_dir(&part.dir)?;
        }
        cp.active.file.set_len(cp.len)?;
        if fsync {
            cp.active.file.sync_all()?;
        }
        cp.active.truncate_index(cp.next_offset);
        self.last_index_pos = cp.active.last_index_pos();
        self.active = cp.active;
        self.len = cp.len;
        self.written = cp.len;
        self.next_offset = cp.next_offset;
        Ok(())
    }
}

/// Start the writer thread. `depth` counts queued requests (the thread decrements it).
pub(crate) fn spawn(
    rx: Receiver<Request>,
    depth: Arc<AtomicUsize>,
    opts: super::EmbeddedOptions,
) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tailor-log-writer".into())
        .spawn(move || run(rx, depth, opts))
}

fn run(rx: Receiver<Request>, depth: Arc<AtomicUsize>, opts: super::EmbeddedOptions) {
    let cap = opts.queue_capacity.max(1);
    let mut failed: Option<String> = None;
    let mut batch = Vec::with_capacity(cap);
    while let Ok(first) = rx.recv() {
        batch.push(first);
        while batch.len() < cap {
            match rx.try_recv() {
                Ok(req) => batch.push(req),
                Err(_) => break,
            }
        }
        let left = depth
            .fetch_sub(batch.len(), Ordering::AcqRel)
            .saturating_sub(batch.len());
        metrics::gauge!(m::QUEUE_DEPTH).set(left as f64);
        if let Some(reason) = &failed {
            for req in batch.drain(..) {
                let _ = req.reply.send(Err(Error::WriterFailed(reason.clone())));
            }
            continue;
        }
        metrics::histogram!(m::GROUP_COMMIT_REQUESTS).record(batch.len() as f64);
        if let Err(reason) = commit_group(&mut batch, &opts) {
            failed = Some(reason);
        }
        batch.clear();
    }
}

/// Make one group of requests durable and answer them. Returns `Err` only when the log could
/// not be put back in a consistent state, after which the writer refuses writes.
fn commit_group(
    batch: &mut Vec<Request>,
    opts: &super::EmbeddedOptions,
) -> std::result::Result<(), String> {
    let mut touched: Vec<Arc<Partition>> = Vec::new();
    let mut results: Vec<Vec<Appended>> = Vec::with_capacity(batch.len());
    let mut error: Option<io::Error> = None;
    let mut records = 0u64;
    'encode: for req in batch.iter() {
        let mut out = Vec::with_capacity(req.records.len());
        for (record, &p) in req.records.iter().zip(&req.partitions) {
            let part = &req.topic.partitions[p as usize];
            let mut st = part.writer.lock();
            if st.checkpoint.is_none() {
                st.begin();
                touched.push(Arc::clone(part));
            }
            match st.append(part, record, opts) {
                Ok(offset) => out.push(Appended {
                    partition: p,
                    offset,
                }),
                Err(e) => {
                    error = Some(e);
                    break 'encode;
                }
            }
        }
        records += out.len() as u64;
        results.push(out);
    }
    if error.is_none() {
        crate::failpoint::hit("log.after_write");
        error = flush_all(&touched, opts.fsync).err();
    }
    match error {
        None => {
            crate::failpoint::hit("log.after_fsync");
            for part in &touched {
                part.writer.lock().publish(part);
            }
            metrics::counter!(m::APPEND_RECORDS_TOTAL).increment(records);
            for (req, out) in batch.drain(..).zip(results) {
                let _ = req.reply.send(Ok(out));
            }
            Ok(())
        }
        Some(e) => {
            metrics::counter!(m::WRITE_ERRORS_TOTAL).increment(1);
            tracing::error!(error = %e, requests = batch.len(), "log group commit failed; rolling back");
            let mut unrecoverable = None;
            for part in &touched {
                if let Err(re) = part.writer.lock().rollback(part, opts.fsync) {
                    tracing::error!(
                        topic = %part.topic, partition = part.id, error = %re,
                        "log rollback failed; refusing further writes"
                    );
                    unrecoverable = Some(format!("{}/{}: {re}", part.topic, part.id));
                }
            }
            let kind = e.kind();
            let msg = e.to_string();
            for req in batch.drain(..) {
                let err = Error::io(
                    format!(
                        "committing {} records to topic {}",
                        req.records.len(),
                        req.topic.name
                    ),
                    io::Error::new(kind, msg.clone()),
                );
                let _ = req.reply.send(Err(err));
            }
            unrecoverable.map_or(Ok(()), Err)
        }
    }
}

/// Most threads one group commit uses to write and fsync partitions in parallel.
const MAX_FLUSH_THREADS: usize = 8;

/// Write and fsync every touched partition, in parallel (up to [`MAX_FLUSH_THREADS`]) when
/// more than one is dirty. The calling thread takes the first share.
fn flush_all(touched: &[Arc<Partition>], fsync: bool) -> io::Result<()> {
    let mut guards: Vec<_> = touched.iter().map(|p| p.writer.lock()).collect();
    let mut states: Vec<&mut WriterState> = guards.iter_mut().map(|g| &mut **g).collect();
    if states.len() <= 1 {
        return flush_each(&mut states, fsync);
    }
    let per_thread = states.len().div_ceil(MAX_FLUSH_THREADS);
    std::thread::scope(|s| {
        let mut shares = states.chunks_mut(per_thread);
        let first = shares.next();
        let handles: Vec<_> = shares
            .map(|share| s.spawn(move || flush_each(share, fsync)))
            .collect();
        let mut result = first.map_or(Ok(()), |share| flush_each(share, fsync));
        for h in handles {
            let r = h
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("log flush thread panicked")));
            if result.is_ok() {
                result = r;
            }
        }
        result
    })
}

fn flush_each(states: &mut [&mut WriterState], fsync: bool) -> io::Result<()> {
    for st in states {
        st.flush(fsync)?;
    }
    Ok(())
}
