//! Latchkey's configuration, assembled from four layers, each overriding the previous one:
//! built-in defaults, a TOML file (`--config` or `LATCHKEY_CONFIG`), the environment
//! (`LATCHKEY_*`), and command-line flags. The command line comes in as [`Overrides`], built
//! by `cli`; this module knows no clap. [`load`] (here) runs the steps, each in its own file:
//!
//! - `keys.rs`: every setting described once, in `GLOBAL_KEYS` and, for each role in `ROLES`,
//!   in `ROLE_KEYS`. That table validates the file (unknown keys are errors), names the
//!   environment variables (`idp.public_url` → `LATCHKEY_IDP_PUBLIC_URL`; unknown
//!   `LATCHKEY_*` variables are errors too), and produces the README's reference
//!   (`reference.rs`).
//! - `aliases.rs`: names other software gives a setting (Pocket ID's `APP_URL`, tsidp's
//!   `TS_STATE_DIR` and `-dir`, …), read in the environment and flag layers below our own
//!   names.
//! - `layers.rs`: each layer flattened to `dotted.path → value`; the layers are then merged.
//! - `tsidp.rs`: where tsidp's names count, and what its modes imply.
//! - `pocket_id.rs`: Pocket ID's `HOST` and `PORT` as parts of `idp.listen`, and what to tell
//!   someone coming from Pocket ID.
//! - `validate.rs`: the merged result checked key by key (so errors name the key and the layer
//!   that set it), deserialized into [`Config`] (this file), then checked as a whole.
//!
//! Dependencies between them run one way: keys (with its part proxy_keys) ← aliases ← layers ←
//! tsidp, pocket_id, proxy ← validate ← here.
//!
//! - `proxy_keys.rs`, `proxy.rs`: the proxy role's `[proxy]` keys (oauth2-proxy's names) and
//!   their mapping onto the proxy crate's settings, checked at load.
//!
//! Adding an issuer role takes: a `ROLES` entry, a [`Config`] field and a [`Config::role`]
//! arm, plus its own keys (as `"tsidp.hostname"`) in `GLOBAL_KEYS`.

mod aliases;
mod keys;
mod layers;
mod pocket_id;
mod proxies;
mod proxy;
mod proxy_keys;
mod reference;
#[cfg(test)]
mod tests;
mod tsidp;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::role::Role;
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use url::Url;

use aliases::{Origin, env_alias};
pub use aliases::{ProxyFlag, TsidpFlag, oauth2_proxy_flags};
pub use keys::role_names;
use keys::{CONFIG_ENV, ENV_PREFIX, ROLES};
use layers::{Layer, defaults_layer, env_layer, file_layer, flag_layer, read_file};
use pocket_id::{complete_listen, pocket_id_notices};
pub use proxy::ProxyConfig;
use tsidp::{drop_alias_hostname, local_tailscaled_mode, tsidp_in_scope, tsidp_notices};
use validate::resolve;

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
    /// oauth2-proxy's flags given to `latchkey proxy`, in order.
    pub proxy_flags: Vec<ProxyFlag>,
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
/// Several `[[proxy]]` sections are loaded one by one, each as if it were the file's only
/// `[proxy]`, then checked against each other ([`proxies`]).
fn load_from(overrides: &Overrides, env: &[(String, String)]) -> Result<Config> {
    let primary = overrides.run.primary_role();
    let config_file = overrides.config_file.clone().or_else(|| {
        env.iter()
            .rev()
            .find(|(name, value)| name == CONFIG_ENV && !value.is_empty())
            .map(|(_, value)| PathBuf::from(value))
    });
    let mut table = match &config_file {
        Some(file) => Some(read_file(file, primary)?),
        None => None,
    };
    let sections = match &mut table {
        Some(table) => proxies::take_sections(table)?,
        None => Vec::new(),
    };
    if sections.len() < 2 {
        let file = config_file.as_deref().zip(table.map(|mut table| {
            if let Some(one) = sections.into_iter().next() {
                table.insert("proxy".into(), toml::Value::Table(one));
            }
            table
        }));
        return load_layers(overrides, env, file);
    }
    let table = table.unwrap_or_default();
    let file = config_file.as_deref().unwrap_or(std::path::Path::new(""));
    proxies::refuse_shared_options(overrides, env)?;
    let mut configs = Vec::with_capacity(sections.len());
    for (i, section) in sections.into_iter().enumerate() {
        let mut one = table.clone();
        one.insert("proxy".into(), toml::Value::Table(section));
        let config = load_layers(overrides, env, Some((file, one)))
            .with_context(|| format!("[[proxy]] section {} of {}", i + 1, file.display()))?;
        configs.push(config);
    }
    let mut config = configs.remove(0);
    for other in configs {
        for notice in other.notices {
            if !config.notices.contains(&notice) {
                config.notices.push(notice);
            }
        }
        config.other_proxies.push(other.proxy);
    }
    proxies::check_sections(&config)?;
    Ok(config)
}

