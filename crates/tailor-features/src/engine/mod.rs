//! The declarative streaming feature engine: feature definitions from `[features]` in
//! `tailor.toml` (DESIGN.md §4) computed over the event stream, in event time, as a pure
//! library — no I/O, no clock. The processor feeds it log records and checkpoints its
//! per-partition state with the offsets; [`crate::online`] serves the rows.
//!
//! # Semantics
//!
//! - **Updates.** A feature updates once per event, or once per matching interaction when
//!   its entity is `item` or `category`, or it filters on `interactions`, or it reads an
//!   interaction field (`field`, `group_by`, `where`), or it has `weights`. Events without
//!   interactions only feed per-event features. An update whose value is absent (or not a
//!   number, for sum/min/max/decayed_sum) is skipped.
//! - **Entities.** `user` is the actor (user id, else anonymous id); `global` has one
//!   entity, id [`GLOBAL_ID`]. An entity exists once an event carrying its id is applied,
//!   whatever the filters, and is dropped after `entity_ttl_secs` of event time without one.
//! - **Watermark.** Per partition: highest event time applied − `allowed_lateness_secs`.
//!   An event older than the watermark is late: counted ([`ApplyOutcome::late`]), not
//!   applied. Every other event is applied, in or out of order.
//! - **Windows.** See `window/sliding.rs` (the bucket rule and what a
//!   read "as of T" covers) and `window/session.rs` (the session and out-of-order rule).
//! - **Reads** evaluate windows as of the stream time (highest event time of all
//!   partitions) and merge an entity's partials across partitions
//!   (`agg.rs` lists the merge of each aggregation); ratios are computed after
//!   merging and are null when the denominator is 0.
//! - **Determinism.** The same events in the same order give the same state and the same
//!   encoded bytes; a state encoded, decoded and fed the rest of the events equals one
//!   that never stopped; [`PartitionState::apply_batch`] equals applying one at a time.
//!
//! # Use from the processor
//!
//! Per batch read from a partition: [`FeatureEngine::decode_event`] each record (or
//! [`FeatureEngine::skip`] an undecodable one), [`FeatureEngine::apply_batch`] (count the
//! late outcomes in `metrics::FEATURE_LATE_EVENTS`), then
//! `materialize(&take_touched())` into an [`crate::online::OnlineStore`] when rows are
//! materialized (serving in process reads the state itself: [`crate::online::LiveReader`]). Checkpoint
//! [`FeatureEngine::encode_partition`] with the partition's offset (it is inside the bytes
//! too: [`PartitionState::next_offset`]); on start, [`FeatureEngine::restore_partition`]
//! and resume from `next_offset`. Reads are as of [`FeatureEngine::stream_time_ms`].

pub(crate) mod agg;
pub mod bench;
mod compile;
mod def;
mod defaults;
mod entity;
mod filter;
mod input;
mod intern;
pub mod offline;
mod prefetch;
mod read;
mod snapshot;
mod state;
mod update;
mod validate;
mod value;
pub(crate) mod window;

use std::sync::Arc;

pub use agg::{DISTINCT_CAP, GROUP_KEPT, GROUP_KEYS};
pub use compile::FeatureSet;
pub use def::{parse_duration_ms, FeatureDef, FeaturesConfig, Predicate};
pub use defaults::default_definitions;
pub use input::FeatureEvent;
pub use read::PartEntity;
pub use state::{ApplyOutcome, PartitionState, PartitionStats};
pub use value::{EntityKey, EntityKind, FeatureRow, FeatureValue, GLOBAL_ID};
pub use window::sliding::{bucket_start, bucket_width_ms, MAX_BUCKETS};

use crate::Result;

/// The compiled definitions and the state of every partition.
#[derive(Debug)]
pub struct FeatureEngine {
    set: Arc<FeatureSet>,
    partitions: Vec<PartitionState>,
    track_touched: bool,
}

