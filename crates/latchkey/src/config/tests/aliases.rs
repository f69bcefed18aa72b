//! Pocket ID's and tsidp's names for our settings, and tsidp's modes.

use super::*;

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

fn loopback() -> Vec<String> {
    vec!["127.0.0.1".to_owned(), "::1".to_owned()]
}

#[test]
fn enable_sts_is_off_unless_set() {
    let config = load_ok(&["tsidp"], &[]);
    assert!(!config.tsidp.enable_sts);
    let settings = crate::server::provider_settings(Role::Tsidp, &config.tsidp);
    assert!(!settings.token_exchange);

    for (args, vars) in [
        (&["tsidp", "--enable-sts"][..], &[][..]),
        (&["--enable-sts=true", "tsidp"][..], &[][..]),
        (&["tsidp"][..], &[("LATCHKEY_TSIDP_ENABLE_STS", "1")][..]),
        (&["serve"][..], &[("LATCHKEY_TSIDP_ENABLE_STS", "true")][..]),
    ] {
        let config = load_ok(args, vars);
        assert!(config.tsidp.enable_sts, "{args:?} {vars:?}");
        let settings = crate::server::provider_settings(Role::Tsidp, &config.tsidp);
        assert!(settings.token_exchange, "{args:?} {vars:?}");
    }
    let file = TempFile::new("[tsidp]\nenable_sts = true\n");
    assert!(
        load_ok(&["--config", file.path(), "tsidp"], &[])
            .tsidp
            .enable_sts
    );
    let config = load_ok(
        &["tsidp", "--enable-sts=false"],
        &[("LATCHKEY_TSIDP_ENABLE_STS", "1")],
    );
    assert!(!config.tsidp.enable_sts);
    // A tsidp key, not an idp one.
    let file = TempFile::new("[idp]\nenable_sts = true\n");
    let err = load_err(&["--config", file.path()], &[]);
    assert!(err.contains("idp.enable_sts"), "{err}");
    let err = load_err(&["tsidp", "--enable-sts=maybe"], &[]);
    assert!(err.contains("--enable-sts"), "{err}");
}

#[test]
fn tsidp_env_names_map_onto_ours() {
    let config = load_ok(
        &["tsidp"],
        &[
            ("TS_STATE_DIR", "/srv/tsidp"),
            ("TS_HOSTNAME", "IDP"),
            ("TSIDP_PORT", "8443"),
            ("TSIDP_LOCAL_PORT", "9999"),
            ("TSIDP_ENABLE_STS", "T"),
            ("TSIDP_LOG", "warn"),
        ],
    );
    assert_eq!(config.data_dir, PathBuf::from("/srv/tsidp"));
    assert_eq!(config.database_url, "sqlite:///srv/tsidp/latchkey.db");
    assert_eq!(config.log_level, "warn");
    let tsidp = &config.tsidp;
    assert_eq!(tsidp.hostname.as_deref(), Some("idp"));
    assert_eq!(tsidp.https_port, Some(8443));
    assert_eq!(tsidp.listen, "127.0.0.1:9999".parse().unwrap());
    assert_eq!(tsidp.trusted_proxies, loopback());
    assert!(tsidp.enable_sts);
    assert!(tsidp.issuer_from_tailnet);
    assert_eq!(tsidp.public_url, "");
    assert!(config.notices.is_empty(), "{:?}", config.notices);
    assert!(
        config
            .summary()
            .contains("issuer https://idp.<MagicDNS suffix>:8443 (asked from tailscaled"),
        "{}",
        config.summary()
    );
    // The idp keeps its own settings.
    assert_eq!(config.idp.listen, "127.0.0.1:1411".parse().unwrap());

    let config = load_ok(&["tsidp"], &[("TSIDP_LOG", "debug")]);
    assert_eq!(config.log_level, "info,latchkey=debug");
    for (value, on) in [("true", true), ("1", true), ("False", false), ("0", false)] {
        let config = load_ok(&["tsidp"], &[("TSIDP_ENABLE_STS", value)]);
        assert_eq!(config.tsidp.enable_sts, on, "{value}");
    }
    // tsidp's "off" for the local port; empty variables are ignored.
    let config = load_ok(
        &["tsidp"],
        &[("TSIDP_LOCAL_PORT", "-1"), ("TSIDP_PORT", "")],
    );
    assert_eq!(config.tsidp.listen, "127.0.0.1:1412".parse().unwrap());
    assert!(!config.tsidp.issuer_from_tailnet);
    assert_eq!(config.tsidp.public_url, "http://localhost:1412");
}

