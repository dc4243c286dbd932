//! API keys (secret key): `GET /v1/admin/keys` lists them (never the keys themselves),
//! `POST /v1/admin/keys` creates one and shows it once, `DELETE /v1/admin/keys/{id}`
//! revokes one. Changes take effect at once here and within `auth.reload_ms` in other
//! servers sharing the data directory.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{KeyError, Kind, NewKey};
use crate::error::ApiError;
use crate::ingest::now_ms;
use crate::state::App;

pub fn router() -> Router<App> {
    Router::new()
        .route("/v1/admin/keys", get(list).post(add))
        .route("/v1/admin/keys/{id}", delete(revoke))
}

fn key_error(e: KeyError) -> ApiError {
    match e {
        KeyError::Invalid(m) => ApiError::bad_request(m),
        KeyError::Unknown(_) => ApiError::not_found(e.to_string()),
        other => ApiError::internal(other.to_string()),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KeyError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(key_error)
}

async fn list(State(app): State<App>) -> Result<Response, ApiError> {
    let store = app.auth.store().clone();
    let keys = blocking(move || store.load()).await?;
    Ok(Json(json!({"keys": keys})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddKey {
    kind: String,
    name: String,
    #[serde(default)]
    rate_per_sec: Option<f64>,
    #[serde(default)]
    burst: Option<f64>,
    #[serde(default)]
    recommend: bool,
}

async fn add(State(app): State<App>, body: Bytes) -> Result<Response, ApiError> {
    let req: AddKey = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?;
    let kind: Kind = req.kind.parse().map_err(ApiError::bad_request)?;
    let new = NewKey {
        name: req.name,
        rate_per_sec: req.rate_per_sec,
        burst: req.burst,
        recommend: req.recommend,
    };
    let store = app.auth.store().clone();
    let (key, record) = blocking(move || store.add(kind, &new, now_ms())).await?;
    reload(&app).await?;
    tracing::info!(id = %record.id, kind = kind.as_str(), "API key created");
    let mut out = serde_json::to_value(&record).map_err(|e| ApiError::internal(e.to_string()))?;
    out["key"] = key.into();
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

async fn revoke(State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let store = app.auth.store().clone();
    let record = blocking(move || store.revoke(&id, now_ms())).await?;
    reload(&app).await?;
    tracing::info!(id = %record.id, "API key revoked");
    Ok(Json(record).into_response())
}

async fn reload(app: &App) -> Result<(), ApiError> {
    let auth = app.auth.clone();
    blocking(move || auth.reload()).await
}
