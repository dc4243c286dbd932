//! GDPR erasure (secret key): `DELETE /v1/users/{id}` forgets a user or anonymous id
//! everywhere and answers with a receipt of what was erased; `GET /v1/erasures` lists the
//! erasures asked for (subject hashes and receipts, never the ids). See `erasure.rs`.

use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::erasure::check_id;
use crate::error::ApiError;
use crate::state::App;
use crate::Error;

pub fn router() -> Router<App> {
    Router::new()
        .route("/v1/users/{id}", delete(forget))
        .route("/v1/erasures", get(list))
}

async fn forget(
    State(app): State<App>,
    id: Result<Path<String>, axum::extract::rejection::PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    check_id(&id).map_err(ApiError::bad_request)?;
    if app.cfg.live.assignment == tailor_features::Assignment::Group {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_IMPLEMENTED,
            "erasure_unsupported",
            "erasure rewrites the processor's state in place, and with live.assignment = \"group\" \
             no process holds every partition: not supported yet; nothing was erased",
        ));
    }
    match app.eraser.forget(&id).await {
        Ok(receipt) => Ok(Json(json!(receipt))),
        Err(Error::Lake(m)) if m.contains("has not read up to erasure") => Err(
            ApiError::unavailable("erasure_pending", format!("{m}; ask again"), 30),
        ),
        Err(e) => Err(ApiError::internal(format!(
            "the erasure is recorded (its records are hidden from every read) but did not finish: {e}; ask again to finish it"
        ))),
    }
}

async fn list(State(app): State<App>) -> Json<Value> {
    let entries = app.eraser.entries();
    Json(json!({"count": entries.len(), "erasures": entries}))
}
