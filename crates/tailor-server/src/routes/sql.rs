//! `POST /v1/sql` (secret key): read-only SQL over the lake — tables `events` and
//! `dead_letters`, views `item_daily_stats`, `funnel_daily`, `recommendation_ctr`.
//! Body `{"sql": "SELECT ..."}`; answer `{"rows": [...], "row_count": N, "truncated": bool}`.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::App;

/// Most rows in one answer; use LIMIT/OFFSET or `tailor sql` for more.
pub const MAX_ROWS: usize = 10_000;

pub fn router() -> Router<App> {
    Router::new()
        .route("/v1/sql", post(sql))
        .route("/v1/sql/tables", axum::routing::get(tables))
}

/// `GET /v1/sql/tables`: the tables and views `POST /v1/sql` reads, with their columns.
async fn tables(axum::extract::State(app): State<App>) -> Result<Json<Value>, ApiError> {
    let tables = app.warehouse.tables().await.map_err(query_error)?;
    Ok(Json(json!({
        "tables": tables
            .into_iter()
            .map(|(name, columns)| json!({
                "name": name,
                "columns": columns
                    .into_iter()
                    .map(|(c, t)| json!({"name": c, "type": t}))
                    .collect::<Vec<_>>(),
            }))
            .collect::<Vec<_>>(),
    })))
}

/// A lake error as an answer: bad SQL 400, a query past its limits 422, else 500.
fn query_error(e: tailor_lake::Error) -> ApiError {
    match e {
        tailor_lake::Error::Limit(m) => ApiError::new(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "query_limit",
            m,
        ),
        e if e.is_client_error() => ApiError::bad_request(e.to_string()),
        e => ApiError::internal(e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SqlRequest {
    sql: String,
}

async fn sql(
    State(app): State<App>,
    body: Result<crate::body::AnyJson<SqlRequest>, crate::body::BadJson>,
) -> Result<Json<Value>, ApiError> {
    let crate::body::AnyJson(req) = body.map_err(|e| {
        ApiError::bad_request(format!("expected {{\"sql\": \"SELECT ...\"}}: {}", e.0))
    })?;
    if req.sql.trim().is_empty() {
        return Err(ApiError::bad_request("sql is empty"));
    }
    let batches = app.warehouse.query(&req.sql).await.map_err(query_error)?;
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut kept = Vec::new();
    let mut left = MAX_ROWS;
    for b in &batches {
        if left == 0 {
            break;
        }
        let n = b.num_rows().min(left);
        kept.push(b.slice(0, n));
        left -= n;
    }
    let text =
        tailor_lake::format::to_json(&kept).map_err(|e| ApiError::internal(e.to_string()))?;
    let rows: Value = serde_json::from_str(&text).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Json(json!({
        "rows": rows,
        "row_count": total.min(MAX_ROWS),
        "truncated": total > MAX_ROWS,
    })))
}