/// The layers merged and resolved, with `file` (its path and table) as the file layer.
fn load_layers(
    overrides: &Overrides,
    env: &[(String, String)],
    file: Option<(&std::path::Path, toml::Table)>,
) -> Result<Config> {
    let run = overrides.run;
    let primary = run.primary_role();
    let config_file = file.as_ref().map(|(path, _)| path.to_path_buf());
    let mut env_layer = env_layer(env, primary)?;
    let file_layer = match &file {
        Some((path, table)) => file_layer(path, table, primary)?,
        None => Layer::new(),
    };
    let mut flag_layer = flag_layer(overrides, primary)?;
    let local_mode = local_tailscaled_mode(overrides, env);
    let hostname_ignored =
        local_mode.is_some() && drop_alias_hostname([&mut env_layer, &mut flag_layer]);
    if !tsidp_in_scope(run, [&file_layer, &env_layer, &flag_layer]) {
        env_layer.retain(|path, entry| {
            path.starts_with("tsidp.")
                || entry.via.is_none_or(|alias| alias.origin != Origin::Tsidp)
        });
    }
    let mut merged = defaults_layer();
    merged.extend(file_layer);
    complete_listen(&mut env_layer, &merged)?;
    merged.extend(env_layer);
    merged.extend(flag_layer);
    let pocket_id_notices = pocket_id_notices(overrides, env, &merged);
    let mut config = resolve(merged, run, config_file, local_mode.is_some())?;
    if config.tsidp.enabled {
        let hostname_ignored_by = local_mode.filter(|_| hostname_ignored);
        config.notices = tsidp_notices(overrides, env, &config.tsidp, hostname_ignored_by)?;
    }
    if config.idp.enabled {
        config.notices.extend(pocket_id_notices?);
    }
    if config.proxy.enabled {
        config.proxy.settings()?;
        config
            .notices
            .extend(proxy::proxy_notices(&config.proxy, env));
    }
    Ok(config)
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
    /// The `[proxy]` section, or the first `[[proxy]]` one.
    pub proxy: ProxyConfig,
    /// The second and later `[[proxy]]` sections.
    #[serde(skip)]
    pub other_proxies: Vec<ProxyConfig>,
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

/// Settings of one role. Lifetimes are in seconds, `session_duration` in minutes.
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
    /// Both roles: IP addresses (`10.0.0.1`, `::1`) whose last `X-Forwarded-For` hop names the
    /// caller; for idp also CIDR ranges (`10.0.0.0/8`), checked at load. Empty: trust none.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// idp only (the key table allows these under `[idp]` alone; tsidp gets the defaults).
    /// How long a sign-in lasts, in minutes (1 to 10 years' worth).
    #[serde(default = "default_session_duration")]
    pub session_duration: u64,
    /// `required` or `preferred`.
    #[serde(default = "default_user_verification")]
    pub webauthn_user_verification: String,
    /// `any`, `platform` or `cross-platform`.
    #[serde(default = "default_authenticator_attachment")]
    pub webauthn_authenticator_attachment: String,
    #[serde(default = "default_allow_synced_passkeys")]
    pub webauthn_allow_synced_passkeys: bool,
    /// tsidp only (the key table allows these under `[tsidp]` alone).
    #[serde(default)]
    pub tailscaled_socket: Option<String>,
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

// The idp keys' defaults, for the tsidp section that has no such keys (a test keeps them equal
// to the key table's).
fn default_session_duration() -> u64 {
    60
}

fn default_user_verification() -> String {
    "required".into()
}

fn default_authenticator_attachment() -> String {
    "any".into()
}

fn default_allow_synced_passkeys() -> bool {
    true
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
    /// An issuer role's section. The proxy is no issuer: its section is [`Config::proxy`], and
    /// neither [`Config::enabled_roles`] nor the command line's `--role` ever names it.
    pub fn role(&self, role: Role) -> &RoleConfig {
        match role {
            Role::Idp => &self.idp,
            Role::Tsidp => &self.tsidp,
            Role::Proxy => unreachable!("the proxy role has no issuer section"),
        }
    }

    /// The issuer roles to run, in [`ROLES`] order (the proxy: [`ProxyConfig::enabled`]).
    pub fn enabled_roles(&self) -> impl Iterator<Item = (Role, &RoleConfig)> {
        ROLES
            .iter()
            .filter(|def| def.issuer)
            .map(|def| (def.role, self.role(def.role)))
            .filter(|(_, role)| role.enabled)
    }

    /// Every proxy section, enabled or not: `[proxy]`, or each `[[proxy]]`.
    pub fn all_proxies(&self) -> impl Iterator<Item = &ProxyConfig> {
        std::iter::once(&self.proxy).chain(&self.other_proxies)
    }

    /// The proxies to run.
    pub fn enabled_proxies(&self) -> impl Iterator<Item = &ProxyConfig> {
        self.all_proxies().filter(|proxy| proxy.enabled)
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
        for def in ROLES.iter().filter(|def| def.issuer) {
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
        for proxy in self.all_proxies() {
            let name = if self.other_proxies.is_empty() {
                "proxy:".to_owned()
            } else {
                format!("proxy {}:", proxy.name)
            };
            lines.push(if proxy.enabled {
                format!(
                    "{name:<15} enabled, listening on {}, at {}, provider {}, upstreams {}",
                    proxy.listen,
                    proxy.public_url,
                    proxy.oidc_issuer_url.as_deref().unwrap_or("unset"),
                    upstream_summary(proxy)
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
            .field("proxy", &self.proxy)
            .field("other_proxies", &self.other_proxies)
            .field("notices", &self.notices)
            .finish()
    }
}

/// A proxy's upstreams for the summary.
fn upstream_summary(proxy: &ProxyConfig) -> String {
    let all: Vec<&str> = proxy
        .upstreams
        .iter()
        .map(String::as_str)
        .chain(proxy.upstream.iter().map(|u| u.url.as_str()))
        .collect();
    if all.is_empty() {
        "none (forward-auth only)".to_owned()
    } else {
        all.join(", ")
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
