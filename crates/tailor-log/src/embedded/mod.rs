//! The embedded log: segment files on local disk, one group-commit writer thread.
//!
//! Layout under the log directory:
//! `topics/<topic>/meta.json` (`{"partitions": N}`),
//! `topics/<topic>/<partition>/<base_offset:020>.log` (segments) and
//! `groups/<group>.json` (committed offsets). A `LOCK` file keeps a second writer out;
//! [`EmbeddedLog::open_read_only`] opens a snapshot without it, for tools that inspect a log
//! a running server writes.

pub mod frame;
mod offsets;
mod partition;
mod read_only;
mod segment;
mod writer;

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use futures::future::{self, BoxFuture, FutureExt};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use self::frame::framed_len;
use self::offsets::OffsetStore;
use self::partition::Partition;
use self::writer::Request;
use crate::metrics as m;
use crate::{
    partition_for_key, validate_name, Appended, Error, Log, Record, Result, StoredRecord,
    TopicInfo, MAX_PARTITIONS,
};

/// Options of an [`EmbeddedLog`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// A segment rolls when the next record would take it past this size (default 64 MiB).
    pub segment_bytes: u64,
    /// fsync before acknowledging (default true). Off only for tests and benchmarks.
    pub fsync: bool,
    /// Append requests that may wait for the writer; beyond it appends get
    /// [`Error::Backpressure`] (default 1024).
    pub queue_capacity: usize,
    /// Most records in one `append` call (default 10 000).
    pub max_records_per_append: usize,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions {
            segment_bytes: 64 * 1024 * 1024,
            fsync: true,
            queue_capacity: 1024,
            max_records_per_append: 10_000,
        }
    }
}

/// A topic and its open partitions.
pub(crate) struct Topic {
    pub name: Arc<str>,
    pub partitions: Vec<Arc<Partition>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicMeta {
    partitions: u32,
}

/// The embedded, file-backed [`Log`].
pub struct EmbeddedLog {
    dir: PathBuf,
    opts: EmbeddedOptions,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serializes topic creation (file I/O happens outside the `topics` lock).
    create_lock: Mutex<()>,
    tx: RwLock<Option<SyncSender<Request>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    depth: Arc<AtomicUsize>,
    offsets: OffsetStore,
    /// Opened with [`EmbeddedLog::open_read_only`]: a snapshot that refuses writes.
    read_only: bool,
    /// The `LOCK` file, held while the log is open for writing.
    _lock: Option<File>,
}

impl std::fmt::Debug for EmbeddedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedLog")
            .field("dir", &self.dir)
            .field("opts", &self.opts)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl EmbeddedLog {
    /// Open (or create) the log in `dir`: load every topic, validate and repair the tail of
    /// each partition, and start the writer thread.
    pub fn open(dir: &Path, opts: EmbeddedOptions) -> Result<Arc<EmbeddedLog>> {
        m::describe();
        let topics_dir = dir.join("topics");
        let groups_dir = dir.join("groups");
        for d in [&topics_dir, &groups_dir] {
            std::fs::create_dir_all(d)
                .map_err(|e| Error::io(format!("creating {}", d.display()), e))?;
        }
        if opts.fsync {
            sync_dir(dir).map_err(|e| Error::io(format!("syncing {}", dir.display()), e))?;
        }
        let lock_path = dir.join("LOCK");
        let lock = File::create(&lock_path)
            .map_err(|e| Error::io(format!("creating {}", lock_path.display()), e))?;
        lock.try_lock().map_err(|e| {
            Error::io(
                format!(
                    "locking {} (is another process using this log?)",
                    lock_path.display()
                ),
                io::Error::other(e.to_string()),
            )
        })?;

        let mut topics = HashMap::new();
        for (name, partitions) in list_topics(&topics_dir)? {
            let topic = open_topic(&topics_dir, &name, partitions, opts.fsync)?;
            topics.insert(name, topic);
        }

        let (tx, rx) = sync_channel(opts.queue_capacity.max(1));
        let depth = Arc::new(AtomicUsize::new(0));
        let handle = writer::spawn(rx, Arc::clone(&depth), opts.clone())
            .map_err(|e| Error::io("starting the log writer thread", e))?;
        Ok(Arc::new(EmbeddedLog {
            dir: dir.to_path_buf(),
            offsets: OffsetStore::new(groups_dir, opts.fsync),
            opts,
            topics: RwLock::new(topics),
            create_lock: Mutex::new(()),
            tx: RwLock::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            depth,
            read_only: false,
            _lock: Some(lock),
        }))
    }

    /// The directory this log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when opened with [`EmbeddedLog::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    fn refuse_writes(&self) -> Result<()> {
        if self.read_only {
            Err(Error::ReadOnly {
                dir: self.dir.display().to_string(),
            })
        } else {
            Ok(())
        }
    }

    fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.topics
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownTopic(name.to_owned()))
    }

    fn partition(&self, topic: &str, partition: u32) -> Result<Arc<Partition>> {
        let t = self.topic(topic)?;
        t.partitions
            .get(partition as usize)
            .cloned()
            .ok_or_else(|| Error::UnknownPartition {
                topic: topic.to_owned(),
                partition,
                partitions: t.partitions.len() as u32,
            })
    }

    /// Validate and queue an append; the receiver yields the writer's answer.
    fn enqueue(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> Result<oneshot::Receiver<Result<Vec<Appended>>>> {
        if records.len() > self.opts.max_records_per_append {
            return Err(Error::TooManyRecords {
                count: records.len(),
                max: self.opts.max_records_per_append,
            });
        }
        let topic = self.topic(topic)?;
        let n = topic.partitions.len() as u32;
        let mut partitions = Vec::with_capacity(records.len());
        for record in &records {
            framed_len(record)?;
            partitions.push(partition_for_key(&record.key, n));
        }
        let (reply, rx) = oneshot::channel();
        let request = Request {
            topic,
            records,
            partitions,
            reply,
        };
        let tx = self.tx.read();
        let tx = tx.as_ref().ok_or(Error::Closed)?;
        let depth = self.depth.fetch_add(1, Ordering::AcqRel) + 1;
        match tx.try_send(request) {
            Ok(()) => {
                metrics::gauge!(m::QUEUE_DEPTH).set(depth as f64);
                Ok(rx)
            }
            Err(e) => {
                self.depth.fetch_sub(1, Ordering::AcqRel);
                match e {
                    TrySendError::Full(_) => {
                        metrics::counter!(m::BACKPRESSURE_TOTAL).increment(1);
                        Err(Error::Backpressure)
                    }
                    TrySendError::Disconnected(_) => Err(Error::Closed),
                }
            }
        }
    }
}

/// The finished topics under `topics_dir` with their partition counts; entries that are not
/// topics, and topics whose creation did not finish (no `meta.json`), are skipped.
fn list_topics(topics_dir: &Path) -> Result<Vec<(String, u32)>> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(topics_dir)
        .map_err(|e| Error::io(format!("listing {}", topics_dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", topics_dir.display()), e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            tracing::warn!(path = %entry.path().display(), "ignoring non-UTF-8 entry in topics directory");
            continue;
        };
        if validate_name("topic", &name).is_err() || !entry.path().is_dir() {
            tracing::warn!(path = %entry.path().display(), "ignoring unexpected entry in topics directory");
            continue;
        }
        let meta_path = entry.path().join("meta.json");
        let meta: TopicMeta = match std::fs::read(&meta_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Metadata {
                path: meta_path.display().to_string(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                tracing::warn!(topic = %name, "ignoring topic without meta.json (creation did not finish)");
                continue;
            }
            Err(e) => return Err(Error::io(format!("reading {}", meta_path.display()), e)),
        };
        if meta.partitions == 0 || meta.partitions > MAX_PARTITIONS {
            return Err(Error::Metadata {
                path: meta_path.display().to_string(),
                reason: format!("partition count {} is out of range", meta.partitions),
            });
        }
        found.push((name, meta.partitions));
    }
    Ok(found)
}

fn open_topic(topics_dir: &Path, name: &str, partitions: u32, fsync: bool) -> Result<Arc<Topic>> {
    let name: Arc<str> = Arc::from(name);
    let dir = topics_dir.join(&*name);
    let parts = (0..partitions)
        .map(|p| {
            Partition::open(Arc::clone(&name), p, dir.join(p.to_string()), fsync).map(Arc::new)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Topic {
        name,
        partitions: parts,
    }))
}

/// fsync a directory so that entries created, renamed or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replace `path` with `bytes` atomically: write a temp file, fsync, rename, fsync the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], fsync: bool) -> Result<()> {
    let ctx = |what: &str| format!("{what} {}", path.display());
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut f = File::create(&tmp).map_err(|e| Error::io(ctx("creating a temp file for"), e))?;
    f.write_all(bytes)
        .map_err(|e| Error::io(ctx("writing"), e))?;
    if fsync {
        f.sync_all().map_err(|e| Error::io(ctx("syncing"), e))?;
    }
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(ctx("renaming a temp file onto"), e))?;
    if fsync {
        if let Some(parent) = path.parent() {
            sync_dir(parent).map_err(|e| Error::io(ctx("syncing the directory of"), e))?;
        }
    }
    Ok(())
}

