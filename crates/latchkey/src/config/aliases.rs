//! Other programs' names for our settings: Pocket ID's variables (`APP_URL`, `HOST`,
//! `TRUST_PROXY`, …), tsidp's `TS_*` / `TSIDP_*` variables and its Go-style flags. They are read
//! below our own names in the same layer; where tsidp's count at all is [`super::tsidp`]'s
//! business, what Pocket ID's imply beyond a value is [`super::pocket_id`]'s.

use std::net::{IpAddr, Ipv4Addr};

use anyhow::Result;
use toml::{Table, Value};

use super::Overrides;
use super::keys::{Key, Kind, find_key, parse_text};

/// Whose name an [`Alias`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    PocketId,
    /// Tailscale's tsidp: read only where the tsidp role runs ([`super::tsidp::tsidp_in_scope`]).
    Tsidp,
    /// oauth2-proxy: `OAUTH2_PROXY_*` variables and its flags after `latchkey proxy`; they set
    /// `proxy.*` keys only.
    OAuth2Proxy,
}

impl Origin {
    pub(super) fn describe(self) -> &'static str {
        match self {
            Origin::PocketId => "Pocket ID",
            Origin::Tsidp => "tsidp",
            Origin::OAuth2Proxy => "oauth2-proxy",
        }
    }
}

/// How an alias's text becomes the key's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Convert {
    /// Parsed like the key's own variable.
    Same,
    /// A boolean as Go's `strconv.ParseBool` reads it (`1`, `t`, `true`, `0`, `f`, `FALSE`, …).
    GoBool,
    /// A port: `127.0.0.1:PORT`, where tsidp listens with `-local-port` (`localhost:PORT`)
    /// and where `tailscale serve` reaches it. `-1`, tsidp's "off", leaves the key unset.
    LoopbackPort,
    /// tsidp's log levels (`debug`, `info`, `warn`, `error`) as a `tracing` filter.
    TsidpLog,
    /// Pocket ID's `HOST`: the IP address part of a listen address (`localhost` is
    /// `127.0.0.1`). Gives the part alone; [`super::pocket_id::complete_listen`] adds the rest.
    ListenHost,
    /// Pocket ID's `PORT`: the port part of a listen address, 1 to 65535.
    ListenPort,
    /// Pocket ID's `DB_CONNECTION_STRING`: a SQLite file path or `file:` URI (its query, which
    /// holds Pocket ID's driver options, is dropped) becomes `sqlite://PATH`; a `postgres://` or
    /// `postgresql://` URL is kept as it is.
    PocketIdDatabase,
    /// Pocket ID's `TRUST_PROXY`: a Go boolean (`true`: [`TRUST_PROXY_TRUE`]; `false`: none) or
    /// a comma-separated list of IP addresses and CIDR ranges.
    TrustProxy,
    /// oauth2-proxy's `--http-address`: `[http://]HOST:PORT`, `:PORT` for every interface.
    HttpAddress,
}

/// What Pocket ID's `TRUST_PROXY=true` trusts in Latchkey: loopback and private networks, where
/// a reverse proxy in front usually is. (Pocket ID trusts every address then.)
pub(super) const TRUST_PROXY_TRUE: &[&str] = &[
    "127.0.0.0/8",
    "::1",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "fc00::/7",
];

/// A name of other software accepted for one of our settings, below our own names in the
/// same layer: `LATCHKEY_*` variables beat alias variables, our flags beat alias flags.
pub(super) struct Alias {
    /// Environment variable. Secret keys also accept it with `_FILE`.
    pub(super) env: &'static str,
    /// Go-style flag of `latchkey tsidp` (without its dash), given as a [`TsidpFlag`]; for
    /// oauth2-proxy's names, its flag after `latchkey proxy` (without its two dashes).
    pub(super) flag: Option<&'static str>,
    pub(super) sets: Sets,
    pub(super) convert: Convert,
    pub(super) origin: Origin,
}

