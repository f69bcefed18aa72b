//! The relying party: the proxy as an OpenID Connect client of its provider. Discovery and
//! the JWKS are read on first need (so a provider that is down does not stop the proxy from
//! starting) and kept; every call has one deadline for the whole request.

mod authorize;
mod discovery;
mod http;
mod id_token;
mod identity;
mod jwks;
mod tokens;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

pub use authorize::AuthorizationRequest;
pub use discovery::{EndSession, Metadata};
pub use id_token::{IdTokenError, LEEWAY, LogoutClaims};
pub use identity::identity_from_claims;
pub use tokens::TokenSet;

use crate::settings::ProviderSettings;
use jwks::Jwks;

/// After a failed discovery, requests wait this long before the provider is asked again,
/// so a provider that is down is not hammered by every request.
const RETRY_DISCOVERY_AFTER: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// No answer, a timeout, or an answer that is not HTTP 2xx/4xx JSON.
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// Discovery or the JWKS answered something we cannot use.
    #[error("the provider's configuration is unusable: {0}")]
    Configuration(String),
    /// The token endpoint refused the grant (`invalid_grant`, `invalid_client`, …).
    #[error("the provider refused: {error}")]
    Refused { error: String },
    /// The provider answered against the protocol.
    #[error("the provider's answer is invalid: {0}")]
    Protocol(String),
    #[error("the ID token is not acceptable: {0}")]
    IdToken(#[from] IdTokenError),
}

impl ProviderError {
    /// A refusal that no retry will change: the session must end.
    pub fn is_fatal(&self) -> bool {
        match self {
            ProviderError::Refused { error } => {
                matches!(
                    error.as_str(),
                    "invalid_grant" | "invalid_client" | "unauthorized_client"
                )
            }
            ProviderError::IdToken(_) | ProviderError::Protocol(_) => true,
            _ => false,
        }
    }
}

struct Discovered {
    metadata: Arc<Metadata>,
}

/// One provider, as one client of it.
pub struct RelyingParty {
    pub(crate) settings: ProviderSettings,
    pub(crate) redirect_url: String,
    http: reqwest::Client,
    discovered: Mutex<Option<Discovered>>,
    last_failure: Mutex<Option<(Instant, String)>>,
    jwks: Jwks,
}

impl RelyingParty {
    pub fn new(settings: ProviderSettings, redirect_url: String) -> RelyingParty {
        let http = http::client(settings.timeout);
        RelyingParty {
            settings,
            redirect_url,
            http,
            discovered: Mutex::new(None),
            last_failure: Mutex::new(None),
            jwks: Jwks::new(),
        }
    }

    /// The provider's metadata, discovered on first use. A failure is remembered for a few
    /// seconds: requests in that time get the same error at once.
    pub async fn metadata(&self) -> Result<Arc<Metadata>, ProviderError> {
        let mut discovered = self.discovered.lock().await;
        if let Some(d) = discovered.as_ref() {
            return Ok(d.metadata.clone());
        }
        if let Some((at, reason)) = self.last_failure.lock().await.as_ref()
            && at.elapsed() < RETRY_DISCOVERY_AFTER
        {
            return Err(ProviderError::Unreachable(reason.clone()));
        }
        let result = async {
            let metadata = discovery::discover(&self.http, &self.settings).await?;
            self.jwks.load(&self.http, &metadata.jwks_uri).await?;
            Ok::<_, ProviderError>(metadata)
        }
        .await;
        match result {
            Ok(metadata) => {
                let metadata = Arc::new(metadata);
                *discovered = Some(Discovered {
                    metadata: metadata.clone(),
                });
                *self.last_failure.lock().await = None;
                Ok(metadata)
            }
            Err(e) => {
                tracing::warn!(issuer = %self.settings.issuer_url, error = %e, "OpenID Provider discovery failed");
                *self.last_failure.lock().await = Some((Instant::now(), e.to_string()));
                Err(e)
            }
        }
    }

    /// Whether discovery has succeeded (for the ready check, without asking the provider).
    pub async fn is_discovered(&self) -> bool {
        self.discovered.lock().await.is_some()
    }

    /// A new authorization request (code flow, PKCE S256, `state`, `nonce`).
    pub async fn authorization_request(&self) -> Result<AuthorizationRequest, ProviderError> {
        let metadata = self.metadata().await?;
        Ok(authorize::new_request(
            &metadata,
            &self.settings,
            &self.redirect_url,
        ))
    }

