//! RFC 8628, the device authorization grant. A device asks `/device_authorization` for a
//! device code (kept as its SHA-256 digest) and a short user code; a person types the user
//! code on the role's page at `/device` and approves it there (the role calls
//! [`approve_device`] or [`deny_device`]); meanwhile the device polls `/token` with
//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` and, once approved, gets the same
//! answer as an authorization code would give.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use latchkey_store::{
    Client, ClientId, DeviceCode, DevicePoll, DeviceStatus, Grant, GrantId, IssuerId, Store,
    StoreError, unix_now,
};
use serde_json::{Value, json};

use super::resources::resource_audience;
use super::token::{grant_allowed, new_refresh, tokens_for};
use super::{Peer, form_params, scope_list};
use crate::crypto::{b64url, random_bytes, random_token, sha256_hex};
use crate::error::{OAuthError, no_store_json};
use crate::params::Params;
use crate::provider::Provider;
use crate::role::Principal;
use crate::snapshot::Snapshot;

/// How long a device code lives (Pocket ID's 15 minutes).
pub const DEVICE_CODE_LIFETIME: i64 = 900;
/// Seconds between polls, and what `slow_down` adds to it (RFC 8628 §3.5).
pub const POLL_INTERVAL: i64 = 5;
pub const SLOW_DOWN_STEP: i64 = 5;
/// Path of the role's page where people enter user codes.
pub const VERIFICATION_PATH: &str = "/device";

/// Consonants only, without look-alikes (no vowels: no words; RFC 8628 §6.1): 20^8 codes.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_LEN: usize = 8;

/// A user code as people type it: case, spaces and dashes do not count. `None` when it
/// cannot be one of ours.
pub fn normalize_user_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\t'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
        .then_some(code)
}

/// A normalised user code as shown: `XXXX-XXXX`.
pub fn display_user_code(code: &str) -> String {
    if code.len() == USER_CODE_LEN && code.is_ascii() {
        format!("{}-{}", &code[..4], &code[4..])
    } else {
        code.to_owned()
    }
}

fn new_user_code() -> String {
    let mut code = String::with_capacity(USER_CODE_LEN);
    while code.len() < USER_CODE_LEN {
        // Bytes of 240 and above are dropped, so every letter is equally likely.
        for b in random_bytes::<16>() {
            if b < 240 && code.len() < USER_CODE_LEN {
                code.push(USER_CODE_ALPHABET[usize::from(b) % 20] as char);
            }
        }
    }
    code
}

