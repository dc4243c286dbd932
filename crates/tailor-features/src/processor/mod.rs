//! The live processor: consumes the `events` topic into [`LiveState`] (the co-occurrence
//! model and trending) and the [`FeatureEngine`] (declared features), writes the feature rows
//! each batch touched to a materialized online store when one is configured, and checkpoints
//! both states atomically with the offsets they cover.
//!
//! Serving reads the same states under shared locks; the processor takes them exclusively
//! for one slice of [`APPLY_SLICE`] events at a time, so a reader waits for at most one
//! slice (well under a millisecond), and an event is visible to readers as soon as its
//! slice is applied.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::select_all;
use parking_lot::RwLock;
use tailor_log::{ErasureList, Log, StoredRecord};
use tokio::sync::{mpsc, watch};

use crate::checkpoint::{encode_checkpoint, CheckpointStore, Snapshot};
use crate::config::LiveConfig;
use crate::engine::{FeatureEngine, FeatureEvent, FeaturesConfig};
use crate::metrics as m;
use crate::online::{FeatureReader, LiveReader, OnlineBackend, OnlineStore};
use crate::state::LiveState;
use crate::Result;

mod control;
mod group;

use self::control::Command;
pub use self::control::{ForgetReport, ProcessorControl};
pub use self::group::GroupOptions;
use self::group::{Group, Keeper};

/// Records read from one partition per step.
const READ_BATCH: usize = 2_000;

/// After a failed online-store write, the pause before every row is written again (while
/// the store is down, batches are applied without writing).
const STORE_RETRY: Duration = Duration::from_secs(2);

/// Events applied per exclusive hold of the state locks.
pub const APPLY_SLICE: usize = 256;

pub struct Processor {
    log: Arc<dyn Log>,
    topic: String,
    group: String,
    cfg: LiveConfig,
    state: Arc<RwLock<LiveState>>,
    engine: Arc<RwLock<FeatureEngine>>,
    /// Where touched rows are materialized; `None` when serving reads the engine itself.
    store: Option<Arc<dyn OnlineStore>>,
    /// When the last online-store write failed, while the store is behind.
    resync: parking_lot::Mutex<Option<Instant>>,
    checkpoint: CheckpointStore,
    /// Records of erased users, skipped wherever they are read.
    erasures: Arc<ErasureList>,
    /// Set when processors share the partitions (`live.assignment = "group"`).
    sharing: Option<Group>,
}

/// Where the processor reads from and writes to.
pub struct ProcessorOptions {
    pub topic: String,
    pub group: String,
    pub live: LiveConfig,
    pub features: FeaturesConfig,
    /// Where serving reads features (`online = "..."`, see [`crate::online::open`]).
    pub online: OnlineBackend,
    pub checkpoint: CheckpointStore,
    /// Share the partitions with other processors (see [`GroupOptions`]); `None`: own
    /// every partition.
    pub sharing: Option<GroupOptions>,
}

/// A running processor; [`ProcessorHandle::stop`] drains, checkpoints and commits.
pub struct ProcessorHandle {
    shutdown: watch::Sender<bool>,
    join: std::thread::JoinHandle<Result<()>>,
    control: ProcessorControl,
}

