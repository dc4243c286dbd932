//! The browser side, served from the binary: `GET /tailor.js` (the tracker and
//! recommendation widget, `assets/tailor.js`) and `GET /demo/shop` (a one-page shop that uses
//! it on the server's own catalog, `assets/demo-shop.html`), and the built-in dashboard:
//! `GET /` (`assets/dashboard.html`, self-contained: no CDN, no network) over
//! `GET /v1/dashboard` (see `crate::dashboard`).

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::state::App;

/// The tracker, as served at `/tailor.js`.
pub const TAILOR_JS: &str = include_str!("../../assets/tailor.js");
/// The demo shop page, as served at `/demo/shop`.
pub const DEMO_SHOP: &str = include_str!("../../assets/demo-shop.html");
/// The dashboard page, as served at `/`.
pub const DASHBOARD: &str = include_str!("../../assets/dashboard.html");

pub fn router() -> Router<App> {
    Router::new()
        .route("/tailor.js", get(tailor_js))
        .route("/demo/shop", get(demo_shop))
        .route("/", get(dashboard_page))
        .route("/v1/dashboard", get(dashboard_data))
}

async fn dashboard_page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        DASHBOARD,
    )
}

async fn dashboard_data(State(app): State<App>) -> impl IntoResponse {
    let app2 = app.clone();
    // Reads the dead-letter topic: off the async workers.
    match tokio::task::spawn_blocking(move || crate::dashboard::view(&app2)).await {
        Ok(v) => ([(header::CACHE_CONTROL, "no-store")], axum::Json(v)).into_response(),
        Err(e) => crate::ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("dashboard: {e}"),
        )
        .into_response(),
    }
}

async fn tailor_js() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            // Short: a new server version reaches pages within minutes.
            (header::CACHE_CONTROL, "public, max-age=300"),
            // Pages on other origins load it with <script src>.
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        TAILOR_JS,
    )
}

async fn demo_shop() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        DEMO_SHOP,
    )
}
