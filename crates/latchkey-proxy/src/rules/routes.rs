//! `--skip-auth-route`, `--skip-auth-preflight` and `--api-route`, matched on the request's
//! path without query (a browser never sends the fragment). A path that is not in normal
//! form (dot segments, encoded slashes or `#`, backslashes, doubled slashes, control
//! characters) never skips authentication: an upstream that normalises it could land
//! somewhere else than the rule meant (GHSA-pxq7-h93f-9jrg and its relatives).

use std::borrow::Cow;

use axum::http::Method;
use percent_encoding::percent_decode_str;
use regex::Regex;

use crate::settings::{SettingsError, invalid};

#[derive(Clone, Debug)]
pub struct RouteRule {
    method: Option<Method>,
    negate: bool,
    regex: Regex,
}

impl RouteRule {
    /// `METHOD=regex`, `METHOD!=regex`, `regex`, `!=regex`. The part before the first `=`
    /// is a method only when it is letters (with a `!` at the end, or just `!`); otherwise
    /// the whole rule is the regex.
    pub fn parse(rule: &str) -> Result<RouteRule, SettingsError> {
        let (method, negate, pattern) = match rule.split_once('=') {
            Some((head, pattern)) => {
                let (m, negate) = match head.strip_suffix('!') {
                    Some(m) => (m, true),
                    None => (head, false),
                };
                if m.bytes().all(|b| b.is_ascii_alphabetic()) && (negate || !m.is_empty()) {
                    let method = (!m.is_empty())
                        .then(|| Method::from_bytes(m.to_ascii_uppercase().as_bytes()))
                        .transpose()
                        .map_err(|_| invalid("skip-auth-route", format!("{rule:?}: bad method")))?;
                    (method, negate, pattern)
                } else {
                    (None, false, rule)
                }
            }
            None => (None, false, rule),
        };
        let regex = Regex::new(pattern)
            .map_err(|e| invalid("skip-auth-route", format!("{rule:?}: {e}")))?;
        Ok(RouteRule {
            method,
            negate,
            regex,
        })
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method) && self.regex.is_match(path) != self.negate
    }
}

/// The path as rules see it (percent-decoded), or `None` when it is not in normal form. A
/// `;` is refused too: Java servers read `/public/..;/admin` as `/admin`.
pub fn normal_path(path: &str) -> Option<Cow<'_, str>> {
    let lower = path.to_ascii_lowercase();
    if !path.starts_with('/')
        || ["%2f", "%5c", "%23", "%3f", "%25", "%3b"]
            .iter()
            .any(|e| lower.contains(e))
    {
        return None;
    }
    let decoded = percent_decode_str(path).decode_utf8().ok()?;
    if decoded
        .chars()
        .any(|c| c.is_control() || c == '\\' || c == '#' || c == '?' || c == ';')
        || decoded.contains("//")
        || decoded.split('/').any(|s| s == "." || s == "..")
    {
        return None;
    }
    Some(decoded)
}

#[derive(Clone, Debug, Default)]
pub struct Routes {
    skip: Vec<RouteRule>,
    api: Vec<Regex>,
    preflight: bool,
}

impl Routes {
    pub fn new(skip: &[String], api: &[String], preflight: bool) -> Result<Routes, SettingsError> {
        Ok(Routes {
            skip: skip
                .iter()
                .map(|r| RouteRule::parse(r))
                .collect::<Result<_, _>>()?,
            api: api
                .iter()
                .map(|r| Regex::new(r).map_err(|e| invalid("api-route", format!("{r:?}: {e}"))))
                .collect::<Result<_, _>>()?,
            preflight,
        })
    }

    /// Whether this request passes without a session.
    pub fn skips_auth(&self, method: &Method, path: &str) -> bool {
        let Some(path) = normal_path(path) else {
            return false;
        };
        (self.preflight && method == Method::OPTIONS)
            || self.skip.iter().any(|r| r.matches(method, &path))
    }

    /// Whether a request without a session gets 401 rather than the sign-in page. A path
    /// not in normal form is matched as it came.
    pub fn is_api(&self, path: &str) -> bool {
        let path = normal_path(path).unwrap_or(Cow::Borrowed(path));
        self.api.iter().any(|r| r.is_match(&path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(skip: &[&str]) -> Routes {
        Routes::new(
            &skip.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            &["^/api/".into()],
            true,
        )
        .unwrap()
    }

    #[test]
    fn rule_forms() {
        let r = routes(&["GET=^/public/", "post!=^/private", "^/health$"]);
        assert!(r.skips_auth(&Method::GET, "/public/x"));
        assert!(!r.skips_auth(&Method::DELETE, "/public/x"), "GET only");
        assert!(
            r.skips_auth(&Method::POST, "/upload"),
            "POST not under /private"
        );
        assert!(!r.skips_auth(&Method::POST, "/private/x"));
        assert!(!r.skips_auth(&Method::GET, "/upload"));
        assert!(r.skips_auth(&Method::PUT, "/health"));
        assert!(!r.skips_auth(&Method::PUT, "/health/x"));
        assert!(r.skips_auth(&Method::OPTIONS, "/anything"), "preflight");
        let r = Routes::new(&["!=^/(app|admin)".into()], &[], false).unwrap();
        assert!(!r.skips_auth(&Method::GET, "/app/x"));
        assert!(!r.skips_auth(&Method::PATCH, "/admin"));
        assert!(r.skips_auth(&Method::GET, "/other"), "!= with any method");
        assert!(!r.skips_auth(&Method::OPTIONS, "/app"), "no preflight rule");
        // A regex with `=` in it and no method.
        let r = routes(&["^/a=b$", "^/q/(x|y)=$"]);
        assert!(r.skips_auth(&Method::GET, "/a=b"));
        assert!(r.skips_auth(&Method::GET, "/q/x="));
        assert!(RouteRule::parse("GET=(").is_err());
    }

    #[test]
    fn paths_not_in_normal_form_never_skip() {
        let r = routes(&["^/public"]);
        assert!(r.skips_auth(&Method::GET, "/public/a%20b"));
        for path in [
            "/public/../admin",
            "/public/./x",
            "/public/%2e%2e/admin",
            "/public/%2E%2E/admin",
            "/public%2f..%2fadmin",
            "/public%2F..%2Fadmin",
            "/public%23/../admin",
            "/public%3f/../admin",
            "/public\\..\\admin",
            "/public%5c..%5cadmin",
            "/public//admin",
            "/public%00",
            "/public%252e%252e/admin",
            "/public%ff",
            "/public/..;/admin",
            "/public/..%3b/admin",
            "/public/..%3B/admin",
            "/public;x=1/../admin",
            "public",
        ] {
            assert!(!r.skips_auth(&Method::GET, path), "{path}");
        }
    }

    #[test]
    fn api_routes() {
        let r = routes(&[]);
        assert!(r.is_api("/api/v1"));
        assert!(r.is_api("/api/v1/../x"), "matched as it came");
        assert!(!r.is_api("/app"));
    }
}
