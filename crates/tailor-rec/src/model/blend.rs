//! Blend: several models' candidates, each model's scores normalised per request and
//! weighted, summed; then business rules: exclude purchased or seen items, keep only
//! available items (a predicate the server supplies) and wanted categories, cap items per
//! category for diversity.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use tailor_event::InteractionKind;

use super::{rank_cmp, Context, Model, ModelSpec, Recommender};
use crate::data::Interactions;
use crate::{Error, Result};

/// How each model's candidate scores are made comparable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// `s / max` (min–max when a score is negative).
    Max,
    /// `(s − min) / (max − min)`.
    MinMax,
    /// `1 / (rank + 1)`, rank from 0.
    Rank,
}

/// Business rules that need no request-time input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// Drop items the user bought.
    pub exclude_purchased: bool,
    /// Drop every item in the user's context.
    pub exclude_seen: bool,
    /// At most this many items per category in one answer (0: no cap).
    pub per_category_cap: usize,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            exclude_purchased: true,
            exclude_seen: false,
            per_category_cap: 0,
        }
    }
}

/// Request-time filters (not part of the artifact).
#[derive(Clone, Copy, Default)]
pub struct Filters<'a> {
    /// Only items for which this holds (in stock, published).
    pub available: Option<&'a (dyn Fn(u32) -> bool + Sync)>,
    /// Only items in these categories.
    pub categories: Option<&'a FxHashSet<u32>>,
    /// Keep the user's purchases whatever `Rules::exclude_purchased` says (a "buy again"
    /// surface).
    pub keep_purchased: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlendParams {
    pub name: String,
    /// Models and their weights.
    pub parts: Vec<(ModelSpec, f32)>,
    /// Candidates asked of each model per request (at least `k`).
    pub candidates: usize,
    pub normalization: Normalization,
    #[serde(default)]
    pub rules: Rules,
}

impl BlendParams {
    /// The blend `tailor train` fits on a shop's events: session kNN × 1 + item-kNN × 0.5 +
    /// ALS × 0.1 + 24-hour trending × 0.1, max-normalized. Parameters come from the
    /// validation-split tuning on MovieLens, Taobao and YooChoose (`tailor eval`): session kNN
    /// led or co-led every dataset's blend, ALS at 0.1 was picked twice, and trending both
    /// covers cold users and carried Taobao.
    pub fn production() -> BlendParams {
        use super::{
            AlsParams, ItemKnnParams, PositionWeight, ScoreDecay, SknnParams, TrendingParams,
        };
        BlendParams {
            name: "blend".into(),
            parts: vec![
                (
                    ModelSpec::SessionKnn(SknnParams {
                        k: 100,
                        sample_size: 500,
                        position: PositionWeight::Div,
                        score_decay: ScoreDecay::Div,
                        idf_weighting: 0.0,
                        last_n: 10,
                    }),
                    1.0,
                ),
                (
                    ModelSpec::ItemKnn(ItemKnnParams {
                        alpha: 0.5,
                        seed_decay: 0.5,
                        self_similarity: 0.0,
                        by_session: false,
                        ..ItemKnnParams::default()
                    }),
                    0.5,
                ),
                (
                    ModelSpec::Als(AlsParams {
                        regularization: 1.0,
                        alpha: 5.0,
                        ..AlsParams::default()
                    }),
                    0.1,
                ),
                (
                    ModelSpec::Trending(TrendingParams {
                        half_life_hours: Some(24.0),
                        ..TrendingParams::default()
                    }),
                    0.1,
                ),
            ],
            candidates: 100,
            normalization: Normalization::Max,
            rules: Rules::default(),
        }
    }
}

/// An item, its blended score and each part's weighted share of it.
pub type Explained = (u32, f32, Vec<(String, f32)>);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Blend {
    name: String,
    parts: Vec<(Model, f32)>,
    candidates: usize,
    normalization: Normalization,
    rules: Rules,
    item_category: Vec<Option<u32>>,
}