impl Log for EmbeddedLog {
    fn create_topic(&self, name: &str, partitions: u32) -> Result<()> {
        validate_name("topic", name)?;
        if partitions == 0 || partitions > MAX_PARTITIONS {
            return Err(Error::InvalidPartitionCount(partitions));
        }
        let _creating = self.create_lock.lock();
        if let Some(t) = self.topics.read().get(name) {
            let existing = t.partitions.len() as u32;
            return if existing == partitions {
                Ok(())
            } else {
                Err(Error::TopicExists {
                    topic: name.to_owned(),
                    existing,
                    requested: partitions,
                })
            };
        }
        self.refuse_writes()?;
        let topics_dir = self.dir.join("topics");
        let topic = open_topic(&topics_dir, name, partitions, self.opts.fsync)?;
        let meta = serde_json::to_vec(&TopicMeta { partitions }).map_err(|e| Error::Metadata {
            path: name.to_owned(),
            reason: e.to_string(),
        })?;
        // meta.json last: a topic without it is an unfinished creation and is ignored at open.
        write_atomic(
            &topics_dir.join(name).join("meta.json"),
            &meta,
            self.opts.fsync,
        )?;
        if self.opts.fsync {
            sync_dir(&topics_dir)
                .map_err(|e| Error::io(format!("syncing {}", topics_dir.display()), e))?;
        }
        tracing::info!(topic = %name, partitions, "created topic");
        self.topics.write().insert(name.to_owned(), topic);
        Ok(())
    }

    fn topics(&self) -> Vec<TopicInfo> {
        let mut out: Vec<TopicInfo> = self
            .topics
            .read()
            .values()
            .map(|t| TopicInfo {
                name: t.name.to_string(),
                partitions: t.partitions.len() as u32,
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn partitions(&self, topic: &str) -> Result<u32> {
        Ok(self.topic(topic)?.partitions.len() as u32)
    }

    fn append(
        &self,
        topic: &str,
        records: Vec<Record>,
    ) -> BoxFuture<'static, Result<Vec<Appended>>> {
        if let Err(e) = self.refuse_writes() {
            return future::ready(Err(e)).boxed();
        }
        if records.is_empty() {
            let checked = self.topic(topic).map(|_| Vec::new());
            return future::ready(checked).boxed();
        }
        match self.enqueue(topic, records) {
            Ok(rx) => async move { rx.await.unwrap_or(Err(Error::Closed)) }.boxed(),
            Err(e) => future::ready(Err(e)).boxed(),
        }
    }

    fn read(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        max_records: usize,
    ) -> Result<Vec<StoredRecord>> {
        self.partition(topic, partition)?.read(offset, max_records)
    }

    fn start_offset(&self, topic: &str, partition: u32) -> Result<u64> {
        Ok(self.partition(topic, partition)?.start_offset())
    }

    fn end_offset(&self, topic: &str, partition: u32) -> Result<u64> {
        Ok(self.partition(topic, partition)?.end_offset())
    }

    fn wait_for(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        timeout: Duration,
    ) -> BoxFuture<'static, bool> {
        match self.partition(topic, partition) {
            Ok(p) => p.wait_for(offset, timeout).boxed(),
            Err(_) => future::ready(false).boxed(),
        }
    }

    fn commit(&self, group: &str, topic: &str, partition: u32, offset: u64) -> Result<()> {
        self.refuse_writes()?;
        validate_name("consumer group", group)?;
        self.partition(topic, partition)?;
        self.offsets.commit(group, topic, partition, offset)
    }

    fn committed(&self, group: &str, topic: &str, partition: u32) -> Result<Option<u64>> {
        validate_name("consumer group", group)?;
        self.partition(topic, partition)?;
        self.offsets.committed(group, topic, partition)
    }

    fn close(&self) -> Result<()> {
        if self.read_only {
            return Ok(());
        }
        // Dropping the sender lets the writer drain what is queued and exit.
        drop(self.tx.write().take());
        let Some(handle) = self.writer.lock().take() else {
            return Ok(());
        };
        if handle.join().is_err() {
            return Err(Error::WriterFailed("the writer thread panicked".into()));
        }
        let topics: Vec<Arc<Topic>> = self.topics.read().values().cloned().collect();
        for topic in topics {
            for part in &topic.partitions {
                let active = Arc::clone(part.writer.lock().active());
                active
                    .file
                    .sync_all()
                    .map_err(|e| Error::io(format!("syncing {}", active.path.display()), e))?;
            }
        }
        Ok(())
    }
}

impl Drop for EmbeddedLog {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, dir = %self.dir.display(), "closing the log failed");
        }
    }
}
