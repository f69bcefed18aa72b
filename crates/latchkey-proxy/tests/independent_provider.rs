//! End to end against an OpenID Provider that is not Latchkey's: panva's `oidc-provider`
//! (npm), run by `e2e/fixtures/oidc_provider.mjs` with the proxy as a confidential client.
//! What the proxy does with Latchkey's own issuers (flows.rs) must hold here too: the
//! upstream sees who signed in, forged headers are stripped, concurrent requests at expiry
//! make one refresh at the provider, sign-out and the provider's back-channel logout end the
//! session, and a new signing key is picked up by its `kid`. Besides: a refresh the provider
//! refuses, claims changed at the provider, a declined sign-in, its ID tokens as bearer
//! tokens, and ES256 and EdDSA keys from another implementation.
//!
//! Needs `node` on PATH and `e2e/node_modules` (`scripts/test.sh` runs `npm ci` in `e2e/`).

mod common;
#[path = "independent_provider/oidc_provider.rs"]
mod oidc_provider;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use latchkey_proxy::{Proxy, ProxySettings};
use latchkey_store::Store;
use latchkey_testkit::{Backend, Served, TestDb, bind_loopback, jwt_parts, master_key};
use oidc_provider::{Backchannel, CLIENT_ID, CLIENT_SECRET, Op, OpOptions};

/// A short token lifetime, for the tests that wait for it to pass, in seconds.
const TOKEN_TTL: u64 = 5;
/// Past it: the proxy counts whole seconds from the token answer.
const PAST_TTL: Duration = Duration::from_millis(TOKEN_TTL * 1000 + 1200);

/// The provider, the echo upstream and the proxy in front of it.
struct Setup {
    db: TestDb,
    store: Store,
    op: Op,
    upstream: Served,
    proxy: Served,
    proxy_url: String,
}

impl Setup {
    async fn start(options: OpOptions, tweak: impl FnOnce(&mut ProxySettings)) -> Setup {
        let db = TestDb::new(Backend::Sqlite).await;
        let store = db.store().await;
        let (upstream, upstream_url) = start_echo_upstream().await;
        // The proxy's address first: the provider registers its callback.
        let listener = bind_loopback(0).await;
        let proxy_url = format!("http://{}", listener.local_addr().unwrap());
        let op = Op::start(&proxy_url, &options);
        let mut settings = ProxySettings::new(
            "independent",
            &op.issuer,
            CLIENT_ID,
            Some(CLIENT_SECRET),
            &format!("{proxy_url}/oauth2/callback"),
        );
        settings.provider.scope = "openid email profile groups offline_access".into();
        settings.provider.timeout = Duration::from_secs(5);
        settings.cookie.secure = false;
        settings.email_domains = vec!["example.com".into()];
        settings.upstreams = vec![format!("{upstream_url}/")];
        tweak(&mut settings);
        let proxy = Proxy::new(settings, store.clone(), master_key()).expect("proxy");
        let proxy = Served::start(listener, latchkey_proxy::router(proxy));
        Setup {
            db,
            store,
            op,
            upstream,
            proxy,
            proxy_url,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.proxy_url)
    }

    /// Start at the proxy, sign in at the provider as `account` (or go straight through when
    /// the browser's provider session is still there), and come back to the callback: its
    /// answer.
    async fn sign_in(&self, browser: &Browser, account: &str, rd: &str) -> Resp {
        self.sign_in_answering(browser, &format!("account={account}"), rd)
            .await
    }

    /// The same, answering the provider's sign-in page with `answer` (its query).
    async fn sign_in_answering(&self, browser: &Browser, answer: &str, rd: &str) -> Resp {
        let start = browser
            .get(&self.url(&format!("/oauth2/start?rd={}", enc(rd))), &[])
            .await;
        assert_eq!(start.status, 302, "start: {}", start.body);
        let mut next = start.location();
        assert!(next.starts_with(&self.op.issuer), "{next}");
        assert!(next.contains("code_challenge_method=S256"), "{next}");
        let callback = self.url("/oauth2/callback");
        // /auth → /interaction (login) → /auth → /interaction (consent) → /auth → callback.
        for _ in 0..6 {
            if next.starts_with(&callback) {
                return browser.get(&next, &[]).await;
            }
            assert!(
                next.starts_with(&self.op.issuer),
                "left the provider: {next}"
            );
            if next.contains("/interaction/") {
                next = format!("{next}?{answer}");
            }
            let r = browser.get(&next, &[]).await;
            assert!(
                r.status == 302 || r.status == 303,
                "{next}: {} {}",
                r.status,
                r.body
            );
            next = self.op.absolute(&r.location());
        }
        panic!("the provider did not send the browser back: {next}");
    }

