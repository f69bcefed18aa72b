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

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{Counter, Histogram};

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

/// Every `outcome` label, the proxy's own pages' last.
const LABELS: [&str; 7] = [
    "authenticated",
    "skipped",
    "unauthenticated",
    "forbidden",
    "upstream_error",
    "store_error",
    "endpoint",
];

impl Outcome {
    fn index(self) -> usize {
        match self {
            Outcome::Authenticated => 0,
            Outcome::Skipped => 1,
            Outcome::Unauthenticated => 2,
            Outcome::Forbidden => 3,
            Outcome::UpstreamError => 4,
            Outcome::StoreError => 5,
        }
    }
}

/// The counter and histogram of each outcome, looked up in the recorder once (the binary
/// installs its recorder before any role serves) instead of at every request.
fn handles(index: usize) -> &'static (Counter, Histogram) {
    static HANDLES: OnceLock<Vec<(Counter, Histogram)>> = OnceLock::new();
    &HANDLES.get_or_init(|| {
        LABELS
            .iter()
            .map(|&outcome| {
                (
                    metrics::counter!("latchkey_proxy_requests_total", "outcome" => outcome),
                    metrics::histogram!(
                        "latchkey_proxy_request_duration_seconds",
                        "outcome" => outcome
                    ),
                )
            })
            .collect()
    })[index]
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
    let index = resp
        .extensions()
        .get::<Outcome>()
        .map_or(LABELS.len() - 1, |o| o.index());
    let (requests, duration) = handles(index);
    requests.increment(1);
    duration.record(started.elapsed().as_secs_f64());
    resp
}

/// A refresh at the provider: `ok`, `refused` or `failed`.
pub(crate) fn refresh(result: &'static str) {
    metrics::counter!("latchkey_proxy_session_refreshes_total", "result" => result).increment(1);
}
