//! The LocalAPI client against the stand-in tailscaled.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use latchkey_testkit::{FakeTailscaled, TSIDP_CAP, tagged_body, whois_body};
use latchkey_tsidp::localapi::{LocalApi, LocalApiError};
use serde_json::{Value, json};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn alice() -> Value {
    whois_body(
        42,
        "alice@example.com",
        "Alice Smith",
        "alice-laptop",
        &["127.0.0.2", "fd7a:115c:a1e0::2"],
        vec![json!({"users": ["*"], "resources": ["*"], "allow_admin_ui": true})],
    )
}

#[tokio::test]
async fn returns_the_body_and_asks_like_the_go_client() {
    let ts = FakeTailscaled::start().await;
    ts.set_peer(ip("127.0.0.2"), alice());
    let api = LocalApi::new(ts.socket_path());

    let body = api.whois_raw(sa("127.0.0.2:51234")).await.unwrap();
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v, alice());
    assert_eq!(v["UserProfile"]["LoginName"], "alice@example.com");
    assert_eq!(v["Node"]["Name"], "alice-laptop.tail1234.ts.net.");
    assert_eq!(v["CapMap"][TSIDP_CAP][0]["allow_admin_ui"], true);

    assert_eq!(
        ts.requests(),
        vec![(
            "/localapi/v0/whois?addr=127.0.0.2%3A51234".to_owned(),
            "local-tailscaled.sock".to_owned()
        )]
    );
}

#[tokio::test]
async fn ipv6_addresses_are_bracketed() {
    let ts = FakeTailscaled::start().await;
    ts.set_peer(ip("fd7a::1"), alice());
    let api = LocalApi::new(ts.socket_path());

    api.whois_raw(sa("[fd7a::1]:443")).await.unwrap();
    assert_eq!(
        ts.requests()[0].0,
        "/localapi/v0/whois?addr=%5Bfd7a%3A%3A1%5D%3A443"
    );
}

#[tokio::test]
async fn mapped_ipv4_is_asked_as_ipv4() {
    let ts = FakeTailscaled::start().await;
    ts.set_peer(ip("100.64.0.2"), alice());
    let api = LocalApi::new(ts.socket_path());

    api.whois_raw(sa("[::ffff:100.64.0.2]:8443")).await.unwrap();
    assert_eq!(
        ts.requests()[0].0,
        "/localapi/v0/whois?addr=100.64.0.2%3A8443"
    );
}

#[tokio::test]
async fn unknown_address_is_not_a_peer() {
    let ts = FakeTailscaled::start().await;
    let api = LocalApi::new(ts.socket_path());
    let err = api.whois_raw(sa("192.0.2.1:1234")).await.unwrap_err();
    assert!(matches!(err, LocalApiError::NotAPeer), "{err:?}");
}

