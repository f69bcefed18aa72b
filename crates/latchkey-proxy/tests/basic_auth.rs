//! `Authorization` for apps that read who is signed in from it: Basic with the person and a
//! shared password (`--pass-basic-auth` to the upstream, `--set-basic-auth` on forward-auth
//! answers), and the ID token as a bearer on forward-auth answers
//! (`--set-authorization-header`).

mod common;

use base64::Engine as _;
use common::*;

fn basic(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[tokio::test]
async fn basic_auth_reaches_the_upstream_and_forward_auth_answers() {
    let w = World::start(|s| {
        s.headers.basic_auth_password = Some("app-trusts-the-proxy".into());
        s.headers.set_basic_auth = true;
    })
    .await;
    let b = Browser::new();
    w.sign_in(&b, "alice", "/").await;
    // The client's own Authorization is replaced, never passed on as the person's.
    let forged = [("authorization", "Basic YWRtaW46YWRtaW4=")];
    let r = b.get(&w.url("/app"), &forged).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.upstream_header("authorization"),
        [basic("alice", "app-trusts-the-proxy")]
    );
    let auth = b.get(&w.url("/oauth2/auth"), &[]).await;
    assert_eq!(auth.status, 202);
    assert_eq!(
        auth.header("authorization"),
        Some(basic("alice", "app-trusts-the-proxy").as_str())
    );
    w.stop().await;

    // With --prefer-email-to-user the e-mail address is the user; without a password no
    // header is made up (oauth2-proxy would send `user:`).
    let w = World::start(|s| {
        s.headers.basic_auth_password = Some("pw".into());
        s.headers.prefer_email_to_user = true;
    })
    .await;
    let b = Browser::new();
    w.sign_in(&b, "alice", "/").await;
    let r = b.get(&w.url("/app"), &[]).await;
    assert_eq!(
        r.upstream_header("authorization"),
        [basic("alice@example.com", "pw")]
    );
    assert!(
        b.get(&w.url("/oauth2/auth"), &[])
            .await
            .header("authorization")
            .is_none(),
        "set_basic_auth is off by default"
    );
    w.stop().await;

    let w = World::start(|_| {}).await;
    let b = Browser::new();
    w.sign_in(&b, "alice", "/").await;
    let r = b.get(&w.url("/app"), &[]).await;
    assert!(
        r.upstream_header("authorization").is_empty(),
        "no password, no header"
    );
    w.stop().await;
}

#[tokio::test]
async fn the_id_token_as_bearer_on_forward_auth_answers() {
    let w = World::start(|s| s.headers.set_authorization_header = true).await;
    let b = Browser::new();
    w.sign_in(&b, "alice", "/").await;
    let auth = b.get(&w.url("/oauth2/auth"), &[]).await;
    assert_eq!(auth.status, 202);
    let bearer = auth.header("authorization").expect("Authorization");
    let token = bearer.strip_prefix("Bearer ").expect("a bearer");
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], w.client_id.as_str());
    w.stop().await;
}