    /// Redeems `code` and validates the ID token (with `nonce`); adds userinfo's claims when
    /// its `sub` matches.
    pub async fn redeem(
        &self,
        code: &str,
        verifier: &str,
        nonce: &str,
        now: i64,
    ) -> Result<(TokenSet, serde_json::Map<String, serde_json::Value>), ProviderError> {
        let metadata = self.metadata().await?;
        let tokens = tokens::exchange_code(
            &self.http,
            &metadata,
            &self.settings,
            &self.redirect_url,
            code,
            verifier,
            now,
        )
        .await?;
        let id_token = tokens
            .id_token
            .as_deref()
            .ok_or_else(|| ProviderError::Protocol("the token answer has no id_token".into()))?;
        let claims = self
            .validate_id_token(&metadata, id_token, Some(nonce), now)
            .await?;
        let claims = self.with_userinfo(&metadata, &tokens, claims).await;
        Ok((tokens, claims))
    }

    /// Uses `refresh_token`. The claims are `Some` when a new ID token came with the
    /// answer (validated, its `sub` equal to `subject`), userinfo's added.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        subject: &str,
        now: i64,
    ) -> Result<(TokenSet, Option<serde_json::Map<String, serde_json::Value>>), ProviderError> {
        let metadata = self.metadata().await?;
        let tokens =
            tokens::refresh(&self.http, &metadata, &self.settings, refresh_token, now).await?;
        let Some(id_token) = tokens.id_token.as_deref() else {
            return Ok((tokens, None));
        };
        let claims = self
            .validate_id_token(&metadata, id_token, None, now)
            .await?;
        if claims.get("sub").and_then(|v| v.as_str()) != Some(subject) {
            return Err(IdTokenError::Claim("sub changed at refresh").into());
        }
        let claims = self.with_userinfo(&metadata, &tokens, claims).await;
        Ok((tokens, Some(claims)))
    }

    async fn validate_id_token(
        &self,
        metadata: &Metadata,
        token: &str,
        nonce: Option<&str>,
        now: i64,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ProviderError> {
        let expect = id_token::Expect {
            issuer: &metadata.issuer,
            client_id: &self.settings.client_id,
            nonce,
            now,
            algs: &self.settings.allowed_algs,
        };
        let header = id_token::check_header(token, &self.settings.allowed_algs)?;
        let keys = self
            .jwks
            .keys_for(&self.http, &metadata.jwks_uri, header.kid.as_deref())
            .await?;
        Ok(id_token::validate(token, &keys, &expect)?)
    }

    /// A bearer token the provider issued as an ID token for this client (signature, `iss`,
    /// `aud`/`azp`, times, `sub`): its claims.
    pub async fn validate_bearer(
        &self,
        token: &str,
        now: i64,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ProviderError> {
        let metadata = self.metadata().await?;
        self.validate_id_token(&metadata, token, None, now).await
    }

    /// A back-channel logout token from the provider: signed by a key of its JWKS with an
    /// allowed algorithm, typed `logout+jwt` (or untyped, as some providers send), and
    /// carrying a logout token's claims.
    pub async fn validate_logout_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<id_token::LogoutClaims, ProviderError> {
        let metadata = self.metadata().await?;
        let header = id_token::check_header(token, &self.settings.allowed_algs)?;
        if header.typ.as_deref().is_some_and(|t| {
            !t.eq_ignore_ascii_case("logout+jwt") && !t.eq_ignore_ascii_case("jwt")
        }) {
            return Err(IdTokenError::Claim("typ is not logout+jwt").into());
        }
        let keys = self
            .jwks
            .keys_for(&self.http, &metadata.jwks_uri, header.kid.as_deref())
            .await?;
        let (_, claims) = latchkey_oidc::jose::verify_jwt(token, |kid| keys.get(kid))
            .map_err(IdTokenError::from)?;
        let expect = id_token::Expect {
            issuer: &metadata.issuer,
            client_id: &self.settings.client_id,
            nonce: None,
            now,
            algs: &self.settings.allowed_algs,
        };
        Ok(id_token::check_logout_claims(&claims, &expect)?)
    }

    async fn with_userinfo(
        &self,
        metadata: &Metadata,
        tokens: &TokenSet,
        claims: serde_json::Map<String, serde_json::Value>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let Some(endpoint) = metadata.userinfo_endpoint.as_deref() else {
            return claims;
        };
        match tokens::userinfo(&self.http, endpoint, &tokens.access_token).await {
            Ok(info) => identity::merge_userinfo(claims, info),
            Err(e) => {
                // The ID token alone is enough to sign in; userinfo only adds to it.
                tracing::warn!(error = %e, "userinfo could not be read; using the ID token's claims");
                claims
            }
        }
    }
}
