//! Minting and checking the JWTs we issue: access tokens (RFC 9068) and ID tokens.

use std::sync::Arc;

use latchkey_store::{Client, ClientId, GrantId, Subject, unix_now};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::crypto::{b64url, random_bytes};
use crate::jose::{Alg, JoseError, at_hash, verify_jwt};
use crate::keyring::{KeyError, KeySet};
use crate::provider::{Provider, ProviderSettings};

pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

/// Claims the engine alone sets (or that carry protocol meaning); a role's claim source can
/// never supply them.
pub const REGISTERED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "azp",
    "nonce",
    "auth_time",
    "at_hash",
    "c_hash",
    "s_hash",
    "acr",
    "amr",
    "sid",
    "act",
    "cnf",
    "client_id",
    "scope",
];

#[derive(Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a [String],
    exp: i64,
    iat: i64,
    jti: &'a str,
    client_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    /// The grant this token belongs to, so revoking the grant denies it.
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<&'a str>,
    /// RFC 8693 §4.1: who is acting on the subject's behalf (token exchange).
    #[serde(skip_serializing_if = "Option::is_none")]
    act: Option<&'a Value>,
}

pub struct MintedAccessToken {
    pub token: String,
    pub jti: String,
    pub expires_in: i64,
}

pub struct AccessTokenRequest<'a> {
    pub client: &'a Client,
    pub subject: &'a str,
    pub scope: &'a str,
    pub audience: &'a [String],
    pub auth_time: Option<i64>,
    pub grant: Option<&'a GrantId>,
    pub act: Option<&'a Value>,
    /// The token must not outlive this (an exchanged token, its subject token).
    pub not_after: Option<i64>,
}

/// Why a token could not be signed (a server fault: the client gets `server_error`).
#[derive(Debug, thiserror::Error)]
pub enum MintError {
    /// A stored client names an algorithm we do not sign with: refuse rather than quietly
    /// sign with another one the client does not expect.
    #[error("client {client} has an unknown signing algorithm {alg:?}")]
    UnknownAlg { client: ClientId, alg: String },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("signing failed: {0}")]
    Sign(#[from] JoseError),
}

/// The algorithm the client's tokens are signed with.
pub fn client_alg(client: &Client) -> Result<Alg, MintError> {
    client
        .id_token_alg
        .parse()
        .map_err(|_| MintError::UnknownAlg {
            client: client.id.clone(),
            alg: client.id_token_alg.clone(),
        })
}

pub fn mint_access_token(
    settings: &ProviderSettings,
    keys: &KeySet,
    req: &AccessTokenRequest<'_>,
) -> Result<MintedAccessToken, MintError> {
    let now = unix_now();
    let jti = b64url(&random_bytes::<16>());
    let exp = match req.not_after {
        Some(cap) => (now + settings.access_token_lifetime).min(cap),
        None => now + settings.access_token_lifetime,
    };
    let own_aud;
    let aud = if req.audience.is_empty() {
        own_aud = [req.client.id.0.clone()];
        &own_aud[..]
    } else {
        req.audience
    };
    let claims = AccessClaims {
        iss: &settings.issuer,
        sub: req.subject,
        aud,
        exp,
        iat: now,
        jti: &jti,
        client_id: req.client.id.as_str(),
        scope: req.scope,
        auth_time: req.auth_time,
        gid: req.grant.map(GrantId::as_str),
        act: req.act,
    };
    let key = keys.signer(client_alg(req.client)?)?;
    let token = key.sign_jwt(ACCESS_TOKEN_TYP, &claims)?;
    metrics::counter!("latchkey_access_tokens_signed_total", "alg" => key.alg().as_str())
        .increment(1);
    Ok(MintedAccessToken {
        token,
        jti,
        expires_in: exp - now,
    })
}

pub struct IdTokenRequest<'a> {
    pub client: &'a Client,
    pub subject: &'a Subject,
    pub auth_time: i64,
    pub nonce: Option<&'a str>,
    pub amr: &'a [String],
    pub access_token: Option<&'a str>,
    pub claims: Map<String, Value>,
}

pub fn mint_id_token(
    settings: &ProviderSettings,
    keys: &KeySet,
    req: IdTokenRequest<'_>,
) -> Result<String, MintError> {
    let now = unix_now();
    let alg = client_alg(req.client)?;
    let mut claims = req.claims;
    // Registered claims always come from us, never from a claim source.
    for (k, v) in [
        ("iss", Value::from(settings.issuer.as_str())),
        ("sub", Value::from(req.subject.as_str())),
        ("aud", Value::from(req.client.id.as_str())),
        ("azp", Value::from(req.client.id.as_str())),
        ("exp", Value::from(now + settings.id_token_lifetime)),
        ("iat", Value::from(now)),
        ("auth_time", Value::from(req.auth_time)),
    ] {
        claims.insert(k.into(), v);
    }
    match req.nonce {
        Some(n) => claims.insert("nonce".into(), Value::from(n)),
        None => claims.remove("nonce"),
    };
    if !req.amr.is_empty() {
        claims.insert("amr".into(), Value::from(req.amr.to_vec()));
    }
    if let Some(at) = req.access_token {
        claims.insert("at_hash".into(), Value::from(at_hash(alg, at)));
    }
    Ok(keys.signer(alg)?.sign_jwt("JWT", &claims)?)
}