/// What an [`Alias`] sets.
#[derive(Clone, Copy, Debug)]
pub(super) enum Sets {
    /// This key.
    Key(&'static str),
    /// Nothing: Latchkey has no such setting. `notice` is logged at startup, `when` the value
    /// says so, where the role the name belongs to runs ([`super::tsidp::tsidp_notices`],
    /// [`super::pocket_id::pocket_id_notices`]).
    Nothing { when: When, notice: &'static str },
}

/// When a [`Sets::Nothing`] alias is told about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum When {
    /// Whenever it is set (empty variables are ignored).
    Set,
    /// When it is this boolean, read as Go reads it; a value that is no boolean is an error.
    Is(bool),
}

pub(super) const ALIASES: &[Alias] = &[
    Alias {
        env: "APP_URL",
        flag: None,
        sets: Sets::Key("idp.public_url"),
        convert: Convert::Same,
        origin: Origin::PocketId,
    },
    Alias {
        env: "ENCRYPTION_KEY",
        flag: None,
        sets: Sets::Key("encryption_key"),
        convert: Convert::Same,
        origin: Origin::PocketId,
    },
    Alias {
        env: "HOST",
        flag: None,
        sets: Sets::Key("idp.listen"),
        convert: Convert::ListenHost,
        origin: Origin::PocketId,
    },
    Alias {
        env: "PORT",
        flag: None,
        sets: Sets::Key("idp.listen"),
        convert: Convert::ListenPort,
        origin: Origin::PocketId,
    },
    Alias {
        env: "DB_CONNECTION_STRING",
        flag: None,
        sets: Sets::Key("database_url"),
        convert: Convert::PocketIdDatabase,
        origin: Origin::PocketId,
    },
    Alias {
        env: "TRUST_PROXY",
        flag: None,
        sets: Sets::Key("idp.trusted_proxies"),
        convert: Convert::TrustProxy,
        origin: Origin::PocketId,
    },
    Alias {
        env: "SESSION_DURATION",
        flag: None,
        sets: Sets::Key("idp.session_duration"),
        convert: Convert::Same,
        origin: Origin::PocketId,
    },
    Alias {
        env: "WEBAUTHN_USER_VERIFICATION",
        flag: None,
        sets: Sets::Key("idp.webauthn_user_verification"),
        convert: Convert::Same,
        origin: Origin::PocketId,
    },
    Alias {
        env: "WEBAUTHN_AUTHENTICATOR_ATTACHMENT",
        flag: None,
        sets: Sets::Key("idp.webauthn_authenticator_attachment"),
        convert: Convert::Same,
        origin: Origin::PocketId,
    },
    Alias {
        env: "WEBAUTHN_ALLOW_SYNCED_PASSKEYS",
        flag: None,
        sets: Sets::Key("idp.webauthn_allow_synced_passkeys"),
        convert: Convert::GoBool,
        origin: Origin::PocketId,
    },
    Alias {
        env: "UNIX_SOCKET",
        flag: None,
        sets: Sets::Nothing {
            when: When::Set,
            notice: "Latchkey listens on TCP only, on `idp.listen` (HOST and PORT); put a \
                     reverse proxy in front to serve a unix socket.",
        },
        convert: Convert::Same,
        origin: Origin::PocketId,
    },
    Alias {
        env: "SYSTEMD_SOCKET",
        flag: None,
        sets: Sets::Nothing {
            when: When::Is(true),
            notice: "Latchkey does not take its socket from systemd; it binds `idp.listen` \
                     (HOST and PORT) itself.",
        },
        convert: Convert::GoBool,
        origin: Origin::PocketId,
    },
    Alias {
        env: "TLS_CERT",
        flag: None,
        sets: Sets::Nothing {
            when: When::Set,
            notice: "Latchkey serves plain HTTP: terminate TLS in a reverse proxy in front \
                     (and list it in `idp.trusted_proxies` or TRUST_PROXY).",
        },
        convert: Convert::Same,
        origin: Origin::PocketId,
    },
    Alias {
        env: "TLS_CERT_FILE",
        flag: None,
        sets: Sets::Nothing {
            when: When::Set,
            notice: "Latchkey serves plain HTTP: terminate TLS in a reverse proxy in front \
                     (and list it in `idp.trusted_proxies` or TRUST_PROXY).",
        },
        convert: Convert::Same,
        origin: Origin::PocketId,
    },
    Alias {
        env: "PROXY_PROTOCOL",
        flag: None,
        sets: Sets::Nothing {
            when: When::Set,
            notice: "Latchkey does not read the PROXY protocol: have the proxy send \
                     X-Forwarded-For instead, and list it in `idp.trusted_proxies` or \
                     TRUST_PROXY.",
        },
        convert: Convert::Same,
        origin: Origin::PocketId,
    },
    Alias {
        env: "TRUSTED_PLATFORM",
        flag: None,
        sets: Sets::Nothing {
            when: When::Set,
            notice: "Latchkey takes the caller's address from X-Forwarded-For sent by a trusted \
                     proxy (`idp.trusted_proxies`, TRUST_PROXY), never from a platform's own \
                     header.",
        },
        convert: Convert::Same,
        origin: Origin::PocketId,
    },
    Alias {
        env: "MAXMIND_LICENSE_KEY",
        flag: None,
        sets: Sets::Nothing {
            when: When::Set,
            notice: "Latchkey does no GeoIP lookups: the audit log records addresses without \
                     locations.",
        },
        convert: Convert::Same,
        origin: Origin::PocketId,
    },
    Alias {
        env: "SMTP_HOST",
        flag: None,
        sets: Sets::Nothing {
            when: When::Set,
            notice: "Latchkey sends no email (SMTP_* is ignored): no sign-in notifications, \
                     login codes or verification mails.",
        },
        convert: Convert::Same,
        origin: Origin::PocketId,
    },
    Alias {
        env: "LDAP_ENABLED",
        flag: None,
        sets: Sets::Nothing {
            when: When::Is(true),
            notice: "Latchkey does not sync from LDAP (LDAP_* is ignored): users and groups \
                     live in its own directory (`latchkey users`, `latchkey groups`).",
        },
        convert: Convert::GoBool,
        origin: Origin::PocketId,
    },
    Alias {
        env: "STATIC_API_KEY",
        flag: None,
        sets: Sets::Nothing {
            when: When::Set,
            notice: "Latchkey has no static API key: manage users, groups and clients with \
                     the `latchkey` commands.",
        },
        convert: Convert::Same,
        origin: Origin::PocketId,
    },
    Alias {
        env: "TS_STATE_DIR",
        flag: Some("dir"),
        sets: Sets::Key("data_dir"),
        convert: Convert::Same,
        origin: Origin::Tsidp,
    },
    Alias {
        env: "TS_HOSTNAME",
        flag: Some("hostname"),
        sets: Sets::Key("tsidp.hostname"),
        convert: Convert::Same,
        origin: Origin::Tsidp,
    },
    Alias {
        env: "TSIDP_PORT",
        flag: Some("port"),
        sets: Sets::Key("tsidp.https_port"),
        convert: Convert::Same,
        origin: Origin::Tsidp,
    },
    Alias {
        env: "TSIDP_LOCAL_PORT",
        flag: Some("local-port"),
        sets: Sets::Key("tsidp.listen"),
        convert: Convert::LoopbackPort,
        origin: Origin::Tsidp,
    },
    Alias {
        env: "TSIDP_ENABLE_STS",
        flag: Some("enable-sts"),
        sets: Sets::Key("tsidp.enable_sts"),
        convert: Convert::GoBool,
        origin: Origin::Tsidp,
    },
    Alias {
        env: "TSIDP_LOG",
        flag: Some("log"),
        sets: Sets::Key("log_level"),
        convert: Convert::TsidpLog,
        origin: Origin::Tsidp,
    },
    Alias {
        env: "TSIDP_USE_FUNNEL",
        flag: Some("funnel"),
        sets: Sets::Nothing {
            when: When::Is(true),
            notice: "Latchkey does not set up Funnel itself: run `tailscale funnel` in front of \
                     the tsidp listener. Funnel rules always apply: sign-in and client \
                     registration are refused over Funnel, tokens and discovery are not.",
        },
        convert: Convert::GoBool,
        origin: Origin::Tsidp,
    },
    Alias {
        env: "TSIDP_USE_LOCAL_TAILSCALED",
        flag: Some("use-local-tailscaled"),
        sets: Sets::Nothing {
            when: When::Is(false),
            notice: "Latchkey always uses the local tailscaled (`tsidp.tailscaled_socket`); it \
                     has no tailnet node of its own.",
        },
        convert: Convert::GoBool,
        origin: Origin::Tsidp,
    },
];

/// An oauth2-proxy option: `OAUTH2_PROXY_<KEY>` and `--<flag>` set `proxy.<key>`.
const fn oauth2_proxy(
    env: &'static str,
    flag: &'static str,
    key: &'static str,
    convert: Convert,
) -> Alias {
    Alias {
        env,
        flag: Some(flag),
        sets: Sets::Key(key),
        convert,
        origin: Origin::OAuth2Proxy,
    }
}

/// oauth2-proxy's names for the proxy role's keys. Its booleans are read as Go reads them.
pub(super) const OAUTH2_PROXY_ALIASES: &[Alias] = &[
    oauth2_proxy(
        "OAUTH2_PROXY_HTTP_ADDRESS",
        "http-address",
        "proxy.listen",
        Convert::HttpAddress,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_PROVIDER",
        "provider",
        "proxy.provider",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_OIDC_ISSUER_URL",
        "oidc-issuer-url",
        "proxy.oidc_issuer_url",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_CLIENT_ID",
        "client-id",
        "proxy.client_id",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_CLIENT_SECRET",
        "client-secret",
        "proxy.client_secret",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_REDIRECT_URL",
        "redirect-url",
        "proxy.redirect_url",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_UPSTREAMS",
        "upstream",
        "proxy.upstreams",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_TRUSTED_IPS",
        "trusted-ip",
        "proxy.trusted_ips",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_REVERSE_PROXY",
        "reverse-proxy",
        "proxy.reverse_proxy",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_TRUSTED_PROXY_IPS",
        "trusted-proxy-ip",
        "proxy.trusted_proxy_ips",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_REAL_CLIENT_IP_HEADER",
        "real-client-ip-header",
        "proxy.real_client_ip_header",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_EMAIL_DOMAINS",
        "email-domain",
        "proxy.email_domains",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_AUTHENTICATED_EMAILS_FILE",
        "authenticated-emails-file",
        "proxy.authenticated_emails_file",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_BACKEND_LOGOUT_URL",
        "backend-logout-url",
        "proxy.backend_logout_url",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_SESSION_STORE_TYPE",
        "session-store-type",
        "proxy.session_store_type",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_REDIS_CONNECTION_URL",
        "redis-connection-url",
        "proxy.redis_connection_url",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_METRICS_ADDRESS",
        "metrics-address",
        "metrics_listen",
        Convert::HttpAddress,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_SKIP_JWT_BEARER_TOKENS",
        "skip-jwt-bearer-tokens",
        "proxy.skip_jwt_bearer_tokens",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_EXTRA_JWT_ISSUERS",
        "extra-jwt-issuers",
        "proxy.extra_jwt_issuers",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_ALLOWED_GROUPS",
        "allowed-group",
        "proxy.allowed_groups",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_COOKIE_NAME",
        "cookie-name",
        "proxy.cookie_name",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_COOKIE_SECRET",
        "cookie-secret",
        "proxy.cookie_secret",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_COOKIE_SECURE",
        "cookie-secure",
        "proxy.cookie_secure",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_COOKIE_DOMAINS",
        "cookie-domain",
        "proxy.cookie_domains",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_COOKIE_EXPIRE",
        "cookie-expire",
        "proxy.cookie_expire",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_COOKIE_REFRESH",
        "cookie-refresh",
        "proxy.cookie_refresh",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_SKIP_AUTH_ROUTES",
        "skip-auth-route",
        "proxy.skip_auth_routes",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_SKIP_AUTH_PREFLIGHT",
        "skip-auth-preflight",
        "proxy.skip_auth_preflight",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_API_ROUTES",
        "api-route",
        "proxy.api_routes",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_WHITELIST_DOMAINS",
        "whitelist-domain",
        "proxy.whitelist_domains",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_PASS_ACCESS_TOKEN",
        "pass-access-token",
        "proxy.pass_access_token",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_PASS_BASIC_AUTH",
        "pass-basic-auth",
        "proxy.pass_basic_auth",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_SET_BASIC_AUTH",
        "set-basic-auth",
        "proxy.set_basic_auth",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_BASIC_AUTH_PASSWORD",
        "basic-auth-password",
        "proxy.basic_auth_password",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_SET_AUTHORIZATION_HEADER",
        "set-authorization-header",
        "proxy.set_authorization_header",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_PASS_AUTHORIZATION_HEADER",
        "pass-authorization-header",
        "proxy.pass_authorization_header",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_SET_XAUTHREQUEST",
        "set-xauthrequest",
        "proxy.set_xauthrequest",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_PASS_HOST_HEADER",
        "pass-host-header",
        "proxy.pass_host_header",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_PREFER_EMAIL_TO_USER",
        "prefer-email-to-user",
        "proxy.prefer_email_to_user",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_SKIP_PROVIDER_BUTTON",
        "skip-provider-button",
        "proxy.skip_provider_button",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_UPSTREAM_TIMEOUT",
        "upstream-timeout",
        "proxy.upstream_timeout",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_PROXY_PREFIX",
        "proxy-prefix",
        "proxy.proxy_prefix",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_PING_PATH",
        "ping-path",
        "proxy.ping_path",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_READY_PATH",
        "ready-path",
        "proxy.ready_path",
        Convert::Same,
    ),
    oauth2_proxy("OAUTH2_PROXY_SCOPE", "scope", "proxy.scope", Convert::Same),
    oauth2_proxy(
        "OAUTH2_PROXY_INSECURE_OIDC_ALLOW_UNVERIFIED_EMAIL",
        "insecure-oidc-allow-unverified-email",
        "proxy.insecure_oidc_allow_unverified_email",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_PASS_USER_HEADERS",
        "pass-user-headers",
        "proxy.pass_user_headers",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_FORCE_JSON_ERRORS",
        "force-json-errors",
        "proxy.force_json_errors",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_COOKIE_PATH",
        "cookie-path",
        "proxy.cookie_path",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_COOKIE_HTTPONLY",
        "cookie-httponly",
        "proxy.cookie_httponly",
        Convert::GoBool,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_COOKIE_SAMESITE",
        "cookie-samesite",
        "proxy.cookie_samesite",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_COOKIE_CSRF_EXPIRE",
        "cookie-csrf-expire",
        "proxy.cookie_csrf_expire",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_PROVIDER_DISPLAY_NAME",
        "provider-display-name",
        "proxy.provider_display_name",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_OIDC_EMAIL_CLAIM",
        "oidc-email-claim",
        "proxy.oidc_email_claim",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_OIDC_GROUPS_CLAIM",
        "oidc-groups-claim",
        "proxy.oidc_groups_claim",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_USER_ID_CLAIM",
        "user-id-claim",
        "proxy.user_id_claim",
        Convert::Same,
    ),
    oauth2_proxy(
        "OAUTH2_PROXY_OIDC_ENABLED_SIGNING_ALGS",
        "oidc-enabled-signing-alg",
        "proxy.oidc_enabled_signing_algs",
        Convert::Same,
    ),
];

/// Every alias: Pocket ID's and tsidp's, then oauth2-proxy's.
pub(super) fn all_aliases() -> impl Iterator<Item = &'static Alias> {
    ALIASES.iter().chain(OAUTH2_PROXY_ALIASES)
}

