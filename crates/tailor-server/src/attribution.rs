//! Attribution: events that carry a `rec_id` (impressions of a recommended list, clicks,
//! add-to-carts and purchases of its items) are joined to the list served under that id,
//! giving CTR, add-to-cart rate and conversion per model, variant and surface — as
//! Prometheus counters and `GET /v1/stats/recommendations`.
//!
//! Events without a `rec_id` count too when they *follow* a recommendation: a click,
//! add-to-cart or purchase by the user a list was served to, of an item in it, within
//! `FOLLOW_WINDOW_MS` of serving, counts for the most recent such list (the SDK forgot the
//! id, or the user came back to the item through search).
//!
//! Served lists are kept in memory for `ATTRIBUTION_WINDOW` (bounded: the oldest are
//! forgotten first). Each list counts one impression and each of its items at most one
//! click, one add-to-cart and one purchase, so SDK retries and repeated list views do not
//! inflate rates. Counts are since the server started, as Prometheus counters are.

use std::collections::VecDeque;

use parking_lot::Mutex;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use tailor_event::{Interaction, InteractionKind};

use crate::ingest::now_ms;

/// How long after serving a list its events are attributed to it.
pub const ATTRIBUTION_WINDOW_MS: i64 = 24 * 3600 * 1000;
/// How long after serving a list a user's events of its items count without a `rec_id`.
pub const FOLLOW_WINDOW_MS: i64 = 30 * 60 * 1000;
/// Lists remembered per user for the follow rule (the most recent).
const LISTS_PER_USER: usize = 8;
/// Most served lists remembered (about 300 bytes each with 10 items: ~75 MB at most).
pub const MAX_LISTS: usize = 250_000;

/// What a served list is counted under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Arm {
    /// The model name (registry name or live model), without version.
    pub model: String,
    pub variant: String,
    pub surface: String,
}

struct Served {
    arm: Arm,
    /// Hash of the user (id, else anonymous id) it was served to; 0: none.
    actor: u64,
    at_ms: i64,
    /// Few (k ≤ max_k): a list is smaller and as fast as a set.
    items: Vec<Box<str>>,
    impression: bool,
    /// (item, kind) already counted.
    counted: FxHashSet<(String, InteractionKind)>,
}

/// Counters of one arm.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub served: u64,
    pub impressions: u64,
    pub clicks: u64,
    pub add_to_carts: u64,
    pub purchases: u64,
    pub revenue: f64,
}

/// A row of `GET /v1/stats/recommendations`.
#[derive(Debug, Clone, Serialize)]
pub struct StatsRow {
    #[serde(flatten)]
    pub arm: Arm,
    #[serde(flatten)]
    pub counts: Counts,
    /// clicks / impressions.
    pub ctr: Option<f64>,
    /// add-to-carts / impressions.
    pub add_to_cart_rate: Option<f64>,
    /// purchases / impressions.
    pub conversion_rate: Option<f64>,
}

#[derive(Default)]
struct Inner {
    /// By `rec_id` (a UUID the server made).
    lists: FxHashMap<u128, Served>,
    order: VecDeque<(i64, u128)>,
    counts: FxHashMap<Arm, Counts>,
    /// The most recent lists per user (hash of the actor key), newest last.
    by_actor: FxHashMap<u64, VecDeque<u128>>,
}

/// An event's interaction with the user it came from, as attribution sees it.
#[derive(Debug, Clone)]
pub struct Touch {
    /// `actor_hash` of the event's user id, else anonymous id.
    pub actor: u64,
    pub interaction: Interaction,
}

/// A stable hash of a user id or anonymous id (0 is kept for "none").
pub fn actor_hash(actor: &str) -> u64 {
    if actor.is_empty() {
        return 0;
    }
    // FNV-1a, then the splitmix finalizer.
    let h = actor.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    crate::mix::mix64(h).max(1)
}

/// Served lists and what their users did with them.
pub struct Attribution {
    inner: Mutex<Inner>,
    pub since_ms: i64,
}

impl Default for Attribution {
    fn default() -> Self {
        Attribution {
            inner: Mutex::new(Inner::default()),
            since_ms: now_ms(),
        }
    }
}

