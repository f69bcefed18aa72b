//! Latchkey's configuration, assembled from four layers, each overriding the previous one:
//! built-in defaults, a TOML file (`--config` or `LATCHKEY_CONFIG`), the environment
//! (`LATCHKEY_*`), and command-line flags.
//!
//! Every setting is described once, in [`GLOBAL_KEYS`] and, for each role in [`ROLES`], in
//! [`ROLE_KEYS`]. That table validates the file (unknown keys are errors), names the
//! environment variables (`idp.public_url` → `LATCHKEY_IDP_PUBLIC_URL`; unknown `LATCHKEY_*`
//! variables are errors too), and produces [`reference_markdown`] for the README.
//!
//! Each layer is first flattened to `dotted.path → value`, the layers are merged, and the
//! result is validated key by key (so errors name the key and the layer that set it) before
//! being deserialized into [`Config`].
//!
//! Names other software gives a setting (Pocket ID's `APP_URL`, tsidp's `TS_STATE_DIR` and
//! `-dir`, …) are [`ALIASES`]: read in the environment and flag layers below our own names.
//!
//! Adding a role (e.g. a proxy) takes: a [`ROLES`] entry, a [`Config`] field and a
//! [`Config::role`] arm, plus its own keys (as `"proxy.upstream"`) in [`GLOBAL_KEYS`].

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use anyhow::{Context, Result, anyhow, bail};
use latchkey_store::Role;
use serde::Deserialize;
use toml::{Table, Value};
use url::Url;

const ENV_PREFIX: &str = "LATCHKEY_";
/// Names the config file; read directly, not a configuration key.
const CONFIG_ENV: &str = "LATCHKEY_CONFIG";
/// Suffix of the key (`_file`) or variable (`_FILE`) naming a file that holds a secret.
const FILE_SUFFIX: &str = "_file";
const MIN_ENCRYPTION_KEY_LEN: usize = 16;

// ---------------------------------------------------------------------------------------------
// The table of known keys
// ---------------------------------------------------------------------------------------------

/// Type of a key's value; environment variables and flags are parsed accordingly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Str,
    Bool,
    Int,
    /// Comma-separated in the environment, an array of strings in the file.
    List,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Bool => "a boolean",
            Kind::Int => "a non-negative integer",
            Kind::List => "an array of strings",
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Fallback {
    /// Unset unless configured.
    None,
    /// Parsed by the key's [`Kind`] like an environment value.
    Value(&'static str),
    /// Computed when the configuration is resolved; the text documents it.
    Derived(&'static str),
}

/// Validation applied to the merged value.
#[derive(Clone, Copy, Debug)]
enum Check {
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
}

struct Spec {
    name: &'static str,
    kind: Kind,
    /// Also accepts `<name>_file` / `LATCHKEY_<NAME>_FILE`; never echoed in messages.
    secret: bool,
    default: Fallback,
    check: Check,
    doc: &'static str,
}

/// Upper bound of every lifetime, in seconds.
const MAX_LIFETIME: u64 = 10 * 365 * 24 * 3600;

/// Keys outside the role sections (names may contain a dot for role-specific sections).
const GLOBAL_KEYS: &[Spec] = &[
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
        secret: false,
        default: Fallback::Derived("`sqlite://<data_dir>/latchkey.db`"),
        check: Check::DatabaseUrl,
        doc: "Database: `sqlite://PATH`, or `postgres://…` / `postgresql://…` (needed to run several replicas).",
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

/// Keys every role section has. `listen` and `public_url` defaults come from [`RoleDef`];
/// `enabled` is resolved by [`resolve`].
const ROLE_KEYS: &[Spec] = &[
    Spec {
        name: "enabled",
        kind: Kind::Bool,
        secret: false,
        default: Fallback::Derived("see meaning"),
        check: Check::Any,
        doc: "Run this role under `latchkey serve`. If no role sets `enabled` anywhere, only `idp` runs; once one does, unset roles are off. `latchkey idp` / `latchkey tsidp` run just that role.",
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
        doc: "External URL of the role, and its OIDC issuer: absolute http(s) URL without query or fragment; a trailing slash is removed.",
    },
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
    Spec {
        name: "session_lifetime",
        kind: Kind::Int,
        secret: false,
        default: Fallback::Value("3600"),
        check: Check::Positive,
        doc: "Browser session lifetime, in seconds (for the idp's sign-in, which is not built yet; unused by tsidp).",
    },
];

/// A role: a `[section]` holding [`ROLE_KEYS`].
struct RoleDef {
    role: Role,
    /// Whether the role runs when no role sets `enabled`.
    enabled_by_default: bool,
    listen: &'static str,
    public_url: &'static str,
}

/// The first entry is the primary role of `serve` and of commands not naming a role.
const ROLES: &[RoleDef] = &[
    RoleDef {
        role: Role::Idp,
        enabled_by_default: true,
        listen: "127.0.0.1:1411",
        public_url: "http://localhost:1411",
    },
    RoleDef {
        role: Role::Tsidp,
        enabled_by_default: false,
        listen: "127.0.0.1:1412",
        public_url: "http://localhost:1412",
    },
];

/// Top-level keys (and `LATCHKEY_*` variables, flags) that set the role key of the same name
/// for the primary role; the role's own key in the same layer wins.
const SHORTHANDS: &[&str] = &["listen", "public_url"];

/// Whose name an [`Alias`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    PocketId,
    /// Tailscale's tsidp: read only where the tsidp role runs ([`tsidp_in_scope`]).
    Tsidp,
}

impl Origin {
    fn describe(self) -> &'static str {
        match self {
            Origin::PocketId => "Pocket ID",
            Origin::Tsidp => "tsidp",
        }
    }
}

/// How an alias's text becomes the key's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Convert {
    /// Parsed like the key's own variable.
    Same,
    /// A boolean as Go's `strconv.ParseBool` reads it (`1`, `t`, `true`, `0`, `f`, `FALSE`, …).
    GoBool,
    /// A port: `127.0.0.1:PORT`, where tsidp listens with `-local-port` (`localhost:PORT`)
    /// and where `tailscale serve` reaches it. `-1`, tsidp's "off", leaves the key unset.
    LoopbackPort,
    /// tsidp's log levels (`debug`, `info`, `warn`, `error`) as a `tracing` filter.
    TsidpLog,
}

/// A name of other software accepted for one of our settings, below our own names in the
/// same layer: `LATCHKEY_*` variables beat alias variables, our flags beat alias flags.
struct Alias {
    /// Environment variable. Secret keys also accept it with `_FILE`.
    env: &'static str,
    /// Go-style flag of `latchkey tsidp` (without its dash), given as a [`TsidpFlag`].
    flag: Option<&'static str>,
    sets: Sets,
    convert: Convert,
    origin: Origin,
}

/// What an [`Alias`] sets.
#[derive(Clone, Copy, Debug)]
enum Sets {
    /// This key.
    Key(&'static str),
    /// Nothing: Latchkey has no such setting. The value is checked, and when it is `when`,
    /// `notice` is logged at startup ([`tsidp_notices`]).
    Nothing { when: bool, notice: &'static str },
}

const ALIASES: &[Alias] = &[
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
            when: true,
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
            when: false,
            notice: "Latchkey always uses the local tailscaled (`tsidp.tailscaled_socket`); it \
                     has no tailnet node of its own.",
        },
        convert: Convert::GoBool,
        origin: Origin::Tsidp,
    },
];

/// tsidp's variables for joining the tailnet as its own node (tsnet), which Latchkey does not
/// do: a warning says so when the tsidp role runs. Not an error: Tailscale's own container
/// reads the same names, so they may well be meant for a tailscaled beside us.
const TSNET_ONLY_ENV: &[&str] = &["TS_AUTHKEY", "TS_ADVERTISE_TAGS"];

/// The loopback proxies trusted by default behind `tailscale serve` (see [`resolve`]).
const LOOPBACK_PROXIES: [&str; 2] = ["127.0.0.1", "::1"];

/// One known key with its full path.
struct Key {
    path: String,
    env: String,
    kind: Kind,
    secret: bool,
    default: Fallback,
    check: Check,
    doc: &'static str,
}

static KEYS: LazyLock<Vec<Key>> = LazyLock::new(|| {
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
        for spec in ROLE_KEYS {
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
    keys
});

fn env_name(path: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        path.to_ascii_uppercase().replace('.', "_")
    )
}

/// `--data-dir` for `data_dir`; a role's own key drops its section (`--tailscaled-socket`).
fn flag_name(key: &str) -> String {
    let name = key.rsplit('.').next().unwrap_or(key);
    format!("--{}", name.replace('_', "-"))
}

fn find_key(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.path == path)
}

fn is_section(path: &str) -> bool {
    KEYS.iter().any(|key| {
        key.path
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// Names of the roles, for the command line.
pub fn role_names() -> impl Iterator<Item = &'static str> {
    ROLES.iter().map(|def| def.role.as_str())
}

// ---------------------------------------------------------------------------------------------
// What the command line brings
// ---------------------------------------------------------------------------------------------

/// What runs, as far as the configuration is concerned.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Run {
    /// `serve` and `check-config`: the roles the configuration enables.
    #[default]
    Enabled,
    /// `latchkey idp` / `latchkey tsidp`: this role alone, whatever the configuration enables.
    Only(Role),
    /// A one-shot command (`clients`, `keys`, `healthcheck`, …): it uses the servers' data.
    OneShot,
}

impl Run {
    /// The single role this runs, for `idp` and `tsidp`.
    pub fn only_role(self) -> Option<Role> {
        match self {
            Run::Only(role) => Some(role),
            Run::Enabled | Run::OneShot => None,
        }
    }

    /// The role `--listen` / `--public-url` (and their file and env forms) apply to.
    pub fn primary_role(self) -> Role {
        self.only_role().unwrap_or(ROLES[0].role)
    }
}

/// The command line's part: the top layer, and what runs. Built by `cli`.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub run: Run,
    /// `--config`; `LATCHKEY_CONFIG` when unset.
    pub config_file: Option<PathBuf>,
    pub flags: Flags,
    /// tsidp's Go-style flags given to `latchkey tsidp`, in order.
    pub tsidp_flags: Vec<TsidpFlag>,
}

/// Our configuration flags as given, parsed like environment values.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub data_dir: Option<String>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub log_format: Option<String>,
    pub log_level: Option<String>,
    pub tailscaled_socket: Option<String>,
    pub enable_sts: Option<String>,
}

impl Flags {
    /// The flags by configuration key (`listen` and `public_url` are the shorthands for the
    /// primary role). The flag is `--` + key with `_` → `-`.
    pub fn by_key(&self) -> [(&'static str, Option<&str>); 8] {
        [
            ("data_dir", self.data_dir.as_deref()),
            ("database_url", self.database_url.as_deref()),
            ("listen", self.listen.as_deref()),
            ("public_url", self.public_url.as_deref()),
            ("log_format", self.log_format.as_deref()),
            ("log_level", self.log_level.as_deref()),
            ("tsidp.tailscaled_socket", self.tailscaled_socket.as_deref()),
            ("tsidp.enable_sts", self.enable_sts.as_deref()),
        ]
    }
}

/// One of tsidp's flags as given to `latchkey tsidp`: its name (an [`Alias`]'s `flag`) and
/// its value as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsidpFlag {
    pub name: &'static str,
    pub value: String,
}