/// oauth2-proxy's flags that `latchkey proxy` takes, and whether each is a boolean (given
/// alone or as `--name=BOOL`). A list flag may be repeated; its values add up.
pub fn oauth2_proxy_flags() -> impl Iterator<Item = (&'static str, bool)> {
    OAUTH2_PROXY_ALIASES.iter().filter_map(|alias| {
        let flag = alias.flag?;
        Some((flag, alias.convert == Convert::GoBool))
    })
}

/// The secret keys' `--NAME-file` forms (`--client-secret-file`, `--cookie-secret-file`).
pub(super) fn oauth2_proxy_file_flag(name: &str) -> Option<&'static Alias> {
    let base = name.strip_suffix("-file")?;
    OAUTH2_PROXY_ALIASES
        .iter()
        .find(|alias| alias.flag == Some(base) && alias.key().is_some_and(|key| key.secret))
}

/// One of oauth2-proxy's flags as given to `latchkey proxy` (repeats of a list flag joined
/// with commas, as its comma lists read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyFlag {
    pub name: String,
    pub value: String,
}

/// tsidp's variables for joining the tailnet as its own node (tsnet), which Latchkey does not
/// do: a warning says so when the tsidp role runs. Not an error: Tailscale's own container
/// reads the same names, so they may well be meant for a tailscaled beside us.
pub(super) const TSNET_ONLY_ENV: &[&str] = &["TS_AUTHKEY", "TS_ADVERTISE_TAGS"];

