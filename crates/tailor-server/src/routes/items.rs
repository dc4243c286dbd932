//! The item catalog: `PUT /v1/items/{id}`, `POST /v1/items` (a batch), `GET` and `DELETE
//! /v1/items/{id}`, `GET /v1/items?limit=&category=&after=` (a page, ordered by id). Writes
//! need a secret key (when keys are configured) and are answered once durable in the log.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::catalog::{check_id, ItemInput, MAX_BATCH};
use crate::error::ApiError;
use crate::state::App;

pub fn router() -> Router<App> {
    // Reads are open to browsers on other origins (the `tailor.js` widget looks titles up);
    // writes still need a secret key.
    Router::new()
        .route(
            "/v1/items",
            post(batch).get(list).options(super::collector::preflight),
        )
        .route(
            "/v1/items/{id}",
            get(one)
                .put(put)
                .delete(delete)
                .options(super::collector::preflight),
        )
        .layer(axum::middleware::from_fn(super::collector::cors))
}

fn unavailable(e: crate::Error) -> ApiError {
    ApiError::unavailable(
        "log_unavailable",
        format!("the catalog change was not stored: {e}"),
        1,
    )
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

async fn put(
    State(app): State<App>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let input: ItemInput = parse(&body)?;
    let item = input
        .into_item(Some(&id), "")
        .map_err(ApiError::bad_request)?;
    let created = app.catalog.get(&id).is_none();
    app.catalog
        .put(vec![item.clone()])
        .await
        .map_err(unavailable)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(item)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    items: Vec<ItemInput>,
}

async fn batch(State(app): State<App>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let batch: Batch = parse(&body)?;
    if batch.items.is_empty() || batch.items.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "items: 1 to {MAX_BATCH} items per request, got {}",
            batch.items.len()
        )));
    }
    // All or nothing: every item is checked before any is stored.
    let items = batch
        .items
        .into_iter()
        .enumerate()
        .map(|(i, it)| it.into_item(None, &format!("items[{i}].")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::bad_request)?;
    let n = items.len();
    app.catalog.put(items).await.map_err(unavailable)?;
    Ok(Json(json!({"stored": n, "catalog_items": app.catalog.len()})).into_response())
}

/// Items per `GET /v1/items` page: default and most.
const LIST_DEFAULT: usize = 50;
const LIST_MAX: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<String>,
    category: Option<String>,
    /// Only ids after this one: the `next` of the previous page.
    after: Option<String>,
}

async fn list(
    State(app): State<App>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = match q.limit.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => LIST_DEFAULT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=LIST_MAX).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "limit must be an integer from 1 to {LIST_MAX}, got {l:?}"
                ))
            })?,
    };
    let category = q.category.as_deref().filter(|c| !c.is_empty());
    let after = q.after.as_deref().filter(|a| !a.is_empty());
    let items = app.catalog.list(limit, category, after);
    // A full page may have a next one.
    let next = (items.len() == limit).then(|| items[limit - 1].id.clone());
    let items: Vec<_> = items.iter().map(|i| i.as_ref().clone()).collect();
    Ok(Json(json!({"items": items, "next": next})).into_response())
}

async fn one(State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_id(&id, "id").map_err(ApiError::bad_request)?;
    match app.catalog.get(&id) {
        Some(item) => Ok(Json(item.as_ref().clone()).into_response()),
        None => Err(ApiError::not_found(format!(
            "no item {id:?} in the catalog"
        ))),
    }
}

async fn delete(State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_id(&id, "id").map_err(ApiError::bad_request)?;
    if app.catalog.delete(&id).await.map_err(unavailable)? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!(
            "no item {id:?} in the catalog"
        )))
    }
}
