//! The token endpoint: authorization_code (single use, PKCE), refresh_token (rotation with
//! reuse detection), client_credentials, device_code (RFC 8628, in `device.rs`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use latchkey_store::{Client, Grant, Redemption, RefreshToken, Subject, unix_now};
use serde_json::{Map, Value, json};

use super::resources::resource_audience;
use super::{form_params, scope_list};
use crate::crypto::{b64url, random_token, sha256_hex};
use crate::error::{OAuthError, no_store_json};
use crate::params::Params;
use crate::pkce;
use crate::provider::Provider;
use crate::role::RoleError;
use crate::snapshot::Snapshot;
use crate::tokens::{AccessTokenRequest, IdTokenRequest, mint_id_token};

pub async fn post_token(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    peer: super::Peer,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match token(&p, &headers, &peer, body).await {
        Ok(r) => r,
        Err(e) => {
            metrics::counter!("latchkey_token_errors_total", "error" => e.code).increment(1);
            e.into_response()
        }
    }
}

async fn token(
    p: &Provider,
    headers: &HeaderMap,
    peer: &super::Peer,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let params = form_params(headers, body)?;
    let grant_type = params
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
    let client = super::authenticate(p, headers, &params, peer).await?;
    let known = matches!(
        grant_type,
        "authorization_code" | "refresh_token" | "client_credentials"
    ) || (grant_type == crate::metadata::TOKEN_EXCHANGE && p.settings.token_exchange)
        || (grant_type == crate::metadata::DEVICE_CODE && p.settings.device_flow);
    if known && !grant_allowed(&client, grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client is not registered for the {grant_type} grant"
        )));
    }
    let response = match grant_type {
        "authorization_code" => authorization_code(p, &client, &params).await?,
        "refresh_token" => refresh_token(p, &client, &params).await?,
        "client_credentials" => client_credentials(p, &client, &params).await?,
        crate::metadata::TOKEN_EXCHANGE if known => {
            super::token_exchange::exchange(p, &client, &params).await?
        }
        crate::metadata::DEVICE_CODE if known => super::device::redeem(p, &client, &params).await?,
        _ => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!(
                    "supported grants: {}",
                    crate::metadata::supported_grant_types(&p.settings).join(", ")
                ),
            ));
        }
    };
    metrics::counter!("latchkey_tokens_issued_total", "grant" => grant_type.to_owned())
        .increment(1);
    Ok(no_store_json(response.to_string()))
}

async fn authorization_code(
    p: &Provider,
    client: &Client,
    params: &Params,
) -> Result<Value, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let now = unix_now();
    let c = crate::code::open(&p.master, p.issuer_id(), code)
        .ok_or_else(|| OAuthError::invalid_grant("the code is not valid"))?;
    if c.client != client.id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if c.exp <= now {
        return Err(OAuthError::invalid_grant("the code has expired"));
    }
    match params.get("redirect_uri") {
        Some(r) if r == c.redirect_uri => {}
        None if !c.redirect_given => {}
        Some(_) => return Err(OAuthError::invalid_grant("redirect_uri does not match")),
        None => return Err(OAuthError::invalid_request("redirect_uri is missing")),
    }
    match (&c.challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !pkce::verify_s256(verifier, challenge) {
                return Err(OAuthError::invalid_grant("code_verifier does not match"));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is missing")),
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier given, but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }

    let grant = Grant {
        id: c.grant.clone(),
        issuer: p.issuer_id().clone(),
        client_id: client.id.clone(),
        subject: c.subject.clone(),
        scope: c.scope.clone(),
        auth_time: c.auth_time,
        snapshot: c.snapshot.to_json(),
        created_at: now,
        expires_at: now + p.settings.refresh_token_lifetime,
        revoked_at: None,
    };
    // Checked before the grant is stored, so a refused resource does not spend the code.
    let audience = resource_audience(p, client, &grant.subject, &c.snapshot, params)?;
    let refresh = new_refresh(p, &grant, &grant.scope, &json!({"amr": c.amr}), now);
    // Minted before the code is spent: a failure here (the directory unreachable, say) leaves
    // the code unused, so the client's retry is not mistaken for a replay.
    let mut body = tokens_for(
        p,
        client,
        &grant,
        &c.snapshot,
        &grant.scope,
        c.nonce.as_deref(),
        &c.amr,
        &audience,
    )
    .await?;
    // The grant id is the code's single-use marker: only the first redemption can insert it.
    match p.store.create_grant(&grant, Some(&refresh.1)).await {
        Ok(()) => p.remember_grant(Arc::new(grant.clone())),
        Err(latchkey_store::StoreError::Conflict) => {
            revoke_replayed(p, &grant.id, &grant.subject, client, "CODE_REPLAYED", now).await?;
            return Err(OAuthError::invalid_grant("the code has already been used"));
        }
        Err(e) => return Err(e.into()),
    }
    body["refresh_token"] = Value::from(refresh.0);
    Ok(body)
}

