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

use crate::cli::{Cli, Command};

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
        doc: "IP addresses of local proxies (e.g. `127.0.0.1,::1` behind `tailscale serve`) whose last `X-Forwarded-For` hop names the caller. Callers connecting from anywhere else are taken at their TCP address.",
    },
    Spec {
        name: "tsidp.allow_tagged",
        kind: Kind::Bool,
        secret: false,
        default: Fallback::Value("false"),
        check: Check::Any,
        doc: "Sign in tagged nodes (machines, not people). tsidp refuses them; so does Latchkey unless this is set.",
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

/// Environment variables of other software (Pocket ID) accepted for a key, below the
/// `LATCHKEY_*` variables. Secret keys also accept the alias with `_FILE`.
const ENV_ALIASES: &[(&str, &str)] = &[
    ("APP_URL", "idp.public_url"),
    ("ENCRYPTION_KEY", "encryption_key"),
];

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
                    role.listen, role.public_url
                )
            } else {
                format!("{name:<15} disabled")
            });
        }
        lines.join("\n")
    }

    /// Checks spanning several keys.
    fn check_consistency(&self, command: &Command) -> Result<()> {
        if matches!(command, Command::Serve | Command::CheckConfig)
            && self.enabled_roles().next().is_none()
        {
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

/// Loads the configuration for `cli`, reading the process environment.
pub fn load(cli: &Cli) -> Result<Config> {
    let mut env = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Ok(name) = name.into_string() else {
            continue;
        };
        match value.into_string() {
            Ok(value) => env.push((name, value)),
            Err(_) if name.starts_with(ENV_PREFIX) || env_target(&name).is_some() => {
                bail!("environment variable {name} is not valid UTF-8")
            }
            Err(_) => {}
        }
    }
    load_from(cli, &env)
}

/// Loads the configuration for `cli` with `env` standing for the process environment.
pub fn load_from(cli: &Cli, env: &[(String, String)]) -> Result<Config> {
    let command = cli.cmd();
    let primary = command.primary_role();
    let config_file = cli.config.clone().or_else(|| {
        env.iter()
            .rev()
            .find(|(name, value)| name == CONFIG_ENV && !value.is_empty())
            .map(|(_, value)| PathBuf::from(value))
    });
    let env_layer = env_layer(env, primary)?;
    let mut merged = defaults_layer();
    if let Some(file) = &config_file {
        merged.extend(file_layer(file, primary)?);
    }
    merged.extend(env_layer);
    merged.extend(flag_layer(cli, primary)?);
    resolve(merged, command, config_file)
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

/// Resolves an environment variable name; `None` for variables that are not Latchkey's.
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
    for &(alias, path) in ENV_ALIASES {
        let key = find_key(path)?;
        if name == alias {
            return Some((Target::Key(key), Rank::Alias));
        }
        if key.secret && file_form == Some(alias) {
            return Some((Target::SecretFile(key), Rank::Alias));
        }
    }
    None
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

    fn add(&mut self, target: Target, rank: Rank, value: Value, source: Source) {
        let (path, secret_file, rank) = match target {
            Target::Key(key) => (key.path.clone(), false, rank),
            Target::SecretFile(key) => (key.path.clone(), true, rank),
            Target::Shorthand(name) => (format!("{}.{name}", self.primary), false, Rank::Shorthand),
        };
        let entry = Entry {
            value,
            source,
            secret_file,
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
        builder.add(target, Rank::Specific, value, source);
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
            Ok(value) => builder.add(target, rank, value, Source::Env(name.clone())),
            Err(err) => problems.push(format!("environment variable {name}: {err}")),
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.join("; "));
    }
    builder.finish()
}

fn flag_layer(cli: &Cli, primary: Role) -> Result<Layer> {
    let mut builder = LayerBuilder::new(primary);
    for (name, value) in cli.config_flags() {
        let Some(value) = value else { continue };
        let target = file_target(name).expect("every configuration flag names a known key");
        let flag = flag_name(name);
        let value = parse_text(target.kind(), value).map_err(|err| anyhow!("{flag}: {err}"))?;
        builder.add(target, Rank::Specific, value, Source::Flag(flag));
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
fn resolve(mut merged: Layer, command: &Command, config_file: Option<PathBuf>) -> Result<Config> {
    let any_enabled = ROLES
        .iter()
        .any(|def| merged.contains_key(&format!("{}.enabled", def.role)));
    for def in ROLES {
        let path = format!("{}.enabled", def.role);
        let (enabled, source) = match command.only_role() {
            Some(only) => (def.role == only, Source::Command(only)),
            None if merged.contains_key(&path) => continue,
            None => (def.enabled_by_default && !any_enabled, Source::Derived),
        };
        let entry = Entry {
            value: Value::Boolean(enabled),
            source,
            secret_file: false,
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
        };
        merged.insert("database_url".into(), entry);
    }
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
    config.check_consistency(command)?;
    Ok(config)
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
        Check::Positive => Err("expected an integer".into()),
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
         Unknown keys and unknown `LATCHKEY_*` variables are errors; empty variables are ignored. \
         In the environment, booleans are `true`/`false`/`1`/`0`.\n\n\
         | Key | Environment | Default | Meaning |\n\
         |---|---|---|---|\n",
    );
    let flags: Vec<&str> = Cli::default()
        .config_flags()
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
        for (alias, _) in ENV_ALIASES.iter().filter(|(_, path)| *path == key.path) {
            let names = if key.secret {
                format!("`{alias}` / `{alias}_FILE`")
            } else {
                format!("`{alias}`")
            };
            meaning.push_str(&format!(
                " Also read from {names} (Pocket ID), below `LATCHKEY_*` variables."
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
    out
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("latchkey").chain(args.iter().copied())).unwrap()
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
        envs.extend(ENV_ALIASES.iter().map(|(alias, _)| alias.to_string()));
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
        for (_, path) in ENV_ALIASES {
            assert!(find_key(path).is_some());
        }
        for (name, _) in Cli::default().config_flags() {
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
