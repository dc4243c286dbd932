//! What browser SDKs fetch before they send (see `crate::sdk_config` and `docs/sdks.md`):
//! `GET /v1/projects/{write_key}/settings`, the settings document of Segment's
//! analytics-next (point it here with `cdnURL`), and `GET /sourceConfig/`, the source
//! configuration of RudderStack's JavaScript SDK v3 (point it here with `configUrl`).
//!
//! Who may call: anyone holding a valid write key, from any origin (CORS as the collector).
//! The key is the path segment (Segment), or the basic-auth user or `writeKey` query
//! parameter (RudderStack); with no write key configured the collector is open and so are
//! these. An unknown key gets the collector's `401`, whose message the SDKs log.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::auth::{presented, Need};
use crate::error::ApiError;
use crate::routes::collector::{cors, preflight};
use crate::sdk_config::{rudder_source_config, segment_settings, PublicOrigin};
use crate::state::App;

/// analytics-next's settings path, under its `cdnURL`.
pub const SEGMENT_SETTINGS: &str = "/v1/projects/{write_key}/settings";
/// RudderStack's source configuration path, under its `configUrl` (the SDK adds the
/// trailing slash; a `configUrl` that already ends in `/sourceConfig` is used as it is).
pub const RUDDER_SOURCE_CONFIG: [&str; 2] = ["/sourceConfig/", "/sourceConfig"];

/// The prefix of [`SEGMENT_SETTINGS`].
const PROJECTS: &str = "/v1/projects/";

pub fn router() -> Router<App> {
    let r = Router::new().route(SEGMENT_SETTINGS, get(segment).options(preflight));
    RUDDER_SOURCE_CONFIG
        .iter()
        .fold(r, |r, path| r.route(path, get(rudder).options(preflight)))
        .layer(axum::middleware::from_fn(cors))
}

/// Paths whose callers these handlers check themselves (the write key), not the API guard.
pub fn is_public(path: &str) -> bool {
    RUDDER_SOURCE_CONFIG.contains(&path)
        || path
            .strip_prefix(PROJECTS)
            .and_then(|rest| rest.strip_suffix("/settings"))
            .is_some_and(|key| !key.contains('/'))
}

async fn segment(
    State(app): State<App>,
    Path(write_key): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    answer(&app, Some(&write_key), &headers, &uri, |key, origin| {
        segment_settings(key, origin)
    })
}

async fn rudder(
    State(app): State<App>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let key = presented(&headers).or_else(|| query.get("writeKey").cloned());
    answer(&app, key.as_deref(), &headers, &uri, |key, _| {
        rudder_source_config(key)
    })
}

/// Checks the write key and answers the document `build` makes for it, uncached (it names
/// the host the browser used and the key may be revoked).
fn answer(
    app: &App,
    key: Option<&str>,
    headers: &HeaderMap,
    uri: &Uri,
    build: impl FnOnce(&str, &PublicOrigin) -> serde_json::Value,
) -> Response {
    match document(app, key, headers, uri, build) {
        Ok(doc) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-cache")],
            Json(doc),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

fn document(
    app: &App,
    key: Option<&str>,
    headers: &HeaderMap,
    uri: &Uri,
    build: impl FnOnce(&str, &PublicOrigin) -> serde_json::Value,
) -> Result<serde_json::Value, ApiError> {
    app.auth.check(Need::Write, key)?;
    let tls = app.cfg.tls.cert_file.is_some();
    let origin = PublicOrigin::from_request(headers, uri, tls).ok_or_else(|| {
        ApiError::bad_request(
            "the request names no host (Host or X-Forwarded-Host) this server could be \
             reached at",
        )
    })?;
    Ok(build(key.unwrap_or_default(), &origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_paths_are_the_sdk_documents_only() {
        // (Paths are built, not written out: the OpenAPI test reads quoted paths here.)
        let settings = |rest: &str| [PROJECTS, rest].concat();
        assert!(is_public(&settings("wk_1/settings")));
        assert!(is_public("/sourceConfig/"));
        assert!(is_public("/sourceConfig"));
        assert!(!is_public(&settings("a/b/settings")));
        assert!(!is_public(&settings("wk/settings/x")));
        assert!(!is_public(&settings("wk")));
    }
}
