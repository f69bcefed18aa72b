//! HTTP plumbing shared by the roles: security headers, health, metrics, request metrics.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use crate::role::Role;
use anyhow::Result;
use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use latchkey_oidc::Provider;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

pub fn install_metrics() -> Result<PrometheusHandle> {
    static HANDLE: std::sync::OnceLock<PrometheusHandle> = std::sync::OnceLock::new();
    if let Some(h) = HANDLE.get() {
        return Ok(h.clone());
    }
    let handle = PrometheusBuilder::new()
        .set_buckets(&[
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ])?
        .install_recorder()?;
    let handle = HANDLE.get_or_init(|| handle).clone();
    // Histogram samples are buffered until drained; without this a server nobody scrapes
    // grows by every request it serves.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

#[derive(Clone)]
struct RoleState {
    role: Role,
    provider: Arc<Provider>,
    metrics: PrometheusHandle,
    /// False when a dedicated metrics listener is configured.
    metrics_on_listener: bool,
}

/// Everything one role serves on its listener.
pub fn role_app(
    role: Role,
    provider: Arc<Provider>,
    pages: Router,
    metrics: PrometheusHandle,
    metrics_on_listener: bool,
) -> Router {
    let state = RoleState {
        role,
        provider: provider.clone(),
        metrics,
        metrics_on_listener,
    };
    // The role's pages join before the Funnel layer, so it covers them too.
    let site = provider.site().clone();
    let mut app = latchkey_oidc::router(provider).merge(pages);
    if role == Role::Tsidp {
        app = app.layer(middleware::from_fn_with_state(
            site,
            latchkey_tsidp::funnel::refuse_over_funnel,
        ));
    }
    app.merge(
        Router::new()
            .route("/healthz", get(get_healthz))
            .route("/metrics", get(get_metrics_loopback))
            .with_state(state.clone()),
    )
    .layer(middleware::from_fn_with_state(state, track))
    .layer(middleware::from_fn(security_headers))
}

pub fn metrics_app(metrics: PrometheusHandle) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(h): State<PrometheusHandle>| async move { h.render() }),
        )
        .with_state(metrics)
}

/// 200 when the database answers, 503 otherwise.
async fn get_healthz(State(s): State<RoleState>) -> Response {
    match s.provider.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            [(header::CACHE_CONTROL, "no-store")],
            "ok\n",
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

/// Metrics on a role listener are for the machine itself only.
/// A loopback peer that relays someone else (a local reverse proxy, `tailscale serve`,
/// Funnel) does not count: those headers mean the caller is not this machine.
async fn get_metrics_loopback(
    State(s): State<RoleState>,
    headers: axum::http::HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
) -> Response {
    let relayed = [
        "x-forwarded-for",
        "forwarded",
        "x-real-ip",
        "tailscale-funnel-request",
    ]
    .iter()
    .any(|h| headers.contains_key(*h));
    match peer {
        Some(axum::Extension(ConnectInfo(addr)))
            if s.metrics_on_listener && !relayed && addr.ip().to_canonical().is_loopback() =>
        {
            (
                [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                s.metrics.render(),
            )
                .into_response()
        }
        _ => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// Request count and latency per role, route and status.
async fn track(State(s): State<RoleState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let started = Instant::now();
    let resp = next.run(req).await;
    let role = s.role.as_str();
    let status = resp.status().as_u16().to_string();
    metrics::counter!("latchkey_http_requests_total", "role" => role, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("latchkey_http_request_duration_seconds", "role" => role, "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}

/// Defaults for every answer; a handler that set its own (e.g. a CSP for form_post) keeps it.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let defaults: [(HeaderName, &str); 6] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "interest-cohort=()",
        ),
    ];
    for (name, value) in defaults {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    resp
}
