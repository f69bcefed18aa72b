//! From the provider's claims to the session's identity.

use latchkey_store::{ProxyIdentity, Subject};
use serde_json::{Map, Value};

use crate::settings::ProviderSettings;

/// Claims that only the ID token may set: userinfo's copies are ignored.
const ID_TOKEN_ONLY: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "nonce",
    "azp",
    "auth_time",
    "at_hash",
    "c_hash",
    "jti",
    "sid",
    "acr",
    "amr",
];

/// Userinfo's claims over the ID token's, when userinfo speaks of the same `sub`
/// (OpenID Connect Core §5.3.2); otherwise the ID token's alone.
pub(super) fn merge_userinfo(
    mut claims: Map<String, Value>,
    info: Map<String, Value>,
) -> Map<String, Value> {
    let sub = claims.get("sub").and_then(Value::as_str);
    if sub.is_none() || info.get("sub").and_then(Value::as_str) != sub {
        tracing::warn!("userinfo's sub is not the ID token's; userinfo ignored");
        return claims;
    }
    for (k, v) in info {
        if !ID_TOKEN_ONLY.contains(&k.as_str()) {
            claims.insert(k, v);
        }
    }
    claims
}

fn text(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// The identity the session keeps. An e-mail address the provider says is not verified is
/// dropped (the e-mail rules and headers never see it) unless the settings allow it.
pub fn identity_from_claims(
    claims: &Map<String, Value>,
    settings: &ProviderSettings,
) -> Option<ProxyIdentity> {
    let sub = text(claims, "sub")?;
    // As oauth2-proxy: only an explicit `false` makes an address unverified.
    let email_verified = match claims.get("email_verified") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s != "false",
        _ => true,
    };
    let trusted = email_verified || settings.allow_unverified_email;
    let email = text(claims, &settings.email_claim).filter(|_| trusted);
    // A user claim that is the unverified address is not an identity either (as oauth2-proxy,
    // which refuses such a sign-in): the person is known by `sub`.
    let user = match settings.user_claim.as_str() {
        "sub" => sub.clone(),
        name if name == settings.email_claim && !trusted => sub.clone(),
        name => text(claims, name).unwrap_or_else(|| sub.clone()),
    };
    let groups = match claims.get(&settings.groups_claim) {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|g| match g {
                Value::String(s) if !s.is_empty() => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    };
    Some(ProxyIdentity {
        subject: Subject(sub),
        sid: text(claims, "sid"),
        user,
        email,
        email_verified,
        preferred_username: text(claims, "preferred_username"),
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::ProxySettings;
    use serde_json::json;

    fn settings() -> ProviderSettings {
        ProxySettings::new(
            "p",
            "https://op.example",
            "c",
            Some("s"),
            "https://a/oauth2/callback",
        )
        .provider
    }

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn userinfo_merged_only_for_the_same_subject() {
        let id = map(json!({"sub": "alice", "email": "a@x", "iss": "https://op"}));
        let merged = merge_userinfo(
            id.clone(),
            map(json!({"sub": "alice", "email": "b@x", "groups": ["g"], "iss": "evil"})),
        );
        assert_eq!(merged["email"], "b@x");
        assert_eq!(merged["groups"], json!(["g"]));
        assert_eq!(merged["iss"], "https://op", "userinfo cannot change iss");
        let other = merge_userinfo(id.clone(), map(json!({"sub": "mallory", "email": "m@x"})));
        assert_eq!(other, id);
        let none = merge_userinfo(id.clone(), map(json!({"email": "m@x"})));
        assert_eq!(none, id);
    }

    #[test]
    fn unverified_email_is_dropped_unless_allowed() {
        let claims = map(
            json!({"sub": "alice", "email": "a@x", "email_verified": false,
            "groups": ["a", 7, null, ""], "preferred_username": "al", "sid": "s1"}),
        );
        let mut s = settings();
        let id = identity_from_claims(&claims, &s).unwrap();
        assert_eq!(id.email, None);
        assert!(!id.email_verified);
        assert_eq!(id.groups, vec!["a".to_owned(), "7".to_owned()]);
        assert_eq!(id.user, "alice");
        assert_eq!(id.sid.as_deref(), Some("s1"));
        s.allow_unverified_email = true;
        assert_eq!(
            identity_from_claims(&claims, &s).unwrap().email.as_deref(),
            Some("a@x")
        );
        // No email_verified at all counts as verified, as oauth2-proxy has it.
        let id = identity_from_claims(&map(json!({"sub": "b", "email": "b@x"})), &settings());
        assert_eq!(id.unwrap().email.as_deref(), Some("b@x"));
        assert!(identity_from_claims(&map(json!({"email": "b@x"})), &settings()).is_none());
        s.user_claim = "email".into();
        let id = identity_from_claims(&map(json!({"sub": "b", "email": "b@x"})), &s).unwrap();
        assert_eq!(id.user, "b@x");
        // An unverified address is not the user either.
        s.allow_unverified_email = false;
        let id = identity_from_claims(&claims, &s).unwrap();
        assert_eq!(id.user, "alice", "the sub, not the unverified a@x");
    }
}
