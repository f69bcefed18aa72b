//! End to end: Latchkey's OpenID Provider, the proxy and an upstream, all in process.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use latchkey_testkit::Backend;

#[tokio::test]
async fn sign_in_reaches_the_upstream_with_identity_headers_and_forged_ones_stripped() {
    let w = World::start(|_| {}).await;
    let b = Browser::new();

    // Not signed in: the sign-in page (403, as oauth2-proxy), leading to start.
    let r = b.get(&w.url("/app/page?x=1"), &[]).await;
    assert_eq!(r.status, 403);
    assert!(r.is_html());
    assert!(r.body.contains("Sign in with OpenID Connect"), "{}", r.body);
    assert!(r.body.contains("action=\"/oauth2/start\""), "{}", r.body);
    assert!(r.body.contains("value=\"/app/page?x=1\""), "{}", r.body);

    let r = w.sign_in(&b, "alice", "/app/page?x=1").await;
    assert_eq!(r.status, 302, "callback: {}", r.body);
    assert_eq!(r.location(), "/app/page?x=1");
    assert!(b.cookie("_oauth2_proxy").is_some());
    assert!(
        b.cookie("_oauth2_proxy_csrf").is_none(),
        "the CSRF cookie is cleared"
    );
    let session_cookie = r
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("_oauth2_proxy="))
        .unwrap();
    assert!(session_cookie.contains("HttpOnly"), "{session_cookie}");
    assert!(session_cookie.contains("SameSite=Lax"), "{session_cookie}");
    assert!(
        session_cookie.contains("Max-Age=604800"),
        "{session_cookie}"
    );

    let forged = [
        ("X-Forwarded-User", "mallory"),
        ("X-Forwarded-Email", "mallory@example.com"),
        ("X_Forwarded_Groups", "admins"),
        ("x-forwarded-preferred-username", "mallory"),
        ("X-Auth-Request-User", "mallory"),
        ("X-Forwarded-Access-Token", "forged"),
        ("X-Forwarded-For", "203.0.113.9"),
        ("X-Forwarded-Host", "evil.example"),
        ("X-Forwarded-Proto", "https"),
        ("X-Real-IP", "203.0.113.9"),
        ("Forwarded", "for=203.0.113.9;host=evil.example"),
    ];
    let r = b.get(&w.url("/app/page?x=1"), &forged).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["path"], "/app/page?x=1");
    assert_eq!(r.upstream_header("x-forwarded-user"), ["alice"]);
    assert_eq!(
        r.upstream_header("x-forwarded-email"),
        ["alice@example.com"]
    );
    assert_eq!(
        r.upstream_header("x-forwarded-groups"),
        ["staff,alice-team"]
    );
    assert_eq!(
        r.upstream_header("x-forwarded-preferred-username"),
        ["alice"]
    );
    assert!(r.upstream_header("x_forwarded_groups").is_empty());
    assert!(r.upstream_header("x-auth-request-user").is_empty());
    assert!(r.upstream_header("x-forwarded-access-token").is_empty());
    // The proxy's cookies are not the app's.
    assert!(
        r.upstream_header("cookie").is_empty(),
        "{:?}",
        r.upstream_header("cookie")
    );
    // Where the request came from is ours to say, not the client's.
    assert_eq!(r.upstream_header("x-forwarded-for"), ["127.0.0.1"]);
    let host = w.proxy_url.trim_start_matches("http://").to_owned();
    assert_eq!(r.upstream_header("x-forwarded-host"), [host]);
    assert_eq!(r.upstream_header("x-forwarded-proto"), ["http"]);
    assert!(r.upstream_header("x-real-ip").is_empty());
    assert!(r.upstream_header("forwarded").is_empty());

    // userinfo, as oauth2-proxy answers it.
    let r = b.get(&w.url("/oauth2/userinfo"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"user": "alice", "email": "alice@example.com",
            "groups": ["staff", "alice-team"], "preferredUsername": "alice"})
    );
    let r = Browser::new()
        .get(
            &w.url("/oauth2/userinfo"),
            &[("accept", "application/json")],
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "unauthorized");
    w.stop().await;
}