impl Blend {
    pub fn fit(data: &Interactions, p: &BlendParams) -> Result<Blend> {
        if p.parts.is_empty() || p.parts.iter().any(|(_, w)| w.is_nan() || *w < 0.0) {
            return Err(Error::Param("blend needs parts with weights >= 0".into()));
        }
        let parts = p
            .parts
            .iter()
            .map(|(spec, w)| Ok((spec.fit(data)?.model, *w)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Blend::new(
            &p.name,
            parts,
            p.candidates,
            p.normalization,
            p.rules.clone(),
            data.item_category.clone(),
        ))
    }

    /// A blend of already trained models.
    pub fn new(
        name: &str,
        parts: Vec<(Model, f32)>,
        candidates: usize,
        normalization: Normalization,
        rules: Rules,
        item_category: Vec<Option<u32>>,
    ) -> Blend {
        Blend {
            name: name.to_owned(),
            parts,
            candidates,
            normalization,
            rules,
            item_category,
        }
    }

    pub fn parts(&self) -> &[(Model, f32)] {
        &self.parts
    }

    fn normalise(&self, list: &mut [(u32, f32)]) {
        let (Some(first), Some(last)) = (list.first(), list.last()) else {
            return;
        };
        let (max, min) = (first.1, last.1);
        let mode = match self.normalization {
            Normalization::Max if min < 0.0 => Normalization::MinMax,
            m => m,
        };
        for (r, e) in list.iter_mut().enumerate() {
            e.1 = match mode {
                Normalization::Max => e.1 / max.max(f32::MIN_POSITIVE),
                Normalization::MinMax if max > min => (e.1 - min) / (max - min),
                Normalization::MinMax => 1.0,
                Normalization::Rank => 1.0 / (r as f32 + 1.0),
            };
        }
    }

    /// Recommends with request-time filters applied after blending.
    pub fn recommend_filtered(
        &self,
        ctx: &Context,
        k: usize,
        exclude: &FxHashSet<u32>,
        filters: &Filters<'_>,
    ) -> Vec<(u32, f32)> {
        self.rank(ctx, k, exclude, filters, None)
    }

    /// [`Blend::recommend_filtered`] with each item's contributions: `(part name, weighted
    /// normalised score)` of every part that proposed it.
    pub fn recommend_explained(
        &self,
        ctx: &Context,
        k: usize,
        exclude: &FxHashSet<u32>,
        filters: &Filters<'_>,
    ) -> Vec<Explained> {
        let mut trace = FxHashMap::default();
        self.rank(ctx, k, exclude, filters, Some(&mut trace))
            .into_iter()
            .map(|(i, s)| (i, s, trace.remove(&i).unwrap_or_default()))
            .collect()
    }

    fn rank(
        &self,
        ctx: &Context,
        k: usize,
        exclude: &FxHashSet<u32>,
        filters: &Filters<'_>,
        mut trace: Option<&mut FxHashMap<u32, Vec<(String, f32)>>>,
    ) -> Vec<(u32, f32)> {
        let mut ex = exclude.clone();
        for e in ctx.events().iter().chain(&ctx.session) {
            if self.rules.exclude_seen
                || (self.rules.exclude_purchased
                    && !filters.keep_purchased
                    && e.kind == InteractionKind::Purchase)
            {
                ex.insert(e.item);
            }
        }
        let category = |i: u32| self.item_category.get(i as usize).copied().flatten();
        let keep = |i: u32| {
            filters.available.is_none_or(|a| a(i))
                && filters
                    .categories
                    .is_none_or(|cs| category(i).is_some_and(|c| cs.contains(&c)))
        };
        let want = self.candidates.max(k);
        let mut total: FxHashMap<u32, f32> = FxHashMap::default();
        for (model, w) in &self.parts {
            if *w == 0.0 {
                continue;
            }
            let mut list = model.recommend(ctx, want, &ex);
            list.retain(|e| keep(e.0));
            self.normalise(&mut list);
            for (i, s) in list {
                *total.entry(i).or_insert(0.0) += w * s;
                if let Some(t) = trace.as_deref_mut() {
                    t.entry(i)
                        .or_default()
                        .push((model.name().to_owned(), w * s));
                }
            }
        }
        let mut ranked: Vec<(u32, f32)> = total.into_iter().collect();
        ranked.sort_by(rank_cmp);
        if self.rules.per_category_cap == 0 {
            ranked.truncate(k);
            return ranked;
        }
        let mut per: FxHashMap<Option<u32>, usize> = FxHashMap::default();
        let mut out = Vec::with_capacity(k);
        for e in ranked {
            let n = per.entry(category(e.0)).or_insert(0);
            if category(e.0).is_some() && *n >= self.rules.per_category_cap {
                continue;
            }
            *n += 1;
            out.push(e);
            if out.len() == k {
                break;
            }
        }
        out
    }
}

impl Recommender for Blend {
    fn name(&self) -> &str {
        &self.name
    }

