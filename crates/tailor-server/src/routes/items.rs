//! The item catalog: `PUT /v1/items/{id}`, `POST /v1/items` (a batch), `GET` and `DELETE
//! /v1/items/{id}`. Writes need an admin key (when keys are configured) and are answered
//! once durable in the log.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::catalog::{check_id, ItemInput, MAX_BATCH};
use crate::error::ApiError;
use crate::routes::schemas::check_admin;
use crate::state::App;

pub fn router() -> Router<App> {
    Router::new()
        .route("/v1/items", post(batch))
        .route("/v1/items/{id}", get(one).put(put).delete(delete))
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
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    check_admin(&app, &headers)?;
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

async fn batch(
    State(app): State<App>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    check_admin(&app, &headers)?;
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

async fn one(State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    check_id(&id, "id").map_err(ApiError::bad_request)?;
    match app.catalog.get(&id) {
        Some(item) => Ok(Json(item.as_ref().clone()).into_response()),
        None => Err(ApiError::not_found(format!(
            "no item {id:?} in the catalog"
        ))),
    }
}

async fn delete(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_admin(&app, &headers)?;
    check_id(&id, "id").map_err(ApiError::bad_request)?;
    if app.catalog.delete(&id).await.map_err(unavailable)? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!(
            "no item {id:?} in the catalog"
        )))
    }
}
