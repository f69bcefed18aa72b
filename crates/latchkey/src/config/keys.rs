//! The table of known keys: each setting's name, kind, default, check and meaning, once. The
//! file's key names, the environment's `LATCHKEY_*` names and the flags' names all come from it.

use std::sync::LazyLock;

use crate::role::Role;
use toml::Value;

use super::proxy_keys::PROXY_KEYS;

pub(super) const ENV_PREFIX: &str = "LATCHKEY_";

/// Names the config file; read directly, not a configuration key.
pub(super) const CONFIG_ENV: &str = "LATCHKEY_CONFIG";

/// Suffix of the key (`_file`) or variable (`_FILE`) naming a file that holds a secret.
pub(super) const FILE_SUFFIX: &str = "_file";

const MIN_ENCRYPTION_KEY_LEN: usize = 16;

/// Type of a key's value; environment variables and flags are parsed accordingly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Str,
    Bool,
    Int,
    /// Comma-separated in the environment, an array of strings in the file.
    List,
    /// An array of tables (`[[proxy.upstream]]`): in the file only.
    Tables,
}

impl Kind {
    pub(super) fn describe(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Bool => "a boolean",
            Kind::Int => "a non-negative integer",
            Kind::List => "an array of strings",
            Kind::Tables => "an array of tables",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Fallback {
    /// Unset unless configured.
    None,
    /// Parsed by the key's [`Kind`] like an environment value.
    Value(&'static str),
    /// Computed when the configuration is resolved; the text documents it.
    Derived(&'static str),
}

/// Validation applied to the merged value.
#[derive(Clone, Copy, Debug)]
pub(super) enum Check {
    Any,
    NonEmpty,
    SocketAddr,
    /// Absolute http(s) URL without query or fragment; trailing slashes are removed.
    HttpUrl,
    DatabaseUrl,
    MinLen(usize),
    OneOf(&'static [&'static str]),
    Positive,
    /// A TCP port, 1 to 65535.
    Port,
    /// One DNS label: letters, digits and inner hyphens, at most 63.
    DnsLabel,
    /// Each item an IP address (`10.0.0.1`, `::1`) or a CIDR range (`10.0.0.0/8`).
    IpOrCidr,
    /// A Go duration as oauth2-proxy writes them (`168h`, `1h30m`, `90s`, `0`).
    Duration,
    /// A URL path: a leading slash, none at the end (`/oauth2`).
    Path,
    /// `[[proxy.upstream]]` tables: `url` and the optional rules.
    Upstreams,
}

pub(super) struct Spec {
    pub(super) name: &'static str,
    pub(super) kind: Kind,
    /// Also accepts `<name>_file` / `LATCHKEY_<NAME>_FILE`; never echoed in messages.
    pub(super) secret: bool,
    pub(super) default: Fallback,
    pub(super) check: Check,
    pub(super) doc: &'static str,
}

/// Upper bound of every lifetime, in seconds.
pub(super) const MAX_LIFETIME: u64 = 10 * 365 * 24 * 3600;

/// Keys that are gone, with what to tell a configuration that still sets them (in the file or
/// as `LATCHKEY_*`): they are unknown keys like any other, with this said too.
const REMOVED_KEYS: &[(&str, &str)] = &[
    (
        "idp.session_lifetime",
        "`idp.session_lifetime` (seconds) was removed: it was never used. The idp's sign-in lasts \
         `idp.session_duration` minutes (`LATCHKEY_IDP_SESSION_DURATION`, default 60)",
    ),
    (
        "tsidp.session_lifetime",
        "`tsidp.session_lifetime` was removed: it was never used (the tsidp role has no browser \
         session of its own)",
    ),
];

/// Keys outside the role sections (names may contain a dot for role-specific sections).
pub(super) const GLOBAL_KEYS: &[Spec] = &[
    Spec {
        name: "data_dir",
        kind: Kind::Str,
        secret: false,
        default: Fallback::Value("./data"),
        check: Check::NonEmpty,
        doc: "Directory for the SQLite database, the generated encryption key and other state.",
    },
    Spec {
        name: "database_url",
        kind: Kind::Str,
        // It may hold a password: never echoed, and may be read from a file.
        secret: true,
        default: Fallback::Derived("`sqlite://<data_dir>/latchkey.db`"),
        check: Check::DatabaseUrl,
        doc: "Database: `sqlite://PATH`, or `postgres://…` / `postgresql://…` (needed to run several replicas). For PostgreSQL over TLS add libpq's `sslmode` (`disable`, `prefer` (the default, except to a loopback address or a Unix socket, which stay plain unless `sslmode` is given), `require`, `verify-ca`, `verify-full`) and `sslrootcert=/path/ca.pem`, e.g. `postgres://latchkey@db/latchkey?sslmode=verify-full&sslrootcert=/etc/latchkey/db-ca.pem`.",
    },
    Spec {
        name: "encryption_key",
        kind: Kind::Str,
        secret: true,
        default: Fallback::None,
        check: Check::MinLen(MIN_ENCRYPTION_KEY_LEN),
        doc: "Secret (at least 16 bytes) from which the keys encrypting data at rest are derived. When unset, one is generated and kept in the data directory.",
    },
    Spec {
        name: "log_format",
        kind: Kind::Str,
        secret: false,
        default: Fallback::Value("text"),
        check: Check::OneOf(&["text", "json"]),
        doc: "Log output format: `text` or `json`.",
    },
    Spec {
        name: "log_level",
        kind: Kind::Str,
        secret: false,
        default: Fallback::Value("info"),
        check: Check::NonEmpty,
        doc: "Log filter in `tracing` syntax, e.g. `info` or `warn,latchkey=debug`.",
    },
    Spec {
        name: "metrics_listen",
        kind: Kind::Str,
        secret: false,
        default: Fallback::None,
        check: Check::SocketAddr,
        doc: "Address (IP:port) of a dedicated Prometheus `/metrics` listener. When unset, `/metrics` is served on each role's listener to loopback callers only.",
    },
    Spec {
        name: "idp.session_duration",
        kind: Kind::Int,
        secret: false,
        default: Fallback::Value("60"),
        check: Check::Positive,
        doc: "How long a sign-in to the idp lasts, in minutes: the browser session a passkey ceremony opens. At most 10 years.",
    },
    Spec {
        name: "idp.trusted_proxies",
        kind: Kind::List,
        secret: false,
        default: Fallback::None,
        check: Check::IpOrCidr,
        doc: "IP addresses or CIDR ranges of the reverse proxies in front of the idp (e.g. `127.0.0.1,::1,10.0.0.0/8`): from these, the last `X-Forwarded-For` hop is believed to be the caller. Callers connecting from anywhere else are taken at their TCP address. When unset, no proxy is trusted.",
    },
    Spec {
        name: "idp.webauthn_user_verification",
        kind: Kind::Str,
        secret: false,
        default: Fallback::Value("required"),
        check: Check::OneOf(&["required", "preferred"]),
        doc: "`required` or `preferred`: whether a passkey must verify the person (PIN, biometrics) to sign in and to be registered; `preferred` also accepts authenticators that only test presence.",
    },
    Spec {
        name: "idp.webauthn_authenticator_attachment",
        kind: Kind::Str,
        secret: false,
        default: Fallback::Value("any"),
        check: Check::OneOf(&["any", "platform", "cross-platform"]),
        doc: "Which authenticators may register a passkey: `any`, `platform` (built into the device: Windows Hello, Touch ID, Android) or `cross-platform` (security keys, a phone nearby).",
    },
    Spec {
        name: "idp.webauthn_allow_synced_passkeys",
        kind: Kind::Bool,
        secret: false,
        default: Fallback::Value("true"),
        check: Check::Any,
        doc: "Accept passkeys that can be synced between devices (backup eligible: iCloud Keychain, Google Password Manager, password managers). `false` accepts only device-bound ones, such as security keys.",
    },
    Spec {
        name: "tsidp.tailscaled_socket",
        kind: Kind::Str,
        secret: false,
        default: Fallback::Value("/var/run/tailscale/tailscaled.sock"),
        check: Check::NonEmpty,
        doc: "Unix socket of tailscaled's LocalAPI, asked who is connecting.",
    },
    Spec {
        name: "tsidp.trusted_proxies",
        kind: Kind::List,
        secret: false,
        default: Fallback::None,
        check: Check::Any,
        doc: "IP addresses of local proxies (e.g. `127.0.0.1,::1` behind `tailscale serve`) whose last `X-Forwarded-For` hop names the caller. Callers connecting from anywhere else are taken at their TCP address. When unset, `tsidp.listen` is a loopback address and `tsidp.hostname`, `tsidp.https_port` or tsidp's `-local-port` is set (so `tailscale serve` is in front, as for tsidp), `127.0.0.1` and `::1`.",
    },
    Spec {
        name: "tsidp.allow_tagged",
        kind: Kind::Bool,
        secret: false,
        default: Fallback::Value("false"),
        check: Check::Any,
        doc: "Sign in tagged nodes (machines, not people). tsidp refuses them; so does Latchkey unless this is set.",
    },
    Spec {
        name: "tsidp.enable_sts",
        kind: Kind::Bool,
        secret: false,
        default: Fallback::Value("false"),
        check: Check::Any,
        doc: "RFC 8693 token exchange at `/token`, governed by the caller's grant `users`/`resources`.",
    },
    Spec {
        name: "tsidp.hostname",
        kind: Kind::Str,
        secret: false,
        default: Fallback::None,
        check: Check::DnsLabel,
        doc: "Tailnet name of the tsidp role. With `tsidp.public_url` unset, the issuer is `https://HOSTNAME.<MagicDNS suffix>`, the suffix asked from tailscaled at startup; expose it with `tailscale serve` (`--service=svc:HOSTNAME` unless HOSTNAME is this machine's name).",
    },
    Spec {
        name: "tsidp.https_port",
        kind: Kind::Int,
        secret: false,
        default: Fallback::None,
        check: Check::Port,
        doc: "Port of the HTTPS endpoint `tailscale serve` offers on the tailnet in front of `tsidp.listen` (443 when unset). A derived issuer ends in `:PORT` unless it is 443.",
    },
];

/// Keys every role section has (issuer roles add [`ISSUER_KEYS`], the proxy its own). `listen`
/// and `public_url` defaults come from [`RoleDef`]; `enabled` is resolved by
/// [`super::validate::resolve`].
pub(super) const ROLE_KEYS: &[Spec] = &[
    Spec {
        name: "enabled",
        kind: Kind::Bool,
        secret: false,
        default: Fallback::Derived("see meaning"),
        check: Check::Any,
        doc: "Run this role under `latchkey serve`. If no role sets `enabled` anywhere, only `idp` runs; once one does, unset roles are off. `latchkey idp` / `latchkey tsidp` / `latchkey proxy` run just that role.",
    },
    Spec {
        name: "listen",
        kind: Kind::Str,
        secret: false,
        default: Fallback::Derived("per role"),
        check: Check::SocketAddr,
        doc: "Address (IP:port) the role listens on.",
    },
    Spec {
        name: "public_url",
        kind: Kind::Str,
        secret: false,
        default: Fallback::Derived("per role"),
        check: Check::HttpUrl,
        doc: "External URL of the role (for `idp` and `tsidp` their OIDC issuer; for `proxy` the origin people reach it at): absolute http(s) URL without query or fragment; a trailing slash is removed.",
    },
];

/// Keys of the roles that are OpenID Providers (`idp`, `tsidp`), beside [`ROLE_KEYS`].
pub(super) const ISSUER_KEYS: &[Spec] = &[
    Spec {
        name: "dynamic_registration",
        kind: Kind::Bool,
        secret: false,
        default: Fallback::Value("false"),
        check: Check::Any,
        doc: "Allow OAuth dynamic client registration (RFC 7591).",
    },
    Spec {
        name: "access_token_lifetime",
        kind: Kind::Int,
        secret: false,
        default: Fallback::Value("3600"),
        check: Check::Positive,
        doc: "Access token lifetime, in seconds.",
    },
    Spec {
        name: "id_token_lifetime",
        kind: Kind::Int,
        secret: false,
        default: Fallback::Value("3600"),
        check: Check::Positive,
        doc: "ID token lifetime, in seconds.",
    },
    Spec {
        name: "refresh_token_lifetime",
        kind: Kind::Int,
        secret: false,
        default: Fallback::Value("2592000"),
        check: Check::Positive,
        doc: "Refresh token lifetime, in seconds (default 30 days).",
    },
    Spec {
        name: "code_lifetime",
        kind: Kind::Int,
        secret: false,
        default: Fallback::Value("60"),
        check: Check::Positive,
        doc: "Authorization code lifetime, in seconds.",
    },
];

/// A role: a `[section]` holding [`ROLE_KEYS`] (and [`ISSUER_KEYS`] for an issuer).
pub(super) struct RoleDef {
    pub(super) role: Role,
    /// An OpenID Provider (its section has [`ISSUER_KEYS`]; clients and keys belong to it).
    pub(super) issuer: bool,
    /// Whether the role runs when no role sets `enabled`.
    pub(super) enabled_by_default: bool,
    pub(super) listen: &'static str,
    pub(super) public_url: &'static str,
}

/// The first entry is the primary role of `serve` and of commands not naming a role.
pub(super) const ROLES: &[RoleDef] = &[
    RoleDef {
        role: Role::Idp,
        issuer: true,
        enabled_by_default: true,
        listen: "127.0.0.1:1411",
        public_url: "http://localhost:1411",
    },
    RoleDef {
        role: Role::Tsidp,
        issuer: true,
        enabled_by_default: false,
        listen: "127.0.0.1:1412",
        public_url: "http://localhost:1412",
    },
    // oauth2-proxy's port.
    RoleDef {
        role: Role::Proxy,
        issuer: false,
        enabled_by_default: false,
        listen: "127.0.0.1:4180",
        public_url: "http://localhost:4180",
    },
];

/// Top-level keys (and `LATCHKEY_*` variables, flags) that set the role key of the same name
/// for the primary role; the role's own key in the same layer wins.
pub(super) const SHORTHANDS: &[&str] = &["listen", "public_url"];

/// One known key with its full path.
pub(super) struct Key {
    pub(super) path: String,
    pub(super) env: String,
    pub(super) kind: Kind,
    pub(super) secret: bool,
    pub(super) default: Fallback,
    pub(super) check: Check,
    pub(super) doc: &'static str,
}

pub(super) static KEYS: LazyLock<Vec<Key>> = LazyLock::new(|| {
    let key = |path: String, spec: &Spec, default: Fallback| Key {
        env: env_name(&path),
        path,
        kind: spec.kind,
        secret: spec.secret,
        default,
        check: spec.check,
        doc: spec.doc,
    };
    let mut keys: Vec<Key> = GLOBAL_KEYS
        .iter()
        .map(|spec| key(spec.name.to_owned(), spec, spec.default))
        .collect();
    for def in ROLES {
        let issuer_keys = if def.issuer { ISSUER_KEYS } else { &[] };
        for spec in ROLE_KEYS.iter().chain(issuer_keys) {
            let default = match spec.name {
                "listen" => Fallback::Value(def.listen),
                "public_url" => Fallback::Value(def.public_url),
                "enabled" if def.enabled_by_default => {
                    Fallback::Derived("`true` if no role sets `enabled`, else `false`")
                }
                "enabled" => Fallback::Derived("`false`"),
                _ => spec.default,
            };
            keys.push(key(format!("{}.{}", def.role, spec.name), spec, default));
        }
    }
    keys.extend(
        PROXY_KEYS
            .iter()
            .map(|spec| key(spec.name.to_owned(), spec, spec.default)),
    );
    keys
});

pub(super) fn env_name(path: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        path.to_ascii_uppercase().replace('.', "_")
    )
}

/// `--data-dir` for `data_dir`; a role's own key drops its section (`--tailscaled-socket`).
pub(super) fn flag_name(key: &str) -> String {
    let name = key.rsplit('.').next().unwrap_or(key);
    format!("--{}", name.replace('_', "-"))
}

pub(super) fn find_key(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.path == path)
}

pub(super) fn is_section(path: &str) -> bool {
    KEYS.iter().any(|key| {
        key.path
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Names of the issuer roles, for the command line's `--role` (clients and keys are theirs).
pub fn role_names() -> impl Iterator<Item = &'static str> {
    ROLES
        .iter()
        .filter(|def| def.issuer)
        .map(|def| def.role.as_str())
}

pub(super) fn file_names() -> Vec<String> {
    let keys = KEYS.iter().map(|key| key.path.clone());
    let files = KEYS
        .iter()
        .filter(|key| key.secret)
        .map(|key| format!("{}{FILE_SUFFIX}", key.path));
    let shorthands = SHORTHANDS.iter().map(|name| name.to_string());
    keys.chain(files).chain(shorthands).collect()
}

pub(super) fn env_names() -> Vec<String> {
    let keys = KEYS.iter().map(|key| key.env.clone());
    let files = KEYS
        .iter()
        .filter(|key| key.secret)
        .map(|key| format!("{}_FILE", key.env));
    let shorthands = SHORTHANDS.iter().map(|name| env_name(name));
    keys.chain(files).chain(shorthands).collect()
}

/// Parses an environment, flag or built-in value.
pub(super) fn parse_text(kind: Kind, text: &str) -> Result<Value, String> {
    match kind {
        Kind::Str => Ok(Value::String(text.to_owned())),
        Kind::Bool => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Value::Boolean(true)),
            "false" | "0" => Ok(Value::Boolean(false)),
            _ => Err(format!("expected true, false, 1 or 0, got {text:?}")),
        },
        Kind::Int => text
            .trim()
            .parse::<u64>()
            .ok()
            .and_then(|n| i64::try_from(n).ok())
            .map(Value::Integer)
            .ok_or_else(|| format!("expected a non-negative integer, got {text:?}")),
        Kind::Tables => Err("set it in the config file only, as tables".to_owned()),
        Kind::List => Ok(Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Value::String(item.to_owned()))
                .collect(),
        )),
    }
}

/// "unknown {what}", with a suggestion from `candidates` when one is close, or what became of
/// a removed key. `name` is a dotted path or an environment variable.
pub(super) fn unknown(what: &str, name: &str, candidates: Vec<String>) -> String {
    if let Some((_, hint)) = REMOVED_KEYS
        .iter()
        .find(|(path, _)| *path == name || env_name(path) == name)
    {
        return format!("unknown {what}: {hint}");
    }
    let last = |s: &str| s.rsplit('.').next().unwrap_or_default().to_owned();
    let best = candidates
        .into_iter()
        .map(|candidate| (edit_distance(name, &candidate), candidate))
        .filter(|(distance, candidate)| distance * 3 <= name.len() || last(candidate) == last(name))
        .min();
    match best {
        Some((_, candidate)) => format!("unknown {what} (did you mean `{candidate}`?)"),
        None => format!("unknown {what}"),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}
