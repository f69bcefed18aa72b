//! Upstreams with rules of their own (`[[proxy.upstream]]`) and several proxies in one file
//! (`[[proxy]]`), with the checks between sections.

use super::*;

const SECTION: &str = "oidc_issuer_url = \"http://127.0.0.1:9\"\nclient_id = \"app\"\n\
                       email_domains = [\"*\"]\ncookie_secure = false\n";

#[test]
fn upstream_tables_beside_upstream_strings() {
    let file = TempFile::new(&format!(
        "[proxy]\nenabled = true\n{SECTION}upstreams = [\"http://127.0.0.1:8080/\"]\n\
         [[proxy.upstream]]\nurl = \"http://127.0.0.1:8081/admin/\"\nallowed_groups = [\"admins\"]\n\
         [[proxy.upstream]]\nurl = \"static://204#/boss\"\nallowed_emails = [\"boss@example.com\"]\n\
         allowed_email_domains = [\"corp.example\"]\n"
    ));
    let config = load_ok(&["--config", file.path()], &[]);
    let s = config.proxy.settings().unwrap();
    assert_eq!(s.upstreams, ["http://127.0.0.1:8080/"]);
    assert_eq!(s.upstreams_with_rules.len(), 2);
    assert_eq!(
        s.upstreams_with_rules[0].url,
        "http://127.0.0.1:8081/admin/"
    );
    assert_eq!(s.upstreams_with_rules[0].rules.allowed_groups, ["admins"]);
    assert_eq!(
        s.upstreams_with_rules[1].rules.allowed_email_domains,
        ["corp.example"]
    );
    assert!(
        config.summary().contains("static://204#/boss"),
        "{}",
        config.summary()
    );

    for (table, expected) in [
        (
            "url = \"http://x/\"\nallowed_group = [\"a\"]",
            "unknown field `allowed_group`",
        ),
        ("allowed_groups = [\"a\"]", "missing field `url`"),
        ("url = \"ftp://x/\"", "ftp:// upstreams are not supported"),
        (
            "url = \"http://x/\"\nallowed_email_domains = [\"a@b\"]",
            "not a domain",
        ),
    ] {
        let file = TempFile::new(&format!(
            "[proxy]\nenabled = true\n{SECTION}[[proxy.upstream]]\n{table}\n"
        ));
        let err = load_err(&["--config", file.path()], &[]);
        assert!(
            err.contains("proxy.upstream") && err.contains(expected),
            "{table}: {err}"
        );
    }
    let err = load_err(&[], &[("LATCHKEY_PROXY_UPSTREAM", "http://x/")]);
    assert!(err.contains("config file only"), "{err}");
}

/// Two sections, `grafana` and `wiki`; `first` is added to the first, `second` replaces the
/// second's keys of the same name (or is added).
fn two(first: &str, second: &str) -> TempFile {
    let mut wiki = vec![
        "enabled = true".to_owned(),
        "name = \"wiki\"".to_owned(),
        "listen = \"127.0.0.1:4181\"".to_owned(),
        "public_url = \"http://wiki.example\"".to_owned(),
        "upstreams = [\"http://127.0.0.1:3001/\"]".to_owned(),
    ];
    if let Some((key, _)) = second.split_once(" =") {
        wiki.retain(|line| !line.starts_with(&format!("{key} =")));
        wiki.push(second.to_owned());
    }
    TempFile::new(&format!(
        "[[proxy]]\nenabled = true\nname = \"grafana\"\nlisten = \"127.0.0.1:4180\"\n\
         public_url = \"http://grafana.example\"\n{SECTION}{first}\n\
         [[proxy.upstream]]\nurl = \"http://127.0.0.1:3000/\"\nallowed_groups = [\"grafana\"]\n\
         [[proxy]]\n{SECTION}{}\n",
        wiki.join("\n")
    ))
}

#[test]
fn several_proxy_sections() {
    let file = two("", "");
    let config = load_ok(&["--config", file.path()], &[]);
    let proxies: Vec<&ProxyConfig> = config.enabled_proxies().collect();
    assert_eq!(proxies.len(), 2);
    assert_eq!(proxies[0].name, "grafana");
    assert_eq!(proxies[0].upstream[0].url, "http://127.0.0.1:3000/");
    assert_eq!(proxies[1].name, "wiki");
    assert_eq!(proxies[1].listen, "127.0.0.1:4181".parse().unwrap());
    assert_eq!(proxies[1].settings().unwrap().id.as_str(), "wiki");
    let summary = config.summary();
    assert!(
        summary.contains("proxy grafana:") && summary.contains("proxy wiki:"),
        "{summary}"
    );
    // `latchkey proxy` runs them all too.
    let config = load_ok(&["proxy", "--config", file.path()], &[]);
    assert_eq!(config.enabled_proxies().count(), 2);

    // One [[proxy]] section is a [proxy] section.
    let one = TempFile::new(&format!("[[proxy]]\nenabled = true\n{SECTION}"));
    let config = load_ok(&["--config", one.path()], &[]);
    assert!(config.proxy.enabled && config.other_proxies.is_empty());
    assert_eq!(config.proxy.name, "proxy");
}

