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
mod fill;
mod flush;
mod stats;

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tailor_log::Log;

use self::buffer::{Buffer, Prepared};
use self::fill::wait_any;
pub use self::stats::SinkStats;
use crate::config::LakeConfig;
use crate::jobs::{LakeJobRun, LakeJobs};
use crate::layout::CONSUMER_GROUP;
use crate::manifest::{self, Manifest};
use crate::metrics as m;
use crate::quality::QualityMonitor;
use crate::store::Lake;
use crate::{Result, Table};

/// Longest wait for new records before checking roll and shutdown again.
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// Retention runs at most this often in [`LakeSink::run`].
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// First retry delay after a failed retention run (doubling, at most [`RETENTION_EVERY`]).
const RETENTION_RETRY: Duration = Duration::from_secs(60);

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
    pub(crate) quality: Option<Arc<QualityMonitor>>,
    pub(crate) jobs: LakeJobs,
    /// Records of erased users, skipped when the log is read.
    pub(crate) erasures: Arc<tailor_log::ErasureList>,
    /// Set to commit the buffer at the next turn of [`LakeSink::run`], roll time or not.
    pub(crate) flush_requested: std::sync::atomic::AtomicBool,
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
            quality: None,
            jobs: LakeJobs::default(),
            erasures: Arc::new(tailor_log::ErasureList::new()),
            flush_requested: std::sync::atomic::AtomicBool::new(false),
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

    /// Runs `monitor`'s data-quality checks on every commit and commits their results
    /// (table `quality`) with the rows they judged.
    pub fn with_quality(mut self, monitor: Arc<QualityMonitor>) -> LakeSink {
        self.quality = Some(monitor);
        self
    }

    /// Skips the log records `erasures` covers (shared with whoever adds erasures; see
    /// [`LakeSink::erase`] for the rows already written).
    pub fn with_erasures(self, erasures: Arc<tailor_log::ErasureList>) -> LakeSink {
        LakeSink { erasures, ..self }
    }

    /// Records maintenance runs in `jobs` (shared with `GET /v1/jobs`).
    pub fn with_jobs(self, jobs: LakeJobs) -> LakeSink {
        LakeSink { jobs, ..self }
    }

    /// Takes the buffer's rows for a commit, with the quality reports that go with them.
    fn prepare(&self, buf: &mut Buffer) -> Result<Prepared> {
        let mut prepared = buf.take()?;
        if let Some(q) = &self.quality {
            prepared.reports = q.take_pending();
            if q.config().enabled && !prepared.parts.is_empty() {
                let events: Vec<&arrow::array::RecordBatch> = prepared
                    .parts
                    .iter()
                    .filter(|p| p.table == Table::Events)
                    .map(|p| &p.batch)
                    .collect();
                let dead: u64 = prepared
                    .parts
                    .iter()
                    .filter(|p| p.table == Table::DeadLetters)
                    .map(|p| p.batch.num_rows() as u64)
                    .sum();
                let started = std::time::Instant::now();
                let report = q.check_commit(&events, dead, (self.clock)());
                metrics::histogram!(m::QUALITY_CHECK_SECONDS)
                    .record(started.elapsed().as_secs_f64());
                prepared.reports.push(report);
            }
        }
        Ok(prepared)
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
                    (name.starts_with("f-") || name.starts_with("c-") || name.starts_with("e-"))
                        && name.contains(".parquet");
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
        let mut buf = Buffer::new(
            self.state.lock().await.manifest.offsets.clone(),
            self.erasures.clone(),
        );
        loop {
            let full = self.fill(log, &mut buf).await?;
            let reports = self
                .quality
                .as_ref()
                .is_some_and(|q| q.pending_for().is_some());
            if buf.dirty() || reports {
                let prepared = self.prepare(&mut buf)?;
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
        let mut buf = Buffer::new(
            self.state.lock().await.manifest.offsets.clone(),
            self.erasures.clone(),
        );
        let roll_after = Duration::from_secs(self.config.roll_secs);
        let mut next_retention: Option<tokio::time::Instant> = None;
        if self.config.compact_min_files > 0 {
            self.jobs.declare("lake_compaction", "after each commit");
        }
        if self.config.retention_days > 0 {
            self.jobs.declare("lake_retention", "hourly");
        }
        let mut read_failures = 0u32;
        loop {
            let full = match self.fill(&*log, &mut buf).await {
                Ok(full) => {
                    read_failures = 0;
                    full
                }
                // The log can be away for a while (a Kafka outage, a restarting broker):
                // what is buffered stays, and reading resumes where it stopped.
                Err(e) => {
                    read_failures += 1;
                    let pause = Duration::from_millis(250 << read_failures.min(5));
                    tracing::error!(error = %e, retry_in = ?pause, "the lake sink cannot read the log; retrying");
                    metrics::counter!(m::READ_FAILURES_TOTAL).increment(1);
                    tokio::select! {
                        () = &mut shutdown => {
                            if buf.dirty() {
                                let prepared = self.prepare(&mut buf)?;
                                stats.add(&self.flush(&prepared).await?);
                                self.report_group_offsets(&*log, &prepared);
                            }
                            return Ok(stats);
                        }
                        () = tokio::time::sleep(pause) => continue,
                    }
                }
            };
            let asked = self
                .flush_requested
                .swap(false, std::sync::atomic::Ordering::Relaxed);
            let due = asked || buf.since.is_some_and(|t| t.elapsed() >= roll_after);
            // Reports of other jobs do not wait for new events longer than a roll.
            let reports_due = self
                .quality
                .as_ref()
                .and_then(|q| q.pending_for())
                .is_some_and(|t| t >= roll_after);
            if (buf.dirty() && (full || due)) || reports_due {
                let prepared = self.prepare(&mut buf)?;
                let Some(s) = self.flush_retrying(&prepared, shutdown.as_mut()).await? else {
                    return Ok(stats);
                };
                stats.add(&s);
                self.report_group_offsets(&*log, &prepared);
                self.maintain(&mut next_retention).await;
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
                    let reports = self.quality.as_ref().is_some_and(|q| q.pending_for().is_some());
                    if buf.dirty() || reports {
                        let prepared = self.prepare(&mut buf)?;
                        stats.add(&self.flush(&prepared).await?);
                        self.report_group_offsets(&*log, &prepared);
                    }
                    return Ok(stats);
                }
                () = wait_any(&*log, &buf, wait) => {}
            }
        }
    }

    /// Compaction and retention after a flush; failures are logged and recorded (and
    /// retried: compaction after the next flush, retention with backoff from a minute up
    /// to its hour), not fatal.
    async fn maintain(&self, next_retention: &mut Option<tokio::time::Instant>) {
        // `run` declared the jobs before its first flush.
        if self.config.compact_min_files > 0 {
            // Leave the partitions still being written (allowing for late events) alone.
            let settle_ms = 2 * 1000 * self.config.roll_secs as i64;
            let started = std::time::Instant::now();
            let at = (self.clock)();
            let (status, message) = match self.compact_closed_before(at - settle_ms).await {
                Ok(s) => (
                    "succeeded",
                    format!(
                        "{} files into {} in {} partitions",
                        s.files_in, s.files_out, s.partitions
                    ),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "lake compaction failed; will retry after the next flush");
                    ("failed", e.to_string())
                }
            };
            // Idle runs (nothing to merge) are not worth a record.
            if status == "failed" || !message.starts_with("0 files") {
                self.jobs.record(
                    "lake_compaction",
                    LakeJobRun {
                        started_at_ms: at,
                        duration_secs: started.elapsed().as_secs_f64(),
                        status,
                        message,
                    },
                    None,
                );
            }
        }
        if self.config.retention_days > 0
            && next_retention.is_none_or(|t| tokio::time::Instant::now() >= t)
        {
            let started = std::time::Instant::now();
            let at = (self.clock)();
            let (status, message) = match self.apply_retention(at).await {
                Ok(s) => (
                    "succeeded",
                    format!(
                        "{} partitions, {} files, {} rows dropped",
                        s.partitions, s.files, s.rows
                    ),
                ),
                Err(e) => ("failed", e.to_string()),
            };
            let failures = self.jobs.record(
                "lake_retention",
                LakeJobRun {
                    started_at_ms: at,
                    duration_secs: started.elapsed().as_secs_f64(),
                    status,
                    message: message.clone(),
                },
                None,
            );
            let wait = if failures == 0 {
                RETENTION_EVERY
            } else {
                RETENTION_RETRY
                    .saturating_mul(1 << (failures - 1).min(8))
                    .min(RETENTION_EVERY)
            };
            if failures > 0 {
                tracing::warn!(error = %message, retry_in_secs = wait.as_secs(), "lake retention failed; retrying");
            }
            *next_retention = Some(tokio::time::Instant::now() + wait);
            self.jobs
                .record_next("lake_retention", at + wait.as_millis() as i64);
        }
    }

    /// Asks [`LakeSink::run`] to commit what it has buffered now rather than at roll time.
    pub fn request_flush(&self) {
        self.flush_requested
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The maintenance jobs' records.
    pub fn jobs(&self) -> LakeJobs {
        self.jobs.clone()
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