#[tokio::test]
async fn forward_auth_answers_as_oauth2_proxy() {
    let w = World::start(|s| s.headers.set_xauthrequest = true).await;
    let b = Browser::new();

    let r = b.get(&w.url("/oauth2/auth"), &[]).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.body, "Unauthorized\n");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert!(r.header("location").is_none());

    w.sign_in(&b, "alice", "/").await;
    let r = b.get(&w.url("/oauth2/auth"), &[]).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.body, "");
    assert_eq!(r.header("gap-auth"), Some("alice@example.com"));
    assert_eq!(r.header("x-auth-request-user"), Some("alice"));
    assert_eq!(r.header("x-auth-request-email"), Some("alice@example.com"));
    assert_eq!(r.header("x-auth-request-groups"), Some("staff,alice-team"));
    assert_eq!(r.header("x-auth-request-preferred-username"), Some("alice"));
    assert!(r.header("cache-control").is_none(), "no no-cache headers");
    assert!(r.set_cookies().is_empty());
    // Any method.
    let r = b
        .send(reqwest::Client::new().post(w.url("/oauth2/auth")), &[])
        .await;
    assert_eq!(r.status, 202);

    // The request's own rules: 403 when unmet (any-of, comma-separated).
    for (q, status) in [
        ("allowed_groups=admins,alice-team", 202),
        ("allowed_groups=admins", 403),
        ("allowed_emails=bob@example.com", 403),
        ("allowed_emails=bob@example.com,alice@example.com", 202),
        ("allowed_email_domains=example.org", 403),
        (
            "allowed_email_domains=example.com&allowed_groups=staff",
            202,
        ),
    ] {
        let r = b.get(&w.url(&format!("/oauth2/auth?{q}")), &[]).await;
        assert_eq!(r.status, status, "{q}: {}", r.body);
    }

    // A replica whose rules this session fails: 401 and the cookie cleared (not 403).
    let (strict, strict_url) = w
        .replica(|s| s.allowed_groups = vec!["admins".into()])
        .await;
    let r = b.get(&format!("{strict_url}/oauth2/auth"), &[]).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.set_cookies()
            .iter()
            .any(|c| c.starts_with("_oauth2_proxy=;") && c.contains("Max-Age=0")),
        "{:?}",
        r.set_cookies()
    );
    strict.stop().await;

    // Envoy's ext_authz wants 200.
    let (envoy, envoy_url) = w.replica(|s| s.auth_answers_200 = true).await;
    let b2 = Browser::new();
    let r = w.sign_in(&b2, "bob", "/").await;
    assert_eq!(r.status, 302);
    let r = b2.get(&format!("{envoy_url}/oauth2/auth"), &[]).await;
    assert_eq!(r.status, 200);
    envoy.stop().await;
    w.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_requests_at_refresh_time_make_one_refresh() {
    let w = World::start(|s| {
        s.cookie.refresh = Duration::from_secs(2);
        s.headers.pass_access_token = true;
    })
    .await;
    let b = Arc::new(Browser::new());
    w.sign_in(&b, "alice", "/").await;
    let before = one_refresh_for_twenty(&w, &b, &[]).await;

    // The session still works afterwards (the rotated refresh token was kept).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = b.get(&w.url("/oauth2/auth"), &[]).await;
    assert_eq!(r.status, 202);
    assert!(
        r.set_cookies()
            .iter()
            .any(|c| c.starts_with("_oauth2_proxy=")),
        "Set-Cookie on /oauth2/auth after a refresh"
    );
    assert_eq!(w.tokens() - before, 2);
    w.stop().await;
}

/// Two replicas on PostgreSQL, the concurrent requests shared between them: still one
/// refresh (the lease is the database's, not a process's).
#[tokio::test]
async fn replicas_on_postgresql_share_one_refresh() {
    let w = World::start_on(Backend::Postgres, |s| {
        s.cookie.refresh = Duration::from_secs(2);
        s.headers.pass_access_token = true;
    })
    .await;
    let (replica, replica_url) = w.replica(|_| {}).await;
    let b = Arc::new(Browser::new());
    w.sign_in(&b, "alice", "/").await;
    let before = w.tokens();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (tokens, _) = twenty_at_once(&b, &[w.url("/app"), format!("{replica_url}/app")]).await;
    assert_eq!(
        w.tokens() - before,
        1,
        "exactly one refresh at the provider"
    );
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    replica.stop().await;
    w.stop().await;
}