pub(crate) fn new_refresh(
    p: &Provider,
    grant: &Grant,
    scope: &str,
    extra: &Value,
    now: i64,
) -> (String, RefreshToken) {
    let token = random_token();
    let record = RefreshToken {
        token_hash: sha256_hex(token.as_bytes()),
        issuer: p.issuer_id().clone(),
        grant_id: grant.id.clone(),
        client_id: grant.client_id.clone(),
        subject: grant.subject.clone(),
        scope: scope.to_owned(),
        auth_time: grant.auth_time,
        extra: extra.clone(),
        created_at: now,
        expires_at: now + p.settings.refresh_token_lifetime,
        used_at: None,
    };
    (token, record)
}

/// The sign-in snapshot stored with a grant.
pub(crate) fn grant_snapshot(grant: &Grant) -> Result<Snapshot, OAuthError> {
    Snapshot::from_json(&grant.snapshot).map_err(OAuthError::internal)
}

/// Access token, and an ID token when `openid` was granted.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn tokens_for(
    p: &Provider,
    client: &Client,
    grant: &Grant,
    snapshot: &Snapshot,
    scope: &str,
    nonce: Option<&str>,
    amr: &[String],
    audience: &[String],
) -> Result<Value, OAuthError> {
    let access = p
        .mint_access_token(&AccessTokenRequest {
            client,
            subject: grant.subject.as_str(),
            scope,
            audience,
            auth_time: Some(grant.auth_time),
            grant: Some(&grant.id),
            act: None,
            not_after: None,
        })
        .await
        .map_err(OAuthError::internal)?;
    let mut body = json!({
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": access.expires_in,
        "scope": scope,
    });
    let scopes = scope_list(scope);
    if scopes.contains(&"openid") {
        let mut claims = release_claims(
            p,
            &grant.subject,
            &scopes,
            snapshot,
            crate::ClaimsFor::IdToken,
        )
        .await
        .map_err(claims_error)?;
        if let Some(sid) = &snapshot.sid {
            claims.insert("sid".into(), Value::from(sid.as_str()));
        }
        let id_token = mint_id_token(
            &p.settings,
            &p.keys.keys(),
            IdTokenRequest {
                client,
                subject: &grant.subject,
                auth_time: grant.auth_time,
                nonce,
                amr,
                access_token: Some(&access.token),
                claims,
            },
        )
        .map_err(OAuthError::internal)?;
        body["id_token"] = Value::from(id_token);
    }
    Ok(body)
}

/// The claims the role releases for these scopes, with registered names dropped.
pub(crate) async fn release_claims(
    p: &Provider,
    subject: &Subject,
    scopes: &[&str],
    snapshot: &Snapshot,
    purpose: crate::ClaimsFor,
) -> Result<Map<String, Value>, RoleError> {
    let mut claims = p.claims.claims(subject, scopes, snapshot, purpose).await?;
    for reserved in crate::tokens::REGISTERED_CLAIMS {
        claims.remove(*reserved);
    }
    Ok(claims)
}

/// A role's failure at the token endpoint: a person who is gone (deleted, disabled) ends the
/// grant's use (`invalid_grant`); anything else is ours (`server_error`, logged).
pub(crate) fn claims_error(e: RoleError) -> OAuthError {
    match e {
        RoleError::Gone => OAuthError::invalid_grant("the user may no longer use this application"),
        e => OAuthError::internal(e),
    }
}