fn labels(arm: &Arm) -> [(&'static str, String); 3] {
    [
        ("model", arm.model.clone()),
        ("variant", arm.variant.clone()),
        ("surface", arm.surface.clone()),
    ]
}

impl Attribution {
    /// Served lists remembered (at most [`MAX_LISTS`]).
    pub fn len(&self) -> usize {
        self.inner.lock().lists.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Remembers a served list.
    pub fn served(
        &self,
        rec_id: uuid::Uuid,
        arm: Arm,
        actor: Option<&str>,
        items: impl IntoIterator<Item = String>,
    ) {
        let rec_id = rec_id.as_u128();
        let actor = actor.map_or(0, actor_hash);
        let now = now_ms();
        metrics::counter!(crate::metrics::RECS_SERVED, &labels(&arm)).increment(1);
        let mut g = self.inner.lock();
        g.counts.entry(arm.clone()).or_default().served += 1;
        while let Some(&(at, id)) = g.order.front() {
            if g.order.len() < MAX_LISTS && now - at < ATTRIBUTION_WINDOW_MS {
                break;
            }
            g.order.pop_front();
            if let Some(old) = g.lists.remove(&id) {
                if let Some(q) = g.by_actor.get_mut(&old.actor) {
                    q.retain(|r| *r != id);
                    if q.is_empty() {
                        g.by_actor.remove(&old.actor);
                    }
                }
            }
        }
        g.order.push_back((now, rec_id));
        if actor != 0 {
            let q = g.by_actor.entry(actor).or_default();
            if q.len() == LISTS_PER_USER {
                q.pop_front();
            }
            q.push_back(rec_id);
        }
        g.lists.insert(
            rec_id,
            Served {
                arm,
                actor,
                at_ms: now,
                items: items.into_iter().map(String::into_boxed_str).collect(),
                impression: false,
                counted: FxHashSet::default(),
            },
        );
    }

    /// Counts stored events' interactions that carry a `rec_id` of a remembered list, or
    /// follow one (same user, listed item, within `FOLLOW_WINDOW_MS`).
    pub fn record(&self, touches: &[Touch]) {
        let now = now_ms();
        let mut g = self.inner.lock();
        let Inner {
            lists,
            counts,
            by_actor,
            ..
        } = &mut *g;
        for t in touches {
            let i = &t.interaction;
            let tagged = i
                .rec_id
                .as_deref()
                .and_then(|r| uuid::Uuid::parse_str(r).ok())
                .map(|u| u.as_u128())
                .filter(|k| {
                    lists
                        .get(k)
                        .is_some_and(|l| now - l.at_ms <= ATTRIBUTION_WINDOW_MS)
                });
            let (key, join) = match tagged {
                Some(k) => (k, "rec_id"),
                None if i.rec_id.is_none() && i.kind != InteractionKind::Impression => {
                    // The user's newest list that shows this item, served recently enough.
                    let followed = by_actor.get(&t.actor).and_then(|q| {
                        q.iter().rev().copied().find(|k| {
                            lists.get(k).is_some_and(|l| {
                                now - l.at_ms <= FOLLOW_WINDOW_MS
                                    && l.items.iter().any(|x| **x == *i.item_id)
                            })
                        })
                    });
                    match followed {
                        Some(k) => (k, "follow"),
                        None => continue,
                    }
                }
                None => continue,
            };
            let Some(list) = lists.get_mut(&key) else {
                continue;
            };
            let c = counts.entry(list.arm.clone()).or_default();
            let kind = match i.kind {
                InteractionKind::Impression => {
                    if std::mem::replace(&mut list.impression, true) {
                        continue;
                    }
                    c.impressions += 1;
                    "impression"
                }
                k => {
                    if !list.items.iter().any(|x| **x == *i.item_id)
                        || !list.counted.insert((i.item_id.clone(), k))
                    {
                        continue;
                    }
                    match k {
                        InteractionKind::Click => c.clicks += 1,
                        InteractionKind::AddToCart => c.add_to_carts += 1,
                        InteractionKind::Purchase => {
                            c.purchases += 1;
                            c.revenue += i.price.unwrap_or(0.0) * i.quantity.unwrap_or(1.0);
                        }
                        // A view of a recommended item is not a click.
                        _ => continue,
                    }
                    k.as_str()
                }
            };
            let mut l = labels(&list.arm).to_vec();
            l.push(("kind", kind.to_owned()));
            l.push(("join", join.to_owned()));
            metrics::counter!(crate::metrics::REC_EVENTS, &l).increment(1);
        }
    }

    /// Forgets the lists served to `actor` (an erased user); returns how many. The arms'
    /// counters keep their totals (they hold no user).
    pub fn forget_actor(&self, actor: &str) -> u64 {
        let hash = actor_hash(actor);
        let mut g = self.inner.lock();
        let Some(ids) = g.by_actor.remove(&hash) else {
            return 0;
        };
        let mut n = 0;
        for id in ids {
            n += u64::from(g.lists.remove(&id).is_some());
        }
        n
    }

    /// One row per arm, ordered by model, variant, surface.
    pub fn stats(&self) -> Vec<StatsRow> {
        let g = self.inner.lock();
        let mut rows: Vec<StatsRow> = g
            .counts
            .iter()
            .map(|(arm, c)| {
                let rate = |n: u64| (c.impressions > 0).then(|| n as f64 / c.impressions as f64);
                StatsRow {
                    arm: arm.clone(),
                    ctr: rate(c.clicks),
                    add_to_cart_rate: rate(c.add_to_carts),
                    conversion_rate: rate(c.purchases),
                    counts: c.clone(),
                }
            })
            .collect();
        rows.sort_by(|a, b| a.arm.cmp(&b.arm));
        rows
    }
}
