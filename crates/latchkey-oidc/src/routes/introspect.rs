//! Token introspection (RFC 7662), for confidential clients (resource servers).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use latchkey_store::unix_now;
use serde_json::{Value, json};

use super::form_params;
use crate::crypto::sha256_hex;
use crate::error::{OAuthError, no_store_json};
use crate::provider::Provider;
use crate::tokens::{AccessTokenError, verify_access_token};

pub async fn post_introspect(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    peer: super::Peer,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match introspect(&p, &headers, &peer, body).await {
        Ok(v) => no_store_json(v.to_string()),
        Err(e) => e.into_response(),
    }
}

async fn introspect(
    p: &Provider,
    headers: &HeaderMap,
    peer: &super::Peer,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, OAuthError> {
    let params = form_params(headers, body)?;
    let client = super::authenticate(p, headers, &params, peer).await?;
    if client.public {
        return Err(OAuthError::invalid_client(
            "introspection requires a confidential client",
        ));
    }
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    let inactive = json!({"active": false});
    // A JWT is an access token; anything else may be a refresh token.
    if token.contains('.') {
        return match verify_access_token(p, token).await {
            Ok(at) => {
                let mut out = json!({"active": true, "token_type": "Bearer"});
                for k in [
                    "iss",
                    "sub",
                    "aud",
                    "exp",
                    "iat",
                    "jti",
                    "client_id",
                    "scope",
                    "auth_time",
                    "act",
                ] {
                    if let Some(v) = at.claims.get(k) {
                        out[k] = v.clone();
                    }
                }
                Ok(out)
            }
            Err(AccessTokenError::Invalid(_)) => Ok(inactive),
            Err(AccessTokenError::Store(e)) => Err(OAuthError::internal(e)),
        };
    }
    let now = unix_now();
    let Some(rt) = p
        .store
        .find_refresh_token(p.issuer_id(), &sha256_hex(token.as_bytes()))
        .await?
    else {
        return Ok(inactive);
    };
    if rt.used_at.is_some() || rt.expires_at <= now {
        return Ok(inactive);
    }
    match p.store.find_grant(&rt.grant_id).await? {
        Some(g) if g.revoked_at.is_none() => {}
        _ => return Ok(inactive),
    }
    Ok(json!({
        "active": true,
        "token_type": "refresh_token",
        "iss": p.issuer(),
        "sub": rt.subject.as_str(),
        "client_id": rt.client_id.as_str(),
        "scope": rt.scope,
        "exp": rt.expires_at,
        "iat": rt.created_at,
        "auth_time": rt.auth_time,
    }))
}
