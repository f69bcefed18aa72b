//! Signing out at the provider too: RP-initiated logout against Latchkey's own engine, and
//! oauth2-proxy's `--backend-logout-url`.

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use common::{Browser, World, enc};
use latchkey_testkit::{Served, bind_loopback};

/// A stand-in for a backend logout URL: it keeps the `id_token` of each call.
async fn recorder() -> (Served, String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/logout",
            axum::routing::get(
                |State(seen): State<Arc<Mutex<Vec<String>>>>,
                 Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    seen.lock()
                        .unwrap()
                        .push(q.get("token").cloned().unwrap_or_default());
                    "ok"
                },
            ),
        )
        .with_state(seen.clone());
    let listener = bind_loopback(0).await;
    let url = format!("http://{}", listener.local_addr().unwrap());
    (Served::start(listener, app), url, seen)
}

/// `/oauth2/sign_out?rd=…` from `b`.
async fn sign_out(w: &World, b: &Browser, rd: &str) -> common::Resp {
    b.get(&w.url(&format!("/oauth2/sign_out?rd={}", enc(rd))), &[])
        .await
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn sign_out_ends_the_provider_session_and_comes_back() {
    let (backend, backend_url, seen) = recorder().await;
    let w = World::start(|s| {
        s.sign_out_at_provider = true;
        s.backend_logout_url = Some(format!("{backend_url}/logout?token={{id_token}}"));
    })
    .await;
    let b = Browser::new();
    let r = w.sign_in(&b, "alice", "/app").await;
    assert_eq!(r.status, 302, "{}", r.body);

    // With a whitelisted `rd` registered at the provider: to the provider with the hint,
    // then back to `rd`.
    let r = sign_out(&w, &b, "https://app.example.org/bye").await;
    assert_eq!(r.status, 302);
    assert!(b.cookie("_oauth2_proxy").is_none(), "the cookie is cleared");
    let to_provider = r.location();
    assert!(
        to_provider.starts_with(&format!("{}/end-session?", w.op_url)),
        "{to_provider}"
    );
    let hint = query_param(&to_provider, "id_token_hint").expect("id_token_hint");
    assert_eq!(hint.split('.').count(), 3, "a JWT: {hint}");
    assert_eq!(
        query_param(&to_provider, "client_id").as_deref(),
        Some(w.client_id.as_str())
    );
    assert_eq!(
        query_param(&to_provider, "post_logout_redirect_uri").as_deref(),
        Some("https://app.example.org/bye")
    );
    // The provider takes the hint (no confirmation page) and sends the browser back.
    let r = b.get(&to_provider, &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), "https://app.example.org/bye");
    // The backend logout URL got the same ID token.
    assert_eq!(seen.lock().unwrap().as_slice(), std::slice::from_ref(&hint));
    // The proxy's session is over.
    let r = b.get(&w.url("/oauth2/auth"), &[]).await;
    assert_eq!(r.status, 401);

    // Without `rd`: back to the proxy's sign-in page.
    w.sign_in(&b, "alice", "/app").await;
    let r = b.get(&w.url("/oauth2/sign_out"), &[]).await;
    let to_provider = r.location();
    let sign_in_page = w.url("/oauth2/sign_in");
    assert_eq!(
        query_param(&to_provider, "post_logout_redirect_uri").as_deref(),
        Some(sign_in_page.as_str())
    );
    let r = b.get(&to_provider, &[]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.location(), sign_in_page);
    assert_eq!(seen.lock().unwrap().len(), 2);

    // An `rd` the redirect policy refuses is never handed to the provider.
    w.sign_in(&b, "alice", "/app").await;
    let r = sign_out(&w, &b, "https://evil.com/").await;
    assert_eq!(
        query_param(&r.location(), "post_logout_redirect_uri").as_deref(),
        Some(sign_in_page.as_str())
    );

    // No session: nothing to end at the provider; the usual redirect.
    let r = b.get(&w.url("/oauth2/sign_out"), &[]).await;
    assert_eq!((r.status, r.location().as_str()), (302, "/"));
    assert_eq!(seen.lock().unwrap().len(), 3);

    // A whitelisted address the provider does not know: the provider refuses it (the
    // operator registers the addresses first), and the proxy's session is over all the same.
    w.sign_in(&b, "alice", "/app").await;
    let r = sign_out(&w, &b, "https://app.example.org/elsewhere").await;
    let r = b.get(&r.location(), &[]).await;
    assert_eq!(r.status, 400);
    assert_eq!(b.get(&w.url("/oauth2/auth"), &[]).await.status, 401);

    w.stop().await;
    backend.stop().await;
}

/// Off by default (oauth2-proxy's behaviour): sign-out stays at the proxy.
#[tokio::test]
async fn without_sign_out_at_provider_the_provider_is_not_involved() {
    let w = World::start(|_| {}).await;
    let b = Browser::new();
    w.sign_in(&b, "alice", "/app").await;
    let r = sign_out(&w, &b, "https://app.example.org/bye").await;
    assert_eq!(
        (r.status, r.location().as_str()),
        (302, "https://app.example.org/bye")
    );
    w.stop().await;
}

#[test]
fn a_backend_logout_url_must_be_http() {
    let mut s = common::offline_settings();
    s.backend_logout_url = Some("https://id.example.com/logout?id_token_hint={id_token}".into());
    latchkey_proxy::check_settings(&s).unwrap();
    s.backend_logout_url = Some("ftp://x/{id_token}".into());
    let e = latchkey_proxy::check_settings(&s).unwrap_err();
    assert_eq!(e.option, "backend-logout-url");
}
