//! Full answers: after the ranked list (served model merged with the live model) has been
//! through the rules, filters and exclusions, an answer shorter than `k` is filled from the
//! next sources in order — the user's favourite categories, trending within the request's
//! filters, then overall popularity — so that an answer holds `k` items whenever `k`
//! eligible items exist. Each item keeps the [`Origin`] that proposed it.
//!
//! The universe the last source draws from is every item the live model has seen (most
//! interacted first) and every available catalog item (by id): [`Popular`], rebuilt at most
//! every [`POPULAR_TTL`] and only when an answer needs filling ([`TtlCache`], which also
//! keeps the trending counts requests read).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::{FxHashMap, FxHashSet};
use tailor_features::LiveState;
use tailor_rec::{Keep, Origin, RecItem, UserInputs};

use crate::catalog::Catalog;

/// How long one [`Popular`] list serves requests.
pub const POPULAR_TTL: Duration = Duration::from_secs(5);

/// A value shared by requests for a while after it was made.
pub struct TtlCache<T> {
    ttl: Duration,
    slot: parking_lot::Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> TtlCache<T> {
    pub fn new(ttl: Duration) -> Self {
        TtlCache {
            ttl,
            slot: parking_lot::Mutex::new(None),
        }
    }

    /// The value, while it is younger than the TTL.
    pub fn fresh(&self) -> Option<T> {
        match &*self.slot.lock() {
            Some((at, v)) if at.elapsed() < self.ttl => Some(v.clone()),
            _ => None,
        }
    }

    pub fn store(&self, v: T) {
        *self.slot.lock() = Some((Instant::now(), v));
    }

    /// The fresh value, else `make()`'s (made under the lock: concurrent callers wait for
    /// one build rather than each making their own).
    pub fn get_or(&self, make: impl FnOnce() -> T) -> T {
        let mut slot = self.slot.lock();
        if let Some((at, v)) = &*slot {
            if at.elapsed() < self.ttl {
                return v.clone();
            }
        }
        let v = make();
        *slot = Some((Instant::now(), v.clone()));
        v
    }
}

/// One item of the fill universe.
#[derive(Debug, Clone, PartialEq)]
pub struct PopularItem {
    pub id: String,
    pub category: Option<String>,
    /// The live model's total interaction weight (0 for catalog items no event named).
    pub weight: f64,
}

/// Every known item, most popular first (ties by id), with an index by id.
#[derive(Debug, Default)]
pub struct Popular {
    pub items: Vec<PopularItem>,
    index: FxHashMap<String, usize>,
}

impl Popular {
    /// The live model's items with their total interaction weight (a copy, so that the
    /// state's lock is held no longer than it takes).
    pub fn live_items(live: &LiveState) -> Vec<PopularItem> {
        live.items
            .iter()
            .map(|s| PopularItem {
                id: s.id.clone(),
                category: s.category.clone(),
                weight: s.weight_total,
            })
            .collect()
    }

    /// The live model's items ([`Popular::live_items`]) by weight (or, in a process without
    /// a live model, the trending list), then the catalog's available items they lack, by id.
    pub fn build(
        mut items: Vec<PopularItem>,
        trending: Option<&[(String, f64)]>,
        catalog: &Catalog,
    ) -> Self {
        if items.is_empty() {
            items = trending
                .unwrap_or_default()
                .iter()
                .map(|(id, w)| PopularItem {
                    id: id.clone(),
                    category: None,
                    weight: *w,
                })
                .collect();
        }
        items.sort_by(|a, b| b.weight.total_cmp(&a.weight).then_with(|| a.id.cmp(&b.id)));
        let mut index: FxHashMap<String, usize> = FxHashMap::default();
        items.retain(|it| {
            let fresh = !index.contains_key(&it.id);
            if fresh {
                index.insert(it.id.clone(), index.len());
            }
            fresh
        });
        for it in catalog.available_items() {
            match index.get(&it.id) {
                Some(&at) => {
                    if items[at].category.is_none() {
                        items[at].category = it.categories.first().cloned();
                    }
                }
                None => {
                    index.insert(it.id.clone(), items.len());
                    items.push(PopularItem {
                        id: it.id.clone(),
                        category: it.categories.first().cloned(),
                        weight: 0.0,
                    });
                }
            }
        }
        Popular { items, index }
    }

