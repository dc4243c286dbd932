//! EASE (Steck 2019): a closed-form item-item model, `B = I − P · diagMat(1 / diag(P))`
//! with `P = (XᵀX + λI)⁻¹` and a zero diagonal; scores are `x_u · B`. Dense: the catalog is
//! capped (`max_items`, the most popular) so the `n × n` solve stays affordable.

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use super::{top_k, user_item_weights, Context, Recommender};
use crate::data::{Interactions, KindWeights};
use crate::linalg::{axpy, spd_inverse};
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EaseParams {
    pub lambda: f32,
    /// Largest catalog solved densely; beyond it only the most popular items are modelled.
    pub max_items: usize,
    /// Items need at least this many distinct users to be modelled.
    pub min_users: u32,
    /// `X` as 0/1 (the paper) or as kind weights.
    pub binary: bool,
    pub weights: KindWeights,
    /// Most recent distinct items of the request used.
    pub history: usize,
}

impl Default for EaseParams {
    fn default() -> Self {
        EaseParams {
            lambda: 500.0,
            max_items: 20_000,
            min_users: 1,
            binary: true,
            weights: KindWeights::default(),
            history: 200,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ease {
    /// Model column → item id.
    items: Vec<u32>,
    /// Item id → model column.
    column: FxHashMap<u32, u32>,
    /// `m × m`, row-major.
    b: Vec<f32>,
    binary: bool,
    weights: KindWeights,
    history: usize,
}

impl Ease {
    pub fn fit(data: &Interactions, p: &EaseParams) -> Result<Ease> {
        if p.lambda <= 0.0 || p.max_items == 0 {
            return Err(Error::Param(
                "ease needs lambda > 0 and max_items > 0".into(),
            ));
        }
        let users = user_item_weights(data, &p.weights, None);
        let counts = data.item_user_counts();
        let mut items: Vec<u32> = (0..data.n_items() as u32)
            .filter(|&i| counts[i as usize] >= p.min_users.max(1))
            .collect();
        items.sort_by(|a, b| counts[*b as usize].cmp(&counts[*a as usize]).then(a.cmp(b)));
        items.truncate(p.max_items);
        items.sort_unstable();
        if items.is_empty() {
            return Err(Error::Empty("items"));
        }
        let column: FxHashMap<u32, u32> = items
            .iter()
            .enumerate()
            .map(|(c, &i)| (i, c as u32))
            .collect();
        let m = items.len();
        // X restricted to the modelled columns, per user and per column.
        let x: Vec<Vec<(u32, f64)>> = users
            .iter()
            .map(|row| {
                row.iter()
                    .filter_map(|&(i, w)| {
                        let v = if p.binary { 1.0 } else { f64::from(w) };
                        column.get(&i).map(|&c| (c, v))
                    })
                    .collect()
            })
            .collect();
        let mut by_col: Vec<Vec<(u32, f64)>> = vec![Vec::new(); m];
        for (u, row) in x.iter().enumerate() {
            for &(c, v) in row {
                by_col[c as usize].push((u as u32, v));
            }
        }
        // G = XᵀX + λI, row by row in parallel.
        let mut g = vec![0f64; m * m];
        g.par_chunks_mut(m).enumerate().for_each(|(i, row)| {
            for &(u, vi) in &by_col[i] {
                for &(j, vj) in &x[u as usize] {
                    row[j as usize] += vi * vj;
                }
            }
            row[i] += f64::from(p.lambda);
        });
        drop(by_col);
        let pinv = spd_inverse(g, m)?;
        let mut b = vec![0f32; m * m];
        b.par_chunks_mut(m).enumerate().for_each(|(i, row)| {
            for (j, v) in row.iter_mut().enumerate() {
                *v = if i == j {
                    0.0
                } else {
                    (-pinv[i * m + j] / pinv[j * m + j]) as f32
                };
            }
        });
        Ok(Ease {
            items,
            column,
            b,
            binary: p.binary,
            weights: p.weights,
            history: p.history,
        })
    }

    /// Number of items the model scores.
    pub fn n_modelled(&self) -> usize {
        self.items.len()
    }
}

impl Recommender for Ease {
    fn name(&self) -> &str {
        "ease"
    }

    fn recommend(&self, ctx: &Context, k: usize, exclude: &FxHashSet<u32>) -> Vec<(u32, f32)> {
        let m = self.items.len();
        let mut xu: FxHashMap<u32, f32> = FxHashMap::default();
        for e in ctx.events().iter().rev() {
            let Some(&c) = self.column.get(&e.item) else {
                continue;
            };
            if xu.len() >= self.history && !xu.contains_key(&c) {
                continue;
            }
            let w = if self.binary {
                1.0
            } else {
                self.weights.weight(e.kind)
            };
            let v = xu.entry(c).or_insert(0.0);
            *v = if self.binary { 1.0 } else { *v + w };
        }
        if xu.is_empty() {
            return Vec::new();
        }
        let mut scores = vec![0f32; m];
        for (&c, &v) in &xu {
            axpy(
                v,
                &self.b[c as usize * m..(c as usize + 1) * m],
                &mut scores,
            );
        }
        let cands = scores
            .into_iter()
            .enumerate()
            .map(|(c, s)| (self.items[c], s))
            .filter(|(i, _)| !exclude.contains(i))
            .collect();
        top_k(cands, k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{id, shop};

    #[test]
    fn completes_the_shoe_set() {
        let data = shop();
        let p = EaseParams {
            lambda: 1.0,
            ..EaseParams::default()
        };
        let m = Ease::fit(&data, &p).expect("fit");
        let (s1, s2) = (id(&data, "s1"), id(&data, "s2"));
        let ex: FxHashSet<u32> = [s1, s2, id(&data, "hit")].into_iter().collect();
        let top = m.recommend(&Context::from_session(&[s1, s2]), 2, &ex);
        assert_eq!(top[0].0, id(&data, "s3"), "{top:?}");
        assert_eq!(top[1].0, id(&data, "s4"), "{top:?}");
    }

    #[test]
    fn caps_the_catalog_to_popular_items() {
        let data = shop();
        let p = EaseParams {
            max_items: 3,
            ..EaseParams::default()
        };
        let m = Ease::fit(&data, &p).expect("fit");
        assert_eq!(m.n_modelled(), 3);
        assert!(m.column.contains_key(&id(&data, "hit")));
        assert!(!m.column.contains_key(&id(&data, "s4")));
    }
}
