//! The proxy role's section: our keys, oauth2-proxy's flags, variables and file, and errors
//! that name the option.

use std::time::Duration;

use super::*;
use crate::config::proxy::go_duration;

const PROVIDER: &[&str] = &[
    "proxy",
    "--oidc-issuer-url",
    "http://127.0.0.1:9/",
    "--client-id",
    "app",
    "--client-secret",
    "s3cret",
];

fn with(extra: &[&str]) -> Vec<&'static str> {
    let mut args: Vec<&'static str> = PROVIDER.to_vec();
    for arg in extra {
        args.push(String::leak(arg.to_string()));
    }
    args
}

#[test]
fn off_by_default_and_run_by_its_command() {
    let config = load_ok(&[], &[]);
    assert!(!config.proxy.enabled);
    assert_eq!(config.proxy.listen, "127.0.0.1:4180".parse().unwrap());
    assert!(config.summary().contains("proxy:          disabled"));

    let config = load_ok(&with(&["--email-domain", "*"]), &[]);
    assert!(config.proxy.enabled && !config.idp.enabled && !config.tsidp.enabled);
    let s = config.proxy.settings().unwrap();
    assert_eq!(s.provider.issuer_url, "http://127.0.0.1:9");
    assert_eq!(s.redirect_url, "http://localhost:4180/oauth2/callback");
    assert_eq!(s.cookie.expire, Duration::from_secs(168 * 3600));
    assert!(s.cookie.secure);
    assert_eq!(s.email_domains, ["*"]);
    assert!(s.upstreams.is_empty());
    assert!(config.summary().contains("forward-auth only"));
}

#[test]
fn oauth2_proxy_flags_set_our_keys() {
    let config = load_ok(
        &with(&[
            "--upstream=http://127.0.0.1:8080/",
            "--upstream",
            "http://127.0.0.1:8081/api/",
            "--email-domain=example.com",
            "--http-address",
            ":4181",
            "--cookie-expire",
            "12h30m",
            "--cookie-refresh=1h",
            "--cookie-secure=false",
            "--cookie-domain",
            ".example.com",
            "--set-xauthrequest",
            "--pass-host-header=false",
            "--skip-auth-route",
            "GET=^/public/",
            "--redirect-url",
            "https://app.example.com/oauth2/callback",
            "--cookie-samesite=strict",
            "--oidc-enabled-signing-alg",
            "ES256",
            "--oidc-enabled-signing-alg=EdDSA",
            "--force-json-errors",
            "--user-id-claim",
            "preferred_username",
            "--pass-basic-auth=false",
            "--set-basic-auth",
            "--basic-auth-password",
            "app-trusts-us",
            "--set-authorization-header",
        ]),
        &[],
    );
    let p = &config.proxy;
    assert_eq!(p.listen, "0.0.0.0:4181".parse().unwrap());
    assert_eq!(
        p.upstreams,
        ["http://127.0.0.1:8080/", "http://127.0.0.1:8081/api/"]
    );
    let s = p.settings().unwrap();
    assert_eq!(s.cookie.expire, Duration::from_secs(12 * 3600 + 1800));
    assert_eq!(s.cookie.refresh, Duration::from_secs(3600));
    assert!(!s.cookie.secure);
    assert_eq!(s.cookie.domain.as_deref(), Some("example.com"));
    assert!(s.headers.set_xauthrequest);
    assert!(!s.headers.pass_host_header);
    assert_eq!(s.skip_auth_routes, ["GET=^/public/"]);
    assert_eq!(s.redirect_url, "https://app.example.com/oauth2/callback");
    assert_eq!(s.cookie.same_site, latchkey_proxy::SameSite::Strict);
    assert_eq!(
        s.provider.allowed_algs,
        [
            latchkey_oidc::jose::Alg::ES256,
            latchkey_oidc::jose::Alg::EdDSA
        ]
    );
    assert!(s.force_json_errors);
    assert_eq!(s.provider.user_claim, "preferred_username");
    assert!(!s.headers.pass_basic_auth && s.headers.set_basic_auth);
    assert!(s.headers.set_authorization_header);
    assert_eq!(
        s.headers.basic_auth_password.as_deref(),
        Some("app-trusts-us")
    );
    assert!(
        !format!("{s:?}").contains("app-trusts-us"),
        "the password is never printed"
    );

    // Our own flag beats oauth2-proxy's in the same layer.
    let config = load_ok(
        &with(&[
            "--http-address=127.0.0.1:5000",
            "--listen",
            "127.0.0.1:6000",
        ]),
        &[],
    );
    assert_eq!(config.proxy.listen, "127.0.0.1:6000".parse().unwrap());
}

