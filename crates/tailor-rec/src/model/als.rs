//! Implicit ALS (Hu, Koren & Volinsky 2008) solved with a few warm-started conjugate-gradient
//! steps per user and item and iteration (Takács, Pilászy & Tikk 2011; as the `implicit`
//! library does). Confidence `c = 1 + alpha · weight`, preference 1 for observed pairs.
//! Users not seen in training are folded in at request time with one exact least-squares
//! solve against the item factors.

use std::time::Instant;

use rayon::prelude::*;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

use super::{top_k_dense, transpose, user_item_weights, Context, Recommender};
use crate::data::{Interactions, KindWeights};
use crate::linalg::{axpy, cholesky_solve, dot, matvec};
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlsParams {
    pub factors: usize,
    pub iterations: usize,
    pub regularization: f32,
    /// Confidence `1 + alpha · weight` for an observed user–item pair.
    pub alpha: f32,
    /// Conjugate-gradient steps per vector and iteration.
    pub cg_steps: usize,
    pub weights: KindWeights,
    pub half_life_hours: Option<f64>,
    /// Worker threads; `None`: rayon's global pool.
    pub threads: Option<usize>,
    pub seed: u64,
    /// Most recent distinct items used to fold in an unseen user.
    pub fold_in_items: usize,
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            factors: 64,
            iterations: 15,
            regularization: 0.01,
            alpha: 1.0,
            cg_steps: 3,
            weights: KindWeights::default(),
            half_life_hours: None,
            threads: None,
            seed: 42,
            fold_in_items: 100,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Als {
    factors: usize,
    user_factors: Vec<f32>,
    item_factors: Vec<f32>,
    /// `YᵀY + λI` of the final item factors, for fold-in.
    yty: Vec<f32>,
    known_user: Vec<bool>,
    known_item: Vec<bool>,
    alpha: f32,
    weights: KindWeights,
    fold_in_items: usize,
    /// Wall-clock seconds of each training iteration.
    pub iteration_secs: Vec<f64>,
}

/// Small uniform [0, 0.01) initial values from a splitmix64 stream.
fn init(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 24) as f32 * 0.01
        })
        .collect()
}

/// `Σ y yᵀ + reg I` over the rows of `ys` (`f` wide): the upper triangle is accumulated,
/// then mirrored.
fn gram(ys: &[f32], f: usize, reg: f32) -> Vec<f32> {
    let mut g = ys
        .par_chunks(f * 512)
        .fold(
            || vec![0f32; f * f],
            |mut g, chunk| {
                for y in chunk.chunks_exact(f) {
                    for (a, &ya) in y.iter().enumerate() {
                        if ya != 0.0 {
                            axpy(ya, &y[a..], &mut g[a * f + a..(a + 1) * f]);
                        }
                    }
                }
                g
            },
        )
        .reduce(
            || vec![0f32; f * f],
            |mut a, b| {
                axpy(1.0, &b, &mut a);
                a
            },
        );
    for a in 0..f {
        for b in 0..a {
            g[a * f + b] = g[b * f + a];
        }
        g[a * f + a] += reg;
    }
    g
}

struct Scratch {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
}

