//! `--skip-jwt-bearer-tokens`: an ID token of the provider for the proxy's client (or of an
//! extra issuer for its audience) passes without a session; other tokens do not.

mod common;

use common::*;
use latchkey_oidc::clients::{NewClient, create_client};
use latchkey_oidc::jose::Alg;
use latchkey_store::IssuerId;
use latchkey_testkit::{Pkce, authorize_url, code_grant, http_client, post_form_json};
use serde_json::json;

/// An ID token for `user` from the provider, for client `id`.
async fn id_token(w: &World, id: &str, secret: &str, redirect: &str, user: &str) -> String {
    let pkce = Pkce::new();
    let url = authorize_url(
        &w.op_url,
        id,
        redirect,
        "openid email",
        &pkce,
        &[("nonce", "n")],
    );
    let http = http_client();
    let r = http.get(url).header(USER, user).send().await.unwrap();
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let code = url::Url::parse(&location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let (status, body) = post_form_json(
        &http,
        &format!("{}/token", w.op_url),
        id,
        secret,
        &code_grant(&code, redirect, &pkce),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["id_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn bearer_id_tokens_pass_without_a_session() {
    // Another client of the same provider, named as an extra issuer's audience.
    let w = World::start(|s| {
        s.skip_jwt_bearer_tokens = true;
    })
    .await;
    let other = create_client(
        &w.store,
        &IssuerId::from("idp"),
        NewClient {
            name: "cli".into(),
            redirect_uris: vec!["http://127.0.0.1:9/cb".into()],
            post_logout_redirect_uris: vec![],
            public: false,
            id_token_alg: Alg::ES256,
            metadata: json!({}),
        },
    )
    .await
    .unwrap();
    let other_id = other.client.id.0.clone();
    let other_secret = other.secret.unwrap();

    let callback = format!("{}/oauth2/callback", w.proxy_url);
    let ours = id_token(&w, &w.client_id, &w.client_secret, &callback, "alice").await;
    let b = Browser::new();
    let r = b
        .get(
            &w.url("/app"),
            &[("Authorization", &format!("Bearer {ours}"))],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.upstream_header("x-forwarded-user"), ["alice"]);
    assert_eq!(
        r.upstream_header("x-forwarded-email"),
        ["alice@example.com"]
    );
    assert!(b.cookie("_oauth2_proxy").is_none(), "no session was made");
    // Forward-auth takes it too.
    let r = b
        .get(
            &w.url("/oauth2/auth"),
            &[("Authorization", &format!("Bearer {ours}"))],
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.body);

    // Another audience: refused, unless it is an extra issuer's.
    let theirs = id_token(
        &w,
        &other_id,
        &other_secret,
        "http://127.0.0.1:9/cb",
        "alice",
    )
    .await;
    let r = b
        .get(
            &w.url("/app"),
            &[("Authorization", &format!("Bearer {theirs}"))],
        )
        .await;
    assert_ne!(r.status, 200, "another client's token");
    let tampered = format!("{}x", &ours[..ours.len() - 1]);
    let r = b
        .get(
            &w.url("/app"),
            &[("Authorization", &format!("Bearer {tampered}"))],
        )
        .await;
    assert_ne!(r.status, 200, "a token whose signature is broken");
    let r = b
        .get(&w.url("/app"), &[("Authorization", "Bearer a.b.c")])
        .await;
    assert_ne!(r.status, 200, "garbage");

    // A replica that names the other client as an extra issuer's audience takes its token.
    let extra = format!("{}={other_id}", w.op_url);
    let (_replica, replica_url) = w
        .replica(move |s| {
            s.skip_jwt_bearer_tokens = true;
            s.extra_jwt_issuers = vec![extra];
        })
        .await;
    let r = b
        .get(
            &format!("{replica_url}/app"),
            &[("Authorization", &format!("Bearer {theirs}"))],
        )
        .await;
    assert_eq!(r.status, 200, "an extra issuer's audience: {}", r.body);
    assert_eq!(r.upstream_header("x-forwarded-user"), ["alice"]);
    w.stop().await;
}
