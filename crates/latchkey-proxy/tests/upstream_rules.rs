//! Per-upstream rules (`[[proxy.upstream]]` with its own groups and addresses): a request
//! routed to such an upstream must pass the proxy-wide rules and the upstream's; someone who
//! fails only the upstream's gets a 403 and keeps the session for the rest of the site.

mod common;

use common::*;
use latchkey_proxy::{AccessRules, UpstreamSettings};

#[tokio::test]
async fn an_upstream_open_to_some_only() {
    let w = World::start(|s| {
        let up = s.upstreams[0].trim_end_matches('/').to_owned();
        s.upstreams_with_rules = vec![
            UpstreamSettings {
                url: format!("{up}/admin/"),
                rules: AccessRules {
                    allowed_groups: vec!["alice-team".into()],
                    ..AccessRules::default()
                },
            },
            UpstreamSettings {
                url: format!("{up}/boss"),
                rules: AccessRules {
                    allowed_emails: vec!["Bob@Example.com".into()],
                    ..AccessRules::default()
                },
            },
        ];
    })
    .await;

    let alice = Browser::new();
    assert_eq!(w.sign_in(&alice, "alice", "/").await.status, 302);
    let r = alice.get(&w.url("/admin/settings"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["path"], "/admin/settings");
    assert_eq!(r.upstream_header("x-forwarded-user"), ["alice"]);
    // Not on the list of the exact-path upstream.
    let r = alice.get(&w.url("/boss"), &[]).await;
    assert_eq!(r.status, 403);

    let bob = Browser::new();
    assert_eq!(w.sign_in(&bob, "bob", "/").await.status, 302);
    let cookie = bob.cookie("_oauth2_proxy").expect("session");
    let r = bob.get(&w.url("/admin/settings"), &[]).await;
    assert_eq!(r.status, 403);
    assert!(r.is_html());
    assert!(r.body.contains("not open to you"), "{}", r.body);
    assert!(r.set_cookies().is_empty(), "the session is kept");
    // Spelled so that only the app would see /admin/ in it.
    let r = bob.get(&w.url("/%61dmin/settings"), &[]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // Dot segments the app would resolve into /admin/ must pass the admins' rules too.
    let sent = format!("_oauth2_proxy={}", bob.cookie("_oauth2_proxy").unwrap());
    for target in [
        "/x/../admin/settings",
        "/x/%2e%2e/admin/settings",
        "/x/..%2fadmin/",
    ] {
        let status = raw_status(&w.proxy_url, target, Some(&sent)).await;
        assert!(matches!(status, 400 | 403), "{target}: {status}");
    }
    assert_eq!(
        raw_status(&w.proxy_url, "/x/settings", Some(&sent)).await,
        200
    );
    let r = bob
        .get(&w.url("/admin/settings"), &[("accept", "application/json")])
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["error"], "access_denied");
    // The session is good for the other upstreams.
    assert_eq!(bob.cookie("_oauth2_proxy"), Some(cookie));
    let r = bob.get(&w.url("/boss"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = bob.get(&w.url("/elsewhere"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.upstream_header("x-forwarded-user"), ["bob"]);

    // Forward-auth does not know which upstream the web server means: the upstream rules are
    // not its business; its query says the rules of a location.
    let r = bob.get(&w.url("/oauth2/auth"), &[]).await;
    assert_eq!(r.status, 202);
    let r = bob
        .get(&w.url("/oauth2/auth?allowed_groups=alice-team"), &[])
        .await;
    assert_eq!(r.status, 403);

    // Without a session: the sign-in page, as anywhere.
    let r = Browser::new().get(&w.url("/admin/settings"), &[]).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("action=\"/oauth2/start\""), "{}", r.body);
    w.stop().await;
}

#[tokio::test]
async fn proxy_wide_rules_still_come_first() {
    let w = World::start(|s| {
        s.email_domains = vec!["other.org".into()];
        let up = s.upstreams[0].trim_end_matches('/').to_owned();
        s.upstreams_with_rules = vec![UpstreamSettings {
            url: format!("{up}/open/"),
            rules: AccessRules {
                allowed_email_domains: vec!["example.com".into()],
                ..AccessRules::default()
            },
        }];
    })
    .await;
    let b = Browser::new();
    // The upstream would let alice in; the proxy-wide rule does not: no session is made.
    let r = w.sign_in(&b, "alice", "/open/x").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(b.cookie("_oauth2_proxy").is_none());
    let r = b.get(&w.url("/open/x"), &[]).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("action=\"/oauth2/start\""), "{}", r.body);
    w.stop().await;
}
