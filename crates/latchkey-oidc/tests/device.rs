//! RFC 8628 at the engine: `/device_authorization`, then the device_code grant at `/token`
//! while the role approves or denies through the engine's functions. On SQLite and PostgreSQL.

mod common;

use common::*;
use latchkey_oidc::Principal;
use latchkey_oidc::routes::device::{
    DEVICE_CODE_LIFETIME, approve_device, deny_device, find_device_request,
};
use latchkey_oidc::{Snapshot, StandardClaims};
use latchkey_store::{ClientId, DeviceCode, DeviceStatus, Subject, unix_now};
use latchkey_testkit::{Backend, jwt_claims};
use serde_json::json;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

fn principal(user: &str) -> Principal {
    Principal {
        subject: Subject::from(user),
        auth_time: unix_now() - 30,
        amr: vec!["phr".into()],
        snapshot: Snapshot::new(StandardClaims {
            name: Some(display_name(user)),
            preferred_username: Some(user.into()),
            ..Default::default()
        }),
    }
}

async fn start(h: &Harness, client: &TestClient, scope: &str) -> serde_json::Value {
    let r = h
        .token_like("/device_authorization", client, &[("scope", scope)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()
}

async fn poll(h: &Harness, client: &TestClient, device_code: &str) -> Resp {
    h.token(
        client,
        &[("grant_type", GRANT), ("device_code", device_code)],
    )
    .await
}

async fn device_flow(backend: Backend) {
    let h = Harness::with(backend, |s| s.device_flow = true).await;
    let doc = h
        .get(&h.url("/.well-known/openid-configuration"), &[])
        .await
        .json();
    assert_eq!(
        doc["device_authorization_endpoint"],
        h.url("/device_authorization")
    );
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(GRANT))
    );

    let tv = h.confidential().await;
    let answer = start(&h, &tv, "openid profile unknown offline_access").await;
    let user_code = answer["user_code"].as_str().unwrap().to_owned();
    let device_code = answer["device_code"].as_str().unwrap().to_owned();
    assert!(device_code.len() >= 43, "256 bits: {device_code}");
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert_eq!(answer["verification_uri"], h.url("/device"));
    assert_eq!(
        answer["verification_uri_complete"],
        format!("{}?user_code={user_code}", h.url("/device"))
    );
    assert_eq!(answer["expires_in"], DEVICE_CODE_LIFETIME);
    assert_eq!(answer["interval"], 5);

    // The role finds it however the person types it; unknown scopes were left out.
    let store = &h.provider.store;
    let issuer = h.provider.issuer_id();
    let typed = user_code.to_lowercase().replace('-', "");
    let found = find_device_request(store, issuer, &typed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.client_id.as_str(), tv.id);
    assert_eq!(found.scope, "openid profile offline_access");
    assert!(
        find_device_request(store, issuer, "BCDF-GHJK")
            .await
            .unwrap()
            .is_none()
    );

    poll(&h, &tv, &device_code).await.assert_oauth_error(
        400,
        "authorization_pending",
        "not yet approved",
    );
    poll(&h, &tv, &device_code)
        .await
        .assert_oauth_error(400, "slow_down", "polled at once");
    // Another client cannot poll it.
    let other = h.confidential().await;
    poll(&h, &other, &device_code)
        .await
        .assert_oauth_error(400, "invalid_grant", "another client");

    assert!(
        approve_device(store, issuer, &typed, &principal("alice"))
            .await
            .unwrap()
    );
    assert!(
        !deny_device(store, issuer, &user_code).await.unwrap(),
        "decided once"
    );
    // Decided: answered at once, whatever the interval.
    let r = poll(&h, &tv, &device_code).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let tokens = r.json();
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], "alice");
    assert_eq!(id["aud"], json!(tv.id));
    assert_eq!(id["amr"], json!(["phr"]));
    assert_eq!(id["name"], "Alice Example");
    assert!(id.get("nonce").is_none());
    assert_eq!(tokens["scope"], "openid profile offline_access");
    let info = h.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info.json()["sub"], "alice", "{}", info.body);
    // Redeemed once.
    poll(&h, &tv, &device_code)
        .await
        .assert_oauth_error(400, "invalid_grant", "second redemption");
    // Its refresh token works like any other.
    let r = h
        .refresh(&tv, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(r.status, 200, "{}", r.body);

    // A public client; the person declines.
    let public = h.public_client().await;
    let answer = start(&h, &public, "openid").await;
    let denied_code = answer["device_code"].as_str().unwrap();
    assert!(
        deny_device(store, issuer, answer["user_code"].as_str().unwrap())
            .await
            .unwrap()
    );
    poll(&h, &public, denied_code)
        .await
        .assert_oauth_error(400, "access_denied", "declined");
    poll(&h, &public, "made-up").await.assert_oauth_error(
        400,
        "invalid_grant",
        "unknown device code",
    );

    // Expired.
    let now = unix_now();
    store
        .create_device_code(&DeviceCode {
            device_code_hash: latchkey_oidc::crypto::sha256_hex(b"old-code"),
            issuer: issuer.clone(),
            user_code: "QRSTVWXZ".into(),
            client_id: ClientId::from(tv.id.as_str()),
            scope: "openid".into(),
            created_at: now - DEVICE_CODE_LIFETIME - 10,
            expires_at: now - 10,
            interval: 5,
            last_polled_at: None,
            status: DeviceStatus::Pending,
            subject: None,
            auth_time: None,
            amr: vec![],
            snapshot: None,
        })
        .await
        .unwrap();
    poll(&h, &tv, "old-code")
        .await
        .assert_oauth_error(400, "expired_token", "expired");
    assert!(
        !approve_device(store, issuer, "QRSTVWXZ", &principal("alice"))
            .await
            .unwrap()
    );
    h.finish().await;
}