#[tokio::test]
async fn tampered_truncated_and_replayed_cookies_are_refused() {
    let w = World::start(|_| {}).await;
    let b = Browser::new();
    w.sign_in(&b, "alice", "/").await;
    let good = b.cookie("_oauth2_proxy").unwrap();
    assert_eq!(b.get(&w.url("/oauth2/auth"), &[]).await.status, 202);

    let mut flipped = good.clone().into_bytes();
    let i = flipped.len() / 2;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    for bad in [
        flipped.as_str(),
        &good[..good.len() - 2],
        &good[..10],
        "",
        "garbage",
        &format!("{good}x"),
    ] {
        let other = Browser::new();
        other.set_cookie("_oauth2_proxy", bad);
        let r = other.get(&w.url("/oauth2/auth"), &[]).await;
        assert_eq!(r.status, 401, "{bad:?}");
        let r = other.get(&w.url("/app"), &[]).await;
        assert_eq!(r.status, 403, "{bad:?}: the sign-in page");
    }

    // Sign-out ends the session server-side: the old cookie, replayed, is refused.
    let r = b.get(&w.url("/oauth2/sign_out"), &[]).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.location(), "/");
    assert!(b.cookie("_oauth2_proxy").is_none());
    let replay = Browser::new();
    replay.set_cookie("_oauth2_proxy", &good);
    let r = replay.get(&w.url("/oauth2/auth"), &[]).await;
    assert_eq!(r.status, 401);
    assert!(r.set_cookies().iter().any(|c| c.contains("Max-Age=0")));

    // A cookie of another proxy (another id) on the same store does not open here.
    let (other, other_url) = w.replica(|s| s.id = "other".into()).await;
    let r = Browser::new();
    w.sign_in(&r, "bob", "/").await;
    let bob = Browser::new();
    bob.set_cookie("_oauth2_proxy", &r.cookie("_oauth2_proxy").unwrap());
    assert_eq!(
        bob.get(&format!("{other_url}/oauth2/auth"), &[])
            .await
            .status,
        401
    );
    other.stop().await;
    w.stop().await;
}

#[tokio::test]
async fn sign_in_makes_a_new_session_and_the_callback_is_bound_to_the_browser() {
    let w = World::start(|_| {}).await;
    let b = Browser::new();
    w.sign_in(&b, "alice", "/").await;
    let before = b.cookie("_oauth2_proxy").unwrap();
    // Signing in again gives a new reference; the old one is ended.
    w.sign_in(&b, "alice", "/").await;
    let after = b.cookie("_oauth2_proxy").unwrap();
    assert_ne!(before, after);
    let old = Browser::new();
    old.set_cookie("_oauth2_proxy", &before);
    assert_eq!(old.get(&w.url("/oauth2/auth"), &[]).await.status, 401);

    // A callback in a browser that did not start the sign-in is refused.
    let start = b.get(&w.url("/oauth2/start"), &[]).await;
    let op = b.get(&start.location(), &[(USER, "alice")]).await;
    let callback = op.location();
    let stranger = Browser::new();
    let r = stranger.get(&callback, &[]).await;
    assert_eq!(r.status, 403);
    assert!(
        r.is_html() && r.body.contains("Sign-in expired"),
        "{}",
        r.body
    );
    assert!(stranger.cookie("_oauth2_proxy").is_none());
    // A state that is not the one started here.
    let tampered = callback.replace("state=", "state=x");
    let r = b.get(&tampered, &[]).await;
    assert_eq!(r.status, 403);
    // The code was not used: the right browser still completes... once.
    let start = b.get(&w.url("/oauth2/start"), &[]).await;
    let op = b.get(&start.location(), &[(USER, "alice")]).await;
    let callback = op.location();
    assert_eq!(b.get(&callback, &[]).await.status, 302);
    let r = b.get(&callback, &[]).await;
    assert_eq!(r.status, 403, "the CSRF cookie is single use");

    // An unverified address does not pass the e-mail rules.
    let m = Browser::new();
    let r = w.sign_in(&m, "mallory", "/").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("Permission denied"), "{}", r.body);
    assert!(m.cookie("_oauth2_proxy").is_none());
    w.stop().await;
}