// ---------------------------------------------------------------------------------------------
// The resolved configuration
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// The validated configuration. `Debug` redacts the encryption key and database password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The configuration file read, if any.
    #[serde(skip)]
    pub config_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub database_url: String,
    /// At least 16 bytes. `None`: the binary generates one into the data directory.
    #[serde(default)]
    pub encryption_key: Option<String>,
    pub log_format: LogFormat,
    pub log_level: String,
    /// `None`: metrics are served on each role listener to loopback callers only.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    pub idp: RoleConfig,
    pub tsidp: RoleConfig,
    /// Things to tell the operator at startup (and in `check-config`), e.g. that a tsidp
    /// setting Latchkey has no use for was ignored.
    #[serde(skip)]
    pub notices: Vec<Notice>,
}

/// A line for the log at startup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub warning: bool,
    pub text: String,
}

/// Settings of one role. Lifetimes are in seconds.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// The issuer: absolute http(s) URL, no query, fragment or trailing slash.
    pub public_url: String,
    pub dynamic_registration: bool,
    pub access_token_lifetime: u64,
    pub id_token_lifetime: u64,
    pub refresh_token_lifetime: u64,
    pub code_lifetime: u64,
    pub session_lifetime: u64,
    /// tsidp only (the key table allows these under `[tsidp]` alone).
    #[serde(default)]
    pub tailscaled_socket: Option<String>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    #[serde(default)]
    pub allow_tagged: bool,
    #[serde(default)]
    pub enable_sts: bool,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub https_port: Option<u16>,
    /// The issuer is not configured: it is asked from tailscaled at startup (see
    /// [`crate::tailnet_issuer`]) and `public_url` is empty until then.
    #[serde(skip)]
    pub issuer_from_tailnet: bool,
}

impl RoleConfig {
    /// The issuer, or how it will be derived at startup.
    pub fn issuer_description(&self) -> String {
        if !self.issuer_from_tailnet {
            return self.public_url.clone();
        }
        let host = match &self.hostname {
            Some(name) => format!("{name}.<MagicDNS suffix>"),
            None => "<this machine's MagicDNS name>".into(),
        };
        format!(
            "https://{host}{} (asked from tailscaled at startup)",
            port_suffix(self.https_port)
        )
    }
}

/// `:PORT` for an HTTPS URL, nothing for 443 (as tsidp writes its issuer).
pub fn port_suffix(port: Option<u16>) -> String {
    match port {
        Some(port) if port != 443 => format!(":{port}"),
        _ => String::new(),
    }
}

impl Config {
    pub fn role(&self, role: Role) -> &RoleConfig {
        match role {
            Role::Idp => &self.idp,
            Role::Tsidp => &self.tsidp,
        }
    }

    /// The roles to run, in [`ROLES`] order.
    pub fn enabled_roles(&self) -> impl Iterator<Item = (Role, &RoleConfig)> {
        ROLES
            .iter()
            .map(|def| (def.role, self.role(def.role)))
            .filter(|(_, role)| role.enabled)
    }

    /// A few lines for `check-config`; contains no secrets.
    pub fn summary(&self) -> String {
        let mut lines = vec![
            format!(
                "config file:    {}",
                self.config_file
                    .as_ref()
                    .map_or("none".into(), |path| path.display().to_string())
            ),
            format!("data dir:       {}", self.data_dir.display()),
            format!("database:       {}", redact_url(&self.database_url)),
            format!(
                "encryption key: {}",
                if self.encryption_key.is_some() {
                    "configured"
                } else {
                    "not configured (generated in the data directory)"
                }
            ),
            format!("logging:        {} ({:?})", self.log_level, self.log_format).to_lowercase(),
            format!(
                "metrics:        {}",
                self.metrics_listen.map_or(
                    "on each role listener, loopback callers only".into(),
                    |addr| addr.to_string()
                )
            ),
        ];
        for def in ROLES {
            let role = self.role(def.role);
            let name = format!("{}:", def.role);
            lines.push(if role.enabled {
                format!(
                    "{name:<15} enabled, listening on {}, issuer {}",
                    role.listen,
                    role.issuer_description()
                )
            } else {
                format!("{name:<15} disabled")
            });
        }
        for notice in &self.notices {
            let tag = if notice.warning { "warning" } else { "note" };
            lines.push(format!("{tag}: {}", notice.text));
        }
        lines.join("\n")
    }

    /// Checks spanning several keys.
    fn check_consistency(&self, run: Run) -> Result<()> {
        if run == Run::Enabled && self.enabled_roles().next().is_none() {
            let names: Vec<String> = ROLES
                .iter()
                .map(|def| format!("`{}.enabled`", def.role))
                .collect();
            bail!(
                "no role is enabled: set one of {} to true, or run a single role with `latchkey <role>`",
                names.join(", ")
            );
        }
        let mut listeners: Vec<(String, SocketAddr)> = self
            .enabled_roles()
            .map(|(role, config)| (format!("{role}.listen"), config.listen))
            .collect();
        listeners.extend(
            self.metrics_listen
                .map(|addr| ("metrics_listen".into(), addr)),
        );
        for (i, (a, addr)) in listeners.iter().enumerate() {
            if let Some((b, _)) = listeners[i + 1..]
                .iter()
                .find(|(_, other)| other == addr && addr.port() != 0)
            {
                bail!("`{a}` and `{b}` are both {addr}; each listener needs its own address");
            }
        }
        for def in ROLES {
            let rc = self.role(def.role);
            let role = def.role;
            for (key, value) in [
                ("access_token_lifetime", rc.access_token_lifetime),
                ("id_token_lifetime", rc.id_token_lifetime),
                ("refresh_token_lifetime", rc.refresh_token_lifetime),
                ("code_lifetime", rc.code_lifetime),
                ("session_lifetime", rc.session_lifetime),
            ] {
                if value > MAX_LIFETIME {
                    bail!("`{role}.{key}` is {value} s; at most {MAX_LIFETIME} (10 years)");
                }
            }
            // A grant (and its deny-list entries) must outlive the codes and access tokens
            // issued under it, or a purge could reopen a code or forget a revocation.
            let longest = rc.access_token_lifetime.max(rc.code_lifetime);
            if rc.refresh_token_lifetime < longest {
                bail!(
                    "`{role}.refresh_token_lifetime` ({} s) must be at least the access token and code lifetimes ({longest} s)",
                    rc.refresh_token_lifetime
                );
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("config_file", &self.config_file)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact_url(&self.database_url))
            .field(
                "encryption_key",
                &self.encryption_key.as_ref().map(|_| "<redacted>"),
            )
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("metrics_listen", &self.metrics_listen)
            .field("idp", &self.idp)
            .field("tsidp", &self.tsidp)
            .field("notices", &self.notices)
            .finish()
    }
}

/// Replaces the password of a URL, if any.
fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("redacted"));
            parsed.into()
        }
        _ => url.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// Loads the configuration for `overrides`, reading the process environment.
pub fn load(overrides: &Overrides) -> Result<Config> {
    let mut env = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Ok(name) = name.into_string() else {
            continue;
        };
        match value.into_string() {
            Ok(value) => env.push((name, value)),
            Err(_) if name.starts_with(ENV_PREFIX) || env_alias(&name).is_some() => {
                bail!("environment variable {name} is not valid UTF-8")
            }
            Err(_) => {}
        }
    }
    load_from(overrides, &env)
}

/// Loads the configuration for `overrides` with `env` standing for the process environment.
pub fn load_from(overrides: &Overrides, env: &[(String, String)]) -> Result<Config> {
    let run = overrides.run;
    let primary = run.primary_role();
    let config_file = overrides.config_file.clone().or_else(|| {
        env.iter()
            .rev()
            .find(|(name, value)| name == CONFIG_ENV && !value.is_empty())
            .map(|(_, value)| PathBuf::from(value))
    });
    let mut env_layer = env_layer(env, primary)?;
    let file_layer = match &config_file {
        Some(file) => file_layer(file, primary)?,
        None => Layer::new(),
    };
    let mut flag_layer = flag_layer(overrides, primary)?;
    let local_mode = local_tailscaled_mode(overrides, env);
    let mut hostname_ignored = false;
    if local_mode.is_some() {
        for layer in [&mut env_layer, &mut flag_layer] {
            let via_alias = layer
                .get("tsidp.hostname")
                .is_some_and(|entry| entry.via.is_some());
            if via_alias {
                layer.remove("tsidp.hostname");
                hostname_ignored = true;
            }
        }
    }
    if !tsidp_in_scope(run, [&file_layer, &env_layer, &flag_layer]) {
        env_layer.retain(|path, entry| {
            path.starts_with("tsidp.")
                || entry.via.is_none_or(|alias| alias.origin != Origin::Tsidp)
        });
    }
    let mut merged = defaults_layer();
    merged.extend(file_layer);
    merged.extend(env_layer);
    merged.extend(flag_layer);
    let mut config = resolve(merged, run, config_file, local_mode.is_some())?;
    if config.tsidp.enabled {
        config.notices = tsidp_notices(overrides, env, &config.tsidp)?;
        if let (true, Some(source)) = (hostname_ignored, local_mode) {
            config.notices.push(Notice {
                warning: false,
                text: format!(
                    "{source}: tsidp's hostname is ignored, as tsidp ignores it with \
                     -use-local-tailscaled: the issuer is named after this machine (set \
                     `tsidp.public_url` or `tsidp.hostname` to choose another)"
                ),
            });
        }
    }
    Ok(config)
}

/// Whether tsidp's names for process-wide settings (`TS_STATE_DIR`, `TSIDP_LOG`) count. Not
/// where only the idp runs (`latchkey idp`, or `serve` with the tsidp role off): there they are
/// more likely meant for something else, such as a tailscaled in the same container. The
/// one-shot commands (`clients`, `keys`, …) read them to find the data of `latchkey tsidp`,
/// unless the configuration says which roles run and tsidp is not among them (then they would
/// open another database than the server's).
/// Names of `tsidp.*` keys only ever affect the tsidp role, so they always count.
fn tsidp_in_scope(run: Run, layers: [&Layer; 3]) -> bool {
    let enabled = |role: Role| {
        layers
            .iter()
            .rev()
            .find_map(|layer| layer.get(&format!("{role}.enabled")))
            .and_then(|entry| entry.value.as_bool())
    };
    match run {
        Run::Only(role) => role == Role::Tsidp,
        Run::Enabled => enabled(Role::Tsidp).unwrap_or(false),
        Run::OneShot => match enabled(Role::Tsidp) {
            Some(on) => on,
            None => ROLES.iter().all(|def| enabled(def.role).is_none()),
        },
    }
}

/// Where and how an alias is given, if it is: a tsidp flag wins over the environment.
fn alias_given<'a>(
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

/// tsidp with `-use-local-tailscaled` names itself after this machine and ignores
/// `-hostname` (which names its own tsnet node otherwise); so does Latchkey. Returns where
/// that was said, when it was.
fn local_tailscaled_mode(overrides: &Overrides, env: &[(String, String)]) -> Option<String> {
    let alias = ALIASES
        .iter()
        .find(|alias| alias.env == "TSIDP_USE_LOCAL_TAILSCALED")?;
    let (source, text) = alias_given(overrides, env, alias)?;
    go_bool(text).ok()?.then_some(source)
}

