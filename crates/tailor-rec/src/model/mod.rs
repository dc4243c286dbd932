//! Batch-trained recommendation models behind one trait, [`Recommender`]. Each has params
//! (serde, with defaults) and a `fit`; [`ModelSpec`] names a model and its params, fits it
//! and times the training; [`Model`] holds any trained model and is the serialized artifact.

mod als;
mod blend;
mod ease;
mod itemknn;
mod repeat;
mod sknn;
mod trending;

use std::time::Instant;

use rustc_hash::FxHashSet;
use serde::{Deserialize, Serialize};
use tailor_event::InteractionKind;

pub use als::{Als, AlsParams};
pub use blend::{Blend, BlendParams, Filters, Normalization, Rules};
pub use ease::{Ease, EaseParams};
pub use itemknn::{ItemKnn, ItemKnnParams};
pub use repeat::{Repeat, RepeatParams};
pub use sknn::{PositionWeight, ScoreDecay, SessionKnn, SknnParams};
pub use trending::{Trending, TrendingParams};

use crate::data::Interactions;
use crate::Result;

/// One past interaction of the requesting user.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    pub item: u32,
    pub kind: InteractionKind,
    pub ts_ms: i64,
}

/// What a model knows about the request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    /// The user's training id, when the user was in the training data.
    pub user: Option<u32>,
    /// The user's interactions, oldest first (most recent last), including the current
    /// session's.
    pub history: Vec<HistoryEvent>,
    /// The current session's interactions, oldest first; for anonymous users often the only
    /// context.
    pub session: Vec<HistoryEvent>,
    /// Restrict to this category ("trending in shoes"); models that cannot, ignore it.
    pub category: Option<u32>,
    /// Request time (only used by time-aware rules; rankings do not depend on it).
    pub now_ms: i64,
}

impl Context {
    /// An anonymous session of item views, most recent last.
    pub fn from_session(items: &[u32]) -> Context {
        let session: Vec<HistoryEvent> = items
            .iter()
            .enumerate()
            .map(|(i, &item)| HistoryEvent {
                item,
                kind: InteractionKind::View,
                ts_ms: i as i64,
            })
            .collect();
        Context {
            history: session.clone(),
            session,
            ..Context::default()
        }
    }

    /// The longest context available: the history, else the session.
    pub fn events(&self) -> &[HistoryEvent] {
        if self.history.is_empty() {
            &self.session
        } else {
            &self.history
        }
    }

    /// The session, else the history.
    pub fn session_events(&self) -> &[HistoryEvent] {
        if self.session.is_empty() {
            &self.history
        } else {
            &self.session
        }
    }
}

/// A trained model that ranks items for a request.
pub trait Recommender: Send + Sync {
    fn name(&self) -> &str;

    /// The `k` best items (id, score), best first, never an item of `exclude`. Unknown items
    /// in the context are ignored; with nothing to go on, the list may be empty or short.
    fn recommend(&self, ctx: &Context, k: usize, exclude: &FxHashSet<u32>) -> Vec<(u32, f32)>;
}

/// Any trained model; the unit that is serialized as an artifact.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Model {
    Trending(Trending),
    ItemKnn(ItemKnn),
    Als(Als),
    Ease(Ease),
    SessionKnn(SessionKnn),
    Blend(Blend),
    Repeat(Repeat),
}

impl Model {
    fn inner(&self) -> &dyn Recommender {
        match self {
            Model::Trending(m) => m,
            Model::ItemKnn(m) => m,
            Model::Als(m) => m,
            Model::Ease(m) => m,
            Model::SessionKnn(m) => m,
            Model::Blend(m) => m,
            Model::Repeat(m) => m,
        }
    }
}

impl Recommender for Model {
    fn name(&self) -> &str {
        self.inner().name()
    }

    fn recommend(&self, ctx: &Context, k: usize, exclude: &FxHashSet<u32>) -> Vec<(u32, f32)> {
        self.inner().recommend(ctx, k, exclude)
    }
}

/// A model to train: its kind, params and a label for reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModelSpec {
    Trending(TrendingParams),
    ItemKnn(ItemKnnParams),
    Als(AlsParams),
    Ease(EaseParams),
    SessionKnn(SknnParams),
    Blend(BlendParams),
    Repeat(RepeatParams),
}

/// A trained model and how long training took.
#[derive(Debug, Clone)]
pub struct Fitted {
    pub model: Model,
    pub train_secs: f64,
}

