//! `GET /v1/experiments` (the configured experiments) and `GET /v1/experiments/{name}`
//! (per-variant results with confidence intervals and the sample-ratio check).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::experiments::results;
use crate::state::App;

pub fn router() -> Router<App> {
    Router::new()
        .route("/v1/experiments", get(list))
        .route("/v1/experiments/{name}", get(one))
}

async fn list(State(app): State<App>) -> Json<Value> {
    Json(json!({"experiments": app.cfg.experiment}))
}

async fn one(State(app): State<App>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let e = app
        .cfg
        .experiment
        .iter()
        .find(|e| e.name == name)
        .ok_or_else(|| {
            ApiError::not_found(format!("no experiment {name:?}; see GET /v1/experiments"))
        })?;
    let r = results(e, &app.attribution.stats());
    Ok(Json(json!({
        "since": tailor_event::time::format_ms(app.attribution.since_ms),
        "experiment": r,
    })))
}