/// What to tell the operator about tsidp settings that have nothing to set in Latchkey. Only
/// called when the tsidp role runs; a flag wins over the environment.
fn tsidp_notices(
    overrides: &Overrides,
    env: &[(String, String)],
    tsidp: &RoleConfig,
) -> Result<Vec<Notice>> {
    let mut notices = Vec::new();
    for alias in ALIASES {
        let Sets::Nothing { when, notice } = alias.sets else {
            continue;
        };
        let Some((source, text)) = alias_given(overrides, env, alias) else {
            continue;
        };
        if go_bool(text).map_err(|err| anyhow!("{source}: {err}"))? == when {
            notices.push(Notice {
                warning: false,
                text: format!("{source}: {notice}"),
            });
        }
    }
    for name in TSNET_ONLY_ENV {
        if env.iter().any(|(n, value)| n == name && !value.is_empty()) {
            notices.push(Notice {
                warning: true,
                text: format!(
                    "{name} is ignored: it is for tsidp joining the tailnet as a node of its own; \
                     Latchkey asks the local tailscaled instead, through its LocalAPI socket \
                     (`tsidp.tailscaled_socket`)"
                ),
            });
        }
    }
    if let Some(hostname) = &tsidp.hostname
        && !tsidp.issuer_from_tailnet
    {
        notices.push(Notice {
            warning: false,
            text: format!(
                "`tsidp.hostname` ({hostname}) is not used for the issuer: `tsidp.public_url` is set"
            ),
        });
    }
    Ok(notices)
}

/// Where a value came from, for messages.
#[derive(Clone, Debug)]
enum Source {
    Default,
    Derived,
    File { file: PathBuf, key: String },
    Env(String),
    Flag(String),
    Command(Role),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("built-in default"),
            Source::Derived => f.write_str("derived default"),
            Source::File { file, key } => write!(f, "`{key}` in config file {}", file.display()),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::Flag(flag) => write!(f, "command-line flag {flag}"),
            Source::Command(role) => write!(f, "subcommand `{role}`"),
        }
    }
}

struct Entry {
    value: Value,
    source: Source,
    /// `value` names a file holding the secret; read once the layers are merged.
    secret_file: bool,
    /// Set through this alias rather than one of our own names.
    via: Option<&'static Alias>,
}

/// Values by dotted path.
type Layer = BTreeMap<String, Entry>;

/// What a name in the file, the environment or a flag sets.
#[derive(Clone, Copy)]
enum Target {
    Key(&'static Key),
    SecretFile(&'static Key),
    Shorthand(&'static str),
}

impl Target {
    fn kind(self) -> Kind {
        match self {
            Target::Key(key) => key.kind,
            Target::SecretFile(_) => Kind::Str,
            Target::Shorthand(name) => ROLE_KEYS
                .iter()
                .find(|spec| spec.name == name)
                .map_or(Kind::Str, |spec| spec.kind),
        }
    }
}

/// Precedence within one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    Alias,
    Shorthand,
    Specific,
}

/// Resolves a dotted path as written in the file (or a flag's key).
fn file_target(path: &str) -> Option<Target> {
    if let Some(key) = find_key(path) {
        return Some(Target::Key(key));
    }
    if let Some(key) = path.strip_suffix(FILE_SUFFIX).and_then(find_key)
        && key.secret
    {
        return Some(Target::SecretFile(key));
    }
    SHORTHANDS
        .iter()
        .find(|name| **name == path)
        .map(|name| Target::Shorthand(name))
}

/// Resolves a `LATCHKEY_*` variable name; `None` for variables that are not ours.
fn env_target(name: &str) -> Option<(Target, Rank)> {
    if let Some(rest) = name.strip_prefix(ENV_PREFIX)
        && let Some(shorthand) = SHORTHANDS
            .iter()
            .find(|short| short.eq_ignore_ascii_case(rest))
    {
        return Some((Target::Shorthand(shorthand), Rank::Shorthand));
    }
    let file_form = name.strip_suffix("_FILE");
    for key in KEYS.iter() {
        if key.env == name {
            return Some((Target::Key(key), Rank::Specific));
        }
        if key.secret && file_form == Some(key.env.as_str()) {
            return Some((Target::SecretFile(key), Rank::Specific));
        }
    }
    None
}

/// The alias a variable name is, and whether it is the `_FILE` form of a secret's alias.
fn env_alias(name: &str) -> Option<(&'static Alias, bool)> {
    let file_form = name.strip_suffix("_FILE");
    ALIASES.iter().find_map(|alias| {
        if alias.env == name {
            return Some((alias, false));
        }
        let secret = alias.key().is_some_and(|key| key.secret);
        (secret && file_form == Some(alias.env)).then_some((alias, true))
    })
}

impl Alias {
    fn key(&self) -> Option<&'static Key> {
        match self.sets {
            Sets::Key(path) => Some(find_key(path).expect("aliases name known keys")),
            Sets::Nothing { .. } => None,
        }
    }

    /// The value `text` gives the key; `Ok(None)` leaves it unset.
    fn convert(&self, kind: Kind, text: &str) -> Result<Option<Value>, String> {
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
        }
    }
}

/// A boolean as Go's `strconv.ParseBool` reads it.
fn go_bool(text: &str) -> Result<bool, String> {
    match text.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!(
            "expected a boolean (true, false, 1 or 0), got {text:?}"
        )),
    }
}

/// Collects one layer's values, then settles shorthands, aliases and `_file` forms.
struct LayerBuilder {
    primary: Role,
    raw: BTreeMap<String, Vec<(Rank, Entry)>>,
}

impl LayerBuilder {
    fn new(primary: Role) -> LayerBuilder {
        LayerBuilder {
            primary,
            raw: BTreeMap::new(),
        }
    }

    fn add(
        &mut self,
        target: Target,
        rank: Rank,
        value: Value,
        source: Source,
        via: Option<&'static Alias>,
    ) {
        let (path, secret_file, rank) = match target {
            Target::Key(key) => (key.path.clone(), false, rank),
            Target::SecretFile(key) => (key.path.clone(), true, rank),
            Target::Shorthand(name) => (format!("{}.{name}", self.primary), false, Rank::Shorthand),
        };
        let entry = Entry {
            value,
            source,
            secret_file,
            via,
        };
        self.raw.entry(path).or_default().push((rank, entry));
    }

    fn finish(self) -> Result<Layer> {
        let mut layer = Layer::new();
        for (path, mut entries) in self.raw {
            let top = entries.iter().map(|(rank, _)| *rank).max();
            entries.retain(|(rank, _)| Some(*rank) == top);
            let direct = entries.iter().find(|(_, entry)| !entry.secret_file);
            let from_file = entries.iter().find(|(_, entry)| entry.secret_file);
            if let (Some((_, direct)), Some((_, from_file))) = (direct, from_file) {
                bail!(
                    "both {} and {} set `{path}`; use only one of them",
                    direct.source,
                    from_file.source
                );
            }
            if let Some((_, entry)) = entries.pop() {
                layer.insert(path, entry);
            }
        }
        Ok(layer)
    }
}

fn defaults_layer() -> Layer {
    KEYS.iter()
        .filter_map(|key| match key.default {
            Fallback::Value(text) => Some((
                key.path.clone(),
                Entry {
                    value: parse_text(key.kind, text).expect("built-in defaults parse"),
                    source: Source::Default,
                    secret_file: false,
                    via: None,
                },
            )),
            Fallback::None | Fallback::Derived(_) => None,
        })
        .collect()
}

fn file_layer(file: &Path, primary: Role) -> Result<Layer> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read config file {}", file.display()))?;
    let table: Table = text
        .parse()
        .map_err(|err| anyhow!("config file {}: {err}", file.display()))?;
    let mut values = Vec::new();
    let mut problems = Vec::new();
    walk_file(&table, "", &mut values, &mut problems);
    if !problems.is_empty() {
        bail!("config file {}: {}", file.display(), problems.join("; "));
    }
    let mut builder = LayerBuilder::new(primary);
    for (path, target, value) in values {
        let source = Source::File {
            file: file.to_owned(),
            key: path,
        };
        builder.add(target, Rank::Specific, value, source, None);
    }
    builder.finish()
}

fn walk_file(
    table: &Table,
    prefix: &str,
    values: &mut Vec<(String, Target, Value)>,
    problems: &mut Vec<String>,
) {
    for (name, value) in table {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match (file_target(&path), value) {
            (Some(target), _) => match check_type(target.kind(), value) {
                Ok(()) => values.push((path, target, value.clone())),
                Err(err) => problems.push(format!("`{path}`: {err}")),
            },
            (None, Value::Table(inner)) if is_section(&path) => {
                walk_file(inner, &path, values, problems)
            }
            (None, _) if is_section(&path) => problems.push(format!(
                "`{path}` is a section; write it as a [{path}] table"
            )),
            (None, Value::Table(_)) => {
                problems.push(unknown(&format!("section `[{path}]`"), &path, file_names()))
            }
            (None, _) => problems.push(unknown(&format!("key `{path}`"), &path, file_names())),
        }
    }
}

fn env_layer(env: &[(String, String)], primary: Role) -> Result<Layer> {
    let mut builder = LayerBuilder::new(primary);
    let mut problems = Vec::new();
    for (name, value) in env {
        if let Some((alias, file_form)) = env_alias(name) {
            let Some(key) = alias.key() else { continue };
            if value.is_empty() {
                continue;
            }
            let (target, value) = if file_form {
                (
                    Target::SecretFile(key),
                    Ok(Some(Value::String(value.clone()))),
                )
            } else {
                (Target::Key(key), alias.convert(key.kind, value))
            };
            match value {
                Ok(Some(value)) => {
                    let source = Source::Env(name.clone());
                    builder.add(target, Rank::Alias, value, source, Some(alias));
                }
                Ok(None) => {}
                Err(err) => problems.push(format!("environment variable {name}: {err}")),
            }
            continue;
        }
        let Some((target, rank)) = env_target(name) else {
            if name.starts_with(ENV_PREFIX) && name != CONFIG_ENV {
                problems.push(unknown(
                    &format!("environment variable {name}"),
                    name,
                    env_names(),
                ));
            }
            continue;
        };
        if value.is_empty() {
            continue;
        }
        match parse_text(target.kind(), value) {
            Ok(value) => builder.add(target, rank, value, Source::Env(name.clone()), None),
            Err(err) => problems.push(format!("environment variable {name}: {err}")),
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    builder.finish()
}

fn flag_layer(overrides: &Overrides, primary: Role) -> Result<Layer> {
    let mut builder = LayerBuilder::new(primary);
    for (name, value) in overrides.flags.by_key() {
        let Some(value) = value else { continue };
        let target = file_target(name).expect("every configuration flag names a known key");
        let flag = flag_name(name);
        let value = parse_text(target.kind(), value).map_err(|err| anyhow!("{flag}: {err}"))?;
        builder.add(target, Rank::Specific, value, Source::Flag(flag), None);
    }
    for flag in &overrides.tsidp_flags {
        let alias = ALIASES
            .iter()
            .find(|alias| alias.flag == Some(flag.name))
            .expect("every tsidp flag has an alias");
        let Some(key) = alias.key() else { continue };
        let spelled = format!("-{}", flag.name);
        match alias.convert(key.kind, &flag.value) {
            Ok(Some(value)) => {
                let source = Source::Flag(spelled);
                builder.add(Target::Key(key), Rank::Alias, value, source, Some(alias));
            }
            Ok(None) => {}
            Err(err) => bail!("{spelled}: {err}"),
        }
    }
    builder.finish()
}

/// Parses an environment, flag or built-in value.
fn parse_text(kind: Kind, text: &str) -> Result<Value, String> {
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
        Kind::List => Ok(Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Value::String(item.to_owned()))
                .collect(),
        )),
    }
}

