//! The proxy role's section, `[proxy]`, and how it becomes the proxy crate's
//! [`ProxySettings`]. The crate checks the settings and names oauth2-proxy's option when one is
//! wrong; [`ProxyConfig::settings`] says which of our keys (and oauth2-proxy's flag) that is.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use latchkey_proxy::session::{RedisUrl, SessionStoreType};
use latchkey_proxy::{AccessRules, ProxySettings, SameSite, SettingsError, UpstreamSettings};
use serde::Deserialize;

use super::Notice;
use super::aliases::{Origin, all_aliases};

/// `[proxy]`: oauth2-proxy's options by their TOML names. Durations are Go durations, checked
/// at load ([`go_duration`]).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// Where people reach the proxy; the default `redirect_url` is under it.
    pub public_url: String,
    pub provider: String,
    #[serde(default)]
    pub oidc_issuer_url: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub redirect_url: Option<String>,
    #[serde(default)]
    pub upstreams: Vec<String>,
    /// `[[proxy.upstream]]`: upstreams with rules of their own.
    #[serde(default)]
    pub upstream: Vec<UpstreamConfig>,
    /// Keys this proxy's sessions in the store; distinct per `[[proxy]]` section.
    pub name: String,
    #[serde(default)]
    pub trusted_ips: Vec<String>,
    pub reverse_proxy: bool,
    /// Empty: loopback only.
    #[serde(default)]
    pub trusted_proxy_ips: Vec<String>,
    pub real_client_ip_header: String,
    #[serde(default)]
    pub email_domains: Vec<String>,
    #[serde(default)]
    pub authenticated_emails_file: Option<String>,
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    pub cookie_name: String,
    /// Accepted, unused: cookies are sealed with the instance key.
    #[serde(default)]
    pub cookie_secret: Option<String>,
    pub cookie_secure: bool,
    #[serde(default)]
    pub cookie_domains: Vec<String>,
    pub cookie_expire: String,
    pub cookie_refresh: String,
    #[serde(default)]
    pub skip_auth_routes: Vec<String>,
    pub skip_auth_preflight: bool,
    #[serde(default)]
    pub skip_jwt_bearer_tokens: bool,
    #[serde(default)]
    pub extra_jwt_issuers: Vec<String>,
    #[serde(default)]
    pub api_routes: Vec<String>,
    #[serde(default)]
    pub whitelist_domains: Vec<String>,
    pub pass_access_token: bool,
    pub pass_authorization_header: bool,
    pub pass_basic_auth: bool,
    pub set_basic_auth: bool,
    #[serde(default)]
    pub basic_auth_password: Option<String>,
    pub set_authorization_header: bool,
    pub set_xauthrequest: bool,
    pub pass_host_header: bool,
    pub prefer_email_to_user: bool,
    pub skip_provider_button: bool,
    pub upstream_timeout: String,
    pub proxy_prefix: String,
    pub ping_path: String,
    pub ready_path: String,
    pub scope: String,
    pub insecure_oidc_allow_unverified_email: bool,
    pub pass_user_headers: bool,
    pub force_json_errors: bool,
    pub auth_answers_200: bool,
    pub cookie_path: String,
    pub cookie_httponly: bool,
    pub cookie_samesite: String,
    pub cookie_csrf_expire: String,
    pub provider_display_name: String,
    pub oidc_email_claim: String,
    pub oidc_groups_claim: String,
    pub user_id_claim: String,
    pub oidc_enabled_signing_algs: Vec<String>,
    #[serde(default)]
    pub sign_out_at_provider: bool,
    #[serde(default)]
    pub backend_logout_url: Option<String>,
    pub session_store_type: String,
    #[serde(default)]
    pub redis_connection_url: Option<String>,
}

/// One `[[proxy.upstream]]` table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    pub url: String,
    #[serde(default)]
    pub allowed_groups: Vec<String>,
    #[serde(default)]
    pub allowed_emails: Vec<String>,
    #[serde(default)]
    pub allowed_email_domains: Vec<String>,
}

