//! Co-occurrence + trending blend.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use tailor_features::{FeatureRow, FeatureValue, ItemIdx, LiveState};

use crate::{Error, Result};

pub const MODEL_NAME: &str = "cooc-trending-v1";

/// Recommendation settings (`[recommend]` in `tailor.toml`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RecConfig {
    pub default_k: usize,
    pub max_k: usize,
    /// Recent items of the user used as seeds.
    pub seed_items: usize,
    /// Share of the score that comes from trending (0–1).
    pub trending_weight: f64,
    /// Exclude items the user interacted with recently (they are the seeds).
    pub exclude_seen: bool,
    /// With a trained model served: the live co-occurrence model's share of each score
    /// (0–1); the trained model has the rest.
    pub live_weight: f64,
    /// Share of each answer given to catalog items created within `new_item_days` (picked at
    /// random among the newest), so new items can earn interactions (0: none).
    pub exploration_share: f64,
    pub new_item_days: f64,
    /// The exclusion policy of each surface named here (`[recommend.surfaces]`, e.g.
    /// `pdp = "next_item"`); others follow [`Exclusion::of_surface`].
    pub surfaces: std::collections::BTreeMap<String, Exclusion>,
}

/// What an answer leaves out of the user's own history: chosen per surface (the `surface`
/// parameter of a request), because the use cases want opposite things.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// "Recommended for you" (home page, e-mails): items the user bought are out, and so are
    /// those seen recently when `recommend.exclude_seen` is on (the default).
    #[default]
    ForYou,
    /// "Next in this session" (a product page's "you may also look at", a media player's up
    /// next): items seen in the session may come back (a third of next clicks in
    /// session-based logs are re-visits); bought items are out.
    NextItem,
    /// "Buy again" (groceries, consumables): bought items are in, and first.
    BuyAgain,
}

impl Exclusion {
    /// The policy of a surface not named in `[recommend.surfaces]`: `next_item`, `session`
    /// and `up_next` are [`Exclusion::NextItem`]; `buy_again` and `reorder` are
    /// [`Exclusion::BuyAgain`]; every other surface is [`Exclusion::ForYou`].
    pub fn of_surface(surface: &str) -> Exclusion {
        match surface {
            "next_item" | "session" | "up_next" => Exclusion::NextItem,
            "buy_again" | "reorder" => Exclusion::BuyAgain,
            _ => Exclusion::ForYou,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Exclusion::ForYou => "for_you",
            Exclusion::NextItem => "next_item",
            Exclusion::BuyAgain => "buy_again",
        }
    }

    /// Whether the user's recently seen items are left out, given `recommend.exclude_seen`.
    pub fn excludes_seen(self, exclude_seen: bool) -> bool {
        self == Exclusion::ForYou && exclude_seen
    }

    /// Whether the user's purchases are left out.
    pub fn excludes_purchased(self) -> bool {
        self != Exclusion::BuyAgain
    }
}

impl Default for RecConfig {
    fn default() -> Self {
        RecConfig {
            default_k: 10,
            max_k: 200,
            seed_items: 20,
            trending_weight: 0.15,
            exclude_seen: true,
            live_weight: 0.25,
            exploration_share: 0.1,
            new_item_days: 7.0,
            surfaces: std::collections::BTreeMap::new(),
        }
    }
}