impl ModelSpec {
    /// The name the trained model will report.
    pub fn name(&self) -> String {
        match self {
            ModelSpec::Trending(_) => "trending".into(),
            ModelSpec::ItemKnn(_) => "item-knn".into(),
            ModelSpec::Als(_) => "als".into(),
            ModelSpec::Ease(_) => "ease".into(),
            ModelSpec::SessionKnn(_) => "sknn".into(),
            ModelSpec::Blend(p) => p.name.clone(),
            ModelSpec::Repeat(_) => "repeat".into(),
        }
    }

    /// Trains on `data`, timing it.
    pub fn fit(&self, data: &Interactions) -> Result<Fitted> {
        let t = Instant::now();
        let model = match self {
            ModelSpec::Trending(p) => Model::Trending(Trending::fit(data, p)?),
            ModelSpec::ItemKnn(p) => Model::ItemKnn(ItemKnn::fit(data, p)?),
            ModelSpec::Als(p) => Model::Als(Als::fit(data, p)?),
            ModelSpec::Ease(p) => Model::Ease(Ease::fit(data, p)?),
            ModelSpec::SessionKnn(p) => Model::SessionKnn(SessionKnn::fit(data, p)?),
            ModelSpec::Blend(p) => Model::Blend(Blend::fit(data, p)?),
            ModelSpec::Repeat(p) => Model::Repeat(Repeat::fit(data, p)?),
        };
        Ok(Fitted {
            model,
            train_secs: t.elapsed().as_secs_f64(),
        })
    }
}

/// `2^(-age / half_life)`; 1 when there is no half-life.
pub(crate) fn decay(age_ms: i64, half_life_hours: Option<f64>) -> f32 {
    match half_life_hours {
        Some(h) if h > 0.0 => (-(age_ms.max(0) as f64) / (h * 3_600_000.0)).exp2() as f32,
        _ => 1.0,
    }
}

/// Best first: higher score, then lower id.
pub(crate) fn rank_cmp(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
    b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// The `k` best of `cands` (finite scores only), best first.
pub(crate) fn top_k(mut cands: Vec<(u32, f32)>, k: usize) -> Vec<(u32, f32)> {
    cands.retain(|c| c.1.is_finite());
    if k == 0 {
        return Vec::new();
    }
    if cands.len() > k {
        cands.select_nth_unstable_by(k - 1, rank_cmp);
        cands.truncate(k);
    }
    cands.sort_by(rank_cmp);
    cands
}

/// The `k` best items of a dense score vector, skipping `exclude` and items `skip` marks.
pub(crate) fn top_k_dense(
    scores: &[f32],
    k: usize,
    exclude: &FxHashSet<u32>,
    skip: impl Fn(usize) -> bool,
) -> Vec<(u32, f32)> {
    let cands = scores
        .iter()
        .enumerate()
        .filter(|&(i, s)| s.is_finite() && !skip(i) && !exclude.contains(&(i as u32)))
        .map(|(i, &s)| (i as u32, s))
        .collect();
    top_k(cands, k)
}

/// Per-user aggregated weights: `(item, Σ kind weight × decay)` for each user, sorted by item.
pub(crate) fn user_item_weights(
    data: &Interactions,
    weights: &crate::data::KindWeights,
    half_life_hours: Option<f64>,
) -> Vec<Vec<(u32, f32)>> {
    let now = data.max_ts_ms();
    let mut per_user: Vec<Vec<(u32, f32)>> = vec![Vec::new(); data.n_users()];
    for r in &data.rows {
        let w = weights.weight(r.kind) * decay(now - r.ts_ms, half_life_hours);
        if w > 0.0 {
            per_user[r.user as usize].push((r.item, w));
        }
    }
    for v in &mut per_user {
        v.sort_by_key(|e| e.0);
        let mut out: Vec<(u32, f32)> = Vec::with_capacity(v.len());
        for &(i, w) in v.iter() {
            match out.last_mut() {
                Some(last) if last.0 == i => last.1 += w,
                _ => out.push((i, w)),
            }
        }
        *v = out;
    }
    per_user
}

/// Transposes per-user lists into per-item lists `(user, weight)`.
pub(crate) fn transpose(rows: &[Vec<(u32, f32)>], n_cols: usize) -> Vec<Vec<(u32, f32)>> {
    let mut out = vec![Vec::new(); n_cols];
    for (u, row) in rows.iter().enumerate() {
        for &(i, w) in row {
            out[i as usize].push((u as u32, w));
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod testdata;
