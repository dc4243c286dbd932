//! Operations: `GET /metrics` (Prometheus text), `GET /health`, `GET /ready`,
//! `GET /v1/status` (pipeline positions as JSON), `GET /openapi.json` (the HTTP API as an
//! OpenAPI 3 document, checked in as `crates/tailor-server/openapi.json`).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::ingest::{DEAD_LETTER_TOPIC, EVENTS_TOPIC};
use crate::metrics as m;
use crate::state::App;

pub fn router() -> Router<App> {
    Router::new()
        .route("/metrics", get(prometheus))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/v1/status", get(status))
        .route("/v1/quality", get(quality))
        .route("/openapi.json", get(openapi))
}

/// The checked-in OpenAPI document (a test keeps it in step with the routes).
pub const OPENAPI: &str = include_str!("../../openapi.json");

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

/// Gauges computed when read rather than kept up to date.
pub fn refresh_gauges(app: &App) {
    metrics::gauge!(m::DEDUPE_ENTRIES).set(app.dedupe.len() as f64);
    if let Some(t) = app.ingest.newest_event_ms() {
        let age = (crate::ingest::now_ms() - t) as f64 / 1000.0;
        metrics::gauge!(m::LOG_FRESHNESS).set(age.max(0.0));
    }
    m::refresh_process();
}

async fn prometheus(State(app): State<App>) -> impl IntoResponse {
    refresh_gauges(&app);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        app.prometheus.render(),
    )
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct QualityQuery {
    /// Only failing checks and reports with a failure.
    #[serde(default)]
    failing: bool,
    /// Recent reports to include (default 10, at most 50).
    limit: Option<usize>,
}

/// Data-quality results: overall status, latest result per check, recent reports.
async fn quality(
    State(app): State<App>,
    q: Result<axum::extract::Query<QualityQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, crate::ApiError> {
    let axum::extract::Query(q) = q.map_err(|e| crate::ApiError::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(10);
    if limit > 50 {
        return Err(crate::ApiError::bad_request(format!(
            "limit: {limit} is more than 50"
        )));
    }
    Ok(Json(app.quality.view(q.failing, limit)))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn ready(State(app): State<App>) -> impl IntoResponse {
    if app.ready.load(Ordering::Acquire) {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "starting"})),
        )
    }
}

/// Log end offsets, processed offsets and counts: what tools and tests poll.
pub fn status_json(app: &App) -> Value {
    let partitions = app.log.partitions(EVENTS_TOPIC).unwrap_or(0);
    let ends: Vec<u64> = (0..partitions)
        .map(|p| app.log.end_offset(EVENTS_TOPIC, p).unwrap_or(0))
        .collect();
    let live = app.live.read();
    let processed: Vec<u64> = (0..partitions as usize)
        .map(|p| live.offsets.get(p).copied().unwrap_or(0))
        .collect();
    // With processors sharing partitions, this process's lag is that of the ones it owns.
    let owned: Option<Vec<u32>> = app
        .owned_partitions
        .as_ref()
        .map(|o| o.lock().iter().copied().collect());
    let lag: u64 = ends
        .iter()
        .zip(&processed)
        .enumerate()
        .filter(|(p, _)| owned.as_ref().is_none_or(|o| o.contains(&(*p as u32))))
        .map(|(_, (e, p))| e.saturating_sub(*p))
        .sum();
    json!({
        "roles": app.cfg.roles,
        "log": {
            "events_end_offsets": ends,
            "dead_letter_end_offset": app.log.end_offset(DEAD_LETTER_TOPIC, 0).unwrap_or(0),
        },
        "live": {
            "offsets": processed,
            "owned_partitions": owned,
            "lag": lag,
            "events_processed": live.events_processed,
            "interactions_processed": live.interactions_processed,
            "users": live.users.len(),
            "items": live.items.len(),
            "watermark": tailor_event::time::format_ms(live.watermark_ms),
        },
        "collector": {"dedupe_entries": app.dedupe.len()},
        "catalog": {"items": app.catalog.len(), "learned_items": app.catalog.learned_len()},
        "attribution": {"served_lists": app.attribution.len()},
    })
}

async fn status(State(app): State<App>) -> Json<Value> {
    Json(status_json(&app))
}
