//! ID token validation (OpenID Connect Core §3.1.3.7): signature by a key of the provider's
//! JWKS with an allowed algorithm, `iss`, `aud` (and `azp` with several audiences), `exp`,
//! `iat`, `nbf`, `sub` and `nonce`.

use std::collections::HashMap;

use latchkey_oidc::crypto::constant_time_eq;
use latchkey_oidc::jose::{Alg, JoseError, JwtHeader, VerifyingKey, decode_header, verify_jwt};
use serde_json::{Map, Value};

/// Clock difference tolerated between us and the provider, in seconds.
pub const LEEWAY: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdTokenError {
    #[error("signed with an algorithm that is not allowed")]
    Alg,
    #[error("{0}")]
    Jose(#[from] JoseError),
    #[error("{0}")]
    Claim(&'static str),
}

pub(super) struct Expect<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// At sign-in, the nonce sent; at refresh, none (the provider may repeat the old one).
    pub nonce: Option<&'a str>,
    pub now: i64,
    pub algs: &'a [Alg],
}

pub(super) fn check_header(token: &str, algs: &[Alg]) -> Result<JwtHeader, IdTokenError> {
    let header = decode_header(token)?;
    let alg: Alg = header.alg.parse().map_err(|_| IdTokenError::Alg)?;
    if !algs.contains(&alg) {
        return Err(IdTokenError::Alg);
    }
    Ok(header)
}

pub(super) fn validate(
    token: &str,
    keys: &HashMap<String, VerifyingKey>,
    e: &Expect<'_>,
) -> Result<Map<String, Value>, IdTokenError> {
    check_header(token, e.algs)?;
    let (_, claims) = verify_jwt(token, |kid| keys.get(kid))?;
    check_claims(&claims, e)?;
    Ok(claims)
}

fn int(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    let v = claims.get(name)?;
    v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
}

pub(super) fn check_claims(
    claims: &Map<String, Value>,
    e: &Expect<'_>,
) -> Result<(), IdTokenError> {
    use IdTokenError::Claim;
    if claims.get("iss").and_then(Value::as_str) != Some(e.issuer) {
        return Err(Claim("iss is not the provider"));
    }
    if claims
        .get("sub")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(Claim("sub is missing"));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => return Err(Claim("aud is missing")),
    };
    if !audiences.contains(&e.client_id) {
        return Err(Claim("aud does not name this client"));
    }
    match claims.get("azp") {
        Some(Value::String(azp)) if azp == e.client_id => {}
        Some(_) => return Err(Claim("azp is another client")),
        None if audiences.len() > 1 => {
            return Err(Claim("azp is missing from a token with several audiences"));
        }
        None => {}
    }
    let exp = int(claims, "exp").ok_or(Claim("exp is missing"))?;
    if exp + LEEWAY <= e.now {
        return Err(Claim("the token has expired"));
    }
    let iat = int(claims, "iat").ok_or(Claim("iat is missing"))?;
    if iat > e.now + LEEWAY {
        return Err(Claim("the token was issued in the future"));
    }
    if int(claims, "nbf").is_some_and(|nbf| nbf > e.now + LEEWAY) {
        return Err(Claim("the token is not valid yet"));
    }
    if let Some(expected) = e.nonce {
        let got = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
        if !constant_time_eq(got.as_bytes(), expected.as_bytes()) {
            return Err(Claim("nonce does not match the sign-in"));
        }
    }
    Ok(())
}

/// What a valid logout token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutClaims {
    pub sub: Option<String>,
    pub sid: Option<String>,
}

/// The logout event member (Back-Channel Logout 1.0 §2.4).
const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token older than this is refused (it is sent at once).
const LOGOUT_MAX_AGE: i64 = 300;

