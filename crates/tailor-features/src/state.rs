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
    /// Counts an event at `offset` as processed without applying it to the live model
    /// (processors sharing partitions keep features only; ADR 0016).
    pub fn note(&mut self, partition: u32, offset: u64, event_time_ms: i64) {
        let p = partition as usize;
        if self.offsets.len() <= p {
            self.offsets.resize(p + 1, 0);
        }
        self.offsets[p] = offset + 1;
        self.events_processed += 1;
        self.watermark_ms = self.watermark_ms.max(event_time_ms);
    }

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
        if self.items.len() > eviction_point(cfg.max_items) {
            self.evict_items(cfg);
        }
        if self.users.len() > eviction_point(cfg.max_users) {
            self.evict_users(cfg);
        }
    }

    /// Keeps the `max_items` most popular items (decayed popularity at the watermark; among
    /// equals the more recently interned) and drops the rest from every table: the item
    /// index, neighbour lists, sessions and the trending list. Item indexes change.
    /// Deterministic: it depends on the state only.
    pub fn evict_items(&mut self, cfg: &LiveConfig) {
        let keep = cfg.max_items;
        let n = self.items.len();
        if n <= keep {
            return;
        }
        let half_life = cfg.popularity_half_life_secs as f64 * 1000.0;
        let now = self.watermark_ms;
        let mut ranked: Vec<(f64, ItemIdx)> = self
            .items
            .iter()
            .enumerate()
            .map(|(i, s)| (s.popularity.value_at(now, half_life), i as ItemIdx))
            .collect();
        ranked.select_nth_unstable_by(keep, |a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        let mut kept = vec![false; n];
        for &(_, i) in &ranked[..keep] {
            kept[i as usize] = true;
        }
        drop(ranked);
        // Old index → new index, in the old order.
        let mut next: ItemIdx = 0;
        let remap: Vec<Option<ItemIdx>> = kept
            .iter()
            .map(|&k| {
                k.then(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect();
        let new = |i: ItemIdx| remap.get(i as usize).copied().flatten();
        let items = std::mem::take(&mut self.items);
        self.items = items
            .into_iter()
            .zip(&kept)
            .filter(|(_, &k)| k)
            .map(|(mut item, _)| {
                item.neighbours = item
                    .neighbours
                    .into_iter()
                    .filter_map(|(o, w)| Some((new(o)?, w)))
                    .collect();
                item
            })
            .collect();
        self.item_index = self
            .items
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i as ItemIdx))
            .collect();
        for user in self.users.values_mut() {
            user.session = user.session.iter().filter_map(|&i| new(i)).collect();
        }
        self.trending = self
            .trending
            .iter()
            .filter_map(|&(i, v)| Some((new(i)?, v)))
            .collect();
    }

    /// Keeps the `max_users` most recently active users (among equals, the greater key).
    pub fn evict_users(&mut self, cfg: &LiveConfig) {
        let keep = cfg.max_users;
        if self.users.len() <= keep {
            return;
        }
        let mut last: Vec<(i64, &str)> = self
            .users
            .iter()
            .map(|(k, u)| (u.last_event_ms, k.as_str()))
            .collect();
        last.select_nth_unstable_by(keep, |a, b| b.cmp(a));
        let (oldest_kept_ms, oldest_kept_key) = last[..keep]
            .iter()
            .min()
            .map(|&(t, k)| (t, k.to_owned()))
            .unwrap_or_default();
        drop(last);
        self.users.retain(|k, u| {
            (u.last_event_ms, k.as_str()) >= (oldest_kept_ms, oldest_kept_key.as_str())
        });
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

/// The size past which a state of capacity `cap` is cut back to `cap` (ADR 0015): a
/// capacity plus an eighth, so eviction runs once per eighth of growth, not per insert.
pub fn eviction_point(cap: usize) -> usize {
    cap.saturating_add(cap / 8)
}

fn push_bounded<T>(q: &mut VecDeque<T>, v: T, cap: usize) {
    q.push_back(v);
    while q.len() > cap {
        q.pop_front();
    }
}

#[cfg(test)]
mod tests;
