//! The idp role's own keys: sign-in duration, trusted proxies, passkey policy.

use super::*;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| item.to_string()).collect()
}

#[test]
fn idp_keys_have_defaults() {
    let config = load_ok(&[], &[]);
    let idp = &config.idp;
    assert_eq!(idp.session_duration, 60);
    assert!(idp.trusted_proxies.is_empty());
    assert_eq!(idp.webauthn_user_verification, "required");
    assert_eq!(idp.webauthn_authenticator_attachment, "any");
    assert!(idp.webauthn_allow_synced_passkeys);
    // The tsidp section has none of these keys; it gets the same values.
    let tsidp = &config.tsidp;
    assert_eq!(tsidp.session_duration, 60);
    assert_eq!(tsidp.webauthn_user_verification, "required");
    assert_eq!(tsidp.webauthn_authenticator_attachment, "any");
    assert!(tsidp.webauthn_allow_synced_passkeys);
}

const IDP_FILE: &str = "[idp]\n\
    session_duration = 480\n\
    trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\", \"fd00::/8\"]\n\
    webauthn_user_verification = \"preferred\"\n\
    webauthn_authenticator_attachment = \"platform\"\n\
    webauthn_allow_synced_passkeys = false\n";

#[test]
fn idp_keys_from_the_file() {
    let file = TempFile::new(IDP_FILE);
    let idp = load_ok(&["--config", file.path()], &[]).idp;
    assert_eq!(idp.session_duration, 480);
    assert_eq!(
        idp.trusted_proxies,
        strings(&["127.0.0.1", "10.0.0.0/8", "::1", "fd00::/8"])
    );
    assert_eq!(idp.webauthn_user_verification, "preferred");
    assert_eq!(idp.webauthn_authenticator_attachment, "platform");
    assert!(!idp.webauthn_allow_synced_passkeys);
}

#[test]
fn idp_keys_from_the_environment_beat_the_file() {
    let vars = [
        ("LATCHKEY_IDP_SESSION_DURATION", "15"),
        (
            "LATCHKEY_IDP_TRUSTED_PROXIES",
            " 192.168.1.10 , 2001:db8::/32,",
        ),
        ("LATCHKEY_IDP_WEBAUTHN_USER_VERIFICATION", "required"),
        (
            "LATCHKEY_IDP_WEBAUTHN_AUTHENTICATOR_ATTACHMENT",
            "cross-platform",
        ),
        ("LATCHKEY_IDP_WEBAUTHN_ALLOW_SYNCED_PASSKEYS", "1"),
    ];
    for args in [&[][..], &["--config", "FILE"][..]] {
        let file = TempFile::new(IDP_FILE);
        let args: Vec<&str> = args
            .iter()
            .map(|arg| if *arg == "FILE" { file.path() } else { arg })
            .collect();
        let idp = load_ok(&args, &vars).idp;
        assert_eq!(idp.session_duration, 15, "{args:?}");
        assert_eq!(
            idp.trusted_proxies,
            strings(&["192.168.1.10", "2001:db8::/32"])
        );
        assert_eq!(idp.webauthn_user_verification, "required");
        assert_eq!(idp.webauthn_authenticator_attachment, "cross-platform");
        assert!(idp.webauthn_allow_synced_passkeys);
    }
    // An empty list in a higher layer trusts no proxy, whatever the file says.
    let file = TempFile::new(IDP_FILE);
    let config = load_ok(
        &["--config", file.path()],
        &[("LATCHKEY_IDP_TRUSTED_PROXIES", ",")],
    );
    assert!(config.idp.trusted_proxies.is_empty());
}

#[test]
fn idp_keys_belong_to_the_idp_section() {
    for key in [
        "session_duration = 5",
        "webauthn_user_verification = \"preferred\"",
        "webauthn_allow_synced_passkeys = false",
    ] {
        let file = TempFile::new(&format!("[tsidp]\n{key}\n"));
        let err = load_err(&["--config", file.path()], &[]);
        let name = key.split(' ').next().unwrap();
        assert!(
            err.contains(&format!("unknown key `tsidp.{name}`")),
            "{key}: {err}"
        );
    }
    let err = load_err(&[], &[("LATCHKEY_TSIDP_SESSION_DURATION", "5")]);
    assert!(
        err.contains("unknown environment variable LATCHKEY_TSIDP_SESSION_DURATION"),
        "{err}"
    );
    // tsidp keeps its own trusted proxies.
    let config = load_ok(
        &["tsidp"],
        &[
            ("LATCHKEY_TSIDP_TRUSTED_PROXIES", "127.0.0.1"),
            ("LATCHKEY_IDP_TRUSTED_PROXIES", "10.0.0.0/8"),
        ],
    );
    assert_eq!(config.tsidp.trusted_proxies, strings(&["127.0.0.1"]));
    assert_eq!(config.idp.trusted_proxies, strings(&["10.0.0.0/8"]));
}

