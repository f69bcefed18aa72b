//! The proxy's two cookies. The session cookie carries only a sealed reference to the
//! session kept in the store; the CSRF cookie carries, sealed, what the callback needs to
//! check a sign-in started in this browser (state, nonce, PKCE verifier, where to go after).
//! Each seal is bound to its purpose, the proxy and the cookie's name, so one cannot stand
//! in for another.

use axum::http::{HeaderMap, HeaderValue};
use latchkey_oidc::crypto::{MasterKey, b64url, b64url_decode};
use serde::{Deserialize, Serialize};

use crate::settings::CookieSettings;

/// A session reference: 256 random bits. The store knows only its SHA-256 digest.
pub type Reference = [u8; 32];

/// Longer cookie values than this are not ours (and are not opened).
const MAX_VALUE: usize = 4096;

#[derive(Clone, Debug)]
pub struct Cookies {
    pub name: String,
    pub csrf_name: String,
    settings: CookieSettings,
    session_aad: Vec<u8>,
    csrf_aad: Vec<u8>,
}

/// What a sign-in in progress keeps in the browser.
#[derive(Clone, Serialize, Deserialize)]
pub struct CsrfState {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub rd: String,
    pub expires_at: i64,
}

impl Cookies {
    pub fn new(settings: &CookieSettings, proxy: &str) -> Cookies {
        let csrf_name = format!("{}_csrf", settings.name);
        Cookies {
            session_aad: format!("latchkey-proxy/session/v1\0{proxy}\0{}", settings.name)
                .into_bytes(),
            csrf_aad: format!("latchkey-proxy/csrf/v1\0{proxy}\0{csrf_name}").into_bytes(),
            name: settings.name.clone(),
            csrf_name,
            settings: settings.clone(),
        }
    }

    pub fn expire_secs(&self) -> i64 {
        i64::try_from(self.settings.expire.as_secs()).unwrap_or(i64::MAX)
    }

    pub fn csrf_expire_secs(&self) -> i64 {
        i64::try_from(self.settings.csrf_expire.as_secs()).unwrap_or(i64::MAX)
    }

    pub fn refresh_secs(&self) -> i64 {
        i64::try_from(self.settings.refresh.as_secs()).unwrap_or(i64::MAX)
    }

    pub fn seal_reference(&self, master: &MasterKey, reference: &Reference) -> String {
        b64url(&master.seal(reference, &self.session_aad))
    }

    /// The reference in the session cookie, if it is there and was sealed by us for this
    /// proxy; tampered, truncated or foreign values give `None`.
    pub fn open_reference(&self, master: &MasterKey, headers: &HeaderMap) -> Option<Reference> {
        let value = read(headers, &self.name)?;
        let sealed = b64url_decode(value).ok()?;
        master
            .open(&sealed, &self.session_aad)
            .ok()?
            .try_into()
            .ok()
    }

    pub fn seal_csrf(&self, master: &MasterKey, state: &CsrfState) -> String {
        let json = serde_json::to_vec(state).unwrap_or_default();
        b64url(&master.seal(&json, &self.csrf_aad))
    }

    pub fn open_csrf(
        &self,
        master: &MasterKey,
        headers: &HeaderMap,
        now: i64,
    ) -> Option<CsrfState> {
        let value = read(headers, &self.csrf_name)?;
        let sealed = b64url_decode(value).ok()?;
        let json = master.open(&sealed, &self.csrf_aad).ok()?;
        let state: CsrfState = serde_json::from_slice(&json).ok()?;
        (state.expires_at > now).then_some(state)
    }

    pub fn session_cookie(&self, value: &str, max_age: i64) -> HeaderValue {
        self.cookie(&self.name, value, max_age)
    }

    pub fn clear_session(&self) -> HeaderValue {
        self.cookie(&self.name, "", 0)
    }

    pub fn csrf_cookie(&self, value: &str) -> HeaderValue {
        self.cookie(&self.csrf_name, value, self.csrf_expire_secs())
    }

    pub fn clear_csrf(&self) -> HeaderValue {
        self.cookie(&self.csrf_name, "", 0)
    }

