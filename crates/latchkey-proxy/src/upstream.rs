//! The reverse proxy: `http://` upstreams mounted by path (the longest match wins), on
//! hyper-util's client, bodies streamed both ways.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::uri::{Authority, Scheme};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::settings::{SettingsError, invalid};

#[derive(Clone, Debug)]
struct Route {
    /// Where it is mounted: a prefix when it ends with `/`, else an exact path.
    path: String,
    scheme: Scheme,
    authority: Authority,
}

impl Route {
    fn parse(upstream: &str) -> Result<Route, SettingsError> {
        let url = url::Url::parse(upstream)
            .map_err(|e| invalid("upstream", format!("{upstream:?}: {e}")))?;
        if url.scheme() != "http" {
            return Err(invalid(
                "upstream",
                format!("{upstream:?}: only http:// upstreams are supported for now"),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
            return Err(invalid(
                "upstream",
                format!("{upstream:?}: no query, fragment or user name"),
            ));
        }
        let host = url
            .host_str()
            .ok_or_else(|| invalid("upstream", format!("{upstream:?}: no host")))?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        Ok(Route {
            path: url.path().to_owned(),
            scheme: Scheme::HTTP,
            authority: authority
                .parse()
                .map_err(|_| invalid("upstream", format!("{upstream:?}: bad host")))?,
        })
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
    client: Client<HttpConnector, Body>,
    timeout: Duration,
    pass_host: bool,
}

/// Hop-by-hop headers (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
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
    for name in HOP_BY_HOP {
        headers.remove(*name);
    }
}

impl Upstreams {
    pub fn new(
        upstreams: &[String],
        timeout: Duration,
        pass_host: bool,
    ) -> Result<Upstreams, SettingsError> {
        let mut routes = upstreams
            .iter()
            .map(|u| Route::parse(u))
            .collect::<Result<Vec<_>, _>>()?;
        // Longest first; at equal length an exact path before a prefix.
        routes.sort_by(|a, b| {
            b.path
                .len()
                .cmp(&a.path.len())
                .then_with(|| a.path.ends_with('/').cmp(&b.path.ends_with('/')))
        });
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(Upstreams {
            routes,
            client,
            timeout,
            pass_host,
        })
    }

    /// Forwards `req` (whose identity headers are already set) and streams the answer back.
    pub async fn forward(&self, mut req: Request) -> Result<Response, UpstreamError> {
        let route = self
            .routes
            .iter()
            .find(|r| r.matches(req.uri().path()))
            .ok_or(UpstreamError::NoRoute)?;
        let path_and_query = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let uri = Uri::builder()
            .scheme(route.scheme.clone())
            .authority(route.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| UpstreamError::NoRoute)?;
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        *req.uri_mut() = uri;
        *req.version_mut() = axum::http::Version::HTTP_11;
        let headers = req.headers_mut();
        strip_hop_by_hop(headers);
        if let Some(ip) = peer {
            let xff = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
                Some(prior) => format!("{prior}, {ip}"),
                None => ip.to_string(),
            };
            if let Ok(v) = HeaderValue::from_str(&xff) {
                headers.insert("x-forwarded-for", v);
            }
        }
        if !self.pass_host {
            // The client names the upstream's host itself.
            headers.remove(header::HOST);
        }
        let answer = tokio::time::timeout(self.timeout, self.client.request(req)).await;
        let resp = match answer {
            Err(_) => return Err(UpstreamError::Timeout),
            Ok(Err(e)) => {
                tracing::warn!(upstream = %route.authority, error = %e, "upstream request failed");
                return Err(UpstreamError::Unreachable);
            }
            Ok(Ok(resp)) => resp,
        };
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, Body::new(body)))
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
            Duration::from_secs(1),
            true,
        )
        .unwrap();
        let pick = |p: &str| {
            u.routes
                .iter()
                .find(|r| r.matches(p))
                .map(|r| r.authority.host().to_owned())
        };
        assert_eq!(pick("/x").as_deref(), Some("root"));
        assert_eq!(pick("/api/x").as_deref(), Some("api"));
        assert_eq!(pick("/api/health").as_deref(), Some("exact"));
        assert_eq!(pick("/api/health/more").as_deref(), Some("api"));
        assert_eq!(pick("/api/v2/x").as_deref(), Some("deep"));
        assert_eq!(pick("/api").as_deref(), Some("root"));
        for bad in [
            "https://x/",
            "unix:///s",
            "http://x/?q",
            "not a url",
            "http://u@x/",
        ] {
            assert!(
                Upstreams::new(&[bad.into()], Duration::from_secs(1), true).is_err(),
                "{bad}"
            );
        }
    }
}