    /// The category the universe knows for `id`.
    pub fn category(&self, id: &str) -> Option<&str> {
        self.index
            .get(id)
            .and_then(|&i| self.items[i].category.as_deref())
    }
}

/// The sources that fill an answer up, after the ranked list.
pub struct FillSources<'a> {
    /// The user's category affinities.
    pub user: Option<&'a UserInputs>,
    /// Trending items with their counts, best first.
    pub trending: Option<&'a [(String, f64)]>,
    /// The universe, most popular first (called once, and only when needed).
    pub popular: &'a dyn Fn() -> Arc<Popular>,
}

/// The items an answer is being filled with.
struct Filler<'a> {
    eligible: Keep<'a>,
    have: FxHashSet<String>,
    need: usize,
    added: Vec<(String, Option<String>, Origin)>,
}

impl Filler<'_> {
    /// Adds `id` if it is eligible and new; whether more are needed.
    fn take(&mut self, id: &str, category: Option<&str>, origin: Origin) -> bool {
        if self.need > 0 && !self.have.contains(id) && (self.eligible)(id, category) {
            self.have.insert(id.to_owned());
            self.added
                .push((id.to_owned(), category.map(str::to_owned), origin));
            self.need -= 1;
        }
        self.need > 0
    }
}

/// Keeps the eligible items of `items` (the first occurrence of each, at most `k`) and fills
/// the list up to `k` from `sources`: items filled in score below the ranked ones, in fill
/// order.
pub fn fill(
    mut items: Vec<RecItem>,
    k: usize,
    eligible: Keep<'_>,
    sources: &FillSources<'_>,
) -> Vec<RecItem> {
    let mut have: FxHashSet<String> = FxHashSet::default();
    items.retain(|i| {
        have.len() < k
            && eligible(&i.item_id, i.category.as_deref())
            && have.insert(i.item_id.clone())
    });
    if items.len() >= k {
        return items;
    }
    let floor = items.iter().map(|i| i.score).fold(f64::INFINITY, f64::min);
    let floor = if floor.is_finite() && floor > 0.0 {
        floor
    } else {
        1.0
    };
    let mut f = Filler {
        eligible,
        have,
        need: k - items.len(),
        added: Vec::new(),
    };
    let mut popular: Option<Arc<Popular>> = None;
    let mut universe = || popular.get_or_insert_with(|| (sources.popular)()).clone();
    // The user's categories, most liked first; within one, the most popular items.
    let mut cats: Vec<(&str, f64)> = sources
        .user
        .map(|u| {
            u.affinity
                .iter()
                .filter(|(_, a)| *a > 0.0)
                .map(|(c, a)| (c.as_str(), *a))
                .collect()
        })
        .unwrap_or_default();
    if !cats.is_empty() {
        cats.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let rank: FxHashMap<&str, usize> = cats.iter().enumerate().map(|(r, c)| (c.0, r)).collect();
        let u = universe();
        // Enough candidates per category to fill the answer from it alone.
        let per_cat = f.need + f.have.len();
        let mut per: Vec<Vec<&PopularItem>> = vec![Vec::new(); cats.len()];
        for it in &u.items {
            if let Some(&r) = it.category.as_deref().and_then(|c| rank.get(c)) {
                if per[r].len() < per_cat {
                    per[r].push(it);
                }
            }
        }
        'cats: for list in per {
            for it in list {
                if !f.take(&it.id, it.category.as_deref(), Origin::Category) {
                    break 'cats;
                }
            }
        }
    }
    if f.need > 0 {
        let trending = sources.trending.unwrap_or_default();
        if !trending.is_empty() {
            let u = universe();
            for (id, _) in trending {
                if !f.take(id, u.category(id), Origin::Trending) {
                    break;
                }
            }
        }
    }
    if f.need > 0 {
        let u = universe();
        for it in &u.items {
            if !f.take(&it.id, it.category.as_deref(), Origin::Popular) {
                break;
            }
        }
    }
    let n = f.added.len() as f64;
    items.extend(
        f.added
            .into_iter()
            .enumerate()
            .map(|(j, (id, category, source))| RecItem {
                item_id: id,
                score: ((floor * (1.0 - (j as f64 + 1.0) / (n + 1.0))) * 1e6).round() / 1e6,
                category,
                source,
                sources: Vec::new(),
            }),
    );
    items
}

#[cfg(test)]
mod tests;
