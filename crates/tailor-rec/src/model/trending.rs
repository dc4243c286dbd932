//! Trending: time-decayed, kind-weighted popularity, global and per category.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use super::{decay, rank_cmp, Context, Recommender};
use crate::data::{Interactions, KindWeights};
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrendingParams {
    /// An interaction counts half after this many hours (relative to the newest one);
    /// `None` counts all interactions fully.
    pub half_life_hours: Option<f64>,
    pub weights: KindWeights,
}

impl Default for TrendingParams {
    fn default() -> Self {
        TrendingParams {
            half_life_hours: Some(72.0),
            weights: KindWeights::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trending {
    /// Items with a positive score, best first.
    global: Vec<(u32, f32)>,
    by_category: FxHashMap<u32, Vec<(u32, f32)>>,
}

impl Trending {
    pub fn fit(data: &Interactions, p: &TrendingParams) -> Result<Trending> {
        if let Some(h) = p.half_life_hours {
            if h.is_nan() || h <= 0.0 {
                return Err(Error::Param("trending half_life_hours must be > 0".into()));
            }
        }
        let now = data.max_ts_ms();
        let mut score = vec![0f64; data.n_items()];
        for r in &data.rows {
            score[r.item as usize] +=
                f64::from(p.weights.weight(r.kind) * decay(now - r.ts_ms, p.half_life_hours));
        }
        let mut global: Vec<(u32, f32)> = score
            .iter()
            .enumerate()
            .filter(|(_, &s)| s > 0.0)
            .map(|(i, &s)| (i as u32, s as f32))
            .collect();
        global.sort_by(rank_cmp);
        let mut by_category: FxHashMap<u32, Vec<(u32, f32)>> = FxHashMap::default();
        for &(i, s) in &global {
            if let Some(c) = data.category_of(i) {
                by_category.entry(c).or_default().push((i, s));
            }
        }
        Ok(Trending {
            global,
            by_category,
        })
    }

    /// The score of an item (0 if it was never seen).
    pub fn score(&self, item: u32) -> f32 {
        self.global
            .iter()
            .find(|e| e.0 == item)
            .map_or(0.0, |e| e.1)
    }
}

impl Recommender for Trending {
    fn name(&self) -> &str {
        "trending"
    }

    fn recommend(&self, ctx: &Context, k: usize, exclude: &FxHashSet<u32>) -> Vec<(u32, f32)> {
        let list = match ctx.category {
            Some(c) => self.by_category.get(&c).map_or(&[][..], Vec::as_slice),
            None => &self.global,
        };
        list.iter()
            .filter(|e| !exclude.contains(&e.0))
            .take(k)
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{id, shop};

    #[test]
    fn recent_and_strong_interactions_trend() {
        let data = shop();
        let m = Trending::fit(&data, &TrendingParams::default()).expect("fit");
        let top = m.recommend(&Context::default(), 3, &FxHashSet::default());
        assert_eq!(top[0].0, id(&data, "hit"), "{top:?}");
        let mut ex = FxHashSet::default();
        ex.insert(id(&data, "hit"));
        let top = m.recommend(&Context::default(), 1, &ex);
        assert_ne!(top[0].0, id(&data, "hit"));
        let hats = data.categories.get("h").expect("category");
        let ctx = Context {
            category: Some(hats),
            ..Context::default()
        };
        for (i, _) in m.recommend(&ctx, 10, &FxHashSet::default()) {
            assert_eq!(data.category_of(i), Some(hats));
        }
    }

    #[test]
    fn half_life_prefers_recent() {
        use tailor_event::InteractionKind::View;
        let day = 86_400_000;
        let mut recs = Vec::new();
        for u in 0..5 {
            recs.push((format!("u{u}"), "old", View, 0, None::<&str>));
        }
        for u in 0..2 {
            recs.push((format!("v{u}"), "new", View, 10 * day, None));
        }
        let data = crate::data::loaders::from_records("t", recs);
        let p = TrendingParams {
            half_life_hours: Some(24.0),
            ..TrendingParams::default()
        };
        let m = Trending::fit(&data, &p).expect("fit");
        let top = m.recommend(&Context::default(), 1, &FxHashSet::default());
        assert_eq!(top[0].0, id(&data, "new"));
        let p = TrendingParams {
            half_life_hours: None,
            ..p
        };
        let m = Trending::fit(&data, &p).expect("fit");
        let top = m.recommend(&Context::default(), 1, &FxHashSet::default());
        assert_eq!(top[0].0, id(&data, "old"));
    }
}
