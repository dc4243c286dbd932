//! Per-partition state: every entity the partition's events touched, the watermark, the
//! next offset to read. Applying the same events in the same order gives the same state
//! (and the same encoded bytes, see [`super::snapshot`]).

use std::sync::Arc;

use serde::Serialize;

use super::agg::Val;
use super::compile::{FeatureSet, KindPlan};
use super::entity::{EntityMut, KindStore};
use super::filter::kind_index;
use super::input::FeatureEvent;
use super::intern::{Interner, Sym};
use super::prefetch::{EventHints, Hints};
use super::update::{property_id, touch, update, EventCx};
use super::value::{EntityKey, EntityKind, GLOBAL_ID};
use super::window::sliding;

/// "No event yet" for event times.
pub(crate) const NO_TIME: i64 = i64::MIN;

/// Interner size under which compaction is never worth it.
const MIN_COMPACT: usize = 4_096;

/// What applying one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyOutcome {
    /// Older than the partition's watermark: counted, not applied.
    pub late: bool,
    /// Entity updates made (an entity touched twice counts twice).
    pub touched: u32,
}

/// Figures of one partition, for metrics.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct PartitionStats {
    pub partition: u32,
    pub next_offset: u64,
    pub events: u64,
    pub late_events: u64,
    pub max_event_time_ms: Option<i64>,
    pub watermark_ms: Option<i64>,
    pub entities: u64,
    /// Approximate heap + inline bytes of the state.
    pub approx_bytes: u64,
}

/// The feature state of one log partition.
#[derive(Debug)]
pub struct PartitionState {
    pub(crate) set: Arc<FeatureSet>,
    pub(crate) partition: u32,
    pub(crate) next_offset: u64,
    pub(crate) max_ms: i64,
    pub(crate) events: u64,
    pub(crate) late_events: u64,
    /// Event-time period of the last TTL sweep.
    pub(crate) last_sweep: i64,
    /// Interner size after the last compaction.
    pub(crate) compacted_len: u64,
    /// Compactions so far (symbols looked up before one are stale; not state).
    pub(crate) compactions: u64,
    pub(crate) interner: Interner,
    /// Parallel to the feature set's kinds.
    pub(crate) kinds: Vec<KindStore>,
    touched: Vec<(u32, Sym)>,
    /// Whether to record touched entities for [`PartitionState::take_touched`] (only a
    /// materializing consumer needs them; otherwise the list would only grow).
    pub(crate) track_touched: bool,
    /// The symbol of [`GLOBAL_ID`], once interned (a shortcut, not state).
    global_sym: Option<Sym>,
    item_syms: Vec<Sym>,
    cat_syms: Vec<Option<Sym>>,
    bucket_pos: Vec<(i64, i64)>,
    id_buf: String,
    /// Scratch of [`PartitionState::apply_batch`]'s warm-up pass.
    pub(crate) hints: Hints,
}

impl PartitionState {
    pub fn new(set: Arc<FeatureSet>, partition: u32) -> Self {
        let kinds = set.kinds.iter().map(|k| KindStore::new(k.slots)).collect();
        PartitionState {
            set,
            partition,
            next_offset: 0,
            max_ms: NO_TIME,
            events: 0,
            late_events: 0,
            last_sweep: i64::MIN,
            compacted_len: 0,
            compactions: 0,
            interner: Interner::default(),
            kinds,
            touched: Vec::new(),
            track_touched: true,
            global_sym: None,
            item_syms: Vec::new(),
            cat_syms: Vec::new(),
            bucket_pos: Vec::new(),
            id_buf: String::new(),
            hints: Hints::default(),
        }
    }

    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// The next log offset to read (every offset below it has been applied or skipped).
    pub fn next_offset(&self) -> u64 {
        self.next_offset
    }

    /// Highest event time applied.
    pub fn max_event_time_ms(&self) -> Option<i64> {
        (self.max_ms != NO_TIME).then_some(self.max_ms)
    }

    /// Highest event time − allowed lateness: events before it are late.
    pub fn watermark_ms(&self) -> Option<i64> {
        self.max_event_time_ms()
            .map(|m| m.saturating_sub(self.set.lateness_ms))
    }