#[test]
fn tsidp_flags_map_onto_ours() {
    let config = load_ok(
        &[
            "tsidp",
            "-dir",
            "/srv/d",
            "--hostname=login",
            "-port=10443",
            "-local-port",
            "8080",
            "-enable-sts",
            "-log",
            "error",
        ],
        &[],
    );
    assert_eq!(config.data_dir, PathBuf::from("/srv/d"));
    assert_eq!(config.log_level, "error");
    let tsidp = &config.tsidp;
    assert_eq!(tsidp.hostname.as_deref(), Some("login"));
    assert_eq!(tsidp.https_port, Some(10443));
    assert_eq!(tsidp.listen, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(tsidp.trusted_proxies, loopback());
    assert!(tsidp.enable_sts && tsidp.issuer_from_tailnet);

    // As in tsidp, -use-local-tailscaled names the issuer after this machine and ignores
    // -hostname (which names tsidp's own node otherwise), and puts it behind `serve`.
    for args in [
        &["tsidp", "-use-local-tailscaled", "-hostname", "login"][..],
        &["tsidp", "-hostname=login", "-use-local-tailscaled=true"],
    ] {
        let config = load_ok(args, &[]);
        assert_eq!(config.tsidp.hostname, None, "{args:?}");
        assert!(config.tsidp.issuer_from_tailnet);
        assert_eq!(config.tsidp.trusted_proxies, loopback());
        assert!(
            config
                .notices
                .iter()
                .any(|n| n.text.contains("hostname is ignored")),
            "{:?}",
            config.notices
        );
    }
    let config = load_ok(&["tsidp"], &[("TSIDP_USE_LOCAL_TAILSCALED", "1")]);
    assert!(config.tsidp.issuer_from_tailnet && config.notices.is_empty());
    // Our own name for the hostname still counts.
    let config = load_ok(
        &["tsidp", "-use-local-tailscaled", "--config", "/dev/null"],
        &[("LATCHKEY_TSIDP_HOSTNAME", "login")],
    );
    assert_eq!(config.tsidp.hostname.as_deref(), Some("login"));
    let err = load_err(&["tsidp", "-local-port", "0"], &[]);
    assert!(err.contains("1 to 65535"), "{err}");

    let config = load_ok(&["tsidp", "-enable-sts=false"], &[]);
    assert!(!config.tsidp.enable_sts);
    // Go's flag package: the last occurrence wins.
    let config = load_ok(&["tsidp", "-port", "1000", "-port", "2000"], &[]);
    assert_eq!(config.tsidp.https_port, Some(2000));
}

#[test]
fn our_names_beat_tsidps_and_flags_beat_the_environment() {
    // LATCHKEY_* over TS_*/TSIDP_* in the environment.
    let config = load_ok(
        &["tsidp"],
        &[
            ("TS_STATE_DIR", "/tsidp"),
            ("LATCHKEY_DATA_DIR", "/latchkey"),
            ("TSIDP_LOG", "error"),
            ("LATCHKEY_LOG_LEVEL", "debug"),
            ("TSIDP_ENABLE_STS", "1"),
            ("LATCHKEY_TSIDP_ENABLE_STS", "false"),
            ("TSIDP_PORT", "8443"),
            ("LATCHKEY_TSIDP_HTTPS_PORT", "9443"),
            ("TS_HOSTNAME", "tsidp"),
            ("LATCHKEY_TSIDP_HOSTNAME", "latchkey"),
        ],
    );
    assert_eq!(config.data_dir, PathBuf::from("/latchkey"));
    assert_eq!(config.log_level, "debug");
    assert!(!config.tsidp.enable_sts);
    assert_eq!(config.tsidp.https_port, Some(9443));
    assert_eq!(config.tsidp.hostname.as_deref(), Some("latchkey"));
    for vars in [
        [
            ("TSIDP_LOCAL_PORT", "7000"),
            ("LATCHKEY_TSIDP_LISTEN", "127.0.0.1:7001"),
        ],
        [
            ("TSIDP_LOCAL_PORT", "7000"),
            ("LATCHKEY_LISTEN", "127.0.0.1:7001"),
        ],
    ] {
        let config = load_ok(&["tsidp"], &vars);
        assert_eq!(config.tsidp.listen, "127.0.0.1:7001".parse().unwrap());
        // The listener is ours, not tsidp's: nothing else changes.
        assert!(config.tsidp.trusted_proxies.is_empty());
        assert!(!config.tsidp.issuer_from_tailnet);
    }

    // Our flags over tsidp's flags; any flag over the environment; the environment over
    // the file.
    let config = load_ok(&["tsidp", "-dir", "/a", "--data-dir", "/b"], &[]);
    assert_eq!(config.data_dir, PathBuf::from("/b"));
    let config = load_ok(&["tsidp", "-dir", "/a"], &[("LATCHKEY_DATA_DIR", "/c")]);
    assert_eq!(config.data_dir, PathBuf::from("/a"));
    let config = load_ok(
        &["tsidp", "-local-port", "7000", "--listen", "127.0.0.1:7002"],
        &[],
    );
    assert_eq!(config.tsidp.listen, "127.0.0.1:7002".parse().unwrap());
    let config = load_ok(
        &["tsidp", "-local-port", "7000"],
        &[("LATCHKEY_TSIDP_LISTEN", "127.0.0.1:7001")],
    );
    assert_eq!(config.tsidp.listen, "127.0.0.1:7000".parse().unwrap());
    let config = load_ok(
        &["tsidp", "-enable-sts=false"],
        &[("LATCHKEY_TSIDP_ENABLE_STS", "true")],
    );
    assert!(!config.tsidp.enable_sts);
    let config = load_ok(&["tsidp", "-log", "warn"], &[("TSIDP_LOG", "error")]);
    assert_eq!(config.log_level, "warn");
    let file = TempFile::new("data_dir = \"/file\"\n[tsidp]\nhostname = \"fromfile\"\n");
    let config = load_ok(
        &["--config", file.path(), "tsidp"],
        &[("TS_STATE_DIR", "/env"), ("TS_HOSTNAME", "fromenv")],
    );
    assert_eq!(config.data_dir, PathBuf::from("/env"));
    assert_eq!(config.tsidp.hostname.as_deref(), Some("fromenv"));
}

#[test]
fn tsidp_names_stay_out_of_the_idp() {
    let vars = [
        ("TS_STATE_DIR", "/tsidp"),
        ("TSIDP_LOG", "error"),
        ("TSIDP_PORT", "8443"),
        ("TSIDP_LOCAL_PORT", "7000"),
        ("TS_HOSTNAME", "idp"),
        ("TSIDP_USE_FUNNEL", "1"),
        ("TS_AUTHKEY", "tskey-auth-x"),
    ];
    for args in [&["idp"][..], &["serve"][..], &[][..]] {
        let config = load_ok(args, &vars);
        assert_eq!(config.data_dir, PathBuf::from("./data"), "{args:?}");
        assert_eq!(config.log_level, "info", "{args:?}");
        assert_eq!(config.idp.listen, "127.0.0.1:1411".parse().unwrap());
        assert_eq!(config.idp.public_url, "http://localhost:1411");
        assert!(!config.tsidp.enabled);
        assert!(config.notices.is_empty(), "{args:?}");
    }
    // They count where the tsidp role runs, and for the one-shot commands.
    let mut with_tsidp = vars.to_vec();
    with_tsidp.push(("LATCHKEY_TSIDP_ENABLED", "true"));
    with_tsidp.push(("LATCHKEY_IDP_ENABLED", "true"));
    let config = load_ok(&["serve"], &with_tsidp);
    assert_eq!(config.data_dir, PathBuf::from("/tsidp"));
    assert_eq!(config.idp.listen, "127.0.0.1:1411".parse().unwrap());
    assert_eq!(config.tsidp.listen, "127.0.0.1:7000".parse().unwrap());
    assert_eq!(config.notices.len(), 2, "{:?}", config.notices);
    let config = load_ok(&["clients", "list"], &vars);
    assert_eq!(config.data_dir, PathBuf::from("/tsidp"));
    assert!(config.notices.is_empty());
    // ... unless the configuration runs roles without tsidp: then the one-shot commands
    // open the database the server uses.
    for enabled in [
        &[("LATCHKEY_IDP_ENABLED", "true")][..],
        &[("LATCHKEY_TSIDP_ENABLED", "false")],
    ] {
        let mut without_tsidp = vars.to_vec();
        without_tsidp.extend_from_slice(enabled);
        let config = load_ok(&["users", "list"], &without_tsidp);
        assert_eq!(config.data_dir, PathBuf::from("./data"), "{enabled:?}");
    }
}

#[test]
fn other_tailscale_variables_are_ignored() {
    let vars = [
        ("TSIDP_DEBUG_TSNET", "1"),
        ("TSIDP_DEBUG_ALL_REQUESTS", "yes"),
        ("TSIDP_SOMETHING_NEW", "x"),
        ("TS_EXTRA_ARGS", "--advertise-exit-node"),
        ("TS_SOCKET", "/tmp/ts.sock"),
        ("TAILSCALE_USE_WIP_CODE", "1"),
    ];
    let config = load_ok(&["tsidp"], &vars);
    assert!(config.notices.is_empty());
    load_ok(&[], &vars);
}

#[test]
fn bad_tsidp_values_are_errors_naming_them() {
    for (name, value) in [
        ("TSIDP_PORT", "https"),
        ("TSIDP_PORT", "70000"),
        ("TSIDP_PORT", "0"),
        ("TSIDP_LOCAL_PORT", "eighty"),
        ("TSIDP_LOCAL_PORT", "65536"),
        ("TSIDP_ENABLE_STS", "yes"),
        ("TSIDP_LOG", "trace"),
        ("TS_HOSTNAME", "idp.example.com"),
        ("TS_HOSTNAME", "-idp"),
        ("TSIDP_USE_FUNNEL", "on"),
        ("TSIDP_USE_LOCAL_TAILSCALED", "sure"),
    ] {
        let err = load_err(&["tsidp"], &[(name, value)]);
        assert!(err.contains(name), "{name}={value}: {err}");
    }
    let err = load_err(&["tsidp"], &[("TSIDP_PORT", "70000")]);
    assert!(
        err.contains("tsidp.https_port") && err.contains("65535"),
        "{err}"
    );
    for (args, flag) in [
        (&["tsidp", "-port", "x"][..], "-port"),
        (&["tsidp", "-local-port=x"][..], "-local-port"),
        (&["tsidp", "-enable-sts=yes"][..], "-enable-sts"),
        (&["tsidp", "-log", "verbose"][..], "-log"),
        (&["tsidp", "-hostname", "a_b"][..], "-hostname"),
        (&["tsidp", "-funnel=2"][..], "-funnel"),
    ] {
        let err = load_err(args, &[]);
        assert!(err.contains(flag), "{args:?}: {err}");
    }
}

#[test]
fn tsidp_settings_without_a_use_are_told() {
    let config = load_ok(&["tsidp"], &[("TSIDP_USE_FUNNEL", "1")]);
    assert_eq!(config.notices.len(), 1);
    let notice = &config.notices[0];
    assert!(!notice.warning);
    assert!(
        notice.text.contains("TSIDP_USE_FUNNEL") && notice.text.contains("tailscale funnel"),
        "{notice:?}"
    );
    assert!(
        config
            .summary()
            .contains("note: environment variable TSIDP_USE_FUNNEL")
    );
    let config = load_ok(&["tsidp", "-funnel"], &[]);
    assert!(config.notices[0].text.starts_with("-funnel: "));
    // The flag wins over the variable; off says nothing.
    let config = load_ok(&["tsidp", "-funnel=false"], &[("TSIDP_USE_FUNNEL", "1")]);
    assert!(config.notices.is_empty());
    let config = load_ok(&["tsidp"], &[("TSIDP_USE_FUNNEL", "false")]);
    assert!(config.notices.is_empty());

    let config = load_ok(&["tsidp", "-use-local-tailscaled=false"], &[]);
    assert!(
        config.notices[0]
            .text
            .contains("always uses the local tailscaled")
    );

    let config = load_ok(
        &["tsidp"],
        &[
            ("TS_AUTHKEY", "tskey-auth-secret"),
            ("TS_ADVERTISE_TAGS", "tag:idp"),
        ],
    );
    assert_eq!(config.notices.len(), 2);
    for notice in &config.notices {
        assert!(
            notice.warning && notice.text.contains("local"),
            "{notice:?}"
        );
        assert!(!notice.text.contains("tskey-auth-secret"));
    }
    assert!(config.summary().contains("warning: TS_AUTHKEY is ignored"));

    let config = load_ok(
        &[
            "tsidp",
            "-hostname",
            "idp",
            "--public-url",
            "https://sso.example.com",
        ],
        &[],
    );
    assert!(!config.tsidp.issuer_from_tailnet);
    assert_eq!(config.tsidp.public_url, "https://sso.example.com");
    assert!(
        config.notices[0].text.contains("not used"),
        "{:?}",
        config.notices
    );
}

#[test]
fn issuer_is_derived_only_when_unset_in_tailnet_mode() {
    // No tsidp naming setting: our defaults.
    let config = load_ok(&["tsidp"], &[]);
    assert!(!config.tsidp.issuer_from_tailnet);
    assert!(config.tsidp.trusted_proxies.is_empty());
    assert_eq!(config.tsidp.issuer_description(), "http://localhost:1412");

    // Any of them: derived, and loopback trusted behind `tailscale serve`.
    for vars in [
        &[("TS_HOSTNAME", "idp")][..],
        &[("TSIDP_PORT", "443")][..],
        &[("TSIDP_LOCAL_PORT", "8080")][..],
        &[("LATCHKEY_TSIDP_HOSTNAME", "idp")][..],
    ] {
        let config = load_ok(&["tsidp"], vars);
        assert!(config.tsidp.issuer_from_tailnet, "{vars:?}");
        assert_eq!(config.tsidp.trusted_proxies, loopback(), "{vars:?}");
    }
    let config = load_ok(&["tsidp"], &[("TSIDP_PORT", "443")]);
    assert_eq!(
        config.tsidp.issuer_description(),
        "https://<this machine's MagicDNS name> (asked from tailscaled at startup)"
    );

    // The issuer stays free to set, in every layer.
    let file = TempFile::new("[tsidp]\npublic_url = \"https://file.example\"\n");
    let config = load_ok(&["--config", file.path(), "tsidp", "-hostname", "idp"], &[]);
    assert_eq!(config.tsidp.public_url, "https://file.example");
    for vars in [
        [
            ("TS_HOSTNAME", "idp"),
            ("LATCHKEY_TSIDP_PUBLIC_URL", "https://a.example/"),
        ],
        [
            ("TS_HOSTNAME", "idp"),
            ("LATCHKEY_PUBLIC_URL", "https://a.example"),
        ],
    ] {
        let config = load_ok(&["tsidp"], &vars);
        assert!(!config.tsidp.issuer_from_tailnet);
        assert_eq!(config.tsidp.public_url, "https://a.example");
        assert_eq!(config.tsidp.trusted_proxies, loopback());
    }

    // Trusted proxies are only defaulted, and only for a loopback listener.
    let config = load_ok(
        &["tsidp", "-local-port", "8080"],
        &[("LATCHKEY_TSIDP_TRUSTED_PROXIES", "10.0.0.1")],
    );
    assert_eq!(config.tsidp.trusted_proxies, vec!["10.0.0.1".to_owned()]);
    let config = load_ok(
        &["tsidp", "-hostname", "idp", "--listen", "0.0.0.0:443"],
        &[],
    );
    assert!(config.tsidp.trusted_proxies.is_empty());
    assert!(config.tsidp.issuer_from_tailnet);
}
