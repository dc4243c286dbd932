//! The live processor: consumes the `events` topic into [`LiveState`] and checkpoints the
//! state atomically with the offsets it covers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::select_all;
use parking_lot::RwLock;
use tailor_event::EventView;
use tailor_log::{Log, StoredRecord};
use tokio::sync::watch;

use crate::checkpoint::{encode_checkpoint, load_checkpoint, write_checkpoint};
use crate::config::LiveConfig;
use crate::metrics as m;
use crate::state::LiveState;
use crate::Result;

/// Records read from one partition per step.
const READ_BATCH: usize = 2_000;

pub struct Processor {
    log: Arc<dyn Log>,
    topic: String,
    group: String,
    cfg: LiveConfig,
    state: Arc<RwLock<LiveState>>,
    checkpoint_path: PathBuf,
}

/// A running processor; [`ProcessorHandle::stop`] drains, checkpoints and commits.
pub struct ProcessorHandle {
    shutdown: watch::Sender<bool>,
    join: std::thread::JoinHandle<Result<()>>,
}

impl ProcessorHandle {
    pub async fn stop(self) -> Result<()> {
        let _ = self.shutdown.send(true);
        let join = self.join;
        match tokio::task::spawn_blocking(move || join.join()).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) | Err(_) => {
                tracing::error!("live processor thread panicked");
                Ok(())
            }
        }
    }
}

impl Processor {
    /// Loads the checkpoint (if any) and prepares to resume from its offsets.
    pub fn open(
        log: Arc<dyn Log>,
        topic: &str,
        group: &str,
        cfg: LiveConfig,
        checkpoint_path: PathBuf,
    ) -> Result<Self> {
        let partitions = log.partitions(topic)? as usize;
        let mut state = load_checkpoint(&checkpoint_path)?.unwrap_or_default();
        if state.offsets.len() < partitions {
            state.offsets.resize(partitions, 0);
        }
        state.refresh_trending(&cfg);
        tracing::info!(
            events = state.events_processed,
            offsets = ?state.offsets,
            "live state restored from checkpoint"
        );
        m::describe();
        Ok(Processor {
            log,
            topic: topic.to_owned(),
            group: group.to_owned(),
            cfg,
            state: Arc::new(RwLock::new(state)),
            checkpoint_path,
        })
    }

    /// The state the recommender reads.
    pub fn state(&self) -> Arc<RwLock<LiveState>> {
        self.state.clone()
    }

    /// Runs the processor on its own OS thread (with a single-threaded runtime for its
    /// timers and waits), so applying a batch never holds up the API's runtime workers.
    pub fn spawn(self) -> Result<ProcessorHandle> {
        let (tx, rx) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(crate::Error::Spawn)?;
        let join = std::thread::Builder::new()
            .name("tailor-live".into())
            .spawn(move || runtime.block_on(self.run(rx)))
            .map_err(crate::Error::Spawn)?;
        Ok(ProcessorHandle { shutdown: tx, join })
    }

    /// Processes whatever is in the log now, then returns (tools and tests).
    pub fn catch_up(&self) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = self.step()?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// Reads one batch from every partition and applies it; returns the records applied.
    fn step(&self) -> Result<u64> {
        let partitions = self.state.read().offsets.len();
        let mut applied = 0;
        for p in 0..partitions as u32 {
            let from = self.state.read().offsets[p as usize];
            let records = self.log.read(&self.topic, p, from, READ_BATCH)?;
            if records.is_empty() {
                continue;
            }
            applied += records.len() as u64;
            self.apply(p, &records);
        }
        Ok(applied)
    }

