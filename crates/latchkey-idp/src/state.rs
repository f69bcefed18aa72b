//! The idp role's shared state: its settings, store, keys and limits.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::http::HeaderMap;
use latchkey_oidc::crypto::MasterKey;
use latchkey_store::{IssuerId, Store};
use latchkey_web::{Csrf, Site};

use crate::cookies::Cookies;
use crate::limits::Limits;
use crate::passkey::{Ceremonies, PasskeyError, PasskeySettings};
use latchkey_web::net::{IpRange, client_ip};

/// Labels under which the role's keys are derived from the instance key.
const CSRF_KEY_LABEL: &[u8] = b"latchkey-idp-csrf-v1";
const CEREMONY_KEY_LABEL: &[u8] = b"latchkey-idp-ceremony-v1";
const REAUTH_KEY_LABEL: &[u8] = b"latchkey-idp-reauth-v1";
/// How long a fresh passkey check allows sensitive changes.
pub(crate) const REAUTH_LIFETIME: i64 = 180;

pub struct IdpSettings {
    /// The issuer URL (the public URL of the role).
    pub issuer: String,
    pub issuer_id: IssuerId,
    /// How long a browser session lasts, in seconds.
    pub session_duration: i64,
    /// Proxies whose `X-Forwarded-For` names the caller.
    pub trusted_proxies: Vec<IpRange>,
    pub passkeys: PasskeySettings,
}

pub struct Idp {
    pub(crate) store: Store,
    pub(crate) settings: IdpSettings,
    pub(crate) site: Site,
    pub(crate) csrf: Csrf,
    /// Tokens proving a fresh passkey check, bound to the session.
    pub(crate) reauth: Csrf,
    pub(crate) cookies: Cookies,
    pub(crate) ceremonies: Ceremonies,
    pub(crate) limits: Limits,
    /// Back-channel logout, set by the binary once the engine exists.
    pub(crate) logout: std::sync::OnceLock<crate::session::LogoutNotifier>,
}

impl Idp {
    /// Fails when the passkey settings do not fit together (the public URL's host cannot be
    /// an RP ID, e.g. an IP address).
    pub fn new(
        store: Store,
        settings: IdpSettings,
        master: &MasterKey,
    ) -> Result<Arc<Idp>, PasskeyError> {
        let site = Site::from_issuer(&settings.issuer);
        let csrf = Csrf::new(master.mac(CSRF_KEY_LABEL), site.origin.clone());
        let reauth = Csrf::new(master.mac(REAUTH_KEY_LABEL), site.origin.clone())
            .with_max_age(REAUTH_LIFETIME);
        let ceremonies =
            Ceremonies::new(settings.passkeys.clone(), master.mac(CEREMONY_KEY_LABEL))?;
        Ok(Arc::new(Idp {
            cookies: Cookies::for_issuer(&settings.issuer),
            store,
            site,
            csrf,
            reauth,
            ceremonies,
            limits: Limits::default(),
            logout: std::sync::OnceLock::new(),
            settings,
        }))
    }

    pub fn site(&self) -> &Site {
        &self.site
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    pub fn issuer_id(&self) -> &IssuerId {
        &self.settings.issuer_id
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// An absolute URL on this issuer: `path` starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.settings.issuer)
    }

    pub fn client_ip(&self, headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
        client_ip(&self.settings.trusted_proxies, headers, peer)
    }
}
