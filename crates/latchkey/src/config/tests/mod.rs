//! The configuration as the command line and the environment give it: layers, names, checks.
//! Other programs' names are tested in `aliases.rs` and `pocket_id.rs`, the idp role's own keys
//! in `idp.rs`, the key table and the README in `table.rs`.

mod aliases;
mod idp;
mod pocket_id;
mod proxies;
mod proxy;
mod table;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use toml::Value;

use super::keys::{Kind, parse_text};
use super::layers::check_type;
use super::*;

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
            ("LATCHKEY_TSIDP_CODE_LIFETIME", "120"),
            ("LATCHKEY_METRICS_LISTEN", "127.0.0.1:9100"),
            ("LATCHKEY_DATABASE_URL", ""),
        ],
    );
    assert!(config.tsidp.enabled);
    // A role set `enabled`, so unset ones are off.
    assert!(!config.idp.enabled);
    assert!(config.idp.dynamic_registration);
    assert_eq!(config.tsidp.code_lifetime, 120);
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

    let file = TempFile::new("[proxies]\nlisten = \"127.0.0.1:1\"\n");
    let err = load_err(&["--config", file.path()], &[]);
    assert!(err.contains("unknown section `[proxies]`"), "{err}");

    let file = TempFile::new("[proxy]\nupstream = [\"http://127.0.0.1:1/\"]\n");
    let err = load_err(&["--config", file.path()], &[]);
    assert!(err.contains("did you mean `proxy.upstreams`"), "{err}");

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
        err.contains("LATCHKEY_ENCRYPTION_KEY ") && err.contains("LATCHKEY_ENCRYPTION_KEY_FILE"),
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
fn shorthands_follow_the_command() {
    let config = load_ok(&["tsidp", "--listen", "127.0.0.1:0"], &[]);
    assert_eq!(config.tsidp.listen, "127.0.0.1:0".parse().unwrap());
    assert_eq!(config.idp.listen, "127.0.0.1:1411".parse().unwrap());
    assert!(config.tsidp.enabled && !config.idp.enabled);

    let config = load_ok(&["--listen", "127.0.0.1:0"], &[]);
    assert_eq!(config.idp.listen, "127.0.0.1:0".parse().unwrap());

    // The specific key wins over the shorthand in the same layer.
    let file = TempFile::new("listen = \"127.0.0.1:2000\"\n[idp]\nlisten = \"127.0.0.1:3000\"\n");
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
fn lifetimes_are_bounded_and_consistent() {
    let err = load_err(&[], &[("LATCHKEY_IDP_REFRESH_TOKEN_LIFETIME", "10")]);
    assert!(err.contains("idp.refresh_token_lifetime"), "{err}");
    let err = load_err(
        &[],
        &[("LATCHKEY_TSIDP_ACCESS_TOKEN_LIFETIME", "9999999999")],
    );
    assert!(err.contains("tsidp.access_token_lifetime"), "{err}");
}
