//! Several proxied apps in one configuration: `[[proxy]]` sections, each loaded as if it were
//! the file's only `[proxy]` (so each is checked key by key as one is), then checked against
//! each other here: their own store ids (`name`), listeners and cookies.
//!
//! oauth2-proxy's flags and variables, and `LATCHKEY_PROXY_*`, say nothing about which section
//! they mean: with several sections they are refused rather than applied to all or one.

use anyhow::{Result, bail};
use toml::{Table, Value};
use url::Url;

use super::{Config, Overrides, ProxyConfig};
use crate::role::Role;

/// Takes the `[[proxy]]` sections out of the file's table. A `[proxy]` table stays where it
/// is (and gives no sections).
pub(super) fn take_sections(table: &mut Table) -> Result<Vec<Table>> {
    if !matches!(table.get("proxy"), Some(Value::Array(_))) {
        return Ok(Vec::new());
    }
    let Some(Value::Array(items)) = table.remove("proxy") else {
        return Ok(Vec::new());
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Table(section) => Ok(section),
            _ => bail!("`proxy` is a section; write it as [proxy] or as [[proxy]] tables"),
        })
        .collect()
}

/// With several sections, names that would apply to a proxy without saying which are refused.
pub(super) fn refuse_shared_options(overrides: &Overrides, env: &[(String, String)]) -> Result<()> {
    const HOW: &str = "with several [[proxy]] sections, set each proxy's options in its section";
    if let Some(flag) = overrides.proxy_flags.first() {
        bail!("--{}: oauth2-proxy's flags set one proxy; {HOW}", flag.name);
    }
    if let Some((name, _)) = env.iter().find(|(name, value)| {
        !value.is_empty()
            && (name.starts_with("OAUTH2_PROXY_") || name.starts_with("LATCHKEY_PROXY_"))
    }) {
        bail!("environment variable {name} sets one proxy; {HOW}");
    }
    if overrides.run.primary_role() == Role::Proxy {
        let shorthand_env = env
            .iter()
            .find(|(name, value)| {
                !value.is_empty()
                    && matches!(name.as_str(), "LATCHKEY_LISTEN" | "LATCHKEY_PUBLIC_URL")
            })
            .map(|(name, _)| format!("environment variable {name}"));
        let shorthand_flag = [
            ("--listen", overrides.flags.listen.is_some()),
            ("--public-url", overrides.flags.public_url.is_some()),
        ]
        .into_iter()
        .find(|(_, given)| *given)
        .map(|(flag, _)| flag.to_owned());
        if let Some(what) = shorthand_env.or(shorthand_flag) {
            bail!("{what} sets one proxy's address; {HOW}");
        }
    }
    Ok(())
}

/// Sections that would mix their sessions, share a listener or see each other's cookie.
pub(super) fn check_sections(config: &Config) -> Result<()> {
    let all: Vec<&ProxyConfig> = config.all_proxies().collect();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            if a.name == b.name {
                bail!(
                    "two [[proxy]] sections are named {:?}: give each its own `name` (it keeps \
                     their sessions apart)",
                    a.name
                );
            }
            if !(a.enabled && b.enabled) {
                continue;
            }
            if a.listen == b.listen && a.listen.port() != 0 {
                bail!(
                    "[[proxy]] sections {:?} and {:?} both listen on {}; each needs its own `listen`",
                    a.name,
                    b.name,
                    a.listen
                );
            }
            if a.cookie_name == b.cookie_name && cookies_may_meet(a, b) {
                bail!(
                    "[[proxy]] sections {:?} and {:?} both name their cookie {:?} and a browser \
                     could send one's to the other (cookies ignore ports): give each its own \
                     `cookie_name`",
                    a.name,
                    b.name,
                    a.cookie_name
                );
            }
        }
    }
    Ok(())
}

/// Whether a browser could send one proxy's cookie to the other: the same host, or a cookie
/// domain covering the other's host.
fn cookies_may_meet(a: &ProxyConfig, b: &ProxyConfig) -> bool {
    let host = |p: &ProxyConfig| {
        Url::parse(&p.public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .unwrap_or_default()
    };
    let covers = |p: &ProxyConfig, other_host: &str| {
        p.cookie_domains.iter().any(|d| {
            let d = d.trim_start_matches('.').to_ascii_lowercase();
            other_host == d || other_host.ends_with(&format!(".{d}"))
        })
    };
    let (ha, hb) = (host(a), host(b));
    ha == hb || covers(a, &hb) || covers(b, &ha)
}
