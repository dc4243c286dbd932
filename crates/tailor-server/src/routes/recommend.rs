//! `GET /v1/recommendations?user_id=U|anonymous_id=A|item_id=I&k=10[&category=C][&exclude=ID,ID]`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tailor_features::engine::GLOBAL_ID;
use tailor_rec::serving::{merge, ServeRequest};
use tailor_rec::{recommend, trending_from_row, RecRequest, UserInputs};

use crate::attribution::Arm;
use crate::error::ApiError;
use crate::routes::features::read_rows;
use crate::state::{App, Trending};

#[derive(Debug, Deserialize)]
pub struct RecQuery {
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    pub item_id: Option<String>,
    pub k: Option<String>,
    /// Only items of this category.
    pub category: Option<String>,
    /// Item ids never to return, comma-separated.
    pub exclude: Option<String>,
    /// Where the list is shown (`home`, `product`, `cart`, …): attribution counts per surface.
    pub surface: Option<String>,
    /// `true`: say which candidate sources and rules shaped the answer.
    pub explain: Option<String>,
}

/// One candidate source's share of an item's score (`explain=true`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Source {
    pub source: String,
    pub score: f64,
}

/// Most ids in `exclude`.
const MAX_EXCLUDE: usize = 200;

#[derive(Debug, Serialize, Deserialize)]
pub struct RankedItem {
    pub item_id: String,
    pub position: usize,
    pub score: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// What proposed the item: `model`, `cooc` (the live co-occurrence model), `category`
    /// (the user's favourite categories), `trending`, `popular` or `exploration`.
    #[serde(default)]
    pub source: tailor_rec::Origin,
    /// A new catalog item given a slot to earn interactions (`recommend.exploration_share`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exploration: bool,
    /// With `explain=true`: the candidate sources of the score.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Source>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RecAnswer {
    pub rec_id: String,
    pub model: String,
    /// The experiment variant (`default` outside experiments).
    pub variant: String,
    pub surface: String,
    /// What the answer leaves out of the user's history: `for_you`, `next_item` or
    /// `buy_again` (the surface's exclusion policy).
    #[serde(default)]
    pub policy: String,
    pub strategy: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymous_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    pub items: Vec<RankedItem>,
    /// With `explain=true`: the rules applied after ranking.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
}

pub fn router() -> Router<App> {
    // Browsers on the shop's origin call it (the `tailor.js` widget with a `recommend` key).
    let widget = Router::new()
        .route(
            "/v1/recommendations",
            get(recommendations).options(super::collector::preflight),
        )
        .layer(axum::middleware::from_fn(super::collector::cors));
    Router::new()
        .merge(widget)
        .route("/v1/stats/recommendations", get(stats))
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// How long one read of the trending counts serves requests.
pub const TRENDING_TTL: Duration = Duration::from_millis(250);

/// The trending counts of the global feature row (`global_trending_items`), read at most once
/// per [`TRENDING_TTL`]: the row merges every partition's state, and its order hardly moves
/// within a fraction of a second.
async fn trending(app: &App) -> Result<Option<Trending>, ApiError> {
    if let Some(list) = app.trending.fresh() {
        return Ok(list);
    }
    let list = read_rows(app, "global".into(), vec![GLOBAL_ID.to_owned()])
        .await?
        .pop()
        .flatten()
        .and_then(|row| trending_from_row(&row))
        .map(Arc::new);
    app.trending.store(list.clone());
    Ok(list)
}

/// A request's checked options.
struct Options<'a> {
    k: usize,
    exclude: Vec<&'a str>,
    surface: &'a str,
    explain: bool,
    category: Option<&'a str>,
}

/// Checks the query's options; errors name the parameter.
fn options<'a>(q: &'a RecQuery, cfg: &tailor_rec::RecConfig) -> Result<Options<'a>, ApiError> {
    // The collector refuses longer ids, so no stored actor or item has one.
    let max = tailor_event::segment::MAX_ID_LEN;
    for (name, v) in [
        ("user_id", &q.user_id),
        ("anonymous_id", &q.anonymous_id),
        ("item_id", &q.item_id),
    ] {
        if let Some(v) = v.as_deref().filter(|v| v.len() > max) {
            return Err(ApiError::bad_request(format!(
                "{name} is {} bytes long; the limit is {max}",
                v.len()
            )));
        }
    }
    let k = match nonempty(&q.k) {
        None => cfg.default_k,
        Some(k) => k.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("k must be a positive integer, got {k:?}"))
        })?,
    };
    if k == 0 || k > cfg.max_k {
        return Err(ApiError::bad_request(format!(
            "k must be between 1 and {}, got {k}",
            cfg.max_k
        )));
    }
    let exclude: Vec<&str> = nonempty(&q.exclude)
        .map(|e| {
            e.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if exclude.len() > MAX_EXCLUDE {
        return Err(ApiError::bad_request(format!(
            "exclude: at most {MAX_EXCLUDE} item ids, got {}",
            exclude.len()
        )));
    }
    let surface = nonempty(&q.surface).unwrap_or("default");
    if !tailor_rec::valid_surface(surface) {
        return Err(ApiError::bad_request(format!(
            "surface: {surface:?} is not a name like home, product or cart (a-z, 0-9, _ or -, at most 32)"
        )));
    }
    let explain = match nonempty(&q.explain) {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "explain must be true or false, got {other:?}"
            )))
        }
    };
    let category = nonempty(&q.category);
    if category.is_some_and(|c| c.len() > 256) {
        return Err(ApiError::bad_request("category: at most 256 bytes"));
    }
    Ok(Options {
        k,
        exclude,
        surface,
        explain,
        category,
    })
}