/// Checks a value from the file against the key's kind.
fn check_type(kind: Kind, value: &Value) -> Result<(), String> {
    let ok = match (kind, value) {
        (Kind::Str, Value::String(_)) | (Kind::Bool, Value::Boolean(_)) => true,
        (Kind::Int, Value::Integer(n)) => *n >= 0,
        (Kind::List, Value::Array(items)) => items.iter().all(Value::is_str),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let found = match value {
        Value::Integer(n) => format!("{n}"),
        other => other.type_str().to_owned(),
    };
    Err(format!("expected {}, found {found}", kind.describe()))
}

/// "unknown {what}", with a suggestion from `candidates` when one is close.
fn unknown(what: &str, name: &str, candidates: Vec<String>) -> String {
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

fn file_names() -> Vec<String> {
    let keys = KEYS.iter().map(|key| key.path.clone());
    let files = KEYS
        .iter()
        .filter(|key| key.secret)
        .map(|key| format!("{}{FILE_SUFFIX}", key.path));
    let shorthands = SHORTHANDS.iter().map(|name| name.to_string());
    keys.chain(files).chain(shorthands).collect()
}

fn env_names() -> Vec<String> {
    let keys = KEYS.iter().map(|key| key.env.clone());
    let files = KEYS
        .iter()
        .filter(|key| key.secret)
        .map(|key| format!("{}_FILE", key.env));
    let shorthands = SHORTHANDS.iter().map(|name| env_name(name));
    keys.chain(files).chain(shorthands).collect()
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

/// Fills in derived values, reads secret files, validates every key and builds the [`Config`].
/// `local_tailscaled`: tsidp's `-use-local-tailscaled` was given (see [`behind_tailscale_serve`]).
fn resolve(
    mut merged: Layer,
    run: Run,
    config_file: Option<PathBuf>,
    local_tailscaled: bool,
) -> Result<Config> {
    let any_enabled = ROLES
        .iter()
        .any(|def| merged.contains_key(&format!("{}.enabled", def.role)));
    for def in ROLES {
        let path = format!("{}.enabled", def.role);
        let (enabled, source) = match run.only_role() {
            Some(only) => (def.role == only, Source::Command(only)),
            None if merged.contains_key(&path) => continue,
            None => (def.enabled_by_default && !any_enabled, Source::Derived),
        };
        let entry = Entry {
            value: Value::Boolean(enabled),
            source,
            secret_file: false,
            via: None,
        };
        merged.insert(path, entry);
    }
    if !merged.contains_key("database_url") {
        let data_dir = merged
            .get("data_dir")
            .and_then(|entry| entry.value.as_str())
            .unwrap_or_default();
        let url = format!(
            "sqlite://{}",
            Path::new(data_dir).join("latchkey.db").display()
        );
        let entry = Entry {
            value: Value::String(url),
            source: Source::Derived,
            secret_file: false,
            via: None,
        };
        merged.insert("database_url".into(), entry);
    }
    let issuer_from_tailnet = behind_tailscale_serve(&mut merged, local_tailscaled);
    for key in KEYS.iter() {
        if let Some(entry) = merged.get_mut(&key.path) {
            if entry.secret_file {
                read_secret_file(key, entry)?;
            }
            validate(key, entry)?;
        }
    }

    let mut root = Table::new();
    for (path, entry) in merged {
        match path.split_once('.') {
            Some((section, name)) => {
                if let Value::Table(table) = root
                    .entry(section)
                    .or_insert_with(|| Value::Table(Table::new()))
                {
                    table.insert(name.to_owned(), entry.value);
                }
            }
            None => {
                root.insert(path, entry.value);
            }
        }
    }
    let mut config: Config = root
        .try_into()
        .context("internal error: the validated configuration does not deserialize")?;
    config.config_file = config_file;
    if issuer_from_tailnet {
        config.tsidp.public_url.clear();
        config.tsidp.issuer_from_tailnet = true;
    }
    config.check_consistency(run)?;
    Ok(config)
}

/// tsidp with the local tailscaled sits behind tailscaled's `serve`, believes the
/// `X-Forwarded-For` it gets from there, and takes its issuer from the tailnet. Latchkey does
/// the same once one of tsidp's settings for it is used: `tsidp.hostname`, `tsidp.https_port`
/// or `-local-port`, or `-use-local-tailscaled` itself. Then, unless configured, loopback is a
/// trusted proxy (when `tsidp.listen` is a loopback address), and the issuer is derived at
/// startup. Returns the latter.
fn behind_tailscale_serve(merged: &mut Layer, local_tailscaled: bool) -> bool {
    let listen = merged.get("tsidp.listen");
    let from_local_port =
        listen.is_some_and(|e| e.via.is_some_and(|a| a.convert == Convert::LoopbackPort));
    if !(local_tailscaled
        || from_local_port
        || merged.contains_key("tsidp.hostname")
        || merged.contains_key("tsidp.https_port"))
    {
        return false;
    }
    let on_loopback = listen
        .and_then(|entry| entry.value.as_str())
        .and_then(|text| text.parse::<SocketAddr>().ok())
        .is_some_and(|addr| addr.ip().is_loopback());
    if on_loopback && !merged.contains_key("tsidp.trusted_proxies") {
        let proxies = LOOPBACK_PROXIES.iter().map(|ip| Value::from(*ip)).collect();
        let entry = Entry {
            value: Value::Array(proxies),
            source: Source::Derived,
            secret_file: false,
            via: None,
        };
        merged.insert("tsidp.trusted_proxies".into(), entry);
    }
    merged
        .get("tsidp.public_url")
        .is_some_and(|entry| matches!(entry.source, Source::Default))
}

fn read_secret_file(key: &Key, entry: &mut Entry) -> Result<()> {
    let file = entry.value.as_str().unwrap_or_default();
    let content = std::fs::read_to_string(file).with_context(|| {
        format!(
            "cannot read `{}` from file {file:?} (named by {})",
            key.path, entry.source
        )
    })?;
    entry.value = Value::String(content.trim_end_matches(['\n', '\r']).to_owned());
    entry.secret_file = false;
    Ok(())
}

/// Applies the key's [`Check`], normalizing the value where the check does.
fn validate(key: &Key, entry: &mut Entry) -> Result<()> {
    let outcome = match (&entry.value, key.check) {
        (_, Check::Any) => Ok(None),
        (Value::Integer(n), Check::Positive) if *n > 0 => Ok(None),
        (Value::Integer(_), Check::Positive) => Err("must be greater than 0".to_owned()),
        (Value::Integer(n), Check::Port) if (1..=65535).contains(n) => Ok(None),
        (Value::Integer(_), Check::Port) => Err("expected a port number, 1 to 65535".to_owned()),
        (Value::String(text), check) => check_str(check, text),
        (_, _) => Err(format!("expected {}", key.kind.describe())),
    };
    match outcome {
        Ok(Some(normalized)) => {
            entry.value = Value::String(normalized);
            Ok(())
        }
        Ok(None) => Ok(()),
        Err(err) if key.secret => bail!("invalid `{}` (from {}): {err}", key.path, entry.source),
        Err(err) => bail!(
            "invalid `{}` = {} (from {}): {err}",
            key.path,
            entry.value,
            entry.source
        ),
    }
}

/// `Ok(Some(_))` replaces the value.
fn check_str(check: Check, text: &str) -> Result<Option<String>, String> {
    match check {
        Check::Any => Ok(None),
        Check::NonEmpty if text.trim().is_empty() => Err("must not be empty".into()),
        Check::NonEmpty => Ok(None),
        Check::SocketAddr => text
            .parse::<SocketAddr>()
            .map(|_| None)
            .map_err(|_| "expected an IP address and port, such as 127.0.0.1:1411".into()),
        Check::HttpUrl => normalize_public_url(text).map(Some),
        Check::DatabaseUrl => {
            if ["sqlite://", "postgres://", "postgresql://"]
                .iter()
                .any(|scheme| text.starts_with(scheme))
            {
                Ok(None)
            } else {
                Err("expected a sqlite://, postgres:// or postgresql:// URL".into())
            }
        }
        Check::MinLen(min) if text.len() < min => Err(format!(
            "must be at least {min} bytes long (got {})",
            text.len()
        )),
        Check::MinLen(_) => Ok(None),
        Check::OneOf(options) if options.contains(&text) => Ok(None),
        Check::OneOf(options) => Err(format!("expected one of: {}", options.join(", "))),
        Check::Positive | Check::Port => Err("expected an integer".into()),
        Check::DnsLabel => {
            let label = text.trim();
            let ok = (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-');
            if ok {
                Ok(Some(label.to_ascii_lowercase()))
            } else {
                Err("expected one DNS label (letters, digits and inner hyphens, at most 63), such as `idp`".into())
            }
        }
    }
}

fn normalize_public_url(text: &str) -> Result<String, String> {
    let text = text.trim();
    let url = Url::parse(text).map_err(|err| format!("not an absolute URL ({err})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the scheme must be http or https".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the URL has no host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL must not contain credentials".into());
    }
    if url.query().is_some() {
        return Err("the URL must not have a query (`?…`)".into());
    }
    if url.fragment().is_some() {
        return Err("the URL must not have a fragment (`#…`)".into());
    }
    Ok(text.trim_end_matches('/').to_owned())
}

// ---------------------------------------------------------------------------------------------
// Reference documentation
// ---------------------------------------------------------------------------------------------

/// Markdown describing every key, for the README.
#[allow(
    dead_code,
    reason = "used to regenerate the README's reference and by tests"
)]
pub fn reference_markdown() -> String {
    let mut out = String::from(
        "Settings are read from, lowest precedence first: built-in defaults, the TOML file named by \
         `--config` or `LATCHKEY_CONFIG` (optional), environment variables, command-line flags. \
         Keys inside a role section are written `[idp]` / `listen = \"…\"` in the file. \
         Unknown keys and unknown `LATCHKEY_*` variables are errors; empty variables are ignored, \
         and so are other programs' variables (`TS_*`, `TSIDP_*`, …) unless listed below as read. \
         In the environment, booleans are `true`/`false`/`1`/`0`.\n\n\
         | Key | Environment | Default | Meaning |\n\
         |---|---|---|---|\n",
    );
    let flags: Vec<&str> = Flags::default()
        .by_key()
        .iter()
        .map(|(name, _)| *name)
        .collect();
    let mut row = |path: &str, env: &str, default: String, meaning: String| {
        out.push_str(&format!("| `{path}` | `{env}` | {default} | {meaning} |\n"));
    };
    let with_flag = |path: &str, mut meaning: String| {
        if flags.contains(&path) {
            meaning.push_str(&format!(" Flag `{}`.", flag_name(path)));
        }
        meaning
    };
    let (global, roles) = KEYS.split_at(GLOBAL_KEYS.len());
    let key_row = |key: &Key| {
        let default = match key.default {
            Fallback::None => "unset".to_owned(),
            Fallback::Value(value) => format!("`{value}`"),
            Fallback::Derived(text) => text.to_owned(),
        };
        let mut meaning = key.doc.to_owned();
        if key.secret {
            meaning.push_str(&format!(
                " Or read from the file named by `{}{FILE_SUFFIX}` / `{}_FILE` (trailing newlines removed).",
                key.path, key.env
            ));
        }
        if key.path == "tsidp.public_url" {
            meaning.push_str(
                " When unset and `tsidp.hostname`, `tsidp.https_port` or tsidp's `-local-port` \
                 is set, it is `https://<hostname, or this machine's name>.<MagicDNS \
                 suffix>[:https_port]`, asked from tailscaled at startup, as tsidp names itself.",
            );
        }
        for alias in ALIASES
            .iter()
            .filter(|alias| alias.key().is_some_and(|k| k.path == key.path))
        {
            let mut names = vec![format!("`{}`", alias.env)];
            if key.secret {
                names.push(format!("`{}_FILE`", alias.env));
            }
            if let Some(flag) = alias.flag {
                names.push(format!("`-{flag}`"));
            }
            let how = match alias.convert {
                Convert::LoopbackPort => " (PORT means `127.0.0.1:PORT`)",
                Convert::TsidpLog => {
                    " (`debug`, `info`, `warn` or `error`; `debug` means `info,latchkey=debug`)"
                }
                Convert::Same | Convert::GoBool => "",
            };
            let scope = if alias.origin == Origin::Tsidp && !key.path.starts_with("tsidp.") {
                " Not read where only the idp role runs."
            } else {
                ""
            };
            meaning.push_str(&format!(
                " Also set by {}'s {}{how}, below Latchkey's own names.{scope}",
                alias.origin.describe(),
                names.join(" / ")
            ));
        }
        (
            key.path.clone(),
            key.env.clone(),
            default,
            with_flag(&key.path, meaning),
        )
    };
    for key in global {
        let (path, env, default, meaning) = key_row(key);
        row(&path, &env, default, meaning);
    }
    for name in SHORTHANDS {
        let meaning = format!(
            "Sets `{name}` of the role being run: `tsidp.{name}` under `latchkey tsidp`, otherwise \
             `idp.{name}`. The role's own key wins within the same layer."
        );
        row(
            name,
            &env_name(name),
            "unset".into(),
            with_flag(name, meaning),
        );
    }
    for key in roles {
        let (path, env, default, meaning) = key_row(key);
        row(&path, &env, default, meaning);
    }
    let accepted: Vec<String> = ALIASES
        .iter()
        .filter(|alias| alias.key().is_none())
        .map(|alias| match alias.flag {
            Some(flag) => format!("`{}` / `-{flag}`", alias.env),
            None => format!("`{}`", alias.env),
        })
        .collect();
    let ignored: Vec<String> = TSNET_ONLY_ENV
        .iter()
        .map(|name| format!("`{name}`"))
        .collect();
    out.push_str(&format!(
        "\n`latchkey tsidp` also accepts tsidp's {}, which have nothing to set (Funnel is \
         `tailscale funnel` in front of Latchkey; the local tailscaled is always used), and warns \
         that {} are ignored. See docs/tsidp.md.\n",
        accepted.join(" and "),
        ignored.join(" and ")
    ));
    out
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// What the command line `args` gives the configuration.
    fn cli(args: &[&str]) -> Overrides {
        let args = std::iter::once("latchkey").chain(args.iter().copied());
        crate::cli::Cli::try_parse_args(args).unwrap().overrides()
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    fn load_ok(args: &[&str], vars: &[(&str, &str)]) -> Config {
        load_from(&cli(args), &env(vars)).unwrap()
    }

    fn load_err(args: &[&str], vars: &[(&str, &str)]) -> String {
        format!("{:#}", load_from(&cli(args), &env(vars)).unwrap_err())
    }

    /// A file under the temp dir, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(contents: &str) -> TempFile {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "latchkey-config-test-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }

        fn path(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn defaults() {
        let config = load_ok(&[], &[]);
        assert_eq!(config.config_file, None);
        assert_eq!(config.data_dir, PathBuf::from("./data"));
        assert_eq!(config.database_url, "sqlite://./data/latchkey.db");
        assert_eq!(config.encryption_key, None);
        assert_eq!(config.log_format, LogFormat::Text);
        assert_eq!(config.log_level, "info");
        assert_eq!(config.metrics_listen, None);
        let idp = &config.idp;
        assert!(idp.enabled);
        assert_eq!(idp.listen, "127.0.0.1:1411".parse().unwrap());
        assert_eq!(idp.public_url, "http://localhost:1411");
        assert!(!idp.dynamic_registration);
        assert_eq!(idp.access_token_lifetime, 3600);
        assert_eq!(idp.id_token_lifetime, 3600);
        assert_eq!(idp.refresh_token_lifetime, 2_592_000);
        assert_eq!(idp.code_lifetime, 60);
        assert_eq!(idp.session_lifetime, 3600);
        let tsidp = &config.tsidp;
        assert!(!tsidp.enabled);
        assert_eq!(tsidp.listen, "127.0.0.1:1412".parse().unwrap());
        assert_eq!(tsidp.public_url, "http://localhost:1412");
        assert_eq!(
            config
                .enabled_roles()
                .map(|(role, _)| role)
                .collect::<Vec<_>>(),
            [Role::Idp]
        );
    }

    #[test]
    fn data_dir_moves_default_database() {
        let config = load_ok(&["--data-dir", "/var/lib/latchkey"], &[]);
        assert_eq!(
            config.database_url,
            "sqlite:///var/lib/latchkey/latchkey.db"
        );
    }

    #[test]
    fn layers_override_in_order() {
        let file = TempFile::new(
            "log_level = \"debug\"\nlog_format = \"json\"\n\n[idp]\nlisten = \"0.0.0.0:8000\"\ncode_lifetime = 30\n",
        );
        let config = load_ok(&["--config", file.path()], &[]);
        assert_eq!(config.config_file.as_deref(), Some(file.0.as_path()));
        assert_eq!(config.log_level, "debug");
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.idp.listen, "0.0.0.0:8000".parse().unwrap());
        assert_eq!(config.idp.code_lifetime, 30);

        // The file may also come from LATCHKEY_CONFIG.
        let vars = [
            ("LATCHKEY_CONFIG", file.path()),
            ("LATCHKEY_LOG_LEVEL", "warn"),
            ("LATCHKEY_IDP_CODE_LIFETIME", "45"),
        ];
        let config = load_ok(&[], &vars);
        assert_eq!(config.log_level, "warn");
        assert_eq!(config.log_format, LogFormat::Json);
        assert_eq!(config.idp.code_lifetime, 45);

        let config = load_ok(&["--log-level", "trace"], &vars);
        assert_eq!(config.log_level, "trace");
        assert_eq!(config.idp.code_lifetime, 45);
    }

    #[test]
    fn env_values_are_typed() {
        let config = load_ok(
            &[],
            &[
                ("LATCHKEY_TSIDP_ENABLED", "1"),
                ("LATCHKEY_IDP_DYNAMIC_REGISTRATION", "TRUE"),
                ("LATCHKEY_TSIDP_SESSION_LIFETIME", "7200"),
                ("LATCHKEY_METRICS_LISTEN", "127.0.0.1:9100"),
                ("LATCHKEY_DATABASE_URL", ""),
            ],
        );
        assert!(config.tsidp.enabled);
        // A role set `enabled`, so unset ones are off.
        assert!(!config.idp.enabled);
        assert!(config.idp.dynamic_registration);
        assert_eq!(config.tsidp.session_lifetime, 7200);
        assert_eq!(
            config.metrics_listen,
            Some("127.0.0.1:9100".parse().unwrap())
        );
        assert_eq!(config.database_url, "sqlite://./data/latchkey.db");

        let err = load_err(&[], &[("LATCHKEY_IDP_ENABLED", "yes please")]);
        assert!(err.contains("LATCHKEY_IDP_ENABLED"), "{err}");
        let err = load_err(&[], &[("LATCHKEY_IDP_CODE_LIFETIME", "-1")]);
        assert!(err.contains("LATCHKEY_IDP_CODE_LIFETIME"), "{err}");
        let err = load_err(&[], &[("LATCHKEY_IDP_CODE_LIFETIME", "0")]);
        assert!(err.contains("idp.code_lifetime"), "{err}");
    }

    #[test]
    fn list_values_parse() {
        assert_eq!(
            parse_text(Kind::List, " a, b ,,c").unwrap(),
            Value::Array(vec!["a".into(), "b".into(), "c".into()])
        );
        assert!(check_type(Kind::List, &Value::Array(vec![Value::Integer(1)])).is_err());
    }

    #[test]
    fn unknown_file_key_is_named() {
        let file = TempFile::new("[idp]\npublic_urll = \"https://x.example\"\n");
        let err = load_err(&["--config", file.path()], &[]);
        assert!(err.contains("idp.public_urll"), "{err}");
        assert!(err.contains(file.path()), "{err}");
        assert!(err.contains("did you mean `idp.public_url`"), "{err}");

        let file = TempFile::new("[proxy]\nlisten = \"127.0.0.1:1\"\n");
        let err = load_err(&["--config", file.path()], &[]);
        assert!(err.contains("unknown section `[proxy]`"), "{err}");

        let file = TempFile::new("idp = \"yes\"\n");
        let err = load_err(&["--config", file.path()], &[]);
        assert!(err.contains("`idp` is a section"), "{err}");

        let file = TempFile::new("[idp]\ncode_lifetime = \"60\"\n");
        let err = load_err(&["--config", file.path()], &[]);
        assert!(
            err.contains("idp.code_lifetime") && err.contains("integer"),
            "{err}"
        );
    }

    #[test]
    fn missing_or_broken_file_is_an_error() {
        let err = load_err(&["--config", "/nonexistent/latchkey.toml"], &[]);
        assert!(err.contains("/nonexistent/latchkey.toml"), "{err}");
        let file = TempFile::new("log_level = \n");
        let err = load_err(&["--config", file.path()], &[]);
        assert!(err.contains(file.path()), "{err}");
    }

    #[test]
    fn unknown_env_is_rejected() {
        let err = load_err(&[], &[("LATCHKEY_FOO", "1")]);
        assert!(
            err.contains("unknown environment variable LATCHKEY_FOO"),
            "{err}"
        );
        let err = load_err(&[], &[("LATCHKEY_IDP_PUBLICURL", "x")]);
        assert!(
            err.contains("did you mean `LATCHKEY_IDP_PUBLIC_URL`"),
            "{err}"
        );
        // Unrelated variables and LATCHKEY_CONFIG (empty: no file) are fine.
        load_ok(&[], &[("PATH", "/bin"), ("LATCHKEY_CONFIG", "")]);
    }

    #[test]
    fn secret_files() {
        let secret = TempFile::new("0123456789abcdef-from-file\n\n");
        let config = load_ok(&[], &[("LATCHKEY_ENCRYPTION_KEY_FILE", secret.path())]);
        assert_eq!(
            config.encryption_key.as_deref(),
            Some("0123456789abcdef-from-file")
        );

        let file = TempFile::new(&format!("encryption_key_file = {:?}\n", secret.path()));
        let config = load_ok(&["--config", file.path()], &[]);
        assert_eq!(
            config.encryption_key.as_deref(),
            Some("0123456789abcdef-from-file")
        );

        // A higher layer's value replaces the file's, and the file is not read.
        let file = TempFile::new("encryption_key_file = \"/nonexistent/key\"\n");
        let config = load_ok(
            &["--config", file.path()],
            &[("LATCHKEY_ENCRYPTION_KEY", "0123456789abcdef-env")],
        );
        assert_eq!(
            config.encryption_key.as_deref(),
            Some("0123456789abcdef-env")
        );
        let err = load_err(&["--config", file.path()], &[]);
        assert!(
            err.contains("/nonexistent/key") && err.contains("encryption_key"),
            "{err}"
        );
    }

    #[test]
    fn value_and_file_in_one_layer_conflict() {
        let secret = TempFile::new("0123456789abcdef\n");
        let err = load_err(
            &[],
            &[
                ("LATCHKEY_ENCRYPTION_KEY", "0123456789abcdef"),
                ("LATCHKEY_ENCRYPTION_KEY_FILE", secret.path()),
            ],
        );
        assert!(
            err.contains("LATCHKEY_ENCRYPTION_KEY ")
                && err.contains("LATCHKEY_ENCRYPTION_KEY_FILE"),
            "{err}"
        );
        let file = TempFile::new(&format!(
            "encryption_key = \"0123456789abcdef\"\nencryption_key_file = {:?}\n",
            secret.path()
        ));
        let err = load_err(&["--config", file.path()], &[]);
        assert!(err.contains("`encryption_key_file`"), "{err}");
    }

    #[test]
    fn pocket_id_aliases() {
        let config = load_ok(&[], &[("APP_URL", "https://id.example.com/")]);
        assert_eq!(config.idp.public_url, "https://id.example.com");

        let config = load_ok(
            &[],
            &[
                ("APP_URL", "https://alias.example"),
                ("LATCHKEY_PUBLIC_URL", "https://shorthand.example"),
            ],
        );
        assert_eq!(config.idp.public_url, "https://shorthand.example");

        let config = load_ok(
            &[],
            &[
                ("LATCHKEY_IDP_PUBLIC_URL", "https://specific.example"),
                ("APP_URL", "https://alias.example"),
            ],
        );
        assert_eq!(config.idp.public_url, "https://specific.example");

        // The alias is at env precedence: above the file, below flags.
        let file = TempFile::new("[idp]\npublic_url = \"https://file.example\"\n");
        let vars = [("APP_URL", "https://alias.example")];
        let config = load_ok(&["--config", file.path()], &vars);
        assert_eq!(config.idp.public_url, "https://alias.example");
        let config = load_ok(
            &[
                "--config",
                file.path(),
                "--public-url",
                "https://flag.example",
            ],
            &vars,
        );
        assert_eq!(config.idp.public_url, "https://flag.example");

        let secret = TempFile::new("0123456789abcdef-pocket\n");
        let config = load_ok(&[], &[("ENCRYPTION_KEY_FILE", secret.path())]);
        assert_eq!(
            config.encryption_key.as_deref(),
            Some("0123456789abcdef-pocket")
        );
        let config = load_ok(
            &[],
            &[
                ("ENCRYPTION_KEY", "0123456789abcdef-pocket"),
                ("LATCHKEY_ENCRYPTION_KEY", "0123456789abcdef-latchkey"),
            ],
        );
        assert_eq!(
            config.encryption_key.as_deref(),
            Some("0123456789abcdef-latchkey")
        );
    }

    fn loopback() -> Vec<String> {
        vec!["127.0.0.1".to_owned(), "::1".to_owned()]
    }

    #[test]
    fn enable_sts_is_off_unless_set() {
        let config = load_ok(&["tsidp"], &[]);
        assert!(!config.tsidp.enable_sts);
        let settings = crate::server::provider_settings(Role::Tsidp, &config.tsidp);
        assert!(!settings.token_exchange);

        for (args, vars) in [
            (&["tsidp", "--enable-sts"][..], &[][..]),
            (&["--enable-sts=true", "tsidp"][..], &[][..]),
            (&["tsidp"][..], &[("LATCHKEY_TSIDP_ENABLE_STS", "1")][..]),
            (&["serve"][..], &[("LATCHKEY_TSIDP_ENABLE_STS", "true")][..]),
        ] {
            let config = load_ok(args, vars);
            assert!(config.tsidp.enable_sts, "{args:?} {vars:?}");
            let settings = crate::server::provider_settings(Role::Tsidp, &config.tsidp);
            assert!(settings.token_exchange, "{args:?} {vars:?}");
        }
        let file = TempFile::new("[tsidp]\nenable_sts = true\n");
        assert!(
            load_ok(&["--config", file.path(), "tsidp"], &[])
                .tsidp
                .enable_sts
        );
        let config = load_ok(
            &["tsidp", "--enable-sts=false"],
            &[("LATCHKEY_TSIDP_ENABLE_STS", "1")],
        );
        assert!(!config.tsidp.enable_sts);
        // A tsidp key, not an idp one.
        let file = TempFile::new("[idp]\nenable_sts = true\n");
        let err = load_err(&["--config", file.path()], &[]);
        assert!(err.contains("idp.enable_sts"), "{err}");
        let err = load_err(&["tsidp", "--enable-sts=maybe"], &[]);
        assert!(err.contains("--enable-sts"), "{err}");
    }

    #[test]
    fn tsidp_env_names_map_onto_ours() {
        let config = load_ok(
            &["tsidp"],
            &[
                ("TS_STATE_DIR", "/srv/tsidp"),
                ("TS_HOSTNAME", "IDP"),
                ("TSIDP_PORT", "8443"),
                ("TSIDP_LOCAL_PORT", "9999"),
                ("TSIDP_ENABLE_STS", "T"),
                ("TSIDP_LOG", "warn"),
            ],
        );
        assert_eq!(config.data_dir, PathBuf::from("/srv/tsidp"));
        assert_eq!(config.database_url, "sqlite:///srv/tsidp/latchkey.db");
        assert_eq!(config.log_level, "warn");
        let tsidp = &config.tsidp;
        assert_eq!(tsidp.hostname.as_deref(), Some("idp"));
        assert_eq!(tsidp.https_port, Some(8443));
        assert_eq!(tsidp.listen, "127.0.0.1:9999".parse().unwrap());
        assert_eq!(tsidp.trusted_proxies, loopback());
        assert!(tsidp.enable_sts);
        assert!(tsidp.issuer_from_tailnet);
        assert_eq!(tsidp.public_url, "");
        assert!(config.notices.is_empty(), "{:?}", config.notices);
        assert!(
            config
                .summary()
                .contains("issuer https://idp.<MagicDNS suffix>:8443 (asked from tailscaled"),
            "{}",
            config.summary()
        );
        // The idp keeps its own settings.
        assert_eq!(config.idp.listen, "127.0.0.1:1411".parse().unwrap());

        let config = load_ok(&["tsidp"], &[("TSIDP_LOG", "debug")]);
        assert_eq!(config.log_level, "info,latchkey=debug");
        for (value, on) in [("true", true), ("1", true), ("False", false), ("0", false)] {
            let config = load_ok(&["tsidp"], &[("TSIDP_ENABLE_STS", value)]);
            assert_eq!(config.tsidp.enable_sts, on, "{value}");
        }
        // tsidp's "off" for the local port; empty variables are ignored.
        let config = load_ok(
            &["tsidp"],
            &[("TSIDP_LOCAL_PORT", "-1"), ("TSIDP_PORT", "")],
        );
        assert_eq!(config.tsidp.listen, "127.0.0.1:1412".parse().unwrap());
        assert!(!config.tsidp.issuer_from_tailnet);
        assert_eq!(config.tsidp.public_url, "http://localhost:1412");
    }

    #[test]
    fn tsidp_flags_map_onto_ours() {
        let config = load_ok(
            &[
                "tsidp",
                "-dir",
                "/srv/d",
                "--hostname=login",
                "-port=10443",
                "-local-port",
                "8080",
                "-enable-sts",
                "-log",
                "error",
            ],
            &[],
        );
        assert_eq!(config.data_dir, PathBuf::from("/srv/d"));
        assert_eq!(config.log_level, "error");
        let tsidp = &config.tsidp;
        assert_eq!(tsidp.hostname.as_deref(), Some("login"));
        assert_eq!(tsidp.https_port, Some(10443));
        assert_eq!(tsidp.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(tsidp.trusted_proxies, loopback());
        assert!(tsidp.enable_sts && tsidp.issuer_from_tailnet);

        // As in tsidp, -use-local-tailscaled names the issuer after this machine and ignores
        // -hostname (which names tsidp's own node otherwise), and puts it behind `serve`.
        for args in [
            &["tsidp", "-use-local-tailscaled", "-hostname", "login"][..],
            &["tsidp", "-hostname=login", "-use-local-tailscaled=true"],
        ] {
            let config = load_ok(args, &[]);
            assert_eq!(config.tsidp.hostname, None, "{args:?}");
            assert!(config.tsidp.issuer_from_tailnet);
            assert_eq!(config.tsidp.trusted_proxies, loopback());
            assert!(
                config
                    .notices
                    .iter()
                    .any(|n| n.text.contains("hostname is ignored")),
                "{:?}",
                config.notices
            );
        }
        let config = load_ok(&["tsidp"], &[("TSIDP_USE_LOCAL_TAILSCALED", "1")]);
        assert!(config.tsidp.issuer_from_tailnet && config.notices.is_empty());
        // Our own name for the hostname still counts.
        let config = load_ok(
            &["tsidp", "-use-local-tailscaled", "--config", "/dev/null"],
            &[("LATCHKEY_TSIDP_HOSTNAME", "login")],
        );
        assert_eq!(config.tsidp.hostname.as_deref(), Some("login"));
        let err = load_err(&["tsidp", "-local-port", "0"], &[]);
        assert!(err.contains("1 to 65535"), "{err}");

        let config = load_ok(&["tsidp", "-enable-sts=false"], &[]);
        assert!(!config.tsidp.enable_sts);
        // Go's flag package: the last occurrence wins.
        let config = load_ok(&["tsidp", "-port", "1000", "-port", "2000"], &[]);
        assert_eq!(config.tsidp.https_port, Some(2000));
    }

    #[test]
    fn our_names_beat_tsidps_and_flags_beat_the_environment() {
        // LATCHKEY_* over TS_*/TSIDP_* in the environment.
        let config = load_ok(
            &["tsidp"],
            &[
                ("TS_STATE_DIR", "/tsidp"),
                ("LATCHKEY_DATA_DIR", "/latchkey"),
                ("TSIDP_LOG", "error"),
                ("LATCHKEY_LOG_LEVEL", "debug"),
                ("TSIDP_ENABLE_STS", "1"),
                ("LATCHKEY_TSIDP_ENABLE_STS", "false"),
                ("TSIDP_PORT", "8443"),
                ("LATCHKEY_TSIDP_HTTPS_PORT", "9443"),
                ("TS_HOSTNAME", "tsidp"),
                ("LATCHKEY_TSIDP_HOSTNAME", "latchkey"),
            ],
        );
        assert_eq!(config.data_dir, PathBuf::from("/latchkey"));
        assert_eq!(config.log_level, "debug");
        assert!(!config.tsidp.enable_sts);
        assert_eq!(config.tsidp.https_port, Some(9443));
        assert_eq!(config.tsidp.hostname.as_deref(), Some("latchkey"));
        for vars in [
            [
                ("TSIDP_LOCAL_PORT", "7000"),
                ("LATCHKEY_TSIDP_LISTEN", "127.0.0.1:7001"),
            ],
            [
                ("TSIDP_LOCAL_PORT", "7000"),
                ("LATCHKEY_LISTEN", "127.0.0.1:7001"),
            ],
        ] {
            let config = load_ok(&["tsidp"], &vars);
            assert_eq!(config.tsidp.listen, "127.0.0.1:7001".parse().unwrap());
            // The listener is ours, not tsidp's: nothing else changes.
            assert!(config.tsidp.trusted_proxies.is_empty());
            assert!(!config.tsidp.issuer_from_tailnet);
        }

        // Our flags over tsidp's flags; any flag over the environment; the environment over
        // the file.
        let config = load_ok(&["tsidp", "-dir", "/a", "--data-dir", "/b"], &[]);
        assert_eq!(config.data_dir, PathBuf::from("/b"));
        let config = load_ok(&["tsidp", "-dir", "/a"], &[("LATCHKEY_DATA_DIR", "/c")]);
        assert_eq!(config.data_dir, PathBuf::from("/a"));
        let config = load_ok(
            &["tsidp", "-local-port", "7000", "--listen", "127.0.0.1:7002"],
            &[],
        );
        assert_eq!(config.tsidp.listen, "127.0.0.1:7002".parse().unwrap());
        let config = load_ok(
            &["tsidp", "-local-port", "7000"],
            &[("LATCHKEY_TSIDP_LISTEN", "127.0.0.1:7001")],
        );
        assert_eq!(config.tsidp.listen, "127.0.0.1:7000".parse().unwrap());
        let config = load_ok(
            &["tsidp", "-enable-sts=false"],
            &[("LATCHKEY_TSIDP_ENABLE_STS", "true")],
        );
        assert!(!config.tsidp.enable_sts);
        let config = load_ok(&["tsidp", "-log", "warn"], &[("TSIDP_LOG", "error")]);
        assert_eq!(config.log_level, "warn");
        let file = TempFile::new("data_dir = \"/file\"\n[tsidp]\nhostname = \"fromfile\"\n");
        let config = load_ok(
            &["--config", file.path(), "tsidp"],
            &[("TS_STATE_DIR", "/env"), ("TS_HOSTNAME", "fromenv")],
        );
        assert_eq!(config.data_dir, PathBuf::from("/env"));
        assert_eq!(config.tsidp.hostname.as_deref(), Some("fromenv"));
    }

    #[test]
    fn tsidp_names_stay_out_of_the_idp() {
        let vars = [
            ("TS_STATE_DIR", "/tsidp"),
            ("TSIDP_LOG", "error"),
            ("TSIDP_PORT", "8443"),
            ("TSIDP_LOCAL_PORT", "7000"),
            ("TS_HOSTNAME", "idp"),
            ("TSIDP_USE_FUNNEL", "1"),
            ("TS_AUTHKEY", "tskey-auth-x"),
        ];
        for args in [&["idp"][..], &["serve"][..], &[][..]] {
            let config = load_ok(args, &vars);
            assert_eq!(config.data_dir, PathBuf::from("./data"), "{args:?}");
            assert_eq!(config.log_level, "info", "{args:?}");
            assert_eq!(config.idp.listen, "127.0.0.1:1411".parse().unwrap());
            assert_eq!(config.idp.public_url, "http://localhost:1411");
            assert!(!config.tsidp.enabled);
            assert!(config.notices.is_empty(), "{args:?}");
        }
        // They count where the tsidp role runs, and for the one-shot commands.
        let mut with_tsidp = vars.to_vec();
        with_tsidp.push(("LATCHKEY_TSIDP_ENABLED", "true"));
        with_tsidp.push(("LATCHKEY_IDP_ENABLED", "true"));
        let config = load_ok(&["serve"], &with_tsidp);
        assert_eq!(config.data_dir, PathBuf::from("/tsidp"));
        assert_eq!(config.idp.listen, "127.0.0.1:1411".parse().unwrap());
        assert_eq!(config.tsidp.listen, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(config.notices.len(), 2, "{:?}", config.notices);
        let config = load_ok(&["clients", "list"], &vars);
        assert_eq!(config.data_dir, PathBuf::from("/tsidp"));
        assert!(config.notices.is_empty());
        // ... unless the configuration runs roles without tsidp: then the one-shot commands
        // open the database the server uses.
        for enabled in [
            &[("LATCHKEY_IDP_ENABLED", "true")][..],
            &[("LATCHKEY_TSIDP_ENABLED", "false")],
        ] {
            let mut without_tsidp = vars.to_vec();
            without_tsidp.extend_from_slice(enabled);
            let config = load_ok(&["users", "list"], &without_tsidp);
            assert_eq!(config.data_dir, PathBuf::from("./data"), "{enabled:?}");
        }
    }

    #[test]
    fn other_tailscale_variables_are_ignored() {
        let vars = [
            ("TSIDP_DEBUG_TSNET", "1"),
            ("TSIDP_DEBUG_ALL_REQUESTS", "yes"),
            ("TSIDP_SOMETHING_NEW", "x"),
            ("TS_EXTRA_ARGS", "--advertise-exit-node"),
            ("TS_SOCKET", "/tmp/ts.sock"),
            ("TAILSCALE_USE_WIP_CODE", "1"),
        ];
        let config = load_ok(&["tsidp"], &vars);
        assert!(config.notices.is_empty());
        load_ok(&[], &vars);
    }

    #[test]
    fn bad_tsidp_values_are_errors_naming_them() {
        for (name, value) in [
            ("TSIDP_PORT", "https"),
            ("TSIDP_PORT", "70000"),
            ("TSIDP_PORT", "0"),
            ("TSIDP_LOCAL_PORT", "eighty"),
            ("TSIDP_LOCAL_PORT", "65536"),
            ("TSIDP_ENABLE_STS", "yes"),
            ("TSIDP_LOG", "trace"),
            ("TS_HOSTNAME", "idp.example.com"),
            ("TS_HOSTNAME", "-idp"),
            ("TSIDP_USE_FUNNEL", "on"),
            ("TSIDP_USE_LOCAL_TAILSCALED", "sure"),
        ] {
            let err = load_err(&["tsidp"], &[(name, value)]);
            assert!(err.contains(name), "{name}={value}: {err}");
        }
        let err = load_err(&["tsidp"], &[("TSIDP_PORT", "70000")]);
        assert!(
            err.contains("tsidp.https_port") && err.contains("65535"),
            "{err}"
        );
        for (args, flag) in [
            (&["tsidp", "-port", "x"][..], "-port"),
            (&["tsidp", "-local-port=x"][..], "-local-port"),
            (&["tsidp", "-enable-sts=yes"][..], "-enable-sts"),
            (&["tsidp", "-log", "verbose"][..], "-log"),
            (&["tsidp", "-hostname", "a_b"][..], "-hostname"),
            (&["tsidp", "-funnel=2"][..], "-funnel"),
        ] {
            let err = load_err(args, &[]);
            assert!(err.contains(flag), "{args:?}: {err}");
        }
    }

    #[test]
    fn tsidp_settings_without_a_use_are_told() {
        let config = load_ok(&["tsidp"], &[("TSIDP_USE_FUNNEL", "1")]);
        assert_eq!(config.notices.len(), 1);
        let notice = &config.notices[0];
        assert!(!notice.warning);
        assert!(
            notice.text.contains("TSIDP_USE_FUNNEL") && notice.text.contains("tailscale funnel"),
            "{notice:?}"
        );
        assert!(
            config
                .summary()
                .contains("note: environment variable TSIDP_USE_FUNNEL")
        );
        let config = load_ok(&["tsidp", "-funnel"], &[]);
        assert!(config.notices[0].text.starts_with("-funnel: "));
        // The flag wins over the variable; off says nothing.
        let config = load_ok(&["tsidp", "-funnel=false"], &[("TSIDP_USE_FUNNEL", "1")]);
        assert!(config.notices.is_empty());
        let config = load_ok(&["tsidp"], &[("TSIDP_USE_FUNNEL", "false")]);
        assert!(config.notices.is_empty());

        let config = load_ok(&["tsidp", "-use-local-tailscaled=false"], &[]);
        assert!(
            config.notices[0]
                .text
                .contains("always uses the local tailscaled")
        );

        let config = load_ok(
            &["tsidp"],
            &[
                ("TS_AUTHKEY", "tskey-auth-secret"),
                ("TS_ADVERTISE_TAGS", "tag:idp"),
            ],
        );
        assert_eq!(config.notices.len(), 2);
        for notice in &config.notices {
            assert!(
                notice.warning && notice.text.contains("local"),
                "{notice:?}"
            );
            assert!(!notice.text.contains("tskey-auth-secret"));
        }
        assert!(config.summary().contains("warning: TS_AUTHKEY is ignored"));

        let config = load_ok(
            &[
                "tsidp",
                "-hostname",
                "idp",
                "--public-url",
                "https://sso.example.com",
            ],
            &[],
        );
        assert!(!config.tsidp.issuer_from_tailnet);
        assert_eq!(config.tsidp.public_url, "https://sso.example.com");
        assert!(
            config.notices[0].text.contains("not used"),
            "{:?}",
            config.notices
        );
    }

    #[test]
    fn issuer_is_derived_only_when_unset_in_tailnet_mode() {
        // No tsidp naming setting: our defaults.
        let config = load_ok(&["tsidp"], &[]);
        assert!(!config.tsidp.issuer_from_tailnet);
        assert!(config.tsidp.trusted_proxies.is_empty());
        assert_eq!(config.tsidp.issuer_description(), "http://localhost:1412");

        // Any of them: derived, and loopback trusted behind `tailscale serve`.
        for vars in [
            &[("TS_HOSTNAME", "idp")][..],
            &[("TSIDP_PORT", "443")][..],
            &[("TSIDP_LOCAL_PORT", "8080")][..],
            &[("LATCHKEY_TSIDP_HOSTNAME", "idp")][..],
        ] {
            let config = load_ok(&["tsidp"], vars);
            assert!(config.tsidp.issuer_from_tailnet, "{vars:?}");
            assert_eq!(config.tsidp.trusted_proxies, loopback(), "{vars:?}");
        }
        let config = load_ok(&["tsidp"], &[("TSIDP_PORT", "443")]);
        assert_eq!(
            config.tsidp.issuer_description(),
            "https://<this machine's MagicDNS name> (asked from tailscaled at startup)"
        );

        // The issuer stays free to set, in every layer.
        let file = TempFile::new("[tsidp]\npublic_url = \"https://file.example\"\n");
        let config = load_ok(&["--config", file.path(), "tsidp", "-hostname", "idp"], &[]);
        assert_eq!(config.tsidp.public_url, "https://file.example");
        for vars in [
            [
                ("TS_HOSTNAME", "idp"),
                ("LATCHKEY_TSIDP_PUBLIC_URL", "https://a.example/"),
            ],
            [
                ("TS_HOSTNAME", "idp"),
                ("LATCHKEY_PUBLIC_URL", "https://a.example"),
            ],
        ] {
            let config = load_ok(&["tsidp"], &vars);
            assert!(!config.tsidp.issuer_from_tailnet);
            assert_eq!(config.tsidp.public_url, "https://a.example");
            assert_eq!(config.tsidp.trusted_proxies, loopback());
        }

        // Trusted proxies are only defaulted, and only for a loopback listener.
        let config = load_ok(
            &["tsidp", "-local-port", "8080"],
            &[("LATCHKEY_TSIDP_TRUSTED_PROXIES", "10.0.0.1")],
        );
        assert_eq!(config.tsidp.trusted_proxies, vec!["10.0.0.1".to_owned()]);
        let config = load_ok(
            &["tsidp", "-hostname", "idp", "--listen", "0.0.0.0:443"],
            &[],
        );
        assert!(config.tsidp.trusted_proxies.is_empty());
        assert!(config.tsidp.issuer_from_tailnet);
    }

    #[test]
    fn shorthands_follow_the_command() {
        let config = load_ok(&["tsidp", "--listen", "127.0.0.1:0"], &[]);
        assert_eq!(config.tsidp.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(config.idp.listen, "127.0.0.1:1411".parse().unwrap());
        assert!(config.tsidp.enabled && !config.idp.enabled);

        let config = load_ok(&["--listen", "127.0.0.1:0"], &[]);
        assert_eq!(config.idp.listen, "127.0.0.1:0".parse().unwrap());

        // The specific key wins over the shorthand in the same layer.
        let file =
            TempFile::new("listen = \"127.0.0.1:2000\"\n[idp]\nlisten = \"127.0.0.1:3000\"\n");
        let config = load_ok(&["--config", file.path()], &[]);
        assert_eq!(config.idp.listen, "127.0.0.1:3000".parse().unwrap());
        let config = load_ok(
            &[],
            &[
                ("LATCHKEY_LISTEN", "127.0.0.1:2000"),
                ("LATCHKEY_IDP_LISTEN", "127.0.0.1:3000"),
            ],
        );
        assert_eq!(config.idp.listen, "127.0.0.1:3000".parse().unwrap());
        // But a shorthand in a higher layer wins over the specific key in a lower one.
        let config = load_ok(&[], &[("LATCHKEY_LISTEN", "127.0.0.1:2000")]);
        assert_eq!(config.idp.listen, "127.0.0.1:2000".parse().unwrap());
        let config = load_ok(
            &["--config", file.path()],
            &[("LATCHKEY_LISTEN", "127.0.0.1:2000")],
        );
        assert_eq!(config.idp.listen, "127.0.0.1:2000".parse().unwrap());
    }

    #[test]
    fn role_commands_enable_only_their_role() {
        let file = TempFile::new("[idp]\nenabled = true\n[tsidp]\nenabled = false\n");
        let config = load_ok(&["--config", file.path(), "tsidp"], &[]);
        assert!(config.tsidp.enabled && !config.idp.enabled);
        let config = load_ok(&["--config", file.path(), "serve"], &[]);
        assert!(!config.tsidp.enabled && config.idp.enabled);

        let err = load_err(&[], &[("LATCHKEY_IDP_ENABLED", "false")]);
        assert!(err.contains("no role is enabled"), "{err}");
        // Commands that do not serve do not need a role.
        load_ok(&["clients", "list"], &[("LATCHKEY_IDP_ENABLED", "false")]);
    }

    #[test]
    fn listeners_must_differ() {
        let vars = [
            ("LATCHKEY_TSIDP_ENABLED", "true"),
            ("LATCHKEY_IDP_ENABLED", "true"),
            ("LATCHKEY_TSIDP_LISTEN", "127.0.0.1:1411"),
        ];
        let err = load_err(&[], &vars);
        assert!(
            err.contains("idp.listen") && err.contains("tsidp.listen"),
            "{err}"
        );
        // Port 0 picks a free port for each.
        let mut vars = vars.to_vec();
        vars.push(("LATCHKEY_LISTEN", "127.0.0.1:0"));
        vars[2].1 = "127.0.0.1:0";
        load_ok(&[], &vars);
    }

    #[test]
    fn invalid_values_are_errors() {
        let err = load_err(&["--public-url", "ftp://x.example"], &[]);
        assert!(
            err.contains("idp.public_url") && err.contains("--public-url"),
            "{err}"
        );
        for bad in [
            "not a url",
            "/relative",
            "https://x.example/?a=b",
            "https://x.example/#f",
        ] {
            let err = load_err(&[], &[("LATCHKEY_TSIDP_PUBLIC_URL", bad)]);
            assert!(err.contains("LATCHKEY_TSIDP_PUBLIC_URL"), "{bad}: {err}");
        }
        let config = load_ok(&["--public-url", "https://x.example/sso/"], &[]);
        assert_eq!(config.idp.public_url, "https://x.example/sso");

        let file = TempFile::new("[tsidp]\nlisten = \"localhost\"\n");
        let err = load_err(&["--config", file.path()], &[]);
        assert!(
            err.contains("tsidp.listen") && err.contains(file.path()),
            "{err}"
        );
        let err = load_err(&[], &[("LATCHKEY_METRICS_LISTEN", "9100")]);
        assert!(err.contains("metrics_listen") && err.contains("LATCHKEY_METRICS_LISTEN"));

        let err = load_err(&[], &[("LATCHKEY_ENCRYPTION_KEY", "hunter2")]);
        assert!(
            err.contains("encryption_key") && err.contains("16"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");

        let err = load_err(&["--database-url", "mysql://db"], &[]);
        assert!(err.contains("database_url"), "{err}");
        load_ok(&["--database-url", "postgresql://u:p@db/latchkey"], &[]);

        let err = load_err(&["--log-format", "xml"], &[]);
        assert!(
            err.contains("log_format") && err.contains("text, json"),
            "{err}"
        );
    }

    #[test]
    fn debug_and_summary_hide_secrets() {
        let config = load_ok(
            &["--database-url", "postgres://user:pa55word@db/latchkey"],
            &[("LATCHKEY_ENCRYPTION_KEY", "super-secret-key-material")],
        );
        for text in [format!("{config:?}"), config.summary()] {
            assert!(!text.contains("super-secret"), "{text}");
            assert!(!text.contains("pa55word"), "{text}");
        }
        assert!(format!("{config:?}").contains("<redacted>"));
        assert!(config.summary().contains("idp:"));
    }

    #[test]
    fn key_table_is_consistent() {
        let mut envs: Vec<String> = env_names();
        envs.extend(ALIASES.iter().map(|alias| alias.env.to_string()));
        envs.extend(TSNET_ONLY_ENV.iter().map(|name| name.to_string()));
        envs.push(CONFIG_ENV.into());
        let count = envs.len();
        envs.sort();
        envs.dedup();
        assert_eq!(envs.len(), count, "environment names collide");
        for key in KEYS.iter() {
            assert!(key.path.matches('.').count() <= 1, "{}", key.path);
        }
        for name in SHORTHANDS {
            assert!(ROLE_KEYS.iter().any(|spec| spec.name == *name));
        }
        for alias in ALIASES {
            if let Sets::Key(path) = alias.sets {
                assert!(find_key(path).is_some(), "{path}");
            }
            // Only LATCHKEY_* names are strict; an alias there would be shadowed.
            assert!(!alias.env.starts_with(ENV_PREFIX), "{}", alias.env);
        }
        // Every Go-style flag of `latchkey tsidp` is an alias, and only those are.
        let mut alias_flags: Vec<&str> = ALIASES.iter().filter_map(|alias| alias.flag).collect();
        let mut cli_flags: Vec<&str> = crate::cli::TSIDP_FLAGS.iter().map(|(f, _)| *f).collect();
        alias_flags.sort_unstable();
        cli_flags.sort_unstable();
        assert_eq!(alias_flags, cli_flags);
        for (flag, boolean) in crate::cli::TSIDP_FLAGS {
            let alias = ALIASES.iter().find(|a| a.flag == Some(flag)).unwrap();
            let is_bool = alias.convert == Convert::GoBool;
            assert_eq!(is_bool, *boolean, "{flag}");
        }
        for (name, _) in Flags::default().by_key() {
            assert!(file_target(name).is_some(), "{name}");
        }
        assert_eq!(
            defaults_layer().len(),
            KEYS.iter()
                .filter(|k| matches!(k.default, Fallback::Value(_)))
                .count()
        );
        assert_eq!(role_names().collect::<Vec<_>>(), ["idp", "tsidp"]);
    }

    #[test]
    fn reference_lists_every_key() {
        let markdown = reference_markdown();
        for key in KEYS.iter() {
            assert!(markdown.contains(&format!("| `{}` | `{}` |", key.path, key.env)));
        }
        for name in SHORTHANDS {
            assert!(markdown.contains(&format!("| `{name}` | `{}` |", env_name(name))));
        }
        assert!(markdown.contains("`encryption_key_file`"));
        assert!(markdown.contains("`APP_URL`"));
        for alias in ALIASES {
            assert!(
                markdown.contains(&format!("`{}`", alias.env)),
                "{}",
                alias.env
            );
            if let Some(flag) = alias.flag {
                assert!(markdown.contains(&format!("`-{flag}`")), "{flag}");
            }
        }
        for name in TSNET_ONLY_ENV {
            assert!(markdown.contains(&format!("`{name}`")), "{name}");
        }
        assert!(markdown.contains("`http://localhost:1412`"));
        for line in markdown.lines().filter(|line| line.starts_with("| ")) {
            assert_eq!(line.matches(" | ").count(), 3, "{line}");
        }
    }

    #[test]
    fn lifetimes_are_bounded_and_consistent() {
        let err = load_err(&[], &[("LATCHKEY_IDP_REFRESH_TOKEN_LIFETIME", "10")]);
        assert!(err.contains("idp.refresh_token_lifetime"), "{err}");
        let err = load_err(
            &[],
            &[("LATCHKEY_TSIDP_ACCESS_TOKEN_LIFETIME", "9999999999")],
        );
        assert!(err.contains("tsidp.access_token_lifetime"), "{err}");
    }

    /// The README's configuration table is generated from the key table; this keeps it true.
    #[test]
    fn readme_reference_is_current() {
        let readme_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(readme_path).expect("README.md");
        let reference = reference_markdown();
        if !readme.contains(&reference) {
            let out = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/config-reference.md"
            );
            let _ = std::fs::write(out, &reference);
            panic!(
                "README.md's configuration reference is stale: paste target/config-reference.md into it"
            );
        }
    }
}