impl FeatureEngine {
    /// Validates the definitions; `partitions` states start empty.
    pub fn new(cfg: &FeaturesConfig, partitions: u32) -> Result<Self> {
        Ok(Self::with_set(FeatureSet::compile(cfg)?, partitions))
    }

    pub fn with_set(set: Arc<FeatureSet>, partitions: u32) -> Self {
        let partitions = (0..partitions)
            .map(|p| PartitionState::new(set.clone(), p))
            .collect();
        FeatureEngine {
            set,
            partitions,
            track_touched: true,
        }
    }

    pub fn feature_set(&self) -> &Arc<FeatureSet> {
        &self.set
    }

    pub fn partitions(&self) -> &[PartitionState] {
        &self.partitions
    }

    /// The state of `partition`, created empty (with the ones before it) if new.
    pub fn partition_mut(&mut self, partition: u32) -> &mut PartitionState {
        let p = partition as usize;
        while self.partitions.len() <= p {
            let next = self.partitions.len() as u32;
            let mut state = PartitionState::new(self.set.clone(), next);
            state.track_touched = self.track_touched;
            self.partitions.push(state);
        }
        &mut self.partitions[p]
    }

    /// Applies the event read at `offset` of `partition`.
    pub fn apply(&mut self, partition: u32, offset: u64, event: &FeatureEvent) -> ApplyOutcome {
        self.partition_mut(partition).apply(offset, event)
    }

    /// Applies events read from `partition`, in order (see [`PartitionState::apply_batch`]);
    /// appends one outcome per event.
    pub fn apply_batch(
        &mut self,
        partition: u32,
        batch: &[(u64, &FeatureEvent)],
        outcomes: &mut Vec<ApplyOutcome>,
    ) {
        self.partition_mut(partition).apply_batch(batch, outcomes);
    }

    /// Records an undecodable record as consumed.
    pub fn skip(&mut self, partition: u32, offset: u64) {
        self.partition_mut(partition).skip(offset);
    }

    /// Decodes a stored event, with its properties only if the definitions need them.
    pub fn decode_event(&self, bytes: &[u8]) -> Result<FeatureEvent, serde_json::Error> {
        FeatureEvent::decode(bytes, self.set.needs_properties())
    }

    /// Next offset to read, per partition.
    pub fn next_offsets(&self) -> Vec<u64> {
        self.partitions
            .iter()
            .map(PartitionState::next_offset)
            .collect()
    }

    /// Highest event time applied in any partition: reads are as of this time.
    pub fn stream_time_ms(&self) -> Option<i64> {
        self.partitions
            .iter()
            .filter_map(PartitionState::max_event_time_ms)
            .max()
    }

    /// The features of one entity as of the stream time, merged over all partitions.
    pub fn read(&self, kind: &EntityKind, id: &str) -> Option<FeatureRow> {
        let as_of = self.stream_time_ms()?;
        let k = self.set.kind_index(kind)?;
        read::read_row(&self.set, &self.partitions, k, id, as_of)
    }

    /// The features of one entity as of `as_of_ms` (any time, e.g. for point-in-time
    /// training data: [`offline`]), merged over all partitions.
    pub fn read_at(&self, kind: &EntityKind, id: &str, as_of_ms: i64) -> Option<FeatureRow> {
        let k = self.set.kind_index(kind)?;
        read::read_row(&self.set, &self.partitions, k, id, as_of_ms)
    }

    /// The rows of `ids` of one kind as of the stream time, in the order asked (`None` for
    /// entities not held).
    pub fn read_many(&self, kind: &EntityKind, ids: &[String]) -> Vec<Option<FeatureRow>> {
        let (Some(as_of), Some(k)) = (self.stream_time_ms(), self.set.kind_index(kind)) else {
            return vec![None; ids.len()];
        };
        ids.iter()
            .map(|id| read::read_row(&self.set, &self.partitions, k, id, as_of))
            .collect()
    }

