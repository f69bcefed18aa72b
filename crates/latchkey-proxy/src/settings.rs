//! What the binary hands the proxy: plain values, named after oauth2-proxy's options where
//! one exists (in the field docs), with oauth2-proxy's defaults unless a default of theirs
//! is unsafe. [`ProxySettings::check`] refuses what cannot work, naming the option.

use std::time::Duration;

use latchkey_oidc::jose::Alg;
use latchkey_store::ProxyId;

/// How the proxy authenticates to the provider's token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_secret_basic` (oauth2-proxy's only way).
    Basic,
    /// `client_secret_post`.
    Post,
    /// A public client: `client_id` only, PKCE does the work.
    None,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    None,
}

impl SameSite {
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

/// The OpenID Provider the proxy signs people in with.
#[derive(Clone)]
pub struct ProviderSettings {
    /// `--oidc-issuer-url`: discovery is read from `{issuer}/.well-known/openid-configuration`
    /// and the document's `issuer` must be this URL.
    pub issuer_url: String,
    /// `--client-id`.
    pub client_id: String,
    /// `--client-secret`; `None` for a public client ([`ClientAuth::None`]).
    pub client_secret: Option<String>,
    pub client_auth: ClientAuth,
    /// `--scope` (`openid email profile`).
    pub scope: String,
    /// `--provider-display-name`, on the sign-in button.
    pub display_name: String,
    /// `--oidc-enabled-signing-alg`: what ID tokens may be signed with.
    pub allowed_algs: Vec<Alg>,
    /// `--insecure-oidc-allow-unverified-email`: use an e-mail address the provider says is
    /// not verified (`email_verified: false`) for the e-mail rules and headers.
    pub allow_unverified_email: bool,
    /// `--oidc-email-claim` (`email`).
    pub email_claim: String,
    /// `--oidc-groups-claim` (`groups`).
    pub groups_claim: String,
    /// `--user-id-claim`: what `X-Forwarded-User` carries (`sub`).
    pub user_claim: String,
    /// One whole request to the provider (discovery, JWKS, token, userinfo) at the most.
    pub timeout: Duration,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("issuer_url", &self.issuer_url)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("client_auth", &self.client_auth)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
pub struct CookieSettings {
    /// `--cookie-name` (`_oauth2_proxy`). A `__Host-` name requires `secure`, path `/` and no
    /// domain; a `__Secure-` name requires `secure`.
    pub name: String,
    /// `--cookie-domain`; none: a host-only cookie.
    pub domain: Option<String>,
    /// `--cookie-path` (`/`).
    pub path: String,
    /// `--cookie-secure` (true).
    pub secure: bool,
    /// `--cookie-httponly` (true).
    pub http_only: bool,
    /// `--cookie-samesite`: Lax here (oauth2-proxy sends none by default).
    pub same_site: SameSite,
    /// `--cookie-expire` (168 h): how long a session lives without a refresh.
    pub expire: Duration,
    /// `--cookie-refresh` (0: only when the provider's tokens expire).
    pub refresh: Duration,
    /// `--cookie-csrf-expire` (15 min): how long a sign-in may take.
    pub csrf_expire: Duration,
}

impl Default for CookieSettings {
    fn default() -> Self {
        CookieSettings {
            name: "_oauth2_proxy".into(),
            domain: None,
            path: "/".into(),
            secure: true,
            http_only: true,
            same_site: SameSite::Lax,
            expire: Duration::from_secs(168 * 3600),
            refresh: Duration::ZERO,
            csrf_expire: Duration::from_secs(15 * 60),
        }
    }
}

/// Which identity headers go where.
#[derive(Clone)]
pub struct HeaderSettings {
    /// `--pass-user-headers` (true): `X-Forwarded-User`, `-Email`, `-Groups`,
    /// `-Preferred-Username` to the upstream.
    pub pass_user_headers: bool,
    /// `--prefer-email-to-user`: the e-mail address in `X-Forwarded-User`, no `-Email`.
    pub prefer_email_to_user: bool,
    /// `--pass-access-token`: `X-Forwarded-Access-Token` (and `X-Auth-Request-Access-Token`).
    pub pass_access_token: bool,
    /// `--pass-authorization-header`: `Authorization: Bearer <id_token>` to the upstream.
    pub pass_authorization_header: bool,
    /// `--set-xauthrequest`: `X-Auth-Request-*` on `/oauth2/auth`'s answers.
    pub set_xauthrequest: bool,
    /// `--pass-host-header` (true): the upstream sees the client's `Host`.
    pub pass_host_header: bool,
    /// `--pass-basic-auth` (true): `Authorization: Basic user:password` to the upstream, for
    /// apps that read the user from Basic authentication. Sent only with a
    /// [`basic_auth_password`](Self::basic_auth_password): oauth2-proxy sends `user:` without
    /// one, which no app can take as a credential.
    pub pass_basic_auth: bool,
    /// `--set-basic-auth`: the same header on `/oauth2/auth`'s answers.
    pub set_basic_auth: bool,
    /// `--basic-auth-password`: the password of those headers (the same for everyone: the
    /// app trusts the proxy, not the password).
    pub basic_auth_password: Option<String>,
    /// `--set-authorization-header`: `Authorization: Bearer <id_token>` on `/oauth2/auth`'s
    /// answers.
    pub set_authorization_header: bool,
}

impl std::fmt::Debug for HeaderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderSettings")
            .field("pass_user_headers", &self.pass_user_headers)
            .field("prefer_email_to_user", &self.prefer_email_to_user)
            .field("pass_access_token", &self.pass_access_token)
            .field("pass_authorization_header", &self.pass_authorization_header)
            .field("set_xauthrequest", &self.set_xauthrequest)
            .field("pass_host_header", &self.pass_host_header)
            .field("pass_basic_auth", &self.pass_basic_auth)
            .field("set_basic_auth", &self.set_basic_auth)
            .field(
                "basic_auth_password",
                &self.basic_auth_password.as_ref().map(|_| "<redacted>"),
            )
            .field("set_authorization_header", &self.set_authorization_header)
            .finish()
    }
}

