//! Sending a request to an `http://`, `https://` or `unix://` upstream, and passing a
//! protocol upgrade (WebSockets) through in both directions.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::{UpstreamError, strip_hop_by_hop};

pub(super) struct Clients {
    tcp: Client<HttpsConnector<HttpConnector>, Body>,
}

/// The protocol a request asks to switch to (`Connection: upgrade` + `Upgrade`), if any.
pub(crate) fn upgrade_protocol(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    asks.then(|| headers.get(header::UPGRADE).cloned())
        .flatten()
}

fn tls_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("aws-lc-rs offers the default protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth()
}

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error(transparent)]
    Client(#[from] hyper_util::client::legacy::Error),
    #[error(transparent)]
    Hyper(#[from] hyper::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Clients {
    pub(super) fn new(timeout: Duration) -> Clients {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let tcp = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Clients { tcp }
    }

    /// Sends `req` (over `socket` when given) and streams the answer back; with `upgrade`,
    /// a `101 Switching Protocols` answer joins the two connections.
    pub(super) async fn send(
        &self,
        mut req: Request,
        socket: Option<&Path>,
        upgrade: Option<HeaderValue>,
        timeout: Duration,
    ) -> Result<Response, UpstreamError> {
        let from_client = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));
        if let Some(protocol) = &upgrade {
            let h = req.headers_mut();
            h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            h.insert(header::UPGRADE, protocol.clone());
        }
        let target = req
            .uri()
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let sent = async {
            match socket {
                None => Ok::<_, SendError>(self.tcp.request(req).await?),
                Some(path) => unix_request(path, req).await,
            }
        };
        let mut resp = match tokio::time::timeout(timeout, sent).await {
            Err(_) => return Err(UpstreamError::Timeout),
            Ok(Err(e)) => {
                let upstream = socket.map_or(target, |p| p.display().to_string());
                tracing::warn!(%upstream, error = %e, "upstream request failed");
                return Err(UpstreamError::Unreachable);
            }
            Ok(Ok(resp)) => resp,
        };
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(from_client) = from_client
        {
            let from_upstream = hyper::upgrade::on(&mut resp);
            tokio::spawn(async move {
                let (Ok(client), Ok(upstream)) = (from_client.await, from_upstream.await) else {
                    tracing::debug!("an upgraded connection closed before it was joined");
                    return;
                };
                let mut client = TokioIo::new(client);
                let mut upstream = TokioIo::new(upstream);
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
            let (parts, body) = resp.into_parts();
            return Ok(Response::from_parts(parts, Body::new(body)));
        }
        let (mut parts, body) = resp.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        Ok(Response::from_parts(parts, Body::new(body)))
    }
}

/// One request on a fresh connection to a unix socket (kept open for an upgrade).
async fn unix_request(path: &Path, mut req: Request) -> Result<Response<Incoming>, SendError> {
    // A connection of our own speaks origin-form (the pooled client converts by itself).
    let origin_form = req.uri().path_and_query().map_or_else(
        || axum::http::Uri::from_static("/"),
        |p| p.as_str().parse().unwrap_or_default(),
    );
    *req.uri_mut() = origin_form;
    if !req.headers().contains_key(header::HOST) {
        req.headers_mut()
            .insert(header::HOST, HeaderValue::from_static("localhost"));
    }
    let stream = tokio::net::UnixStream::connect(path).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "unix upstream connection ended");
        }
    });
    Ok(sender.send_request(req).await?)
}
