//! oauth2-proxy v7.15.2's security fixes, as regression cases through the proxy. Covered in
//! flows.rs already: a health-check User-Agent on an app path (GHSA-5hvv-m4w4-gf6v), dot
//! segments on skip-auth routes, and a new session reference at each sign-in. Here: the rest
//! of each case.

mod common;

use common::*;
use latchkey_proxy::{AccessRules, UpstreamSettings};

/// GHSA-5hvv-m4w4-gf6v: the health check's User-Agent alone skipped authentication. Here no
/// User-Agent opens anything, at forward-auth either; the ping path answers anyone.
#[tokio::test]
async fn a_health_check_user_agent_opens_nothing() {
    let w = World::start(|_| {}).await;
    let b = Browser::new();
    for agent in [
        "kube-probe/1.30",
        "GoogleHC/1.0",
        "ELB-HealthChecker/2.0",
        "",
    ] {
        let ua = [("user-agent", agent)];
        assert_eq!(
            b.get(&w.url("/oauth2/auth"), &ua).await.status,
            401,
            "{agent}"
        );
        assert_eq!(b.get(&w.url("/app/ping"), &ua).await.status, 403, "{agent}");
        let r = b.get(&w.url("/ping"), &ua).await;
        assert_eq!((r.status, r.body.as_str()), (200, "OK"));
    }
    w.stop().await;
}

/// GHSA-7x63-xv5r-3p2x: a spoofed `X-Forwarded-Uri` naming a skip-auth route skipped
/// authentication. It means nothing without `--reverse-proxy`, nor from a peer that is not a
/// trusted proxy, nor in the reverse proxy (where the request's own path counts).
#[tokio::test]
async fn a_spoofed_forwarded_uri_skips_nothing() {
    let w = World::start(|s| s.skip_auth_routes = vec!["^/public/".into()]).await;
    let b = Browser::new();
    let spoof = [
        ("x-forwarded-uri", "/public/x"),
        ("x-original-uri", "/public/x"),
        ("x-forwarded-prefix", "/public/"),
    ];
    assert_eq!(b.get(&w.url("/oauth2/auth"), &spoof).await.status, 401);
    let r = b.get(&w.url("/admin"), &spoof).await;
    assert_eq!(r.status, 403);
    assert!(r.is_html(), "the sign-in page, not the app");
    w.stop().await;

    let w = World::start(|s| {
        s.skip_auth_routes = vec!["^/public/".into()];
        s.reverse_proxy = true;
        s.trusted_proxy_ips = vec!["127.0.0.1".into()];
    })
    .await;
    let stranger = Browser::from_address("127.0.0.2");
    assert_eq!(
        stranger.get(&w.url("/oauth2/auth"), &spoof).await.status,
        401
    );
    // Even from the trusted proxy, the reverse proxy decides on the path it forwards.
    let front = Browser::new();
    assert_eq!(front.get(&w.url("/admin"), &spoof).await.status, 403);
    w.stop().await;
}

/// GHSA-pxq7-h93f-9jrg: a `#fragment` was matched against the allowed routes, so
/// `/admin#/public/` passed an unanchored `/public/` rule.
#[tokio::test]
async fn a_fragment_is_not_part_of_the_route() {
    let w = World::start(|s| s.skip_auth_routes = vec!["/public/".into()]).await;
    assert_eq!(raw_status(&w.proxy_url, "/public/x", None).await, 200);
    for target in [
        "/admin#/public/",
        "/admin%23/public/",
        "/admin%23%2fpublic%2f",
    ] {
        let status = raw_status(&w.proxy_url, target, None).await;
        assert!(
            matches!(status, 400 | 403),
            "{target}: {status} (must not reach the app)"
        );
    }
    // And in forward-auth, from a trusted proxy in front.
    w.stop().await;
    let w = World::start(|s| {
        s.skip_auth_routes = vec!["/public/".into()];
        s.reverse_proxy = true;
    })
    .await;
    let b = Browser::new();
    for uri in ["/admin#/public/", "/admin%23/public/"] {
        let r = b
            .get(&w.url("/oauth2/auth"), &[("x-forwarded-uri", uri)])
            .await;
        assert_eq!(r.status, 401, "{uri}");
    }
    let r = b
        .get(&w.url("/oauth2/auth"), &[("x-forwarded-uri", "/public/x")])
        .await;
    assert_eq!(r.status, 202);
    w.stop().await;
}

