//! From the merged layers to a [`Config`]: derived defaults, secrets read from their files,
//! every key checked (errors name the key and where its value came from), then the checks
//! spanning several keys.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use toml::{Table, Value};
use url::Url;

use super::keys::{Check, KEYS, Key, MAX_LIFETIME, ROLES};
use super::layers::{Entry, Layer, Source};
use super::proxy::go_duration;
use super::tsidp::behind_tailscale_serve;
use super::{Config, Run};

/// Fills in derived values, reads secret files, validates every key and builds the [`Config`].
/// `local_tailscaled`: tsidp's `-use-local-tailscaled` was given (see [`behind_tailscale_serve`]).
pub(super) fn resolve(
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
        merged.insert(path, Entry::ours(Value::Boolean(enabled), source));
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
        let entry = Entry::ours(Value::String(url), Source::Derived);
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

fn read_secret_file(key: &Key, entry: &mut Entry) -> Result<()> {
    let file = entry.value.as_str().unwrap_or_default();
    let content = std::fs::read_to_string(file).with_context(|| {
        format!(
            "cannot read `{}` from file {file:?} (named by {})",
            key.path, entry.source
        )
    })?;
    let content = content.trim_end_matches(['\n', '\r']);
    entry.value = match entry.via {
        // Another program's name for it: its file holds that program's form of the value.
        Some(alias) => alias
            .convert(key.kind, content)
            .map_err(|err| anyhow!("{}: {err}", entry.source))?
            .ok_or_else(|| anyhow!("{}: the file gives no value", entry.source))?,
        None => Value::String(content.to_owned()),
    };
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
        (Value::Array(items), Check::IpOrCidr) => items
            .iter()
            .try_for_each(|item| ip_or_cidr(item.as_str().unwrap_or_default()))
            .map(|()| None),
        (Value::Array(items), Check::Upstreams) => items
            .iter()
            .try_for_each(|item| {
                super::proxy::UpstreamConfig::deserialize(item.clone())
                    .map(|_| ())
                    .map_err(|e| format!("{e}"))
            })
            .map(|()| None),
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
        Check::Duration => go_duration(text).map(|_| None),
        Check::Path => {
            if text.starts_with('/') && text.len() > 1 && !text.ends_with('/') {
                Ok(None)
            } else {
                Err("expected a path like /name (a leading slash, none at the end)".into())
            }
        }
        Check::Positive | Check::Port => Err("expected an integer".into()),
        Check::IpOrCidr => Err("expected a list".into()),
        Check::Upstreams => Err("expected [[proxy.upstream]] tables".into()),
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

/// An IP address (`10.0.0.1`, `::1`) or a CIDR range (`10.0.0.0/8`, `fd00::/8`), as the idp
/// reads it.
fn ip_or_cidr(text: &str) -> Result<(), String> {
    text.parse::<latchkey_web::net::IpRange>()
        .map(|_| ())
        .map_err(|_| {
            format!(
                "{text:?} is not an IP address or CIDR range (such as 10.0.0.1, ::1, 10.0.0.0/8 or \
                 fd00::/8)"
            )
        })
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

impl Config {
    /// Checks spanning several keys.
    fn check_consistency(&self, run: Run) -> Result<()> {
        if run == Run::Enabled && self.enabled_roles().next().is_none() && !self.proxy.enabled {
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
        if self.proxy.enabled {
            listeners.push(("proxy.listen".into(), self.proxy.listen));
        }
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
        for def in ROLES.iter().filter(|def| def.issuer) {
            let rc = self.role(def.role);
            let role = def.role;
            for (key, value) in [
                ("access_token_lifetime", rc.access_token_lifetime),
                ("id_token_lifetime", rc.id_token_lifetime),
                ("refresh_token_lifetime", rc.refresh_token_lifetime),
                ("code_lifetime", rc.code_lifetime),
            ] {
                if value > MAX_LIFETIME {
                    bail!("`{role}.{key}` is {value} s; at most {MAX_LIFETIME} (10 years)");
                }
            }
            if rc.session_duration > MAX_LIFETIME / 60 {
                bail!(
                    "`{role}.session_duration` is {} min; at most {} (10 years)",
                    rc.session_duration,
                    MAX_LIFETIME / 60
                );
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