impl Default for HeaderSettings {
    fn default() -> Self {
        HeaderSettings {
            pass_user_headers: true,
            prefer_email_to_user: false,
            pass_access_token: false,
            pass_authorization_header: false,
            set_xauthrequest: false,
            pass_host_header: true,
            pass_basic_auth: true,
            set_basic_auth: false,
            basic_auth_password: None,
            set_authorization_header: false,
        }
    }
}

/// Who may use one upstream, beside the proxy-wide rules: an e-mail rule (a listed address,
/// or an address in a listed domain) when either list is set, and one of the groups when
/// there are any. Empty: the proxy-wide rules alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccessRules {
    pub allowed_groups: Vec<String>,
    pub allowed_emails: Vec<String>,
    /// `example.com`, or `.example.com` / `*.example.com` for its subdomains; `*` for any.
    pub allowed_email_domains: Vec<String>,
}

impl AccessRules {
    pub fn is_empty(&self) -> bool {
        self.allowed_groups.is_empty()
            && self.allowed_emails.is_empty()
            && self.allowed_email_domains.is_empty()
    }
}

/// An upstream with rules of its own (`[[proxy.upstream]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamSettings {
    /// As one of `upstreams`: `http(s)://`, `unix://`, `file://`, `static://`.
    pub url: String,
    pub rules: AccessRules,
}