    /// The rows of `entities` (e.g. from [`FeatureEngine::take_touched`]) as of the stream
    /// time; entities no longer held are left out.
    pub fn materialize(&self, entities: &[EntityKey]) -> Vec<FeatureRow> {
        let Some(as_of) = self.stream_time_ms() else {
            return Vec::new();
        };
        entities
            .iter()
            .filter_map(|e| {
                let k = self.set.kind_index(&e.kind)?;
                read::read_row(&self.set, &self.partitions, k, &e.id, as_of)
            })
            .collect()
    }

    /// Whether applying records touched entities for [`FeatureEngine::take_touched`] (on by
    /// default; a consumer that never takes them turns it off).
    pub fn set_track_touched(&mut self, on: bool) {
        self.track_touched = on;
        for p in &mut self.partitions {
            p.track_touched = on;
            if !on {
                p.take_touched();
            }
        }
    }

    /// Entities touched since the last call, over all partitions, sorted and de-duplicated.
    pub fn take_touched(&mut self) -> Vec<EntityKey> {
        let mut all: Vec<EntityKey> = self
            .partitions
            .iter_mut()
            .flat_map(PartitionState::take_touched)
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// Drops the actor `id`'s own state in every partition (see
    /// [`PartitionState::forget_actor`]): the entities dropped, and whether any partition
    /// still holds the id as another entity's value (e.g. a list of recent users).
    pub fn forget_actor(&mut self, id: &str) -> (u64, bool) {
        let (mut removed, mut held) = (0, false);
        for p in &mut self.partitions {
            let (r, h) = p.forget_actor(id);
            removed += r;
            held |= h;
        }
        (removed, held)
    }

    /// Every entity held, sorted and de-duplicated.
    pub fn entities(&self) -> Vec<EntityKey> {
        let mut all: Vec<EntityKey> = self
            .partitions
            .iter()
            .flat_map(PartitionState::entities)
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// The state of entity `id` of `kind` in `partition` alone, with its values resolved,
    /// for readers in other processes: [`FeatureSet::read_exported`] over every
    /// partition's export gives the row [`FeatureEngine::read_at`] gives here. `None` if
    /// the partition does not hold the entity.
    pub fn export_entity(&self, partition: u32, kind: &EntityKind, id: &str) -> Option<PartEntity> {
        let k = self.set.kind_index(kind)?;
        let part = self.partitions.get(partition as usize)?;
        let ent = part.kinds.get(k)?.get(part.interner.get(id)?)?;
        Some(PartEntity {
            last_ms: ent.head.last_ms,
            session: ent.head.session(),
            slots: ent
                .slots
                .iter()
                .map(|slot| slot.map(&|v| read::resolve(v, &part.interner)))
                .collect(),
        })
    }

    /// Empties `partition`'s state (a processor that gave the partition to another).
    pub fn reset_partition(&mut self, partition: u32) {
        let mut state = PartitionState::new(self.set.clone(), partition);
        state.track_touched = self.track_touched;
        *self.partition_mut(partition) = state;
    }

    /// The encoded state of `partition` (see [`PartitionState::encode`]).
    pub fn encode_partition(&self, partition: u32) -> Option<Vec<u8>> {
        self.partitions
            .get(partition as usize)
            .map(PartitionState::encode)
    }

    /// Replaces the state of `partition` with a decoded snapshot.
    pub fn restore_partition(&mut self, partition: u32, bytes: &[u8]) -> Result<()> {
        let mut state = PartitionState::decode(self.set.clone(), bytes)?;
        state.partition = partition;
        state.track_touched = self.track_touched;
        *self.partition_mut(partition) = state;
        Ok(())
    }

    pub fn stats(&self) -> Vec<PartitionStats> {
        self.partitions.iter().map(PartitionState::stats).collect()
    }
}

#[cfg(test)]
mod tests;
