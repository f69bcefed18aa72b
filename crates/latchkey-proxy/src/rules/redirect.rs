//! Where sign-in and sign-out may send people: our own paths, our own origin, and the
//! whitelisted domains. Anything a browser could read as another origin is refused:
//! `//evil`, `/\evil`, `https://evil`, `https:evil`, userinfo tricks, control characters and
//! whitespace that browsers drop, and all of them percent-encoded or in mixed case.

use percent_encoding::percent_decode_str;
use url::Url;

use crate::settings::{SettingsError, invalid};

/// Longer redirect targets are refused (they are not links a person followed).
const MAX_TARGET: usize = 4096;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Port {
    /// The scheme's default port only.
    Default,
    Any,
    Exact(u16),
}

#[derive(Clone, Debug)]
struct Domain {
    host: String,
    subdomains: bool,
    port: Port,
}

impl Domain {
    fn parse(entry: &str) -> Result<Domain, SettingsError> {
        let entry = entry.trim().to_ascii_lowercase();
        let (host, port) = match entry.rsplit_once(':') {
            Some((h, "*")) => (h.to_owned(), Port::Any),
            Some((h, p)) => (
                h.to_owned(),
                Port::Exact(p.parse().map_err(|_| {
                    invalid(
                        "whitelist-domain",
                        format!("{entry:?}: the port is not a number"),
                    )
                })?),
            ),
            None => (entry.clone(), Port::Default),
        };
        let (host, subdomains) = if let Some(h) = host.strip_prefix("*.") {
            (h.to_owned(), true)
        } else if let Some(h) = host.strip_prefix('.') {
            (h.to_owned(), true)
        } else {
            (host, false)
        };
        let ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && !host.starts_with('.')
            && !host.ends_with('.');
        if !ok {
            return Err(invalid(
                "whitelist-domain",
                format!("{entry:?} is not a domain (example.com, .example.com, host:port)"),
            ));
        }
        Ok(Domain {
            host,
            subdomains,
            port,
        })
    }

    fn matches(&self, host: &str, port: Option<u16>) -> bool {
        let host_ok = host == self.host
            || (self.subdomains
                && host
                    .strip_suffix(self.host.as_str())
                    .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1));
        let port_ok = match self.port {
            Port::Default => port.is_none(),
            Port::Any => true,
            Port::Exact(p) => port == Some(p),
        };
        host_ok && port_ok
    }
}

#[derive(Clone, Debug)]
pub struct RedirectPolicy {
    own_host: String,
    own_port: Option<u16>,
    whitelist: Vec<Domain>,
}

impl RedirectPolicy {
    /// `own` is the proxy's public URL (its redirect URL).
    pub fn new(own: &Url, whitelist: &[String]) -> Result<RedirectPolicy, SettingsError> {
        Ok(RedirectPolicy {
            own_host: own.host_str().unwrap_or_default().to_owned(),
            own_port: own.port(),
            whitelist: whitelist
                .iter()
                .map(|d| Domain::parse(d))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The target to redirect to, when `rd` is safe: a path on this site, or an absolute
    /// http(s) URL on our own host or a whitelisted one (then as the URL parser wrote it,
    /// so the browser reads what we checked).
    pub fn check(&self, rd: &str) -> Option<String> {
        if rd.is_empty() || rd.len() > MAX_TARGET {
            return None;
        }
        let decoded = percent_decode_str(rd).decode_utf8().ok()?;
        for s in [rd, decoded.as_ref()] {
            // Browsers drop tabs and newlines inside URLs and read `\` as `/`.
            if s.chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
            {
                return None;
            }
        }
        if rd.starts_with('/') {
            let local = !rd.starts_with("//") && !decoded.starts_with("//");
            return local.then(|| rd.to_owned());
        }
        let lower = rd.get(..8).unwrap_or(rd).to_ascii_lowercase();
        if !(lower.starts_with("https://") || lower.starts_with("http://")) {
            return None;
        }
        let url = Url::parse(rd).ok()?;
        if !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let host = url.host_str()?;
        let port = url.port();
        let own = host == self.own_host && port == self.own_port;
        if own || self.whitelist.iter().any(|d| d.matches(host, port)) {
            Some(url.into())
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RedirectPolicy {
        RedirectPolicy::new(
            &Url::parse("https://auth.example.com/oauth2/callback").unwrap(),
            &[
                ".apps.example.com".into(),
                "wiki.example.org".into(),
                "dev.example.net:8443".into(),
                "any.example.net:*".into(),
            ],
        )
        .unwrap()
    }

    #[test]
    fn local_paths_and_whitelisted_hosts_pass() {
        let p = policy();
        for ok in [
            "/",
            "/app/page?x=1#frag",
            "/a//b",
            "/%7Euser",
            "https://auth.example.com/x",
            "https://grafana.apps.example.com/d/1",
            "https://apps.example.com/",
            "http://wiki.example.org/",
            "HTTPS://WIKI.EXAMPLE.ORG/Page",
            "https://dev.example.net:8443/",
            "https://any.example.net:9999/",
        ] {
            assert!(p.check(ok).is_some(), "{ok} refused");
        }
        assert_eq!(
            p.check("HTTPS://WIKI.EXAMPLE.ORG/Page").as_deref(),
            Some("https://wiki.example.org/Page")
        );
    }

    #[test]
    fn open_redirects_are_refused() {
        let p = policy();
        for bad in [
            "",
            "//evil.com",
            "//evil.com/path",
            "///evil.com",
            "/\\evil.com",
            "\\/evil.com",
            "\\\\evil.com",
            "/%2F/evil.com",
            "/%2f%2fevil.com",
            "%2F%2Fevil.com",
            "%2f%2fevil.com",
            "/%5Cevil.com",
            "/%5cevil.com",
            "%5C%5Cevil.com",
            "https://evil.com",
            "HTTPS://EVIL.COM",
            "hTtP://evil.com/",
            "https:evil.com",
            "https:/evil.com",
            "https:\\\\evil.com",
            "https://evil.com\\@auth.example.com",
            "https://auth.example.com@evil.com",
            "https://auth.example.com:443@evil.com/",
            "https://user:pw@auth.example.com/",
            "https://evil.com/?x=https://auth.example.com",
            "https://auth.example.com.evil.com/",
            "https://evilapps.example.com/",
            "https://wiki.example.org.evil.com/",
            "https://sub.wiki.example.org/",
            "https://wiki.example.org:8080/",
            "https://dev.example.net/",
            "https://dev.example.net:8444/",
            "https://auth.example.com:8443/",
            "javascript:alert(1)",
            "JaVaScRiPt:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "ftp://wiki.example.org/",
            "evil.com",
            "/\t/evil.com",
            "/\n/evil.com",
            "/%09/evil.com",
            "/%0a/evil.com",
            "/%0d%0a/evil.com",
            " /evil",
            "/ /evil.com",
            "%20//evil.com",
            "\u{3000}//evil.com",
            "%E3%80%80//evil.com",
            "/%ff",
        ] {
            assert_eq!(p.check(bad), None, "{bad:?} accepted");
        }
        assert_eq!(p.check(&format!("/{}", "a".repeat(5000))), None);
    }

    #[test]
    fn whitelist_entries_are_checked() {
        let own = Url::parse("https://a.example/oauth2/callback").unwrap();
        for bad in ["", "exa mple.com", "example.com:port", "*.", ".", "a/b"] {
            assert!(RedirectPolicy::new(&own, &[bad.into()]).is_err(), "{bad:?}");
        }
    }
}