async fn refresh_token(
    p: &Provider,
    client: &Client,
    params: &Params,
) -> Result<Value, OAuthError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let now = unix_now();
    let requested: Option<Vec<String>> = params
        .get("scope")
        .map(|s| scope_list(s).into_iter().map(String::from).collect());
    let hash = sha256_hex(token.as_bytes());
    // Everything that can fail is done before the token is consumed: a bad request, or a
    // failure of ours (the directory, the store, the keys), costs the client nothing, and its
    // retry is not mistaken for a replay that revokes the grant.
    let current = p
        .store
        .find_refresh_token(p.issuer_id(), &hash)
        .await?
        .filter(|t| t.client_id == client.id && t.expires_at > now);
    if let (Some(req), Some(old)) = (&requested, &current) {
        let granted = scope_list(&old.scope);
        if !req.iter().all(|s| granted.contains(&s.as_str())) {
            return Err(OAuthError::invalid_scope("scope exceeds what was granted"));
        }
    }
    // A token already used is settled by the rotation below (replay or leeway); its answer
    // is minted then.
    let minted = match current.as_ref().filter(|t| t.used_at.is_none()) {
        Some(old) => Some(refreshed_tokens(p, client, old, requested.as_deref(), params).await?),
        None => None,
    };
    let leeway = crate::clients::refresh_reuse_leeway(client);
    let mut new_token = String::new();
    let outcome = p
        .store
        .rotate_refresh_token(p.issuer_id(), &hash, &client.id, now, |old| {
            // RFC 6749 §6: the new refresh token keeps the scope of the old one.
            let (t, record) = new_refresh_from(p, old, now, leeway > 0);
            new_token = t;
            record
        })
        .await?;
    let mut body = match outcome {
        Redemption::Redeemed(old) => match minted {
            Some(body) => body,
            // Issued between our read and the rotation (a token we could not see yet).
            None => refreshed_tokens(p, client, &old, requested.as_deref(), params).await?,
        },
        Redemption::Replayed(old) if old.used_at.is_some_and(|u| now - u <= leeway) => {
            // Presented again within the client's leeway: the same successor, if unused.
            let successor = successor_token(p, &old.token_hash);
            let live = p
                .store
                .find_refresh_token(p.issuer_id(), &sha256_hex(successor.as_bytes()))
                .await?
                .is_some_and(|s| s.used_at.is_none() && s.expires_at > now);
            if !live {
                return Err(refused_replay(p, &old, client, now).await);
            }
            tracing::info!(client = %client.id, "refresh token presented again within the client's leeway");
            new_token = successor;
            match minted {
                Some(body) => body,
                None => refreshed_tokens(p, client, &old, requested.as_deref(), params).await?,
            }
        }
        Redemption::Replayed(old) => return Err(refused_replay(p, &old, client, now).await),
        Redemption::NotFound => {
            return Err(OAuthError::invalid_grant("the refresh token is not valid"));
        }
    };
    body["refresh_token"] = Value::from(new_token);
    Ok(body)
}

/// A refresh token used twice outside any leeway: the grant ends (RFC 9700 §2.2.2).
async fn refused_replay(p: &Provider, old: &RefreshToken, client: &Client, now: i64) -> OAuthError {
    if let Err(e) = revoke_replayed(
        p,
        &old.grant_id,
        &old.subject,
        client,
        "REFRESH_TOKEN_REUSED",
        now,
    )
    .await
    {
        return e;
    }
    OAuthError::invalid_grant("the refresh token has already been used")
}

/// The tokens a refresh of `old` answers with (its refresh token aside): the person must
/// still be allowed this client, and the grant still live.
async fn refreshed_tokens(
    p: &Provider,
    client: &Client,
    old: &RefreshToken,
    requested: Option<&[String]>,
    params: &Params,
) -> Result<Value, OAuthError> {
    let now = unix_now();
    // The person may have lost the right to this client since the grant (an account
    // disabled, a group left): the grant ends.
    if !p
        .claims
        .may_continue(&old.subject, client)
        .await
        .map_err(claims_error)?
    {
        p.store.revoke_grant(&old.grant_id, now).await?;
        p.forget_grants();
        tracing::info!(client = %client.id, "refresh refused: the user may no longer use this client");
        return Err(OAuthError::invalid_grant(
            "the user may no longer use this application",
        ));
    }
    let grant = p
        .store
        .find_grant(&old.grant_id)
        .await?
        .filter(|g| g.revoked_at.is_none())
        .ok_or_else(|| OAuthError::invalid_grant("the grant has been revoked"))?;
    let snapshot = grant_snapshot(&grant)?;
    let audience = if params.get_all("resource").is_empty() {
        Vec::new()
    } else {
        resource_audience(p, client, &grant.subject, &snapshot, params)?
    };
    let scope = requested.map(|r| r.join(" ")).unwrap_or(old.scope.clone());
    let amr: Vec<String> = serde_json::from_value(old.extra["amr"].clone()).unwrap_or_default();
    tokens_for(p, client, &grant, &snapshot, &scope, None, &amr, &audience).await
}

