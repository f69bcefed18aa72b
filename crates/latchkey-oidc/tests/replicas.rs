//! Two Providers on one PostgreSQL database serve one issuer interchangeably: a code minted by
//! one is redeemed at the other, refresh rotation and reuse detection hold across them, and a
//! key rotated by one is honoured by the other at once.

mod common;

use common::*;
use latchkey_oidc::jose::Alg;
use latchkey_store::IssuerId;
use latchkey_testkit::{Backend, TestDb, master_key};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_postgres_share_one_issuer() {
    let db = TestDb::new(Backend::Postgres).await;
    let a = Server::start(db.store().await, 0, |_| {}).await;
    let issuer = a.issuer.clone();
    let b = Server::start(db.store().await, 0, |s| s.issuer = issuer.clone()).await;
    assert_eq!(a.jwks_kids().await, b.jwks_kids().await, "one key set");

    let client = a.confidential().await;
    let (code, pkce) = a.code(&client, "alice", &[]).await;
    let r = b.redeem(&client, &code, Some(&pkce.verifier)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t = Tokens::from(r.json());
    assert_eq!(a.userinfo(&t.access).await.status, 200);
    assert!(a.active(&client, &t.access).await);
    // The code is spent for both.
    a.redeem(&client, &code, Some(&pkce.verifier))
        .await
        .assert_oauth_error(400, "invalid_grant", "code replayed at the other replica");
    assert_eq!(
        b.userinfo(&t.access).await.status,
        401,
        "replay revoked the grant"
    );
    let events = a
        .provider
        .store
        .list_audit_events(&IssuerId::from("idp"), 10)
        .await
        .unwrap();
    assert!(
        events.iter().any(|e| e.kind == "CODE_REPLAYED"
            && e.client_id.as_ref().map(|c| c.as_str()) == Some(client.id.as_str())),
        "the replay is in the audit log: {events:?}"
    );

    // Rotation at one replica, reuse detected at the other.
    let t = a.login(&client, "bob").await;
    let r = b.refresh(&client, t.refresh_token()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t2 = Tokens::from(r.json());
    a.refresh(&client, t.refresh_token())
        .await
        .assert_oauth_error(400, "invalid_grant", "old refresh token reused");
    b.refresh(&client, t2.refresh_token())
        .await
        .assert_oauth_error(400, "invalid_grant", "family revoked by the reuse");
    let events = b
        .provider
        .store
        .list_audit_events(&IssuerId::from("idp"), 10)
        .await
        .unwrap();
    assert!(events.iter().any(|e| e.kind == "REFRESH_TOKEN_REUSED"));

    // A key rotated through one replica signs there and verifies at the other immediately.
    let es = a
        .client_with(ClientSpec {
            alg: Alg::ES256,
            ..ClientSpec::default()
        })
        .await;
    latchkey_oidc::keyring::rotate(
        &a.provider.store,
        &IssuerId::from("idp"),
        Alg::ES256,
        &master_key(),
        600,
    )
    .await
    .unwrap();
    a.provider.keys.reload().await.unwrap();
    let t = a.login(&es, "carol").await;
    assert_eq!(
        b.userinfo(&t.access).await.status,
        200,
        "B learns the new key"
    );
    assert_eq!(a.jwks_kids().await.len(), 4);
    assert_eq!(b.jwks_kids().await.len(), 4);

    a.stop().await;
    b.stop().await;
    db.cleanup().await;
}
