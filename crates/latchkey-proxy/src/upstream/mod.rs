//! The reverse proxy: upstreams mounted by path (the longest match wins), as oauth2-proxy's
//! `--upstream`: `http://` and `https://` (hyper-util's client, bodies streamed both ways,
//! protocol upgrades such as WebSockets passed through), `unix:///socket`, `file:///dir`
//! (files under a directory) and `static://CODE` (an empty answer with that status). A
//! fragment names the mount path of the last three (`file:///srv/www#/static/`); `http(s)://`
//! ones are mounted at their own path.

mod file;
mod http;

pub(crate) use http::upgrade_protocol;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::uri::{Authority, Scheme};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;

use crate::rules::{UpstreamRules, normal_path};
use crate::settings::{SettingsError, UpstreamSettings, invalid};

#[derive(Clone, Debug)]
enum Target {
    Http {
        scheme: Scheme,
        authority: Authority,
    },
    Unix {
        socket: PathBuf,
    },
    /// A canonical directory.
    File {
        dir: PathBuf,
    },
    Static {
        status: StatusCode,
    },
}

#[derive(Clone, Debug)]
struct Route {
    /// Where it is mounted: a prefix when it ends with `/`, else an exact path.
    path: String,
    target: Target,
    /// Its own rules (`[[proxy.upstream]]`), beside the proxy-wide ones.
    rules: Option<UpstreamRules>,
}

fn bad(upstream: &str, why: impl std::fmt::Display) -> SettingsError {
    invalid("upstream", format!("{upstream:?}: {why}"))
}

impl Route {
    fn parse(upstream: &str) -> Result<Route, SettingsError> {
        let url = url::Url::parse(upstream).map_err(|e| bad(upstream, e))?;
        if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(bad(upstream, "no query or user name"));
        }
        let mount = || match url.fragment() {
            None | Some("") => Ok("/".to_owned()),
            Some(m) if m.starts_with('/') => Ok(m.to_owned()),
            Some(_) => Err(bad(upstream, "the mount path (after #) must start with /")),
        };
        match url.scheme() {
            "http" | "https" => {
                if url.fragment().is_some() {
                    return Err(bad(upstream, "no fragment"));
                }
                let host = url.host_str().ok_or_else(|| bad(upstream, "no host"))?;
                let authority = match url.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host.to_owned(),
                };
                let scheme = if url.scheme() == "https" {
                    Scheme::HTTPS
                } else {
                    Scheme::HTTP
                };
                Ok(Route {
                    rules: None,
                    path: url.path().to_owned(),
                    target: Target::Http {
                        scheme,
                        authority: authority.parse().map_err(|_| bad(upstream, "bad host"))?,
                    },
                })
            }
            "unix" => {
                if url.host_str().is_some_and(|h| !h.is_empty()) || url.path().len() < 2 {
                    return Err(bad(upstream, "write unix:///absolute/path/to/socket"));
                }
                Ok(Route {
                    rules: None,
                    path: mount()?,
                    target: Target::Unix {
                        socket: PathBuf::from(url.path()),
                    },
                })
            }
            "file" => {
                let dir = std::fs::canonicalize(url.path())
                    .ok()
                    .filter(|d| d.is_dir())
                    .ok_or_else(|| bad(upstream, "not a readable directory"))?;
                Ok(Route {
                    rules: None,
                    path: mount()?,
                    target: Target::File { dir },
                })
            }
            "static" => {
                let code = url
                    .host_str()
                    .or(Some(url.path()))
                    .unwrap_or_default()
                    .trim_matches('/');
                let status = code
                    .parse::<u16>()
                    .ok()
                    .and_then(|c| StatusCode::from_u16(c).ok())
                    .filter(|s| (200..600).contains(&s.as_u16()))
                    .ok_or_else(|| {
                        bad(
                            upstream,
                            "write static://CODE with a status from 200 to 599",
                        )
                    })?;
                Ok(Route {
                    rules: None,
                    path: mount()?,
                    target: Target::Static { status },
                })
            }
            other => Err(bad(
                upstream,
                format!("{other}:// upstreams are not supported"),
            )),
        }
    }

    fn matches(&self, path: &str) -> bool {
        if self.path.ends_with('/') {
            path.starts_with(&self.path)
        } else {
            path == self.path
        }
    }
}

/// Why a request was not answered by an upstream.
#[derive(Debug)]
pub enum UpstreamError {
    NoRoute,
    Unreachable,
    Timeout,
}

