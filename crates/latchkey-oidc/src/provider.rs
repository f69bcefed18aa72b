//! The OpenID Provider of one issuer: its settings, store, keys and the role it asks
//! (see [`crate::role`]).

use std::sync::Arc;

use latchkey_store::{Client, IssuerId, Store};

use crate::crypto::MasterKey;
use crate::jose::Alg;
use crate::keyring::KeyRing;
use crate::role::{Authenticator, ClaimsSource};

#[derive(Clone, Debug)]
pub struct ProviderSettings {
    /// The issuer's stable id in the database (see [`IssuerId`]).
    pub issuer_id: IssuerId,
    /// The issuer URL, without a trailing slash.
    pub issuer: String,
    pub access_token_lifetime: i64,
    pub id_token_lifetime: i64,
    pub refresh_token_lifetime: i64,
    pub code_lifetime: i64,
    pub dynamic_registration: bool,
    /// RFC 8693 token exchange at the token endpoint (off unless the role's config asks).
    pub token_exchange: bool,
    /// RFC 8628 device authorization (`/device_authorization`, the device_code grant): only
    /// for a role that serves the person's page at [`crate::routes::device::VERIFICATION_PATH`].
    pub device_flow: bool,
    /// OpenID Connect Back-Channel Logout 1.0: the role tells clients when a person's session
    /// ends (it calls [`Provider::backchannel_logout`]).
    pub backchannel_logout: bool,
    pub scopes_supported: Vec<String>,
    pub claims_supported: Vec<String>,
}

