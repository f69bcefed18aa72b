//! `--ping-path`, `--ready-path`, `/robots.txt`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::Proxy;

fn text(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

/// Alive (by path alone: no User-Agent ever skips authentication, GHSA-5hvv-m4w4-gf6v).
pub async fn get_ping() -> Response {
    text(StatusCode::OK, "OK")
}

/// Ready when the session store answers.
pub async fn get_ready(State(proxy): State<Arc<Proxy>>) -> Response {
    match proxy.sessions.ping().await {
        Ok(()) => text(StatusCode::OK, "OK"),
        Err(e) => {
            tracing::warn!(error = %e, "ready check: the session store does not answer");
            text(StatusCode::SERVICE_UNAVAILABLE, "Session store unavailable")
        }
    }
}

pub async fn get_robots() -> Response {
    text(StatusCode::OK, "User-agent: *\nDisallow: /\n")
}