    async fn stop(self) {
        self.proxy.stop().await;
        self.upstream.stop().await;
        drop(self.op);
        self.store.close().await;
        self.db.cleanup().await;
    }
}

/// Whether `browser` still has a proxy session (forward-auth: 202, or 401).
async fn signed_in(s: &Setup, browser: &Browser) -> bool {
    let status = browser.get(&s.url("/oauth2/auth"), &[]).await.status;
    assert!(status == 202 || status == 401, "{status}");
    status == 202
}

#[tokio::test]
async fn sign_in_reaches_the_upstream_with_the_providers_claims_and_forged_ones_stripped() {
    let s = Setup::start(OpOptions::default(), |_| {}).await;
    let b = Browser::new();
    let r = b.get(&s.url("/app/page?x=1"), &[]).await;
    assert_eq!(r.status, 403, "the sign-in page");

    let r = s.sign_in(&b, "alice", "/app/page?x=1").await;
    assert_eq!(r.status, 302, "callback: {}", r.body);
    assert_eq!(r.location(), "/app/page?x=1");
    assert!(b.cookie("_oauth2_proxy").is_some());
    let counts = s.op.counts().await;
    assert_eq!(counts["authorization_code"], 1, "{counts}");
    assert_eq!(counts["grant_errors"], serde_json::json!([]), "{counts}");

    let forged = [
        ("X-Forwarded-User", "mallory"),
        ("X-Forwarded-Email", "mallory@example.com"),
        ("X-Forwarded-Groups", "admins"),
        ("X_Forwarded_Email", "mallory@example.com"),
        ("x-forwarded-preferred-username", "mallory"),
        ("X-Auth-Request-Email", "mallory@example.com"),
        ("X-Forwarded-Access-Token", "forged"),
    ];
    let r = b.get(&s.url("/app/page?x=1"), &forged).await;
    assert_upstream_identity(&r, "alice");
    assert_eq!(r.json()["path"], "/app/page?x=1");
    assert!(r.upstream_header("x_forwarded_email").is_empty());
    assert!(r.upstream_header("x-auth-request-email").is_empty());
    assert!(r.upstream_header("x-forwarded-access-token").is_empty());

    let r = b.get(&s.url("/oauth2/userinfo"), &[]).await;
    assert_eq!(
        r.json(),
        serde_json::json!({"user": "alice", "email": "alice@example.com",
            "groups": ["staff", "alice-team"], "preferredUsername": "alice"})
    );

    // The provider says Mallory's address is not verified: the e-mail rule does not pass.
    let m = Browser::new();
    let r = s.sign_in(&m, "mallory", "/").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(m.cookie("_oauth2_proxy").is_none());
    s.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_requests_after_the_access_token_expired_make_one_refresh() {
    let options = OpOptions {
        token_ttl: TOKEN_TTL,
        ..OpOptions::default()
    };
    let s = Setup::start(options, |p| p.headers.pass_access_token = true).await;
    let b = Arc::new(Browser::new());
    assert_eq!(s.sign_in(&b, "alice", "/").await.status, 302);
    let first = b.get(&s.url("/app"), &[]).await;
    assert_eq!(first.status, 200);
    let first_token = first.upstream_header("x-forwarded-access-token");
    assert_eq!(first_token.len(), 1);
    assert_eq!(s.op.count("refresh_token").await, 0);

    tokio::time::sleep(PAST_TTL).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let b = b.clone();
        let url = s.url(&format!("/app/{i}"));
        tasks.push(tokio::spawn(async move { b.get(&url, &[]).await }));
    }
    let mut tokens = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_upstream_identity(&r, "alice");
        tokens.insert(r.upstream_header("x-forwarded-access-token"));
    }
    let counts = s.op.counts().await;
    assert_eq!(
        counts["refresh_token"], 1,
        "exactly one refresh at the provider: {counts}"
    );
    assert_eq!(counts["grant_errors"], serde_json::json!([]), "{counts}");
    assert_eq!(tokens.len(), 1, "every request carried the new token");
    assert!(!tokens.contains(&first_token));

    // The provider rotates refresh tokens (an old one is refused): the proxy kept the new
    // one, so the next expiry refreshes again.
    tokio::time::sleep(PAST_TTL).await;
    let r = b.get(&s.url("/app"), &[]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let counts = s.op.counts().await;
    assert_eq!(counts["refresh_token"], 2, "{counts}");
    assert_eq!(counts["grant_errors"], serde_json::json!([]), "{counts}");
    s.stop().await;
}

