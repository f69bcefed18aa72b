//! Discovery (OpenID Connect Discovery 1.0, RFC 8414) and the JWKS.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::jose::Alg;
use crate::provider::{Provider, ProviderSettings};

pub fn document(s: &ProviderSettings) -> Value {
    let mut doc = json!({
        "issuer": s.issuer,
        "authorization_endpoint": s.endpoint("/authorize"),
        "token_endpoint": s.endpoint("/token"),
        "userinfo_endpoint": s.endpoint("/userinfo"),
        "jwks_uri": s.endpoint("/.well-known/jwks.json"),
        "introspection_endpoint": s.endpoint("/introspect"),
        "revocation_endpoint": s.endpoint("/revoke"),
        "end_session_endpoint": s.endpoint("/end-session"),
        "scopes_supported": s.scopes_supported,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": super::token::supported_grant_types(s),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": Alg::ALL.map(Alg::as_str),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": s.claims_supported,
        "prompt_values_supported": ["none", "login"],
        "authorization_response_iss_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "claims_parameter_supported": false,
    });
    if s.dynamic_registration {
        doc["registration_endpoint"] = json!(s.endpoint("/register"));
    }
    doc
}

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