#[test]
fn oauth2_proxy_environment() {
    let vars = [
        ("OAUTH2_PROXY_OIDC_ISSUER_URL", "https://idp.example.com"),
        ("OAUTH2_PROXY_CLIENT_ID", "app"),
        ("OAUTH2_PROXY_CLIENT_SECRET", "s3cret"),
        (
            "OAUTH2_PROXY_UPSTREAMS",
            "http://127.0.0.1:8080/,http://127.0.0.1:9/x",
        ),
        ("OAUTH2_PROXY_EMAIL_DOMAINS", "*"),
        ("OAUTH2_PROXY_SKIP_PROVIDER_BUTTON", "T"),
        (
            "OAUTH2_PROXY_COOKIE_SECRET",
            "0123456789abcdef0123456789abcdef",
        ),
        ("OAUTH2_PROXY_SESSION_STORE_TYPE", "redis"),
        (
            "OAUTH2_PROXY_REDIS_CONNECTION_URL",
            "redis://127.0.0.1:6379/1",
        ),
        ("OAUTH2_PROXY_HTPASSWD_FILE", "/etc/htpasswd"),
        ("OAUTH2_PROXY_METRICS_ADDRESS", "localhost:9100"),
        (
            "OAUTH2_PROXY_BACKEND_LOGOUT_URL",
            "https://idp.example.com/logout?id_token_hint={id_token}",
        ),
        ("LATCHKEY_PROXY_SIGN_OUT_AT_PROVIDER", "true"),
    ];
    let config = load_ok(&["proxy"], &vars);
    let s = config.proxy.settings().unwrap();
    assert_eq!(
        s.upstreams,
        ["http://127.0.0.1:8080/", "http://127.0.0.1:9/x"]
    );
    assert!(s.skip_provider_button);
    assert_eq!(
        s.session_store_type,
        latchkey_proxy::session::SessionStoreType::Redis
    );
    assert_eq!(
        config.metrics_listen,
        Some("127.0.0.1:9100".parse().unwrap())
    );
    let notices: Vec<&str> = config.notices.iter().map(|n| n.text.as_str()).collect();
    assert!(
        notices.iter().any(|n| n.contains("cookie_secret")),
        "{notices:?}"
    );
    assert!(
        notices
            .iter()
            .any(|n| n.contains("OAUTH2_PROXY_HTPASSWD_FILE is ignored")),
        "{notices:?}"
    );
    // LATCHKEY_PROXY_* beats OAUTH2_PROXY_*.
    let mut more = vars.to_vec();
    more.push(("LATCHKEY_PROXY_UPSTREAMS", "http://127.0.0.1:7/"));
    let config = load_ok(&["proxy"], &more);
    assert_eq!(config.proxy.upstreams, ["http://127.0.0.1:7/"]);
}