#[test]
fn bad_idp_values_are_one_clear_error() {
    for (name, value, key, expected) in [
        (
            "LATCHKEY_IDP_WEBAUTHN_USER_VERIFICATION",
            "discouraged",
            "idp.webauthn_user_verification",
            "expected one of: required, preferred",
        ),
        (
            "LATCHKEY_IDP_WEBAUTHN_USER_VERIFICATION",
            "Required",
            "idp.webauthn_user_verification",
            "expected one of: required, preferred",
        ),
        (
            "LATCHKEY_IDP_WEBAUTHN_AUTHENTICATOR_ATTACHMENT",
            "roaming",
            "idp.webauthn_authenticator_attachment",
            "expected one of: any, platform, cross-platform",
        ),
        (
            "LATCHKEY_IDP_SESSION_DURATION",
            "0",
            "idp.session_duration",
            "greater than 0",
        ),
        (
            "LATCHKEY_IDP_TRUSTED_PROXIES",
            "10.0.0.1,proxy.internal",
            "idp.trusted_proxies",
            "\"proxy.internal\" is not an IP address or CIDR range",
        ),
        (
            "LATCHKEY_IDP_TRUSTED_PROXIES",
            "10.0.0.0/33",
            "idp.trusted_proxies",
            "\"10.0.0.0/33\" is not an IP address or CIDR range",
        ),
        (
            "LATCHKEY_IDP_TRUSTED_PROXIES",
            "::1/129",
            "idp.trusted_proxies",
            "\"::1/129\" is not",
        ),
        (
            "LATCHKEY_IDP_TRUSTED_PROXIES",
            "10.0.0.0/",
            "idp.trusted_proxies",
            "\"10.0.0.0/\" is not",
        ),
        (
            "LATCHKEY_IDP_TRUSTED_PROXIES",
            "10.0.0.0/+8",
            "idp.trusted_proxies",
            "\"10.0.0.0/+8\" is not",
        ),
    ] {
        let err = load_err(&[], &[(name, value)]);
        assert!(
            err.contains(&format!("`{key}`")) && err.contains(expected) && err.contains(name),
            "{name}={value}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let err = load_err(&[], &[("LATCHKEY_IDP_SESSION_DURATION", "6000000")]);
    assert!(
        err.contains("`idp.session_duration` is 6000000 min; at most 5256000"),
        "{err}"
    );
    load_ok(&[], &[("LATCHKEY_IDP_SESSION_DURATION", "5256000")]);
    let err = load_err(
        &[],
        &[("LATCHKEY_IDP_WEBAUTHN_ALLOW_SYNCED_PASSKEYS", "yes")],
    );
    assert!(
        err.contains("LATCHKEY_IDP_WEBAUTHN_ALLOW_SYNCED_PASSKEYS") && err.contains("true, false"),
        "{err}"
    );
    let err = load_err(&[], &[("LATCHKEY_IDP_SESSION_DURATION", "1h")]);
    assert!(
        err.contains("LATCHKEY_IDP_SESSION_DURATION") && err.contains("integer"),
        "{err}"
    );
    let file = TempFile::new("[idp]\nsession_duration = \"60\"\n");
    let err = load_err(&["--config", file.path()], &[]);
    assert!(
        err.contains("idp.session_duration") && err.contains("integer"),
        "{err}"
    );
    let file = TempFile::new("[idp]\ntrusted_proxies = \"10.0.0.1\"\n");
    let err = load_err(&["--config", file.path()], &[]);
    assert!(
        err.contains("idp.trusted_proxies") && err.contains("array of strings"),
        "{err}"
    );
    let file = TempFile::new("[idp]\ntrusted_proxies = [\"10.0.0.1\", \"*\"]\n");
    let err = load_err(&["--config", file.path()], &[]);
    assert!(
        err.contains("idp.trusted_proxies") && err.contains(file.path()) && err.contains("\"*\""),
        "{err}"
    );
}

#[test]
fn session_lifetime_is_refused_with_a_hint() {
    let file = TempFile::new("[idp]\nsession_lifetime = 3600\n");
    let err = load_err(&["--config", file.path()], &[]);
    assert!(
        err.contains("unknown key `idp.session_lifetime`")
            && err.contains("`idp.session_duration`"),
        "{err}"
    );
    let err = load_err(&[], &[("LATCHKEY_IDP_SESSION_LIFETIME", "3600")]);
    assert!(
        err.contains("unknown environment variable LATCHKEY_IDP_SESSION_LIFETIME")
            && err.contains("LATCHKEY_IDP_SESSION_DURATION")
            && err.contains("minutes"),
        "{err}"
    );
    let file = TempFile::new("[tsidp]\nsession_lifetime = 3600\n");
    let err = load_err(&["--config", file.path(), "tsidp"], &[]);
    assert!(
        err.contains("unknown key `tsidp.session_lifetime`") && err.contains("never used"),
        "{err}"
    );
    let err = load_err(&[], &[("LATCHKEY_TSIDP_SESSION_LIFETIME", "3600")]);
    assert!(err.contains("was removed"), "{err}");
    // Other unknown keys still get a suggestion.
    let err = load_err(&[], &[("LATCHKEY_IDP_SESSION_DURATON", "60")]);
    assert!(
        err.contains("did you mean `LATCHKEY_IDP_SESSION_DURATION`"),
        "{err}"
    );
}
