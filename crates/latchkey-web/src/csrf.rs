//! Cross-site request forgery protection for state-changing form posts, in two independent
//! layers: the browser must say the request came from our own origin (Fetch Metadata or
//! `Origin`), and the form must carry a synchronizer token we issued to this person recently.
//! A post that changes nothing secret-bearing and carries no token (a sign-out confirmation)
//! uses the first layer alone, strictly: [`require_same_origin`].
//!
//! Tokens are stateless: `<issued at>.<HMAC-SHA256(purpose, subject, issued at)>`. The key
//! is given by the role (derived from the instance key), so every replica accepts every
//! other's tokens and nothing is stored.

use aws_lc_rs::hmac;
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The hidden form field that carries the token.
pub const TOKEN_FIELD: &str = "csrf_token";

/// How long a token is accepted after it was issued, in seconds.
pub const DEFAULT_MAX_AGE: i64 = 3600;

/// Clock difference tolerated between replicas for a token "from the future", in seconds.
const MAX_SKEW: i64 = 60;

const DOMAIN: &[u8] = b"latchkey/v1/csrf";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    #[error("the request was sent by another site (Sec-Fetch-Site: {0})")]
    CrossSite(String),
    #[error("the request came from another origin ({0})")]
    ForeignOrigin(String),
    #[error("the request does not say where it came from (no Sec-Fetch-Site, no Origin)")]
    UnknownOrigin,
    #[error("the form carries no CSRF token")]
    MissingToken,
    #[error("the form's CSRF token is malformed")]
    MalformedToken,
    #[error("the form's CSRF token has expired")]
    ExpiredToken,
    #[error("the form's CSRF token was not issued for this person and purpose")]
    InvalidToken,
}

/// Issues and checks tokens for one origin.
pub struct Csrf {
    key: hmac::Key,
    origin: String,
    max_age: i64,
}

impl std::fmt::Debug for Csrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Csrf")
            .field("origin", &self.origin)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl Csrf {
    /// `key` must be secret and at least 256 bits of entropy (e.g. derived from the instance
    /// key with a label of its own); `origin` is the serialised origin pages are served from
    /// (see [`crate::Site`]).
    pub fn new(key: [u8; 32], origin: impl Into<String>) -> Csrf {
        Csrf {
            key: hmac::Key::new(hmac::HMAC_SHA256, &key),
            origin: origin.into(),
            max_age: DEFAULT_MAX_AGE,
        }
    }

    pub fn with_max_age(mut self, seconds: i64) -> Csrf {
        self.max_age = seconds;
        self
    }

    /// A token for forms that `subject` will post for `purpose`, issued at `now`.
    pub fn token(&self, purpose: &str, subject: &str, now: i64) -> String {
        let tag = hmac::sign(&self.key, &mac_input(purpose, subject, now));
        format!("{now}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
    }

    /// Checks a token from a form posted by `subject` for `purpose` at `now`.
    pub fn verify_token(
        &self,
        token: Option<&str>,
        purpose: &str,
        subject: &str,
        now: i64,
    ) -> Result<(), CsrfError> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(CsrfError::MissingToken)?;
        let (issued, tag) = token.split_once('.').ok_or(CsrfError::MalformedToken)?;
        if issued.is_empty() || issued.len() > 19 || !issued.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CsrfError::MalformedToken);
        }
        let issued: i64 = issued.parse().map_err(|_| CsrfError::MalformedToken)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| CsrfError::MalformedToken)?;
        hmac::verify(&self.key, &mac_input(purpose, subject, issued), &tag)
            .map_err(|_| CsrfError::InvalidToken)?;
        // Checked after the MAC, so an expiry answer never tells anything about a forgery.
        if issued > now.saturating_add(MAX_SKEW) || now.saturating_sub(issued) > self.max_age {
            return Err(CsrfError::ExpiredToken);
        }
        Ok(())
    }

    /// Both layers for a form post: same origin, then the token.
    pub fn check(
        &self,
        headers: &HeaderMap,
        token: Option<&str>,
        purpose: &str,
        subject: &str,
        now: i64,
    ) -> Result<(), CsrfError> {
        check_same_origin(headers, &self.origin)?;
        self.verify_token(token, purpose, subject, now)
    }
}

/// Fields are length-prefixed so that no two (purpose, subject) pairs share an input.
fn mac_input(purpose: &str, subject: &str, issued: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(DOMAIN.len() + purpose.len() + subject.len() + 40);
    out.extend_from_slice(DOMAIN);
    for field in [purpose.as_bytes(), subject.as_bytes()] {
        out.extend_from_slice(&(field.len() as u64).to_be_bytes());
        out.extend_from_slice(field);
    }
    out.extend_from_slice(&issued.to_be_bytes());
    out
}

