//! The live model state: item co-occurrence within user sessions and time-decayed
//! popularity (trending). Per-user inputs of the recommender (recent items, purchases,
//! session, affinities) are declared features ([`crate::engine`]), not kept here.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use tailor_event::InteractionKind;

use crate::config::LiveConfig;
use crate::decay::Decayed;
use crate::engine::FeatureEvent;

/// Items are interned: state refers to them by index into [`LiveState::items`].
pub type ItemIdx = u32;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ItemState {
    pub id: String,
    pub category: Option<String>,
    pub popularity: Decayed,
    /// Interactions by kind, in [`InteractionKind::ALL`] order.
    pub counts: [u64; 5],
    /// Sum of the interaction weights the item received (co-occurrence normalisation).
    pub weight_total: f64,
    /// Co-occurrence weight with other items of the same sessions.
    pub neighbours: FxHashMap<ItemIdx, f32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UserState {
    /// Distinct items of the current session, most recent last.
    pub session: VecDeque<ItemIdx>,
    pub last_event_ms: i64,
    pub events: u64,
}

/// All live state plus the log offsets it covers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LiveState {
    pub items: Vec<ItemState>,
    pub item_index: FxHashMap<String, ItemIdx>,
    pub users: FxHashMap<String, UserState>,
    /// Highest event time applied.
    pub watermark_ms: i64,
    pub events_processed: u64,
    pub interactions_processed: u64,
    /// Next offset to read, per partition of the `events` topic.
    pub offsets: Vec<u64>,
    /// Trending items (most popular first) as of `watermark_ms`; derived, refreshed by
    /// [`LiveState::refresh_trending`].
    #[serde(skip)]
    pub trending: Vec<(ItemIdx, f64)>,
}

const KIND_INDEX: fn(InteractionKind) -> usize = |k| match k {
    InteractionKind::View => 0,
    InteractionKind::Click => 1,
    InteractionKind::AddToCart => 2,
    InteractionKind::Purchase => 3,
    InteractionKind::Impression => 4,
};

/// How many trending items are kept ready.
pub const TRENDING_KEPT: usize = 500;

impl LiveState {
    pub fn item(&self, id: &str) -> Option<(ItemIdx, &ItemState)> {
        let idx = *self.item_index.get(id)?;
        self.items.get(idx as usize).map(|s| (idx, s))
    }

    fn intern(&mut self, id: &str, category: Option<&str>) -> ItemIdx {
        if let Some(&idx) = self.item_index.get(id) {
            if let (Some(c), Some(item)) = (category, self.items.get_mut(idx as usize)) {
                if item.category.as_deref() != Some(c) {
                    item.category = Some(c.to_owned());
                }
            }
            return idx;
        }
        let idx = self.items.len() as ItemIdx;
        self.items.push(ItemState {
            id: id.to_owned(),
            category: category.map(str::to_owned),
            popularity: Decayed::default(),
            counts: [0; 5],
            weight_total: 0.0,
            neighbours: FxHashMap::default(),
        });
        self.item_index.insert(id.to_owned(), idx);
        idx
    }

    /// Applies one event read at `offset` of `partition`. Deterministic: the same events in
    /// the same order give the same state.
    pub fn apply(&mut self, cfg: &LiveConfig, partition: u32, offset: u64, event: &FeatureEvent) {
        let p = partition as usize;
        if self.offsets.len() <= p {
            self.offsets.resize(p + 1, 0);
        }
        self.offsets[p] = offset + 1;
        self.events_processed += 1;
        let t = event.event_time_ms;
        self.watermark_ms = self.watermark_ms.max(t);
        let key = event.actor_key();
        if key.is_empty() || event.interactions.is_empty() {
            return;
        }
        let half_life = cfg.popularity_half_life_secs as f64 * 1000.0;
        let gap = cfg.session_gap_secs as i64 * 1000;
        for inter in &event.interactions {
            self.interactions_processed += 1;
            let idx = self.intern(&inter.item_id, inter.category.as_deref());
            let w = cfg.weight(inter.kind);
            if let Some(item) = self.items.get_mut(idx as usize) {
                item.counts[KIND_INDEX(inter.kind)] += 1;
                if w > 0.0 {
                    item.popularity.add(f64::from(w), t, half_life);
                    item.weight_total += f64::from(w);
                }
            }
            if inter.kind == InteractionKind::Impression {
                continue;
            }
            if !self.users.contains_key(key) {
                self.users.insert(key.to_owned(), UserState::default());
            }
            let Some(user) = self.users.get_mut(key) else {
                continue;
            };
            user.events += 1;
            if t - user.last_event_ms > gap {
                user.session.clear();
            }
            user.last_event_ms = user.last_event_ms.max(t);
            if let Some(pos) = user.session.iter().position(|&i| i == idx) {
                user.session.remove(pos);
            }
            for &other in &user.session {
                add_cooccurrence(&mut self.items, idx, other, w, cfg.max_neighbours);
                add_cooccurrence(&mut self.items, other, idx, w, cfg.max_neighbours);
            }
            push_bounded(&mut user.session, idx, cfg.session_items);
        }
        if self.events_processed.is_multiple_of(100_000) {
            self.expire_users(cfg);
        }
    }

    /// Drops users idle for longer than the TTL (in event time).
    pub fn expire_users(&mut self, cfg: &LiveConfig) {
        let cutoff = self.watermark_ms - cfg.user_ttl_secs as i64 * 1000;
        self.users.retain(|_, u| u.last_event_ms >= cutoff);
    }

    /// Recomputes the trending list as of the watermark.
    pub fn refresh_trending(&mut self, cfg: &LiveConfig) {
        let half_life = cfg.popularity_half_life_secs as f64 * 1000.0;
        let now = self.watermark_ms;
        let mut all: Vec<(ItemIdx, f64)> = self
            .items
            .iter()
            .enumerate()
            .map(|(i, s)| (i as ItemIdx, s.popularity.value_at(now, half_life)))
            .filter(|(_, v)| *v > 0.0)
            .collect();
        let keep = TRENDING_KEPT.min(all.len());
        if keep < all.len() {
            all.select_nth_unstable_by(keep, |a, b| b.1.total_cmp(&a.1));
            all.truncate(keep);
        }
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        self.trending = all;
    }

    /// Interactions counted per kind, for stats.
    pub fn count(&self, item: &ItemState, kind: InteractionKind) -> u64 {
        item.counts[KIND_INDEX(kind)]
    }
}

/// Adds `w` to the co-occurrence of `a` with `b`, keeping `a`'s neighbours bounded.
fn add_cooccurrence(items: &mut [ItemState], a: ItemIdx, b: ItemIdx, w: f32, max: usize) {
    let Some(item) = items.get_mut(a as usize) else {
        return;
    };
    *item.neighbours.entry(b).or_insert(0.0) += w;
    if item.neighbours.len() > 2 * max {
        let mut all: Vec<(ItemIdx, f32)> = item.neighbours.drain().collect();
        all.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        all.truncate(max);
        item.neighbours.extend(all);
    }
}

fn push_bounded<T>(q: &mut VecDeque<T>, v: T, cap: usize) {
    q.push_back(v);
    while q.len() > cap {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests;
