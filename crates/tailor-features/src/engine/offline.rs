//! Point-in-time feature values for training data: the value each declared feature had
//! for an entity just before a given time, computed from a recorded event history with the
//! stream engine itself, so offline and online values cannot drift apart.
//!
//! # Semantics
//!
//! For a query `(entity, id, T)` the answer is the entity's row as the engine computes it
//! from exactly the events with event time `< T`, evaluated as of `T − 1 ms` (the last
//! instant before `T`). No event at or after `T` can leak in, whatever order the events
//! were logged in.
//!
//! Events the stream dropped as late (older than their partition's watermark when they
//! were read, see the engine's semantics) are dropped here too: [`late_in_log_order`]
//! replays the watermark over the log order. The rest are applied in event-time order
//! (ties: log partition, then offset) to the partition they were logged in, so per-partition
//! state and the cross-partition merge are the stream's.
//!
//! Hence, for an in-order stream, the row the online engine served at stream time `s`
//! equals the offline row for `T = s + 1 ms`; for out-of-order events inside the
//! allowed lateness, the offline row is the one the stream converged to once every event
//! before `T` had arrived.

use std::sync::Arc;

use super::compile::FeatureSet;
use super::input::FeatureEvent;
use super::value::{EntityKind, FeatureRow};
use super::FeatureEngine;

/// One event of the recorded history, where the log had it.
#[derive(Debug, Clone)]
pub struct LoggedEvent {
    pub partition: u32,
    pub offset: u64,
    pub event: FeatureEvent,
}

/// One point-in-time question: the row of `id` (of `kind`) just before `at_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointQuery {
    pub kind: EntityKind,
    pub id: String,
    pub at_ms: i64,
}

/// Marks the events the stream engine skipped as late: walking each partition in offset
/// order, an event older than that partition's highest event time so far minus the allowed
/// lateness. `events` must be in (partition, offset) order.
pub fn late_in_log_order(set: &FeatureSet, events: &[LoggedEvent]) -> Vec<bool> {
    let mut max: Vec<Option<i64>> = Vec::new();
    events
        .iter()
        .map(|e| {
            let p = e.partition as usize;
            if max.len() <= p {
                max.resize(p + 1, None);
            }
            let t = e.event.event_time_ms;
            match max[p] {
                Some(m) if t < m.saturating_sub(set.lateness_ms) => true,
                _ => {
                    max[p] = Some(max[p].map_or(t, |m| m.max(t)));
                    false
                }
            }
        })
        .collect()
}

/// Answers `queries` over `events` (in (partition, offset) order, as the lake returns them
/// for replay), one answer per query in the order asked; `None` when no event before the
/// query's time carried the entity. `progress` is called with the number of events applied
/// so far, now and then.
pub fn point_in_time(
    set: Arc<FeatureSet>,
    partitions: u32,
    events: Vec<LoggedEvent>,
    queries: &[PointQuery],
    mut progress: impl FnMut(u64),
) -> Vec<Option<FeatureRow>> {
    let late = late_in_log_order(&set, &events);
    let mut kept: Vec<LoggedEvent> = events
        .into_iter()
        .zip(late)
        .filter_map(|(e, late)| (!late).then_some(e))
        .collect();
    kept.sort_by_key(|e| (e.event.event_time_ms, e.partition, e.offset));
    let parts = partitions.max(1 + kept.iter().map(|e| e.partition).max().unwrap_or(0));
    let mut engine = FeatureEngine::with_set(set.clone(), parts);
    engine.set_track_touched(false);

    let mut order: Vec<usize> = (0..queries.len()).collect();
    order.sort_by_key(|&i| queries[i].at_ms);
    let mut answers = vec![None; queries.len()];
    let mut next = 0usize;
    for i in order {
        let q = &queries[i];
        while let Some(e) = kept.get(next) {
            if e.event.event_time_ms >= q.at_ms {
                break;
            }
            engine.apply(e.partition, e.offset, &e.event);
            next += 1;
            if next.is_multiple_of(100_000) {
                progress(next as u64);
            }
        }
        answers[i] = engine.read_at(&q.kind, &q.id, q.at_ms.saturating_sub(1));
    }
    progress(next as u64);
    answers
}