    pub fn late_events(&self) -> u64 {
        self.late_events
    }

    /// Records `offset` as consumed without applying anything (undecodable records).
    pub fn skip(&mut self, offset: u64) {
        self.next_offset = offset.saturating_add(1);
    }

    /// Applies the event read at `offset`.
    pub fn apply(&mut self, offset: u64, ev: &FeatureEvent) -> ApplyOutcome {
        self.apply_hinted(offset, ev, None)
    }

    /// [`PartitionState::apply`], with the symbols of the event's strings when they were
    /// looked up already (valid only if the interner was not compacted since).
    pub(crate) fn apply_hinted(
        &mut self,
        offset: u64,
        ev: &FeatureEvent,
        hint: Option<EventHints<'_>>,
    ) -> ApplyOutcome {
        self.next_offset = offset.saturating_add(1);
        self.events += 1;
        let t = ev.event_time_ms;
        if self.max_ms != NO_TIME && t < self.max_ms.saturating_sub(self.set.lateness_ms) {
            self.late_events += 1;
            return ApplyOutcome {
                late: true,
                touched: 0,
            };
        }
        self.max_ms = self.max_ms.max(t);
        let touched = self.apply_fresh(offset, ev, hint);
        let cap = self.set.max_entities;
        if self
            .kinds
            .iter()
            .any(|k| k.len() > crate::state::eviction_point(cap))
        {
            self.evict_over_capacity();
        }
        let interval = (self.set.ttl_ms / 16).max(1_000);
        let period = self.max_ms.div_euclid(interval);
        if period > self.last_sweep {
            self.last_sweep = period;
            self.sweep();
        }
        ApplyOutcome {
            late: false,
            touched,
        }
    }

    fn apply_fresh(&mut self, offset: u64, ev: &FeatureEvent, hint: Option<EventHints<'_>>) -> u32 {
        let PartitionState {
            set,
            partition,
            max_ms,
            interner,
            kinds,
            touched,
            track_touched,
            global_sym,
            item_syms,
            cat_syms,
            bucket_pos,
            id_buf,
            ..
        } = self;
        let set: &FeatureSet = set;
        let t = ev.event_time_ms;
        bucket_pos.clear();
        bucket_pos.extend(
            set.bucket_windows
                .iter()
                .map(|&(width, span)| sliding::position(t, *max_ms, width, span)),
        );
        item_syms.clear();
        cat_syms.clear();
        let inter_hint = |i: usize| hint.and_then(|h| h.inters.get(i)).copied();
        if set.needs_item_syms {
            item_syms.extend(ev.interactions.iter().enumerate().map(|(i, it)| {
                inter_hint(i)
                    .and_then(|h| h.0)
                    .unwrap_or_else(|| interner.intern(&it.item_id))
            }));
        }
        if set.needs_category_syms {
            cat_syms.extend(ev.interactions.iter().enumerate().map(|(i, it)| {
                let c = it.category.as_deref().filter(|c| !c.is_empty())?;
                Some(
                    inter_hint(i)
                        .and_then(|h| h.1)
                        .unwrap_or_else(|| interner.intern(c)),
                )
            }));
        }
        let props = ev.properties.as_ref();
        let cx = EventCx {
            t,
            partition: *partition,
            offset,
            event_id: if set.event_names.is_empty() {
                None
            } else {
                ev.event
                    .as_deref()
                    .and_then(|n| set.event_names.get(n).copied())
            },
            props,
            item_syms,
            cat_syms,
            bucket_pos,
        };
        let mut count = 0;
        let mut tracking = track_touched.then_some(touched);
        for (k, plan) in set.kinds.iter().enumerate() {
            let Some(store) = kinds.get_mut(k) else {
                continue;
            };
            match &plan.kind {
                EntityKind::Item | EntityKind::Category => {
                    let by_item = plan.kind == EntityKind::Item;
                    for (i, inter) in ev.interactions.iter().enumerate() {
                        let sym = if by_item {
                            cx.item_syms.get(i).copied()
                        } else {
                            cx.cat_syms.get(i).copied().flatten()
                        };
                        let Some(sym) = sym else {
                            continue;
                        };
                        let (mut ent, in_session) =
                            enter(store, sym, k, plan, set.gap_ms, cx.t, &mut tracking);
                        count += 1;
                        for &fi in &plan.by_kind[kind_index(inter.kind)] {
                            let f = &set.features[fi];
                            update(f, &mut ent, Some((i, inter)), &cx, interner, in_session);
                        }
                    }
                }
                kind => {
                    let id: &str = match kind {
                        EntityKind::User => ev.actor_key(),
                        EntityKind::AnonymousId => ev.anonymous_id.as_deref().unwrap_or(""),
                        EntityKind::Global => GLOBAL_ID,
                        EntityKind::Property(key) => property_id(props, key, id_buf),
                        EntityKind::Item | EntityKind::Category => "",
                    };
                    if id.is_empty() {
                        continue;
                    }
                    let known = match kind {
                        EntityKind::Global => *global_sym,
                        EntityKind::User => hint.and_then(|h| h.actor),
                        EntityKind::AnonymousId => hint.and_then(|h| h.anon),
                        _ => None,
                    };
                    let sym = known.unwrap_or_else(|| interner.intern(id));
                    if *kind == EntityKind::Global {
                        *global_sym = Some(sym);
                    }
                    let (mut ent, in_session) =
                        enter(store, sym, k, plan, set.gap_ms, cx.t, &mut tracking);
                    count += 1;
                    for &fi in &plan.per_event {
                        update(&set.features[fi], &mut ent, None, &cx, interner, in_session);
                    }
                    if !plan.per_interaction.is_empty() {
                        for (i, inter) in ev.interactions.iter().enumerate() {
                            for &fi in &plan.by_kind[kind_index(inter.kind)] {
                                let f = &set.features[fi];
                                update(f, &mut ent, Some((i, inter)), &cx, interner, in_session);
                            }
                        }
                    }
                }
            }
        }
        count
    }

