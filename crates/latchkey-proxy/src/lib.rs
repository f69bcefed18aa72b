//! The auth proxy role (`latchkey proxy`): oauth2-proxy's job, compatible with its endpoints
//! and headers. It signs people in with an OpenID Provider (any, Latchkey's own included),
//! keeps their sessions server-side in the store, decides who may pass, and either proxies
//! requests to the app (`http://` upstreams) or answers `/oauth2/auth` for nginx, Traefik or
//! Caddy (forward-auth).
//!
//! The binary builds a [`ProxySettings`], then [`Proxy::new`] and serves [`router`] with
//! `ConnectInfo<SocketAddr>` (for `X-Forwarded-For`).

mod answer;
mod bearer;
mod metrics;
pub mod provider;
mod routes;
pub mod rules;
pub mod session;
pub mod settings;
mod trust;
mod upstream;

use std::sync::Arc;

use latchkey_oidc::crypto::MasterKey;
use latchkey_store::Store;
use latchkey_web::Site;

pub use provider::{ProviderError, RelyingParty};
pub use routes::router;
pub use settings::{
    AccessRules, ClientAuth, CookieSettings, HeaderSettings, ProviderSettings, ProxySettings,
    SameSite, SettingsError, UpstreamSettings,
};

/// One proxy: settings checked, rules compiled, upstream client ready. The provider is
/// discovered on first need, so a provider that is down does not keep the proxy from
/// starting (its pages say so instead).
pub struct Proxy {
    pub(crate) settings: ProxySettings,
    pub(crate) master: Arc<MasterKey>,
    pub(crate) rp: RelyingParty,
    pub(crate) rules: rules::Rules,
    pub(crate) sessions: session::Sessions,
    pub(crate) upstreams: upstream::Upstreams,
    pub(crate) bearers: bearer::Bearers,
    pub(crate) trust: trust::Trust,
    /// Where our pages live: the proxy's origin, links under the proxy prefix.
    pub(crate) site: Site,
}

/// Checks `settings` as [`Proxy::new`] does (rules and upstreams parsed too), without a store:
/// for checking a configuration before anything runs.
pub fn check_settings(settings: &ProxySettings) -> Result<(), SettingsError> {
    settings.check()?;
    rules::Rules::new(settings)?;
    upstreams(settings)?;
    trust::Trust::new(settings)?;
    settings.extra_issuers()?;
    Ok(())
}

/// The upstreams, told the scheme people use to reach the proxy (the redirect URL's).
fn upstreams(settings: &ProxySettings) -> Result<upstream::Upstreams, SettingsError> {
    let scheme = if settings.redirect_url.starts_with("https://") {
        "https"
    } else {
        "http"
    };
    upstream::Upstreams::new(
        &settings.upstreams,
        &settings.upstreams_with_rules,
        settings.upstream_timeout,
        settings.headers.pass_host_header,
        scheme,
    )
}

impl Proxy {
    pub fn new(
        settings: ProxySettings,
        store: Store,
        master: Arc<MasterKey>,
    ) -> Result<Arc<Proxy>, SettingsError> {
        settings.check()?;
        let rules = rules::Rules::new(&settings)?;
        let upstreams = upstreams(&settings)?;
        let bearers = bearer::Bearers::new(&settings)?;
        let trust = trust::Trust::new(&settings)?;
        let cookies = session::Cookies::new(&settings.cookie, settings.id.as_str());
        let sessions = session::Sessions::new(
            session::Backend::new(&settings, store)?,
            master.clone(),
            settings.id.clone(),
            cookies,
            settings.provider.timeout,
        );
        let site = Site {
            origin: Site::from_issuer(&settings.redirect_url).origin,
            base: settings.proxy_prefix.clone(),
        };
        let rp = RelyingParty::new(settings.provider.clone(), settings.redirect_url.clone());
        Ok(Arc::new(Proxy {
            settings,
            master,
            rp,
            rules,
            sessions,
            upstreams,
            bearers,
            trust,
            site,
        }))
    }

    pub fn settings(&self) -> &ProxySettings {
        &self.settings
    }

    /// The relying party, e.g. to discover the provider at start-up and log the outcome.
    pub fn relying_party(&self) -> &RelyingParty {
        &self.rp
    }
}