#[test]
fn sections_that_would_meet_are_refused() {
    let cases = [
        ("", "name = \"grafana\"", "sections are named \"grafana\""),
        (
            "",
            "listen = \"127.0.0.1:4180\"",
            "both listen on 127.0.0.1:4180",
        ),
        (
            "",
            "public_url = \"http://grafana.example:8443\"",
            "cookie \"_oauth2_proxy\"",
        ),
        (
            "cookie_domains = [\".example\"]",
            "",
            "cookie \"_oauth2_proxy\"",
        ),
    ];
    for (first, second, expected) in cases {
        let file = two(first, second);
        let err = load_err(&["--config", file.path()], &[]);
        assert!(err.contains(expected), "{first} {second}: {err}");
    }
    // Other cookie names: fine.
    let file = two(
        "cookie_name = \"_grafana\"\ncookie_domains = [\".example\"]",
        "",
    );
    load_ok(&["--config", file.path()], &[]);
}

#[test]
fn one_proxy_options_are_refused_with_several_sections() {
    let file = two("", "");
    let err = load_err(
        &["proxy", "--config", file.path(), "--email-domain", "x"],
        &[],
    );
    assert!(
        err.contains("--email-domain") && err.contains("several [[proxy]]"),
        "{err}"
    );
    for var in ["OAUTH2_PROXY_CLIENT_ID", "LATCHKEY_PROXY_CLIENT_ID"] {
        let err = load_err(&["--config", file.path()], &[(var, "x")]);
        assert!(
            err.contains(var) && err.contains("several [[proxy]]"),
            "{err}"
        );
    }
    let err = load_err(
        &["proxy", "--config", file.path(), "--listen", "127.0.0.1:1"],
        &[],
    );
    assert!(err.contains("--listen"), "{err}");
    // An error inside a section says which.
    let file = two("", "cookie_expire = \"forever\"");
    let err = load_err(&["--config", file.path()], &[]);
    assert!(
        err.contains("[[proxy]] section 2") && err.contains("cookie_expire"),
        "{err}"
    );
}

#[test]
fn trusted_ips_and_reverse_proxy_from_oauth2_proxy_flags() {
    let args = [
        "proxy",
        "--oidc-issuer-url",
        "http://127.0.0.1:9/",
        "--client-id",
        "app",
        "--reverse-proxy",
        "--trusted-proxy-ip",
        "10.0.0.0/8",
        "--trusted-proxy-ip=::1",
        "--trusted-ip",
        "192.0.2.1",
        "--real-client-ip-header",
        "X-Forwarded-For",
    ];
    let config = load_ok(&args, &[]);
    let s = config.proxy.settings().unwrap();
    assert!(s.reverse_proxy);
    assert_eq!(s.trusted_proxy_ips, ["10.0.0.0/8", "::1"]);
    assert_eq!(s.trusted_ips, ["192.0.2.1"]);
    assert_eq!(s.real_client_ip_header, "X-Forwarded-For");
    // Off by default; the proxies in front default to loopback (in the proxy crate).
    let config = load_ok(&args[..5], &[("OAUTH2_PROXY_TRUSTED_IPS", "127.0.0.1,::1")]);
    let s = config.proxy.settings().unwrap();
    assert!(!s.reverse_proxy && s.trusted_proxy_ips.is_empty());
    assert_eq!(s.trusted_ips, ["127.0.0.1", "::1"]);

    let mut bad = args[..5].to_vec();
    bad.extend(["--trusted-ip", "10.0.0.0/33"]);
    let err = load_err(&bad, &[]);
    assert!(
        err.contains("proxy.trusted_ips") && err.contains("10.0.0.0/33"),
        "{err}"
    );
    let mut bad = args[..5].to_vec();
    bad.extend(["--real-client-ip-header", "X-Client"]);
    let err = load_err(&bad, &[]);
    assert!(err.contains("proxy.real_client_ip_header"), "{err}");
}
