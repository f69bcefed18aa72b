//! The role's cookies. Over https they carry the `__Host-` prefix (this host only, path `/`,
//! Secure); over plain http (`http://localhost` while trying Latchkey) browsers refuse that
//! prefix, so the plain names are used.

use axum::http::{HeaderMap, HeaderValue};

pub struct Cookies {
    secure: bool,
    /// The browser session.
    pub session: &'static str,
    /// A WebAuthn ceremony's sealed state, for its 60 seconds.
    pub ceremony: &'static str,
    /// Proof of a fresh passkey check, for sensitive changes.
    pub reauth: &'static str,
}

impl Cookies {
    pub fn for_issuer(issuer: &str) -> Cookies {
        let secure = issuer.starts_with("https://");
        if secure {
            Cookies {
                secure,
                session: "__Host-latchkey_session",
                ceremony: "__Host-latchkey_ceremony",
                reauth: "__Host-latchkey_reauth",
            }
        } else {
            Cookies {
                secure,
                session: "latchkey_session",
                ceremony: "latchkey_ceremony",
                reauth: "latchkey_reauth",
            }
        }
    }

    /// A `Set-Cookie` value: HttpOnly, SameSite=Lax, path `/`.
    pub fn set(&self, name: &str, value: &str, max_age: i64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let v =
            format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
        HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    pub fn clear(&self, name: &str) -> HeaderValue {
        self.set(name, "", 0)
    }
}

/// The value of cookie `name` in the request, if not empty.
pub fn read<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    latchkey_web::cookies::read(headers, name).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    #[test]
    fn https_cookies_are_host_bound_and_secure() {
        let c = Cookies::for_issuer("https://id.example.com");
        assert_eq!(c.session, "__Host-latchkey_session");
        let v = c.set(c.session, "abc", 60);
        assert_eq!(
            v,
            "__Host-latchkey_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        let c = Cookies::for_issuer("http://localhost:1411");
        assert_eq!(
            c.set(c.session, "abc", 60),
            "latchkey_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; latchkey_session_x=2; latchkey_session=3"
                .parse()
                .unwrap(),
        );
        assert_eq!(read(&h, "latchkey_session"), Some("3"));
        assert_eq!(read(&h, "b"), None);
        let mut h = HeaderMap::new();
        let value =
            HeaderValue::from_bytes("app=Jos\u{e9}; latchkey_session=4".as_bytes()).unwrap();
        h.insert(header::COOKIE, value);
        assert_eq!(
            read(&h, "latchkey_session"),
            Some("4"),
            "another cookie's UTF-8 hides nothing"
        );
    }
}
