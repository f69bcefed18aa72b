//! Where a request came from: `--trusted-ip` (passes without a session), `--reverse-proxy`
//! believed from `--trusted-proxy-ip` only, and WebSocket upgrades refused from other sites.
//! The proxy listens on 127.0.0.1; browsers connect from 127.0.0.1 or 127.0.0.2.

mod common;

use common::*;

const ELSEWHERE: &str = "127.0.0.2";

#[tokio::test]
async fn trusted_ips_pass_without_a_session() {
    let w = World::start(|s| s.trusted_ips = vec!["127.0.0.2/32".into()]).await;
    let trusted = Browser::from_address(ELSEWHERE);
    let r = trusted
        .get(&w.url("/app"), &[("x-forwarded-user", "mallory")])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.upstream_header("x-forwarded-user").is_empty());
    let r = trusted.get(&w.url("/oauth2/auth"), &[]).await;
    assert_eq!(r.status, 202);
    assert!(r.header("gap-auth").is_none());

    // Another address, even naming the trusted one, is not trusted: no proxy is believed.
    let other = Browser::new();
    let r = other.get(&w.url("/app"), &[("x-real-ip", ELSEWHERE)]).await;
    assert_eq!(r.status, 403);
    let r = other
        .get(&w.url("/oauth2/auth"), &[("x-real-ip", ELSEWHERE)])
        .await;
    assert_eq!(r.status, 401);

    // Signed in from a trusted address, the identity still goes to the app.
    w.sign_in(&trusted, "alice", "/").await;
    let r = trusted.get(&w.url("/app"), &[]).await;
    assert_eq!(r.upstream_header("x-forwarded-user"), ["alice"]);
    w.stop().await;
}

#[tokio::test]
async fn a_reverse_proxy_in_front_is_believed_only_from_its_address() {
    let w = World::start(|s| {
        s.reverse_proxy = true;
        s.trusted_proxy_ips = vec!["127.0.0.1".into()];
        s.trusted_ips = vec!["203.0.113.0/24".into()];
        s.skip_auth_routes = vec!["GET=^/public/".into()];
    })
    .await;
    let front = Browser::new();
    let elsewhere = Browser::from_address(ELSEWHERE);
    let forwarded = [
        ("x-real-ip", "203.0.113.5"),
        ("x-forwarded-for", "198.51.100.1"),
        ("x-forwarded-host", "app.example.org"),
        ("x-forwarded-proto", "https"),
    ];

    // From the proxy in front: the client it names is trusted, its chain goes on.
    let r = front.get(&w.url("/app"), &forwarded).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.upstream_header("x-forwarded-for"),
        ["198.51.100.1, 127.0.0.1"]
    );
    assert_eq!(r.upstream_header("x-forwarded-host"), ["app.example.org"]);
    assert_eq!(r.upstream_header("x-forwarded-proto"), ["https"]);
    assert!(r.upstream_header("x-real-ip").is_empty());
    // From anyone else: nothing of it.
    let r = elsewhere.get(&w.url("/app"), &forwarded).await;
    assert_eq!(r.status, 403, "{}", r.body);

    // Forward-auth: a skip-auth route named by the proxy in front.
    let uri = [("x-forwarded-uri", "/public/x")];
    assert_eq!(front.get(&w.url("/oauth2/auth"), &uri).await.status, 202);
    assert_eq!(
        elsewhere.get(&w.url("/oauth2/auth"), &uri).await.status,
        401
    );
    let post = [
        ("x-forwarded-uri", "/public/x"),
        ("x-forwarded-method", "POST"),
    ];
    assert_eq!(front.get(&w.url("/oauth2/auth"), &post).await.status, 401);
    let dotted = [("x-forwarded-uri", "/public/../admin")];
    assert_eq!(front.get(&w.url("/oauth2/auth"), &dotted).await.status, 401);

    // The sign-in page sends people back where the proxy in front says they were going.
    let going = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "app.example.org"),
        ("x-forwarded-uri", "/dash?x=1"),
    ];
    let r = front.get(&w.url("/oauth2/sign_in"), &going).await;
    assert!(
        r.body
            .contains("value=\"https://app.example.org/dash?x=1\""),
        "{}",
        r.body
    );
    let r = elsewhere.get(&w.url("/oauth2/sign_in"), &going).await;
    assert!(r.body.contains("value=\"/\""), "{}", r.body);
    // A host that is neither ours nor whitelisted is no target, even from the proxy in front.
    let evil = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-uri", "/"),
    ];
    let r = front.get(&w.url("/oauth2/sign_in"), &evil).await;
    assert!(r.body.contains("value=\"/\""), "{}", r.body);
    w.stop().await;
}

#[tokio::test]
async fn websocket_upgrades_from_other_sites_are_refused() {
    let w = World::start(|_| {}).await;
    let b = Browser::new();
    w.sign_in(&b, "alice", "/").await;
    let upgrade = |origin: &'static str| {
        let mut h = vec![("connection", "Upgrade"), ("upgrade", "websocket")];
        if !origin.is_empty() {
            h.push(("origin", origin));
        }
        h
    };
    for origin in ["https://evil.example", "null", "http://127.0.0.1:1"] {
        let r = b.get(&w.url("/ws"), &upgrade(origin)).await;
        assert_eq!(r.status, 403, "{origin}");
        assert!(r.body.contains("Another site"), "{}", r.body);
    }
    // The proxy's own origin, a whitelisted one, and no Origin (not a browser) go through
    // (the echo app answers the handshake with 200: it is no WebSocket server).
    let own = String::leak(w.proxy_url.clone());
    for origin in [&*own, "https://app.example.org", ""] {
        let r = b.get(&w.url("/ws"), &upgrade(origin)).await;
        assert_eq!(r.status, 200, "{origin}: {}", r.body);
        assert_eq!(r.upstream_header("x-forwarded-user"), ["alice"]);
    }
    // An ordinary request from another site is the app's business (CORS).
    let r = b
        .get(&w.url("/api"), &[("origin", "https://evil.example")])
        .await;
    assert_eq!(r.status, 200);
    w.stop().await;
}
