//! Batched application with a read-only warm-up pass (group prefetching).
//!
//! Applying an event is a chain of dependent memory loads per entity — interner probe →
//! entity head → slots → bucket or list data — and with many entities most of them miss
//! the cache. [`PartitionState::apply_batch`] first walks a chunk of events touching those
//! locations stage by stage (all probes, then all heads, then all slot data), so the misses
//! of different events overlap, and then applies the events one by one exactly as
//! [`PartitionState::apply`] does. The warm-up only reads: results, state and encoded bytes
//! are the same as applying the events one at a time.

use super::agg::Partial;
use super::entity::EntityRef;
use super::filter::kind_index;
use super::input::FeatureEvent;
use super::intern::Sym;
use super::state::{ApplyOutcome, PartitionState};
use super::value::EntityKind;
use super::window::Slot;

/// Events warmed together.
const CHUNK: usize = 16;
/// Entities warmed per chunk at most (the rest are simply not warmed).
const MAX_REFS: usize = 96;

/// An entity to warm: kind index, symbol, interaction kind index (5: per-event only).
type Ref = (usize, Sym, usize);

impl PartitionState {
    /// Applies `batch` (offset, event) in order; appends one outcome per event.
    pub fn apply_batch(
        &mut self,
        batch: &[(u64, &FeatureEvent)],
        outcomes: &mut Vec<ApplyOutcome>,
    ) {
        outcomes.reserve(batch.len());
        for chunk in batch.chunks(CHUNK) {
            std::hint::black_box(self.warm(chunk));
            for (offset, event) in chunk {
                outcomes.push(self.apply(*offset, event));
            }
        }
    }

    /// Touches what applying `chunk` will touch; returns a checksum so nothing is elided.
    fn warm(&self, chunk: &[(u64, &FeatureEvent)]) -> u64 {
        let mut refs: [Ref; MAX_REFS] = [(0, 0, 0); MAX_REFS];
        let mut n = 0;
        let mut push = |r: Ref| {
            if n < MAX_REFS {
                refs[n] = r;
                n += 1;
            }
        };
        for (_, ev) in chunk {
            for (k, plan) in self.set.kinds.iter().enumerate() {
                match &plan.kind {
                    EntityKind::Item | EntityKind::Category => {
                        for inter in &ev.interactions {
                            let id = if plan.kind == EntityKind::Item {
                                Some(inter.item_id.as_str())
                            } else {
                                inter.category.as_deref()
                            };
                            if let Some(sym) = id.and_then(|id| self.interner.get(id)) {
                                push((k, sym, kind_index(inter.kind)));
                            }
                        }
                    }
                    EntityKind::User | EntityKind::AnonymousId => {
                        let id = if plan.kind == EntityKind::User {
                            ev.actor_key()
                        } else {
                            ev.anonymous_id.as_deref().unwrap_or("")
                        };
                        if let Some(sym) = self.interner.get(id) {
                            let kind = ev.interactions.first().map_or(5, |i| kind_index(i.kind));
                            push((k, sym, kind));
                        }
                    }
                    // One hot entity, or ids that need the event's properties.
                    EntityKind::Global | EntityKind::Property(_) => {}
                }
            }
        }
        let mut sum = 0u64;
        let mut ents: [Option<EntityRef<'_>>; MAX_REFS] = [None; MAX_REFS];
        for (slot, &(k, sym, _)) in ents.iter_mut().zip(&refs[..n]) {
            *slot = self.kinds.get(k).and_then(|s| s.get(sym));
            if let Some(e) = slot {
                sum = sum.wrapping_add(e.head.last_ms as u64);
            }
        }
        for (e, &(k, _, kind)) in ents.iter().zip(&refs[..n]) {
            let (Some(e), Some(plan)) = (e, self.set.kinds.get(k)) else {
                continue;
            };
            let by_kind = plan.by_kind.get(kind).map_or(&[][..], |v| &v[..]);
            for &f in plan.per_event.iter().chain(by_kind) {
                if let Some(slot) = self.set.features.get(f).and_then(|f| e.slots.get(f.slot)) {
                    sum = sum.wrapping_add(touch(slot));
                }
            }
        }
        sum
    }
}

/// Reads the data an update of `slot` will read first.
fn touch(slot: &Slot) -> u64 {
    match slot {
        Slot::Empty => 0,
        // The expiry check reads the oldest bucket, the update usually the newest.
        Slot::Buckets(b) => {
            let first = b.first().map_or(0, |x| x.0 as u64);
            first.wrapping_add(b.last().map_or(0, |x| x.0 as u64))
        }
        Slot::One(p) => match p {
            Partial::LastN(l) => {
                let front = l.front().map_or(0, |x| x.0.t as u64);
                front.wrapping_add(l.back().map_or(0, |x| x.0.t as u64))
            }
            // The keys the binary search reads first (middle) and the entries' start.
            Partial::Group(g) => {
                let mid = g.get(g.len() / 2).map_or(0, |e| e.1.approx_tag());
                mid.wrapping_add(g.first().map_or(0, |e| e.1.approx_tag()))
            }
            Partial::Distinct(d) => d.first().copied().unwrap_or(0),
            _ => 1,
        },
    }
}
