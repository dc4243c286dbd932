//! The browser side, served from the binary: `GET /tailor.js` (the tracker and
//! recommendation widget, `assets/tailor.js`) and `GET /demo/shop` (a one-page shop that uses
//! it on the server's own catalog, `assets/demo-shop.html`).

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::state::App;

/// The tracker, as served at `/tailor.js`.
pub const TAILOR_JS: &str = include_str!("../../assets/tailor.js");
/// The demo shop page, as served at `/demo/shop`.
pub const DEMO_SHOP: &str = include_str!("../../assets/demo-shop.html");

pub fn router() -> Router<App> {
    Router::new()
        .route("/tailor.js", get(tailor_js))
        .route("/demo/shop", get(demo_shop))
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
