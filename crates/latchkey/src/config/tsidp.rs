//! Following tsidp where its settings mean more than a value: which of its names count, its
//! `-use-local-tailscaled` mode (behind `tailscale serve`, the issuer asked from tailscaled),
//! and what to tell the operator about its settings Latchkey has no use for.

use std::net::SocketAddr;

use crate::role::Role;
use anyhow::{Result, anyhow};
use toml::Value;

use super::aliases::{ALIASES, Convert, Origin, Sets, TSNET_ONLY_ENV, When, alias_given, go_bool};
use super::keys::ROLES;
use super::layers::{Entry, Layer, Source};
use super::{Notice, Overrides, RoleConfig, Run};

/// Whether tsidp's names for process-wide settings (`TS_STATE_DIR`, `TSIDP_LOG`) count. Not
/// where only the idp runs (`latchkey idp`, or `serve` with the tsidp role off): there they are
/// more likely meant for something else, such as a tailscaled in the same container. The
/// one-shot commands (`clients`, `keys`, …) read them to find the data of `latchkey tsidp`,
/// unless the configuration says which roles run and tsidp is not among them (then they would
/// open another database than the server's).
/// Names of `tsidp.*` keys only ever affect the tsidp role, so they always count.
pub(super) fn tsidp_in_scope(run: Run, layers: [&Layer; 3]) -> bool {
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

/// tsidp with `-use-local-tailscaled` names itself after this machine and ignores
/// `-hostname` (which names its own tsnet node otherwise); so does Latchkey. Returns where
/// that was said, when it was.
pub(super) fn local_tailscaled_mode(
    overrides: &Overrides,
    env: &[(String, String)],
) -> Option<String> {
    let alias = ALIASES
        .iter()
        .find(|alias| alias.env == "TSIDP_USE_LOCAL_TAILSCALED")?;
    let (source, text) = alias_given(overrides, env, alias)?;
    go_bool(text).ok()?.then_some(source)
}

/// Drops `tsidp.hostname` where one of tsidp's names set it (`TS_HOSTNAME`, `-hostname`), for
/// [`local_tailscaled_mode`]; our own `tsidp.hostname` still counts. Returns whether it did.
pub(super) fn drop_alias_hostname(layers: [&mut Layer; 2]) -> bool {
    let mut dropped = false;
    for layer in layers {
        let via_alias = layer
            .get("tsidp.hostname")
            .is_some_and(|entry| entry.via.is_some());
        if via_alias {
            layer.remove("tsidp.hostname");
            dropped = true;
        }
    }
    dropped
}

/// What to tell the operator about tsidp settings that have nothing to set in Latchkey. Only
/// called when the tsidp role runs; a flag wins over the environment. `hostname_ignored_by`:
/// where `-use-local-tailscaled` was said, when tsidp's hostname was dropped for it.
pub(super) fn tsidp_notices(
    overrides: &Overrides,
    env: &[(String, String)],
    tsidp: &RoleConfig,
    hostname_ignored_by: Option<String>,
) -> Result<Vec<Notice>> {
    let mut notices = Vec::new();
    for alias in ALIASES.iter().filter(|a| a.origin == Origin::Tsidp) {
        let Sets::Nothing { when, notice } = alias.sets else {
            continue;
        };
        let Some((source, text)) = alias_given(overrides, env, alias) else {
            continue;
        };
        let told = match when {
            When::Set => true,
            When::Is(on) => go_bool(text).map_err(|err| anyhow!("{source}: {err}"))? == on,
        };
        if told {
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
    if let Some(source) = hostname_ignored_by {
        notices.push(Notice {
            warning: false,
            text: format!(
                "{source}: tsidp's hostname is ignored, as tsidp ignores it with \
                 -use-local-tailscaled: the issuer is named after this machine (set \
                 `tsidp.public_url` or `tsidp.hostname` to choose another)"
            ),
        });
    }
    Ok(notices)
}

/// The loopback proxies trusted by default behind `tailscale serve` (see [`super::validate::resolve`]).
const LOOPBACK_PROXIES: [&str; 2] = ["127.0.0.1", "::1"];

/// tsidp with the local tailscaled sits behind tailscaled's `serve`, believes the
/// `X-Forwarded-For` it gets from there, and takes its issuer from the tailnet. Latchkey does
/// the same once one of tsidp's settings for it is used: `tsidp.hostname`, `tsidp.https_port`
/// or `-local-port`, or `-use-local-tailscaled` itself. Then, unless configured, loopback is a
/// trusted proxy (when `tsidp.listen` is a loopback address), and the issuer is derived at
/// startup. Returns the latter.
pub(super) fn behind_tailscale_serve(merged: &mut Layer, local_tailscaled: bool) -> bool {
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
        let entry = Entry::ours(Value::Array(proxies), Source::Derived);
        merged.insert("tsidp.trusted_proxies".into(), entry);
    }
    merged
        .get("tsidp.public_url")
        .is_some_and(|entry| matches!(entry.source, Source::Default))
}
