//! `GET /v1/dead-letters?limit=N&from=OFFSET`: rejected events with their reasons.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::ingest::DEAD_LETTER_TOPIC;
use crate::state::App;

const MAX_LIMIT: usize = 1000;

#[derive(Debug, Deserialize)]
pub struct DlQuery {
    pub limit: Option<String>,
    pub from: Option<String>,
}

pub fn router() -> Router<App> {
    Router::new().route("/v1/dead-letters", get(list))
}

fn number(name: &str, v: &Option<String>) -> Result<Option<u64>, ApiError> {
    v.as_deref()
        .map(|s| {
            s.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("{name} must be a non-negative integer, got {s:?}"))
            })
        })
        .transpose()
}

/// Reads dead letters; without `from`, the most recent `limit`. Those of erased users are
/// left out.
pub fn read_dead_letters(
    log: &dyn tailor_log::Log,
    erasures: &tailor_log::ErasureList,
    from: Option<u64>,
    limit: usize,
) -> Result<(Vec<Value>, u64), tailor_log::Error> {
    let start = log.start_offset(DEAD_LETTER_TOPIC, 0)?;
    let end = log.end_offset(DEAD_LETTER_TOPIC, 0)?;
    let from = from
        .unwrap_or_else(|| end.saturating_sub(limit as u64))
        .max(start);
    let records = if from >= end {
        Vec::new()
    } else {
        log.read(DEAD_LETTER_TOPIC, 0, from, limit)?
    };
    let items = records
        .iter()
        .filter(|r| !erasures.erases_dead_letter(r.partition, r.offset))
        .map(|r| {
            let mut v: Value = serde_json::from_slice(&r.value)
                .unwrap_or_else(|_| json!({"raw": String::from_utf8_lossy(&r.value)}));
            v["offset"] = json!(r.offset);
            v
        })
        .collect();
    Ok((items, end))
}

async fn list(
    State(app): State<App>,
    query: Result<Query<DlQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let limit = number("limit", &q.limit)?.unwrap_or(100);
    if limit == 0 || limit > MAX_LIMIT as u64 {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let from = number("from", &q.from)?;
    let (items, end) = read_dead_letters(app.log.as_ref(), app.eraser.list(), from, limit as usize)
        .map_err(|e| ApiError::internal(format!("cannot read the dead-letter log: {e}")))?;
    let next = items
        .last()
        .and_then(|v| v["offset"].as_u64())
        .map(|o| o + 1);
    Ok(Json(
        json!({"dead_letters": items, "next_offset": next, "end_offset": end}),
    ))
}