/// A state-changing request must come from a page of `origin`: `Sec-Fetch-Site`, when the
/// browser sends it, must be `same-origin`; `Origin`, when sent, must be ours. A request with
/// neither (a non-browser client, an old browser) passes this layer and still needs a token.
///
/// One allowance: `Origin: null` passes when `Sec-Fetch-Site` says `same-origin`. A browser
/// sends `null` for a same-origin form post whose page has `Referrer-Policy: no-referrer`
/// (the binary's default; Fetch, "append a request `Origin` header"), while an opaque origin
/// such as a sandboxed frame is reported as `cross-site`, never `same-origin`. Pages rendered
/// by [`crate::render`] set `same-origin` so that browsers without Fetch Metadata send the
/// real origin.
pub fn check_same_origin(headers: &HeaderMap, origin: &str) -> Result<(), CsrfError> {
    let mut sites = headers.get_all("sec-fetch-site").iter();
    let fetch_metadata = match sites.next() {
        Some(site) if site.as_bytes() != b"same-origin" || sites.next().is_some() => {
            return Err(CsrfError::CrossSite(printable(site.as_bytes())));
        }
        Some(_) => true,
        None => false,
    };
    let mut origins = headers.get_all(header::ORIGIN).iter();
    if let Some(sent) = origins.next() {
        let ours =
            sent.as_bytes() == origin.as_bytes() || (fetch_metadata && sent.as_bytes() == b"null");
        if !ours || origins.next().is_some() {
            return Err(CsrfError::ForeignOrigin(printable(sent.as_bytes())));
        }
    }
    Ok(())
}

/// Like [`check_same_origin`], for a post that carries no token (a confirmation that holds
/// nothing secret): the browser must also have said where the request came from.
pub fn require_same_origin(headers: &HeaderMap, origin: &str) -> Result<(), CsrfError> {
    check_same_origin(headers, origin)?;
    if headers.contains_key("sec-fetch-site") || headers.contains_key(header::ORIGIN) {
        Ok(())
    } else {
        Err(CsrfError::UnknownOrigin)
    }
}