/// GHSA-c5c4-8r6x-56w3: an address with several `@` passed the e-mail checks on its last
/// domain. The test provider's addresses are `{user}@example.com`, so the user
/// `eve@evil.org` has `eve@evil.org@example.com`.
#[tokio::test]
async fn an_address_with_several_at_signs_passes_no_email_rule() {
    let w = World::start(|_| {}).await;
    let b = Browser::new();
    let r = w.sign_in(&b, "eve@evil.org", "/").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(b.cookie("_oauth2_proxy").is_none());
    w.stop().await;

    // Let anyone in, then ask the per-request and per-upstream rules.
    let w = World::start(|s| {
        s.email_domains = vec!["*".into()];
        let up = s.upstreams[0].trim_end_matches('/').to_owned();
        s.upstreams_with_rules = vec![UpstreamSettings {
            url: format!("{up}/staff/"),
            rules: AccessRules {
                allowed_email_domains: vec!["example.com".into()],
                ..AccessRules::default()
            },
        }];
    })
    .await;
    let b = Browser::new();
    assert_eq!(w.sign_in(&b, "eve@evil.org", "/").await.status, 302);
    for query in [
        "allowed_email_domains=example.com",
        "allowed_email_domains=evil.org",
        "allowed_emails=eve@evil.org",
    ] {
        let r = b.get(&w.url(&format!("/oauth2/auth?{query}")), &[]).await;
        assert_eq!(r.status, 403, "{query}");
    }
    assert_eq!(b.get(&w.url("/staff/x"), &[]).await.status, 403);
    // Alice's plain address passes the same rules.
    let a = Browser::new();
    w.sign_in(&a, "alice", "/").await;
    let r = a
        .get(
            &w.url("/oauth2/auth?allowed_email_domains=example.com"),
            &[],
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(a.get(&w.url("/staff/x"), &[]).await.status, 200);
    w.stop().await;
}

/// GHSA-f24x-5g9q-753f: session fixation. A session cookie planted in someone's browser
/// (here, the attacker's own) is cleared by the sign-in page, and signing in never makes the
/// planted reference the victim's session.
#[tokio::test]
async fn a_planted_session_never_becomes_the_victims() {
    let w = World::start(|_| {}).await;
    let attacker = Browser::new();
    w.sign_in(&attacker, "bob", "/").await;
    let planted = attacker.cookie("_oauth2_proxy").unwrap();

    let victim = Browser::new();
    victim.set_cookie("_oauth2_proxy", &planted);
    let r = victim.get(&w.url("/oauth2/sign_in"), &[]).await;
    assert_eq!(r.status, 200);
    assert!(
        r.set_cookies()
            .iter()
            .any(|c| c.starts_with("_oauth2_proxy=") && c.contains("Max-Age=0")),
        "{:?}",
        r.set_cookies()
    );
    // The browser keeps it anyway (as if the clearing were lost), then signs in.
    victim.set_cookie("_oauth2_proxy", &planted);
    w.sign_in(&victim, "alice", "/").await;
    let theirs = victim.cookie("_oauth2_proxy").unwrap();
    assert_ne!(theirs, planted);
    let r = victim.get(&w.url("/oauth2/userinfo"), &[]).await;
    assert_eq!(r.json()["user"], "alice");
    // The planted reference is ended (the sign-in page ended it), never Alice's.
    let r = attacker.get(&w.url("/oauth2/userinfo"), &[]).await;
    assert_eq!(r.status, 401, "{}", r.body);
    w.stop().await;
}