    fn cookie(&self, name: &str, value: &str, max_age: i64) -> HeaderValue {
        let s = &self.settings;
        let mut c = format!(
            "{name}={value}; Path={}; Max-Age={}",
            s.path,
            max_age.max(0)
        );
        if let Some(domain) = &s.domain {
            c.push_str("; Domain=");
            c.push_str(domain);
        }
        if s.http_only {
            c.push_str("; HttpOnly");
        }
        if s.secure {
            c.push_str("; Secure");
        }
        c.push_str("; SameSite=");
        c.push_str(s.same_site.as_str());
        // Names, paths and domains were checked with the settings; values are base64url.
        HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The request's `Cookie` header without the proxy's own cookies, for the upstream: a
    /// session reference is a credential for the proxy, not for the app.
    pub fn without_ours(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        // On bytes: another application's cookie with non-ASCII bytes must not carry ours
        // through.
        let kept: Vec<&[u8]> = latchkey_web::cookies::entries(headers)
            .filter(|entry| {
                let name = latchkey_web::cookies::entry_name(entry);
                name != self.name.as_bytes() && name != self.csrf_name.as_bytes()
            })
            .collect();
        if kept.is_empty() {
            return None;
        }
        HeaderValue::from_bytes(&kept.join(&b"; "[..])).ok()
    }
}

/// The first value of cookie `name` in the request.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    latchkey_web::cookies::read(headers, name)
        .map(|v| v.trim_matches('"'))
        .filter(|v| !v.is_empty() && v.len() <= MAX_VALUE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::SameSite;
    use axum::http::header;

    fn master(b: u8) -> MasterKey {
        MasterKey::from_bytes(&[b; 32]).unwrap()
    }

    fn with_cookie(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn reference_sealing() {
        let c = Cookies::new(&CookieSettings::default(), "p1");
        let m = master(1);
        let r: Reference = [9; 32];
        let v = c.seal_reference(&m, &r);
        assert_eq!(
            c.open_reference(&m, &with_cookie(&format!("a=b; _oauth2_proxy={v}"))),
            Some(r)
        );
        // Another key, another proxy, another cookie name, the CSRF cookie's seal.
        assert_eq!(
            c.open_reference(&master(2), &with_cookie(&format!("_oauth2_proxy={v}"))),
            None
        );
        let other = Cookies::new(&CookieSettings::default(), "p2");
        assert_eq!(
            other.open_reference(&m, &with_cookie(&format!("_oauth2_proxy={v}"))),
            None
        );
        let csrf = c.seal_csrf(
            &m,
            &CsrfState {
                state: "s".into(),
                nonce: "n".into(),
                verifier: "v".into(),
                rd: "/".into(),
                expires_at: 10,
            },
        );
        assert_eq!(
            c.open_reference(&m, &with_cookie(&format!("_oauth2_proxy={csrf}"))),
            None
        );
        assert!(
            c.open_csrf(&m, &with_cookie(&format!("_oauth2_proxy_csrf={csrf}")), 5)
                .is_some()
        );
        assert!(
            c.open_csrf(&m, &with_cookie(&format!("_oauth2_proxy_csrf={csrf}")), 10)
                .is_none()
        );
        // Truncated and tampered values.
        for bad in [&v[..v.len() - 1], &v[..20], "", "x", &format!("{v}A")] {
            assert_eq!(
                c.open_reference(&m, &with_cookie(&format!("_oauth2_proxy={bad}"))),
                None,
                "{bad}"
            );
        }
        let mut t = v.into_bytes();
        t[20] = if t[20] == b'A' { b'B' } else { b'A' };
        let t = String::from_utf8(t).unwrap();
        assert_eq!(
            c.open_reference(&m, &with_cookie(&format!("_oauth2_proxy={t}"))),
            None
        );
    }

    #[test]
    fn cookie_attributes() {
        let mut s = CookieSettings {
            name: "__Host-sso".into(),
            ..CookieSettings::default()
        };
        let c = Cookies::new(&s, "p");
        assert_eq!(
            c.session_cookie("abc", 60).to_str().unwrap(),
            "__Host-sso=abc; Path=/; Max-Age=60; HttpOnly; Secure; SameSite=Lax"
        );
        assert_eq!(
            c.clear_csrf().to_str().unwrap(),
            "__Host-sso_csrf=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
        );
        s.name = "x".into();
        s.domain = Some("example.com".into());
        s.secure = false;
        s.same_site = SameSite::Strict;
        let c = Cookies::new(&s, "p");
        assert_eq!(
            c.clear_session().to_str().unwrap(),
            "x=; Path=/; Max-Age=0; Domain=example.com; HttpOnly; SameSite=Strict"
        );
    }

    #[test]
    fn our_cookies_do_not_reach_the_upstream() {
        let c = Cookies::new(&CookieSettings::default(), "p");
        let h = with_cookie("a=1; _oauth2_proxy=x; _oauth2_proxy_csrf=y; b=2");
        assert_eq!(c.without_ours(&h).unwrap(), "a=1; b=2");
        assert_eq!(c.without_ours(&with_cookie("_oauth2_proxy=x")), None);
    }

    #[test]
    fn a_foreign_non_ascii_cookie_neither_hides_nor_leaks_ours() {
        let c = Cookies::new(&crate::settings::CookieSettings::default(), "proxy");
        let mut h = HeaderMap::new();
        let value = format!("app=Jos\u{e9}; {}=ref; other=1", c.name);
        h.insert(
            header::COOKIE,
            HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
        assert_eq!(read(&h, &c.name), Some("ref"));
        let kept = c.without_ours(&h).unwrap();
        assert_eq!(kept.as_bytes(), "app=Jos\u{e9}; other=1".as_bytes());
    }
}
