//! Following Pocket ID where its names mean more than a value: `HOST` and `PORT`, each one part
//! of `idp.listen`, and what to tell the operator about its settings that Latchkey reads
//! differently or has no use for. Pocket ID's names are the idp's: their notices are told where
//! the idp role runs.

use std::net::{IpAddr, SocketAddr};

use anyhow::{Result, anyhow};
use toml::Value;

use super::aliases::{ALIASES, Alias, Origin, Sets, TRUST_PROXY_TRUE, When, alias_given, go_bool};
use super::layers::{Entry, Layer};
use super::{Notice, Overrides};

/// Completes each listen address that `layer` gives only parts of (Pocket ID's `HOST` or
/// `PORT`, see [`super::aliases::Convert::ListenHost`]) with the other part from `below`, the
/// layers under it merged: `PORT=8080` over the default `127.0.0.1:1411` is `127.0.0.1:8080`.
pub(super) fn complete_listen(layer: &mut Layer, below: &Layer) -> Result<()> {
    for (path, entry) in layer.iter_mut() {
        let Value::Table(parts) = &entry.value else {
            continue;
        };
        let base = below.get(path);
        let base_addr = base
            .and_then(|base| base.value.as_str())
            .and_then(|text| text.parse::<SocketAddr>().ok());
        let Some(base_addr) = base_addr else {
            let shown = base
                .map(|base| format!(" = {} (from {})", base.value, base.source))
                .unwrap_or_default();
            return Err(anyhow!(
                "invalid `{path}`{shown}: expected an IP address and port, such as \
                 127.0.0.1:1411, of which {} sets only a part",
                entry.source
            ));
        };
        let ip = parts
            .get("host")
            .and_then(Value::as_str)
            .and_then(|host| host.parse::<IpAddr>().ok())
            .unwrap_or(base_addr.ip());
        let port = parts
            .get("port")
            .and_then(Value::as_integer)
            .and_then(|port| u16::try_from(port).ok())
            .unwrap_or(base_addr.port());
        entry.value = Value::String(SocketAddr::new(ip, port).to_string());
    }
    Ok(())
}

fn pocket_id_alias(env: &str) -> &'static Alias {
    ALIASES
        .iter()
        .find(|alias| alias.origin == Origin::PocketId && alias.env == env)
        .expect("a Pocket ID alias of that name")
}

/// What to tell the operator about Pocket ID's names where the idp runs: its settings that
/// have nothing to set here, and those read here with a difference worth knowing. `merged`:
/// every layer, merged.
pub(super) fn pocket_id_notices(
    overrides: &Overrides,
    env: &[(String, String)],
    merged: &Layer,
) -> Result<Vec<Notice>> {
    let note = |text: String| Notice {
        warning: false,
        text,
    };
    let mut notices = Vec::new();
    for alias in ALIASES.iter().filter(|a| a.origin == Origin::PocketId) {
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
            notices.push(note(format!("{source}: {notice}")));
        }
    }
    // Only where Pocket ID's name gave the value in the end.
    let set_by = |path: &str, name: &str| -> Option<&Entry> {
        merged
            .get(path)
            .filter(|entry| entry.via.is_some_and(|alias| alias.env == name))
    };

    let host = alias_given(overrides, env, pocket_id_alias("HOST"));
    let listen = merged.get("idp.listen").filter(|entry| {
        entry
            .via
            .is_some_and(|alias| alias.origin == Origin::PocketId)
    });
    if let Some(entry) = listen
        && host.is_none()
        && let Some(addr) = entry
            .value
            .as_str()
            .and_then(|t| t.parse::<SocketAddr>().ok())
        && addr.ip().is_loopback()
    {
        notices.push(note(format!(
            "{}: the idp listens on {addr}, loopback only: Pocket ID listens on every \
             interface unless HOST says otherwise, Latchkey on 127.0.0.1. Set HOST=0.0.0.0 \
             (or `idp.listen`) to be reachable from outside, as in a container",
            entry.source
        )));
    }

    if let Some(entry) = set_by("idp.trusted_proxies", "TRUST_PROXY")
        && let Some((_, text)) = alias_given(overrides, env, pocket_id_alias("TRUST_PROXY"))
        && go_bool(text) == Ok(true)
    {
        notices.push(note(format!(
            "{}: X-Forwarded-For is believed from loopback and private networks only ({}), \
             where Pocket ID believes it from any address; list your proxies in TRUST_PROXY \
             or `idp.trusted_proxies` to trust others",
            entry.source,
            TRUST_PROXY_TRUE.join(", ")
        )));
    }

    if let Some(entry) = set_by("database_url", "DB_CONNECTION_STRING") {
        notices.push(note(format!(
            "{}: Latchkey keeps its own tables in this database and does not read Pocket ID's: \
             it must be a database (or SQLite file) of its own, not Pocket ID's. Options after \
             `?` in a SQLite path or `file:` URI are dropped",
            entry.source
        )));
    }
    Ok(notices)
}
