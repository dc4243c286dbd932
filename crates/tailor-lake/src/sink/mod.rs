//! The lake sink: a log consumer that writes the `events` and `events.dead-letter` topics to
//! Parquet files and commits them, with the log offsets they cover, in one manifest version.
//!
//! Exactly once: a flush encodes the buffered rows (one file per table and hive partition),
//! puts the files under names derived from the manifest version that will commit them, then
//! writes that version (create-only). Until that put lands, the files are orphans nobody
//! reads; a restart loads the newest manifest, deletes orphans and reads the log again from
//! the committed offsets, so every record ends up in exactly one committed file. See
//! `docs/adr/0005-lake-layout-and-commits.md`.

pub(crate) mod buffer;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::path::Path;
use tailor_log::Log;

use self::buffer::{Buffer, Part, Prepared};
use crate::config::LakeConfig;
use crate::layout::{flush_file, CONSUMER_GROUP, DEAD_LETTER_TOPIC, EVENTS_TOPIC};
use crate::manifest::{self, DataFile, Manifest};
use crate::metrics as m;
use crate::store::Lake;
use crate::{Error, Result, Table};

/// Records per log read.
const READ_BATCH: usize = 2_000;
/// Longest wait for new records before checking roll and shutdown again.
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// Retention runs at most this often in [`LakeSink::run`].
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Milliseconds since the epoch; injected so tests control time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    })
}

/// What a sink run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Log records consumed and committed.
    pub records: u64,
    /// Rows committed to `events`.
    pub event_rows: u64,
    /// Rows committed to `dead_letters`.
    pub dead_letter_rows: u64,
    /// Records that could not be decoded (kept in `dead_letters`).
    pub undecodable: u64,
    /// Records the log deleted before the sink read them.
    pub skipped: u64,
    /// Data files committed.
    pub files: u64,
    /// Bytes of data files committed.
    pub bytes: u64,
    /// Manifest versions committed.
    pub commits: u64,
}

impl SinkStats {
    fn add(&mut self, o: &SinkStats) {
        self.records += o.records;
        self.event_rows += o.event_rows;
        self.dead_letter_rows += o.dead_letter_rows;
        self.undecodable += o.undecodable;
        self.skipped += o.skipped;
        self.files += o.files;
        self.bytes += o.bytes;
        self.commits += o.commits;
    }
}

pub(crate) struct State {
    pub manifest: Manifest,
    pub next_version: u64,
}

/// The lake's single writer: consumes the log, writes and commits files, compacts and
/// expires them. Only one sink may write a lake at a time.
pub struct LakeSink {
    pub(crate) lake: Lake,
    pub(crate) config: LakeConfig,
    pub(crate) state: tokio::sync::Mutex<State>,
    pub(crate) compaction: tokio::sync::Mutex<()>,
    pub(crate) clock: Clock,
}

