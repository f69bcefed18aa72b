//! Pocket ID's names for the idp's settings, below ours; and those it has that we do not.

use super::*;
use crate::config::aliases::TRUST_PROXY_TRUE;

fn listen(config: &Config) -> String {
    config.idp.listen.to_string()
}

fn notices(config: &Config) -> String {
    config
        .notices
        .iter()
        .map(|notice| notice.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn host_and_port_each_set_their_part() {
    assert_eq!(listen(&load_ok(&[], &[("PORT", "8080")])), "127.0.0.1:8080");
    assert_eq!(
        listen(&load_ok(&[], &[("HOST", "0.0.0.0")])),
        "0.0.0.0:1411"
    );
    for vars in [
        [("HOST", "0.0.0.0"), ("PORT", "8080")],
        [("PORT", "8080"), ("HOST", "0.0.0.0")],
    ] {
        assert_eq!(listen(&load_ok(&[], &vars)), "0.0.0.0:8080", "{vars:?}");
    }
    for (host, expected) in [
        ("::", "[::]:1411"),
        ("[::1]", "[::1]:1411"),
        ("localhost", "127.0.0.1:1411"),
        ("LocalHost", "127.0.0.1:1411"),
        (" 192.168.1.5 ", "192.168.1.5:1411"),
    ] {
        assert_eq!(listen(&load_ok(&[], &[("HOST", host)])), expected, "{host}");
    }
    // Each keeps the other part from the layers below: the file, or the default.
    let file = TempFile::new("[idp]\nlisten = \"10.1.2.3:9000\"\n");
    let args = ["--config", file.path()];
    assert_eq!(
        listen(&load_ok(&args, &[("PORT", "8080")])),
        "10.1.2.3:8080"
    );
    assert_eq!(listen(&load_ok(&args, &[("HOST", "::")])), "[::]:9000");
    let file = TempFile::new("listen = \"10.1.2.3:9000\"\n");
    let args = ["--config", file.path()];
    assert_eq!(
        listen(&load_ok(&args, &[("PORT", "8080")])),
        "10.1.2.3:8080"
    );
    // Our names win in the same layer; flags win over the environment.
    let vars = [
        ("HOST", "0.0.0.0"),
        ("PORT", "8080"),
        ("LATCHKEY_IDP_LISTEN", "127.0.0.2:7000"),
    ];
    assert_eq!(listen(&load_ok(&[], &vars)), "127.0.0.2:7000");
    let vars = [("PORT", "8080"), ("LATCHKEY_LISTEN", "127.0.0.2:7000")];
    assert_eq!(listen(&load_ok(&[], &vars)), "127.0.0.2:7000");
    let vars = [("HOST", "0.0.0.0"), ("PORT", "8080")];
    let config = load_ok(&["--listen", "127.0.0.3:7001"], &vars);
    assert_eq!(listen(&config), "127.0.0.3:7001");
    // They are the idp's: `latchkey tsidp` keeps its own listener.
    let config = load_ok(&["tsidp"], &vars);
    assert_eq!(config.tsidp.listen, "127.0.0.1:1412".parse().unwrap());
    assert_eq!(listen(&config), "0.0.0.0:8080");
    // A file's listen address that does not parse cannot be completed.
    let file = TempFile::new("[idp]\nlisten = \"localhost:9000\"\n");
    let err = load_err(&["--config", file.path()], &[("PORT", "8080")]);
    assert!(
        err.contains("idp.listen") && err.contains(file.path()) && err.contains("PORT"),
        "{err}"
    );
}

#[test]
fn bad_host_or_port_names_the_variable() {
    for (name, value, expected) in [
        ("HOST", "idp.example.com", "IP address"),
        ("HOST", "0.0.0.0:80", "IP address"),
        ("PORT", "http", "1 to 65535"),
        ("PORT", "0", "1 to 65535"),
        ("PORT", "65536", "1 to 65535"),
        ("PORT", "-1", "1 to 65535"),
    ] {
        let err = load_err(&[], &[(name, value)]);
        assert!(
            err.contains(&format!("environment variable {name}:")) && err.contains(expected),
            "{name}={value}: {err}"
        );
    }
}

#[test]
fn port_without_host_tells_that_latchkey_listens_on_loopback() {
    let config = load_ok(&[], &[("PORT", "8080")]);
    let text = notices(&config);
    assert!(
        text.contains("PORT") && text.contains("127.0.0.1:8080") && text.contains("HOST=0.0.0.0"),
        "{text}"
    );
    for vars in [
        &[("PORT", "8080"), ("HOST", "0.0.0.0")][..],
        &[("PORT", "8080"), ("HOST", "127.0.0.1")][..],
        &[("PORT", "8080"), ("LATCHKEY_IDP_LISTEN", "127.0.0.1:8080")][..],
        &[][..],
    ] {
        let config = load_ok(&[], vars);
        assert!(config.notices.is_empty(), "{vars:?}: {:?}", config.notices);
    }
    // Nor where the idp does not run.
    assert!(load_ok(&["tsidp"], &[("PORT", "8080")]).notices.is_empty());
}

#[test]
fn db_connection_string_forms() {
    for (value, expected) in [
        ("data/pocket-id.db", "sqlite://data/pocket-id.db"),
        (
            "/var/lib/pocket-id/pocket-id.db",
            "sqlite:///var/lib/pocket-id/pocket-id.db",
        ),
        ("file:data/pocket-id.db", "sqlite://data/pocket-id.db"),
        (
            "file:data/pocket-id.db?_pragma=journal_mode(WAL)&_pragma=busy_timeout(2500)&_txlock=immediate",
            "sqlite://data/pocket-id.db",
        ),
        ("file:/srv/id.db?_txlock=immediate", "sqlite:///srv/id.db"),
        ("file:///srv/id.db", "sqlite:///srv/id.db"),
        (
            "postgres://pocket:s3cret@db:5432/pocketid?sslmode=disable",
            "postgres://pocket:s3cret@db:5432/pocketid?sslmode=disable",
        ),
        ("postgresql://db/latchkey", "postgresql://db/latchkey"),
        ("sqlite://./data/other.db", "sqlite://./data/other.db"),
    ] {
        let config = load_ok(&[], &[("DB_CONNECTION_STRING", value)]);
        assert_eq!(config.database_url, expected, "{value}");
    }
    // Ours wins; the data directory does not move the database named.
    let config = load_ok(
        &["--data-dir", "/srv/latchkey"],
        &[
            ("DB_CONNECTION_STRING", "data/pocket-id.db"),
            ("LATCHKEY_DATABASE_URL", "postgres://db/latchkey"),
        ],
    );
    assert_eq!(config.database_url, "postgres://db/latchkey");
    let config = load_ok(
        &["--data-dir", "/srv/latchkey"],
        &[("DB_CONNECTION_STRING", "data/pocket-id.db")],
    );
    assert_eq!(config.database_url, "sqlite://data/pocket-id.db");
    let config = load_ok(
        &["--database-url", "sqlite:///flag.db"],
        &[("DB_CONNECTION_STRING", "data/pocket-id.db")],
    );
    assert_eq!(config.database_url, "sqlite:///flag.db");

    // Pocket ID's `_FILE` form, read as Pocket ID's value.
    let secret = TempFile::new("file:/srv/pocket.db?_txlock=immediate\n");
    let config = load_ok(&[], &[("DB_CONNECTION_STRING_FILE", secret.path())]);
    assert_eq!(config.database_url, "sqlite:///srv/pocket.db");
    let secret = TempFile::new("postgres://u:p@db/x\n");
    let config = load_ok(&[], &[("DB_CONNECTION_STRING_FILE", secret.path())]);
    assert_eq!(config.database_url, "postgres://u:p@db/x");
    // ... and ours for our own name.
    let config = load_ok(&[], &[("LATCHKEY_DATABASE_URL_FILE", secret.path())]);
    assert_eq!(config.database_url, "postgres://u:p@db/x");
    let err = load_err(
        &[],
        &[
            ("DB_CONNECTION_STRING", "data/a.db"),
            ("DB_CONNECTION_STRING_FILE", secret.path()),
        ],
    );
    assert!(err.contains("use only one of them"), "{err}");

    // Told where the idp runs: it is Latchkey's database, not Pocket ID's.
    let config = load_ok(&[], &[("DB_CONNECTION_STRING", "data/pocket-id.db")]);
    let text = notices(&config);
    assert!(
        text.contains("DB_CONNECTION_STRING") && text.contains("not Pocket ID's"),
        "{text}"
    );
    let config = load_ok(
        &[],
        &[
            ("DB_CONNECTION_STRING", "data/pocket-id.db"),
            ("LATCHKEY_DATABASE_URL", "sqlite://x.db"),
        ],
    );
    assert!(config.notices.is_empty(), "{:?}", config.notices);
}

#[test]
fn bad_db_connection_strings_are_errors_that_do_not_echo_them() {
    for (value, expected) in [
        (":memory:", "in-memory"),
        ("file::memory:?cache=shared", "in-memory"),
        ("file:pocket?mode=memory&cache=shared", "in-memory"),
        ("mysql://root:hunter2@db/pocket", "postgres://"),
        ("file:", "SQLite file path"),
        ("?_txlock=immediate", "SQLite file path"),
    ] {
        let err = load_err(&[], &[("DB_CONNECTION_STRING", value)]);
        assert!(
            err.contains("environment variable DB_CONNECTION_STRING:") && err.contains(expected),
            "{value}: {err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }
    let secret = TempFile::new(":memory:\n");
    let err = load_err(&[], &[("DB_CONNECTION_STRING_FILE", secret.path())]);
    assert!(
        err.contains("DB_CONNECTION_STRING_FILE") && err.contains("in-memory"),
        "{err}"
    );
    // Our own name, now a secret, is not echoed either.
    let err = load_err(&["--database-url", "mysql://root:hunter2@db/x"], &[]);
    assert!(
        err.contains("database_url") && !err.contains("hunter2"),
        "{err}"
    );
}

fn trust_proxy_true() -> Vec<String> {
    TRUST_PROXY_TRUE.iter().map(|s| s.to_string()).collect()
}

#[test]
fn trust_proxy_forms() {
    for value in ["true", "1", "t", "TRUE", " True "] {
        let config = load_ok(&[], &[("TRUST_PROXY", value)]);
        assert_eq!(config.idp.trusted_proxies, trust_proxy_true(), "{value}");
    }
    assert!(TRUST_PROXY_TRUE.contains(&"127.0.0.0/8") && TRUST_PROXY_TRUE.contains(&"::1"));
    assert!(!TRUST_PROXY_TRUE.iter().any(|range| range.ends_with("/0")));
    let config = load_ok(&[], &[("TRUST_PROXY", "true")]);
    let text = notices(&config);
    assert!(
        text.contains("TRUST_PROXY")
            && text.contains("192.168.0.0/16")
            && text.contains("any address"),
        "{text}"
    );

    // `false` trusts none, also over the file.
    let file = TempFile::new("[idp]\ntrusted_proxies = [\"10.0.0.1\"]\n");
    for value in ["false", "0", "F"] {
        let config = load_ok(&["--config", file.path()], &[("TRUST_PROXY", value)]);
        assert!(config.idp.trusted_proxies.is_empty(), "{value}");
        assert!(config.notices.is_empty());
    }

    // Since Pocket ID 2.11: a list of addresses and ranges.
    let config = load_ok(&[], &[("TRUST_PROXY", "10.0.0.0/8, 192.168.1.1,fd00::/8")]);
    assert_eq!(
        config.idp.trusted_proxies,
        ["10.0.0.0/8", "192.168.1.1", "fd00::/8"]
    );
    assert!(config.notices.is_empty(), "{:?}", config.notices);
    let err = load_err(&[], &[("TRUST_PROXY", "10.0.0.300")]);
    assert!(
        err.contains("`idp.trusted_proxies`")
            && err.contains("environment variable TRUST_PROXY")
            && err.contains("\"10.0.0.300\" is not an IP address or CIDR range"),
        "{err}"
    );
    let err = load_err(&[], &[("TRUST_PROXY", "yes")]);
    assert!(
        err.contains("TRUST_PROXY") && err.contains("\"yes\""),
        "{err}"
    );

    // Ours wins in the same layer, and then nothing is said about TRUST_PROXY.
    let config = load_ok(
        &[],
        &[
            ("TRUST_PROXY", "true"),
            ("LATCHKEY_IDP_TRUSTED_PROXIES", "127.0.0.1"),
        ],
    );
    assert_eq!(config.idp.trusted_proxies, ["127.0.0.1"]);
    assert!(config.notices.is_empty(), "{:?}", config.notices);
    // It is the idp's, not tsidp's.
    let config = load_ok(&["tsidp"], &[("TRUST_PROXY", "true")]);
    assert!(config.tsidp.trusted_proxies.is_empty());
}

#[test]
fn session_duration_in_minutes() {
    let config = load_ok(&[], &[("SESSION_DURATION", "30")]);
    assert_eq!(config.idp.session_duration, 30);
    let file = TempFile::new("[idp]\nsession_duration = 90\n");
    let config = load_ok(&["--config", file.path()], &[("SESSION_DURATION", "30")]);
    assert_eq!(config.idp.session_duration, 30);
    let config = load_ok(
        &[],
        &[
            ("LATCHKEY_IDP_SESSION_DURATION", "45"),
            ("SESSION_DURATION", "30"),
        ],
    );
    assert_eq!(config.idp.session_duration, 45);
    let err = load_err(&[], &[("SESSION_DURATION", "1h")]);
    assert!(
        err.contains("environment variable SESSION_DURATION") && err.contains("integer"),
        "{err}"
    );
    let err = load_err(&[], &[("SESSION_DURATION", "0")]);
    assert!(
        err.contains("`idp.session_duration`")
            && err.contains("SESSION_DURATION")
            && err.contains("greater than 0"),
        "{err}"
    );
}

#[test]
fn webauthn_names() {
    let config = load_ok(
        &[],
        &[
            ("WEBAUTHN_USER_VERIFICATION", "preferred"),
            ("WEBAUTHN_AUTHENTICATOR_ATTACHMENT", "platform"),
            ("WEBAUTHN_ALLOW_SYNCED_PASSKEYS", "false"),
        ],
    );
    assert_eq!(config.idp.webauthn_user_verification, "preferred");
    assert_eq!(config.idp.webauthn_authenticator_attachment, "platform");
    assert!(!config.idp.webauthn_allow_synced_passkeys);
    for (value, on) in [("0", false), ("F", false), ("TRUE", true), ("t", true)] {
        let config = load_ok(&[], &[("WEBAUTHN_ALLOW_SYNCED_PASSKEYS", value)]);
        assert_eq!(config.idp.webauthn_allow_synced_passkeys, on, "{value}");
    }
    // Ours beat Pocket ID's in the same layer.
    let config = load_ok(
        &[],
        &[
            ("WEBAUTHN_USER_VERIFICATION", "preferred"),
            ("LATCHKEY_IDP_WEBAUTHN_USER_VERIFICATION", "required"),
            ("WEBAUTHN_AUTHENTICATOR_ATTACHMENT", "platform"),
            (
                "LATCHKEY_IDP_WEBAUTHN_AUTHENTICATOR_ATTACHMENT",
                "cross-platform",
            ),
            ("WEBAUTHN_ALLOW_SYNCED_PASSKEYS", "false"),
            ("LATCHKEY_IDP_WEBAUTHN_ALLOW_SYNCED_PASSKEYS", "true"),
        ],
    );
    assert_eq!(config.idp.webauthn_user_verification, "required");
    assert_eq!(
        config.idp.webauthn_authenticator_attachment,
        "cross-platform"
    );
    assert!(config.idp.webauthn_allow_synced_passkeys);

    let err = load_err(&[], &[("WEBAUTHN_USER_VERIFICATION", "discouraged")]);
    assert!(
        err.contains("`idp.webauthn_user_verification`")
            && err.contains("WEBAUTHN_USER_VERIFICATION")
            && err.contains("required, preferred"),
        "{err}"
    );
    let err = load_err(&[], &[("WEBAUTHN_AUTHENTICATOR_ATTACHMENT", "usb")]);
    assert!(
        err.contains("`idp.webauthn_authenticator_attachment`")
            && err.contains("any, platform, cross-platform"),
        "{err}"
    );
    let err = load_err(&[], &[("WEBAUTHN_ALLOW_SYNCED_PASSKEYS", "no")]);
    assert!(
        err.contains("environment variable WEBAUTHN_ALLOW_SYNCED_PASSKEYS"),
        "{err}"
    );
}

#[test]
fn pocket_id_settings_without_a_use_are_told() {
    for (name, value, says) in [
        ("UNIX_SOCKET", "/run/pocket-id.sock", "TCP only"),
        ("SYSTEMD_SOCKET", "true", "systemd"),
        ("TLS_CERT", "-----BEGIN CERTIFICATE-----", "plain HTTP"),
        ("TLS_CERT_FILE", "/etc/tls/cert.pem", "plain HTTP"),
        ("PROXY_PROTOCOL", "10.0.0.0/8", "PROXY protocol"),
        ("TRUSTED_PLATFORM", "CF-Connecting-IP", "platform"),
        ("MAXMIND_LICENSE_KEY", "licence-secret", "GeoIP"),
        ("SMTP_HOST", "mail.example.com", "no email"),
        ("LDAP_ENABLED", "1", "LDAP"),
        (
            "STATIC_API_KEY",
            "static-api-key-secret",
            "no static API key",
        ),
    ] {
        let config = load_ok(&[], &[(name, value)]);
        assert_eq!(config.notices.len(), 1, "{name}: {:?}", config.notices);
        let notice = &config.notices[0];
        assert!(!notice.warning);
        assert!(
            notice
                .text
                .starts_with(&format!("environment variable {name}: "))
                && notice.text.contains(says),
            "{notice:?}"
        );
        assert!(!notice.text.contains("secret"), "{notice:?}");
        assert!(
            config
                .summary()
                .contains(&format!("note: environment variable {name}"))
        );
        // Pocket ID's names are the idp's: not told where it does not run.
        assert!(load_ok(&["tsidp"], &[(name, value)]).notices.is_empty());
    }
    for (name, value) in [
        ("SYSTEMD_SOCKET", "false"),
        ("LDAP_ENABLED", "f"),
        ("SMTP_HOST", ""),
    ] {
        assert!(load_ok(&[], &[(name, value)]).notices.is_empty(), "{name}");
    }
    let err = load_err(&[], &[("LDAP_ENABLED", "yes")]);
    assert!(err.contains("environment variable LDAP_ENABLED"), "{err}");
    // Others of Pocket ID's variables are ignored, as any unknown variable not ours.
    let config = load_ok(&[], &[("APP_NAME", "Pocket"), ("SMTP_PORT", "587")]);
    assert!(config.notices.is_empty());
}