/// One of tsidp's flags as given to `latchkey tsidp`: its name (an [`Alias`]'s `flag`) and
/// its value as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsidpFlag {
    pub name: &'static str,
    pub value: String,
}

/// The alias a variable name is, and whether it is the `_FILE` form of a secret's alias.
pub(super) fn env_alias(name: &str) -> Option<(&'static Alias, bool)> {
    let file_form = name.strip_suffix("_FILE");
    all_aliases().find_map(|alias| {
        if alias.env == name {
            return Some((alias, false));
        }
        let secret = alias.key().is_some_and(|key| key.secret);
        (secret && file_form == Some(alias.env)).then_some((alias, true))
    })
}

impl Alias {
    pub(super) fn key(&self) -> Option<&'static Key> {
        match self.sets {
            Sets::Key(path) => Some(find_key(path).expect("aliases name known keys")),
            Sets::Nothing { .. } => None,
        }
    }

    /// The value `text` gives the key; `Ok(None)` leaves it unset.
    pub(super) fn convert(&self, kind: Kind, text: &str) -> Result<Option<Value>, String> {
        match self.convert {
            Convert::Same => parse_text(kind, text).map(Some),
            Convert::GoBool => go_bool(text).map(|on| Some(Value::Boolean(on))),
            Convert::LoopbackPort => match text.trim() {
                "-1" => Ok(None),
                port => port
                    .parse::<u16>()
                    .ok()
                    .filter(|port| *port != 0)
                    .map(|port| Some(Value::String(format!("127.0.0.1:{port}"))))
                    .ok_or_else(|| format!("expected a port number (1 to 65535), got {text:?}")),
            },
            Convert::TsidpLog => match text.trim() {
                // tsidp's debug level is its own messages, not every library's.
                "debug" => Ok(Some(Value::String("info,latchkey=debug".into()))),
                level @ ("info" | "warn" | "error") => Ok(Some(Value::String(level.into()))),
                _ => Err(format!(
                    "expected one of debug, info, warn, error, got {text:?}"
                )),
            },
            Convert::ListenHost => {
                listen_host(text).map(|ip| Some(listen_part("host", Value::String(ip.to_string()))))
            }
            Convert::ListenPort => text
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|port| *port != 0)
                .map(|port| Some(listen_part("port", Value::Integer(port.into()))))
                .ok_or_else(|| format!("expected a port number (1 to 65535), got {text:?}")),
            Convert::PocketIdDatabase => {
                pocket_id_database(text).map(|url| Some(Value::String(url)))
            }
            Convert::TrustProxy => match go_bool(text) {
                Ok(true) => Ok(Some(Value::Array(
                    TRUST_PROXY_TRUE
                        .iter()
                        .map(|range| Value::from(*range))
                        .collect(),
                ))),
                Ok(false) => Ok(Some(Value::Array(Vec::new()))),
                Err(_) => parse_text(Kind::List, text).map(Some),
            },
            Convert::HttpAddress => http_address(text).map(|addr| Some(Value::String(addr))),
        }
    }
}

