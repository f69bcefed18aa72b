//! Discovery (OpenID Connect Discovery 1.0, RFC 8414) and the JWKS.

use std::sync::Arc;

use crate::provider::Provider;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

pub async fn get_openid_configuration(State(p): State<Arc<Provider>>) -> Response {
    cached_json(p.discovery_json().to_owned())
}

pub async fn get_jwks(State(p): State<Arc<Provider>>) -> Response {
    let keys = p.keys.keys();
    (
        [(header::CONTENT_TYPE, "application/jwk-set+json")],
        keys.jwks_json().to_owned(),
    )
        .into_response()
}

fn cached_json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
