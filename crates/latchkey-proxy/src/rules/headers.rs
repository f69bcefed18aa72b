//! Identity headers: what clients may not send, what the upstream and forward-auth callers
//! get. Names are compared without case, `-` or `_`: `X_Forwarded_User`, `x-forwarded-user`
//! and `XForwardedUser` are the same header to an upstream that normalises them.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// Header names, squashed (lower case, no `-` or `_`), that only the proxy may set.
const IDENTITY: &[&str] = &[
    "xforwardeduser",
    "xforwardedemail",
    "xforwardedgroups",
    "xforwardedpreferredusername",
    "xforwardedaccesstoken",
    "xauthrequestuser",
    "xauthrequestemail",
    "xauthrequestgroups",
    "xauthrequestpreferredusername",
    "xauthrequestaccesstoken",
    "gapauth",
];

fn squash(name: &str) -> String {
    name.bytes()
        .filter(|b| *b != b'-' && *b != b'_')
        .map(|b| char::from(b.to_ascii_lowercase()))
        .collect()
}

/// Removes every incoming copy of an identity header; `Authorization` too when the proxy
/// sets it for the upstream.
pub fn strip_identity_headers(headers: &mut HeaderMap, authorization_too: bool) {
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let s = squash(name.as_str());
            IDENTITY.contains(&s.as_str()) || (authorization_too && s == "authorization")
        })
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(&name);
    }
}

/// Sets `name` to `value` when the value can be a header (a provider's claim with control
/// characters cannot); otherwise leaves it out, and says so in the log.
pub fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(v) => {
            headers.insert(HeaderName::from_static(name), v);
        }
        Err(_) => tracing::warn!(header = name, "a claim could not be sent as a header"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_identity_headers_are_stripped_in_every_spelling() {
        let mut h = HeaderMap::new();
        for name in [
            "x-forwarded-user",
            "X-Forwarded-Email",
            "x_forwarded_groups",
            "X_FORWARDED_PREFERRED_USERNAME",
            "xforwardeduser",
            "x-forwarded_access-token",
            "x-auth-request-user",
            "X_Auth_Request_Email",
            "x-auth-request-groups",
            "x-auth-request-preferred-username",
            "x-auth-request-access-token",
            "gap-auth",
            "x--forwarded--user",
        ] {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("mallory"),
            );
        }
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        h.insert("x-forwarded-host", HeaderValue::from_static("app"));
        h.insert("authorization", HeaderValue::from_static("Bearer x"));
        let mut kept = h.clone();
        strip_identity_headers(&mut kept, false);
        let names: Vec<&str> = kept.keys().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(kept.contains_key("x-forwarded-for") && kept.contains_key("authorization"));
        strip_identity_headers(&mut h, true);
        assert!(!h.contains_key("authorization"));
        assert_eq!(h.len(), 2);
    }
}