#[tokio::test]
async fn open_redirects_are_refused() {
    let w = World::start(|_| {}).await;
    let b = Browser::new();
    for rd in [
        "//evil.com",
        "https://evil.com",
        "HTTPS://EVIL.COM/",
        "/\\evil.com",
        "%2F%2Fevil.com",
        "/%2F/evil.com",
        "/%5Cevil.com",
        "https:evil.com",
        "https://app.example.org@evil.com/",
        "/\t/evil.com",
        "javascript:alert(1)",
    ] {
        let r = b
            .get(&w.url(&format!("/oauth2/sign_out?rd={}", enc(rd))), &[])
            .await;
        assert_eq!(r.status, 302, "{rd}");
        assert_eq!(r.location(), "/", "{rd:?} was followed");
        let r = b
            .get(
                &w.url("/oauth2/sign_out"),
                &[("x-auth-request-redirect", rd)],
            )
            .await;
        assert_eq!(r.location(), "/", "{rd:?} in X-Auth-Request-Redirect");
    }
    let r = b
        .get(
            &w.url("/oauth2/sign_out?rd=https%3A%2F%2Fapp.example.org%2Fbye"),
            &[],
        )
        .await;
    assert_eq!(r.location(), "https://app.example.org/bye");
    // The same at sign-in: the target travels sealed and is checked at both ends.
    let r = w.sign_in(&b, "alice", "//evil.com/x").await;
    assert_eq!(r.location(), "/");
    let r = w.sign_in(&b, "alice", "https://app.example.org/x").await;
    assert_eq!(r.location(), "https://app.example.org/x");
    // A path that reads as another origin is not offered by the sign-in page either.
    let r = Browser::new().get(&w.url("//evil.com/x"), &[]).await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("name=\"rd\" value=\"/\""), "{}", r.body);
    w.stop().await;
}

#[tokio::test]
async fn skip_auth_and_api_routes() {
    let w = World::start(|s| {
        s.skip_auth_routes = vec!["GET=^/public/".into()];
        s.api_routes = vec!["^/api/".into()];
    })
    .await;
    let b = Browser::new();
    let r = b
        .get(&w.url("/public/x"), &[("x-forwarded-user", "mallory")])
        .await;
    assert_eq!(r.status, 200);
    assert!(
        r.upstream_header("x-forwarded-user").is_empty(),
        "forged header stripped"
    );
    for path in [
        "/public/../admin",
        "/public/%2e%2e/admin",
        "/public%2f..%2fadmin",
    ] {
        let r = b.get(&w.url(path), &[]).await;
        assert_ne!(r.status, 200, "{path}");
    }
    let r = b
        .send(reqwest::Client::new().post(w.url("/public/x")), &[])
        .await;
    assert_eq!(r.status, 403, "GET only");
    let r = b.get(&w.url("/api/v1"), &[]).await;
    assert_eq!(r.status, 401);
    let r = b
        .get(&w.url("/app"), &[("accept", "application/json")])
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"], "unauthorized");
    // Signed in, a skipped route still gets the identity.
    w.sign_in(&b, "alice", "/").await;
    let r = b.get(&w.url("/public/x"), &[]).await;
    assert_eq!(r.upstream_header("x-forwarded-user"), ["alice"]);
    w.stop().await;
}

#[tokio::test]
async fn a_provider_key_rotation_is_picked_up_by_its_new_kid() {
    let w = World::start(|_| {}).await;
    let b = Browser::new();
    assert_eq!(w.sign_in(&b, "alice", "/").await.status, 302);
    assert_eq!(w.jwks_reads(), 1, "read once, at discovery");
    assert_eq!(w.sign_in(&b, "alice", "/").await.status, 302);
    assert_eq!(w.jwks_reads(), 1, "and kept");

    latchkey_oidc::keyring::rotate(
        &w.store,
        &latchkey_store::IssuerId::from("idp"),
        latchkey_oidc::jose::Alg::ES256,
        &latchkey_testkit::master_key(),
        600,
    )
    .await
    .unwrap();
    w.provider.keys.reload().await.unwrap();
    let r = w.sign_in(&b, "bob", "/").await;
    assert_eq!(r.status, 302, "{}", r.body);
    assert_eq!(
        w.jwks_reads(),
        2,
        "an unknown kid: the JWKS read again, once"
    );
    let r = b.get(&w.url("/oauth2/userinfo"), &[]).await;
    assert_eq!(r.json()["user"], "bob");
    assert_eq!(w.sign_in(&b, "carol", "/").await.status, 302);
    assert_eq!(w.jwks_reads(), 2);

    // Another rotation at once: reads for unknown kids are rate-limited (one per 10 s), so
    // this sign-in fails cleanly rather than sending the proxy after every made-up kid.
    latchkey_oidc::keyring::rotate(
        &w.store,
        &latchkey_store::IssuerId::from("idp"),
        latchkey_oidc::jose::Alg::ES256,
        &latchkey_testkit::master_key(),
        600,
    )
    .await
    .unwrap();
    w.provider.keys.reload().await.unwrap();
    let r = w.sign_in(&Browser::new(), "dave", "/").await;
    assert_eq!(r.status, 403);
    assert!(
        r.is_html() && r.body.contains("Sign-in failed"),
        "{}",
        r.body
    );
    assert_eq!(w.jwks_reads(), 2);
    w.stop().await;
}