impl ProviderSettings {
    pub fn new(issuer_id: IssuerId, issuer: &str) -> ProviderSettings {
        ProviderSettings {
            issuer_id,
            issuer: issuer.trim_end_matches('/').to_owned(),
            access_token_lifetime: 3600,
            id_token_lifetime: 3600,
            refresh_token_lifetime: 30 * 24 * 3600,
            code_lifetime: 60,
            dynamic_registration: false,
            token_exchange: false,
            device_flow: false,
            backchannel_logout: false,
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

/// How long a grant read or written by this process is trusted without reading it again.
pub const GRANT_TTL: std::time::Duration = std::time::Duration::from_secs(2);

pub struct Provider {
    pub settings: ProviderSettings,
    pub store: Store,
    pub keys: KeyRing,
    pub master: Arc<MasterKey>,
    pub authenticator: Arc<dyn Authenticator>,
    pub claims: Arc<dyn ClaimsSource>,
    pub limits: crate::limits::Limits,
    pub clients: crate::client_cache::ClientCache,
    pub minted: crate::minted::MintedTokens,
    /// On SQLite, grants read or written in the last [`GRANT_TTL`], so a userinfo call right
    /// after the token answer needs no database read. Cleared at every revocation in this
    /// process. Only SQLite: there this process is the only server of the database (a
    /// one-shot CLI command's revocation is seen within the TTL, as its client deletions
    /// are), while replicas on PostgreSQL must see each other's revocations at once.
    grants: Option<crate::ttl_cache::TtlCache<latchkey_store::GrantId, Arc<latchkey_store::Grant>>>,
    discovery: String,
    discovery_without_rsa: String,
    site: latchkey_web::Site,
}

impl Provider {
    pub async fn new(
        settings: ProviderSettings,
        store: Store,
        master: Arc<MasterKey>,
        authenticator: Arc<dyn Authenticator>,
        claims: Arc<dyn ClaimsSource>,
    ) -> Result<Provider, crate::keyring::KeyError> {
        let keys = KeyRing::load(store.clone(), settings.issuer_id.clone(), master.clone()).await?;
        let grants = (store.backend_name() == "sqlite")
            .then(|| crate::ttl_cache::TtlCache::new(GRANT_TTL, 2048));
        let discovery = crate::metadata::document(&settings, &Alg::ALL).to_string();
        // Until a first start's RSA key exists, discovery does not advertise RS256.
        let without_rsa: Vec<Alg> = Alg::ALL.into_iter().filter(|a| *a != Alg::RS256).collect();
        let discovery_without_rsa = crate::metadata::document(&settings, &without_rsa).to_string();
        let site = latchkey_web::Site::from_issuer(&settings.issuer);
        Ok(Provider {
            settings,
            store,
            keys,
            master,
            authenticator,
            claims,
            limits: Default::default(),
            clients: Default::default(),
            minted: Default::default(),
            grants,
            discovery,
            discovery_without_rsa,
            site,
        })
    }

    pub fn issuer_id(&self) -> &IssuerId {
        &self.settings.issuer_id
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// Where this issuer's pages live (origin, base path), for links and same-origin checks.
    pub fn site(&self) -> &latchkey_web::Site {
        &self.site
    }

    /// A client of this issuer, from the short-lived cache (see [`crate::client_cache`]).
    pub async fn find_client(
        &self,
        id: &latchkey_store::ClientId,
    ) -> Result<Option<Arc<Client>>, latchkey_store::StoreError> {
        self.clients
            .get(&self.store, &self.settings.issuer_id, id)
            .await
    }

    /// Deletes a client (revoking its grants) and forgets it at once in this process; other
    /// processes stop accepting it within [`crate::client_cache::TTL`].
    pub async fn delete_client(
        &self,
        id: &latchkey_store::ClientId,
    ) -> Result<bool, latchkey_store::StoreError> {
        let deleted = self
            .store
            .delete_client(&self.settings.issuer_id, id, latchkey_store::unix_now())
            .await?;
        self.clients.evict(id);
        self.forget_grants();
        Ok(deleted)
    }

    /// Signs an access token with the current keys and remembers it (see [`crate::minted`]).
    /// Waits for the client's key if it is still being made (a first start's RSA key).
    pub async fn mint_access_token(
        &self,
        req: &crate::tokens::AccessTokenRequest<'_>,
    ) -> Result<crate::tokens::MintedAccessToken, crate::tokens::MintError> {
        let keys = self
            .keys
            .wait_for_signer(crate::tokens::client_alg(req.client)?)
            .await?;
        let minted = crate::tokens::mint_access_token(&self.settings, &keys, req)?;
        self.minted.remember(&minted.token);
        Ok(minted)
    }

    /// A back-channel logout token for `client` about `subject` (and its session `sid`).
    pub async fn mint_logout_token(
        &self,
        client: &latchkey_store::Client,
        subject: &latchkey_store::Subject,
        sid: Option<&str>,
    ) -> Result<String, crate::tokens::MintError> {
        let keys = self
            .keys
            .wait_for_signer(crate::tokens::client_alg(client)?)
            .await?;
        crate::tokens::mint_logout_token(&self.settings, &keys, client, subject, sid)
    }

    /// Forgets the cached grants: called after anything in this process revokes a grant or a
    /// token.
    pub(crate) fn forget_grants(&self) {
        if let Some(g) = &self.grants {
            g.clear();
        }
    }

    pub(crate) fn remember_grant(&self, grant: Arc<latchkey_store::Grant>) {
        if let Some(g) = &self.grants {
            g.insert(grant.id.clone(), grant);
        }
    }

    pub(crate) fn cached_grant(
        &self,
        id: &latchkey_store::GrantId,
    ) -> Option<Arc<latchkey_store::Grant>> {
        self.grants.as_ref()?.get(id)
    }

    /// Waits until every algorithm has a current key (on a first start the RSA key is made in
    /// the background). For tools and tests that want the complete key set at once.
    pub async fn wait_for_keys(&self) -> Result<(), crate::keyring::KeyError> {
        for alg in Alg::ALL {
            self.keys.wait_for_signer(alg).await?.signer(alg)?;
        }
        Ok(())
    }

    pub(crate) fn discovery_json(&self) -> &str {
        if self.keys.keys().signer(Alg::RS256).is_ok() {
            &self.discovery
        } else {
            &self.discovery_without_rsa
        }
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
                    tracing::warn!(error = %e, issuer = %p.issuer_id(), "reloading signing keys failed");
                }
            }
        });
    }
}