/// One part of a listen address, as a table (`{host = "0.0.0.0"}`): [`super::layers`] merges
/// the parts given in one layer and [`super::pocket_id::complete_listen`] fills in the rest.
fn listen_part(name: &str, value: Value) -> Value {
    Value::Table(Table::from_iter([(name.to_owned(), value)]))
}

/// Pocket ID's `HOST`: Go listens on whatever it resolves; we take an IP address, and the one
/// name everybody uses for loopback.
fn listen_host(text: &str) -> Result<IpAddr, String> {
    let host = text.trim().to_ascii_lowercase();
    if host == "localhost" {
        return Ok(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(&host);
    bare.parse().map_err(|_| {
        format!(
            "expected the IP address to listen on, such as 0.0.0.0 (every IPv4 interface), :: or \
             127.0.0.1, got {text:?}"
        )
    })
}

/// Pocket ID's `DB_CONNECTION_STRING` as our `database_url`. Pocket ID takes PostgreSQL by
/// the URL's scheme and anything else as SQLite: a file path, or a `file:` URI whose query holds
/// driver options (`_pragma`, `_txlock`, …) that Latchkey sets its own way. The value is never
/// echoed: it may hold a password.
fn pocket_id_database(text: &str) -> Result<String, String> {
    let text = text.trim();
    if ["postgres://", "postgresql://", "sqlite://"]
        .iter()
        .any(|scheme| text.starts_with(scheme))
    {
        return Ok(text.to_owned());
    }
    let uri = text.strip_prefix("file:").unwrap_or(text);
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let in_memory = path.eq_ignore_ascii_case(":memory:")
        || url::form_urlencoded::parse(query.as_bytes())
            .any(|(name, value)| name == "mode" && value.eq_ignore_ascii_case("memory"));
    if in_memory {
        return Err(
            "an in-memory SQLite database would lose everything at exit; name a file, \
                    such as data/latchkey.db"
                .into(),
        );
    }
    if path.is_empty() || path.contains("://") {
        return Err(
            "expected a SQLite file path (such as data/latchkey.db), a `file:` URI, or a \
             postgres:// or postgresql:// URL"
                .into(),
        );
    }
    // As Go's filepath.Abs reads `file:///data/x.db` (and `file://data/x.db`): one leading slash.
    let path = match path.strip_prefix('/') {
        Some(rest) => format!("/{}", rest.trim_start_matches('/')),
        None => path.to_owned(),
    };
    Ok(format!("sqlite://{path}"))
}

/// oauth2-proxy's `--http-address` as a listen address: `http://` dropped, `:PORT` on every
/// interface. Its `unix://` and `fd:` forms are not supported.
fn http_address(text: &str) -> Result<String, String> {
    let text = text.trim();
    let addr = text.strip_prefix("http://").unwrap_or(text);
    let addr = match addr.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => addr.replace("localhost:", "127.0.0.1:"),
    };
    if addr.parse::<std::net::SocketAddr>().is_ok() {
        Ok(addr)
    } else {
        Err(format!(
            "expected HOST:PORT or :PORT with an IP address (unix sockets and fd: are not \
             supported), got {text:?}"
        ))
    }
}

/// A boolean as Go's `strconv.ParseBool` reads it.
pub(super) fn go_bool(text: &str) -> Result<bool, String> {
    match text.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!(
            "expected a boolean (true, false, 1 or 0), got {text:?}"
        )),
    }
}

/// Where and how an alias is given, if it is: a tsidp flag wins over the environment.
pub(super) fn alias_given<'a>(
    overrides: &'a Overrides,
    env: &'a [(String, String)],
    alias: &Alias,
) -> Option<(String, &'a str)> {
    let from_flag = overrides
        .tsidp_flags
        .iter()
        .rev()
        .find(|flag| Some(flag.name) == alias.flag)
        .map(|flag| (format!("-{}", flag.name), flag.value.as_str()));
    let from_env = || {
        env.iter()
            .rev()
            .find(|(name, value)| name == alias.env && !value.is_empty())
            .map(|(name, value)| (format!("environment variable {name}"), value.as_str()))
    };
    from_flag.or_else(from_env)
}