    fn apply(&self, partition: u32, records: &[StoredRecord]) {
        let decoded: Vec<(u64, Option<EventView>)> = records
            .iter()
            .map(|r| match EventView::from_json(&r.value) {
                Ok(e) => (r.offset, Some(e)),
                Err(e) => {
                    tracing::error!(partition, offset = r.offset, error = %e, "undecodable event in the log; skipped");
                    metrics::counter!(m::UNDECODABLE).increment(1);
                    (r.offset, None)
                }
            })
            .collect();
        let now = chrono_now_ms();
        let mut state = self.state.write();
        for (offset, event) in &decoded {
            match event {
                Some(e) => state.apply(&self.cfg, partition, *offset, e),
                None => {
                    if let Some(o) = state.offsets.get_mut(partition as usize) {
                        *o = offset + 1;
                    }
                }
            }
        }
        state.refresh_trending(&self.cfg);
        let watermark = state.watermark_ms;
        drop(state);
        metrics::counter!(m::EVENTS).increment(decoded.len() as u64);
        if let Some((_, Some(last))) = decoded.last() {
            metrics::histogram!(m::LATENCY).record((now - last.received_at_ms).max(0) as f64 / 1e3);
        }
        metrics::gauge!(m::WATERMARK).set(watermark as f64 / 1e3);
    }

    fn update_lag(&self) {
        let offsets = self.state.read().offsets.clone();
        for (p, off) in offsets.iter().enumerate() {
            if let Ok(end) = self.log.end_offset(&self.topic, p as u32) {
                metrics::gauge!(m::LAG, "partition" => p.to_string())
                    .set(end.saturating_sub(*off) as f64);
            }
        }
    }

    /// Writes the checkpoint, then commits the same offsets to the consumer group.
    async fn checkpoint(&self) -> Result<()> {
        let started = Instant::now();
        let (bytes, offsets) = {
            let s = self.state.read();
            (encode_checkpoint(&s), s.offsets.clone())
        };
        let path = self.checkpoint_path.clone();
        let size = bytes.len();
        tokio::task::spawn_blocking(move || write_checkpoint(&path, &bytes))
            .await
            .unwrap_or_else(|e| {
                Err(crate::Error::Io {
                    path: self.checkpoint_path.display().to_string(),
                    source: std::io::Error::other(e),
                })
            })?;
        for (p, off) in offsets.iter().enumerate() {
            self.log.commit(&self.group, &self.topic, p as u32, *off)?;
        }
        metrics::histogram!(m::CHECKPOINT_SECONDS).record(started.elapsed().as_secs_f64());
        metrics::gauge!(m::CHECKPOINT_BYTES).set(size as f64);
        Ok(())
    }

    async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<()> {
        let interval = Duration::from_secs(self.cfg.checkpoint_interval_secs);
        let mut last_checkpoint = Instant::now();
        let mut dirty = false;
        loop {
            if *shutdown.borrow() {
                break;
            }
            let applied = match self.step() {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "live processor cannot read the log; retrying in 1s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            dirty |= applied > 0;
            self.update_lag();
            if dirty && last_checkpoint.elapsed() >= interval {
                match self.checkpoint().await {
                    Ok(()) => dirty = false,
                    Err(e) => tracing::error!(error = %e, "checkpoint failed; will retry"),
                }
                last_checkpoint = Instant::now();
            }
            if applied == 0 {
                let waits = {
                    let s = self.state.read();
                    s.offsets
                        .iter()
                        .enumerate()
                        .map(|(p, off)| {
                            self.log.wait_for(
                                &self.topic,
                                p as u32,
                                *off,
                                Duration::from_millis(500),
                            )
                        })
                        .collect::<Vec<_>>()
                };
                if waits.is_empty() {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                tokio::select! {
                    _ = select_all(waits) => {}
                    _ = shutdown.changed() => {}
                }
            } else {
                tokio::task::yield_now().await;
            }
        }
        // Drain what is durable, then checkpoint and commit.
        if let Err(e) = self.catch_up() {
            tracing::error!(error = %e, "could not drain the log before stopping");
        }
        self.checkpoint().await?;
        tracing::info!(
            events = self.state.read().events_processed,
            "live processor stopped"
        );
        Ok(())
    }
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