impl ProcessorHandle {
    /// Sends commands to the running processor.
    pub fn control(&self) -> ProcessorControl {
        self.control.clone()
    }

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
    /// Loads the checkpoint (if any) and prepares to resume from its offsets. Feature
    /// definitions that changed since the checkpoint make it unusable: all state is then
    /// rebuilt from offset 0.
    pub fn open(log: Arc<dyn Log>, opts: ProcessorOptions) -> Result<Self> {
        let partitions = log.partitions(&opts.topic)?;
        if let Some(g) = opts.sharing {
            // Nothing is owned until the group assigns partitions (see `run`).
            let mut engine = FeatureEngine::new(&opts.features, partitions)?;
            engine.set_track_touched(true);
            let state = LiveState {
                offsets: vec![0; partitions as usize],
                ..LiveState::default()
            };
            m::describe();
            return Ok(Processor {
                log,
                topic: opts.topic,
                group: opts.group,
                sharing: Some(Group {
                    store: g.store,
                    checkpoints: g.checkpoints,
                    session_timeout: g.session_timeout,
                    owned: Arc::default(),
                }),
                cfg: opts.live,
                state: Arc::new(RwLock::new(state)),
                engine: Arc::new(RwLock::new(engine)),
                store: None,
                resync: parking_lot::Mutex::new(None),
                checkpoint: opts.checkpoint.clone(),
                erasures: Arc::new(ErasureList::new()),
            });
        }
        let snapshot = opts.checkpoint.load()?.unwrap_or_default();
        let (mut state, mut engine) = match restore(snapshot, &opts.features, partitions)? {
            Some(restored) => restored,
            None => (
                LiveState::default(),
                FeatureEngine::new(&opts.features, partitions)?,
            ),
        };
        if state.offsets.len() < partitions as usize {
            state.offsets.resize(partitions as usize, 0);
        }
        state.refresh_trending(&opts.live);
        let store = match opts.online {
            OnlineBackend::Live => {
                engine.set_track_touched(false);
                None
            }
            OnlineBackend::Store(store) => {
                // A materialized store starts from the restored state.
                let rows = engine.materialize(&engine.entities());
                let restored_rows = rows.len();
                store.write(rows)?;
                tracing::info!(
                    rows = restored_rows,
                    "online feature store loaded from the checkpoint"
                );
                Some(store)
            }
        };
        tracing::info!(
            events = state.events_processed,
            offsets = ?state.offsets,
            "live state restored from checkpoint"
        );
        m::describe();
        Ok(Processor {
            log,
            topic: opts.topic,
            group: opts.group,
            cfg: opts.live,
            state: Arc::new(RwLock::new(state)),
            engine: Arc::new(RwLock::new(engine)),
            store,
            resync: parking_lot::Mutex::new(None),
            checkpoint: opts.checkpoint.clone(),
            erasures: Arc::new(ErasureList::new()),
            sharing: None,
        })
    }

    /// Skips the records `erasures` covers (shared with whoever adds erasures).
    pub fn with_erasures(mut self, erasures: Arc<ErasureList>) -> Processor {
        self.erasures = erasures;
        self
    }

    /// The feature engine (tools read it directly; the API reads the online store).
    pub fn engine(&self) -> Arc<RwLock<FeatureEngine>> {
        self.engine.clone()
    }

    /// What serving reads features from: the materialized store if there is one, else the
    /// engine state itself.
    pub fn reader(&self) -> Arc<dyn FeatureReader> {
        match &self.store {
            Some(store) => {
                let store: Arc<dyn FeatureReader> = store.clone();
                store
            }
            None => Arc::new(LiveReader::new(self.engine.clone())),
        }
    }

    /// The partitions owned now, when processors share them (`None`: every partition).
    pub fn owned(&self) -> Option<Arc<parking_lot::Mutex<std::collections::BTreeSet<u32>>>> {
        self.sharing.as_ref().map(|g| g.owned.clone())
    }

    /// The state the recommender reads.
    pub fn state(&self) -> Arc<RwLock<LiveState>> {
        self.state.clone()
    }

    /// Runs the processor on its own OS thread (with a single-threaded runtime for its
    /// timers and waits), so applying a batch never holds up the API's runtime workers.
    pub fn spawn(self) -> Result<ProcessorHandle> {
        let (tx, rx) = watch::channel(false);
        let (control, commands) = mpsc::unbounded_channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(crate::Error::Spawn)?;
        let join = std::thread::Builder::new()
            .name("tailor-live".into())
            .spawn(move || runtime.block_on(self.run(rx, commands)))
            .map_err(crate::Error::Spawn)?;
        Ok(ProcessorHandle {
            shutdown: tx,
            join,
            control: ProcessorControl { tx: control },
        })
    }

