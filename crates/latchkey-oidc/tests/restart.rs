//! Restart: everything the engine issued lives in the database, so a new Provider on the same
//! database (same issuer, same master key) honours it, and publishes the same keys.

mod common;

use common::*;
use latchkey_oidc::jose::Alg;
use latchkey_testkit::{Backend, Pkce, TestDb, jwt_parts};

async fn restart(backend: Backend) {
    let db = TestDb::new(backend).await;
    let srv = Server::start(db.store().await, 0, |_| {}).await;
    let rs256 = srv.confidential().await;
    let eddsa = srv
        .client_with(ClientSpec {
            public: true,
            alg: Alg::EdDSA,
            ..ClientSpec::default()
        })
        .await;
    let t = srv.login(&rs256, "alice").await;
    let te = srv.login(&eddsa, "bob").await;
    // Also in flight across the restart: an unredeemed code and a resume URL.
    let (code, pkce) = srv.code(&rs256, "carol", &[]).await;
    let params = srv.auth_params(&rs256, &Pkce::new(), &[]);
    let resume = srv
        .authorize(&refs(&params), None)
        .await
        .redirect_params(&srv.url("/login"))["resume"]
        .clone();
    let kids = srv.jwks_kids().await;
    let issuer = srv.issuer.clone();
    let port = srv.addr.port();

    let gone = srv.stop().await;
    assert!(gone.upgrade().is_none(), "the old Provider is dropped");

    let srv = Server::start(db.store().await, port, |_| {}).await;
    assert_eq!(srv.issuer, issuer);
    assert_eq!(srv.jwks_kids().await, kids, "the same keys are published");

    for (client, tokens, user) in [(&rs256, &t, "alice"), (&eddsa, &te, "bob")] {
        let info = srv.userinfo(&tokens.access).await;
        assert_eq!(info.status, 200, "{}", info.body);
        assert_eq!(info.json()["sub"], user);
        let i = srv.introspect(&rs256, &tokens.access).await.json();
        assert_eq!(i["active"], true, "{i}");
        assert!(srv.active(&rs256, tokens.refresh_token()).await);

        let r = srv.refresh(client, tokens.refresh_token()).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let fresh = Tokens::from(r.json());
        // Signed by the same key as before the restart.
        let (old_h, _) = jwt_parts(tokens.id_token());
        let (new_h, _) = jwt_parts(fresh.id_token());
        assert_eq!(old_h["kid"], new_h["kid"]);
        assert_eq!(srv.userinfo(&fresh.access).await.status, 200);
    }

    let r = srv.redeem(&rs256, &code, Some(&pkce.verifier)).await;
    assert_eq!(r.status, 200, "code issued before the restart: {}", r.body);
    let r = srv.get(&resume, &[(USER, "dave")]).await;
    assert!(r.redirect_params(REDIRECT).contains_key("code"));

    // Reuse detection state survived too: the pre-restart refresh token was used above.
    srv.refresh(&rs256, t.refresh_token())
        .await
        .assert_oauth_error(400, "invalid_grant", "refresh token reused after restart");

    srv.stop().await;
    db.cleanup().await;
}

#[tokio::test]
async fn restart_sqlite() {
    restart(Backend::Sqlite).await;
}

#[tokio::test]
async fn restart_postgres() {
    restart(Backend::Postgres).await;
}