/// One proxy: its provider, cookie, rules and upstreams.
#[derive(Clone, Debug)]
pub struct ProxySettings {
    /// Which sessions in the store are this proxy's.
    pub id: ProxyId,
    pub provider: ProviderSettings,
    /// `--redirect-url`: the absolute callback URL registered at the provider; its origin is
    /// the proxy's own (for pages and redirects).
    pub redirect_url: String,
    /// `--proxy-prefix` (`/oauth2`).
    pub proxy_prefix: String,
    /// `--ping-path` (`/ping`).
    pub ping_path: String,
    /// `--ready-path` (`/ready`; also checks the store).
    pub ready_path: String,
    pub cookie: CookieSettings,
    /// `--email-domain`: `*` for any; none (and no `allowed_emails`): nobody is let in.
    pub email_domains: Vec<String>,
    /// `--authenticated-emails-file`'s addresses.
    pub allowed_emails: Vec<String>,
    /// `--allowed-group`: at least one of them (none: no group rule).
    pub allowed_groups: Vec<String>,
    /// `--skip-auth-route`: `METHOD=regex`, `METHOD!=regex`, `regex`, `!=regex`.
    pub skip_auth_routes: Vec<String>,
    /// `--skip-auth-preflight`: CORS preflights (`OPTIONS`) pass without a session.
    pub skip_auth_preflight: bool,
    /// `--api-route`: path regexes answered 401 instead of the sign-in page.
    pub api_routes: Vec<String>,
    /// `--whitelist-domain`: hosts sign-in and sign-out may send people back to, besides our
    /// own paths (`.example.com` or `*.example.com`: its subdomains; `host:port`, `host:*`).
    pub whitelist_domains: Vec<String>,
    pub headers: HeaderSettings,
    /// `--upstream`: `http://host[:port][/path]`; the path is where it is mounted (a trailing
    /// `/` mounts a prefix, none an exact path; the longest match wins).
    pub upstreams: Vec<String>,
    /// `[[proxy.upstream]]`: upstreams (same forms as `upstreams`) with rules of their own; a
    /// request routed to one must pass the proxy-wide rules and these.
    pub upstreams_with_rules: Vec<UpstreamSettings>,
    /// `--trusted-ip`: addresses and ranges whose requests pass without a session (as a
    /// skip-auth route: no identity headers unless there is a session).
    pub trusted_ips: Vec<String>,
    /// `--reverse-proxy`: believe the client address header and `X-Forwarded-Proto/Host/Uri`,
    /// from the peers in `trusted_proxy_ips` only.
    pub reverse_proxy: bool,
    /// `--trusted-proxy-ip`: the proxies in front whose forwarding headers are believed with
    /// `reverse_proxy`. Empty: loopback only (oauth2-proxy trusts every peer then).
    pub trusted_proxy_ips: Vec<String>,
    /// `--real-client-ip-header` (`X-Real-IP`): where a trusted proxy names the client.
    pub real_client_ip_header: String,
    /// `--upstream-timeout` (30 s): until the upstream's answer starts.
    pub upstream_timeout: Duration,
    /// `--skip-provider-button`: no sign-in page; straight to the provider.
    pub skip_provider_button: bool,
    /// `--force-json-errors`: JSON errors whatever the request accepts.
    pub force_json_errors: bool,
    /// Answer `/oauth2/auth` with 200 instead of 202 (Envoy's `ext_authz` takes 200 only).
    pub auth_answers_200: bool,
    /// `--skip-jwt-bearer-tokens`: a request with `Authorization: Bearer JWT` whose token is
    /// an ID token of the provider for this client (or of an extra issuer) passes without a
    /// session.
    pub skip_jwt_bearer_tokens: bool,
    /// `--extra-jwt-issuers`: `issuer=audience` pairs whose bearer tokens are accepted too.
    pub extra_jwt_issuers: Vec<String>,
    /// Sign-out also ends the person's session at the provider (RP-initiated logout), when
    /// its discovery names an `end_session_endpoint`: off by default, because the provider
    /// must first know the addresses it may send people back to (`rd`, the sign-in page).
    pub sign_out_at_provider: bool,
    /// `--backend-logout-url`: asked (GET) at sign-out, `{id_token}` replaced by the
    /// session's ID token, before the browser is sent on.
    pub backend_logout_url: Option<String>,
    /// `--authenticated-emails-file`: addresses let in, one a line; read again when it
    /// changes (see `rules::EmailRules`).
    pub authenticated_emails_file: Option<std::path::PathBuf>,
    /// `--session-store-type`: the database (default) or Redis.
    pub session_store_type: crate::session::SessionStoreType,
    /// `--redis-connection-url`, with `--session-store-type=redis`.
    pub redis_connection_url: Option<crate::session::RedisUrl>,
}

