//! Whom the proxy believes about where a request came from: `--reverse-proxy` with
//! `--trusted-proxy-ip` (the client address header and `X-Forwarded-Proto/Host/Uri/Method`,
//! from the proxies in front only), and `--trusted-ip` (addresses that pass without a session).
//!
//! oauth2-proxy trusts every peer when `--reverse-proxy` is set without
//! `--trusted-proxy-ip` (it warns); here the default is loopback only, so a proxy in front on
//! another machine must be named. A header from any other peer is not believed: such a peer
//! could otherwise name a trusted address, or an `X-Forwarded-Uri` on a skip-auth route
//! (GHSA-7x63-xv5r-3p2x).

use std::net::{IpAddr, SocketAddr};

use axum::Extension;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName};
use latchkey_web::net::IpRange;

use crate::settings::{ProxySettings, SettingsError, invalid};

/// The TCP peer, when the server was started with `ConnectInfo<SocketAddr>`.
pub(crate) type Peer = Option<Extension<ConnectInfo<SocketAddr>>>;

pub(crate) fn peer_ip(peer: &Peer) -> Option<IpAddr> {
    peer.as_ref()
        .map(|Extension(ConnectInfo(a))| a.ip().to_canonical())
}

/// The client address headers oauth2-proxy's `--real-client-ip-header` takes.
const CLIENT_IP_HEADERS: &[&str] = &[
    "x-real-ip",
    "x-forwarded-for",
    "x-proxyuser-ip",
    "x-envoy-external-address",
    "cf-connecting-ip",
];

#[derive(Clone, Debug)]
pub(crate) struct Trust {
    reverse_proxy: bool,
    proxies: Vec<IpRange>,
    client_header: HeaderName,
    trusted_ips: Vec<IpRange>,
}

fn ranges(option: &'static str, list: &[String]) -> Result<Vec<IpRange>, SettingsError> {
    list.iter()
        .map(|r| r.trim().parse::<IpRange>().map_err(|e| invalid(option, e)))
        .collect()
}

