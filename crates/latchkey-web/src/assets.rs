//! The stylesheet, compiled into the binary. It is served from a path rather than inlined:
//! the Content-Security-Policy every answer carries (`default-src 'self'`, set by the binary)
//! forbids inline `<style>`, and that policy should stay as strict as it is.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Where pages link the stylesheet, below the site's base path.
pub const STYLESHEET_PATH: &str = "/assets/latchkey.css";

const STYLESHEET: &str = include_str!("../assets/latchkey.css");

pub async fn get_stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// The static assets, for a role that serves pages to merge into its router (once per
/// listener).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route(STYLESHEET_PATH, get(get_stylesheet))
}