    /// The partitions this processor applies: every one, or those its group gave it.
    fn partitions(&self) -> Vec<u32> {
        match &self.sharing {
            Some(g) => g.owned.lock().iter().copied().collect(),
            None => (0..self.state.read().offsets.len() as u32).collect(),
        }
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
        let mut applied = 0;
        for p in self.partitions() {
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
        let decoded: Vec<(u64, Option<FeatureEvent>)> = {
            let engine = self.engine.read();
            records
                .iter()
                .map(|r| match engine.decode_event(&r.value) {
                    // Reported by the log once per range; nothing to decode.
                    _ if r.headers.iter().any(|(k, _)| k == tailor_log::QUARANTINED_HEADER) => {
                        (r.offset, None)
                    }
                    Ok(e)
                        if self.erasures.erases_event(
                            partition,
                            r.offset,
                            e.user_id.as_deref(),
                            e.anonymous_id.as_deref(),
                        ) =>
                    {
                        (r.offset, None)
                    }
                    Ok(e) => (r.offset, Some(e)),
                    Err(e) => {
                        tracing::error!(partition, offset = r.offset, error = %e, "undecodable event in the log; skipped");
                        metrics::counter!(m::UNDECODABLE).increment(1);
                        (r.offset, None)
                    }
                })
                .collect()
        };
        let mut late = 0u64;
        let mut outcomes = Vec::with_capacity(APPLY_SLICE);
        let mut run: Vec<(u64, &FeatureEvent)> = Vec::with_capacity(APPLY_SLICE);
        let slices = decoded.len().div_ceil(APPLY_SLICE);
        for (i, slice) in decoded.chunks(APPLY_SLICE).enumerate() {
            let mut state = self.state.write();
            let mut engine = self.engine.write();
            // Runs of decodable events go to the engine as batches (it prefetches their
            // entities); an undecodable record is skipped in its place.
            run.clear();
            outcomes.clear();
            for (offset, event) in slice {
                match event {
                    Some(e) if self.sharing.is_some() => {
                        state.note(partition, *offset, e.event_time_ms);
                        run.push((*offset, e));
                    }
                    Some(e) => {
                        state.apply(&self.cfg, partition, *offset, e);
                        run.push((*offset, e));
                    }
                    None => {
                        engine.apply_batch(partition, &run, &mut outcomes);
                        run.clear();
                        if let Some(o) = state.offsets.get_mut(partition as usize) {
                            *o = offset + 1;
                        }
                        engine.skip(partition, *offset);
                    }
                }
            }
            engine.apply_batch(partition, &run, &mut outcomes);
            late += outcomes.iter().filter(|o| o.late).count() as u64;
            if i + 1 == slices {
                // Before the batch's last events become visible, so a reader that sees
                // them also sees the trending they changed.
                state.refresh_trending(&self.cfg);
                metrics::gauge!(m::WATERMARK).set(state.watermark_ms as f64 / 1e3);
            }
            if let Some(g) = &self.sharing {
                // Before the state lock is released, as below.
                self.publish(g, &mut engine, partition);
            } else if let Some(store) = &self.store {
                let touched = engine.take_touched();
                let mut resync = self.resync.lock();
                let rows = match *resync {
                    // A failed write left the store behind: once the retry pause is over,
                    // every row is written again (newer-wins makes that idempotent).
                    Some(failed_at) if failed_at.elapsed() >= STORE_RETRY => {
                        Some(engine.materialize(&engine.entities()))
                    }
                    Some(_) => None,
                    None => Some(engine.materialize(&touched)),
                };
                drop(engine);
                // Written before the state lock is released, so anyone who sees these
                // offsets applied (e.g. `/v1/status` lag 0) also sees their feature rows.
                if let Some(rows) = rows {
                    let n = rows.len();
                    match store.write(rows) {
                        Ok(()) if resync.is_some() => {
                            tracing::info!(rows = n, "online store caught up after failed writes");
                            *resync = None;
                        }
                        Ok(()) => {}
                        Err(e) => {
                            metrics::counter!(m::STORE_WRITE_FAILURES).increment(1);
                            tracing::error!(error = %e, retry_in = ?STORE_RETRY, "could not write feature rows to the online store; every row is written again once it answers");
                            *resync = Some(Instant::now());
                        }
                    }
                }
            }
        }
        let now = chrono_now_ms();
        metrics::counter!(m::EVENTS).increment(decoded.len() as u64);
        if late > 0 {
            metrics::counter!(m::FEATURE_LATE_EVENTS, "partition" => partition.to_string())
                .increment(late);
        }
        for (_, e) in decoded.iter().rev().take(1) {
            if let Some(e) = e {
                metrics::histogram!(m::LATENCY)
                    .record((now - e.received_at_ms).max(0) as f64 / 1e3);
                metrics::histogram!(m::FEATURE_VISIBLE_LATENCY)
                    .record((now - e.event_time_ms).max(0) as f64 / 1e3);
            }
        }
    }

    /// Writes the states of the entities `partition` touched to the group's shared store;
    /// after a failed write, once the retry pause is over, every entity of every owned
    /// partition (the store keeps the highest offset, so rewriting is idempotent).
    fn publish(&self, g: &Group, engine: &mut FeatureEngine, partition: u32) {
        let mut resync = self.resync.lock();
        let writes = match *resync {
            None => vec![group::touched_states(engine, partition)],
            // Behind: the touched set is not needed, every owned entity is written once the
            // retry pause is over.
            Some(failed_at) => {
                group::drop_touched(engine, partition);
                if failed_at.elapsed() < STORE_RETRY {
                    return;
                }
                g.owned
                    .lock()
                    .iter()
                    .map(|&p| group::all_states(engine, p))
                    .collect()
            }
        };
        for (p, offset, time, states) in writes {
            if let Err(e) = g.store.write(p, offset, time, &states) {
                metrics::counter!(m::STORE_WRITE_FAILURES).increment(1);
                tracing::error!(error = %e, retry_in = ?STORE_RETRY, "could not write partition states to the online store; every owned entity is written again once it answers");
                *resync = Some(Instant::now());
                return;
            }
        }
        if resync.take().is_some() {
            tracing::info!("online store caught up after failed writes");
        }
    }

    /// Per-partition lag and watermark lag: cheap, after every step.
    fn update_lag(&self) {
        let offsets = self.state.read().offsets.clone();
        let owned = self.partitions();
        for (p, off) in offsets.iter().enumerate() {
            if !owned.contains(&(p as u32)) {
                continue;
            }
            if let Ok(end) = self.log.end_offset(&self.topic, p as u32) {
                metrics::gauge!(m::LAG, "partition" => p.to_string())
                    .set(end.saturating_sub(*off) as f64);
            }
        }
        let now = chrono_now_ms();
        let engine = self.engine.read();
        for part in engine.partitions() {
            if let Some(w) = part.watermark_ms() {
                metrics::gauge!(m::FEATURE_WATERMARK_LAG, "partition" => part.partition().to_string())
                    .set((now - w).max(0) as f64 / 1e3);
            }
        }
    }

    /// State size (walks the whole state): at checkpoint time only.
    fn update_state_size(&self) {
        let engine = self.engine.read();
        let (mut keys, mut bytes) = (0u64, 0u64);
        for st in engine.stats() {
            keys += st.entities;
            bytes += st.approx_bytes;
        }
        metrics::gauge!(m::FEATURE_STATE_KEYS).set(keys as f64);
        metrics::gauge!(m::FEATURE_STATE_BYTES).set(bytes as f64);
    }

    /// A consistent snapshot of both states: taken under both locks (feature partitions
    /// encoded, live state cloned), so the two cover exactly the same offsets. Serializing
    /// and writing happen after the locks are released ([`Processor::write_snapshot`]).
    fn snapshot(&self) -> Snapshot {
        let s = self.state.read();
        let engine = self.engine.read();
        let features = (0..engine.partitions().len() as u32)
            .filter_map(|p| engine.encode_partition(p))
            .collect();
        Snapshot {
            live: s.clone(),
            features,
        }
    }

    /// Serializes and durably writes a snapshot (on a blocking thread, while the processor
    /// goes on applying), then commits its offsets to the consumer group.
    fn write_snapshot(
        &self,
        snapshot: Snapshot,
    ) -> impl std::future::Future<Output = Result<()>> + 'static {
        let started = Instant::now();
        let store = self.checkpoint.clone();
        let (log, group, topic) = (self.log.clone(), self.group.clone(), self.topic.clone());
        let offsets = snapshot.live.offsets.clone();
        let write = tokio::task::spawn_blocking(move || {
            let bytes = encode_checkpoint(&snapshot);
            store.write(&bytes).map(|()| bytes.len())
        });
        let display = self.checkpoint.location();
        async move {
            let size = write.await.unwrap_or_else(|e| {
                Err(crate::Error::Io {
                    path: display,
                    source: std::io::Error::other(e),
                })
            })?;
            for (p, off) in offsets.iter().enumerate() {
                log.commit(&group, &topic, p as u32, *off)?;
            }
            metrics::histogram!(m::CHECKPOINT_SECONDS).record(started.elapsed().as_secs_f64());
            metrics::gauge!(m::CHECKPOINT_BYTES).set(size as f64);
            Ok(())
        }
    }

