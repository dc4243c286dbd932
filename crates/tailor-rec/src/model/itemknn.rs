//! Item-item collaborative filtering: cosine similarity of kind-weighted, time-decayed item
//! vectors (weighted co-occurrence), the top neighbours kept per item; a request scores the
//! neighbours of the user's recent items.

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use super::{top_k, transpose, user_item_weights, Context, Recommender};
use crate::data::{Interactions, KindWeights};
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ItemKnnParams {
    /// Neighbours kept per item.
    pub neighbours: usize,
    pub weights: KindWeights,
    /// Interactions count half after this many hours; `None`: no decay.
    pub half_life_hours: Option<f64>,
    /// Asymmetric cosine exponent: `sim(i,j) = i·j / (|i|^(2α) |j|^(2(1-α)) + shrink)`;
    /// 0.5 is the cosine.
    pub alpha: f32,
    pub shrink: f32,
    /// Co-occurrence within sessions instead of within a user's whole history.
    pub by_session: bool,
    /// Recent items of the request used as seeds.
    pub seeds: usize,
    /// Seed weight factor per step back in time (most recent = 1).
    pub seed_decay: f32,
    /// Similarity of an item to itself, so seeds can be recommended again (repeat views in
    /// sessions); 0 never recommends a seed through itself.
    pub self_similarity: f32,
}

impl Default for ItemKnnParams {
    fn default() -> Self {
        ItemKnnParams {
            neighbours: 100,
            weights: KindWeights::default(),
            half_life_hours: None,
            alpha: 0.5,
            shrink: 0.0,
            by_session: false,
            seeds: 20,
            seed_decay: 0.9,
            self_similarity: 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemKnn {
    /// Per item: its neighbours and similarities, best first.
    neighbours: Vec<Vec<(u32, f32)>>,
    weights: KindWeights,
    seeds: usize,
    seed_decay: f32,
    self_similarity: f32,
}

impl ItemKnn {
    pub fn fit(data: &Interactions, p: &ItemKnnParams) -> Result<ItemKnn> {
        if !(0.0..=1.0).contains(&p.alpha) || p.shrink < 0.0 || p.neighbours == 0 {
            return Err(Error::Param(
                "item_knn needs 0 <= alpha <= 1, shrink >= 0 and neighbours > 0".into(),
            ));
        }
        // Rows of the co-occurrence matrix: users, or sessions (re-keyed as users).
        let rows = if p.by_session {
            let mut d = data.subset(|_, _| true);
            for r in &mut d.rows {
                r.user = r.session;
            }
            d.users = (0..data.n_sessions)
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .into();
            user_item_weights(&d, &p.weights, p.half_life_hours)
        } else {
            user_item_weights(data, &p.weights, p.half_life_hours)
        };
        let cols = transpose(&rows, data.n_items());
        let norm2: Vec<f32> = cols
            .iter()
            .map(|c| c.iter().map(|e| e.1 * e.1).sum())
            .collect();
        let n = data.n_items();
        let (a, k) = (p.alpha, p.neighbours);
        let neighbours = (0..n)
            .into_par_iter()
            .map_init(
                || (vec![0f32; n], Vec::<u32>::new()),
                |(acc, touched), i| {
                    for &(u, wi) in &cols[i] {
                        for &(j, wj) in &rows[u as usize] {
                            if j as usize == i {
                                continue;
                            }
                            if acc[j as usize] == 0.0 {
                                touched.push(j);
                            }
                            acc[j as usize] += wi * wj;
                        }
                    }
                    let ni = norm2[i].powf(a);
                    let cands: Vec<(u32, f32)> = touched
                        .drain(..)
                        .map(|j| {
                            let v = std::mem::take(&mut acc[j as usize]);
                            let nj = norm2[j as usize].powf(1.0 - a);
                            (j, v / (ni * nj + p.shrink).max(f32::MIN_POSITIVE))
                        })
                        .collect();
                    top_k(cands, k)
                },
            )
            .collect();
        Ok(ItemKnn {
            neighbours,
            weights: p.weights,
            seeds: p.seeds,
            seed_decay: p.seed_decay,
            self_similarity: p.self_similarity,
        })
    }

    /// The stored neighbours of `item`, best first.
    pub fn neighbours(&self, item: u32) -> &[(u32, f32)] {
        self.neighbours
            .get(item as usize)
            .map_or(&[], Vec::as_slice)
    }
}

impl Recommender for ItemKnn {
    fn name(&self) -> &str {
        "item-knn"
    }

    fn recommend(&self, ctx: &Context, k: usize, exclude: &FxHashSet<u32>) -> Vec<(u32, f32)> {
        let mut seeds: FxHashMap<u32, f32> = FxHashMap::default();
        let mut step = 0;
        for e in ctx.events().iter().rev() {
            if step >= self.seeds {
                break;
            }
            let w = self.weights.weight(e.kind).max(f32::MIN_POSITIVE);
            let fresh = !seeds.contains_key(&e.item);
            *seeds.entry(e.item).or_insert(0.0) += w * self.seed_decay.powi(step as i32);
            if fresh {
                step += 1;
            }
        }
        let mut scores: FxHashMap<u32, f32> = FxHashMap::default();
        for (&s, &w) in &seeds {
            if self.self_similarity > 0.0 && !exclude.contains(&s) {
                *scores.entry(s).or_insert(0.0) += w * self.self_similarity;
            }
            for &(j, sim) in self.neighbours(s) {
                if !exclude.contains(&j) {
                    *scores.entry(j).or_insert(0.0) += w * sim;
                }
            }
        }
        top_k(scores.into_iter().collect(), k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{id, shop};

    #[test]
    fn neighbours_follow_co_occurrence() {
        let data = shop();
        let m = ItemKnn::fit(&data, &ItemKnnParams::default()).expect("fit");
        let (s1, s2, s3) = (id(&data, "s1"), id(&data, "s2"), id(&data, "s3"));
        let best = m.neighbours(s1)[0].0;
        assert!(best == s2 || best == s3, "{:?}", m.neighbours(s1));
        let ctx = Context::from_session(&[s1, s2]);
        let ex: FxHashSet<u32> = [s1, s2, id(&data, "hit")].into_iter().collect();
        let top = m.recommend(&ctx, 2, &ex);
        assert_eq!(top[0].0, s3, "{top:?}");
        assert_eq!(top[1].0, id(&data, "s4"));
        let hats: Vec<u32> = ["h1", "h2", "h3"].iter().map(|h| id(&data, h)).collect();
        assert!(m
            .recommend(&ctx, 10, &ex)
            .iter()
            .all(|r| !hats.contains(&r.0)));
    }

    #[test]
    fn unknown_items_give_nothing() {
        let m = ItemKnn::fit(&shop(), &ItemKnnParams::default()).expect("fit");
        let ctx = Context::from_session(&[9999]);
        assert!(m.recommend(&ctx, 5, &FxHashSet::default()).is_empty());
    }
}
