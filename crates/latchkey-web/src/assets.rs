//! The stylesheet and the one script, compiled into the binary. They are served from paths
//! rather than inlined: the Content-Security-Policy every answer carries (`default-src
//! 'self'`, set by the binary) forbids inline `<style>` and `<script>`, and that policy should
//! stay as strict as it is.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Where pages link the stylesheet, below the site's base path.
pub const STYLESHEET_PATH: &str = "/assets/latchkey.css";

/// Where pages load the script, below the site's base path.
pub const SCRIPT_PATH: &str = "/assets/latchkey.js";

/// Latchkey's mark as the pages' icon, below the site's base path.
pub const FAVICON_PATH: &str = "/assets/favicon.svg";

const STYLESHEET: &str = include_str!("../assets/latchkey.css");

const SCRIPT: &str = include_str!("../assets/latchkey.js");

const FAVICON: &str = include_str!("../assets/favicon.svg");

/// Assets change only with the binary; an hour keeps an upgrade visible soon enough.
const CACHE: &str = "public, max-age=3600";

pub async fn get_stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        STYLESHEET,
    )
        .into_response()
}

pub async fn get_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE),
        ],
        SCRIPT,
    )
        .into_response()
}

pub async fn get_favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, CACHE),
        ],
        FAVICON,
    )
        .into_response()
}

/// The static assets, for a role that serves pages to merge into its router (once per
/// listener).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(STYLESHEET_PATH, get(get_stylesheet))
        .route(SCRIPT_PATH, get(get_script))
        .route(FAVICON_PATH, get(get_favicon))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    async fn parts(resp: Response) -> (StatusCode, String, String, String) {
        let h = |name| resp.headers()[name].to_str().unwrap().to_owned();
        let (ct, cc) = (h(header::CONTENT_TYPE), h(header::CACHE_CONTROL));
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, ct, cc, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn the_script_is_served_as_javascript() {
        let (status, ct, cc, body) = parts(get_script().await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct, "text/javascript; charset=utf-8");
        assert_eq!(cc, "public, max-age=3600");
        assert!(body.contains("data-passkey"), "{body}");
    }

    #[tokio::test]
    async fn the_stylesheet_is_served_as_css() {
        let (status, ct, cc, body) = parts(get_stylesheet().await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct, "text/css; charset=utf-8");
        assert_eq!(cc, "public, max-age=3600");
        assert!(body.contains("prefers-color-scheme: dark"));
    }

    #[tokio::test]
    async fn the_icon_is_svg() {
        let (status, ct, _, body) = parts(get_favicon().await).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct, "image/svg+xml");
        assert!(body.starts_with("<svg "));
    }
}
