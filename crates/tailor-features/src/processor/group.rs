//! Processors sharing the log's partitions (`live.assignment = "group"`, ADR 0016).
//!
//! The Kafka consumer group decides which partitions this processor owns. Each owned
//! partition's feature state is checkpointed on its own (blob `{partition}.state`, with the
//! offset it covers inside) and the group's committed offset follows it (committed by the
//! member: Kafka refuses commits to a group with members from clients outside it). A partition taken
//! away is checkpointed inside the rebalance, before another member gets it, and its state
//! dropped here; a partition given to this processor is restored from its checkpoint (or
//! starts empty at offset 0). After every slice the states of the entities it touched go to
//! the shared store ([`PartitionedStore`]), where readers merge the partitions.
//!
//! The live model (co-occurrence, trending) needs every partition and is not kept here;
//! recommendations come from the trained model and these features.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tailor_log::{Blobs, RevokeHook};

use crate::engine::{FeatureEngine, PartEntity};
use crate::metrics as m;
use crate::online::PartitionedStore;
use crate::state::LiveState;
use crate::{Error, Result};

/// Where a processor of a group keeps and publishes its partitions.
pub struct GroupOptions {
    /// Partition states readers merge (a Redis store).
    pub store: Arc<PartitionedStore>,
    /// Per-partition checkpoints, shared by the group's members (one machine's data
    /// directory, or the lake's bucket when they run on several machines).
    pub checkpoints: Arc<dyn Blobs>,
    /// `live.group_session_timeout_ms`.
    pub session_timeout: Duration,
}

/// The group side of a running processor.
pub(super) struct Group {
    pub(super) store: Arc<PartitionedStore>,
    pub(super) checkpoints: Arc<dyn Blobs>,
    pub(super) session_timeout: Duration,
    /// Partitions owned now.
    pub(super) owned: Arc<Mutex<BTreeSet<u32>>>,
}

/// The next offset `partition`'s state covers (0 for a partition never applied).
fn next_offset(engine: &FeatureEngine, partition: u32) -> u64 {
    engine
        .partitions()
        .get(partition as usize)
        .map_or(0, |p| p.next_offset())
}

fn state_key(partition: u32) -> String {
    format!("{partition}.state")
}

fn blob_err(checkpoints: &dyn Blobs, partition: u32) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: checkpoints.location(&state_key(partition)),
        source,
    }
}

/// What a group member needs to checkpoint and drop a partition, shared with the hook.
#[derive(Clone)]
pub(super) struct Keeper {
    pub(super) engine: Arc<RwLock<FeatureEngine>>,
    pub(super) checkpoints: Arc<dyn Blobs>,
    pub(super) owned: Arc<Mutex<BTreeSet<u32>>>,
}

impl Keeper {
    /// Writes `partition`'s checkpoint; returns the offset it covers (for the group's
    /// commit, which only a member can make).
    pub(super) fn save(&self, partition: u32) -> Result<Option<u64>> {
        let (bytes, offset) = {
            let engine = self.engine.read();
            let Some(bytes) = engine.encode_partition(partition) else {
                return Ok(None);
            };
            (bytes, next_offset(&engine, partition))
        };
        self.checkpoints
            .put(&state_key(partition), &bytes)
            .map_err(blob_err(self.checkpoints.as_ref(), partition))?;
        metrics::gauge!(m::CHECKPOINT_BYTES).set(bytes.len() as f64);
        Ok(Some(offset))
    }

    /// The hook of [`Log::join_group`]: partitions taken away are checkpointed, then
    /// dropped from this processor; their offsets are committed by the member.
    pub(super) fn revoke_hook(&self) -> RevokeHook {
        let keeper = self.clone();
        Arc::new(move |parts: &[u32]| {
            let mut offsets = Vec::new();
            for &p in parts {
                if !keeper.owned.lock().contains(&p) {
                    continue;
                }
                match keeper.save(p) {
                    Ok(Some(offset)) => offsets.push((p, offset)),
                    Ok(None) => {}
                    // The next owner replays from the last checkpoint that was written.
                    Err(e) => {
                        tracing::error!(partition = p, error = %e, "could not checkpoint a partition handed over; its next owner replays from the previous checkpoint")
                    }
                }
                keeper.engine.write().reset_partition(p);
                keeper.owned.lock().remove(&p);
                tracing::info!(partition = p, "partition handed over");
            }
            metrics::gauge!(m::OWNED_PARTITIONS).set(keeper.owned.lock().len() as f64);
            offsets
        })
    }

    /// Takes `partition` over: its state from its checkpoint (or empty from offset 0).
    pub(super) fn restore(&self, partition: u32, live: &RwLock<LiveState>) -> Result<()> {
        // Read before taking the engine's lock (the store may be remote).
        let stored = self
            .checkpoints
            .get(&state_key(partition))
            .map_err(blob_err(self.checkpoints.as_ref(), partition))?;
        let mut engine = self.engine.write();
        match stored {
            Some(bytes) => match engine.restore_partition(partition, &bytes) {
                Ok(()) => {}
                Err(Error::FeatureDefinitionsChanged) => {
                    tracing::warn!(
                        partition,
                        "feature definitions changed since the partition's checkpoint; rebuilding it from offset 0"
                    );
                    engine.reset_partition(partition);
                }
                Err(e) => return Err(e),
            },
            None => engine.reset_partition(partition),
        }
        let offset = next_offset(&engine, partition);
        let mut live = live.write();
        if live.offsets.len() <= partition as usize {
            live.offsets.resize(partition as usize + 1, 0);
        }
        live.offsets[partition as usize] = offset;
        drop(live);
        drop(engine);
        self.owned.lock().insert(partition);
        metrics::gauge!(m::OWNED_PARTITIONS).set(self.owned.lock().len() as f64);
        tracing::info!(partition, offset, "partition taken over");
        Ok(())
    }
}

/// One write to the shared store: partition, offset covered, its highest event time, and
/// entity states (`None` for entities it no longer holds).
pub(super) type Publish = (
    u32,
    u64,
    Option<i64>,
    Vec<(crate::EntityKey, Option<PartEntity>)>,
);

/// The states of the entities `partition` touched since the last call.
pub(super) fn touched_states(engine: &mut FeatureEngine, partition: u32) -> Publish {
    let touched = engine.partition_mut(partition).take_touched();
    states_of(engine, partition, touched)
}

/// Forgets which entities `partition` touched (every entity is written again instead).
pub(super) fn drop_touched(engine: &mut FeatureEngine, partition: u32) {
    engine.partition_mut(partition).take_touched();
}

/// The states of every entity `partition` holds.
pub(super) fn all_states(engine: &FeatureEngine, partition: u32) -> Publish {
    let all = engine
        .partitions()
        .get(partition as usize)
        .map(|p| p.entities())
        .unwrap_or_default();
    states_of(engine, partition, all)
}

fn states_of(engine: &FeatureEngine, partition: u32, keys: Vec<crate::EntityKey>) -> Publish {
    let (offset, time) = engine
        .partitions()
        .get(partition as usize)
        .map_or((0, None), |p| (p.next_offset(), p.max_event_time_ms()));
    let states = keys
        .into_iter()
        .map(|key| {
            let state = engine.export_entity(partition, &key.kind, &key.id);
            (key, state)
        })
        .collect();
    (partition, offset, time, states)
}