pub async fn post_device_authorization(
    State(p): State<Arc<Provider>>,
    headers: HeaderMap,
    peer: Peer,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if !p.settings.device_flow {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    if let Some(ip) = p.authenticator.client_ip(&headers, super::peer_addr(&peer))
        && !p.limits.allow_device_authorization(ip)
    {
        return OAuthError::too_many("temporarily_unavailable", 60).into_response();
    }
    match device_authorization(&p, &headers, &peer, body).await {
        Ok(body) => no_store_json(body.to_string()),
        Err(e) => e.into_response(),
    }
}

async fn device_authorization(
    p: &Provider,
    headers: &HeaderMap,
    peer: &Peer,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, OAuthError> {
    let params = form_params(headers, body)?;
    let client = super::authenticate(p, headers, &params, peer).await?;
    if !grant_allowed(&client, crate::metadata::DEVICE_CODE) {
        return Err(OAuthError::unauthorized_client(
            "this client is not registered for the device_code grant",
        ));
    }
    // As at /authorize: scopes this issuer does not know are left out, not refused.
    let scope = scope_list(params.get("scope").unwrap_or_default())
        .into_iter()
        .filter(|s| p.settings.scopes_supported.iter().any(|x| x == s))
        .collect::<Vec<_>>()
        .join(" ");
    let device_code = random_token();
    let now = unix_now();
    let mut request = DeviceCode {
        device_code_hash: sha256_hex(device_code.as_bytes()),
        issuer: p.issuer_id().clone(),
        user_code: String::new(),
        client_id: client.id.clone(),
        scope,
        created_at: now,
        expires_at: now + DEVICE_CODE_LIFETIME,
        interval: POLL_INTERVAL,
        last_polled_at: None,
        status: DeviceStatus::Pending,
        subject: None,
        auth_time: None,
        amr: Vec::new(),
        snapshot: None,
    };
    // A user code still taken by another request: draw again (rare at 20^8).
    let mut attempts = 0;
    loop {
        request.user_code = new_user_code();
        match p.store.create_device_code(&request).await {
            Ok(()) => break,
            Err(StoreError::Conflict) if attempts < 5 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    }
    let user_code = display_user_code(&request.user_code);
    let verification_uri = p.settings.endpoint(VERIFICATION_PATH);
    let mut complete = url::Url::parse(&verification_uri).map_err(OAuthError::internal)?;
    complete
        .query_pairs_mut()
        .append_pair("user_code", &user_code);
    metrics::counter!("latchkey_device_authorizations_total").increment(1);
    Ok(json!({
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": String::from(complete),
        "expires_in": DEVICE_CODE_LIFETIME,
        "interval": POLL_INTERVAL,
    }))
}

/// The device code grant at /token: pending, too fast, expired, declined, or the tokens once.
pub(crate) async fn redeem(
    p: &Provider,
    client: &Client,
    params: &Params,
) -> Result<Value, OAuthError> {
    let code = params
        .get("device_code")
        .ok_or_else(|| OAuthError::invalid_request("device_code is missing"))?;
    let now = unix_now();
    let hash = sha256_hex(code.as_bytes());
    let approved = match p
        .store
        .poll_device_code(p.issuer_id(), &hash, &client.id, now, SLOW_DOWN_STEP)
        .await?
    {
        DevicePoll::Pending {
            slow_down: true,
            interval,
        } => {
            return Err(OAuthError::new(
                "slow_down",
                format!("poll at most every {interval} seconds"),
            ));
        }
        DevicePoll::Pending { .. } => {
            return Err(OAuthError::new(
                "authorization_pending",
                "the person has not answered yet",
            ));
        }
        DevicePoll::Expired => {
            return Err(OAuthError::new(
                "expired_token",
                "the device code has expired",
            ));
        }
        DevicePoll::Denied => {
            return Err(OAuthError::new("access_denied", "the person declined"));
        }
        DevicePoll::NotFound => {
            return Err(OAuthError::invalid_grant("the device code is not valid"));
        }
        DevicePoll::Approved(d) => d,
    };
    let (Some(subject), Some(auth_time)) = (approved.subject, approved.auth_time) else {
        return Err(OAuthError::internal(
            "approved device code without a subject",
        ));
    };
    let snapshot_json = approved.snapshot.unwrap_or_else(|| "{}".to_owned());
    let snapshot = Snapshot::from_json(&snapshot_json).map_err(OAuthError::internal)?;
    let grant = Grant {
        id: GrantId(b64url(&random_bytes::<16>())),
        issuer: p.issuer_id().clone(),
        client_id: client.id.clone(),
        subject,
        scope: approved.scope,
        auth_time,
        snapshot: snapshot_json,
        created_at: now,
        expires_at: now + p.settings.refresh_token_lifetime,
        revoked_at: None,
    };
    let audience = resource_audience(p, client, &grant.subject, &snapshot, params)?;
    let refresh = new_refresh(p, &grant, &grant.scope, &json!({"amr": approved.amr}), now);
    p.store.create_grant(&grant, Some(&refresh.1)).await?;
    p.remember_grant(Arc::new(grant.clone()));
    let mut body = tokens_for(
        p,
        client,
        &grant,
        &snapshot,
        &grant.scope,
        None,
        &approved.amr,
        &audience,
    )
    .await?;
    body["refresh_token"] = Value::from(refresh.0);
    Ok(body)
}

/// A pending device request, as the role's page shows it before the person decides.
#[derive(Clone, Debug)]
pub struct DeviceRequest {
    /// Normalised (see [`display_user_code`] to show it).
    pub user_code: String,
    pub client_id: ClientId,
    pub scope: String,
    pub expires_at: i64,
}

/// The live, pending request a person's typed `user_code` names, if any.
pub async fn find_device_request(
    store: &Store,
    issuer: &IssuerId,
    user_code: &str,
) -> Result<Option<DeviceRequest>, StoreError> {
    let Some(code) = normalize_user_code(user_code) else {
        return Ok(None);
    };
    Ok(store
        .find_pending_device_code(issuer, &code, unix_now())
        .await?
        .map(|d| DeviceRequest {
            user_code: d.user_code,
            client_id: d.client_id,
            scope: d.scope,
            expires_at: d.expires_at,
        }))
}

/// The person `principal` approves the request: its device's next poll gets tokens for them.
/// False when the request is not pending and live (any more).
pub async fn approve_device(
    store: &Store,
    issuer: &IssuerId,
    user_code: &str,
    principal: &Principal,
) -> Result<bool, StoreError> {
    let Some(code) = normalize_user_code(user_code) else {
        return Ok(false);
    };
    store
        .approve_device_code(
            issuer,
            &code,
            &principal.subject,
            principal.auth_time,
            &principal.amr,
            &principal.snapshot.to_json(),
            unix_now(),
        )
        .await
}

/// The person declines (or may not use the client): the device's next poll gets
/// `access_denied`. False when the request is not pending and live (any more).
pub async fn deny_device(
    store: &Store,
    issuer: &IssuerId,
    user_code: &str,
) -> Result<bool, StoreError> {
    let Some(code) = normalize_user_code(user_code) else {
        return Ok(false);
    };
    store.deny_device_code(issuer, &code, unix_now()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_typed_loosely_and_shown_grouped() {
        for _ in 0..100 {
            let code = new_user_code();
            assert_eq!(normalize_user_code(&code).as_deref(), Some(code.as_str()));
            let shown = display_user_code(&code);
            assert_eq!(shown.len(), 9);
            assert_eq!(
                normalize_user_code(&shown.to_lowercase()).as_deref(),
                Some(code.as_str())
            );
        }
        assert_eq!(
            normalize_user_code(" bcdf-ghjk ").as_deref(),
            Some("BCDFGHJK")
        );
        assert_eq!(normalize_user_code("BCDF-GHJ"), None);
        assert_eq!(normalize_user_code("ABCD-EFGH"), None, "vowels never occur");
        assert_eq!(normalize_user_code("BCDF-GHJKL"), None);
        assert_eq!(normalize_user_code("ßCDF-GHJK"), None);
    }
}
