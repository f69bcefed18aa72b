//! The proxy's traffic as metrics, through the `metrics` facade: the binary's Prometheus
//! recorder shows them on its metrics listener (`metrics_listen`, oauth2-proxy's
//! `--metrics-address`). The proxy's own listener never serves `/metrics`: every path there
//! may be the app's.
//!
//! - `latchkey_proxy_requests_total{outcome}` and `latchkey_proxy_request_duration_seconds{outcome}`:
//!   each request by what the proxy decided ([`Outcome`]); the proxy's own pages are
//!   `endpoint`.
//! - `latchkey_proxy_session_refreshes_total{result}`: refreshes at the provider (`ok`,
//!   `refused` (the session ended), `failed` (kept, to try again)).

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

/// What the proxy made of a request; handlers put it in the answer's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A session or bearer token that passes the rules: proxied, or 202 at `/oauth2/auth`.
    Authenticated,
    /// A skip-auth route (or preflight) passed without a session.
    Skipped,
    /// No session: the sign-in page, or 401.
    Unauthenticated,
    /// Known, but not let in by the rules (or by `/oauth2/auth`'s query).
    Forbidden,
    /// The upstream could not be reached or did not answer in time.
    UpstreamError,
    /// The session store did not answer.
    StoreError,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Authenticated => "authenticated",
            Outcome::Skipped => "skipped",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::Forbidden => "forbidden",
            Outcome::UpstreamError => "upstream_error",
            Outcome::StoreError => "store_error",
        }
    }
}

/// `r`, marked with `outcome` unless a more precise mark is there already.
pub(crate) fn mark(mut r: Response, outcome: Outcome) -> Response {
    if r.extensions().get::<Outcome>().is_none() {
        r.extensions_mut().insert(outcome);
    }
    r
}

/// Counts and times every request by its outcome.
pub(crate) async fn track(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let resp = next.run(req).await;
    let outcome = resp
        .extensions()
        .get::<Outcome>()
        .map_or("endpoint", |o| o.label());
    metrics::counter!("latchkey_proxy_requests_total", "outcome" => outcome).increment(1);
    metrics::histogram!("latchkey_proxy_request_duration_seconds", "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    resp
}

/// A refresh at the provider: `ok`, `refused` or `failed`.
pub(crate) fn refresh(result: &'static str) {
    metrics::counter!("latchkey_proxy_session_refreshes_total", "result" => result).increment(1);
}
