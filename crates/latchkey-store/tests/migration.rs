//! Upgrading a database made by the release before issuer ids (schema version 2): every
//! client, key, grant, refresh token, session, consent and audit event is still found, under
//! the issuer id that equals its old role name, and sign-in snapshots have their typed shape.

use latchkey_store::*;
use latchkey_testkit::{Backend, TestDb, backends};
use serde_json::json;
use sqlx::Connection;

/// The schema and rows as the previous release wrote them (its migrations, its INSERTs).
fn previous_release(backend: Backend) -> String {
    let (m1, m2) = match backend {
        Backend::Sqlite => (
            include_str!("../migrations/sqlite/0001_initial.sql"),
            include_str!("../migrations/sqlite/0002_directory.sql"),
        ),
        Backend::Postgres => (
            include_str!("../migrations/postgres/0001_initial.sql"),
            include_str!("../migrations/postgres/0002_directory.sql"),
        ),
    };
    let tsidp_claims = json!({
        "tsidp_id_token": {"email": "alice@example.com", "name": "Alice", "nid": 7,
                           "groups": ["eng"], "addresses": ["100.64.0.7"]},
        "tsidp_userinfo": {"email": "alice@example.com", "name": "Alice"},
        "tsidp_login": "alice@example.com",
        "tsidp_resource_rules": [{"users": ["*"], "resources": ["https://api.example"]}]
    });
    let (blob, no, yes) = match backend {
        Backend::Sqlite => ("X'0102'", "0", "1"),
        Backend::Postgres => ("'\\x0102'::bytea", "false", "true"),
    };
    format!(
        "CREATE TABLE latchkey_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL);
         INSERT INTO latchkey_migrations VALUES (1, 1), (2, 1);
         {m1}
         {m2}
         INSERT INTO clients (role, id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris, id_token_alg, metadata, created_at, updated_at)
           VALUES ('idp', 'c1', 'app', 'ab', {no}, '[\"https://app.example/cb\"]', '[]', 'ES256', '{{}}', 1, 1),
                  ('tsidp', 'c1', 'tailnet app', NULL, {yes}, '[\"https://t.example/cb\"]', '[]', 'RS256', '{{}}', 1, 1);
         INSERT INTO grants (id, role, client_id, subject, scope, auth_time, claims, created_at, expires_at, revoked_at)
           VALUES ('g-ts', 'tsidp', 'c1', 'userid:1', 'openid email', 5, '{tsidp_claims}', 5, 9999999999, NULL),
                  ('g-idp', 'idp', 'c1', 'alice', 'openid', 5, '{{\"email\":\"alice@example.com\"}}', 5, 9999999999, NULL);
         INSERT INTO refresh_tokens (token_hash, role, grant_id, client_id, subject, scope, auth_time, extra, created_at, expires_at, used_at)
           VALUES ('rt', 'tsidp', 'g-ts', 'c1', 'userid:1', 'openid email', 5, '{{}}', 5, 9999999999, NULL);
         INSERT INTO revoked_access_tokens (jti, role, expires_at) VALUES ('j1', 'idp', 9999999999);
         INSERT INTO signing_keys (kid, role, alg, sealed_key, created_at, retired_at, publish_until)
           VALUES ('k1', 'tsidp', 'RS256', {blob}, 1, NULL, NULL);
         INSERT INTO sessions (id_hash, role, subject, auth_time, amr, created_at, expires_at)
           VALUES ('s1', 'idp', 'alice', 5, '[\"phr\"]', 5, 9999999999);
         INSERT INTO consents (role, subject, client_id, scope, created_at, updated_at)
           VALUES ('idp', 'alice', 'c1', 'openid', 5, 5);
         INSERT INTO audit_events (role, kind, subject, client_id, ip, detail, created_at)
           VALUES ('tsidp', 'code_replay', 'userid:1', 'c1', NULL, '{{}}', 5);",
    )
}

async fn make_previous_release(db: &TestDb) {
    let sql = previous_release(db.backend);
    match db.backend {
        Backend::Sqlite => {
            let url = format!("{}?mode=rwc", db.url);
            let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
            conn.close().await.unwrap();
        }
    }
}

#[tokio::test]
async fn a_database_of_the_previous_release_upgrades_without_loss() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        make_previous_release(&db).await;
        let store = db.store().await;
        let idp = IssuerId::from("idp");
        let tsidp = IssuerId::from("tsidp");

        let c = store
            .find_client(&idp, &ClientId::from("c1"))
            .await
            .unwrap();
        assert_eq!(
            c.map(|c| (c.issuer, c.id_token_alg)),
            Some((idp.clone(), "ES256".into()))
        );
        let t = store
            .find_client(&tsidp, &ClientId::from("c1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((t.name.as_str(), t.public), ("tailnet app", true));

        let g = store
            .find_grant(&GrantId::from("g-ts"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(g.issuer, tsidp);
        let snapshot: serde_json::Value = serde_json::from_str(&g.snapshot).unwrap();
        assert_eq!(snapshot["ext"]["kind"], "tsidp");
        assert_eq!(snapshot["ext"]["v"], 1);
        assert_eq!(
            snapshot["ext"]["data"]["id_token"],
            json!({"email": "alice@example.com", "name": "Alice", "nid": 7,
                   "groups": ["eng"], "addresses": ["100.64.0.7"]}),
            "{backend:?}"
        );
        assert_eq!(snapshot["ext"]["data"]["login"], "alice@example.com");
        assert_eq!(
            snapshot["ext"]["data"]["resource_rules"][0]["resources"][0],
            "https://api.example"
        );
        assert_eq!(snapshot["standard"]["email"], "alice@example.com");
        assert_eq!(snapshot["standard"]["groups"], json!(["eng"]));
        let g = store
            .find_grant(&GrantId::from("g-idp"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(g.issuer, idp);
        let snapshot: serde_json::Value = serde_json::from_str(&g.snapshot).unwrap();
        assert_eq!(
            snapshot,
            json!({"standard": {"email": "alice@example.com"}})
        );

        let rt = store
            .find_refresh_token(&tsidp, "rt")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rt.grant_id, GrantId::from("g-ts"));
        assert_eq!(store.find_refresh_token(&idp, "rt").await.unwrap(), None);
        let state = store
            .access_token_state("j1", Some(&GrantId::from("g-ts")))
            .await
            .unwrap();
        assert!(state.denied);
        assert_eq!(state.grant.map(|g| g.issuer), Some(tsidp.clone()));

        let keys = store.list_signing_keys(&tsidp, 10).await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(
            (keys[0].kid.as_str(), &keys[0].sealed_key[..]),
            ("k1", &[1u8, 2][..])
        );
        assert!(store.list_signing_keys(&idp, 10).await.unwrap().is_empty());

        let s = store.find_session(&idp, "s1", 10).await.unwrap().unwrap();
        assert_eq!(s.amr, ["phr"]);
        let consent = store
            .find_consent(&idp, &Subject::from("alice"), &ClientId::from("c1"))
            .await
            .unwrap();
        assert_eq!(consent.map(|c| c.scope), Some("openid".into()));
        let events = store.list_audit_events(&tsidp, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "code_replay");

        // The upgraded database takes new records, and a second start changes nothing.
        store.close().await;
        let store = db.store().await;
        assert!(
            store
                .find_grant(&GrantId::from("g-ts"))
                .await
                .unwrap()
                .is_some()
        );
        store.close().await;
        db.cleanup().await;
    }
}