impl ProxySettings {
    /// oauth2-proxy's defaults around the four values every proxy needs.
    pub fn new(
        id: impl Into<ProxyId>,
        issuer_url: &str,
        client_id: &str,
        client_secret: Option<&str>,
        redirect_url: &str,
    ) -> ProxySettings {
        ProxySettings {
            id: id.into(),
            provider: ProviderSettings {
                issuer_url: issuer_url.to_owned(),
                client_id: client_id.to_owned(),
                client_secret: client_secret.map(str::to_owned),
                client_auth: if client_secret.is_some() {
                    ClientAuth::Basic
                } else {
                    ClientAuth::None
                },
                scope: "openid email profile".into(),
                display_name: "OpenID Connect".into(),
                allowed_algs: Alg::ALL.to_vec(),
                allow_unverified_email: false,
                email_claim: "email".into(),
                groups_claim: "groups".into(),
                user_claim: "sub".into(),
                timeout: Duration::from_secs(10),
            },
            redirect_url: redirect_url.to_owned(),
            proxy_prefix: "/oauth2".into(),
            ping_path: "/ping".into(),
            ready_path: "/ready".into(),
            cookie: CookieSettings::default(),
            email_domains: Vec::new(),
            allowed_emails: Vec::new(),
            allowed_groups: Vec::new(),
            skip_auth_routes: Vec::new(),
            skip_auth_preflight: false,
            api_routes: Vec::new(),
            whitelist_domains: Vec::new(),
            headers: HeaderSettings::default(),
            upstreams: Vec::new(),
            upstreams_with_rules: Vec::new(),
            trusted_ips: Vec::new(),
            reverse_proxy: false,
            trusted_proxy_ips: Vec::new(),
            real_client_ip_header: "X-Real-IP".into(),
            upstream_timeout: Duration::from_secs(30),
            skip_provider_button: false,
            force_json_errors: false,
            auth_answers_200: false,
            skip_jwt_bearer_tokens: false,
            extra_jwt_issuers: Vec::new(),
            sign_out_at_provider: false,
            backend_logout_url: None,
            authenticated_emails_file: None,
            session_store_type: crate::session::SessionStoreType::Database,
            redis_connection_url: None,
        }
    }

    /// The extra issuers as (issuer, audience).
    pub(crate) fn extra_issuers(&self) -> Result<Vec<(String, String)>, SettingsError> {
        self.extra_jwt_issuers
            .iter()
            .map(|pair| {
                let (issuer, audience) = pair
                    .split_once('=')
                    .filter(|(i, a)| {
                        (i.starts_with("https://") || i.starts_with("http://")) && !a.is_empty()
                    })
                    .ok_or_else(|| {
                        invalid(
                            "extra-jwt-issuers",
                            format!("{pair:?}: write ISSUER_URL=AUDIENCE"),
                        )
                    })?;
                Ok((issuer.to_owned(), audience.to_owned()))
            })
            .collect()
    }
}

/// A setting the proxy cannot work with; `option` is oauth2-proxy's name for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{option}: {reason}")]
pub struct SettingsError {
    pub option: &'static str,
    pub reason: String,
}

pub(crate) fn invalid(option: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError {
        option,
        reason: reason.into(),
    }
}

