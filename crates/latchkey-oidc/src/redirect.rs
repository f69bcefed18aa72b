//! Redirect URI rules. Matching is exact string comparison (RFC 9700 §2.1); the one
//! allowance is the port of a native app's loopback redirect (RFC 8252 §7.3).

use url::Url;

/// The registered URI `requested` matches, if any.
pub fn find_match<'a>(registered: &'a [String], requested: &str) -> Option<&'a str> {
    registered
        .iter()
        .map(String::as_str)
        .find(|r| *r == requested || loopback_port_variant(r, requested))
}

/// `http://127.0.0.1/cb` (or `[::1]`) registered, `http://127.0.0.1:51234/cb` requested.
fn loopback_port_variant(registered: &str, requested: &str) -> bool {
    let (Ok(a), Ok(b)) = (Url::parse(registered), Url::parse(requested)) else {
        return false;
    };
    let loopback = |u: &Url| {
        u.scheme() == "http"
            && matches!(u.host_str(), Some("127.0.0.1") | Some("[::1]"))
            && u.username().is_empty()
            && u.password().is_none()
    };
    if !loopback(&a) || !loopback(&b) || a.port().is_some() {
        return false;
    }
    a.host_str() == b.host_str()
        && a.path() == b.path()
        && a.query() == b.query()
        && a.fragment().is_none()
        && b.fragment().is_none()
        // The requested URI must be exactly the registered one plus a port.
        && {
            let mut c = b.clone();
            let _ = c.set_port(None);
            c.as_str() == a.as_str()
        }
}

/// Whether a URI may be registered as a redirect target: absolute, no fragment, and not a
/// scheme that executes or embeds content.
pub fn validate_registration(uri: &str) -> Result<(), String> {
    let url = Url::parse(uri).map_err(|_| format!("{uri:?} is not an absolute URI"))?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err(format!("{uri:?} has a fragment"));
    }
    match url.scheme() {
        "javascript" | "data" | "vbscript" | "file" | "blob" => {
            Err(format!("{uri:?} uses a forbidden scheme"))
        }
        "http" | "https" if url.host_str().is_none_or(str::is_empty) => {
            Err(format!("{uri:?} has no host"))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn exact_only() {
        let r = reg(&["https://app.example/cb", "https://app.example/cb?x=1"]);
        assert!(find_match(&r, "https://app.example/cb").is_some());
        assert!(find_match(&r, "https://app.example/cb?x=1").is_some());
        for bad in [
            "https://app.example/cb/",
            "https://app.example/cb?x=2",
            "https://app.example/cb?y=1",
            "https://APP.example/cb",
            "https://app.example/CB",
            "https://app.example/cb#f",
            "https://app.example:443/cb",
            "https://evil.example/cb",
            "http://app.example/cb",
            "https://app.example.evil.example/cb",
            "https://app.example/cb/../cb",
        ] {
            assert!(find_match(&r, bad).is_none(), "{bad} must not match");
        }
    }

    #[test]
    fn loopback_port_may_vary() {
        let r = reg(&["http://127.0.0.1/cb", "http://[::1]/cb"]);
        assert!(find_match(&r, "http://127.0.0.1:51234/cb").is_some());
        assert!(find_match(&r, "http://[::1]:4000/cb").is_some());
        assert!(find_match(&r, "http://127.0.0.1:51234/other").is_none());
        assert!(find_match(&r, "http://127.0.0.1:51234/cb?x").is_none());
        assert!(find_match(&r, "http://localhost:51234/cb").is_none());
        let fixed = reg(&["http://127.0.0.1:8080/cb"]);
        assert!(find_match(&fixed, "http://127.0.0.1:9090/cb").is_none());
    }

    #[test]
    fn registration_rules() {
        assert!(validate_registration("https://app.example/cb").is_ok());
        assert!(validate_registration("com.example.app:/cb").is_ok());
        assert!(validate_registration("https://app.example/cb#x").is_err());
        assert!(validate_registration("javascript:alert(1)").is_err());
        assert!(validate_registration("/relative").is_err());
    }
}