    fn recommend(&self, ctx: &Context, k: usize, exclude: &FxHashSet<u32>) -> Vec<(u32, f32)> {
        self.recommend_filtered(ctx, k, exclude, &Filters::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{id, shop};
    use crate::model::{HistoryEvent, ItemKnnParams, TrendingParams};

    fn blend(rules: Rules) -> (Interactions, Blend) {
        let data = shop();
        let p = BlendParams {
            name: "blend".into(),
            parts: vec![
                (ModelSpec::ItemKnn(ItemKnnParams::default()), 1.0),
                (ModelSpec::Trending(TrendingParams::default()), 0.5),
            ],
            candidates: 50,
            normalization: Normalization::Max,
            rules,
        };
        let m = Blend::fit(&data, &p).expect("fit");
        (data, m)
    }

    #[test]
    fn combines_and_applies_rules() {
        let (data, m) = blend(Rules::default());
        let (s1, s2, hit) = (id(&data, "s1"), id(&data, "s2"), id(&data, "hit"));
        let mut ctx = Context::from_session(&[s1, s2]);
        let none = FxHashSet::default();
        let top = m.recommend(&ctx, 3, &none);
        assert!(
            top.iter().any(|e| e.0 == hit),
            "trending adds the hit: {top:?}"
        );
        // A purchase is excluded.
        ctx.history.push(HistoryEvent {
            item: hit,
            kind: InteractionKind::Purchase,
            ts_ms: 9,
        });
        assert!(m.recommend(&ctx, 10, &none).iter().all(|e| e.0 != hit));
        // Availability and categories.
        let s3 = id(&data, "s3");
        let avail = move |i: u32| i != s3;
        let f = Filters {
            available: Some(&avail),
            categories: None,
            keep_purchased: false,
        };
        assert!(m
            .recommend_filtered(&ctx, 10, &none, &f)
            .iter()
            .all(|e| e.0 != s3));
        let hats: FxHashSet<u32> = [data.categories.get("h").expect("h")].into_iter().collect();
        let f = Filters {
            available: None,
            categories: Some(&hats),
            keep_purchased: false,
        };
        let top = m.recommend_filtered(&ctx, 10, &none, &f);
        assert!(!top.is_empty());
        assert!(top
            .iter()
            .all(|e| data.category_of(e.0) == data.categories.get("h")));
    }

    #[test]
    fn caps_items_per_category() {
        let rules = Rules {
            per_category_cap: 1,
            ..Rules::default()
        };
        let (data, m) = blend(rules);
        let ctx = Context::from_session(&[id(&data, "s1")]);
        let top = m.recommend(&ctx, 5, &FxHashSet::default());
        let cats: Vec<_> = top.iter().map(|e| data.category_of(e.0)).collect();
        let distinct: FxHashSet<_> = cats.iter().collect();
        assert_eq!(distinct.len(), cats.len(), "{cats:?}");
    }
}