pub struct Upstreams {
    routes: Vec<Route>,
    client: http::Clients,
    timeout: Duration,
    pass_host: bool,
    /// `X-Forwarded-Proto`: the scheme people use to reach the proxy.
    proto: HeaderValue,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded (an upgrade's own `Connection` and
/// `Upgrade` are put back by [`http`]).
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none of them: one pass over the names, without hashing, says so.
    if !headers.keys().any(|k| HOP_BY_HOP.contains(k)) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

impl Upstreams {
    pub fn new(
        upstreams: &[String],
        with_rules: &[UpstreamSettings],
        timeout: Duration,
        pass_host: bool,
        proto: &'static str,
    ) -> Result<Upstreams, SettingsError> {
        let mut routes = upstreams
            .iter()
            .map(|u| Route::parse(u))
            .collect::<Result<Vec<_>, _>>()?;
        for u in with_rules {
            let mut route = Route::parse(&u.url)?;
            route.rules = UpstreamRules::new(&u.url, &u.rules)?;
            routes.push(route);
        }
        for (i, a) in routes.iter().enumerate() {
            if routes[i + 1..].iter().any(|b| b.path == a.path) {
                return Err(invalid(
                    "upstream",
                    format!("two upstreams are mounted at {:?}", a.path),
                ));
            }
        }
        // Longest first; at equal length an exact path before a prefix.
        routes.sort_by(|a, b| {
            b.path
                .len()
                .cmp(&a.path.len())
                .then_with(|| a.path.ends_with('/').cmp(&b.path.ends_with('/')))
        });
        Ok(Upstreams {
            routes,
            client: http::Clients::new(timeout),
            timeout,
            pass_host,
            proto: HeaderValue::from_static(proto),
        })
    }

    /// The upstream rules a request for `path` must pass. The route is chosen as
    /// [`Upstreams::forward`] chooses it, and also by the decoded path (an app may decode
    /// `/%61dmin/` into `/admin/`); a path not in normal form (dot segments, encoded slashes…)
    /// could land anywhere once the app normalises it, so it must pass every upstream's rules.
    pub fn rules_for(&self, path: &str) -> Vec<&UpstreamRules> {
        let mut rules: Vec<&UpstreamRules> = match normal_path(path) {
            Some(decoded) => [path, decoded.as_ref()]
                .iter()
                .filter_map(|p| self.routes.iter().find(|r| r.matches(p)))
                .filter_map(|r| r.rules.as_ref())
                .collect(),
            None => self
                .routes
                .iter()
                .filter_map(|r| r.rules.as_ref())
                .collect(),
        };
        rules.dedup_by(|a, b| std::ptr::eq(*a, *b));
        rules
    }

    /// Answers `req` (whose identity headers are already set) from its upstream, streaming.
    /// `believed`: the peer is a trusted proxy whose forwarding headers go on to the app.
    pub async fn forward(
        &self,
        mut req: Request,
        believed: bool,
    ) -> Result<Response, UpstreamError> {
        let route = self
            .routes
            .iter()
            .find(|r| r.matches(req.uri().path()))
            .ok_or(UpstreamError::NoRoute)?;
        let (scheme, authority) = match &route.target {
            Target::Static { status } => {
                let mut resp = Response::new(Body::empty());
                *resp.status_mut() = *status;
                return Ok(resp);
            }
            Target::File { dir } => {
                let rel = req.uri().path()[route.path.trim_end_matches('/').len()..].to_owned();
                return Ok(file::serve(dir, req.method(), &rel).await);
            }
            Target::Http { scheme, authority } => (scheme.clone(), authority.clone()),
            // The socket is the host; the URI names something harmless for the Host header.
            Target::Unix { .. } => (Scheme::HTTP, Authority::from_static("localhost")),
        };
        let path_and_query = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let uri = Uri::builder()
            .scheme(scheme)
            .authority(authority)
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| UpstreamError::NoRoute)?;
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        *req.uri_mut() = uri;
        *req.version_mut() = axum::http::Version::HTTP_11;
        let upgrade = http::upgrade_protocol(req.headers());
        let headers = req.headers_mut();
        strip_hop_by_hop(headers);
        // What the client says about where it came from is believed only from a trusted
        // proxy in front (`believed`): then its X-Forwarded-For chain goes on with the peer
        // added, and its X-Forwarded-Host/Proto stay. Otherwise the app hears it from us —
        // the caller's address, the host it asked for.
        for name in ["forwarded", "x-real-ip", "x-forwarded-port"] {
            headers.remove(name);
        }
        let chain = believed
            .then(|| {
                let hops: Vec<&str> = headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                (!hops.is_empty()).then(|| hops.join(", "))
            })
            .flatten();
        headers.remove("x-forwarded-for");
        let forwarded_for = match (chain, peer) {
            (Some(chain), Some(ip)) => Some(format!("{chain}, {ip}")),
            (None, Some(ip)) => Some(ip.to_string()),
            (chain, None) => chain,
        };
        if let Some(v) = forwarded_for.and_then(|f| HeaderValue::from_str(&f).ok()) {
            headers.insert("x-forwarded-for", v);
        }
        if !(believed && headers.contains_key("x-forwarded-host")) {
            headers.remove("x-forwarded-host");
            if let Some(host) = headers.get(header::HOST).cloned() {
                headers.insert("x-forwarded-host", host);
            }
        }
        if !(believed && headers.contains_key("x-forwarded-proto")) {
            headers.insert("x-forwarded-proto", self.proto.clone());
        }
        if !self.pass_host {
            // The client names the upstream's host itself.
            headers.remove(header::HOST);
        }
        let socket = match &route.target {
            Target::Unix { socket } => Some(socket.as_path()),
            _ => None,
        };
        self.client.send(req, socket, upgrade, self.timeout).await
    }
}

impl UpstreamError {
    pub fn status(&self) -> StatusCode {
        match self {
            UpstreamError::NoRoute => StatusCode::NOT_FOUND,
            UpstreamError::Unreachable => StatusCode::BAD_GATEWAY,
            UpstreamError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_mount_wins() {
        let u = Upstreams::new(
            &[
                "http://root:1/".into(),
                "http://api:2/api/".into(),
                "http://exact:3/api/health".into(),
                "http://deep:4/api/v2/".into(),
            ],
            &[],
            Duration::from_secs(1),
            true,
            "http",
        )
        .unwrap();
        let pick = |p: &str| {
            u.routes
                .iter()
                .find(|r| r.matches(p))
                .map(|r| match &r.target {
                    Target::Http { authority, .. } => authority.host().to_owned(),
                    other => format!("{other:?}"),
                })
        };
        assert_eq!(pick("/x").as_deref(), Some("root"));
        assert_eq!(pick("/api/x").as_deref(), Some("api"));
        assert_eq!(pick("/api/health").as_deref(), Some("exact"));
        assert_eq!(pick("/api/health/more").as_deref(), Some("api"));
        assert_eq!(pick("/api/v2/x").as_deref(), Some("deep"));
        assert_eq!(pick("/api").as_deref(), Some("root"));
        let kinds = Upstreams::new(
            &[
                "static://202".into(),
                "unix:///run/app.sock#/app/".into(),
                "https://tls.example/secure/".into(),
                format!("file://{}#/files/", std::env::temp_dir().display()),
            ],
            &[],
            Duration::from_secs(1),
            true,
            "http",
        )
        .unwrap();
        let mounts: Vec<&str> = kinds.routes.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(mounts, ["/secure/", "/files/", "/app/", "/"]);
        for bad in [
            "ftp://x/",
            "unix://host/s",
            "http://x/?q",
            "http://x/#/m/",
            "not a url",
            "http://u@x/",
            "static://99",
            "static://abc",
            "file:///does/not/exist",
            "static://200#mount",
        ] {
            assert!(
                Upstreams::new(&[bad.into()], &[], Duration::from_secs(1), true, "http").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn upstream_rules_by_path() {
        let admins = UpstreamSettings {
            url: "http://app:1/admin/".into(),
            rules: crate::settings::AccessRules {
                allowed_groups: vec!["admins".into()],
                ..Default::default()
            },
        };
        let u = Upstreams::new(
            &["http://app:1/".into()],
            &[admins],
            Duration::from_secs(1),
            true,
            "http",
        )
        .unwrap();
        assert!(u.rules_for("/x").is_empty());
        assert_eq!(u.rules_for("/admin/x").len(), 1);
        // Decoded by the app into /admin/: the admins' rules.
        assert_eq!(u.rules_for("/%61dmin/x").len(), 1);
        // Not in normal form: every upstream's rules.
        assert_eq!(u.rules_for("/x/../admin/x").len(), 1);
        assert_eq!(u.rules_for("/x/%2e%2e/admin/").len(), 1);
        let twice = Upstreams::new(
            &["http://a:1/".into(), "http://b:1/".into()],
            &[],
            Duration::from_secs(1),
            true,
            "http",
        );
        assert!(twice.is_err());
    }
}