    /// Snapshots now, then (when awaited) writes the checkpoint and commits the same
    /// offsets to the consumer group.
    fn checkpoint(&self) -> impl std::future::Future<Output = Result<()>> + 'static {
        let snapshot = self.snapshot();
        self.update_state_size();
        self.write_snapshot(snapshot)
    }

    async fn run(
        self,
        mut shutdown: watch::Receiver<bool>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) -> Result<()> {
        let interval = Duration::from_secs(self.cfg.checkpoint_interval_secs);
        let mut last_checkpoint = Instant::now();
        let mut dirty = false;
        let mut pending: Option<tokio::task::JoinHandle<Result<()>>> = None;
        let keeper = self.sharing.as_ref().map(|g| Keeper {
            engine: self.engine.clone(),
            checkpoints: g.checkpoints.clone(),
            owned: g.owned.clone(),
        });
        let member = match (&self.sharing, &keeper) {
            (Some(g), Some(k)) => Some(self.log.join_group(
                &self.group,
                &self.topic,
                g.session_timeout,
                k.revoke_hook(),
            )?),
            _ => None,
        };
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let (Some(member), Some(k)) = (&member, &keeper) {
                match member.poll(Duration::ZERO) {
                    Ok(Some(assigned)) => {
                        metrics::counter!(m::REBALANCES).increment(1);
                        for p in assigned {
                            if k.owned.lock().contains(&p) {
                                continue;
                            }
                            if let Err(e) = k.restore(p, &self.state) {
                                tracing::error!(partition = p, error = %e, "cannot take over a partition");
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "consumer group membership"),
                }
            }
            while let Ok(cmd) = commands.try_recv() {
                self.command(cmd, &mut pending).await;
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
            // One checkpoint write in flight at a time; applying goes on meanwhile.
            if pending.as_ref().is_some_and(|h| h.is_finished()) {
                if let Some(h) = pending.take() {
                    let failed = match h.await {
                        Ok(Ok(())) => None,
                        Ok(Err(e)) => Some(e.to_string()),
                        Err(e) => Some(e.to_string()),
                    };
                    if let Some(error) = failed {
                        tracing::error!(%error, "checkpoint failed; will retry");
                        dirty = true;
                    }
                }
            }
            if pending.is_none() && dirty && last_checkpoint.elapsed() >= interval {
                match &keeper {
                    // Each owned partition on its own (quick: one partition's state).
                    Some(k) => {
                        let mut offsets = Vec::new();
                        for p in self.partitions() {
                            match k.save(p) {
                                Ok(Some(offset)) => offsets.push((p, offset)),
                                Ok(None) => {}
                                Err(e) => {
                                    tracing::error!(partition = p, error = %e, "checkpoint failed; will retry")
                                }
                            }
                        }
                        if let Some(member) = &member {
                            if let Err(e) = member.commit(&offsets) {
                                tracing::warn!(error = %e, "could not commit the group's offsets (the checkpoints hold them)");
                            }
                        }
                        self.update_state_size();
                    }
                    None => pending = Some(tokio::spawn(self.checkpoint())),
                }
                dirty = false;
                last_checkpoint = Instant::now();
            }
            if applied == 0 {
                let waits = {
                    let owned = self.partitions();
                    let s = self.state.read();
                    s.offsets
                        .iter()
                        .enumerate()
                        .filter(|(p, _)| owned.contains(&(*p as u32)))
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
                    Some(cmd) = commands.recv() => self.command(cmd, &mut pending).await,
                }
            } else {
                tokio::task::yield_now().await;
            }
        }
        // Drain what is durable, then checkpoint and commit.
        if let Some(h) = pending.take() {
            if let Ok(Err(e)) = h.await {
                tracing::error!(error = %e, "checkpoint failed; writing a final one");
            }
        }
        if let Err(e) = self.catch_up() {
            tracing::error!(error = %e, "could not drain the log before stopping");
        }
        match (member, &keeper) {
            // Leaving runs the hook: every owned partition is checkpointed and handed over.
            (Some(member), Some(_)) => member.leave(),
            _ => self.checkpoint().await?,
        }
        tracing::info!(
            events = self.state.read().events_processed,
            "live processor stopped"
        );
        Ok(())
    }
}

/// Both states from a checkpoint, or `None` when it cannot be resumed from and everything
/// must be rebuilt from offset 0: the feature definitions changed, or the two states cover
/// different offsets (e.g. a checkpoint without feature state).
fn restore(
    snapshot: Snapshot,
    features: &FeaturesConfig,
    partitions: u32,
) -> Result<Option<(LiveState, FeatureEngine)>> {
    let mut engine = FeatureEngine::new(features, partitions)?;
    for (p, bytes) in snapshot.features.iter().enumerate() {
        match engine.restore_partition(p as u32, bytes) {
            Ok(()) => {}
            Err(crate::Error::FeatureDefinitionsChanged) => {
                tracing::warn!(
                    "feature definitions changed since the checkpoint; rebuilding all state from offset 0"
                );
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
    }
    let mut live = snapshot.live;
    if live.offsets.len() < partitions as usize {
        live.offsets.resize(partitions as usize, 0);
    }
    if engine
        .next_offsets()
        .iter()
        .zip(&live.offsets)
        .any(|(a, b)| a != b)
    {
        tracing::warn!(
            "feature state and live state cover different offsets; rebuilding from offset 0"
        );
        return Ok(None);
    }
    Ok(Some((live, engine)))
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
