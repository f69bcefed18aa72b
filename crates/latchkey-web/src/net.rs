//! Who is calling: the TCP peer, or the last `X-Forwarded-For` hop when the peer is a proxy
//! the configuration trusts (the idp's `trusted_proxies`, Pocket ID's `TRUST_PROXY`; the
//! auth proxy's `trusted_proxy_ips`). One IP-or-CIDR parser for every role and the
//! configuration check.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// An address or a CIDR range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange {
    addr: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpRange {
    type Err = String;

    fn from_str(s: &str) -> Result<IpRange, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR range"))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(len) if len <= max && p.bytes().all(|b| b.is_ascii_digit()) => len,
                _ => return Err(format!("{s:?}: the prefix length must be 0 to {max}")),
            },
        };
        Ok(IpRange { addr, prefix })
    }
}

/// The caller's address: the last `X-Forwarded-For` hop if the peer is trusted, else the peer.
pub fn client_ip(
    trusted: &[IpRange],
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Option<IpAddr> {
    let peer = peer?.ip().to_canonical();
    if !trusted.iter().any(|r| r.contains(peer)) {
        return Some(peer);
    }
    // Only the last hop was written by the trusted proxy; if it is not an address (a proxy
    // that appends `ip:port`), nothing before it is believed either.
    let last_hop = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|hop| hop.trim().parse::<IpAddr>().ok());
    Some(last_hop.map_or(peer, |ip| ip.to_canonical()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> IpRange {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_match_their_addresses_only() {
        assert!(range("10.0.0.0/8").contains("10.200.1.1".parse().unwrap()));
        assert!(!range("10.0.0.0/8").contains("11.0.0.1".parse().unwrap()));
        assert!(range("::1").contains("::1".parse().unwrap()));
        assert!(range("127.0.0.1").contains("::ffff:127.0.0.1".parse().unwrap()));
        assert!(range("0.0.0.0/0").contains("192.0.2.1".parse().unwrap()));
        assert!(range("fd00::/8").contains("fd12::1".parse().unwrap()));
        assert!(!range("fd00::/8").contains("10.0.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpRange>().is_err());
        assert!("10.0.0.0/+8".parse::<IpRange>().is_err());
        assert!(" 10.0.0.1".parse::<IpRange>().is_err());
        assert!("example.com".parse::<IpRange>().is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_peer() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.4".parse().unwrap(),
        );
        let trusted = [range("127.0.0.1")];
        let from_proxy = Some("127.0.0.1:5000".parse().unwrap());
        let from_outside = Some("192.0.2.1:5000".parse().unwrap());
        assert_eq!(
            client_ip(&trusted, &h, from_proxy),
            Some("198.51.100.4".parse().unwrap())
        );
        assert_eq!(
            client_ip(&trusted, &h, from_outside),
            Some("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            client_ip(&[], &h, from_proxy),
            Some("127.0.0.1".parse().unwrap())
        );
        assert_eq!(
            client_ip(&trusted, &HeaderMap::new(), from_proxy),
            Some("127.0.0.1".parse().unwrap())
        );
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.4:4444".parse().unwrap(),
        );
        assert_eq!(
            client_ip(&trusted, &h, from_proxy),
            Some("127.0.0.1".parse().unwrap()),
            "no earlier hop is believed"
        );
    }
}
