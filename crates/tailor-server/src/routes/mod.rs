//! HTTP routes, one file per area.

pub mod admin;
pub mod collector;
pub mod dead_letters;
pub mod experiments;
pub mod features;
pub mod items;
pub mod keys;
pub mod ops;
pub mod recommend;
pub mod schemas;
pub mod sdk_config;
pub mod sql;
pub mod users;
pub mod web;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;

use crate::metrics as m;
use crate::state::App;

/// Refuses requests whose key does not allow the endpoint (see `auth`).
pub async fn guard(State(app): State<App>, req: Request, next: Next) -> Response {
    if let Some(need) = crate::auth::need_for(req.method(), req.uri().path()) {
        let key = crate::auth::presented(req.headers());
        if let Err(e) = app.auth.check(need, key.as_deref()) {
            return axum::response::IntoResponse::into_response(e);
        }
    }
    next.run(req).await
}

/// Marks the error a body that outlived `collector.body_timeout_ms` ends with.
pub const BODY_TIMEOUT: &str = "the request body did not arrive in time";

/// Gives every request body a deadline (`collector.body_timeout_ms`): a body still
/// arriving then ends with an error, which the handlers answer with `408`.
pub async fn body_deadline(State(app): State<App>, req: Request, next: Next) -> Response {
    use futures::StreamExt;
    let deadline = tokio::time::Instant::now()
        + std::time::Duration::from_millis(app.cfg.collector.body_timeout_ms);
    let (parts, body) = req.into_parts();
    let data = body.into_data_stream();
    let timed = futures::stream::unfold(Some(data), move |state| async move {
        let mut data = state?;
        match tokio::time::timeout_at(deadline, data.next()).await {
            Ok(Some(chunk)) => Some((chunk.map_err(std::io::Error::other), Some(data))),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    BODY_TIMEOUT,
                )),
                None,
            )),
        }
    });
    let req = Request::from_parts(parts, axum::body::Body::from_stream(timed));
    next.run(req).await
}

/// Records latency and count per route and status.
pub async fn track_http(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    let labels = [("route", route), ("method", method), ("status", status)];
    metrics::histogram!(m::HTTP_DURATION, &labels).record(start.elapsed().as_secs_f64());
    metrics::counter!(m::HTTP_REQUESTS, &labels).increment(1);
    resp
}
