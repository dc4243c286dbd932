//! The Segment HTTP Tracking API: `POST /v1/batch` (and `/v1/import`), `/v1/track`,
//! `/v1/page`, `/v1/screen`, `/v1/identify`, `/v1/group`, `/v1/alias`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use tailor_event::{Endpoint, EventType};

use crate::body::{basic_auth_user, decode};
use crate::error::ApiError;
use crate::ingest::now_ms;
use crate::metrics as m;
use crate::state::App;

/// Collector paths and the call each implies.
pub const ROUTES: [(&str, Endpoint); 8] = [
    ("/v1/batch", Endpoint::Batch),
    ("/v1/import", Endpoint::Batch),
    ("/v1/track", Endpoint::Single(EventType::Track)),
    ("/v1/page", Endpoint::Single(EventType::Page)),
    ("/v1/screen", Endpoint::Single(EventType::Screen)),
    ("/v1/identify", Endpoint::Single(EventType::Identify)),
    ("/v1/group", Endpoint::Single(EventType::Group)),
    ("/v1/alias", Endpoint::Single(EventType::Alias)),
];

pub fn router() -> Router<App> {
    ROUTES.iter().fold(Router::new(), |r, &(path, endpoint)| {
        r.route(
            path,
            post(
                move |State(app): State<App>,
                      headers: HeaderMap,
                      body: Result<Bytes, BytesRejection>| async move {
                    collect(app, endpoint, path, headers, body)
                        .await
                        .unwrap_or_else(IntoResponse::into_response)
                },
            ),
        )
    })
}

fn unauthorized() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "missing or unknown write key: send it as the HTTP basic-auth user or as writeKey",
    )
}

async fn collect(
    app: App,
    endpoint: Endpoint,
    path: &'static str,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let received = now_ms();
    let keys = &app.cfg.collector.write_keys;
    let basic = basic_auth_user(&headers).filter(|k| !k.is_empty());
    let key_ok = |k: &Option<String>| k.as_ref().is_some_and(|k| keys.iter().any(|w| w == k));
    if !keys.is_empty() && basic.is_some() && !key_ok(&basic) {
        return Err(unauthorized());
    }
    let body = body.map_err(|e| {
        ApiError::new(
            e.status(),
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "payload_too_large"
            } else {
                "bad_request"
            },
            e.body_text(),
        )
    })?;
    let max = app.cfg.collector.max_request_bytes;
    let decoded = decode(&headers, &body, max)?;
    metrics::histogram!(m::REQUEST_BYTES).record(decoded.len() as f64);
    let parsed = match app.ingest.parse(endpoint, &decoded, received) {
        Ok(p) => p,
        Err(e) => {
            if keys.is_empty() || basic.is_some() {
                app.ingest
                    .dead_letter_request(path, &decoded, &e.to_string(), received);
                return Err(ApiError::bad_request(e.to_string()));
            }
            return Err(unauthorized());
        }
    };
    if !keys.is_empty() && basic.is_none() && !key_ok(&parsed.write_key) {
        return Err(unauthorized());
    }
    let outcome = app.ingest.store(path, parsed, received).await?;
    Ok((StatusCode::OK, Json(outcome)).into_response())
}