#[test]
fn errors_name_the_option() {
    let err = load_err(&with(&["--upstream", "ftp://files.example/"]), &[]);
    assert!(
        err.contains("`proxy.upstreams`") && err.contains("--upstream"),
        "{err}"
    );
    let err = load_err(&with(&["--cookie-expire", "7d"]), &[]);
    assert!(
        err.contains("proxy.cookie_expire") && err.contains("7d"),
        "{err}"
    );
    let err = load_err(&["proxy", "--oidc-issuer-url", "https://x"], &[]);
    assert!(
        err.contains("`proxy.client_id`") && err.contains("--client-id"),
        "{err}"
    );
    let err = load_err(&with(&["--redirect-url", "https://x/cb"]), &[]);
    assert!(
        err.contains("`proxy.redirect_url`") && err.contains("/oauth2/callback"),
        "{err}"
    );
    let err = load_err(
        &with(&["--cookie-samesite", "none", "--cookie-secure=false"]),
        &[],
    );
    assert!(
        err.contains("`proxy.cookie_samesite`") && err.contains("--cookie-samesite"),
        "{err}"
    );
    let err = load_err(&with(&["--oidc-enabled-signing-alg", "HS256"]), &[]);
    assert!(err.contains("HS256"), "{err}");
    let err = load_err(&with(&["--provider", "github"]), &[]);
    assert!(
        err.contains("proxy.provider") && err.contains("oidc"),
        "{err}"
    );
    let err = load_err(&with(&["--http-address", "unix:///run/p.sock"]), &[]);
    assert!(err.contains("--http-address"), "{err}");
    // Checked where the proxy does not run too, as every key is.
    let err = load_err(&[], &[("OAUTH2_PROXY_COOKIE_SECURE", "maybe")]);
    assert!(err.contains("OAUTH2_PROXY_COOKIE_SECURE"), "{err}");
}

#[test]
fn under_serve_with_the_other_roles() {
    let file = TempFile::new(
        "[idp]\nenabled = true\n[proxy]\nenabled = true\noidc_issuer_url = \
         \"http://localhost:1411\"\nclient_id = \"app\"\nclient_secret = \"s\"\n\
         upstreams = [\"http://127.0.0.1:3000/\"]\nemail_domains = [\"*\"]\n",
    );
    let config = load_ok(&["--config", file.path()], &[]);
    assert!(config.idp.enabled && config.proxy.enabled);
    assert_eq!(
        config.enabled_roles().map(|(r, _)| r).collect::<Vec<_>>(),
        [Role::Idp]
    );
    // Listeners may not collide.
    let err = load_err(
        &["--config", file.path()],
        &[("LATCHKEY_PROXY_LISTEN", "127.0.0.1:1411")],
    );
    assert!(err.contains("proxy.listen"), "{err}");
    // The proxy alone is enough for `serve`.
    let file = TempFile::new(
        "[proxy]\nenabled = true\noidc_issuer_url = \"http://localhost:1411\"\n\
         client_id = \"app\"\n",
    );
    let config = load_ok(&["--config", file.path()], &[]);
    assert!(!config.idp.enabled && config.proxy.enabled);
    assert!(
        config
            .proxy
            .settings()
            .unwrap()
            .provider
            .client_secret
            .is_none()
    );
}

#[test]
fn an_oauth2_proxy_file_works_under_latchkey_proxy() {
    let file = TempFile::new(
        "provider = \"oidc\"\noidc_issuer_url = \"https://idp.example.com\"\n\
         client_id = \"app\"\nclient_secret = \"s\"\nhttp_address = \"0.0.0.0:4180\"\n\
         upstreams = [\"http://127.0.0.1:3000/\"]\nemail_domains = [\"example.com\"]\n\
         cookie_secret = \"0123456789abcdef\"\nlog_level = \"debug\"\n",
    );
    let config = load_ok(&["--config", file.path(), "proxy"], &[]);
    assert_eq!(config.proxy.listen, "0.0.0.0:4180".parse().unwrap());
    assert_eq!(config.proxy.upstreams, ["http://127.0.0.1:3000/"]);
    assert_eq!(config.log_level, "debug");
    // Elsewhere, those keys are unknown.
    let err = load_err(&["--config", file.path()], &[]);
    assert!(err.contains("unknown key `provider`"), "{err}");
}

#[test]
fn go_durations() {
    for (text, secs) in [
        ("0", 0.0),
        ("168h", 168.0 * 3600.0),
        ("1h30m", 5400.0),
        ("1.5h", 5400.0),
        ("90s", 90.0),
        ("500ms", 0.5),
        ("2h0m0s", 7200.0),
    ] {
        assert_eq!(
            go_duration(text),
            Ok(Duration::from_secs_f64(secs)),
            "{text}"
        );
    }
    for bad in ["", "7d", "h", "10", "-1h", "1h-30m", "1..5s"] {
        assert!(go_duration(bad).is_err(), "{bad}");
    }
}
