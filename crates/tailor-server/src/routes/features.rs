//! The online feature store over HTTP:
//! - `GET /v1/features` — the definitions in force;
//! - `GET /v1/features/{entity}/{id}` — one entity's values with the event time they are
//!   current to (`as_of`);
//! - `POST /v1/features` `{"entity": "user", "ids": [...]}` — many ids of one entity kind.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tailor_features::{EntityKind, FeatureRow};

use crate::error::ApiError;
use crate::state::App;

/// Most ids in one batch read.
pub const MAX_BATCH_IDS: usize = 1000;

pub fn router() -> Router<App> {
    Router::new()
        .route("/v1/features", get(definitions).post(batch))
        .route("/v1/features/{entity}/{id}", get(one))
}

/// A row as the API shows it: the stored row plus `as_of` in RFC 3339.
pub fn row_json(row: &FeatureRow) -> Value {
    let mut v = row.to_json();
    v["as_of"] = Value::String(tailor_event::time::format_ms(row.as_of_ms));
    v
}

fn known_kinds(app: &App) -> Vec<String> {
    app.feature_set
        .entity_kinds()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Checks the entity kind against the definitions: 400 if malformed, 404 if no feature has it.
fn entity_kind(app: &App, entity: &str) -> Result<EntityKind, ApiError> {
    let kinds = known_kinds(app);
    let Some(kind) = EntityKind::parse(entity) else {
        return Err(ApiError::bad_request(format!(
            "entity {entity:?} is not an entity kind; use one of {}",
            kinds.join(", ")
        )));
    };
    if app.feature_set.feature_names(&kind).is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_entity",
            format!(
                "no feature is defined for entity {entity:?}; defined: {}",
                kinds.join(", ")
            ),
        ));
    }
    Ok(kind)
}

async fn definitions(State(app): State<App>) -> Json<Value> {
    Json(json!({
        "entities": known_kinds(&app),
        "features": app.feature_set.definitions(),
    }))
}

/// Reads rows of the online store; a store across the network (Redis) is read on a
/// blocking thread, so its round trips never hold an async worker.
pub(crate) async fn read_rows(
    app: &App,
    entity: String,
    ids: Vec<String>,
) -> Result<Vec<Option<FeatureRow>>, ApiError> {
    let reader = app.features.clone();
    let rows = if reader.is_remote() {
        tokio::task::spawn_blocking(move || reader.read_many(&entity, &ids))
            .await
            .map_err(|e| ApiError::internal(format!("online store read failed: {e}")))?
    } else {
        reader.read_many(&entity, &ids)
    };
    rows.map_err(|e| ApiError::unavailable("online_store", e.to_string(), 1))
}

async fn one(
    State(app): State<App>,
    Path((entity, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let kind = entity_kind(&app, &entity)?;
    let row = read_rows(&app, kind.to_string(), vec![id.clone()])
        .await?
        .pop()
        .flatten();
    match row {
        Some(row) => Ok(Json(row_json(&row))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no features for {entity} {id:?} yet (no event of it has been processed)"),
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest {
    entity: String,
    ids: Vec<String>,
}

async fn batch(
    State(app): State<App>,
    body: Result<crate::body::AnyJson<BatchRequest>, crate::body::BadJson>,
) -> Result<Json<Value>, ApiError> {
    let crate::body::AnyJson(req) = body.map_err(|e| {
        ApiError::bad_request(format!(
            "expected {{\"entity\": \"user\", \"ids\": [\"...\"]}}: {}",
            e.0
        ))
    })?;
    if req.ids.len() > MAX_BATCH_IDS {
        return Err(ApiError::bad_request(format!(
            "ids has {} entries; the limit is {MAX_BATCH_IDS}",
            req.ids.len()
        )));
    }
    let kind = entity_kind(&app, &req.entity)?;
    let rows = read_rows(&app, kind.to_string(), req.ids.clone()).await?;
    let rows: Vec<Value> = req
        .ids
        .iter()
        .zip(rows)
        .map(|(id, row)| match row {
            Some(row) => {
                let mut v = row_json(&row);
                v["found"] = Value::Bool(true);
                v
            }
            None => json!({"entity": req.entity, "id": id, "found": false}),
        })
        .collect();
    Ok(Json(json!({ "rows": rows })))
}
