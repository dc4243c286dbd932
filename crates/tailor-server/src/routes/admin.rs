//! Model administration: `POST /v1/admin/train` (secret key) runs a training job and answers
//! when its version serves (or at once with the job id, `"wait": false`);
//! `GET /v1/admin/jobs[/{id}]` shows jobs; `GET /v1/models` the served version and the
//! registry's versions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tailor_rec::training::TrainMode;

use crate::error::ApiError;
use crate::state::App;

/// The registry's versions and the scheduled jobs: any process.
pub fn router() -> Router<App> {
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/jobs", get(scheduled))
}

/// Training jobs: the processes with the trainer role.
pub fn trainer_router() -> Router<App> {
    Router::new()
        .route("/v1/admin/train", post(train))
        .route("/v1/admin/jobs", get(jobs))
        .route("/v1/admin/jobs/{id}", get(job))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainBody {
    /// `full` (default) or `incremental`.
    pub mode: Option<String>,
    /// Answer when the new version serves (default) or at once with the job id.
    pub wait: Option<bool>,
}

async fn train(State(app): State<App>, body: axum::body::Bytes) -> Result<Response, ApiError> {
    let body: TrainBody = if body.iter().all(u8::is_ascii_whitespace) {
        TrainBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid training request: {e}")))?
    };
    let mode = match body.mode.as_deref() {
        None => TrainMode::Full,
        Some(m) => m.parse().map_err(ApiError::bad_request)?,
    };
    let (id, handle) = app.trainer.submit(mode, "api").map_err(|running| {
        ApiError::new(
            StatusCode::CONFLICT,
            "training_running",
            format!("training job {running} is running; poll /v1/admin/jobs/{running}"),
        )
    })?;
    if body.wait == Some(false) {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({"job_id": id, "status": "running", "status_url": format!("/v1/admin/jobs/{id}")})),
        )
            .into_response());
    }
    let job = handle
        .await
        .map_err(|e| ApiError::internal(format!("training job {id} failed: {e}")))?;
    let status = match job.status {
        "succeeded" => StatusCode::OK,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    Ok((status, Json(job)).into_response())
}

async fn jobs(State(app): State<App>) -> Result<Response, ApiError> {
    Ok(Json(json!({"jobs": app.trainer.jobs()})).into_response())
}

async fn job(State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let n: u64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("job id must be a number, got {id:?}")))?;
    let job = app.trainer.job(n).ok_or_else(|| {
        ApiError::not_found(format!(
            "no training job {n} (jobs are kept while the server runs)"
        ))
    })?;
    Ok(Json(job).into_response())
}

async fn models(State(app): State<App>) -> Result<Response, ApiError> {
    let slot = app.models.clone();
    let served = slot.get().map(|m| m.meta.clone());
    let versions = tokio::task::spawn_blocking(move || slot.registry.versions_of(&slot.name))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({
        "model": app.models.name,
        "serving": served,
        "versions": versions,
    }))
    .into_response())
}

/// `GET /v1/jobs`: the scheduled jobs (period, next run, last run) and recent runs.
async fn scheduled(State(app): State<App>) -> Response {
    let recent = app.trainer.jobs();
    let mut jobs: Vec<serde_json::Value> = app
        .schedule
        .as_ref()
        .map(|s| s.view(&recent))
        .unwrap_or_default()
        .into_iter()
        .map(|j| json!(j))
        .collect();
    // The lake sink's maintenance: compaction after commits, hourly retention.
    jobs.extend(app.lake_jobs.list().into_iter().map(|j| json!(j)));
    Json(json!({
        "scheduled": app.schedule.is_some(),
        "jobs": jobs,
        "recent": recent.into_iter().take(10).collect::<Vec<_>>(),
    }))
    .into_response()
}
