//! Batched application with a read-only warm-up pass (group prefetching).
//!
//! Applying an event is a chain of dependent memory loads per entity — interner probe →
//! entity head → slots → bucket or list data — and with many entities most of them miss
//! the cache. [`PartitionState::apply_batch`] first walks a chunk of events touching those
//! locations stage by stage (all probes of the interner's table, then the strings they
//! found, then all heads, then all slot data), so the misses of different events overlap,
//! and then applies the events one by one exactly as [`PartitionState::apply`] does,
//! reusing the symbols the probes found ([`Hints`]; none after an interner compaction in
//! the middle of a chunk, which renumbers them). Lists and groups that an update searches
//! are read whole. The warm-up only reads: results, state
//! and encoded bytes are the same as applying the events one at a time.

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

/// The symbols of a chunk's strings, looked up by the warm-up pass so that applying does
/// not probe the interner again. `None`: not interned at warm-up time (or not needed):
/// applying interns it.
#[derive(Debug, Default)]
pub(crate) struct Hints {
    /// Per event: (user id or else anonymous id, anonymous id).
    actors: Vec<(Option<Sym>, Option<Sym>)>,
    /// Per interaction of the chunk, in order: (item id, category).
    inters: Vec<(Option<Sym>, Option<Sym>)>,
}

/// The [`Hints`] of one event.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventHints<'a> {
    pub(crate) actor: Option<Sym>,
    pub(crate) anon: Option<Sym>,
    /// Per interaction: (item id, category).
    pub(crate) inters: &'a [(Option<Sym>, Option<Sym>)],
}

impl PartitionState {
    /// Applies `batch` (offset, event) in order; appends one outcome per event.
    pub fn apply_batch(
        &mut self,
        batch: &[(u64, &FeatureEvent)],
        outcomes: &mut Vec<ApplyOutcome>,
    ) {
        outcomes.reserve(batch.len());
        let mut hints = std::mem::take(&mut self.hints);
        for chunk in batch.chunks(CHUNK) {
            std::hint::black_box(self.warm(chunk, &mut hints));
            // A compaction (during a sweep) renumbers symbols: the rest of the chunk
            // goes without hints.
            let compactions = self.compactions;
            let mut at = 0;
            for (i, (offset, event)) in chunk.iter().enumerate() {
                let n = event.interactions.len();
                let hint = (self.compactions == compactions)
                    .then(|| Some((hints.actors.get(i)?, hints.inters.get(at..at + n)?)))
                    .flatten()
                    .map(|(&(actor, anon), inters)| EventHints {
                        actor,
                        anon,
                        inters,
                    });
                at += n;
                outcomes.push(self.apply_hinted(*offset, event, hint));
            }
        }
        self.hints = hints;
    }

    /// Looks up the symbols of `chunk`'s strings into `hints` and touches what applying
    /// the chunk will touch; returns a checksum so nothing is elided.
    fn warm(&self, chunk: &[(u64, &FeatureEvent)], hints: &mut Hints) -> u64 {
        let set = &self.set;
        let has = |kind: &EntityKind| set.kinds.iter().any(|k| k.kind == *kind);
        let (users, anons) = (has(&EntityKind::User), has(&EntityKind::AnonymousId));
        // Two passes over the chunk's strings: first the symbols their fingerprints name
        // (the interner's table only, which stays in cache), then those symbols' strings,
        // all read together.
        let interner = &self.interner;
        let get = |id: &str| {
            if id.is_empty() {
                None
            } else {
                interner.guess(id)
            }
        };
        hints.actors.clear();
        hints.inters.clear();
        for (_, ev) in chunk {
            let actor = if users { get(ev.actor_key()) } else { None };
            let anon = if anons {
                get(ev.anonymous_id.as_deref().unwrap_or(""))
            } else {
                None
            };
            hints.actors.push((actor, anon));
            hints.inters.extend(ev.interactions.iter().map(|i| {
                let item = if set.needs_item_syms {
                    get(&i.item_id)
                } else {
                    None
                };
                let cat = if set.needs_category_syms {
                    get(i.category.as_deref().unwrap_or(""))
                } else {
                    None
                };
                (item, cat)
            }));
        }
        let confirm = |id: &str, hint: &mut Option<Sym>| {
            if let Some(sym) = *hint {
                if !interner.is(sym, id) {
                    *hint = interner.get(id);
                }
            }
        };
        let mut at = 0;
        for ((_, ev), (actor, anon)) in chunk.iter().zip(hints.actors.iter_mut()) {
            confirm(ev.actor_key(), actor);
            confirm(ev.anonymous_id.as_deref().unwrap_or(""), anon);
            let inters = hints.inters.get_mut(at..).unwrap_or(&mut []);
            for (i, (item, cat)) in ev.interactions.iter().zip(inters) {
                confirm(&i.item_id, item);
                confirm(i.category.as_deref().unwrap_or(""), cat);
            }
            at += ev.interactions.len();
        }
        let mut refs: [Ref; MAX_REFS] = [(0, 0, 0); MAX_REFS];
        let mut n = 0;
        let mut push = |r: Ref| {
            if n < MAX_REFS {
                refs[n] = r;
                n += 1;
            }
        };
        let mut at = 0;
        for ((_, ev), &(actor, anon)) in chunk.iter().zip(&hints.actors) {
            let inters = hints
                .inters
                .get(at..at + ev.interactions.len())
                .unwrap_or(&[]);
            at += ev.interactions.len();
            for (k, plan) in set.kinds.iter().enumerate() {
                match &plan.kind {
                    EntityKind::Item | EntityKind::Category => {
                        let by_item = plan.kind == EntityKind::Item;
                        for (inter, &(item, cat)) in ev.interactions.iter().zip(inters) {
                            if let Some(sym) = if by_item { item } else { cat } {
                                push((k, sym, kind_index(inter.kind)));
                            }
                        }
                    }
                    EntityKind::User | EntityKind::AnonymousId => {
                        let id = if plan.kind == EntityKind::User {
                            actor
                        } else {
                            anon
                        };
                        if let Some(sym) = id {
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
            let (Some(e), Some(plan)) = (e, set.kinds.get(k)) else {
                continue;
            };
            let by_kind = plan.by_kind.get(kind).map_or(&[][..], |v| &v[..]);
            for &f in plan.per_event.iter().chain(by_kind) {
                if let Some(slot) = set.features.get(f).and_then(|f| e.slots.get(f.slot)) {
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
        // The update usually reads the newest bucket only.
        Slot::Buckets(b) => b.last().map_or(0, |x| x.0 as u64),
        Slot::One(p) => match p {
            // A distinct list is scanned whole: read every cache line of it (entries are 24
            // bytes), so the misses of all the chunk's lists overlap.
            Partial::LastN(l) => l
                .iter()
                .step_by(2)
                .fold(0u64, |s, x| s.wrapping_add(x.0.t as u64)),
            // The binary search reads keys anywhere: read each entry's key.
            Partial::Group(g) => g.iter().fold(0u64, |s, e| s.wrapping_add(e.0.tag())),
            Partial::NumGroup(g) => g.iter().fold(0u64, |s, e| s.wrapping_add(e.0.tag())),
            Partial::Distinct(d) => d.first().copied().unwrap_or(0),
            _ => 1,
        },
    }
}