impl RecConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.max_k == 0 || self.default_k == 0 || self.default_k > self.max_k {
            return Err("recommend.default_k must be between 1 and recommend.max_k".into());
        }
        if !(0.0..=1.0).contains(&self.trending_weight) {
            return Err("recommend.trending_weight must be between 0 and 1".into());
        }
        if !(0.0..=1.0).contains(&self.live_weight) {
            return Err("recommend.live_weight must be between 0 and 1".into());
        }
        if !(0.0..=0.5).contains(&self.exploration_share) {
            return Err("recommend.exploration_share must be between 0 and 0.5".into());
        }
        if !(self.new_item_days > 0.0 && self.new_item_days <= 365.0) {
            return Err("recommend.new_item_days must be between 0 and 365".into());
        }
        if let Some(s) = self.surfaces.keys().find(|s| !valid_surface(s)) {
            return Err(format!(
                "recommend.surfaces: {s:?} is not a surface name like home, product or cart (a-z, 0-9, _ or -, at most 32)"
            ));
        }
        Ok(())
    }

    /// The exclusion policy of `surface`.
    pub fn exclusion(&self, surface: &str) -> Exclusion {
        self.surfaces
            .get(surface)
            .copied()
            .unwrap_or_else(|| Exclusion::of_surface(surface))
    }
}

/// Whether `s` is a surface name: a-z, 0-9, `_` or `-`, 1 to 32 bytes.
pub fn valid_surface(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Whether an item may be recommended: its id and the category the live model knows for it.
pub type Keep<'a> = &'a (dyn Fn(&str, Option<&str>) -> bool + Sync);

#[derive(Clone, Default)]
pub struct RecRequest<'a> {
    /// The user's features from the online store (none: an unknown user).
    pub user: Option<&'a UserInputs>,
    /// Context item ("more like this").
    pub item: Option<&'a str>,
    pub k: Option<usize>,
    /// Trending items with their decayed counts, best first, from the global feature row
    /// ([`trending_from_row`]); none: the live state's own popularity list.
    pub trending: Option<&'a [(String, f64)]>,
    /// Only items for which this holds (availability, category, exclusions), applied while
    /// ranking so that the `k` best are the `k` best eligible ones.
    pub keep: Option<Keep<'a>>,
    /// What of the user's history is left out (the surface's policy).
    pub exclusion: Exclusion,
}

/// What the recommender reads of a user, taken from the user's feature row (default
/// feature set: `user_last_items`, `user_session_items`, `user_last_purchases`,
/// `user_category_affinity`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserInputs {
    /// Items interacted with, most recent first.
    pub recent: Vec<String>,
    /// Items of the current session, most recent first.
    pub session: Vec<String>,
    pub purchased: Vec<String>,
    /// Category → affinity (decayed, weighted interactions).
    pub affinity: Vec<(String, f64)>,
}

pub const RECENT_FEATURE: &str = "user_last_items";
pub const SESSION_FEATURE: &str = "user_session_items";
pub const PURCHASED_FEATURE: &str = "user_last_purchases";
pub const AFFINITY_FEATURE: &str = "user_category_affinity";
/// The global feature with decayed interaction counts per item (default set).
pub const TRENDING_FEATURE: &str = "global_trending_items";

/// The trending items of the global feature row, best first (ties by id); `None` when the
/// feature is not defined.
pub fn trending_from_row(row: &FeatureRow) -> Option<Vec<(String, f64)>> {
    let Some(FeatureValue::Map(m)) = row.get(TRENDING_FEATURE) else {
        return None;
    };
    let mut out: Vec<(String, f64)> = m
        .iter()
        .filter_map(|(k, v)| v.as_f64().filter(|x| *x > 0.0).map(|x| (k.clone(), x)))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Some(out)
}