/// The successor a refresh token gets under a reuse leeway: derived from the old token's
/// digest with the instance key (256 bits, unguessable without it), so presenting the old
/// token again can return the same successor without storing it.
fn successor_token(p: &Provider, old_hash: &str) -> String {
    b64url(
        &p.master
            .mac(format!("latchkey-refresh-successor|{old_hash}").as_bytes()),
    )
}

fn new_refresh_from(
    p: &Provider,
    old: &RefreshToken,
    now: i64,
    derived: bool,
) -> (String, RefreshToken) {
    let token = if derived {
        successor_token(p, &old.token_hash)
    } else {
        random_token()
    };
    let record = RefreshToken {
        token_hash: sha256_hex(token.as_bytes()),
        created_at: now,
        expires_at: old.expires_at.min(now + p.settings.refresh_token_lifetime),
        used_at: None,
        ..old.clone()
    };
    (token, record)
}

async fn client_credentials(
    p: &Provider,
    client: &Client,
    params: &Params,
) -> Result<Value, OAuthError> {
    confidential_only(client, "public clients cannot use client_credentials")?;
    // No user is involved: OpenID scopes mean nothing here.
    let scope: Vec<&str> = params
        .get("scope")
        .map(scope_list)
        .unwrap_or_default()
        .into_iter()
        .filter(|s| *s != "openid" && *s != "offline_access")
        .collect();
    let scope = scope.join(" ");
    let access = p
        .mint_access_token(&AccessTokenRequest {
            client,
            subject: client.id.as_str(),
            scope: &scope,
            audience: &[],
            auth_time: None,
            grant: None,
            act: None,
            not_after: None,
        })
        .await
        .map_err(OAuthError::internal)?;
    let mut body = json!({
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": access.expires_in,
    });
    if !scope.is_empty() {
        body["scope"] = Value::from(scope);
    }
    Ok(body)
}

/// A single-use credential (a code, a refresh token) came back: RFC 6749 §4.1.2 and RFC 9700
/// §4.14 — the grant it belongs to is revoked, with every token issued under it.
async fn revoke_replayed(
    p: &Provider,
    grant: &latchkey_store::GrantId,
    subject: &Subject,
    client: &Client,
    kind: &str,
    now: i64,
) -> Result<(), OAuthError> {
    p.store.revoke_grant(grant, now).await?;
    p.forget_grants();
    tracing::warn!(client = %client.id, kind, "single-use credential replayed; grant revoked");
    audit(p, kind, subject, &client.id, json!({"grant": grant})).await;
    Ok(())
}

/// Refuses public clients a grant that needs a client secret.
pub(crate) fn confidential_only(client: &Client, why: &'static str) -> Result<(), OAuthError> {
    if client.public {
        Err(OAuthError::unauthorized_client(why))
    } else {
        Ok(())
    }
}

/// Records a security event; a failure to record is logged, never fatal to the request.
async fn audit(
    p: &Provider,
    kind: &str,
    subject: &Subject,
    client: &latchkey_store::ClientId,
    detail: Value,
) {
    let event = latchkey_store::NewAuditEvent {
        issuer: p.issuer_id(),
        kind,
        subject: Some(subject),
        client_id: Some(client),
        ip: None,
        detail,
        created_at: unix_now(),
    };
    if let Err(e) = p.store.create_audit_event(&event).await {
        tracing::error!(error = %e, kind, "recording audit event failed");
    }
}

/// Clients registered with `grant_types` (dynamic registration) get only those; refresh
/// tokens come with the authorization code and device code grants. Clients made by an
/// administrator have no such list and may use every grant.
pub(crate) fn grant_allowed(client: &Client, grant_type: &str) -> bool {
    let Some(list) = client.metadata.get("grant_types").and_then(Value::as_array) else {
        return true;
    };
    let has = |g: &str| list.iter().any(|v| v.as_str() == Some(g));
    match grant_type {
        "refresh_token" => {
            has("refresh_token") || has("authorization_code") || has(crate::metadata::DEVICE_CODE)
        }
        other => has(other),
    }
}