impl Trust {
    pub(crate) fn new(s: &ProxySettings) -> Result<Trust, SettingsError> {
        let name = s.real_client_ip_header.to_ascii_lowercase();
        if !CLIENT_IP_HEADERS.contains(&name.as_str()) {
            return Err(invalid(
                "real-client-ip-header",
                "one of X-Real-IP, X-Forwarded-For, X-ProxyUser-IP, X-Envoy-External-Address, \
                 CF-Connecting-IP",
            ));
        }
        let mut proxies = ranges("trusted-proxy-ip", &s.trusted_proxy_ips)?;
        if proxies.is_empty() {
            proxies = ["127.0.0.0/8", "::1"]
                .iter()
                .filter_map(|r| r.parse().ok())
                .collect();
        }
        Ok(Trust {
            reverse_proxy: s.reverse_proxy,
            proxies,
            client_header: HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid("real-client-ip-header", "not a header name"))?,
            trusted_ips: ranges("trusted-ip", &s.trusted_ips)?,
        })
    }

    /// Whether this peer's forwarding headers are believed.
    pub(crate) fn believes(&self, peer: Option<IpAddr>) -> bool {
        self.reverse_proxy && peer.is_some_and(|ip| self.proxies.iter().any(|r| r.contains(ip)))
    }

    /// A forwarding header (`x-forwarded-uri`, …) when the peer is believed.
    pub(crate) fn forwarded<'a>(
        &self,
        headers: &'a HeaderMap,
        peer: Option<IpAddr>,
        name: &str,
    ) -> Option<&'a str> {
        if !self.believes(peer) {
            return None;
        }
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    /// The client's address: what a believed proxy in front says (for `X-Forwarded-For`, its
    /// last address that is not one of the trusted proxies), else the peer.
    pub(crate) fn client_ip(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<IpAddr> {
        if !self.believes(peer) {
            return peer;
        }
        let values = headers
            .get_all(&self.client_header)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim);
        let said = if self.client_header == "x-forwarded-for" {
            let hops: Vec<Option<IpAddr>> = values.map(|h| h.parse::<IpAddr>().ok()).collect();
            // From the nearest hop back: the first that is not ours names the client; a hop
            // that is no address ends the walk (nothing before it is believed).
            let mut client = None;
            for hop in hops.iter().rev() {
                let Some(ip) = hop.map(|ip| ip.to_canonical()) else {
                    break;
                };
                client = Some(ip);
                if !self.proxies.iter().any(|r| r.contains(ip)) {
                    break;
                }
            }
            client
        } else {
            let all: Vec<&str> = values.collect();
            match all.as_slice() {
                [one] => one.parse::<IpAddr>().ok().map(|ip| ip.to_canonical()),
                _ => None,
            }
        };
        said.or(peer)
    }

    /// Whether the client is one of `--trusted-ip`.
    pub(crate) fn is_trusted_ip(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> bool {
        !self.trusted_ips.is_empty()
            && self
                .client_ip(headers, peer)
                .is_some_and(|ip| self.trusted_ips.iter().any(|r| r.contains(ip)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(tweak: impl FnOnce(&mut ProxySettings)) -> Trust {
        let mut s = ProxySettings::new("p", "https://op", "c", None, "https://a/oauth2/callback");
        tweak(&mut s);
        Trust::new(&s).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn headers_believed_from_trusted_proxies_only() {
        let h = headers(&[
            ("x-real-ip", "203.0.113.9"),
            ("x-forwarded-uri", "/public/"),
        ]);
        let off = trust(|_| {});
        assert_eq!(off.client_ip(&h, ip("127.0.0.1")), ip("127.0.0.1"));
        assert_eq!(off.forwarded(&h, ip("127.0.0.1"), "x-forwarded-uri"), None);

        let on = trust(|s| s.reverse_proxy = true);
        assert_eq!(on.client_ip(&h, ip("127.0.0.1")), ip("203.0.113.9"));
        assert_eq!(on.client_ip(&h, ip("::ffff:127.0.0.1")), ip("203.0.113.9"));
        assert_eq!(
            on.forwarded(&h, ip("::1"), "x-forwarded-uri"),
            Some("/public/")
        );
        // Loopback only by default: a peer elsewhere is taken at its address.
        assert_eq!(on.client_ip(&h, ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(on.forwarded(&h, ip("192.0.2.7"), "x-forwarded-uri"), None);

        let named = trust(|s| {
            s.reverse_proxy = true;
            s.trusted_proxy_ips = vec!["10.0.0.0/8".into()];
        });
        assert_eq!(named.client_ip(&h, ip("10.1.2.3")), ip("203.0.113.9"));
        assert_eq!(named.client_ip(&h, ip("127.0.0.1")), ip("127.0.0.1"));
        // Two X-Real-IP values: neither is believed.
        let twice = headers(&[("x-real-ip", "203.0.113.9"), ("x-real-ip", "10.0.0.1")]);
        assert_eq!(named.client_ip(&twice, ip("10.1.2.3")), ip("10.1.2.3"));
    }

    #[test]
    fn forwarded_for_is_walked_back_past_our_proxies() {
        let t = trust(|s| {
            s.reverse_proxy = true;
            s.real_client_ip_header = "X-Forwarded-For".into();
            s.trusted_proxy_ips = vec!["10.0.0.0/8".into()];
            s.trusted_ips = vec!["192.0.2.0/24".into()];
        });
        let h = headers(&[("x-forwarded-for", "192.0.2.1, 198.51.100.4, 10.0.0.2")]);
        assert_eq!(t.client_ip(&h, ip("10.0.0.1")), ip("198.51.100.4"));
        // The client's own claim (the first hop) is not believed.
        assert!(!t.is_trusted_ip(&h, ip("10.0.0.1")));
        let h = headers(&[("x-forwarded-for", "192.0.2.1")]);
        assert!(t.is_trusted_ip(&h, ip("10.0.0.1")));
        assert!(!t.is_trusted_ip(&h, ip("203.0.113.1")));
        let h = headers(&[("x-forwarded-for", "198.51.100.4, junk")]);
        assert_eq!(t.client_ip(&h, ip("10.0.0.1")), ip("10.0.0.1"));
        assert!(
            Trust::new(&{
                let mut s =
                    ProxySettings::new("p", "https://op", "c", None, "https://a/oauth2/callback");
                s.real_client_ip_header = "X-Client".into();
                s
            })
            .is_err()
        );
    }
}
