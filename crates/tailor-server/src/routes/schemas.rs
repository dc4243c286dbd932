//! The schema registry over HTTP: `GET /v1/schemas`, `GET /v1/schemas/{subject}`,
//! `GET /v1/schemas/{subject}/versions/{version|latest}`, `POST /v1/schemas/{subject}`.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tailor_event::schema::Subject;
use tailor_event::Compatibility;

use crate::error::ApiError;
use crate::registry_store;
use crate::state::App;

pub fn router() -> Router<App> {
    Router::new()
        .route("/v1/schemas", get(list))
        .route("/v1/schemas/{subject}", get(show).post(add))
        .route("/v1/schemas/{subject}/versions/{version}", get(version))
}

fn summary(s: &Subject) -> Value {
    json!({
        "subject": s.subject,
        "compatibility": s.compatibility,
        "latest_version": s.latest().map(|v| v.version),
        "versions": s.versions.iter().map(|v| v.version).collect::<Vec<_>>(),
    })
}

async fn list(State(app): State<App>) -> Json<Value> {
    let r = app.ingest.registry();
    Json(json!({"subjects": r.subjects().map(summary).collect::<Vec<_>>()}))
}

fn missing(subject: &str) -> ApiError {
    ApiError::not_found(format!(
        "no schema subject {subject:?}; GET /v1/schemas lists them"
    ))
}

async fn show(
    State(app): State<App>,
    Path(subject): Path<String>,
) -> Result<Json<Subject>, ApiError> {
    let r = app.ingest.registry();
    r.subject(&subject)
        .cloned()
        .map(Json)
        .ok_or_else(|| missing(&subject))
}

async fn version(
    State(app): State<App>,
    Path((subject, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let r = app.ingest.registry();
    let s = r.subject(&subject).ok_or_else(|| missing(&subject))?;
    let v = if version == "latest" {
        s.latest()
    } else {
        let n: u32 = version.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "version must be a number or \"latest\", got {version:?}"
            ))
        })?;
        s.versions.iter().find(|v| v.version == n)
    }
    .ok_or_else(|| ApiError::not_found(format!("subject {subject:?} has no version {version}")))?;
    Ok(Json(
        json!({"subject": subject, "version": v.version, "schema": v.schema}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddSchema {
    pub schema: Value,
    pub compatibility: Option<String>,
}

async fn add(
    State(app): State<App>,
    Path(subject): Path<String>,
    body: Result<crate::body::AnyJson<AddSchema>, crate::body::BadJson>,
) -> Result<Response, ApiError> {
    let crate::body::AnyJson(req) = body.map_err(|e| ApiError::bad_request(e.0))?;
    let mode = req
        .compatibility
        .as_deref()
        .map(str::parse::<Compatibility>)
        .transpose()
        .map_err(ApiError::bad_request)?;
    let _guard = app.registry_write.lock().await;
    let mut next = (*app.ingest.registry()).clone();
    let version = next.add(&subject, req.schema, mode).map_err(|e| match e {
        tailor_event::Error::Incompatible { .. } => {
            ApiError::new(StatusCode::CONFLICT, "incompatible_schema", e.to_string())
        }
        other => ApiError::bad_request(other.to_string()),
    })?;
    let path = app.registry_path.clone();
    let to_save = next.clone();
    tokio::task::spawn_blocking(move || registry_store::save(&path, &to_save))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(format!("could not persist the schema: {e}")))?;
    *app.registry.write() = Arc::new(next);
    tracing::info!(subject = %subject, version, "schema registered");
    Ok((
        StatusCode::OK,
        Json(json!({"subject": subject, "version": version})),
    )
        .into_response())
}
