//! Per-kind entity storage of one partition, laid out for few dependent memory loads: the
//! entity's header is found by symbol (no hash lookup beyond the interner's), and its slots
//! (one per stateful feature) sit in one flat array at `slab × stride`, so the slots of
//! the features an event updates can be fetched in parallel.

use serde::{Deserialize, Serialize};

use super::intern::Sym;
use super::window::session::SessionClock;
use super::window::Slot;

const NONE: u32 = u32::MAX;

/// Per entity: where its slots are, its last event time and current session. 32 bytes,
/// so that (heads being an array) no head straddles two cache lines.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Head {
    slab: u32,
    /// Touched since the last [`crate::engine::PartitionState::take_touched`]; not state.
    pub(crate) touched: bool,
    /// Whether `clock` is a session (entity kinds with session features only).
    in_session: bool,
    /// Highest event time of the entity's events (TTL).
    pub(crate) last_ms: i64,
    clock: SessionClock,
}

impl Head {
    const ABSENT: Head = Head {
        slab: NONE,
        touched: false,
        in_session: false,
        last_ms: i64::MIN,
        clock: SessionClock {
            start_ms: 0,
            last_ms: 0,
        },
    };

    /// The current session.
    pub(crate) fn session(&self) -> Option<SessionClock> {
        self.in_session.then_some(self.clock)
    }

    pub(crate) fn set_session(&mut self, session: Option<SessionClock>) {
        self.in_session = session.is_some();
        self.clock = session.unwrap_or(Head::ABSENT.clock);
    }
}

/// One entity, mutable.
pub(crate) struct EntityMut<'a> {
    pub(crate) head: &'a mut Head,
    pub(crate) slots: &'a mut [Slot],
}

/// One entity, shared.
#[derive(Clone, Copy)]
pub(crate) struct EntityRef<'a> {
    pub(crate) head: &'a Head,
    pub(crate) slots: &'a [Slot],
}

/// An entity as encoded in snapshots (borrowed for encoding).
#[derive(Serialize)]
pub(crate) struct EncodedEntity<'a> {
    pub(crate) last_ms: i64,
    pub(crate) session: Option<SessionClock>,
    pub(crate) slots: &'a [Slot],
}

/// An entity as decoded from snapshots.
#[derive(Deserialize)]
pub(crate) struct DecodedEntity {
    pub(crate) last_ms: i64,
    pub(crate) session: Option<SessionClock>,
    pub(crate) slots: Vec<Slot>,
}

#[derive(Debug)]
pub(crate) struct KindStore {
    stride: usize,
    /// By symbol (`slab == NONE`: no entity of this kind).
    heads: Vec<Head>,
    /// By slab index: the owning symbol (`NONE`: free).
    owners: Vec<Sym>,
    /// `owners.len() × stride` slots.
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
}

impl KindStore {
    pub(crate) fn new(stride: usize) -> Self {
        KindStore {
            stride,
            heads: Vec::new(),
            owners: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.live
    }

    fn range(&self, slab: u32) -> std::ops::Range<usize> {
        let at = slab as usize * self.stride;
        at..at + self.stride
    }

    pub(crate) fn get(&self, sym: Sym) -> Option<EntityRef<'_>> {
        let head = self.heads.get(sym as usize).filter(|h| h.slab != NONE)?;
        let slots = self.slots.get(self.range(head.slab))?;
        Some(EntityRef { head, slots })
    }

