//! The idp's own pages.

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub fn router() -> Router {
    Router::new().route("/login", get(get_login))
}

async fn get_login() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in</title></head><body><main>\
         <h1>Sign-in is not available</h1><p>Passkey sign-in is not part of this build of Latchkey yet. \
         Applications can use the client_credentials grant; people cannot sign in.</p></main></body></html>",
    )
        .into_response()
}
