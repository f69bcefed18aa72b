//! The key table is consistent, and the README's reference is generated from it.

use super::*;
use crate::config::aliases::{ALIASES, Convert, Sets, TSNET_ONLY_ENV};
use crate::config::keys::{
    CONFIG_ENV, ENV_PREFIX, Fallback, KEYS, ROLE_KEYS, SHORTHANDS, env_name, env_names, find_key,
};
use crate::config::layers::{defaults_layer, file_target};
use crate::config::reference::reference_markdown;

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
    let mut cli_flags: Vec<&str> = crate::cli::tsidp_flags::TSIDP_FLAGS
        .iter()
        .map(|(f, _)| *f)
        .collect();
    alias_flags.sort_unstable();
    cli_flags.sort_unstable();
    assert_eq!(alias_flags, cli_flags);
    for (flag, boolean) in crate::cli::tsidp_flags::TSIDP_FLAGS {
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
        let env = if key.kind == Kind::Tables {
            "— (file only)".to_owned()
        } else {
            format!("`{}`", key.env)
        };
        assert!(markdown.contains(&format!("| `{}` | {env} |", key.path)));
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

/// The tsidp section has no idp-only keys; its serde defaults must be the idp keys' defaults.
#[test]
fn idp_only_keys_default_alike_in_tsidp() {
    let tsidp = load_ok(&[], &[]).tsidp;
    let values = [
        (
            "session_duration",
            Value::Integer(tsidp.session_duration.try_into().unwrap()),
        ),
        (
            "webauthn_user_verification",
            Value::String(tsidp.webauthn_user_verification),
        ),
        (
            "webauthn_authenticator_attachment",
            Value::String(tsidp.webauthn_authenticator_attachment),
        ),
        (
            "webauthn_allow_synced_passkeys",
            Value::Boolean(tsidp.webauthn_allow_synced_passkeys),
        ),
    ];
    for (name, value) in values {
        let key = find_key(&format!("idp.{name}")).unwrap();
        let Fallback::Value(text) = key.default else {
            panic!("idp.{name} has no plain default");
        };
        assert_eq!(parse_text(key.kind, text).unwrap(), value, "{name}");
        assert!(find_key(&format!("tsidp.{name}")).is_none(), "{name}");
    }
}
