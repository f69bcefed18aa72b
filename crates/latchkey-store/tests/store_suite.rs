//! The store suite: every test runs on SQLite and on PostgreSQL.

use latchkey_store::*;
use latchkey_testkit::{TestDb, backends, on_each_backend};
use serde_json::{Value, json};

fn idp() -> IssuerId {
    IssuerId::from("idp")
}

fn tsidp() -> IssuerId {
    IssuerId::from("tsidp")
}

fn client(issuer: IssuerId, id: &str) -> Client {
    Client {
        issuer,
        id: ClientId::from(id),
        name: format!("app {id}"),
        secret_hash: Some("ab".repeat(32)),
        public: false,
        redirect_uris: vec!["https://app.example/cb".into()],
        post_logout_redirect_uris: vec![],
        id_token_alg: "RS256".into(),
        metadata: serde_json::json!({"client_name": "x"}),
        created_at: 100,
        updated_at: 100,
    }
}

fn grant(id: &str) -> Grant {
    Grant {
        id: GrantId::from(id),
        issuer: idp(),
        client_id: ClientId::from("c1"),
        subject: Subject::from("alice"),
        scope: "openid".into(),
        auth_time: 50,
        snapshot: r#"{"standard":{"email":"alice@example.com"}}"#.into(),
        created_at: 100,
        expires_at: 10_000,
        revoked_at: None,
    }
}

fn refresh(hash: &str, grant: &str) -> RefreshToken {
    RefreshToken {
        token_hash: hash.into(),
        issuer: idp(),
        grant_id: GrantId::from(grant),
        client_id: ClientId::from("c1"),
        subject: Subject::from("alice"),
        scope: "openid".into(),
        auth_time: 50,
        extra: serde_json::json!({}),
        created_at: 100,
        expires_at: 1_000,
        used_at: None,
    }
}

#[tokio::test]
async fn clients_round_trip_per_issuer() {
    on_each_backend(|store| async move {
        let c = client(idp(), "c1");
        store.create_client(&c).await.unwrap();
        assert!(matches!(
            store.create_client(&c).await,
            Err(StoreError::Conflict)
        ));
        // Same id in the other issuer's registry is a different client.
        store.create_client(&client(tsidp(), "c1")).await.unwrap();
        assert_eq!(
            store.find_client(&idp(), &c.id).await.unwrap(),
            Some(c.clone())
        );
        assert_eq!(store.list_clients(&idp()).await.unwrap().len(), 1);

        // A secret rotation and an edit made from a copy read before it do not undo each
        // other: the edit leaves the secret (and the client type) alone.
        let mut changed = c.clone();
        changed
            .redirect_uris
            .push("https://app.example/other".into());
        changed.name = "renamed".into();
        changed.public = true;
        changed.secret_hash = None;
        changed.updated_at = 200;
        assert!(
            store
                .update_client_secret(&idp(), &c.id, "new-digest", 150)
                .await
                .unwrap()
        );
        assert!(store.update_client(&changed).await.unwrap());
        let stored = store.find_client(&idp(), &c.id).await.unwrap().unwrap();
        assert_eq!(stored.redirect_uris, changed.redirect_uris);
        assert_eq!(stored.name, "renamed");
        assert_eq!(stored.updated_at, 200);
        assert_eq!(stored.secret_hash.as_deref(), Some("new-digest"));
        assert_eq!(stored.public, c.public);
        assert!(
            !store
                .update_client_secret(&tsidp(), &ClientId::from("nope"), "x", 1)
                .await
                .unwrap()
        );

        assert!(store.delete_client(&idp(), &c.id, 300).await.unwrap());
        assert!(!store.delete_client(&idp(), &c.id, 300).await.unwrap());
        assert_eq!(store.find_client(&idp(), &c.id).await.unwrap(), None);
        assert!(store.find_client(&tsidp(), &c.id).await.unwrap().is_some());
    })
    .await;
}