/// A logout token's claims (Back-Channel Logout 1.0 §2.6): issuer, audience (and `azp`),
/// times, the logout event, `sub` or `sid`, a `jti`, and no `nonce` (so that an ID token
/// cannot pass for one).
pub(super) fn check_logout_claims(
    claims: &Map<String, Value>,
    e: &Expect<'_>,
) -> Result<LogoutClaims, IdTokenError> {
    use IdTokenError::Claim;
    if claims.get("iss").and_then(Value::as_str) != Some(e.issuer) {
        return Err(Claim("iss is not the provider"));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => return Err(Claim("aud is missing")),
    };
    if !audiences.contains(&e.client_id) {
        return Err(Claim("aud does not name this client"));
    }
    let iat = int(claims, "iat").ok_or(Claim("iat is missing"))?;
    if iat > e.now + LEEWAY || iat < e.now - LOGOUT_MAX_AGE {
        return Err(Claim("iat is not recent"));
    }
    if int(claims, "exp").is_some_and(|exp| exp + LEEWAY <= e.now) {
        return Err(Claim("the token has expired"));
    }
    if claims.contains_key("nonce") {
        return Err(Claim("a logout token carries no nonce"));
    }
    if claims
        .get("jti")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(Claim("jti is missing"));
    }
    if !claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|ev| ev.get(LOGOUT_EVENT))
        .is_some_and(Value::is_object)
    {
        return Err(Claim("events names no back-channel logout"));
    }
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let (sub, sid) = (text("sub"), text("sid"));
    if sub.is_none() && sid.is_none() {
        return Err(Claim("neither sub nor sid"));
    }
    Ok(LogoutClaims { sub, sid })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn expect(nonce: Option<&str>) -> Expect<'_> {
        Expect {
            issuer: "https://op.example",
            client_id: "proxy",
            nonce,
            now: 1_000,
            algs: &Alg::ALL,
        }
    }

    fn good() -> Map<String, Value> {
        json!({"iss": "https://op.example", "sub": "alice", "aud": "proxy", "exp": 1_100,
               "iat": 990, "nonce": "n1"})
        .as_object()
        .unwrap()
        .clone()
    }

    fn with(change: &[(&str, Value)]) -> Map<String, Value> {
        let mut c = good();
        for (k, v) in change {
            if v.is_null() {
                c.remove(*k);
            } else {
                c.insert((*k).into(), v.clone());
            }
        }
        c
    }

    #[test]
    fn claims_checked() {
        assert_eq!(check_claims(&good(), &expect(Some("n1"))), Ok(()));
        assert_eq!(
            check_claims(&good(), &expect(None)),
            Ok(()),
            "refresh: no nonce"
        );
        let bad: &[(&[(&str, Value)], &str)] = &[
            (&[("iss", json!("https://op.example/"))], "iss"),
            (&[("iss", Value::Null)], "iss"),
            (&[("sub", json!(""))], "sub"),
            (&[("aud", json!("other"))], "aud"),
            (&[("aud", json!(["other", "x"]))], "aud"),
            (&[("aud", json!(["proxy", "other"]))], "azp"),
            (
                &[("aud", json!(["proxy", "other"])), ("azp", json!("other"))],
                "azp",
            ),
            (&[("azp", json!("other"))], "azp"),
            (&[("exp", json!(940))], "exp"),
            (&[("exp", Value::Null)], "exp"),
            (&[("exp", json!("1100"))], "exp"),
            (&[("iat", json!(1_061))], "iat"),
            (&[("iat", Value::Null)], "iat"),
            (&[("nbf", json!(1_061))], "nbf"),
            (&[("nonce", json!("n2"))], "nonce"),
            (&[("nonce", Value::Null)], "nonce"),
        ];
        for (change, what) in bad {
            assert!(
                check_claims(&with(change), &expect(Some("n1"))).is_err(),
                "{what}: {change:?}"
            );
        }
        // Within the leeway.
        assert_eq!(
            check_claims(&with(&[("exp", json!(941))]), &expect(None)),
            Ok(())
        );
        assert_eq!(
            check_claims(&with(&[("iat", json!(1_060))]), &expect(None)),
            Ok(())
        );
        assert_eq!(
            check_claims(
                &with(&[("aud", json!(["proxy", "other"])), ("azp", json!("proxy"))]),
                &expect(None)
            ),
            Ok(())
        );
    }

    #[test]
    fn algorithms_restricted() {
        use latchkey_oidc::jose::SigningKey;
        let key = SigningKey::generate(Alg::ES256).unwrap();
        let token = key.sign_jwt("JWT", &good()).unwrap();
        let keys: HashMap<String, VerifyingKey> =
            [(key.kid().to_owned(), key.verifying_key())].into();
        let e = expect(Some("n1"));
        assert!(validate(&token, &keys, &e).is_ok());
        let only_rs = Expect {
            algs: &[Alg::RS256],
            ..expect(Some("n1"))
        };
        assert_eq!(validate(&token, &keys, &only_rs), Err(IdTokenError::Alg));
        // alg "none", and a token signed by a key the provider does not publish.
        let none = format!(
            "{}.{}.",
            latchkey_oidc::crypto::b64url(br#"{"alg":"none","kid":"k"}"#),
            token.split('.').nth(1).unwrap()
        );
        assert_eq!(validate(&none, &keys, &e), Err(IdTokenError::Alg));
        let other = SigningKey::generate(Alg::ES256).unwrap();
        let forged = other.sign_jwt("JWT", &good()).unwrap();
        assert!(validate(&forged, &keys, &e).is_err());
        // Tampered payload.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = latchkey_oidc::crypto::b64url(
            serde_json::to_string(&with(&[("sub", json!("mallory"))]))
                .unwrap()
                .as_bytes(),
        );
        assert!(validate(&parts.join("."), &keys, &e).is_err());
    }

    fn logout() -> Map<String, Value> {
        json!({"iss": "https://op.example", "sub": "alice", "aud": "proxy", "iat": 990,
               "exp": 1_100, "jti": "j1", "sid": "s1",
               "events": {"http://schemas.openid.net/event/backchannel-logout": {}}})
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn logout_tokens_must_be_logout_tokens() {
        let e = expect(None);
        assert_eq!(
            check_logout_claims(&logout(), &e),
            Ok(LogoutClaims {
                sub: Some("alice".into()),
                sid: Some("s1".into())
            })
        );
        let without = |k: &str| {
            let mut c = logout();
            c.remove(k);
            check_logout_claims(&c, &e)
        };
        for k in ["iss", "aud", "iat", "jti", "events"] {
            assert!(without(k).is_err(), "{k}");
        }
        assert!(without("sub").is_ok() && without("sid").is_ok());
        let with = |k: &str, v: Value| {
            let mut c = logout();
            c.insert(k.into(), v);
            check_logout_claims(&c, &e)
        };
        assert!(with("nonce", json!("n")).is_err(), "an ID token's nonce");
        assert!(with("aud", json!("other")).is_err());
        assert!(with("iat", json!(600)).is_err(), "too old");
        assert!(with("iat", json!(2_000)).is_err(), "from the future");
        assert!(with("events", json!({"other": {}})).is_err());
        assert!(with("events", json!({LOGOUT_EVENT: "yes"})).is_err());
        let mut neither = logout();
        neither.remove("sub");
        neither.remove("sid");
        assert!(check_logout_claims(&neither, &e).is_err());
    }
}