    /// Drops entities idle (in event time) for longer than the TTL, then compacts the
    /// interner when it has grown to more than twice its size after the last compaction.
    /// Runs on its own whenever the highest event time enters a new period of TTL/16
    /// (at least 1s); deterministic, since it depends on event times only.
    pub(crate) fn sweep(&mut self) {
        let cutoff = self.max_ms.saturating_sub(self.set.ttl_ms);
        for store in &mut self.kinds {
            store.retain(|_, h| h.last_ms >= cutoff);
        }
        self.compact_if_grown();
    }

    /// Compacts the interner when it has grown to more than twice its size after the last
    /// compaction.
    fn compact_if_grown(&mut self) {
        let threshold = 2 * (self.compacted_len as usize).max(MIN_COMPACT);
        if self.interner.len() > threshold {
            self.compact();
        }
    }

    /// Keeps the `max_entities_per_partition` most recently active entities of each kind
    /// over its capacity (among equal times, by the id's stable hash, so the choice does
    /// not depend on symbol numbering: a replay and a restored checkpoint agree).
    pub(crate) fn evict_over_capacity(&mut self) {
        let cap = self.set.max_entities;
        let interner = &self.interner;
        let mut evicted = false;
        for store in &mut self.kinds {
            if store.len() <= cap {
                continue;
            }
            let mut order: Vec<(i64, u64)> = store
                .iter()
                .map(|(sym, e)| (e.head.last_ms, interner.hash_of(sym)))
                .collect();
            let drop = order.len() - cap;
            order.select_nth_unstable(drop);
            let oldest_kept = order[drop];
            store.retain(|sym, h| (h.last_ms, interner.hash_of(sym)) >= oldest_kept);
            evicted = true;
        }
        if evicted {
            self.compact_if_grown();
        }
    }

