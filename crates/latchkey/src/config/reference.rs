//! The README's configuration reference, generated from the key table and the aliases; a test
//! fails when the README is stale.

use super::Flags;
use super::aliases::{ALIASES, Convert, Origin, TRUST_PROXY_TRUE, TSNET_ONLY_ENV, all_aliases};
use super::keys::{
    FILE_SUFFIX, Fallback, GLOBAL_KEYS, KEYS, Key, Kind, SHORTHANDS, env_name, flag_name,
};

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
        out.push_str(&format!("| `{path}` | {env} | {default} | {meaning} |\n"));
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
        if key.path == "idp.listen" {
            meaning.push_str(
                " Pocket ID listens on every interface by default; Latchkey on 127.0.0.1, so in \
                 a container set `HOST=0.0.0.0` (or this key).",
            );
        }
        if key.path == "tsidp.public_url" {
            meaning.push_str(
                " When unset and `tsidp.hostname`, `tsidp.https_port` or tsidp's `-local-port` \
                 is set, it is `https://<hostname, or this machine's name>.<MagicDNS \
                 suffix>[:https_port]`, asked from tailscaled at startup, as tsidp names itself.",
            );
        }
        for alias in all_aliases().filter(|alias| alias.key().is_some_and(|k| k.path == key.path)) {
            let mut names = vec![format!("`{}`", alias.env)];
            if key.secret {
                names.push(format!("`{}_FILE`", alias.env));
            }
            match (alias.flag, alias.origin) {
                (Some(flag), Origin::OAuth2Proxy) => {
                    names.push(format!("`--{flag}`"));
                    if key.secret {
                        names.push(format!("`--{flag}-file`"));
                    }
                }
                (Some(flag), _) => names.push(format!("`-{flag}`")),
                (None, _) => {}
            }
            let how = match alias.convert {
                Convert::LoopbackPort => " (PORT means `127.0.0.1:PORT`)",
                Convert::TsidpLog => {
                    " (`debug`, `info`, `warn` or `error`; `debug` means `info,latchkey=debug`)"
                }
                Convert::ListenHost => " (the host part: an IP address, or `localhost`)",
                Convert::ListenPort => " (the port part)",
                Convert::PocketIdDatabase => {
                    " (a SQLite file path or `file:` URI means `sqlite://PATH`, its `?…` options \
                     dropped; `postgres://…` is kept)"
                }
                Convert::TrustProxy => " (`true`: loopback and private networks; `false`: none)",
                Convert::HttpAddress => " (`HOST:PORT`, or `:PORT` for every interface)",
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
        let env = if key.kind == Kind::Tables {
            "— (file only)".to_owned()
        } else {
            format!("`{}`", key.env)
        };
        (
            key.path.clone(),
            env,
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
            "Sets `{name}` of the role being run: `tsidp.{name}` under `latchkey tsidp`, \
             `proxy.{name}` under `latchkey proxy`, otherwise \
             `idp.{name}`. The role's own key wins within the same layer."
        );
        row(
            name,
            &format!("`{}`", env_name(name)),
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
        .filter(|alias| alias.key().is_none() && alias.origin == Origin::Tsidp)
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
    out.push_str(
        "\noauth2-proxy's flags are read after `latchkey proxy` (`--upstream` and the other list \
         flags may be repeated), its `OAUTH2_PROXY_*` variables set `proxy.*` keys only (where the \
         proxy runs, those Latchkey does not know are named in a warning), and \
         `--config-test` checks the configuration. Under `latchkey proxy`, the file named by \
         `--config` may be an oauth2-proxy configuration: its top-level keys that are `[proxy]` \
         keys count as such, and `http_address` as `proxy.listen`. See docs/proxy.md.\n",
    );
    out.push_str(
        "\nSeveral proxied apps: write `[[proxy]]` sections instead of one `[proxy]`, each with \
         its own `name`, `listen`, client, cookie, rules and upstreams (every `proxy.*` key \
         above). Their names and listen addresses must differ, and so must their cookie names \
         where one proxy's cookie could reach the other's host. oauth2-proxy's flags and \
         variables and `LATCHKEY_PROXY_*` set one proxy: with several sections they are \
         refused.\n",
    );
    let pocket_id: Vec<String> = ALIASES
        .iter()
        .filter(|alias| alias.key().is_none() && alias.origin == Origin::PocketId)
        .map(|alias| format!("`{}`", alias.env))
        .collect();
    out.push_str(&format!(
        "\nPocket ID's {} have nothing to set in Latchkey: where the idp role runs, each is \
         named at startup with what to do instead. `TRUST_PROXY=true` trusts {}. See \
         docs/idp-settings.md.\n",
        pocket_id.join(", "),
        TRUST_PROXY_TRUE
            .iter()
            .map(|range| format!("`{range}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out
}
