//! The Segment HTTP Tracking API: `POST /v1/batch` (and `/v1/import`), `/v1/track`,
//! `/v1/page`, `/v1/screen`, `/v1/identify`, `/v1/group`, `/v1/alias`, and the short paths
//! Segment's browser library (analytics.js / analytics-next) posts to: `/v1/t|p|s|i|g|a`
//! and `/v1/b`, one JSON body per POST whatever the Content-Type (it sends `text/plain` to
//! avoid a preflight). Browsers get CORS: preflights are answered and every answer allows
//! the calling origin.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use tailor_event::{Endpoint, EventType};

use crate::auth::{presented, Need};
use crate::body::decode;
use crate::error::ApiError;
use crate::ingest::now_ms;
use crate::metrics as m;
use crate::state::App;

/// Collector paths and the call each implies.
pub const ROUTES: [(&str, Endpoint); 15] = [
    ("/v1/batch", Endpoint::Batch),
    ("/v1/import", Endpoint::Batch),
    ("/v1/b", Endpoint::Batch),
    ("/v1/t", Endpoint::Single(EventType::Track)),
    ("/v1/p", Endpoint::Single(EventType::Page)),
    ("/v1/s", Endpoint::Single(EventType::Screen)),
    ("/v1/i", Endpoint::Single(EventType::Identify)),
    ("/v1/g", Endpoint::Single(EventType::Group)),
    ("/v1/a", Endpoint::Single(EventType::Alias)),
    ("/v1/track", Endpoint::Single(EventType::Track)),
    ("/v1/page", Endpoint::Single(EventType::Page)),
    ("/v1/screen", Endpoint::Single(EventType::Screen)),
    ("/v1/identify", Endpoint::Single(EventType::Identify)),
    ("/v1/group", Endpoint::Single(EventType::Group)),
    ("/v1/alias", Endpoint::Single(EventType::Alias)),
];

pub fn router() -> Router<App> {
    ROUTES
        .iter()
        .fold(Router::new(), |r, &(path, endpoint)| {
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
                )
                .options(preflight),
            )
        })
        .layer(axum::middleware::from_fn(cors))
}

/// Answers a CORS preflight: the calling origin may send, with the headers it asks for.
pub(crate) async fn preflight(headers: HeaderMap) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    let asked = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("Content-Type, Authorization"));
    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    resp
}

/// Lets the calling origin read collector answers (the write key is public by design;
/// credentials are allowed because browser SDKs may send cookies with `keepalive` fetches).
pub(crate) async fn cors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    match origin {
        Some(o) => {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        None => {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
    }
    resp
}

async fn collect(
    app: App,
    endpoint: Endpoint,
    path: &'static str,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let received = now_ms();
    let open = app.auth.collector_open();
    // A key in the headers is checked before the body is read; `writeKey` in the body
    // (Segment's browser library) after it is parsed.
    let header_key = presented(&headers).filter(|k| !k.is_empty());
    if let Some(k) = &header_key {
        app.auth.check(Need::Write, Some(k))?;
    }
    let body = body.map_err(|e| {
        let text = e.body_text();
        if text.contains(crate::routes::BODY_TIMEOUT) {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                format!(
                    "{}: the body must arrive within {} ms",
                    crate::routes::BODY_TIMEOUT,
                    app.cfg.collector.body_timeout_ms
                ),
            );
        }
        ApiError::new(
            e.status(),
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "payload_too_large"
            } else {
                "bad_request"
            },
            text,
        )
    })?;
    let max = app.cfg.collector.max_request_bytes;
    let decoded = decode(&headers, &body, max)?;
    metrics::histogram!(m::REQUEST_BYTES).record(decoded.len() as f64);
    let parsed = match app.ingest.parse(endpoint, &decoded, received) {
        Ok(p) => p,
        Err(e) => {
            if open || header_key.is_some() {
                app.ingest
                    .dead_letter_request(path, &decoded, &e.to_string(), received);
                return Err(ApiError::bad_request(e.to_string()));
            }
            // An unauthenticated body that does not parse is not kept.
            return Err(app
                .auth
                .check(Need::Write, None)
                .err()
                .unwrap_or_else(|| ApiError::bad_request(e.to_string())));
        }
    };
    if header_key.is_none() {
        app.auth.check(Need::Write, parsed.write_key.as_deref())?;
    }
    let outcome = app.ingest.store(path, parsed, received).await?;
    Ok((StatusCode::OK, Json(outcome)).into_response())
}