/// What the provider says about a person reaches the upstream at the next refresh, and the
/// proxy's rules judge it again.
#[tokio::test]
async fn claims_changed_at_the_provider_apply_from_the_next_refresh() {
    let options = OpOptions {
        token_ttl: TOKEN_TTL,
        ..OpOptions::default()
    };
    let s = Setup::start(options, |p| p.allowed_groups = vec!["staff".into()]).await;
    let b = Browser::new();
    assert_eq!(s.sign_in(&b, "alice", "/").await.status, 302);
    let groups = |r: &Resp| r.upstream_header("x-forwarded-groups");
    assert_eq!(
        groups(&b.get(&s.url("/app"), &[]).await),
        ["staff,alice-team"]
    );

    s.op.set_claims("alice", serde_json::json!({"groups": ["staff", "admins"]}))
        .await;
    let r = b.get(&s.url("/app"), &[]).await;
    assert_eq!(groups(&r), ["staff,alice-team"], "until the tokens expire");
    tokio::time::sleep(PAST_TTL).await;
    let r = b.get(&s.url("/app"), &[]).await;
    assert_eq!(groups(&r), ["staff,admins"]);
    assert_eq!(s.op.count("refresh_token").await, 1);

    // Out of the allowed group: refused at the next refresh.
    s.op.set_claims("alice", serde_json::json!({"groups": ["contractors"]}))
        .await;
    assert!(signed_in(&s, &b).await);
    tokio::time::sleep(PAST_TTL).await;
    assert!(!signed_in(&s, &b).await, "the rules refuse the new groups");
    let r = b.get(&s.url("/app"), &[]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(s.op.count("refresh_token").await, 2);
    s.stop().await;
}

#[tokio::test]
async fn sign_out_ends_the_proxy_session() {
    let s = Setup::start(OpOptions::default(), |_| {}).await;
    let b = Browser::new();
    assert_eq!(s.sign_in(&b, "alice", "/").await.status, 302);
    let cookie = b.cookie("_oauth2_proxy").unwrap();
    assert!(signed_in(&s, &b).await);

    let r = b.get(&s.url("/oauth2/sign_out"), &[]).await;
    assert_eq!(r.status, 302);
    assert_eq!(r.location(), "/");
    assert!(b.cookie("_oauth2_proxy").is_none());
    assert!(!signed_in(&s, &b).await);
    // Ended server-side: the old cookie, replayed, opens nothing.
    let replay = Browser::new();
    replay.set_cookie("_oauth2_proxy", &cookie);
    assert!(!signed_in(&s, &replay).await);

    // The provider's session is still there: signing in again goes straight through.
    let before = s.op.count("authorization_code").await;
    assert_eq!(s.sign_in(&b, "alice", "/").await.status, 302);
    assert!(signed_in(&s, &b).await);
    assert_eq!(s.op.count("authorization_code").await, before + 1);
    s.stop().await;
}

async fn backchannel_logout_ends_the_session(backchannel: Backchannel) {
    let options = OpOptions {
        backchannel,
        token_ttl: TOKEN_TTL,
        ..OpOptions::default()
    };
    let s = Setup::start(options, |_| {}).await;
    // Alice in two browsers (two provider sessions), Bob in a third.
    let alice = Browser::new();
    let alice_phone = Browser::new();
    let bob = Browser::new();
    for (b, who) in [(&alice, "alice"), (&alice_phone, "alice"), (&bob, "bob")] {
        assert_eq!(s.sign_in(b, who, "/").await.status, 302);
        assert!(signed_in(&s, b).await);
    }
    // Alice's session is refreshed first: what the refreshed ID token says replaces what the
    // first one said, and the logout must still find her.
    tokio::time::sleep(PAST_TTL).await;
    assert_eq!(alice.get(&s.url("/app"), &[]).await.status, 200);
    assert_eq!(s.op.count("refresh_token").await, 1);

    s.op.end_session(&alice).await;
    let counts = s.op.counts().await;
    assert_eq!(counts["backchannel"], 1, "{counts}");
    assert_eq!(
        counts["backchannel_errors"],
        serde_json::json!([]),
        "{counts}"
    );
    assert!(
        !signed_in(&s, &alice).await,
        "the logout token ended her session"
    );
    assert!(signed_in(&s, &bob).await, "Bob's session is not his");
    // A logout token with a `sid` ends that provider session's proxy session only; one with
    // just the `sub` ends all of the person's.
    assert_eq!(
        signed_in(&s, &alice_phone).await,
        backchannel == Backchannel::Sid
    );
    assert_eq!(s.op.counts().await["grant_errors"], serde_json::json!([]));
    // And she signs in again at the provider, not silently.
    let r = alice.get(&s.url("/oauth2/start"), &[]).await;
    let r = alice.get(&r.location(), &[]).await;
    assert!(r.location().contains("/interaction/"), "{}", r.location());
    s.stop().await;
}

#[tokio::test]
async fn the_providers_backchannel_logout_with_a_sid_ends_that_session() {
    backchannel_logout_ends_the_session(Backchannel::Sid).await;
}

#[tokio::test]
async fn the_providers_backchannel_logout_with_a_sub_ends_the_persons_sessions() {
    backchannel_logout_ends_the_session(Backchannel::Sub).await;
}

/// Without back-channel logout, signing out at the provider revokes the grant: the proxy
/// learns it at the next refresh, which the provider refuses, and the session ends.
#[tokio::test]
async fn a_refresh_the_provider_refuses_ends_the_session() {
    let options = OpOptions {
        backchannel: Backchannel::Off,
        token_ttl: TOKEN_TTL,
        ..OpOptions::default()
    };
    let s = Setup::start(options, |_| {}).await;
    let alice = Browser::new();
    let bob = Browser::new();
    assert_eq!(s.sign_in(&alice, "alice", "/").await.status, 302);
    assert_eq!(s.sign_in(&bob, "bob", "/").await.status, 302);
    s.op.end_session(&alice).await;
    assert_eq!(s.op.count("backchannel").await, 0);
    assert!(signed_in(&s, &alice).await, "until her tokens expire");

    tokio::time::sleep(PAST_TTL).await;
    let r = alice.get(&s.url("/app"), &[]).await;
    assert_eq!(r.status, 403, "the sign-in page: {}", r.body);
    assert!(!signed_in(&s, &alice).await);
    let counts = s.op.counts().await;
    assert_eq!(counts["refresh_token"], 0, "{counts}");
    let errors = counts["grant_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{counts}");
    assert!(
        errors[0].as_str().unwrap().starts_with("refresh_token:"),
        "{counts}"
    );
    // Bob's refresh is not Alice's.
    assert!(signed_in(&s, &bob).await);
    assert_eq!(s.op.count("refresh_token").await, 1);
    s.stop().await;
}

#[tokio::test]
async fn a_provider_key_rotation_is_picked_up_by_its_new_kid() {
    let s = Setup::start(OpOptions::default(), |p| {
        p.headers.pass_authorization_header = true;
    })
    .await;
    let kid_seen = |r: &Resp| {
        let auth = r.upstream_header("authorization");
        assert_eq!(auth.len(), 1, "{auth:?}");
        let token = auth[0].strip_prefix("Bearer ").expect("Bearer");
        jwt_parts(token).0["kid"].as_str().unwrap().to_owned()
    };
    let alice = Browser::new();
    assert_eq!(s.sign_in(&alice, "alice", "/").await.status, 302);
    let r = alice.get(&s.url("/app"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(kid_seen(&r), "key-1");
    assert_eq!(s.op.count("jwks").await, 1, "read once, at discovery");

    let kid = s.op.rotate().await;
    assert_eq!(kid, "key-2");
    let bob = Browser::new();
    let r = s.sign_in(&bob, "bob", "/").await;
    assert_eq!(r.status, 302, "{}", r.body);
    let r = bob.get(&s.url("/app"), &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.upstream_header("x-forwarded-user"), ["bob"]);
    assert_eq!(kid_seen(&r), kid, "signed with the new key");
    assert_eq!(
        s.op.count("jwks").await,
        2,
        "an unknown kid: read again, once"
    );
    // Alice's session, signed in under the old key, carries on.
    assert_eq!(alice.get(&s.url("/app"), &[]).await.status, 200);
    s.stop().await;
}

#[tokio::test]
async fn a_sign_in_declined_at_the_provider_gets_a_clear_page() {
    let s = Setup::start(OpOptions::default(), |_| {}).await;
    let b = Browser::new();
    let r = s.sign_in_answering(&b, "decline", "/app").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.is_html() && r.body.contains("(access_denied)"),
        "{}",
        r.body
    );
    assert!(b.cookie("_oauth2_proxy").is_none());
    assert_eq!(s.op.count("authorization_code").await, 0);
    // The person can start again and get in.
    assert_eq!(s.sign_in(&b, "alice", "/app").await.location(), "/app");
    s.stop().await;
}

/// `skip_jwt_bearer_tokens`: the provider's ID token for the proxy passes as a bearer token;
/// the same token altered does not.
#[tokio::test]
async fn an_id_token_of_the_provider_passes_as_a_bearer_token() {
    let s = Setup::start(OpOptions::default(), |p| {
        p.headers.pass_authorization_header = true;
        p.skip_jwt_bearer_tokens = true;
        // oidc-provider's ID tokens carry no e-mail address (userinfo has it): a bearer
        // token, which brings no access to userinfo, is known by its `sub` alone.
        p.email_domains = vec!["*".into()];
    })
    .await;
    let alice = Browser::new();
    assert_eq!(s.sign_in(&alice, "alice", "/").await.status, 302);
    let r = alice.get(&s.url("/app"), &[]).await;
    let auth = r.upstream_header("authorization");
    let token = auth[0].strip_prefix("Bearer ").expect("the ID token");

    let api = Browser::new();
    let bearer = format!("Bearer {token}");
    let r = api
        .get(&s.url("/api/x"), &[("authorization", bearer.as_str())])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.upstream_header("x-forwarded-user"), ["alice"]);
    assert!(api.cookie("_oauth2_proxy").is_none(), "no session made");

    let (head, sig) = token.rsplit_once('.').unwrap();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    let forged = format!("Bearer {head}.{flipped}{}", &sig[1..]);
    let r = api
        .get(
            &s.url("/api/x"),
            &[
                ("authorization", forged.as_str()),
                ("accept", "application/json"),
            ],
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.body);
    s.stop().await;
}

/// The other algorithms the proxy accepts, from another implementation's keys: ID tokens
/// and logout tokens signed with ES256 and with EdDSA (Ed25519).
#[tokio::test]
async fn es256_and_eddsa_signed_tokens_are_verified() {
    for alg in ["ES256", "EdDSA"] {
        let options = OpOptions {
            signing_alg: alg,
            ..OpOptions::default()
        };
        let s = Setup::start(options, |p| p.headers.pass_authorization_header = true).await;
        let b = Browser::new();
        let r = s.sign_in(&b, "alice", "/").await;
        assert_eq!(r.status, 302, "{alg}: {}", r.body);
        let r = b.get(&s.url("/app"), &[]).await;
        assert_upstream_identity(&r, "alice");
        let auth = r.upstream_header("authorization");
        let token = auth[0].strip_prefix("Bearer ").expect("the ID token");
        assert_eq!(jwt_parts(token).0["alg"], alg);

        s.op.end_session(&b).await;
        let counts = s.op.counts().await;
        assert_eq!(counts["backchannel"], 1, "{alg}: {counts}");
        assert!(
            !signed_in(&s, &b).await,
            "{alg}: the logout token was accepted"
        );
        s.stop().await;
    }
}