impl ProxySettings {
    /// Checks what does not need the network; the rules and upstreams are parsed (and
    /// checked) when the proxy is built.
    pub fn check(&self) -> Result<(), SettingsError> {
        let p = &self.provider;
        let issuer = url::Url::parse(&p.issuer_url)
            .map_err(|e| invalid("oidc-issuer-url", format!("not a URL: {e}")))?;
        if !matches!(issuer.scheme(), "http" | "https") || issuer.host().is_none() {
            return Err(invalid(
                "oidc-issuer-url",
                "must be an http(s) URL with a host",
            ));
        }
        if p.client_id.is_empty() {
            return Err(invalid("client-id", "must be set"));
        }
        match (p.client_auth, &p.client_secret) {
            (ClientAuth::None, Some(_)) => {
                return Err(invalid(
                    "client-secret",
                    "a public client (no client authentication) has no secret",
                ));
            }
            (ClientAuth::Basic | ClientAuth::Post, None) => {
                return Err(invalid(
                    "client-secret",
                    "must be set for a confidential client",
                ));
            }
            (ClientAuth::Basic | ClientAuth::Post, Some(s)) if s.is_empty() => {
                return Err(invalid("client-secret", "must not be empty"));
            }
            _ => {}
        }
        if !p.scope.split(' ').any(|s| s == "openid") {
            return Err(invalid("scope", "must include openid"));
        }
        if p.allowed_algs.is_empty() {
            return Err(invalid(
                "oidc-enabled-signing-alg",
                "at least one algorithm",
            ));
        }
        if p.timeout.is_zero() {
            return Err(invalid("provider timeout", "must be more than zero"));
        }
        let redirect = url::Url::parse(&self.redirect_url)
            .map_err(|e| invalid("redirect-url", format!("not an absolute URL: {e}")))?;
        if !matches!(redirect.scheme(), "http" | "https") || redirect.host().is_none() {
            return Err(invalid("redirect-url", "must be an absolute http(s) URL"));
        }
        let expected = format!("{}/callback", self.proxy_prefix);
        if redirect.path() != expected {
            return Err(invalid(
                "redirect-url",
                format!("its path must be the callback, {expected}"),
            ));
        }
        for (option, path) in [
            ("proxy-prefix", &self.proxy_prefix),
            ("ping-path", &self.ping_path),
            ("ready-path", &self.ready_path),
        ] {
            if !path.starts_with('/') || path.len() < 2 || path.ends_with('/') {
                return Err(invalid(
                    option,
                    "must be a path like /name (a leading slash, none at the end)",
                ));
            }
        }
        self.check_cookie()?;
        crate::session::check_store(self)?;
        if let Some(url) = &self.backend_logout_url {
            let ok = url::Url::parse(&url.replace("{id_token}", "x"))
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(invalid("backend-logout-url", "must be an http(s) URL"));
            }
        }
        if self.upstream_timeout.is_zero() {
            return Err(invalid("upstream-timeout", "must be more than zero"));
        }
        Ok(())
    }

    fn check_cookie(&self) -> Result<(), SettingsError> {
        let c = &self.cookie;
        let token_char = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if c.name.is_empty() || !c.name.bytes().all(token_char) {
            return Err(invalid("cookie-name", "must be a non-empty cookie name"));
        }
        if c.name.starts_with("__Host-") && (!c.secure || c.path != "/" || c.domain.is_some()) {
            return Err(invalid(
                "cookie-name",
                "a __Host- cookie needs cookie-secure, cookie-path / and no cookie-domain",
            ));
        }
        if c.name.starts_with("__Secure-") && !c.secure {
            return Err(invalid(
                "cookie-name",
                "a __Secure- cookie needs cookie-secure",
            ));
        }
        if c.same_site == SameSite::None && !c.secure {
            return Err(invalid(
                "cookie-samesite",
                "SameSite=None is refused by browsers without cookie-secure",
            ));
        }
        if !c.path.starts_with('/') || c.path.bytes().any(|b| b == b';' || b.is_ascii_control()) {
            return Err(invalid("cookie-path", "must be a path"));
        }
        if let Some(d) = &c.domain
            && (d.is_empty()
                || !d
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
        {
            return Err(invalid("cookie-domain", "must be a domain name"));
        }
        if c.expire < Duration::from_secs(60) {
            return Err(invalid("cookie-expire", "must be a minute at least"));
        }
        if !c.refresh.is_zero() && c.refresh >= c.expire {
            return Err(invalid("cookie-refresh", "must be less than cookie-expire"));
        }
        if c.csrf_expire < Duration::from_secs(60) {
            return Err(invalid("cookie-csrf-expire", "must be a minute at least"));
        }
        Ok(())
    }
}