async fn recommendations(
    State(app): State<App>,
    query: Result<Query<RecQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RecAnswer>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let cfg = &app.cfg.recommend;
    let Options {
        k,
        exclude,
        surface,
        explain,
        category,
    } = options(&q, cfg)?;
    // The user's inputs come from the online feature store (user id, else anonymous id:
    // the actor key the `user` entity is keyed by).
    let actor = nonempty(&q.user_id).or(nonempty(&q.anonymous_id));
    let user = match actor {
        None => None,
        Some(id) => read_rows(&app, "user".into(), vec![id.to_owned()])
            .await?
            .pop()
            .flatten()
            .map(|row| UserInputs::from_row(&row)),
    };
    let trending = trending(&app).await?;
    let exclusion = cfg.exclusion(surface);
    let exclude_seen = exclusion.excludes_seen(cfg.exclude_seen);
    let item = nonempty(&q.item_id);
    let rec_id = uuid::Uuid::new_v4();
    let rec_id_text = rec_id.to_string();
    // An experiment on this surface picks the variant (sticky per user), and so the model.
    let (variant, slot) = match app.cfg.experiment.iter().find(|e| e.applies(surface)) {
        Some(e) => {
            let unit = actor.unwrap_or(&rec_id_text);
            let v = e.assign(unit);
            (e.label(v), app.model_slot(&v.model))
        }
        None => ("default".to_owned(), Some(&app.models)),
    };
    let served = slot.and_then(|s| s.get());
    // What may be in the answer: the rules (availability, deletions), the request's filters
    // and exclusions, and the surface's policy on the user's own history.
    let catalog = app.catalog.clone();
    let check_catalog = catalog.has_unavailable();
    let mut own: std::collections::HashSet<&str> = std::collections::HashSet::new();
    if let Some(u) = &user {
        if exclusion.excludes_purchased() {
            own.extend(u.purchased.iter().map(String::as_str));
        }
        if exclude_seen {
            own.extend(u.recent.iter().chain(&u.session).map(String::as_str));
        }
    }
    // A user the served model knows "has seen" everything they had in its training data.
    let had = |id: &str| {
        exclude_seen && actor.is_some_and(|a| served.as_ref().is_some_and(|m| m.had(a, id)))
    };
    let allowed = |id: &str| {
        item != Some(id)
            && !exclude.contains(&id)
            && !own.contains(id)
            && (!check_catalog || catalog.is_available(id))
            && !had(id)
    };
    let in_category = |id: &str, cat: Option<&str>| {
        category.is_none_or(|c| {
            cat == Some(c)
                || catalog
                    .get(id)
                    .is_some_and(|i| i.categories.iter().any(|x| x == c))
        })
    };
    let eligible = |id: &str, cat: Option<&str>| allowed(id) && in_category(id, cat);
    let req = RecRequest {
        user: user.as_ref(),
        item,
        k: Some(k),
        trending: trending.as_deref().map(Vec::as_slice),
        keep: Some(&eligible),
        exclusion,
    };
    let mut resp = {
        let state = app.live.read();
        recommend(&state, cfg, &req)
    }
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    if explain {
        let live_source = format!("live:{}", resp.strategy);
        for i in &mut resp.items {
            i.sources = vec![(live_source.clone(), i.score)];
        }
    }
    // With a trained model serving, its list is merged with the live model's (which counts
    // the stream since the model's training).
    let mut family = resp.model.clone();
    if let Some(served) = &served {
        let ranked = served.recommend(&ServeRequest {
            actor,
            inputs: user.as_ref(),
            item,
            k,
            exclude_seen,
            keep_purchased: !exclusion.excludes_purchased(),
            available: Some(&allowed as &(dyn Fn(&str) -> bool + Sync)),
            category,
            explain,
        });
        if !ranked.is_empty() {
            resp.items = merge(ranked, resp.items, cfg.live_weight, k);
            resp.model = format!("{}+{}", served.label(), resp.model);
            family.clone_from(&served.meta.name);
            resp.strategy = format!("model+{}", resp.strategy);
        }
    }
    // Short after the rules: filled up from the user's categories, trending, popularity.
    let popular = || {
        app.popular.get_or(|| {
            let live = crate::recommend::Popular::live_items(&app.live.read());
            Arc::new(crate::recommend::Popular::build(
                live,
                trending.as_deref().map(Vec::as_slice),
                &app.catalog,
            ))
        })
    };
    let before = resp.items.len();
    resp.items = crate::recommend::fill(
        std::mem::take(&mut resp.items),
        k,
        &eligible,
        &crate::recommend::FillSources {
            user: user.as_ref(),
            trending: trending.as_deref().map(Vec::as_slice),
            popular: &popular,
        },
    );
    let filled = resp.items.len() > before;
    if explain {
        for i in resp.items.iter_mut().filter(|i| i.sources.is_empty()) {
            i.sources = vec![(i.source.as_str().to_owned(), i.score)];
        }
    }
    // New catalog items take the last slots of a share of the answer.
    let mut explored = 0;
    if cfg.exploration_share > 0.0 && !app.catalog.is_empty() {
        let (seed, roll) = rec_id.as_u64_pair();
        let want = cfg.exploration_share * k as f64;
        let n =
            want as usize + usize::from(((roll >> 11) as f64 / (1u64 << 53) as f64) < want.fract());
        let in_list: std::collections::HashSet<String> =
            resp.items.iter().map(|i| i.item_id.clone()).collect();
        let since = crate::ingest::now_ms() - (cfg.new_item_days * 86_400_000.0) as i64;
        let picks = app.catalog.pick_new(since, n.min(k), seed, |it| {
            it.available
                && !in_list.contains(&it.id)
                && eligible(&it.id, it.categories.first().map(String::as_str))
        });
        if !picks.is_empty() {
            resp.items.truncate(k - picks.len());
            explored = picks.len();
            resp.items
                .extend(picks.into_iter().map(|it| tailor_rec::RecItem {
                    item_id: it.id.clone(),
                    score: 0.0,
                    category: it.categories.first().cloned(),
                    source: tailor_rec::Origin::Exploration,
                    sources: if explain {
                        vec![("exploration".to_owned(), 0.0)]
                    } else {
                        Vec::new()
                    },
                }));
        }
    }
    let first_explored = resp.items.len() - explored;
    let rules = if explain {
        let mut r = vec![];
        let checks = [
            (exclusion.excludes_purchased(), "exclude_purchased"),
            (exclude_seen, "exclude_seen"),
            (item.is_some(), "exclude_context_item"),
            (check_catalog, "only_available"),
            (category.is_some(), "category"),
            (!exclude.is_empty(), "exclude"),
            (filled, "fill"),
            (explored > 0, "exploration"),
        ];
        r.extend(checks.iter().filter(|c| c.0).map(|c| c.1));
        r.into_iter().map(str::to_owned).collect()
    } else {
        Vec::new()
    };
    app.attribution.served(
        rec_id,
        Arm {
            model: family,
            variant: variant.clone(),
            surface: surface.to_owned(),
        },
        actor,
        resp.items.iter().map(|i| i.item_id.clone()),
    );
    Ok(Json(RecAnswer {
        rec_id: rec_id_text,
        model: resp.model,
        variant,
        surface: surface.to_owned(),
        policy: exclusion.as_str().to_owned(),
        strategy: resp.strategy,
        user_id: nonempty(&q.user_id).map(str::to_owned),
        anonymous_id: nonempty(&q.anonymous_id).map(str::to_owned),
        item_id: item.map(str::to_owned),
        items: resp
            .items
            .into_iter()
            .enumerate()
            .map(|(i, it)| RankedItem {
                item_id: it.item_id,
                position: i + 1,
                score: it.score,
                category: it.category,
                source: it.source,
                exploration: i >= first_explored,
                sources: it
                    .sources
                    .into_iter()
                    .map(|(source, score)| Source { source, score })
                    .collect(),
            })
            .collect(),
        rules,
    }))
}

/// `GET /v1/stats/recommendations`: served lists and the impressions, clicks, add-to-carts
/// and purchases that carried their `rec_id`, per model, variant and surface.
async fn stats(State(app): State<App>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "since": tailor_event::time::format_ms(app.attribution.since_ms),
        "window_secs": crate::attribution::ATTRIBUTION_WINDOW_MS / 1000,
        "rows": app.attribution.stats(),
    }))
}