/// The `events` member of a logout token (OpenID Connect Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token is valid: it is sent at once.
pub const LOGOUT_TOKEN_LIFETIME: i64 = 120;

/// A logout token for `client` (Back-Channel Logout 1.0 §2.4): `sub` and, when the session is
/// known, `sid`; never a nonce; typed `logout+jwt` so that it cannot pass for an ID token.
pub fn mint_logout_token(
    settings: &ProviderSettings,
    keys: &KeySet,
    client: &Client,
    subject: &Subject,
    sid: Option<&str>,
) -> Result<String, MintError> {
    let now = unix_now();
    let alg = client_alg(client)?;
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::from(settings.issuer.as_str()));
    claims.insert("sub".into(), Value::from(subject.as_str()));
    claims.insert("aud".into(), Value::from(client.id.as_str()));
    claims.insert("iat".into(), Value::from(now));
    claims.insert("exp".into(), Value::from(now + LOGOUT_TOKEN_LIFETIME));
    claims.insert("jti".into(), Value::from(crate::crypto::random_token()));
    claims.insert(
        "events".into(),
        serde_json::json!({ BACKCHANNEL_LOGOUT_EVENT: {} }),
    );
    if let Some(sid) = sid {
        claims.insert("sid".into(), Value::from(sid));
    }
    Ok(keys.signer(alg)?.sign_jwt("logout+jwt", &claims)?)
}

/// A valid, unrevoked access token of this issuer.
pub struct VerifiedAccessToken {
    pub claims: Map<String, Value>,
    pub subject: Subject,
    pub jti: String,
    pub exp: i64,
    pub client_id: String,
    pub scope: String,
    /// The grant the token was issued under (user tokens); `None` for client_credentials.
    pub grant: Option<Arc<latchkey_store::Grant>>,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessTokenError {
    /// Not ours, malformed, expired or revoked.
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Store(#[from] latchkey_store::StoreError),
}

/// Checks signature, type, issuer and expiry, then the deny-list.
pub async fn verify_access_token(
    p: &Provider,
    token: &str,
) -> Result<VerifiedAccessToken, AccessTokenError> {
    let (header, claims) = if p.minted.contains(token) {
        crate::jose::decode_own_jwt(token)
            .map_err(|_| AccessTokenError::Invalid("the token is malformed"))?
    } else {
        let kid = crate::jose::decode_header(token)
            .map_err(|_| AccessTokenError::Invalid("the token is malformed"))?
            .kid;
        let keys = p.keys.keys_with(kid.as_deref()).await;
        verify_jwt(token, |kid| keys.verifier(kid)).map_err(|_| {
            AccessTokenError::Invalid("the token is malformed or its signature is not valid")
        })?
    };
    if header
        .typ
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
        != Some(ACCESS_TOKEN_TYP)
    {
        return Err(AccessTokenError::Invalid("not an access token"));
    }
    if claims.get("iss").and_then(Value::as_str) != Some(p.issuer()) {
        return Err(AccessTokenError::Invalid("issued by someone else"));
    }
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    if exp <= unix_now() {
        return Err(AccessTokenError::Invalid("the token has expired"));
    }
    let (Some(sub), Some(jti)) = (
        claims.get("sub").and_then(Value::as_str),
        claims.get("jti").and_then(Value::as_str),
    ) else {
        return Err(AccessTokenError::Invalid("the token lacks sub or jti"));
    };
    let grant = claims.get("gid").and_then(Value::as_str).map(GrantId::from);
    let (denied, found) = match grant.as_ref().and_then(|g| p.cached_grant(g)) {
        Some(g) => (false, Some(g)),
        None => {
            let state = p.store.access_token_state(jti, grant.as_ref()).await?;
            let found = state.grant.map(Arc::new);
            if let (false, Some(g)) = (state.denied, &found) {
                p.remember_grant(g.clone());
            }
            (state.denied, found)
        }
    };
    if denied {
        return Err(AccessTokenError::Invalid("the token has been revoked"));
    }
    let grant_record = match (&grant, found) {
        (Some(_), Some(g)) if g.revoked_at.is_none() && g.expires_at > unix_now() => Some(g),
        (Some(_), _) => {
            return Err(AccessTokenError::Invalid(
                "the token's grant has been revoked or has expired",
            ));
        }
        (None, _) => None,
    };
    let client = claims
        .get("client_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    // A token lives as long as its client. Deleting a client revokes its grants; that covers
    // the tokens issued under them, but not those a client holds under no grant of its own
    // (client_credentials) or under another client's grant (token exchange).
    let under_own_grant = grant_record
        .as_ref()
        .is_some_and(|g| g.client_id.as_str() == client);
    if !under_own_grant {
        let found = p
            .find_client(&latchkey_store::ClientId::from(client))
            .await?;
        if found.is_none() {
            return Err(AccessTokenError::Invalid("the client no longer exists"));
        }
    }
    Ok(VerifiedAccessToken {
        subject: Subject::from(sub),
        jti: jti.to_owned(),
        exp,
        client_id: claims
            .get("client_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        scope: claims
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        grant: grant_record,
        claims,
    })
}