/// A header value for a log line or a message, never longer than a line.
fn printable(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    s.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const ORIGIN: &str = "https://idp.tail1234.ts.net";
    const NOW: i64 = 1_800_000_000;

    fn csrf() -> Csrf {
        Csrf::new([7; 32], ORIGIN)
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn a_token_is_accepted_for_its_purpose_and_subject_for_an_hour() {
        let c = csrf();
        let t = c.token("admin", "userid:1", NOW);
        assert_eq!(c.verify_token(Some(&t), "admin", "userid:1", NOW), Ok(()));
        assert_eq!(
            c.verify_token(Some(&t), "admin", "userid:1", NOW + 3600),
            Ok(())
        );
        assert_eq!(
            c.verify_token(Some(&t), "admin", "userid:1", NOW + 3601),
            Err(CsrfError::ExpiredToken)
        );
        assert_eq!(
            c.verify_token(Some(&t), "admin", "userid:1", NOW - 61),
            Err(CsrfError::ExpiredToken),
            "issued in the future beyond the skew"
        );
        assert_eq!(
            c.verify_token(Some(&t), "admin", "userid:1", NOW - 30),
            Ok(()),
            "small skew between replicas"
        );
    }

    #[test]
    fn a_token_is_bound_to_subject_purpose_key_and_time() {
        let c = csrf();
        let t = c.token("admin", "userid:1", NOW);
        assert_eq!(
            c.verify_token(Some(&t), "admin", "userid:2", NOW),
            Err(CsrfError::InvalidToken)
        );
        assert_eq!(
            c.verify_token(Some(&t), "other", "userid:1", NOW),
            Err(CsrfError::InvalidToken)
        );
        let other_key = Csrf::new([8; 32], ORIGIN);
        assert_eq!(
            other_key.verify_token(Some(&t), "admin", "userid:1", NOW),
            Err(CsrfError::InvalidToken)
        );
        // Moving the issue time forward to extend the token breaks its MAC.
        let (_, tag) = t.split_once('.').unwrap();
        let later = format!("{}.{tag}", NOW + 10);
        assert_eq!(
            c.verify_token(Some(&later), "admin", "userid:1", NOW + 10),
            Err(CsrfError::InvalidToken)
        );
        // Field boundaries matter: ("ab", "c") is not ("a", "bc").
        let t = c.token("ab", "c", NOW);
        assert_eq!(
            c.verify_token(Some(&t), "a", "bc", NOW),
            Err(CsrfError::InvalidToken)
        );
    }

    #[test]
    fn missing_and_malformed_tokens_are_refused() {
        let c = csrf();
        assert_eq!(
            c.verify_token(None, "admin", "u", NOW),
            Err(CsrfError::MissingToken)
        );
        assert_eq!(
            c.verify_token(Some(""), "admin", "u", NOW),
            Err(CsrfError::MissingToken)
        );
        for bad in [
            "nodot",
            ".abc",
            "-5.abc",
            "+5.abc",
            "12x.abc",
            "99999999999999999999.abc",
            "1800000000.not base64!",
        ] {
            assert_eq!(
                c.verify_token(Some(bad), "admin", "u", NOW),
                Err(CsrfError::MalformedToken),
                "{bad}"
            );
        }
        assert_eq!(
            c.verify_token(Some("1800000000.AAAA"), "admin", "u", NOW),
            Err(CsrfError::InvalidToken)
        );
    }

    #[test]
    fn same_origin_follows_fetch_metadata_then_origin() {
        assert_eq!(check_same_origin(&headers(&[]), ORIGIN), Ok(()));
        assert_eq!(
            check_same_origin(&headers(&[("sec-fetch-site", "same-origin")]), ORIGIN),
            Ok(())
        );
        assert_eq!(
            check_same_origin(
                &headers(&[("sec-fetch-site", "same-origin"), ("origin", ORIGIN)]),
                ORIGIN
            ),
            Ok(())
        );
        assert_eq!(
            check_same_origin(&headers(&[("origin", ORIGIN)]), ORIGIN),
            Ok(())
        );
        for site in ["cross-site", "same-site", "none"] {
            let h = headers(&[("sec-fetch-site", site), ("origin", ORIGIN)]);
            assert!(
                matches!(check_same_origin(&h, ORIGIN), Err(CsrfError::CrossSite(_))),
                "{site}"
            );
        }
        for origin in [
            "https://evil.example",
            "http://idp.tail1234.ts.net",
            "https://idp.tail1234.ts.net:8443",
            "https://idp.tail1234.ts.net.evil.example",
        ] {
            let mut h = headers(&[("sec-fetch-site", "same-origin")]);
            h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
            assert!(
                matches!(
                    check_same_origin(&h, ORIGIN),
                    Err(CsrfError::ForeignOrigin(_))
                ),
                "{origin}"
            );
        }
        let twice = headers(&[("origin", ORIGIN), ("origin", "https://evil.example")]);
        assert!(check_same_origin(&twice, ORIGIN).is_err());
        // `null` is what a no-referrer page's own form sends: believed only with Fetch Metadata.
        assert_eq!(
            check_same_origin(
                &headers(&[("sec-fetch-site", "same-origin"), ("origin", "null")]),
                ORIGIN
            ),
            Ok(())
        );
        assert!(check_same_origin(&headers(&[("origin", "null")]), ORIGIN).is_err());
        assert!(
            check_same_origin(
                &headers(&[("sec-fetch-site", "cross-site"), ("origin", "null")]),
                ORIGIN
            )
            .is_err()
        );
    }

    #[test]
    fn without_a_token_the_origin_must_be_said() {
        assert_eq!(
            require_same_origin(&headers(&[]), ORIGIN),
            Err(CsrfError::UnknownOrigin)
        );
        for ok in [
            headers(&[("sec-fetch-site", "same-origin")]),
            headers(&[("origin", ORIGIN)]),
            headers(&[("sec-fetch-site", "same-origin"), ("origin", "null")]),
        ] {
            assert_eq!(require_same_origin(&ok, ORIGIN), Ok(()), "{ok:?}");
        }
        for bad in [
            headers(&[("sec-fetch-site", "cross-site")]),
            headers(&[("origin", "https://evil.example")]),
            headers(&[
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://evil.example"),
            ]),
            headers(&[("origin", "null")]),
        ] {
            assert!(require_same_origin(&bad, ORIGIN).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn check_needs_both_layers() {
        let c = csrf();
        let t = c.token("admin", "u", NOW);
        let ok = headers(&[("sec-fetch-site", "same-origin"), ("origin", ORIGIN)]);
        assert_eq!(c.check(&ok, Some(&t), "admin", "u", NOW), Ok(()));
        assert_eq!(
            c.check(&ok, None, "admin", "u", NOW),
            Err(CsrfError::MissingToken)
        );
        let cross = headers(&[("sec-fetch-site", "cross-site")]);
        assert!(c.check(&cross, Some(&t), "admin", "u", NOW).is_err());
    }
}
