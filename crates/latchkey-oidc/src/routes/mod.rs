//! The issuer's HTTP endpoints.

pub mod authorize;
pub mod device;
pub mod discovery;
pub mod end_session;
pub mod introspect;
pub mod register;
pub(crate) mod resources;
pub mod revoke;
pub mod token;
pub mod token_exchange;
pub mod userinfo;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::routing::{get, post};
use tower_http::cors::{Any, CorsLayer};

use crate::error::OAuthError;
use crate::params::Params;
use crate::provider::Provider;

/// Largest body a protocol endpoint reads.
pub const BODY_LIMIT: usize = 64 * 1024;

pub fn router(provider: Arc<Provider>) -> Router {
    // Endpoints a browser app (public client) calls from script: any origin, no cookies.
    // The authorization endpoint is deliberately not among them (RFC 9700 §4.16).
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(std::time::Duration::from_secs(3600));
    let cross_origin = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::get_openid_configuration),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::get_openid_configuration),
        )
        .route("/.well-known/jwks.json", get(discovery::get_jwks))
        .route("/token", post(token::post_token))
        .route(
            "/userinfo",
            get(userinfo::get_userinfo).post(userinfo::post_userinfo),
        )
        .route("/revoke", post(revoke::post_revoke))
        .layer(cors);
    Router::new()
        .route(
            "/authorize",
            get(authorize::get_authorize).post(authorize::post_authorize),
        )
        .route("/introspect", post(introspect::post_introspect))
        .route(
            "/end-session",
            get(end_session::get_end_session).post(end_session::post_end_session),
        )
        .route("/register", post(register::post_register))
        .route(
            "/device_authorization",
            post(device::post_device_authorization),
        )
        .merge(cross_origin)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(provider)
        // The stylesheet of the engine's pages, and of every role's (one per listener).
        .merge(latchkey_web::assets::router())
}

pub(crate) type Peer = Option<axum::Extension<ConnectInfo<SocketAddr>>>;

pub(crate) fn peer_addr(peer: &Peer) -> Option<SocketAddr> {
    peer.as_ref().map(|p| p.0.0)
}

/// Client authentication with the failure rate limit: an address that failed too often is
/// refused before its credentials are even looked at.
pub(crate) async fn authenticate(
    p: &Provider,
    headers: &HeaderMap,
    params: &Params,
    peer: &Peer,
) -> Result<Arc<latchkey_store::Client>, OAuthError> {
    let ip = p.authenticator.client_ip(headers, peer_addr(peer));
    if let Some(wait) = ip.and_then(|ip| p.limits.auth_blocked(ip)) {
        return Err(OAuthError::too_many(
            "invalid_client",
            wait.as_secs().max(1),
        ));
    }
    match crate::clients::authenticate_client(p, headers, params).await {
        Ok((client, _)) => Ok(client),
        Err(e) => {
            if e.code == "invalid_client"
                && let Some(ip) = ip
            {
                p.limits.record_auth_failure(ip);
            }
            Err(e)
        }
    }
}

/// Reads a form body for a back-channel endpoint, answering errors in OAuth JSON.
pub(crate) fn form_params(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Params, OAuthError> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        let e = OAuthError::invalid_request(if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request body is too large".to_string()
        } else {
            "request body could not be read".to_string()
        });
        e.with_status(status)
    })?;
    if !is_form(headers) {
        return Err(OAuthError::invalid_request(
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    crate::params::parse_allowing(&body, &["resource", "audience"])
        .map_err(|e| OAuthError::invalid_request(e.to_string()))
}

pub(crate) fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Space-separated scope tokens, de-duplicated, in order.
pub(crate) fn scope_list(scope: &str) -> Vec<&str> {
    let mut seen = std::collections::HashSet::new();
    scope
        .split(' ')
        .filter(|s| !s.is_empty() && seen.insert(*s))
        .collect()
}
