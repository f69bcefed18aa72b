//! Answers that are not the upstream's: HTML pages for people, JSON for programs
//! (`Accept: application/json`, or `--force-json-errors`), plain text where oauth2-proxy
//! answers plain text (`/oauth2/auth`).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::Proxy;

/// Our pages are ours alone: no framing, no scripts, styles from our origin.
const PAGE_CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn wants_json(proxy: &Proxy, headers: &HeaderMap) -> bool {
    proxy.settings.force_json_errors
        || headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("application/json"))
}

pub fn secure_page(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// 403 `access_denied`, "Permission denied", saying why.
pub fn forbidden(proxy: &Proxy, headers: &HeaderMap, message: &str) -> Response {
    error(
        proxy,
        headers,
        StatusCode::FORBIDDEN,
        "access_denied",
        "Permission denied",
        message,
    )
}

/// An error for a person (page) or a program (JSON `{"error", "message"}`).
pub fn error(
    proxy: &Proxy,
    headers: &HeaderMap,
    status: StatusCode,
    code: &str,
    title: &str,
    message: &str,
) -> Response {
    if wants_json(proxy, headers) {
        let mut resp = (
            status,
            axum::Json(json!({"error": code, "message": message})),
        )
            .into_response();
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return resp;
    }
    let back = proxy.site.path("/sign_in");
    let back =
        matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN).then_some(back.as_str());
    secure_page(latchkey_web::message_page(
        &proxy.site,
        status,
        title,
        message,
        back,
    ))
}

/// The provider could not be used: a page that says so (never a hang: every call to the
/// provider has a deadline).
pub fn provider_unavailable(proxy: &Proxy, headers: &HeaderMap) -> Response {
    error(
        proxy,
        headers,
        StatusCode::SERVICE_UNAVAILABLE,
        "provider_unavailable",
        "Sign-in is not available",
        "The identity provider is not answering, or not as expected. Please try again in a \
         moment; if this persists, tell whoever runs this site.",
    )
}

pub fn store_unavailable(
    proxy: &Proxy,
    headers: &HeaderMap,
    e: &crate::session::SessionError,
) -> Response {
    tracing::error!(error = %e, "the proxy's session store failed");
    let r = error(
        proxy,
        headers,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "Temporarily unavailable",
        "Sessions cannot be read right now. Please try again in a moment.",
    );
    crate::metrics::mark(r, crate::metrics::Outcome::StoreError)
}

/// oauth2-proxy's plain-text answers of `/oauth2/auth` (401, 403).
pub fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        text,
    )
        .into_response()
}