    pub(crate) fn get_mut(&mut self, sym: Sym) -> Option<EntityMut<'_>> {
        let head = self
            .heads
            .get_mut(sym as usize)
            .filter(|h| h.slab != NONE)?;
        let at = head.slab as usize * self.stride;
        let slots = self.slots.get_mut(at..at + self.stride)?;
        Some(EntityMut { head, slots })
    }

    /// The entity of `sym`, created empty if absent.
    pub(crate) fn get_or_insert(&mut self, sym: Sym) -> EntityMut<'_> {
        let i = sym as usize;
        if self.heads.len() <= i {
            self.heads.resize(i + 1, Head::ABSENT);
        }
        if self.heads[i].slab == NONE {
            let slab = self.alloc(sym);
            self.heads[i] = Head {
                slab,
                ..Head::ABSENT
            };
        }
        let head = &mut self.heads[i];
        let at = head.slab as usize * self.stride;
        EntityMut {
            head,
            slots: &mut self.slots[at..at + self.stride],
        }
    }

    fn alloc(&mut self, sym: Sym) -> u32 {
        self.live += 1;
        match self.free.pop() {
            Some(slab) => {
                self.owners[slab as usize] = sym;
                slab
            }
            None => {
                self.owners.push(sym);
                self.slots
                    .resize_with(self.owners.len() * self.stride, Slot::default);
                (self.owners.len() - 1) as u32
            }
        }
    }

    /// Inserts a decoded entity (`slots` must be `stride` long).
    pub(crate) fn insert(&mut self, sym: Sym, e: DecodedEntity) {
        let ent = self.get_or_insert(sym);
        ent.head.last_ms = e.last_ms;
        ent.head.set_session(e.session);
        for (slot, new) in ent.slots.iter_mut().zip(e.slots) {
            *slot = new;
        }
    }

    /// Drops the entities `keep` refuses; returns how many.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(Sym, &Head) -> bool) -> usize {
        let mut removed = 0;
        for slab in 0..self.owners.len() {
            let sym = self.owners[slab];
            if sym == NONE {
                continue;
            }
            let Some(head) = self.heads.get_mut(sym as usize) else {
                continue;
            };
            if !keep(sym, head) {
                *head = Head::ABSENT;
                self.owners[slab] = NONE;
                let at = slab * self.stride;
                self.slots[at..at + self.stride].fill_with(Slot::default);
                self.free.push(slab as u32);
                removed += 1;
            }
        }
        self.live -= removed;
        removed
    }

    /// Drops the entity of `sym`; whether there was one.
    pub(crate) fn remove(&mut self, sym: Sym) -> bool {
        let Some(slab) = self
            .heads
            .get(sym as usize)
            .map(|h| h.slab)
            .filter(|s| *s != NONE)
        else {
            return false;
        };
        self.heads[sym as usize] = Head::ABSENT;
        self.owners[slab as usize] = NONE;
        let at = slab as usize * self.stride;
        self.slots[at..at + self.stride].fill_with(Slot::default);
        self.free.push(slab);
        self.live -= 1;
        true
    }

    /// Entities in slab order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Sym, EntityRef<'_>)> {
        self.owners
            .iter()
            .filter(|&&s| s != NONE)
            .filter_map(|&sym| self.get(sym).map(|e| (sym, e)))
    }

    /// Every slot of every entity.
    pub(crate) fn slots_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        self.slots.iter_mut()
    }

    /// Entities in symbol order (deterministic encoding).
    pub(crate) fn sorted(&self) -> Vec<(Sym, EntityRef<'_>)> {
        let mut all: Vec<(Sym, EntityRef<'_>)> = self.iter().collect();
        all.sort_unstable_by_key(|e| e.0);
        all
    }

    /// Renumbers symbols after interner compaction (`remap[old] = new`, `Sym::MAX`: gone).
    pub(crate) fn remap(&mut self, remap: &[Sym]) {
        let old = std::mem::take(&mut self.heads);
        let mut removed = 0;
        for slab in 0..self.owners.len() {
            let sym = self.owners[slab];
            if sym == NONE {
                continue;
            }
            let new = remap.get(sym as usize).copied().unwrap_or(Sym::MAX);
            let head = old.get(sym as usize).cloned();
            match (new, head) {
                (Sym::MAX, _) | (_, None) => {
                    self.owners[slab] = NONE;
                    let at = slab * self.stride;
                    self.slots[at..at + self.stride].fill_with(Slot::default);
                    self.free.push(slab as u32);
                    removed += 1;
                }
                (new, Some(head)) => {
                    self.owners[slab] = new;
                    if self.heads.len() <= new as usize {
                        self.heads.resize(new as usize + 1, Head::ABSENT);
                    }
                    self.heads[new as usize] = head;
                }
            }
        }
        self.live -= removed;
    }

    pub(crate) fn approx_bytes(&self) -> usize {
        self.heads.capacity() * std::mem::size_of::<Head>()
            + self.owners.capacity() * 4
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self
                .slots
                .iter()
                .map(|s| s.approx_bytes() - std::mem::size_of::<Slot>())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_fill_half_a_cache_line() {
        assert_eq!(std::mem::size_of::<Head>(), 32);
        let mut h = Head::ABSENT;
        assert_eq!(h.session(), None);
        let c = SessionClock {
            start_ms: 5,
            last_ms: 9,
        };
        h.set_session(Some(c));
        assert_eq!(h.session(), Some(c));
        h.set_session(None);
        assert_eq!(h, Head::ABSENT);
    }

    #[test]
    fn slab_reuse_and_remap() {
        let mut k = KindStore::new(2);
        k.get_or_insert(3).head.last_ms = 30;
        k.get_or_insert(5).head.last_ms = 50;
        k.get_or_insert(3).head.last_ms += 1;
        assert_eq!(k.len(), 2);
        assert_eq!(k.get(3).map(|e| e.head.last_ms), Some(31));
        assert_eq!(k.get(3).map(|e| e.slots.len()), Some(2));
        assert_eq!(k.retain(|_, h| h.last_ms > 40), 1);
        assert!(k.get(3).is_none());
        k.get_or_insert(7).head.last_ms = 70;
        assert_eq!(k.len(), 2);
        let mut remap = vec![Sym::MAX; 8];
        remap[5] = 0;
        remap[7] = 1;
        k.remap(&remap);
        assert_eq!(k.get(0).map(|e| e.head.last_ms), Some(50));
        assert_eq!(k.get(1).map(|e| e.head.last_ms), Some(70));
        assert!(k.get(5).is_none());
        assert_eq!(
            k.sorted().iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![0, 1]
        );
    }
}