#[tokio::test]
async fn grant_ids_are_single_use() {
    on_each_backend(|store| async move {
        store
            .create_grant(&grant("g1"), Some(&refresh("r1", "g1")))
            .await
            .unwrap();
        // The second insert of a grant id (a replayed code) fails and writes nothing.
        assert!(matches!(
            store
                .create_grant(&grant("g1"), Some(&refresh("r2", "g1")))
                .await,
            Err(StoreError::Conflict)
        ));
        assert!(
            store
                .find_refresh_token(&idp(), "r2")
                .await
                .unwrap()
                .is_none()
        );
        let g = store
            .find_grant(&GrantId::from("g1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(g.snapshot, r#"{"standard":{"email":"alice@example.com"}}"#);

        // Both rows or neither: a refresh token that cannot be stored (its hash is taken)
        // leaves no grant behind.
        assert!(matches!(
            store
                .create_grant(&grant("g-other"), Some(&refresh("r1", "g-other")))
                .await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            store.find_grant(&GrantId::from("g-other")).await.unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn concurrent_grant_inserts_have_one_winner() {
    on_each_backend(|store| async move {
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = store.clone();
            tasks.push(tokio::spawn(async move {
                s.create_grant(&grant("race"), Some(&refresh(&format!("r{i}"), "race")))
                    .await
            }));
        }
        let mut won = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(()) => won += 1,
                Err(StoreError::Conflict) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(won, 1);
    })
    .await;
}

#[tokio::test]
async fn refresh_rotation_and_reuse() {
    on_each_backend(|store| async move {
        store
            .create_grant(&grant("g1"), Some(&refresh("r1", "g1")))
            .await
            .unwrap();
        let c1 = ClientId::from("c1");

        // Another client cannot use it, and that attempt does not consume it.
        let other = ClientId::from("c2");
        assert_eq!(
            store
                .rotate_refresh_token(&idp(), "r1", &other, 200, |_| refresh("x", "g1"))
                .await
                .unwrap(),
            Redemption::NotFound
        );

        let r = store
            .rotate_refresh_token(&idp(), "r1", &c1, 200, |old| {
                let mut n = refresh("r2", old.grant_id.as_str());
                n.created_at = 200;
                n
            })
            .await
            .unwrap();
        assert!(matches!(r, Redemption::Redeemed(ref t) if t.token_hash == "r1"));
        assert!(
            store
                .find_refresh_token(&idp(), "r2")
                .await
                .unwrap()
                .is_some()
        );

        // Reuse of r1 is reported, and no token is minted.
        let r = store
            .rotate_refresh_token(&idp(), "r1", &c1, 201, |_| refresh("r3", "g1"))
            .await
            .unwrap();
        assert!(matches!(r, Redemption::Replayed(_)));
        assert!(
            store
                .find_refresh_token(&idp(), "r3")
                .await
                .unwrap()
                .is_none()
        );

        // Revoking the grant kills the live token of the family.
        assert!(store.revoke_grant(&GrantId::from("g1"), 202).await.unwrap());
        assert!(!store.revoke_grant(&GrantId::from("g1"), 203).await.unwrap());
        assert_eq!(
            store
                .rotate_refresh_token(&idp(), "r2", &c1, 204, |_| refresh("r4", "g1"))
                .await
                .unwrap(),
            Redemption::NotFound
        );

        // Expired tokens do not rotate.
        store
            .create_grant(&grant("g2"), Some(&refresh("old", "g2")))
            .await
            .unwrap();
        assert_eq!(
            store
                .rotate_refresh_token(&idp(), "old", &c1, 5_000, |_| refresh("r5", "g2"))
                .await
                .unwrap(),
            Redemption::NotFound
        );
    })
    .await;
}

#[tokio::test]
async fn access_token_deny_list() {
    on_each_backend(|store| async move {
        store.create_grant(&grant("g1"), None).await.unwrap();
        let g = GrantId::from("g1");
        let state = store.access_token_state("j1", Some(&g)).await.unwrap();
        assert!(!state.denied);
        assert_eq!(state.grant.as_ref().map(|g| g.id.as_str()), Some("g1"));
        assert_eq!(state.grant.unwrap().revoked_at, None);
        let state = store.access_token_state("j1", None).await.unwrap();
        assert_eq!(
            state,
            AccessTokenState {
                denied: false,
                grant: None
            }
        );
        let missing = store
            .access_token_state("j1", Some(&GrantId::from("nope")))
            .await
            .unwrap();
        assert_eq!(missing.grant, None);

        store.revoke_access_token(&idp(), "j1", 500).await.unwrap();
        store.revoke_access_token(&idp(), "j1", 500).await.unwrap();
        assert!(store.access_token_state("j1", None).await.unwrap().denied);
        assert!(
            !store
                .access_token_state("j2", Some(&g))
                .await
                .unwrap()
                .denied
        );
        store.revoke_grant(&g, 150).await.unwrap();
        let state = store.access_token_state("j2", Some(&g)).await.unwrap();
        assert_eq!(state.grant.unwrap().revoked_at, Some(150));
        // Entries go once the token would have expired anyway.
        store.delete_expired(501).await.unwrap();
        assert!(!store.access_token_state("j1", None).await.unwrap().denied);
    })
    .await;
}

#[tokio::test]
async fn signing_key_rotation_keeps_old_key_published() {
    on_each_backend(|store| async move {
        let k = |kid: &str, at: i64| SigningKeyRecord {
            kid: kid.into(),
            issuer: idp(),
            alg: "RS256".into(),
            sealed_key: vec![0, 1, 2, 255],
            created_at: at,
            retired_at: None,
            publish_until: None,
        };
        store.create_signing_key(&k("k1", 10)).await.unwrap();
        store
            .rotate_signing_key(&k("k2", 20), 20, 100)
            .await
            .unwrap();
        let keys = store.list_signing_keys(&idp(), 50).await.unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].kid, "k2");
        assert_eq!(keys[0].retired_at, None);
        assert_eq!(keys[1].retired_at, Some(20));
        assert_eq!(keys[1].sealed_key, vec![0, 1, 2, 255]);
        assert_eq!(store.list_signing_keys(&idp(), 101).await.unwrap().len(), 1);
        assert!(
            store
                .list_signing_keys(&tsidp(), 50)
                .await
                .unwrap()
                .is_empty()
        );
    })
    .await;
}

#[tokio::test]
async fn sessions_consents_and_audit() {
    on_each_backend(|store| async move {
        let s = Session {
            id_hash: "s1".into(),
            issuer: idp(),
            subject: Subject::from("alice"),
            auth_time: 10,
            amr: vec!["phr".into()],
            created_at: 10,
            expires_at: 100,
            user_agent: "Firefox".into(),
            ip: "192.0.2.1".into(),
            last_used_at: 10,
        };
        store.create_session(&s).await.unwrap();
        assert_eq!(store.find_session(&idp(), "s1", 50).await.unwrap(), Some(s));
        assert_eq!(store.find_session(&idp(), "s1", 100).await.unwrap(), None);
        assert!(store.delete_session("s1").await.unwrap());

        let mut c = Consent {
            issuer: idp(),
            subject: Subject::from("alice"),
            client_id: ClientId::from("c1"),
            scope: "openid".into(),
            created_at: 1,
            updated_at: 1,
        };
        store.upsert_consent(&c).await.unwrap();
        c.scope = "openid email".into();
        c.updated_at = 2;
        store.upsert_consent(&c).await.unwrap();
        let found = store
            .find_consent(&idp(), &c.subject, &c.client_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.scope, "openid email");
        assert_eq!(found.created_at, 1);

        let subject = Subject::from("alice");
        store
            .create_audit_event(&NewAuditEvent {
                issuer: &idp(),
                kind: "TOKEN_ISSUED",
                subject: Some(&subject),
                client_id: None,
                ip: Some("127.0.0.1"),
                detail: serde_json::json!({"grant": "authorization_code"}),
                created_at: 5,
            })
            .await
            .unwrap();
        let events = store.list_audit_events(&idp(), 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, "TOKEN_ISSUED");
        assert_eq!(events[0].detail["grant"], "authorization_code");
    })
    .await;
}

#[tokio::test]
async fn data_survives_reconnect_and_migrations_are_idempotent() {
    for backend in backends() {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        store.create_client(&client(idp(), "keep")).await.unwrap();
        store.close().await;
        let again = db.store().await;
        assert!(
            again
                .find_client(&idp(), &ClientId::from("keep"))
                .await
                .unwrap()
                .is_some()
        );
        again.ping().await.unwrap();
        again.close().await;
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_migrate_once() {
    // Replicas are a PostgreSQL deployment; SQLite serves one process.
    {
        let db = TestDb::new(latchkey_testkit::Backend::Postgres).await;
        let mut starts = Vec::new();
        for _ in 0..4 {
            let url = db.url.clone();
            starts.push(tokio::spawn(async move { Store::connect(&url).await }));
        }
        for s in starts {
            let store = s.await.unwrap().expect("every replica starts");
            store.ping().await.unwrap();
            store.close().await;
        }
        db.cleanup().await;
    }
}

fn user(id: &str, username: &str, email: Option<&str>) -> User {
    User {
        id: UserId::from(id),
        username: username.into(),
        email: email.map(String::from),
        email_verified: true,
        first_name: "First".into(),
        last_name: "Last".into(),
        display_name: format!("{username} display"),
        is_admin: false,
        disabled: false,
        created_at: 100,
        updated_at: 100,
    }
}

fn group(id: &str, name: &str) -> Group {
    Group {
        id: GroupId::from(id),
        name: name.into(),
        friendly_name: format!("The {name}"),
        created_at: 100,
        updated_at: 100,
    }
}

#[tokio::test]
async fn directory_users_groups_and_claims() {
    on_each_backend(|store| async move {
        let alice = user("u-alice", "alice", Some("Alice@Example.com"));
        store.create_user(&alice).await.unwrap();
        store
            .create_user(&user("u-bob", "bob", None))
            .await
            .unwrap();
        store
            .create_user(&user("u-carol", "carol", None))
            .await
            .unwrap();
        // Usernames and e-mails are unique without regard to case; ids are unique.
        for dup in [
            user("u-x", "ALICE", None),
            user("u-y", "other", Some("alice@example.COM")),
            user("u-alice", "fresh", None),
        ] {
            assert!(matches!(
                store.create_user(&dup).await,
                Err(StoreError::Conflict)
            ));
        }
        assert_eq!(
            store.find_user_by_email("ALICE@example.com").await.unwrap(),
            Some(alice.clone())
        );
        // Beyond ASCII too, and the same on both backends.
        store
            .create_user(&user("u-unal", "Ünal", Some("Ünal@example.com")))
            .await
            .unwrap();
        assert!(matches!(
            store.create_user(&user("u-unal2", "ünal", None)).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            store
                .find_user_by_email("ÜNAL@EXAMPLE.COM")
                .await
                .unwrap()
                .map(|u| u.username),
            Some("Ünal".to_owned())
        );
        assert!(store.delete_user(&UserId::from("u-unal")).await.unwrap());
        assert_eq!(
            store.find_user_by_username("Alice").await.unwrap(),
            Some(alice.clone())
        );
        assert_eq!(
            store
                .find_user_by_email("nobody@example.com")
                .await
                .unwrap(),
            None
        );
        let names: Vec<String> = store
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(names, ["alice", "bob", "carol"]);

        let mut changed = alice.clone();
        changed.disabled = true;
        changed.display_name = "Alice A.".into();
        changed.updated_at = 200;
        assert!(store.update_user(&changed).await.unwrap());
        assert_eq!(store.find_user(&alice.id).await.unwrap(), Some(changed));
        let mut clash = user("u-bob", "alice", None);
        clash.updated_at = 300;
        assert!(matches!(
            store.update_user(&clash).await,
            Err(StoreError::Conflict)
        ));

        let eng = group("g-eng", "eng");
        let admins = group("g-admins", "Admins");
        store.create_group(&eng).await.unwrap();
        store.create_group(&admins).await.unwrap();
        assert!(matches!(
            store.create_group(&group("g-2", "ENG")).await,
            Err(StoreError::Conflict)
        ));
        assert_eq!(
            store.find_group_by_name("Eng").await.unwrap(),
            Some(eng.clone())
        );
        for g in [&eng, &admins] {
            store.create_group_member(&g.id, &alice.id).await.unwrap();
        }
        store.create_group_member(&eng.id, &alice.id).await.unwrap();
        store
            .create_group_member(&eng.id, &UserId::from("u-bob"))
            .await
            .unwrap();
        assert!(matches!(
            store
                .create_group_member(&GroupId::from("g-none"), &alice.id)
                .await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            store
                .update_user_claim(&UserId::from("u-none"), "k", &json!(1))
                .await,
            Err(StoreError::NotFound)
        ));

        // Group claims in group-name order (Admins before eng); the user's own win.
        store
            .update_group_claim(&admins.id, "department", &json!("it"))
            .await
            .unwrap();
        store
            .update_group_claim(&eng.id, "department", &json!("engineering"))
            .await
            .unwrap();
        store
            .update_group_claim(&eng.id, "clearance", &json!({"level": 2}))
            .await
            .unwrap();
        store
            .update_group_claim(&eng.id, "shell", &json!("bash"))
            .await
            .unwrap();
        store
            .update_user_claim(&alice.id, "shell", &json!("zsh"))
            .await
            .unwrap();
        store
            .update_user_claim(&alice.id, "shell", &json!("fish"))
            .await
            .unwrap();
        let d = store.find_directory_claims(&alice.id).await.unwrap();
        assert_eq!(d.groups, ["Admins", "eng"]);
        assert_eq!(
            Value::Object(d.claims),
            json!({"department": "it", "clearance": {"level": 2}, "shell": "fish"})
        );
        let bob = store
            .find_directory_claims(&UserId::from("u-bob"))
            .await
            .unwrap();
        assert_eq!(bob.groups, ["eng"]);
        assert_eq!(
            Value::Object(bob.claims),
            json!({"department": "engineering", "clearance": {"level": 2}, "shell": "bash"})
        );
        let carol = store
            .find_directory_claims(&UserId::from("u-carol"))
            .await
            .unwrap();
        assert_eq!(carol, DirectoryClaims::default());

        // Removing things removes what hangs on them.
        assert!(store.delete_user_claim(&alice.id, "shell").await.unwrap());
        assert!(!store.delete_user_claim(&alice.id, "shell").await.unwrap());
        assert!(store.delete_group_claim(&eng.id, "shell").await.unwrap());
        assert!(
            store
                .delete_group_member(&admins.id, &alice.id)
                .await
                .unwrap()
        );
        let d = store.find_directory_claims(&alice.id).await.unwrap();
        assert_eq!(d.groups, ["eng"]);
        assert_eq!(
            Value::Object(d.claims),
            json!({"department": "engineering", "clearance": {"level": 2}})
        );
        assert!(store.delete_group(&eng.id).await.unwrap());
        let d = store.find_directory_claims(&alice.id).await.unwrap();
        assert_eq!(d, DirectoryClaims::default());
        assert!(store.delete_user(&alice.id).await.unwrap());
        assert!(!store.delete_user(&alice.id).await.unwrap());
        assert_eq!(
            store.find_user_by_email("alice@example.com").await.unwrap(),
            None
        );
        let names: Vec<String> = store
            .list_groups()
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.name)
            .collect();
        assert_eq!(names, ["Admins"]);
    })
    .await;
}
