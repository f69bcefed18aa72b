//! The HTTP client for the provider: rustls on aws-lc-rs with Mozilla's roots, no proxy from
//! the environment, no redirects followed, one deadline per request, and answers read up to
//! a bound.

use std::sync::Arc;
use std::time::Duration;

use super::ProviderError;

/// Discovery documents, JWKS and token answers are small; more than this is refused.
const MAX_ANSWER: usize = 256 * 1024;

pub(super) fn client(timeout: Duration) -> reqwest::Client {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("latchkey-proxy/", env!("CARGO_PKG_VERSION")));
    let builder = match tls {
        Ok(tls) => builder.use_preconfigured_tls(tls),
        // aws-lc-rs supports the default protocol versions; this does not happen.
        Err(e) => {
            tracing::error!(error = %e, "TLS configuration for the provider failed");
            builder
        }
    };
    builder.build().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the provider's HTTP client could not be built");
        reqwest::Client::new()
    })
}

/// Status and JSON body of an answer, read up to [`MAX_ANSWER`] bytes.
pub(super) async fn json_answer(
    resp: Result<reqwest::Response, reqwest::Error>,
    what: &str,
) -> Result<(reqwest::StatusCode, serde_json::Value), ProviderError> {
    let mut resp = resp.map_err(|e| unreachable(what, &e))?;
    let status = resp.status();
    if resp.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
        return Err(ProviderError::Protocol(format!(
            "{what}: the answer is too large"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| unreachable(what, &e))? {
        if body.len() + chunk.len() > MAX_ANSWER {
            return Err(ProviderError::Protocol(format!(
                "{what}: the answer is too large"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    match serde_json::from_slice(&body) {
        Ok(v) => Ok((status, v)),
        Err(_) if status.is_server_error() => {
            Err(ProviderError::Unreachable(format!("{what}: HTTP {status}")))
        }
        Err(_) => Err(ProviderError::Protocol(format!(
            "{what}: HTTP {status}, not JSON"
        ))),
    }
}

fn unreachable(what: &str, e: &reqwest::Error) -> ProviderError {
    let kind = if e.is_timeout() {
        "no answer in time"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    // Without the URL's query (none of ours carries a secret, but stay safe) and without
    // reqwest's own wording, which repeats the URL.
    ProviderError::Unreachable(format!("{what}: {kind}"))
}
