//! The OpenID Provider of one issuer, and the two questions it asks its role: who is this
//! request ([`Authenticator`]) and what do we say about them ([`ClaimsSource`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::HeaderMap;
use latchkey_store::{Client, Role, Store, Subject};
use serde_json::{Map, Value};

use crate::crypto::MasterKey;
use crate::keyring::KeyRing;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the engine knows about an authorization request when it asks who the user is.
pub struct AuthnRequest<'a> {
    pub headers: &'a HeaderMap,
    pub peer: Option<SocketAddr>,
    pub client: &'a Client,
    pub scope: &'a str,
    /// The user must have authenticated at or after this time (prompt=login, max_age);
    /// an older session must lead to interaction.
    pub fresh_after: Option<i64>,
    /// prompt=consent was asked for.
    pub consent_prompt: bool,
    /// prompt=none: any interaction will be turned into an error by the engine.
    pub prompt_none: bool,
    /// Where to send the browser once interaction is done, to continue this request.
    pub resume_url: &'a str,
}

/// The authenticated user, as the role vouches for them.
#[derive(Clone, Debug)]
pub struct Principal {
    pub subject: Subject,
    pub auth_time: i64,
    pub amr: Vec<String>,
    /// Claims known at sign-in time (kept with the grant, served again at userinfo).
    pub claims: Map<String, Value>,
}

pub enum Authentication {
    Authenticated(Principal),
    /// The user must do something first: send the browser to this URL.
    Interaction(String),
    /// This user may not use this client (`access_denied`), with a reason for the log.
    Denied(String),
    /// The role cannot tell who this is right now (e.g. its identity source is down). The
    /// person gets a 503 page with this message, which must be fit to show them.
    Unavailable(String),
}

pub trait Authenticator: Send + Sync + 'static {
    fn authenticate<'a>(
        &'a self,
        req: AuthnRequest<'a>,
    ) -> BoxFuture<'a, Result<Authentication, String>>;

    /// The address rate limits count against: the TCP peer, unless the role knows the real
    /// caller behind a proxy it trusts.
    fn client_ip(
        &self,
        _headers: &HeaderMap,
        peer: Option<SocketAddr>,
    ) -> Option<std::net::IpAddr> {
        peer.map(|p| p.ip().to_canonical())
    }

    /// Whether this caller may register a client when the issuer does not allow open
    /// registration. Default: no.
    fn may_register<'a>(
        &'a self,
        _headers: &'a HeaderMap,
        _peer: Option<SocketAddr>,
    ) -> BoxFuture<'a, Result<bool, String>> {
        Box::pin(async { Ok(false) })
    }

    /// Ends the user's session at RP-initiated logout; returns headers to add (e.g. a cookie
    /// that clears the session).
    fn end_session<'a>(&'a self, _headers: &'a HeaderMap) -> BoxFuture<'a, HeaderMap> {
        Box::pin(async { HeaderMap::new() })
    }
}

/// Where the claims are going.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimsFor {
    IdToken,
    Userinfo,
}

pub trait ClaimsSource: Send + Sync + 'static {
    /// Claims about `subject` for the granted `scopes`, on top of the sign-in `snapshot`.
    /// Never `sub`, `iss`, `aud` or other registered JWT claims: the engine sets those.
    fn claims<'a>(
        &'a self,
        subject: &'a Subject,
        scopes: &'a [&'a str],
        snapshot: &'a Map<String, Value>,
        purpose: ClaimsFor,
    ) -> BoxFuture<'a, Result<Map<String, Value>, String>>;

    /// Which of the requested resource indicators (RFC 8707) this grant may have as access
    /// token audiences. `Err` explains a refusal; by default no resource is allowed.
    fn audiences(
        &self,
        _subject: &Subject,
        _snapshot: &Map<String, Value>,
        requested: &[&str],
    ) -> Result<Vec<String>, String> {
        if requested.is_empty() {
            Ok(Vec::new())
        } else {
            Err("this issuer does not issue tokens for other resources".into())
        }
    }
}

