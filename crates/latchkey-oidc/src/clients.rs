//! Creating clients and authenticating them at the back-channel endpoints.

use axum::http::{HeaderMap, header};
use base64::Engine;
use latchkey_store::{Client, ClientId, IssuerId, Store, StoreError, unix_now};

use crate::crypto::{constant_time_eq, random_token, sha256_hex};
use crate::error::OAuthError;
use crate::jose::Alg;
use crate::params::Params;
use crate::redirect::validate_registration;

/// Client metadata (seconds, 0 or absent: off): within this time after a refresh token was
/// used, presenting it again returns the same successor instead of revoking the grant — for
/// relying parties that refresh concurrently (oauth2-proxy's cookie sessions). Opt-in; strict
/// reuse detection (RFC 9700) otherwise.
pub const REFRESH_REUSE_LEEWAY: &str = "refresh_reuse_leeway";
/// The longest leeway a client may have.
pub const MAX_REFRESH_REUSE_LEEWAY: i64 = 60;

/// A client's refresh reuse leeway, in seconds.
pub fn refresh_reuse_leeway(client: &Client) -> i64 {
    client
        .metadata
        .get(REFRESH_REUSE_LEEWAY)
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(0)
        .clamp(0, MAX_REFRESH_REUSE_LEEWAY)
}

/// What a new client needs; the id and secret are generated.
#[derive(Clone, Debug)]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub id_token_alg: Alg,
    pub metadata: serde_json::Value,
}

/// A client together with its secret in clear, which is shown once and never stored.
pub struct CreatedClient {
    pub client: Client,
    pub secret: Option<String>,
}

pub fn secret_hash(secret: &str) -> String {
    sha256_hex(secret.as_bytes())
}

/// Why a client could not be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A redirect URI that may not be registered; the text says why, fit for the caller.
    #[error("{0}")]
    InvalidRedirectUri(String),
    #[error("no client {0}")]
    NotFound(ClientId),
    #[error("public clients have no secret")]
    Public,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Validates and stores a new client. Ids are 128 random bits; secrets 256.
pub async fn create_client(
    store: &Store,
    issuer: &IssuerId,
    new: NewClient,
) -> Result<CreatedClient, ClientError> {
    for uri in new
        .redirect_uris
        .iter()
        .chain(&new.post_logout_redirect_uris)
    {
        validate_registration(uri).map_err(ClientError::InvalidRedirectUri)?;
    }
    let secret = (!new.public).then(random_token);
    let now = unix_now();
    let client = Client {
        issuer: issuer.clone(),
        id: ClientId(crate::crypto::b64url(&crate::crypto::random_bytes::<16>())),
        name: new.name,
        secret_hash: secret.as_deref().map(secret_hash),
        public: new.public,
        redirect_uris: new.redirect_uris,
        post_logout_redirect_uris: new.post_logout_redirect_uris,
        id_token_alg: new.id_token_alg.as_str().to_owned(),
        metadata: new.metadata,
        created_at: now,
        updated_at: now,
    };
    store.create_client(&client).await?;
    Ok(CreatedClient { client, secret })
}

/// Gives a confidential client a new secret; the old one stops working at once.
pub async fn rotate_secret(
    store: &Store,
    issuer: &IssuerId,
    id: &ClientId,
) -> Result<String, ClientError> {
    let Some(client) = store.find_client(issuer, id).await? else {
        return Err(ClientError::NotFound(id.clone()));
    };
    if client.public {
        return Err(ClientError::Public);
    }
    let secret = random_token();
    let updated = store
        .update_client_secret(issuer, id, &secret_hash(&secret), unix_now())
        .await?;
    if !updated {
        // Deleted (or made public) between the read and the write.
        return Err(ClientError::NotFound(id.clone()));
    }
    Ok(secret)
}

/// How the client presented itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Basic,
    Post,
    None,
}

/// Authenticates the client of a back-channel request (RFC 6749 §2.3): HTTP Basic, or
/// `client_id` + `client_secret` in the body, or `client_id` alone for public clients.
pub async fn authenticate_client(
    p: &crate::Provider,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(std::sync::Arc<Client>, AuthMethod), OAuthError> {
    let basic = basic_credentials(headers)?;
    let (id, secret, method) = match (basic, params.get("client_secret")) {
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not several",
            ));
        }
        (Some((id, secret)), None) => {
            if params.get("client_id").is_some_and(|p| p != id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the Authorization header",
                ));
            }
            (id, Some(secret), AuthMethod::Basic)
        }
        (None, Some(secret)) => {
            let id = params
                .get("client_id")
                .ok_or_else(|| OAuthError::invalid_request("client_id is missing"))?;
            (id.to_owned(), Some(secret.to_owned()), AuthMethod::Post)
        }
        (None, None) => {
            let id = params
                .get("client_id")
                .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?;
            (id.to_owned(), None, AuthMethod::None)
        }
    };
    let failed = |basic: bool| {
        let mut e = OAuthError::invalid_client("client authentication failed");
        e.basic_challenge = basic;
        e
    };
    let client = p
        .find_client(&ClientId(id))
        .await?
        .ok_or_else(|| failed(method == AuthMethod::Basic))?;
    match (&client.secret_hash, secret) {
        (Some(hash), Some(secret)) if !client.public => {
            if !constant_time_eq(secret_hash(&secret).as_bytes(), hash.as_bytes()) {
                return Err(failed(method == AuthMethod::Basic));
            }
        }
        (_, None) if client.public => {}
        _ => return Err(failed(method == AuthMethod::Basic)),
    }
    Ok((client, method))
}

/// `Authorization: Basic` credentials, form-urldecoded as RFC 6749 §2.3.1 requires.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        let mut e = OAuthError::invalid_client("malformed Basic credentials");
        e.basic_challenge = true;
        e
    };
    let value = value.to_str().map_err(|_| bad())?;
    let Some((scheme, rest)) = value.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    let id = crate::params::decode(id.as_bytes()).map_err(|_| bad())?;
    let secret = crate::params::decode(secret.as_bytes()).map_err(|_| bad())?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok(Some((id, secret)))
}