#[tokio::test]
async fn health_paths_and_robots() {
    let w = World::start(|_| {}).await;
    let b = Browser::new();
    let r = b.get(&w.url("/ping"), &[]).await;
    assert_eq!((r.status, r.body.as_str()), (200, "OK"));
    let r = b.get(&w.url("/ready"), &[]).await;
    assert_eq!((r.status, r.body.as_str()), (200, "OK"));
    let r = b.get(&w.url("/robots.txt"), &[]).await;
    assert_eq!(r.body, "User-agent: *\nDisallow: /\n");
    // The health check's User-Agent alone opens nothing (GHSA-5hvv-m4w4-gf6v).
    let r = b
        .get(&w.url("/app"), &[("user-agent", "kube-probe/1.30")])
        .await;
    assert_eq!(r.status, 403);
    let r = b.get(&w.url("/oauth2/nothing"), &[]).await;
    assert_eq!(r.status, 404);
    let r = b.get(&w.url("/oauth2/assets/latchkey.css"), &[]).await;
    assert_eq!(r.status, 200);
    w.stop().await;
}

#[tokio::test]
async fn provider_down_or_silent_gives_a_clear_page_within_the_timeout() {
    // A provider that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    // And one that is not there at all.
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone_url = format!("http://{}", gone.local_addr().unwrap());
    drop(gone);

    let w = World::start(|_| {}).await;
    for issuer in [silent_url, gone_url] {
        let (p, url) = w
            .replica(|s| {
                s.provider.issuer_url = issuer.clone();
                s.provider.timeout = Duration::from_secs(1);
            })
            .await;
        let b = Browser::new();
        let t = Instant::now();
        let r = b.get(&format!("{url}/oauth2/start"), &[]).await;
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "{issuer}: {:?}",
            t.elapsed()
        );
        assert_eq!(r.status, 503, "{issuer}");
        assert!(
            r.is_html() && r.body.contains("Sign-in is not available"),
            "{}",
            r.body
        );
        // A second try within seconds is answered at once.
        let t = Instant::now();
        let r = b
            .get(
                &format!("{url}/oauth2/start"),
                &[("accept", "application/json")],
            )
            .await;
        assert!(t.elapsed() < Duration::from_millis(500));
        assert_eq!(r.status, 503);
        assert_eq!(r.json()["error"], "provider_unavailable");
        p.stop().await;
    }
    hold.abort();
    w.stop().await;
}

#[tokio::test]
async fn upstream_down_gives_a_502_page() {
    let gone = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gone_url = format!("http://{}/", gone.local_addr().unwrap());
    drop(gone);
    let w = World::start(move |s| s.upstreams = vec![gone_url]).await;
    let b = Browser::new();
    w.sign_in(&b, "alice", "/").await;
    let r = b.get(&w.url("/app"), &[]).await;
    assert_eq!(r.status, 502);
    assert!(
        r.is_html() && r.body.contains("not answering"),
        "{}",
        r.body
    );
    w.stop().await;
}

/// RFC 9207: the provider names itself in its answer (`iss`); an answer naming another
/// issuer is refused, even with the right state (a mix-up attack), and nothing is signed in.
#[tokio::test]
async fn an_answer_from_another_issuer_is_refused() {
    let w = World::start(|_| {}).await;
    let b = Browser::new();
    let start = b.get(&w.url("/oauth2/start?rd=%2F"), &[]).await;
    let op = b.get(&start.location(), &[(USER, "alice")]).await;
    let callback = op.location();
    let ours = format!("iss={}", enc(&w.op_url));
    assert!(callback.contains(&ours), "{callback}");
    let forged = callback.replace(&ours, &format!("iss={}", enc("https://evil.example")));
    let r = b.get(&forged, &[]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("another identity provider"), "{}", r.body);
    assert_eq!(b.get(&w.url("/oauth2/auth"), &[]).await.status, 401);
    // A sign-in started afresh works.
    assert_eq!(w.sign_in(&b, "alice", "/").await.status, 302);
    assert_eq!(b.get(&w.url("/oauth2/auth"), &[]).await.status, 202);
}
