//! The proxy's traffic in the metrics (the binary shows them on its metrics listener): each
//! outcome's counter moves with the request that has it.

mod common;

use std::time::Duration;

use common::{Browser, World};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The value of a counter (or of a histogram's `_count`) with exactly these labels; 0 when
/// not there yet.
fn value(handle: &PrometheusHandle, series: &str) -> u64 {
    handle
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test]
async fn proxied_requests_move_the_counters_by_outcome() {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder of this test binary");
    let w = World::start(|s| {
        s.cookie.refresh = Duration::from_secs(2);
        // Nothing listens on port 1: connection refused.
        s.upstreams.push("http://127.0.0.1:1/down/".into());
    })
    .await;
    let count = |outcome: &str| {
        value(
            &handle,
            &format!("latchkey_proxy_requests_total{{outcome=\"{outcome}\"}}"),
        )
    };
    let b = Browser::new();

    let r = b.get(&w.url("/app"), &[]).await;
    assert_eq!(r.status, 403, "the sign-in page");
    assert_eq!(count("unauthenticated"), 1);

    w.sign_in(&b, "alice", "/app").await;
    assert!(count("endpoint") >= 2, "start and callback");
    assert_eq!(count("authenticated"), 0);
    for _ in 0..3 {
        assert_eq!(b.get(&w.url("/app"), &[]).await.status, 200);
    }
    assert_eq!(b.get(&w.url("/oauth2/auth"), &[]).await.status, 202);
    assert_eq!(count("authenticated"), 4);

    let r = b
        .get(&w.url("/oauth2/auth?allowed_groups=nobody"), &[])
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(count("forbidden"), 1);

    let r = b.get(&w.url("/down/x"), &[]).await;
    assert_eq!(r.status, 502);
    assert_eq!(count("upstream_error"), 1);

    // A refresh at the provider.
    assert_eq!(
        value(
            &handle,
            "latchkey_proxy_session_refreshes_total{result=\"ok\"}"
        ),
        0
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(b.get(&w.url("/app"), &[]).await.status, 200);
    assert_eq!(
        value(
            &handle,
            "latchkey_proxy_session_refreshes_total{result=\"ok\"}"
        ),
        1
    );
    // Latency, per outcome.
    assert_eq!(
        value(
            &handle,
            "latchkey_proxy_request_duration_seconds_count{outcome=\"authenticated\"}"
        ),
        5
    );
    w.stop().await;
}