#[tokio::test]
async fn device_flow_sqlite() {
    device_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn device_flow_postgres() {
    device_flow(Backend::Postgres).await;
}

/// Off unless the role serves the page: no endpoint, no grant, nothing in discovery. A
/// registered client gets the grant only if it registered it.
#[tokio::test]
async fn device_flow_off_and_registered_grants() {
    let h = Harness::new(Backend::Sqlite).await;
    let doc = h
        .get(&h.url("/.well-known/openid-configuration"), &[])
        .await
        .json();
    assert!(doc.get("device_authorization_endpoint").is_none());
    let tv = h.confidential().await;
    let r = h.token_like("/device_authorization", &tv, &[]).await;
    assert_eq!(r.status, 404);
    h.token(&tv, &[("grant_type", GRANT), ("device_code", "x")])
        .await
        .assert_oauth_error(400, "unsupported_grant_type", "off");
    h.finish().await;

    let h = Harness::with(Backend::Sqlite, |s| {
        s.device_flow = true;
        s.dynamic_registration = true;
    })
    .await;
    let register = |grants: serde_json::Value| {
        let h = &h;
        async move {
            let body = json!({
                "redirect_uris": ["https://dyn.example/cb"],
                "grant_types": grants,
                "token_endpoint_auth_method": "none",
            });
            let r = h
                .post_raw("/register", Some("application/json"), body.to_string(), &[])
                .await;
            assert_eq!(r.status, 201, "{}", r.body);
            TestClient {
                id: r.json()["client_id"].as_str().unwrap().to_owned(),
                secret: None,
                redirect_uri: "https://dyn.example/cb".into(),
                alg: latchkey_oidc::jose::Alg::RS256,
                auth: ClientAuth::None,
            }
        }
    };
    let web = register(json!(["authorization_code"])).await;
    h.token_like("/device_authorization", &web, &[])
        .await
        .assert_oauth_error(400, "unauthorized_client", "not registered for it");
    let tv = register(json!([GRANT])).await;
    start(&h, &tv, "openid").await;
    // Client authentication as at /token: a wrong secret is refused.
    let mut bad = h.confidential().await;
    bad.secret = Some("wrong".into());
    h.token_like("/device_authorization", &bad, &[])
        .await
        .assert_oauth_error(401, "invalid_client", "wrong secret");
    // Parameters are read strictly, as at /token.
    h.token_like(
        "/device_authorization",
        &tv,
        &[("scope", "openid"), ("scope", "email")],
    )
    .await
    .assert_oauth_error(400, "invalid_request", "repeated scope");
    // Each request is a database row: an address gets a quota.
    let mut limited = None;
    for _ in 0..=latchkey_oidc::limits::DEVICE_AUTHORIZATIONS_PER_MINUTE {
        let r = h.token_like("/device_authorization", &tv, &[]).await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let limited = limited.expect("device authorizations are rate-limited");
    assert_eq!(limited.header("retry-after"), Some("60"));
    h.finish().await;
}