/// Which claims a scope releases (OIDC Core §5.4), used by claim sources that hold a
/// full profile.
pub fn scope_claims(scope: &str) -> &'static [&'static str] {
    match scope {
        "profile" => &[
            "name",
            "family_name",
            "given_name",
            "middle_name",
            "nickname",
            "preferred_username",
            "profile",
            "picture",
            "website",
            "gender",
            "birthdate",
            "zoneinfo",
            "locale",
            "updated_at",
        ],
        "email" => &["email", "email_verified"],
        "address" => &["address"],
        "phone" => &["phone_number", "phone_number_verified"],
        "groups" => &["groups"],
        _ => &[],
    }
}

#[derive(Clone, Debug)]
pub struct ProviderSettings {
    pub role: Role,
    /// The issuer URL, without a trailing slash.
    pub issuer: String,
    pub access_token_lifetime: i64,
    pub id_token_lifetime: i64,
    pub refresh_token_lifetime: i64,
    pub code_lifetime: i64,
    pub dynamic_registration: bool,
    /// RFC 8693 token exchange at the token endpoint (off unless the role's config asks).
    pub token_exchange: bool,
    pub scopes_supported: Vec<String>,
    pub claims_supported: Vec<String>,
}

impl ProviderSettings {
    pub fn new(role: Role, issuer: &str) -> ProviderSettings {
        ProviderSettings {
            role,
            issuer: issuer.trim_end_matches('/').to_owned(),
            access_token_lifetime: 3600,
            id_token_lifetime: 3600,
            refresh_token_lifetime: 30 * 24 * 3600,
            code_lifetime: 60,
            dynamic_registration: false,
            token_exchange: false,
            scopes_supported: ["openid", "profile", "email", "groups", "offline_access"]
                .map(String::from)
                .to_vec(),
            claims_supported: [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "azp",
                "at_hash",
                "amr",
                "name",
                "preferred_username",
                "email",
                "email_verified",
                "picture",
                "groups",
            ]
            .map(String::from)
            .to_vec(),
        }
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

pub struct Provider {
    pub settings: ProviderSettings,
    pub store: Store,
    pub keys: KeyRing,
    pub master: Arc<MasterKey>,
    pub authenticator: Arc<dyn Authenticator>,
    pub claims: Arc<dyn ClaimsSource>,
    pub limits: crate::limits::Limits,
    pub clients: crate::client_cache::ClientCache,
    discovery: String,
}

impl Provider {
    pub async fn new(
        settings: ProviderSettings,
        store: Store,
        master: Arc<MasterKey>,
        authenticator: Arc<dyn Authenticator>,
        claims: Arc<dyn ClaimsSource>,
    ) -> Result<Provider, crate::keyring::KeyError> {
        let keys = KeyRing::load(store.clone(), settings.role, master.clone()).await?;
        let discovery = crate::routes::discovery::document(&settings).to_string();
        Ok(Provider {
            settings,
            store,
            keys,
            master,
            authenticator,
            claims,
            limits: Default::default(),
            clients: Default::default(),
            discovery,
        })
    }

    pub fn role(&self) -> Role {
        self.settings.role
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// A client of this issuer, from the short-lived cache (see [`crate::client_cache`]).
    pub async fn find_client(
        &self,
        id: &latchkey_store::ClientId,
    ) -> Result<Option<Arc<Client>>, latchkey_store::StoreError> {
        self.clients.get(&self.store, self.settings.role, id).await
    }

    /// Deletes a client (revoking its grants) and forgets it at once in this process; other
    /// processes stop accepting it within [`crate::client_cache::TTL`].
    pub async fn delete_client(
        &self,
        id: &latchkey_store::ClientId,
    ) -> Result<bool, latchkey_store::StoreError> {
        let deleted = self
            .store
            .delete_client(self.settings.role, id, latchkey_store::unix_now())
            .await?;
        self.clients.evict(id);
        Ok(deleted)
    }

    pub(crate) fn discovery_json(&self) -> &str {
        &self.discovery
    }

    /// Reloads keys every `every` so rotations elsewhere are seen; runs until the process ends.
    pub fn spawn_key_refresh(self: &Arc<Self>, every: std::time::Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(p) = weak.upgrade() else { break };
                if let Err(e) = p.keys.reload().await {
                    tracing::warn!(error = %e, role = %p.role(), "reloading signing keys failed");
                }
            }
        });
    }
}
