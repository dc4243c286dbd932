//! Repeat consumption: what a user comes back to. Some items are bought or played again and
//! again (milk, a favourite song), most never (a film, a sofa). From training, each item's
//! repeat rate: the share of its users who came back to it in a later session, smoothed
//! toward the catalog's rate. A request scores the user's own past items by that rate, by
//! how much the user interacted with each (kind-weighted, log-damped) and by how recently
//! (a decay per distinct item between it and the newest one), so the list is the user's
//! likeliest re-purchases. Items the user never had are not proposed: other models do that.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use super::{top_k, Context, Recommender};
use crate::data::{Interactions, KindWeights};
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepeatParams {
    /// Score factor per distinct item seen since (1: recency does not matter).
    pub recency: f32,
    /// Pseudo-users at the catalog's repeat rate added to each item's own (smoothing).
    pub prior: f32,
    pub weights: KindWeights,
}

impl Default for RepeatParams {
    fn default() -> Self {
        RepeatParams {
            recency: 0.9,
            prior: 5.0,
            weights: KindWeights::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Repeat {
    params: RepeatParams,
    /// Smoothed repeat rate per item id.
    rate: Vec<f32>,
    /// The catalog's repeat rate (items training never saw).
    global: f32,
}

impl Repeat {
    pub fn fit(data: &Interactions, p: &RepeatParams) -> Result<Repeat> {
        if !(p.recency > 0.0 && p.recency <= 1.0) {
            return Err(Error::Param("repeat recency must be in (0, 1]".into()));
        }
        if !(p.prior >= 0.0 && p.prior.is_finite()) {
            return Err(Error::Param("repeat prior must be >= 0".into()));
        }
        // Per (user, item): the distinct sessions it appears in (counted up to 2).
        let mut sessions: FxHashMap<(u32, u32), (u32, u8)> = FxHashMap::default();
        for r in &data.rows {
            if p.weights.weight(r.kind) <= 0.0 {
                continue;
            }
            let e = sessions.entry((r.user, r.item)).or_insert((r.session, 1));
            if e.0 != r.session && e.1 < 2 {
                e.1 = 2;
            }
        }
        let mut users = vec![0u32; data.n_items()];
        let mut repeats = vec![0u32; data.n_items()];
        for (&(_, item), &(_, n)) in &sessions {
            users[item as usize] += 1;
            if n >= 2 {
                repeats[item as usize] += 1;
            }
        }
        let total: u64 = users.iter().map(|&u| u64::from(u)).sum();
        let again: u64 = repeats.iter().map(|&u| u64::from(u)).sum();
        let global = if total == 0 {
            0.0
        } else {
            again as f32 / total as f32
        };
        let rate = users
            .iter()
            .zip(&repeats)
            .map(|(&u, &r)| (r as f32 + p.prior * global) / (u as f32 + p.prior).max(1e-9))
            .collect();
        Ok(Repeat {
            params: p.clone(),
            rate,
            global,
        })
    }

    /// The smoothed repeat rate of `item`.
    pub fn rate(&self, item: u32) -> f32 {
        self.rate.get(item as usize).copied().unwrap_or(self.global)
    }
}

impl Recommender for Repeat {
    fn name(&self) -> &str {
        "repeat"
    }

    fn recommend(&self, ctx: &Context, k: usize, exclude: &FxHashSet<u32>) -> Vec<(u32, f32)> {
        // Newest first: (item, kind-weighted count, distinct items newer than it).
        let mut seen: FxHashMap<u32, (f32, i32)> = FxHashMap::default();
        for e in ctx.events().iter().rev() {
            let w = self.params.weights.weight(e.kind);
            if w <= 0.0 {
                continue;
            }
            let next = seen.len() as i32;
            seen.entry(e.item).or_insert((0.0, next)).0 += w;
        }
        let cands = seen
            .into_iter()
            .filter(|(i, _)| !exclude.contains(i))
            .map(|(i, (w, newer))| {
                (
                    i,
                    self.rate(i) * (1.0 + w).ln() * self.params.recency.powi(newer),
                )
            })
            .filter(|c| c.1 > 0.0)
            .collect();
        top_k(cands, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Context, HistoryEvent};
    use tailor_event::InteractionKind::{Purchase, View};

    fn data() -> Interactions {
        let day = 86_400_000;
        let mut rows = Vec::new();
        // Milk: bought by every user on two different days. A sofa: bought once each.
        for u in 0..10 {
            let user = format!("u{u}");
            rows.push((user.clone(), "milk", Purchase, 0, None::<&str>));
            rows.push((user.clone(), "sofa", Purchase, 1, None));
            rows.push((user.clone(), "milk", Purchase, 3 * day, None));
        }
        crate::data::loaders::from_records("t", rows)
    }

    #[test]
    fn items_users_come_back_to_rank_first() {
        let d = data();
        let m = Repeat::fit(&d, &RepeatParams::default()).expect("fit");
        let (milk, sofa) = (
            d.items.get("milk").expect("milk"),
            d.items.get("sofa").expect("sofa"),
        );
        assert!(m.rate(milk) > 0.8 && m.rate(sofa) < 0.5, "{m:?}");
        // The sofa is the newest purchase, milk still ranks first.
        let ctx = Context {
            history: vec![
                HistoryEvent {
                    item: milk,
                    kind: Purchase,
                    ts_ms: 0,
                },
                HistoryEvent {
                    item: sofa,
                    kind: Purchase,
                    ts_ms: 1,
                },
            ],
            ..Context::default()
        };
        let top = m.recommend(&ctx, 5, &FxHashSet::default());
        assert_eq!(
            top.iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![milk, sofa]
        );
        // Only the user's own items, never an excluded one.
        let ex: FxHashSet<u32> = [milk].into_iter().collect();
        assert_eq!(m.recommend(&ctx, 5, &ex).len(), 1);
        assert!(m
            .recommend(&Context::from_session(&[]), 5, &FxHashSet::default())
            .is_empty());
        // More interactions and more recent ones count more, at the same rate.
        let view = |item, ts_ms| HistoryEvent {
            item,
            kind: View,
            ts_ms,
        };
        let ctx = Context {
            history: vec![view(milk, 0), view(milk, 1), view(sofa, 2)],
            ..Context::default()
        };
        let flat = Repeat {
            rate: vec![0.5, 0.5],
            ..m.clone()
        };
        assert_eq!(flat.recommend(&ctx, 1, &FxHashSet::default())[0].0, milk);
        let bad = RepeatParams {
            recency: 0.0,
            ..RepeatParams::default()
        };
        assert!(Repeat::fit(&d, &bad).is_err());
    }
}