impl std::fmt::Debug for ProxyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConfig")
            .field("enabled", &self.enabled)
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("oidc_issuer_url", &self.oidc_issuer_url)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("upstreams", &self.upstreams)
            .field("upstream", &self.upstream)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl ProxyConfig {
    /// The proxy crate's settings, checked as the proxy will check them (rules compiled,
    /// upstreams parsed, the authenticated e-mails file read). `name` keys its sessions.
    pub fn settings(&self) -> Result<ProxySettings> {
        let issuer = self
            .oidc_issuer_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| missing("oidc_issuer_url"))?;
        let client_id = self
            .client_id
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| missing("client_id"))?;
        let redirect_url = match &self.redirect_url {
            Some(url) => url.clone(),
            None => format!("{}{}/callback", self.public_url, self.proxy_prefix),
        };
        let mut s = ProxySettings::new(
            self.name.as_str(),
            issuer.trim_end_matches('/'),
            client_id,
            self.client_secret.as_deref(),
            &redirect_url,
        );
        s.provider.scope = self.scope.clone();
        s.provider.allow_unverified_email = self.insecure_oidc_allow_unverified_email;
        s.provider.display_name = self.provider_display_name.clone();
        s.provider.email_claim = self.oidc_email_claim.clone();
        s.provider.groups_claim = self.oidc_groups_claim.clone();
        s.provider.user_claim = self.user_id_claim.clone();
        s.provider.allowed_algs = self
            .oidc_enabled_signing_algs
            .iter()
            .map(|alg| {
                alg.parse().map_err(|_| {
                    anyhow!(
                        "invalid `proxy.oidc_enabled_signing_algs` (oauth2-proxy's \
                         --oidc-enabled-signing-alg): {alg:?} is not one of RS256, ES256, EdDSA"
                    )
                })
            })
            .collect::<Result<_>>()?;
        s.force_json_errors = self.force_json_errors;
        s.auth_answers_200 = self.auth_answers_200;
        s.headers.pass_user_headers = self.pass_user_headers;
        s.cookie.path = self.cookie_path.clone();
        s.cookie.http_only = self.cookie_httponly;
        s.cookie.same_site = match self.cookie_samesite.as_str() {
            "strict" => SameSite::Strict,
            "none" => SameSite::None,
            _ => SameSite::Lax,
        };
        s.cookie.csrf_expire = duration("cookie_csrf_expire", &self.cookie_csrf_expire)?;
        s.proxy_prefix = self.proxy_prefix.clone();
        s.ping_path = self.ping_path.clone();
        s.ready_path = self.ready_path.clone();
        s.cookie.name = self.cookie_name.clone();
        s.cookie.secure = self.cookie_secure;
        s.cookie.domain = match self.cookie_domains.as_slice() {
            [] => None,
            [one] => Some(one.trim_start_matches('.').to_owned()),
            _ => bail!(
                "`proxy.cookie_domains` (--cookie-domain): one domain for now; several (the \
                 longest matching the request's host, as oauth2-proxy picks) are not supported yet"
            ),
        };
        s.cookie.expire = duration("cookie_expire", &self.cookie_expire)?;
        s.cookie.refresh = duration("cookie_refresh", &self.cookie_refresh)?;
        s.email_domains = self.email_domains.clone();
        s.authenticated_emails_file = self.authenticated_emails_file.as_ref().map(Into::into);
        s.allowed_groups = self.allowed_groups.clone();
        s.skip_auth_routes = self.skip_auth_routes.clone();
        s.skip_auth_preflight = self.skip_auth_preflight;
        s.skip_jwt_bearer_tokens = self.skip_jwt_bearer_tokens;
        s.extra_jwt_issuers = self.extra_jwt_issuers.clone();
        s.api_routes = self.api_routes.clone();
        s.whitelist_domains = self.whitelist_domains.clone();
        s.headers.pass_access_token = self.pass_access_token;
        s.headers.pass_authorization_header = self.pass_authorization_header;
        s.headers.pass_basic_auth = self.pass_basic_auth;
        s.headers.set_basic_auth = self.set_basic_auth;
        s.headers.basic_auth_password = self.basic_auth_password.clone();
        s.headers.set_authorization_header = self.set_authorization_header;
        s.headers.set_xauthrequest = self.set_xauthrequest;
        s.headers.pass_host_header = self.pass_host_header;
        s.headers.prefer_email_to_user = self.prefer_email_to_user;
        s.skip_provider_button = self.skip_provider_button;
        s.upstreams = self.upstreams.clone();
        s.upstreams_with_rules = self
            .upstream
            .iter()
            .map(|u| UpstreamSettings {
                url: u.url.clone(),
                rules: AccessRules {
                    allowed_groups: u.allowed_groups.clone(),
                    allowed_emails: u.allowed_emails.clone(),
                    allowed_email_domains: u.allowed_email_domains.clone(),
                },
            })
            .collect();
        s.trusted_ips = self.trusted_ips.clone();
        s.reverse_proxy = self.reverse_proxy;
        s.trusted_proxy_ips = self.trusted_proxy_ips.clone();
        s.real_client_ip_header = self.real_client_ip_header.clone();
        s.upstream_timeout = duration("upstream_timeout", &self.upstream_timeout)?;
        s.sign_out_at_provider = self.sign_out_at_provider;
        s.backend_logout_url = self.backend_logout_url.clone();
        s.session_store_type = match self.session_store_type.as_str() {
            "redis" => SessionStoreType::Redis,
            _ => SessionStoreType::Database,
        };
        s.redis_connection_url = self.redis_connection_url.clone().map(RedisUrl);
        latchkey_proxy::check_settings(&s).map_err(|e| settings_error(&e))?;
        Ok(s)
    }
}