#[tokio::test]
async fn status_codes_map_to_errors() {
    let ts = FakeTailscaled::start().await;
    ts.set_status(ip("127.0.0.3"), 403, "whois access denied");
    ts.set_status(ip("127.0.0.4"), 500, "server has no local backend");
    ts.set_status(ip("127.0.0.5"), 400, "invalid 'addr' parameter");
    ts.set_status(ip("127.0.0.6"), 418, "teapot");
    let api = LocalApi::new(ts.socket_path());

    match api.whois_raw(sa("127.0.0.3:1")).await.unwrap_err() {
        LocalApiError::Forbidden(msg) => {
            assert!(msg.contains("whois access denied"), "{msg}");
            assert!(msg.contains("operator"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    match api.whois_raw(sa("127.0.0.4:1")).await.unwrap_err() {
        LocalApiError::Unavailable(msg) => assert!(msg.contains("500"), "{msg}"),
        other => panic!("{other:?}"),
    }
    match api.whois_raw(sa("127.0.0.5:1")).await.unwrap_err() {
        LocalApiError::BadAddress(msg) => assert!(msg.contains("invalid 'addr'"), "{msg}"),
        other => panic!("{other:?}"),
    }
    match api.whois_raw(sa("127.0.0.6:1")).await.unwrap_err() {
        LocalApiError::Protocol(msg) => assert!(msg.contains("418"), "{msg}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn malformed_200_body_is_returned_raw() {
    let ts = FakeTailscaled::start().await;
    ts.set_status(ip("127.0.0.2"), 200, "{not json");
    let api = LocalApi::new(ts.socket_path());
    let body = api.whois_raw(sa("127.0.0.2:1")).await.unwrap();
    assert_eq!(&body[..], b"{not json");
}

#[tokio::test]
async fn oversized_body_is_a_protocol_error() {
    let ts = FakeTailscaled::start().await;
    ts.set_status(ip("127.0.0.2"), 200, &"x".repeat(1024 * 1024 + 1));
    let api = LocalApi::new(ts.socket_path());
    let err = api.whois_raw(sa("127.0.0.2:1")).await.unwrap_err();
    assert!(matches!(err, LocalApiError::Protocol(_)), "{err:?}");
}

#[tokio::test]
async fn non_http_answer_is_a_protocol_error() {
    let ts = FakeTailscaled::start().await;
    ts.set_raw_reply(Some(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()));
    let api = LocalApi::new(ts.socket_path());
    let err = api.whois_raw(sa("127.0.0.2:1")).await.unwrap_err();
    assert!(matches!(err, LocalApiError::Protocol(_)), "{err:?}");
}

#[tokio::test]
async fn missing_socket_is_unavailable_quickly() {
    let api = LocalApi::new("/nonexistent/latchkey/tailscaled.sock");
    let started = Instant::now();
    let err = api.whois_raw(sa("127.0.0.2:1")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(500));
    match err {
        LocalApiError::Unavailable(msg) => {
            assert!(
                msg.contains("/nonexistent/latchkey/tailscaled.sock"),
                "{msg}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn stopped_daemon_is_unavailable() {
    let ts = FakeTailscaled::start().await;
    ts.set_peer(ip("127.0.0.2"), alice());
    ts.stop();
    let api = LocalApi::new(ts.socket_path());
    let err = api.whois_raw(sa("127.0.0.2:1")).await.unwrap_err();
    assert!(matches!(err, LocalApiError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn slow_daemon_times_out() {
    let ts = FakeTailscaled::start().await;
    ts.set_peer(ip("127.0.0.2"), alice());
    ts.set_delay(Duration::from_secs(10));
    let api = LocalApi::new(ts.socket_path()).with_timeout(Duration::from_millis(200));

    let started = Instant::now();
    let err = api.whois_raw(sa("127.0.0.2:1")).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, LocalApiError::Unavailable(_)), "{err:?}");
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn answers_are_cached_for_the_ttl() {
    let ts = FakeTailscaled::start().await;
    ts.set_peer(ip("127.0.0.2"), alice());
    let api = LocalApi::new(ts.socket_path()).with_cache_ttl(Duration::from_millis(300));

    let first = api.whois_raw(sa("127.0.0.2:1000")).await.unwrap();
    let second = api.whois_raw(sa("127.0.0.2:1000")).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(ts.requests().len(), 1);

    // another port is another connection: asked separately
    api.whois_raw(sa("127.0.0.2:1001")).await.unwrap();
    assert_eq!(ts.requests().len(), 2);

    tokio::time::sleep(Duration::from_millis(400)).await;
    api.whois_raw(sa("127.0.0.2:1000")).await.unwrap();
    assert_eq!(ts.requests().len(), 3);
}

#[tokio::test]
async fn zero_ttl_disables_the_cache() {
    let ts = FakeTailscaled::start().await;
    ts.set_peer(ip("127.0.0.2"), alice());
    let api = LocalApi::new(ts.socket_path()).with_cache_ttl(Duration::ZERO);
    api.whois_raw(sa("127.0.0.2:1")).await.unwrap();
    api.whois_raw(sa("127.0.0.2:1")).await.unwrap();
    assert_eq!(ts.requests().len(), 2);
}

#[tokio::test]
async fn errors_are_not_cached() {
    let ts = FakeTailscaled::start().await;
    ts.set_status(ip("127.0.0.2"), 500, "backend not ready");
    let api = LocalApi::new(ts.socket_path());

    let err = api.whois_raw(sa("127.0.0.2:1")).await.unwrap_err();
    assert!(matches!(err, LocalApiError::Unavailable(_)), "{err:?}");
    ts.remove_peer(ip("127.0.0.2"));
    let err = api.whois_raw(sa("127.0.0.2:1")).await.unwrap_err();
    assert!(matches!(err, LocalApiError::NotAPeer), "{err:?}");
    ts.set_peer(ip("127.0.0.2"), alice());
    api.whois_raw(sa("127.0.0.2:1")).await.unwrap();
    assert_eq!(ts.requests().len(), 3);
}

#[tokio::test]
async fn concurrent_lookups_all_succeed() {
    let ts = FakeTailscaled::start().await;
    ts.set_peer(ip("127.0.0.2"), alice());
    let api = std::sync::Arc::new(LocalApi::new(ts.socket_path()));
    let mut tasks = Vec::new();
    for port in 0..32u16 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            api.whois_raw(SocketAddr::new(ip("127.0.0.2"), 2000 + port % 8))
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert!(ts.requests().len() <= 32);
}

#[tokio::test]
async fn fake_refuses_foreign_hosts_and_bad_addresses() {
    // The fake behaves like tailscaled for clients other than ours, too.
    let ts = FakeTailscaled::start().await;
    let raw = |req: &'static str| {
        let path = ts.socket_path().to_owned();
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::UnixStream::connect(path).await.unwrap();
            s.write_all(req.as_bytes()).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        }
    };
    let res = raw("GET /localapi/v0/whois?addr=1.2.3.4:5 HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n").await;
    assert!(res.starts_with("HTTP/1.1 403"), "{res}");
    assert!(res.contains("invalid localapi request"), "{res}");
    let res = raw("GET /localapi/v0/whois?addr=nonsense HTTP/1.1\r\nHost: local-tailscaled.sock\r\nConnection: close\r\n\r\n").await;
    assert!(res.starts_with("HTTP/1.1 400"), "{res}");
    let res = raw("GET /localapi/v0/whois HTTP/1.1\r\nHost: local-tailscaled.sock\r\nConnection: close\r\n\r\n").await;
    assert!(res.contains("missing 'addr' parameter"), "{res}");
    let res = raw("GET /localapi/v0/whois?addr=100.64.0.9 HTTP/1.1\r\nHost: local-tailscaled.sock\r\nConnection: close\r\n\r\n").await;
    assert!(res.starts_with("HTTP/1.1 404"), "{res}");
    assert!(res.contains("no match for IP:port"), "{res}");
}

#[test]
fn body_builders_are_realistic() {
    let v = alice();
    assert_eq!(v["Node"]["User"], 42);
    assert_eq!(v["UserProfile"]["ID"], 42);
    assert!(v["Node"]["Key"].as_str().unwrap().starts_with("nodekey:"));
    assert_eq!(
        v["Node"]["Key"].as_str().unwrap().len(),
        "nodekey:".len() + 64
    );
    assert_eq!(
        v["Node"]["Addresses"],
        json!(["127.0.0.2/32", "fd7a:115c:a1e0::2/128"])
    );
    assert_eq!(v["Node"]["ComputedName"], "alice-laptop");
    assert_eq!(v["Node"]["Hostinfo"]["Hostname"], "alice-laptop");
    assert!(v["Node"].get("Tags").is_none());

    let bare = whois_body(
        1,
        "bob@example.com",
        "Bob",
        "bob.example.ts.net",
        &[],
        vec![],
    );
    assert!(bare.get("CapMap").is_none());
    assert_eq!(bare["Node"]["Name"], "bob.example.ts.net.");

    let tagged = tagged_body("build-01", &["100.64.0.9"], vec![]);
    assert_eq!(tagged["Node"]["Tags"], json!(["tag:server"]));
    assert_eq!(tagged["UserProfile"]["LoginName"], "tagged-devices");
    assert_eq!(tagged["Node"]["User"], tagged["UserProfile"]["ID"]);
}

#[tokio::test]
async fn self_status_names_the_node_and_its_tailnet() {
    let ts = FakeTailscaled::start().await;
    let api = LocalApi::new(ts.socket_path()).with_timeout(Duration::from_millis(500));

    let status = api.self_status().await.unwrap();
    assert_eq!(status.backend_state, "Running");
    assert_eq!(status.dns_name, latchkey_testkit::DEFAULT_SELF);
    assert_eq!(status.magic_dns_suffix, "tail1234.ts.net");
    assert_eq!(
        ts.requests()[0],
        (
            "/localapi/v0/status?peers=false".to_owned(),
            "local-tailscaled.sock".to_owned()
        )
    );

    ts.set_self(latchkey_testkit::status_body(
        "idp-box.tailfe12.ts.net.",
        &["100.64.0.9"],
    ));
    let status = api.self_status().await.unwrap();
    assert_eq!(status.dns_name, "idp-box.tailfe12.ts.net");
    assert_eq!(status.magic_dns_suffix, "tailfe12.ts.net");

    ts.set_self_status(403, "access denied");
    assert!(matches!(
        api.self_status().await.unwrap_err(),
        LocalApiError::Forbidden(m) if m.contains("status request")
    ));
    ts.set_self_status(200, "{not json");
    assert!(matches!(
        api.self_status().await.unwrap_err(),
        LocalApiError::Protocol(_)
    ));
    ts.set_delay(Duration::from_secs(5));
    assert!(matches!(
        api.self_status().await.unwrap_err(),
        LocalApiError::Unavailable(_)
    ));
}