impl UserInputs {
    pub fn from_row(row: &FeatureRow) -> Self {
        let list = |name: &str| -> Vec<String> {
            match row.get(name) {
                Some(FeatureValue::List(l)) => l
                    .iter()
                    .filter_map(|v| match v {
                        FeatureValue::Str(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        };
        let affinity = match row.get(AFFINITY_FEATURE) {
            Some(FeatureValue::Map(m)) => m
                .iter()
                .filter_map(|(k, v)| v.as_f64().map(|x| (k.clone(), x)))
                .collect(),
            _ => Vec::new(),
        };
        UserInputs {
            recent: list(RECENT_FEATURE),
            session: list(SESSION_FEATURE),
            purchased: list(PURCHASED_FEATURE),
            affinity,
        }
    }
}

/// Where an item of an answer came from, in the order answers are filled: the served model,
/// the live co-occurrence model, the user's favourite categories, trending (within the
/// request's filters), overall popularity; or a new item's exploration slot.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    #[default]
    Model,
    Cooc,
    Category,
    Trending,
    Popular,
    Exploration,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Model => "model",
            Origin::Cooc => "cooc",
            Origin::Category => "category",
            Origin::Trending => "trending",
            Origin::Popular => "popular",
            Origin::Exploration => "exploration",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecItem {
    pub item_id: String,
    pub score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Which source proposed the item.
    #[serde(default)]
    pub source: Origin,
    /// What made the score (`explain`): `(source, share of the score)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecResponse {
    pub model: String,
    /// `personalized`, `item` or `trending`: what the candidates came from.
    pub strategy: String,
    pub items: Vec<RecItem>,
}

/// Extra weight of seeds from the current session over older history.
const SESSION_BOOST: f64 = 1.5;
/// How much a candidate's category affinity (share of the user's total) lifts its score.
const AFFINITY_BOOST: f64 = 0.5;

/// Ranks items for the request. Never fails on unknown ids; only a bad `k` is an error.
pub fn recommend(state: &LiveState, cfg: &RecConfig, req: &RecRequest<'_>) -> Result<RecResponse> {
    let k = req.k.unwrap_or(cfg.default_k);
    if k == 0 || k > cfg.max_k {
        return Err(Error::BadK {
            got: k,
            max: cfg.max_k,
        });
    }
    if state.items.is_empty() {
        // No live model in this process (an API replica: `roles` without `processor`),
        // or nothing seen yet: trending from the features, by id.
        return Ok(trending_by_id(req, k));
    }
    let mut seeds: FxHashMap<ItemIdx, f64> = FxHashMap::default();
    let mut exclude: FxHashSet<ItemIdx> = FxHashSet::default();
    let mut strategy = "trending";
    if let Some((idx, _)) = req.item.and_then(|id| state.item(id)) {
        seeds.insert(idx, 1.0);
        exclude.insert(idx);
        strategy = "item";
    }
    let mut affinity: FxHashMap<&str, f64> = FxHashMap::default();
    let exclude_seen = req.exclusion.excludes_seen(cfg.exclude_seen);
    if let Some(user) = req.user {
        if req.exclusion.excludes_purchased() {
            exclude.extend(
                user.purchased
                    .iter()
                    .filter_map(|id| state.item(id))
                    .map(|x| x.0),
            );
        }
        let session: FxHashSet<&str> = user.session.iter().map(String::as_str).collect();
        let mut rank = 0;
        for id in &user.recent {
            let Some((idx, _)) = state.item(id) else {
                continue;
            };
            if exclude_seen {
                exclude.insert(idx);
            }
            if rank < cfg.seed_items {
                // Recent items count most, and those of the current session more.
                let boost = if session.contains(id.as_str()) {
                    SESSION_BOOST
                } else {
                    1.0
                };
                *seeds.entry(idx).or_insert(0.0) += boost * 0.9f64.powi(rank as i32);
                rank += 1;
            }
        }
        if rank > 0 {
            strategy = "personalized";
        }
        let total: f64 = user.affinity.iter().map(|(_, a)| a.max(0.0)).sum();
        if total > 0.0 {
            affinity = user
                .affinity
                .iter()
                .map(|(c, a)| (c.as_str(), a.max(0.0) / total))
                .collect();
        }
    }
    let mut scores: FxHashMap<ItemIdx, f64> = FxHashMap::default();
    for (&seed, &ws) in &seeds {
        let Some(s) = state.items.get(seed as usize) else {
            continue;
        };
        let norm_s = s.weight_total.max(1.0).sqrt();
        for (&n, &c) in &s.neighbours {
            if exclude.contains(&n) {
                continue;
            }
            let norm_n = state
                .items
                .get(n as usize)
                .map_or(1.0, |i| i.weight_total.max(1.0).sqrt());
            *scores.entry(n).or_insert(0.0) += ws * f64::from(c) / (norm_s * norm_n);
        }
    }
    if !affinity.is_empty() {
        for (i, s) in scores.iter_mut() {
            let cat = state
                .items
                .get(*i as usize)
                .and_then(|x| x.category.as_deref());
            if let Some(a) = cat.and_then(|c| affinity.get(c)) {
                *s *= 1.0 + AFFINITY_BOOST * a;
            }
        }
    }
    let from_features: Vec<(ItemIdx, f64)>;
    let trending: &[(ItemIdx, f64)] = match req.trending {
        Some(list) => {
            from_features = list
                .iter()
                .filter_map(|(id, v)| state.item(id).map(|(i, _)| (i, *v)))
                .collect();
            &from_features
        }
        None => &state.trending,
    };
    let keep = |i: ItemIdx| {
        req.keep.is_none_or(|keep| {
            state
                .items
                .get(i as usize)
                .is_some_and(|s| keep(&s.id, s.category.as_deref()))
        })
    };
    if req.keep.is_some() {
        scores.retain(|i, _| keep(*i));
    }
    let max_cf = scores.values().copied().fold(0.0, f64::max);
    let max_trend = trending.first().map_or(0.0, |t| t.1);
    let tw = cfg.trending_weight;
    let trend_of: FxHashMap<ItemIdx, f64> = trending.iter().copied().collect();
    let mut ranked: Vec<(ItemIdx, f64)> = scores
        .into_iter()
        .map(|(i, s)| {
            let t = trend_of
                .get(&i)
                .map_or(0.0, |v| v / max_trend.max(f64::MIN_POSITIVE));
            (i, (1.0 - tw) * s / max_cf.max(f64::MIN_POSITIVE) + tw * t)
        })
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(k);
    let from_cooc = ranked.len();
    if ranked.len() < k {
        let have: FxHashSet<ItemIdx> = ranked.iter().map(|r| r.0).collect();
        let fill = trending
            .iter()
            .filter(|(i, _)| !exclude.contains(i) && !have.contains(i) && keep(*i))
            .map(|&(i, v)| (i, tw * v / max_trend.max(f64::MIN_POSITIVE)))
            .take(k - ranked.len());
        ranked.extend(fill.collect::<Vec<_>>());
    }
    let items = ranked
        .into_iter()
        .enumerate()
        .filter_map(|(n, (i, score))| {
            state.items.get(i as usize).map(|s| RecItem {
                item_id: s.id.clone(),
                score: (score * 1e6).round() / 1e6,
                category: s.category.clone(),
                source: if n < from_cooc {
                    Origin::Cooc
                } else {
                    Origin::Trending
                },
                sources: Vec::new(),
            })
        })
        .collect();
    Ok(RecResponse {
        model: MODEL_NAME.to_owned(),
        strategy: strategy.to_owned(),
        items,
    })
}

/// The request's trending list (from the global feature row), best first, without the
/// context item and the user's purchases; empty without one.
fn trending_by_id(req: &RecRequest<'_>, k: usize) -> RecResponse {
    let list = req.trending.unwrap_or_default();
    let max = list.first().map_or(0.0, |t| t.1).max(f64::MIN_POSITIVE);
    let excluded = |id: &str| {
        req.item == Some(id)
            || (req.exclusion.excludes_purchased()
                && req
                    .user
                    .is_some_and(|u| u.purchased.iter().any(|p| p == id)))
    };
    RecResponse {
        model: MODEL_NAME.to_owned(),
        strategy: "trending".to_owned(),
        items: list
            .iter()
            .filter(|(id, _)| !excluded(id) && req.keep.is_none_or(|keep| keep(id, None)))
            .take(k)
            .map(|(id, v)| RecItem {
                item_id: id.clone(),
                score: (v / max * 1e6).round() / 1e6,
                category: None,
                source: Origin::Trending,
                sources: Vec::new(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