fn missing(key: &str) -> anyhow::Error {
    anyhow!(
        "`proxy.{key}` ({}) must be set to run the proxy",
        flag_of(key).map_or_else(String::new, |f| format!("oauth2-proxy's --{f}"))
    )
}

/// oauth2-proxy's flag for one of our `proxy.*` keys.
fn flag_of(key: &str) -> Option<&'static str> {
    let path = format!("proxy.{key}");
    all_aliases()
        .filter(|alias| alias.origin == Origin::OAuth2Proxy)
        .find(|alias| alias.key().is_some_and(|k| k.path == path))
        .and_then(|alias| alias.flag)
}

/// The proxy crate's complaint (which names oauth2-proxy's option) in our words: the key, and
/// oauth2-proxy's flag beside it.
fn settings_error(e: &SettingsError) -> anyhow::Error {
    let key = all_aliases()
        .filter(|alias| alias.origin == Origin::OAuth2Proxy)
        .find(|alias| alias.flag == Some(e.option))
        .and_then(|alias| alias.key());
    match key {
        Some(key) => anyhow!(
            "invalid `{}` (oauth2-proxy's --{}): {}",
            key.path,
            e.option,
            e.reason
        ),
        None => anyhow!("proxy: {e}"),
    }
}

fn duration(key: &str, text: &str) -> Result<Duration> {
    go_duration(text).map_err(|e| anyhow!("invalid `proxy.{key}` = {text:?}: {e}"))
}

/// A Go duration (`time.ParseDuration`) as oauth2-proxy's options take them: `168h`, `1h30m`,
/// `90s`, `1.5h`, `500ms`, `0`. No sign: a negative duration means nothing here.
pub(super) fn go_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("expected a duration such as 168h, 1h30m, 30s or 0, got {text:?}");
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| bad())
}

/// What to tell the operator when the proxy runs: `cookie_secret` is not used, and which
/// `OAUTH2_PROXY_*` variables Latchkey does not know (oauth2-proxy has many more options).
pub(super) fn proxy_notices(proxy: &ProxyConfig, env: &[(String, String)]) -> Vec<Notice> {
    let mut notices = Vec::new();
    if proxy.cookie_secret.is_some() {
        notices.push(Notice {
            warning: false,
            text: "`proxy.cookie_secret` (--cookie-secret) is not used: the session cookie holds \
                   only a reference to a session kept in the database, sealed with the instance \
                   key (`encryption_key`)"
                .into(),
        });
    }
    for (name, value) in env {
        let known = name == "OAUTH2_PROXY_CLIENT_SECRET_FILE"
            || name == "OAUTH2_PROXY_COOKIE_SECRET_FILE"
            || all_aliases().any(|alias| alias.env == name);
        if name.starts_with("OAUTH2_PROXY_") && !value.is_empty() && !known {
            notices.push(Notice {
                warning: true,
                text: format!(
                    "environment variable {name} is ignored: Latchkey's proxy has no such option \
                     (see docs/proxy.md for the options it supports)"
                ),
            });
        }
    }
    notices
}