impl std::fmt::Debug for LakeSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeSink")
            .field("lake", &self.lake)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl LakeSink {
    /// Opens the lake that `config` names (relative paths under `data_dir`), loads the newest
    /// manifest and deletes the files of interrupted writes.
    pub async fn open(config: &LakeConfig, data_dir: &std::path::Path) -> Result<LakeSink> {
        let lake = Lake::open(config, data_dir)?;
        LakeSink::with_lake(lake, config.clone()).await
    }

    /// Like [`LakeSink::open`], on an already opened [`Lake`].
    pub async fn with_lake(lake: Lake, config: LakeConfig) -> Result<LakeSink> {
        config.validate()?;
        m::describe();
        let loaded = manifest::load(&lake).await?;
        let sink = LakeSink {
            lake,
            config,
            state: tokio::sync::Mutex::new(State {
                manifest: loaded.manifest,
                next_version: loaded.next_version,
            }),
            compaction: tokio::sync::Mutex::new(()),
            clock: system_clock(),
        };
        sink.delete_orphans().await?;
        let newest = sink.state.lock().await.manifest.version;
        manifest::prune(&sink.lake, newest).await?;
        Ok(sink)
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> LakeSink {
        self.clock = clock;
        self
    }

    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    pub fn config(&self) -> &LakeConfig {
        &self.config
    }

    /// The current committed manifest.
    pub async fn manifest(&self) -> Manifest {
        self.state.lock().await.manifest.clone()
    }

    /// Deletes flush and compaction outputs that no manifest references (interrupted writes).
    async fn delete_orphans(&self) -> Result<u64> {
        let st = self.state.lock().await;
        let keep: HashSet<&str> = st
            .manifest
            .files
            .iter()
            .map(|f| f.path.as_str())
            .chain(st.manifest.removed.iter().map(|r| r.path.as_str()))
            .collect();
        let mut deleted = 0;
        for table in Table::ALL {
            for meta in self.lake.list(table.name()).await? {
                let name = meta.location.filename().unwrap_or_default();
                let ours =
                    (name.starts_with("f-") || name.starts_with("c-")) && name.contains(".parquet");
                if ours && !keep.contains(meta.location.as_ref()) {
                    tracing::info!(path = %meta.location, "deleting uncommitted lake file");
                    self.lake.delete(&meta.location).await?;
                    deleted += 1;
                }
            }
        }
        metrics::counter!(m::ORPHAN_FILES_DELETED_TOTAL).increment(deleted);
        Ok(deleted)
    }

    /// Consumes everything the log holds now, writes it (rolling every `roll_bytes`) and
    /// commits it.
    pub async fn run_once(&self, log: &dyn Log) -> Result<SinkStats> {
        let mut stats = SinkStats::default();
        let mut buf = Buffer::new(self.state.lock().await.manifest.offsets.clone());
        loop {
            let full = self.fill(log, &mut buf).await?;
            if buf.dirty() {
                let prepared = buf.take()?;
                stats.add(&self.flush(&prepared).await?);
                self.report_group_offsets(log, &prepared);
            }
            if !full {
                return Ok(stats);
            }
        }
    }

    /// Runs until `shutdown` resolves: consumes new records as they arrive, rolls files
    /// every `roll_bytes` or `roll_secs`, compacts (when `compact_min_files` > 0) and applies
    /// retention (hourly, when `retention_days` > 0). Failed flushes are retried with
    /// backoff. On shutdown the buffer is committed before returning.
    ///
    /// Decoding and encoding use the CPU: give this loop its own runtime or thread when the
    /// process also serves requests.
    pub async fn run(
        &self,
        log: Arc<dyn Log>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<SinkStats> {
        let mut shutdown = std::pin::pin!(shutdown);
        let mut stats = SinkStats::default();
        let mut buf = Buffer::new(self.state.lock().await.manifest.offsets.clone());
        let roll_after = Duration::from_secs(self.config.roll_secs);
        let mut last_retention: Option<tokio::time::Instant> = None;
        loop {
            let full = self.fill(&*log, &mut buf).await?;
            let due = buf.since.is_some_and(|t| t.elapsed() >= roll_after);
            if buf.dirty() && (full || due) {
                let prepared = buf.take()?;
                let Some(s) = self.flush_retrying(&prepared, shutdown.as_mut()).await? else {
                    return Ok(stats);
                };
                stats.add(&s);
                self.report_group_offsets(&*log, &prepared);
                self.maintain(&mut last_retention).await;
                continue;
            }
            metrics::gauge!(m::BUFFERED_BYTES).set(buf.bytes as f64);
            self.report_lag().await;
            if full {
                continue;
            }
            let wait = match buf.since {
                Some(t) => roll_after.saturating_sub(t.elapsed()).min(IDLE_WAIT),
                None => IDLE_WAIT,
            };
            tokio::select! {
                () = &mut shutdown => {
                    if buf.dirty() {
                        let prepared = buf.take()?;
                        stats.add(&self.flush(&prepared).await?);
                        self.report_group_offsets(&*log, &prepared);
                    }
                    return Ok(stats);
                }
                () = wait_any(&*log, &buf, wait) => {}
            }
        }
    }

    /// Reads available records into `buf` until the log is drained (`false`) or the buffer
    /// reaches `roll_bytes` (`true`).
    async fn fill(&self, log: &dyn Log, buf: &mut Buffer) -> Result<bool> {
        let roll = self.config.roll_bytes as usize;
        for topic in [EVENTS_TOPIC, DEAD_LETTER_TOPIC] {
            let partitions = match log.partitions(topic) {
                Ok(n) => n,
                Err(tailor_log::Error::UnknownTopic(_)) => continue,
                Err(e) => return Err(e.into()),
            };
            for p in 0..partitions {
                if buf.position(topic, p).is_none() {
                    buf.init_position(topic, p, log.start_offset(topic, p)?);
                }
                loop {
                    if buf.bytes >= roll {
                        return Ok(true);
                    }
                    let from = buf.position(topic, p).unwrap_or(0);
                    let records = match log.read(topic, p, from, READ_BATCH) {
                        Ok(r) => r,
                        Err(tailor_log::Error::OffsetOutOfRange { start, end, .. }) => {
                            if from > end {
                                return Err(Error::AheadOfLog {
                                    topic: topic.to_owned(),
                                    partition: p,
                                    committed: from,
                                    end,
                                });
                            }
                            tracing::warn!(
                                topic,
                                partition = p,
                                from,
                                start,
                                "log records were deleted before the lake sink read them; skipping"
                            );
                            buf.skip_to(topic, p, start);
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    };
                    if records.is_empty() {
                        break;
                    }
                    for r in &records {
                        if buf.bytes >= roll {
                            // The rest is read again after the flush.
                            return Ok(true);
                        }
                        buf.add(r);
                    }
                    // Let other tasks run between batches of CPU-bound decoding.
                    tokio::task::yield_now().await;
                }
            }
        }
        Ok(false)
    }

    /// Writes and commits `prepared`; on failure nothing is committed and it may be retried.
    pub(crate) async fn flush(&self, prepared: &Prepared) -> Result<SinkStats> {
        let started = std::time::Instant::now();
        let mut st = self.state.lock().await;
        let version = st.next_version;
        // Encode in parallel (one blocking task per file), then upload a few at a time.
        let encoded =
            futures::future::try_join_all(prepared.parts.iter().enumerate().map(|(seq, part)| {
                let part = part.clone();
                async move {
                    let p = part.clone();
                    let bytes =
                        tokio::task::spawn_blocking(move || crate::encode::encode(&p.batch))
                            .await
                            .map_err(|e| {
                                Error::io("encoding a lake file", std::io::Error::other(e))
                            })??;
                    Ok::<_, Error>((
                        flush_file(part.table, part.partition, version, seq),
                        part,
                        bytes,
                    ))
                }
            }))
            .await?;
        let files: Vec<DataFile> = futures::stream::iter(encoded)
            .map(|(path, part, bytes)| async move {
                let size = bytes.len() as u64;
                self.lake.put(&path, bytes).await?;
                Ok::<_, Error>(data_file(&path, &part, size))
            })
            .buffered(4)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_>>()?;

        let mut next = st.manifest.clone();
        next.committed_at_ms = (self.clock)();
        next.offsets.clone_from(&prepared.positions);
        if let Some(t) = prepared.newest_event_ms {
            next.newest_event_time_ms = Some(next.newest_event_time_ms.map_or(t, |n| n.max(t)));
        }
        next.files.extend(files.iter().cloned());
        manifest::commit(&self.lake, &mut next, version).await?;
        st.manifest = next;
        st.next_version = version + 1;
        drop(st);

        let mut stats = SinkStats {
            commits: 1,
            ..SinkStats::default()
        };
        for f in &files {
            let t = f.table.name();
            metrics::counter!(m::ROWS_WRITTEN_TOTAL, "table" => t).increment(f.rows);
            metrics::counter!(m::FILES_WRITTEN_TOTAL, "table" => t).increment(1);
            metrics::counter!(m::BYTES_WRITTEN_TOTAL, "table" => t).increment(f.bytes);
            match f.table {
                Table::Events => stats.event_rows += f.rows,
                Table::DeadLetters => stats.dead_letter_rows += f.rows,
            }
            stats.files += 1;
            stats.bytes += f.bytes;
        }
        for (topic, n) in &prepared.records {
            metrics::counter!(m::RECORDS_CONSUMED_TOTAL, "topic" => topic.clone()).increment(*n);
            stats.records += n;
        }
        for (topic, n) in &prepared.undecodable {
            metrics::counter!(m::UNDECODABLE_RECORDS_TOTAL, "topic" => topic.clone()).increment(*n);
            stats.undecodable += n;
        }
        for (topic, n) in &prepared.skipped {
            metrics::counter!(m::SKIPPED_RECORDS_TOTAL, "topic" => topic.clone()).increment(*n);
            stats.skipped += n;
        }
        for (topic, parts) in &prepared.positions {
            for (p, off) in parts {
                metrics::gauge!(m::COMMITTED_OFFSET, "topic" => topic.clone(), "partition" => p.to_string())
                    .set(*off as f64);
            }
        }
        metrics::counter!(m::COMMITS_TOTAL).increment(1);
        metrics::histogram!(m::FLUSH_SECONDS).record(started.elapsed().as_secs_f64());
        self.report_lag().await;
        tracing::debug!(
            version,
            files = stats.files,
            records = stats.records,
            "lake commit"
        );
        Ok(stats)
    }

    /// [`Self::flush`], retried with backoff until it succeeds; `None` if `shutdown` came
    /// first. A conflict with another writer is not retried.
    async fn flush_retrying(
        &self,
        prepared: &Prepared,
        mut shutdown: std::pin::Pin<&mut (impl Future<Output = ()> + Send)>,
    ) -> Result<Option<SinkStats>> {
        let mut backoff = Duration::from_millis(500);
        loop {
            match self.flush(prepared).await {
                Ok(s) => return Ok(Some(s)),
                Err(e @ (Error::Conflict { .. } | Error::Config(_))) => return Err(e),
                Err(e) => {
                    metrics::counter!(m::FLUSH_ERRORS_TOTAL).increment(1);
                    tracing::error!(error = %e, retry_in_ms = backoff.as_millis() as u64, "lake flush failed; retrying");
                    tokio::select! {
                        () = shutdown.as_mut() => return Ok(None),
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Compaction and retention after a flush; failures are logged, not fatal.
    async fn maintain(&self, last_retention: &mut Option<tokio::time::Instant>) {
        if self.config.compact_min_files > 0 {
            // Leave the partitions still being written (allowing for late events) alone.
            let settle_ms = 2 * 1000 * self.config.roll_secs as i64;
            if let Err(e) = self.compact_closed_before((self.clock)() - settle_ms).await {
                tracing::warn!(error = %e, "lake compaction failed; will retry after the next flush");
            }
        }
        if self.config.retention_days > 0
            && last_retention.is_none_or(|t| t.elapsed() >= RETENTION_EVERY)
        {
            *last_retention = Some(tokio::time::Instant::now());
            if let Err(e) = self.apply_retention((self.clock)()).await {
                tracing::warn!(error = %e, "lake retention failed; will retry in an hour");
            }
        }
    }

    /// Reports the committed positions to the log's consumer group `lake` (for lag
    /// monitoring only: the manifest is what the sink resumes from).
    fn report_group_offsets(&self, log: &dyn Log, prepared: &Prepared) {
        for (topic, parts) in &prepared.positions {
            for (p, off) in parts {
                if let Err(e) = log.commit(CONSUMER_GROUP, topic, *p, *off) {
                    tracing::debug!(error = %e, "could not report lake offsets to the log");
                    return;
                }
            }
        }
    }

    async fn report_lag(&self) {
        let newest = self.state.lock().await.manifest.newest_event_time_ms;
        if let Some(t) = newest {
            let lag = ((self.clock)() - t) as f64 / 1000.0;
            metrics::gauge!(m::COMMIT_LAG_SECONDS).set(lag.max(0.0));
        }
    }

    /// Committed offsets (next to consume) per topic and partition.
    pub async fn committed_offsets(&self) -> BTreeMap<String, BTreeMap<u32, u64>> {
        self.state.lock().await.manifest.offsets.clone()
    }
}

fn data_file(path: &Path, part: &Part, bytes: u64) -> DataFile {
    DataFile {
        table: part.table,
        path: path.to_string(),
        dt: part.partition.date(),
        hour: part.partition.hour,
        rows: part.batch.num_rows() as u64,
        bytes,
        min_time_ms: part.min_time_ms,
        max_time_ms: part.max_time_ms,
    }
}

/// Resolves when any known partition has records past the buffer's position, or after
/// `timeout`.
async fn wait_any(log: &dyn Log, buf: &Buffer, timeout: Duration) {
    let waits: Vec<_> = buf
        .positions
        .iter()
        .filter(|(topic, _)| log.partitions(topic).is_ok())
        .flat_map(|(topic, parts)| {
            parts
                .iter()
                .map(move |(p, off)| log.wait_for(topic, *p, *off, timeout))
        })
        .collect();
    if waits.is_empty() {
        tokio::time::sleep(timeout).await;
    } else {
        futures::future::select_all(waits).await;
    }
}
