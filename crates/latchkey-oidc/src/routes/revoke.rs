//! Token revocation (RFC 7009). Revoking a refresh token revokes its whole grant, access
//! tokens included; revoking an access token puts its `jti` on the deny-list.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_store::unix_now;

use super::form_params;
use crate::crypto::sha256_hex;
use crate::error::OAuthError;
use crate::provider::Provider;
use crate::tokens::verify_access_token;

pub async fn post_revoke(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    peer: super::Peer,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match revoke(&p, &headers, &peer, body).await {
        // An unknown or foreign token also gets 200 (RFC 7009 §2.2).
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn revoke(
    p: &Provider,
    headers: &HeaderMap,
    peer: &super::Peer,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), OAuthError> {
    let params = form_params(headers, body)?;
    let client = super::authenticate(p, headers, &params, peer).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    let now = unix_now();
    if token.contains('.') {
        if let Ok(at) = verify_access_token(p, token).await
            && at.client_id == client.id.as_str()
        {
            p.store
                .revoke_access_token(p.issuer_id(), &at.jti, at.exp)
                .await?;
            p.forget_grants();
        }
        return Ok(());
    }
    if let Some(rt) = p
        .store
        .find_refresh_token(p.issuer_id(), &sha256_hex(token.as_bytes()))
        .await?
        && rt.client_id == client.id
    {
        p.store.revoke_grant(&rt.grant_id, now).await?;
        p.forget_grants();
    }
    Ok(())
}