    fn compact(&mut self) {
        let mut live = vec![false; self.interner.len()];
        let mut mark = |v: &Val| {
            if let Some(s) = v.as_sym() {
                if let Some(l) = live.get_mut(s as usize) {
                    *l = true;
                }
            }
        };
        for store in &self.kinds {
            for (sym, e) in store.iter() {
                mark(&Val::of_sym(sym));
                for slot in e.slots {
                    slot.partials().for_each(|p| p.for_each_val(&mut mark));
                }
            }
        }
        let remap = self.interner.compact(&live);
        let new = |s: Sym| remap.get(s as usize).copied().unwrap_or(Sym::MAX);
        for store in &mut self.kinds {
            store.remap(&remap);
            for slot in store.slots_mut() {
                for p in slot.partials_mut() {
                    p.for_each_val_mut(&mut |v| {
                        if let Some(s) = v.as_sym() {
                            *v = Val::of_sym(new(s));
                        }
                    });
                }
            }
        }
        self.touched.retain_mut(|(_, s)| {
            *s = new(*s);
            *s != Sym::MAX
        });
        self.global_sym = self.global_sym.map(new).filter(|s| *s != Sym::MAX);
        self.compacted_len = self.interner.len() as u64;
        self.compactions += 1;
    }

    /// Drops the state of the actor `id` (entities of kind user and anonymous id), then
    /// compacts the interner so the id is no longer held unless another entity's value
    /// still names it. Returns the entities dropped and whether the id is still held.
    pub fn forget_actor(&mut self, id: &str) -> (u64, bool) {
        let Some(sym) = self.interner.get(id) else {
            return (0, false);
        };
        let mut removed = 0;
        for (k, plan) in self.set.kinds.iter().enumerate() {
            if matches!(plan.kind, EntityKind::User | EntityKind::AnonymousId)
                && self.kinds[k].remove(sym)
            {
                removed += 1;
            }
        }
        self.touched.retain(|(_, s)| *s != sym);
        if removed > 0 {
            self.compact();
        }
        (removed, self.interner.get(id).is_some())
    }

    /// The entities touched since the last call (each once).
    pub fn take_touched(&mut self) -> Vec<EntityKey> {
        let list = std::mem::take(&mut self.touched);
        let mut out = Vec::with_capacity(list.len());
        for (k, sym) in list {
            let k = k as usize;
            if let Some(e) = self.kinds.get_mut(k).and_then(|s| s.get_mut(sym)) {
                e.head.touched = false;
            }
            if let Some(plan) = self.set.kinds.get(k) {
                out.push(EntityKey {
                    kind: plan.kind.clone(),
                    id: self.interner.resolve(sym).to_owned(),
                });
            }
        }
        out
    }

    /// Every entity held, in (kind, id) order.
    pub fn entities(&self) -> Vec<EntityKey> {
        let mut out: Vec<EntityKey> = Vec::new();
        for (k, store) in self.kinds.iter().enumerate() {
            for (sym, _) in store.iter() {
                out.push(EntityKey {
                    kind: self.set.kinds[k].kind.clone(),
                    id: self.interner.resolve(sym).to_owned(),
                });
            }
        }
        out.sort();
        out
    }

    /// Walks the whole state: call at checkpoint time, not per event.
    pub fn stats(&self) -> PartitionStats {
        PartitionStats {
            partition: self.partition,
            next_offset: self.next_offset,
            events: self.events,
            late_events: self.late_events,
            max_event_time_ms: self.max_event_time_ms(),
            watermark_ms: self.watermark_ms(),
            entities: self.kinds.iter().map(|k| k.len() as u64).sum(),
            approx_bytes: (std::mem::size_of::<Self>()
                + self.interner.approx_bytes()
                + self
                    .kinds
                    .iter()
                    .map(KindStore::approx_bytes)
                    .sum::<usize>()) as u64,
        }
    }
}

/// The entity `sym` of kind `k`, created if new, with this event recorded on it (see
/// [`touch`]); noted in `touched` (when tracking) the first time since the last
/// [`PartitionState::take_touched`]. Returns it and whether session features take the event.
fn enter<'s>(
    store: &'s mut KindStore,
    sym: Sym,
    k: usize,
    plan: &KindPlan,
    gap_ms: i64,
    t: i64,
    touched: &mut Option<&mut Vec<(u32, Sym)>>,
) -> (EntityMut<'s>, bool) {
    let mut ent = store.get_or_insert(sym);
    let in_session = touch(&mut ent, t, plan, gap_ms);
    if let Some(list) = touched {
        if !ent.head.touched {
            ent.head.touched = true;
            list.push((k as u32, sym));
        }
    }
    (ent, in_session)
}