/// A few CG steps on `(YᵀY + λI + Σ (c-1) y yᵀ) x = Σ c y`, starting from `x`.
/// `row` holds `(index into ys, c - 1)`.
fn cg_update(
    x: &mut [f32],
    yty: &[f32],
    row: &[(u32, f32)],
    ys: &[f32],
    steps: usize,
    s: &mut Scratch,
) {
    let f = x.len();
    if row.is_empty() {
        x.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    let Scratch { r, p, ap } = s;
    matvec(yty, x, r);
    r.iter_mut().for_each(|v| *v = -*v);
    for &(i, cm1) in row {
        let y = &ys[i as usize * f..(i as usize + 1) * f];
        axpy(1.0 + cm1 - cm1 * dot(y, x), y, r);
    }
    p.copy_from_slice(r);
    let mut rsold = dot(r, r);
    if rsold < 1e-20 {
        return;
    }
    for _ in 0..steps {
        matvec(yty, p, ap);
        for &(i, cm1) in row {
            let y = &ys[i as usize * f..(i as usize + 1) * f];
            axpy(cm1 * dot(y, p), y, ap);
        }
        let pap = dot(p, ap);
        if pap <= 0.0 || !pap.is_finite() {
            return;
        }
        let a = rsold / pap;
        axpy(a, p, x);
        axpy(-a, ap, r);
        let rsnew = dot(r, r);
        if rsnew < 1e-20 {
            return;
        }
        let beta = rsnew / rsold;
        for (pv, rv) in p.iter_mut().zip(r.iter()) {
            *pv = rv + beta * *pv;
        }
        rsold = rsnew;
    }
}

/// One half-iteration: every vector of `xs` against the fixed `ys`.
fn solve_side(xs: &mut [f32], ys: &[f32], rows: &[Vec<(u32, f32)>], f: usize, p: &AlsParams) {
    let yty = gram(ys, f, p.regularization);
    let scratch = || Scratch {
        r: vec![0.0; f],
        p: vec![0.0; f],
        ap: vec![0.0; f],
    };
    xs.par_chunks_mut(f)
        .zip(rows.par_iter())
        .with_min_len(64)
        .for_each_init(scratch, |s, (x, row)| {
            cg_update(x, &yty, row, ys, p.cg_steps, s)
        });
}

impl Als {
    pub fn fit(data: &Interactions, p: &AlsParams) -> Result<Als> {
        if p.factors == 0 || p.regularization < 0.0 || p.alpha < 0.0 {
            return Err(Error::Param(
                "als needs factors > 0, regularization >= 0 and alpha >= 0".into(),
            ));
        }
        let run = || Als::fit_inner(data, p);
        match p.threads {
            Some(t) => rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .map_err(|e| Error::Param(format!("als threads: {e}")))?
                .install(run),
            None => run(),
        }
    }

    fn fit_inner(data: &Interactions, p: &AlsParams) -> Result<Als> {
        let f = p.factors;
        let mut users = user_item_weights(data, &p.weights, p.half_life_hours);
        for row in &mut users {
            row.iter_mut().for_each(|e| e.1 *= p.alpha);
        }
        let items = transpose(&users, data.n_items());
        let mut uf = init(data.n_users() * f, p.seed);
        let mut itf = init(data.n_items() * f, p.seed ^ 0x5EED);
        let mut iteration_secs = Vec::with_capacity(p.iterations);
        for _ in 0..p.iterations {
            let t = Instant::now();
            solve_side(&mut uf, &itf, &users, f, p);
            solve_side(&mut itf, &uf, &items, f, p);
            iteration_secs.push(t.elapsed().as_secs_f64());
        }
        let known_item: Vec<bool> = items.iter().map(|c| !c.is_empty()).collect();
        for (y, &k) in itf.chunks_exact_mut(f).zip(&known_item) {
            if !k {
                y.iter_mut().for_each(|v| *v = 0.0);
            }
        }
        Ok(Als {
            factors: f,
            yty: gram(&itf, f, p.regularization),
            user_factors: uf,
            item_factors: itf,
            known_user: users.iter().map(|r| !r.is_empty()).collect(),
            known_item,
            alpha: p.alpha,
            weights: p.weights,
            fold_in_items: p.fold_in_items,
            iteration_secs,
        })
    }

    /// The factors of `item`, if it was trained.
    pub fn item_vector(&self, item: u32) -> Option<&[f32]> {
        let f = self.factors;
        (*self.known_item.get(item as usize)?)
            .then(|| &self.item_factors[item as usize * f..(item as usize + 1) * f])
    }

    /// A user vector from interactions alone: the exact least-squares solution given the
    /// item factors (what one ALS user step converges to).
    pub fn fold_in(&self, ctx: &Context) -> Option<Vec<f32>> {
        let f = self.factors;
        let mut w: FxHashMap<u32, f32> = FxHashMap::default();
        for e in ctx.events().iter().rev() {
            if self.item_vector(e.item).is_none() {
                continue;
            }
            if w.len() >= self.fold_in_items && !w.contains_key(&e.item) {
                continue;
            }
            *w.entry(e.item).or_insert(0.0) += self.weights.weight(e.kind);
        }
        if w.is_empty() {
            return None;
        }
        let mut a: Vec<f64> = self.yty.iter().map(|&v| f64::from(v)).collect();
        let mut b = vec![0f64; f];
        for (&i, &wi) in &w {
            let y = self.item_vector(i)?;
            let cm1 = f64::from(self.alpha * wi);
            for r in 0..f {
                let yr = f64::from(y[r]);
                b[r] += (1.0 + cm1) * yr;
                for c in 0..=r {
                    a[r * f + c] += cm1 * yr * f64::from(y[c]);
                }
            }
        }
        cholesky_solve(&mut a, &mut b)?;
        Some(b.into_iter().map(|v| v as f32).collect())
    }
}

impl Recommender for Als {
    fn name(&self) -> &str {
        "als"
    }

    fn recommend(&self, ctx: &Context, k: usize, exclude: &FxHashSet<u32>) -> Vec<(u32, f32)> {
        let f = self.factors;
        let x = match ctx.user {
            Some(u) if self.known_user.get(u as usize) == Some(&true) => {
                self.user_factors[u as usize * f..(u as usize + 1) * f].to_vec()
            }
            _ => match self.fold_in(ctx) {
                Some(x) => x,
                None => return Vec::new(),
            },
        };
        let scores: Vec<f32> = self
            .item_factors
            .chunks_exact(f)
            .map(|y| dot(&x, y))
            .collect();
        top_k_dense(&scores, k, exclude, |i| !self.known_item[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testdata::{id, shop};

    #[test]
    fn learns_the_two_tastes() {
        let data = shop();
        let p = AlsParams {
            factors: 8,
            iterations: 10,
            regularization: 0.1,
            ..AlsParams::default()
        };
        let m = Als::fit(&data, &p).expect("fit");
        assert_eq!(m.iteration_secs.len(), 10);
        let (s1, s2) = (id(&data, "s1"), id(&data, "s2"));
        let ex: FxHashSet<u32> = [s1, s2, id(&data, "hit")].into_iter().collect();
        // Folded in (anonymous) and known user (shoe1 never viewed s4).
        let anon = Context::from_session(&[s1, s2]);
        let known = Context {
            user: data.users.get("shoe1"),
            ..Context::default()
        };
        for ctx in [anon, known] {
            let top = m.recommend(&ctx, 2, &ex);
            let shoes = [id(&data, "s3"), id(&data, "s4")];
            assert!(top.iter().all(|r| shoes.contains(&r.0)), "{top:?}");
        }
    }

    #[test]
    fn fold_in_matches_a_converged_user_step() {
        let data = shop();
        let p = AlsParams {
            factors: 4,
            iterations: 3,
            cg_steps: 10,
            ..AlsParams::default()
        };
        let m = Als::fit(&data, &p).expect("fit");
        let ctx = Context::from_session(&[id(&data, "h1"), id(&data, "h2")]);
        let x = m.fold_in(&ctx).expect("fold in");
        let mut y = vec![0.0; 4];
        let row: Vec<(u32, f32)> = vec![(id(&data, "h1"), 1.0), (id(&data, "h2"), 1.0)];
        let mut s = Scratch {
            r: vec![0.0; 4],
            p: vec![0.0; 4],
            ap: vec![0.0; 4],
        };
        cg_update(&mut y, &m.yty, &row, &m.item_factors, 10, &mut s);
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() < 1e-3 * a.abs().max(1.0), "{x:?} vs {y:?}");
        }
    }
}
